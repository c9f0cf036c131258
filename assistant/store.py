"""Chroma storage of passages (with embeddings) and articles (raw text + metadata)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from assistant.embed import Embedder
from assistant.errors import NotFoundError, StoreError
from assistant.ingest import make_article, split_passages
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


def make_client(settings: Settings):
    """The Chroma client: HTTP when a server host is set, else a PersistentClient in the data dir."""
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    config = ChromaConfig(anonymized_telemetry=False)
    try:
        if settings.chroma.host:
            return chromadb.HttpClient(host=settings.chroma.host, port=settings.chroma.port, settings=config)
        settings.chroma_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_dir), settings=config)
    except Exception as exc:  # chromadb raises ValueError/ConnectionError/... on setup
        where = f"{settings.chroma.host}:{settings.chroma.port}" if settings.chroma.host else str(settings.chroma_dir)
        raise StoreError(f"cannot open the Chroma store at {where}: {exc}") from exc


class Store:
    """Passages and articles in two Chroma collections; every write keeps old data until new data is in."""

    def __init__(self, settings: Settings, embedder: Embedder, client: Any | None = None) -> None:
        self.settings = settings
        self.embedder = embedder
        self.client = client or make_client(settings)
        name = settings.chroma.collection
        meta = {"embedder": embedder.name, "dim": embedder.dim}
        try:
            self.passages = self.client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=meta
            )
            self.articles = self.client.get_or_create_collection(
                f"{name}-articles", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=meta
            )
        except Exception as exc:
            raise StoreError(f"cannot open collection {name!r}: {exc}") from exc
        stored = self.passages.metadata or {}
        if stored.get("embedder") not in (None, embedder.name):
            raise StoreError(
                f"collection {name!r} was built with embedder {stored.get('embedder')!r}, not {embedder.name!r}",
                "Use another --data-dir or ASSISTANT_CHROMA__COLLECTION, or re-ingest into a new one.",
            )
        self.revision = 0  # bumped on every write so in-process caches (BM25) know to rebuild
        self._batch = max(1, min(self.client.get_max_batch_size(), 1000))

    # ------------------------------------------------------------ writing

    def content_hash(self, article: Article) -> str:
        chunk = self.settings.chunk
        key = json.dumps([article.raw, article.title, article.url, chunk.model_dump(), self.embedder.name])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def upsert_article(
        self, article: Article, on_passages: Callable[[int], None] | None = None
    ) -> tuple[UpsertStatus, list[Passage]]:
        """Store an article; unchanged content embeds nothing, changed content replaces old passages."""
        digest = self.content_hash(article)
        existing = self.articles.get(ids=[article.id], include=["metadatas"])
        if existing["ids"] and (existing["metadatas"][0] or {}).get("content_hash") == digest:
            return "unchanged", []
        passages = split_passages(article, self.settings.chunk)
        old_ids = set(self.passages.get(where={"article_id": article.id}, include=[])["ids"])
        new = [p for p in passages if p.id not in old_ids]
        vectors = self.embedder.embed([p.text for p in new]) if new else np.zeros((0, self.embedder.dim))
        # Add the new passages before deleting the old ones, so a failure leaves the old article whole.
        for start in range(0, len(new), self._batch):
            part = new[start : start + self._batch]
            self.passages.upsert(
                ids=[p.id for p in part],
                embeddings=vectors[start : start + self._batch],
                documents=[p.text for p in part],
                metadatas=[_passage_meta(p) for p in part],
            )
            if on_passages:
                on_passages(len(part))
        kept = [p for p in passages if p.id in old_ids]
        if kept:
            # Same text, but the span or title may have moved (e.g. a line added above it).
            for start in range(0, len(kept), self._batch):
                part = kept[start : start + self._batch]
                self.passages.update(ids=[p.id for p in part], metadatas=[_passage_meta(p) for p in part])
        stale = sorted(old_ids - {p.id for p in passages})
        if stale:
            self.passages.delete(ids=stale)
        all_vectors = self._vectors([p.id for p in passages])
        centroid = all_vectors.mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        self.articles.upsert(
            ids=[article.id],
            embeddings=[centroid],
            documents=[article.raw],
            metadatas=[
                {
                    "title": article.title,
                    "url": article.url,
                    "published": article.published,
                    "source": article.source,
                    "content_hash": digest,
                    "text_sha": text_sha(article.text),
                    "passages": len(passages),
                    "ingested_at": time.time(),
                }
            ],
        )
        self.revision += 1
        return ("replaced" if existing["ids"] else "added"), passages

    def find_copies(self, text: str) -> list[str]:
        """Ids of stored articles whose cleaned text is exactly ``text``."""
        got = self.articles.get(where={"text_sha": text_sha(text)}, include=[])
        return list(got["ids"])

    def remove(self, article_id: str) -> int:
        """Delete an article and its passages; return how many passages went."""
        if not self.articles.get(ids=[article_id], include=[])["ids"]:
            raise NotFoundError(f"no article with id {article_id!r}")
        ids = self.passages.get(where={"article_id": article_id}, include=[])["ids"]
        if ids:
            self.passages.delete(ids=ids)
        self.articles.delete(ids=[article_id])
        self.revision += 1
        return len(ids)

    # ------------------------------------------------------------ reading

    def _vectors(self, ids: Sequence[str]) -> np.ndarray:
        got = self.passages.get(ids=list(ids), include=["embeddings"])
        return np.asarray(got["embeddings"], dtype=np.float32)

    def list_articles(self) -> list[ArticleInfo]:
        got = self._get_all(self.articles, ["metadatas"])
        infos = [
            ArticleInfo(
                id=i,
                title=str(m.get("title", "")),
                url=str(m.get("url", "")),
                published=str(m.get("published", "")),
                source=str(m.get("source", "")),
                passages=int(m.get("passages", 0)),
                ingested_at=float(m.get("ingested_at", 0)),
            )
            for i, m in zip(got["ids"], got["metadatas"])
        ]
        return sorted(infos, key=lambda a: a.id)

    def get_article(self, article_id: str) -> Article:
        got = self.articles.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"]:
            raise NotFoundError(f"no article with id {article_id!r}")
        return _to_article(article_id, got["documents"][0], got["metadatas"][0])

    def all_articles(self) -> list[Article]:
        """Every stored article, read in pages rather than one request per article."""
        got = self._get_all(self.articles, ["documents", "metadatas"])
        return [_to_article(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def get_passages(self, article_id: str) -> list[Passage]:
        got = self.passages.get(where={"article_id": article_id}, include=["documents", "metadatas"])
        out = [_to_passage(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(out, key=lambda p: p.index)

    def get_passages_by_id(self, ids: Sequence[str]) -> dict[str, Passage]:
        if not ids:
            return {}
        got = self.passages.get(ids=list(ids), include=["documents", "metadatas"])
        return {i: _to_passage(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}

    def all_passages(self) -> list[Passage]:
        got = self._get_all(self.passages, ["documents", "metadatas"])
        return [_to_passage(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def count(self) -> int:
        return self.passages.count()

    def query(
        self, vector: np.ndarray, n: int, exclude_articles: Sequence[str] = (), only_article: str | None = None
    ) -> list[tuple[Passage, float]]:
        """Nearest passages by cosine similarity (1 - distance)."""
        return self.query_many(np.asarray([vector]), n, exclude_articles, only_article)[0]

    def query_many(
        self, vectors: np.ndarray, n: int, exclude_articles: Sequence[str] = (), only_article: str | None = None
    ) -> list[list[tuple[Passage, float]]]:
        """``query`` for several vectors in one Chroma call."""
        total = self.passages.count()
        if total == 0:
            return [[] for _ in range(len(vectors))]
        where: dict[str, Any] | None = None
        if only_article:
            where = {"article_id": only_article}
        elif exclude_articles:
            where = {"article_id": {"$nin": list(exclude_articles)}}
        got = self.passages.query(
            query_embeddings=[np.asarray(v, dtype=np.float32) for v in vectors],
            n_results=min(n, total),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            [(_to_passage(i, d, m), 1.0 - float(dist)) for i, d, m, dist in zip(ids, docs, metas, dists)]
            for ids, docs, metas, dists in zip(got["ids"], got["documents"], got["metadatas"], got["distances"])
        ]

    def _get_all(self, collection, include: list[str]) -> dict[str, list]:
        out: dict[str, list] = {"ids": [], **{k: [] for k in include}}
        offset, page = 0, 5000
        while True:
            got = collection.get(include=include, limit=page, offset=offset)
            out["ids"].extend(got["ids"])
            for k in include:
                out[k].extend(got[k] or [])
            if len(got["ids"]) < page:
                return out
            offset += page


def text_sha(text: str) -> str:
    """Fingerprint of an article's cleaned text (finds a pasted copy of a stored article)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def _passage_meta(p: Passage) -> dict[str, Any]:
    return {
        "article_id": p.article_id,
        "index": p.index,
        "start": p.start,
        "end": p.end,
        "tokens": p.tokens,
        "title": p.title,
        "url": p.url,
    }


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


def _to_passage(pid: str, doc: str, meta: dict[str, Any]) -> Passage:
    return Passage(id=pid, text=doc, **{k: meta[k] for k in ("article_id", "index", "start", "end", "tokens")},
                   title=str(meta.get("title", "")), url=str(meta.get("url", "")))
