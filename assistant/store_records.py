"""The store's records and pure helpers: what an article record says, passage metadata, the
Chroma client, source keys and ``where`` filters (split from ``assistant.store``)."""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from assistant.dates import timestamp
from assistant.errors import StoreError
from assistant.ingest import make_article
from assistant.injection import find_injection
from assistant.redact import redact_text
from assistant.settings import Settings
from assistant.types import Article, Passage

UpsertStatus = Literal["added", "replaced", "unchanged"]


@dataclass
class ArticleInfo:
    """A stored article as listed to the user."""

    id: str
    title: str
    url: str
    published: str
    source: str
    passages: int
    ingested_at: float


@dataclass(frozen=True)
class ArticleRecord:
    """What the article record says, including the passage generation readers may trust."""

    id: str
    gen: str
    passages: int
    content_hash: str
    source: str
    title: str
    url: str
    published: str
    ingested_at: float

    def info(self) -> ArticleInfo:
        return ArticleInfo(
            id=self.id,
            title=self.title,
            url=self.url,
            published=self.published,
            source=self.source,
            passages=self.passages,
            ingested_at=self.ingested_at,
        )


class UpsertResult(NamedTuple):
    status: UpsertStatus
    article_id: str
    passages: list[Passage]


@dataclass
class RemoveResult:
    """What ``Store.remove`` deleted; ``had_record`` is False when only orphan passages were left."""

    article_id: str
    passages: int
    had_record: bool


# Held while an embedded client is made (re-entrant: a fresh client is made under it too).
_CLIENTS = threading.RLock()


def make_client(settings: Settings):
    """The Chroma client: HTTP when a server host is set, else a PersistentClient in the data dir."""
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    config = ChromaConfig(anonymized_telemetry=False)
    try:
        if settings.chroma.host:
            return chromadb.HttpClient(host=settings.chroma.host, port=settings.chroma.port, settings=config)
        settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        with _CLIENTS:  # chromadb's per-path System registry is not safe for concurrent creation
            return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=config)
    except Exception as exc:  # chromadb raises ValueError/ConnectionError/... on setup
        where = f"{settings.chroma.host}:{settings.chroma.port}" if settings.chroma.host else str(settings.chroma_dir)
        raise StoreError(redact_text(f"cannot open the Chroma store at {where}: {exc}")) from exc


def _fresh_embedded_client(settings: Settings):
    """A new embedded client with its own vector-index cache (not chromadb's per-path shared one).

    chromadb shares one "System" per path within a process and caches every collection's HNSW
    index in it; writes by another process reach the shared SQLite file but not that cache.
    Dropping the cached System (without stopping it: threads may still be reading through it)
    makes the next client load the indexes from disk again.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    with _CLIENTS:
        SharedSystemClient._identifier_to_system.pop(str(settings.chroma_dir), None)
        return make_client(settings)


def new_generation() -> str:
    """A generation id: time-ordered (newest sorts last) and unique across processes."""
    return f"{time.time_ns():x}{secrets.token_hex(3)}"


def record_id(passage_id: str, gen: str) -> str:
    return f"{passage_id}@{gen}" if gen else passage_id


def source_key(source: str) -> str:
    """How a source is stored: a file by its resolved path, a web page by its URL as given."""
    if not source:
        return ""
    if source.lower().startswith(("http://", "https://")):
        return source
    return os.path.realpath(source)


def same_source(a: str, b: str) -> bool:
    """Whether two stored source paths name the same file (relative paths resolved from here)."""
    if not a or not b:
        return False
    if a == b:
        return True
    if "://" in a or "://" in b:
        return False  # URLs are compared as given
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False


def _where(
    exclude_articles: Sequence[str], only_article: str | None, since: int | None, until: int | None
) -> dict[str, Any] | None:
    """Chroma's ``where`` for an article restriction and a publication-date range."""
    terms: list[dict[str, Any]] = []
    if only_article:
        terms.append({"article_id": only_article})
    elif exclude_articles:
        terms.append({"article_id": {"$nin": list(exclude_articles)}})
    if since is not None:
        terms.append({"published_ts": {"$gte": int(since)}})
    if until is not None:
        terms.append({"published_ts": {"$lte": int(until)}})
    if not terms:
        return None
    return terms[0] if len(terms) == 1 else {"$and": terms}


def text_sha(text: str) -> str:
    """Fingerprint of an article's cleaned text (finds a pasted copy of a stored article)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def _passage_meta(p: Passage, gen: str) -> dict[str, Any]:
    meta = {
        "article_id": p.article_id,
        "pid": p.id,
        "gen": gen,
        "index": p.index,
        "start": p.start,
        "end": p.end,
        "tokens": p.tokens,
        "title": p.title,
        "url": p.url,
        "published": p.published,
        "injection": p.injection,
        **_date_meta(p.published),
    }
    return meta


def _date_meta(published: str) -> dict[str, Any]:
    """``published_ts`` (epoch seconds, for ``where`` filters) beside the ISO date; nothing when undated
    (Chroma metadata has no null, and a missing key is outside every date range)."""
    ts = timestamp(published)
    return {"published_ts": ts} if ts is not None else {}


def _to_record(article_id: str, meta: dict[str, Any] | None) -> ArticleRecord:
    meta = meta or {}
    return ArticleRecord(
        id=article_id,
        gen=str(meta.get("gen", "")),
        passages=int(meta.get("passages", 0)),
        content_hash=str(meta.get("content_hash", "")),
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        url=str(meta.get("url", "")),
        published=str(meta.get("published", "")),
        ingested_at=float(meta.get("ingested_at", 0)),
    )


def _to_article(article_id: str, raw: str, meta: dict[str, Any] | None) -> Article:
    meta = meta or {}
    return make_article(
        raw,
        article_id,
        title=str(meta.get("title", "")),
        url=str(meta.get("url", "")),
        published=str(meta.get("published", "")),
        source=str(meta.get("source", "")),
    )


def _to_passage(record: str, doc: str, meta: dict[str, Any]) -> Passage:
    # Passages stored before injection marking carry no "injection" key: detect on read.
    injection = meta.get("injection")
    return Passage(
        id=str(meta.get("pid") or record),
        text=doc,
        **{k: meta[k] for k in ("article_id", "index", "start", "end", "tokens")},
        title=str(meta.get("title", "")),
        url=str(meta.get("url", "")),
        published=str(meta.get("published", "")),  # passages stored before dates have none
        injection=str(injection) if injection is not None else find_injection(doc),
    )

