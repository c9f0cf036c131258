"""Chroma storage of passages (with embeddings) and articles (raw text + metadata).

Writer discipline, so readers never see half an article and nothing is lost under concurrency
or a crash:

* Every write of an article puts its passages under a fresh **generation** (record id
  ``PASSAGE_ID@GEN``, metadata ``gen``), then upserts the article record naming that
  generation, then deletes the article's other generations. Readers trust only passages of
  the generation their article record names, so a crash at any point leaves either the old
  article or the new one, plus invisible leftovers that the next write or ``assistant doctor``
  removes. Passage ids shown to users (``ARTICLE#pINDEX-HASH``) stay stable.
* Writers take a file lock in the data dir (``store.lock``), so threads, CLI runs and app
  processes on one data dir write one article at a time; the article id is chosen under the
  lock, so files that share a name never take each other's id.
* After each write the writer stores a new random **store token** and the next **sequence
  number** in the ``…-state`` collection, after a change record naming the articles it
  changed. Every reader compares the token before answering and, when another process changed
  the store, applies those changes as a delta (article catalog here; BM25 and corpus names
  replace just those articles) or reloads everything when a change record is missing, and,
  for the embedded store, reopens the Chroma client: chromadb's embedded client keeps each
  collection's vector index in memory and never re-reads it for writes made by other
  processes, which made queries fail with "Error finding id". That part lives in
  ``assistant.store_changes``; dense queries in ``assistant.store_search``; records and pure
  helpers in ``assistant.store_records``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from chromadb.errors import ChromaError

from assistant.embed import Embedder, MiniLMEmbedder, default_embedder, graph_named
from assistant.errors import NotFoundError, StoreError
from assistant.ingest import split_passages
from assistant.locks import writer_lock
from assistant.memory import collect_dropped
from assistant.redact import redact_text
from assistant.settings import Settings
from assistant.store_changes import LOCK_TIMEOUT, ChangeLog
from assistant.store_records import (
    ArticleInfo,
    ArticleRecord,
    RemoveResult,
    UpsertResult,
    UpsertStatus,
    _date_meta,
    _fresh_embedded_client,
    _passage_meta,
    _to_article,
    _to_record,
    make_client,
    new_generation,
    record_id,
    same_source,
    source_key,
    text_sha,
)
from assistant.store_search import ReadsVectors
from assistant.types import Article, Passage

log = logging.getLogger(__name__)


class Store(ReadsVectors):
    """Passages and articles in Chroma collections, written under a lock with generations (see module doc)."""

    def __init__(
        self, settings: Settings, embedder: Embedder, client: Any | None = None, adopt_graph: bool = False
    ) -> None:
        """``adopt_graph``: ``embedder`` is only the configured default, so an existing store built with
        another MiniLM graph opens with that graph instead of being refused (``_other_graph``)."""
        self.settings = settings
        self.embedder = embedder
        self._adopt_graph = adopt_graph
        self.lock = writer_lock(settings.store_lock_path)
        self._embedded = client is None and not settings.chroma.host
        self._sync_lock = threading.RLock()
        self._token: str | None = None
        self._catalog: dict[str, ArticleRecord] = {}
        self._index_stale = False  # another process wrote: reopen before the next vector read
        self.changes = ChangeLog()  # writes applied here, for BM25 and spellings to catch up
        self._recent_docs = {}  # texts of the articles the last catch-ups read
        self._reloading = False  # a background reload of the vector index is running
        self.revision = 0  # bumped whenever the catalog is reloaded or this process writes
        # Under the lock: two processes creating a new store at once race on Chroma's schema
        # ("table collections already exists") and on get_or_create of the collections.
        with self.lock.hold(LOCK_TIMEOUT):
            self._open(client)
        self._batch = max(1, min(self.client.get_max_batch_size(), 1000))

    def _open(self, client: Any | None = None, fresh: bool = False) -> None:
        if client is None:
            client = _fresh_embedded_client(self.settings) if fresh and self._embedded else make_client(self.settings)
        client, passages, articles, state = self._handles(client)
        # One assignment each; readers in other threads see either the old handles or the new.
        self.client, self.passages, self.articles, self.state = client, passages, articles, state
        if fresh:
            collect_dropped()  # the client just replaced

    def _handles(self, client: Any) -> tuple[Any, Any, Any, Any]:
        """The client with its three collections (created when missing), checked for the embedder."""
        name = self.settings.chroma.collection
        meta = {"embedder": self.embedder.name, "dim": self.embedder.dim}
        try:
            passages = client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=meta
            )
            articles = client.get_or_create_collection(
                f"{name}-articles", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}, metadata=meta
            )
            state = client.get_or_create_collection(f"{name}-state", embedding_function=None)
        except Exception as exc:
            raise StoreError(redact_text(f"cannot open collection {name!r}: {exc}")) from exc
        stored = passages.metadata or {}
        built_with = stored.get("embedder")
        if built_with not in (None, self.embedder.name) and not self._other_graph(built_with):
            raise StoreError(
                f"collection {name!r} was built with embedder {stored.get('embedder')!r}, not {self.embedder.name!r}",
                "Use another --data-dir or ASSISTANT_CHROMA__COLLECTION, or re-ingest into a new one.",
            )
        return client, passages, articles, state

    def _other_graph(self, built_with: str) -> bool:
        """Switch to the MiniLM graph a store was built with, when it is another graph of ours.

        Its vectors are only comparable with that graph's, and re-embedding an archive is a
        decision for its editors: it keeps its graph (a new store gets ``embed.graph``).
        """
        graph = graph_named(built_with)
        if graph is None or not self._adopt_graph or not isinstance(self.embedder, MiniLMEmbedder):
            return False
        log.warning(
            "this store was built with the MiniLM %s graph: it keeps it (a new store gets %s; to move this one, "
            "re-ingest its articles into a new data dir)",
            graph,
            self.embedder.graph,
        )
        self.embedder = default_embedder(graph, self.settings.model_dir)
        return True


    # ------------------------------------------------------------ writing

    def content_hash(self, article: Article) -> str:
        chunk = self.settings.chunk
        parts = [article.raw, article.title, article.url, chunk.model_dump(), self.embedder.name]
        if article.published:  # undated articles keep the hash they had before dates were stored
            parts.append(article.published)
        key = json.dumps(parts)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _record(self, article_id: str) -> ArticleRecord | None:
        got = self.articles.get(ids=[article_id], include=["metadatas"])
        return _to_record(article_id, got["metadatas"][0]) if got["ids"] else None

    def _claim(self, article: Article) -> tuple[Article, ArticleRecord | None]:
        """The id ``article`` gets: its own, unless another source's article holds it (then a suffix).

        Ids stay one-to-one with sources: the same file (by any path) keeps its id, another
        file with the same name gets ``NAME-<hash of its path>``. Called under the lock for
        the real decision, so concurrent writers never pick the same id.
        """
        if not article.source:
            return article, self._record(article.id)
        base, digest = article.id, hashlib.sha1(source_key(article.source).encode()).hexdigest()
        for width in (0, 6, 10, 16, 40):
            candidate = base if width == 0 else f"{base}-{digest[:width]}"
            rec = self._record(candidate)
            if rec is None or not rec.source or same_source(rec.source, article.source):
                moved = article if candidate == article.id else article.model_copy(update={"id": candidate})
                return moved, rec
        raise StoreError(f"cannot find a free id for {article.source}")  # 2^-160: not in practice

    def upsert_article(
        self, article: Article, on_passages: Callable[[int], None] | None = None
    ) -> tuple[UpsertStatus, list[Passage]]:
        """Store an article by its id; unchanged content embeds nothing, changed content replaces."""
        result = self.put_article(article, on_passages)
        return result.status, result.passages

    def put_article(self, article: Article, on_passages: Callable[[int], None] | None = None) -> UpsertResult:
        """Store an article (choosing its id under the lock); embeddings are computed outside the lock."""
        self.sync()
        target, rec = self._claim(article)
        if rec is not None and rec.content_hash == self.content_hash(target):
            self._drop_leftovers(target.id, rec.gen)
            self.settle_pending()
            return UpsertResult("unchanged", target.id, [])
        vectors = self._vectors_by_text(target.id)
        passages = split_passages(target, self.settings.chunk)
        self._embed_missing(passages, vectors)
        with self.lock.hold(LOCK_TIMEOUT):
            self.sync()
            final, rec = self._claim(article)
            if rec is not None and rec.content_hash == self.content_hash(final):
                self._drop_leftovers(final.id, rec.gen)
                return UpsertResult("unchanged", final.id, [])
            if final.id != target.id:
                passages = split_passages(final, self.settings.chunk)
                vectors.update(self._vectors_by_text(final.id))
                self._embed_missing(passages, vectors)
            self._write_generation(final, passages, vectors, on_passages, ingested_at=time.time())
        return UpsertResult("replaced" if rec is not None else "added", final.id, passages)

    def _embed_missing(self, passages: list[Passage], vectors: dict[str, np.ndarray]) -> None:
        todo = sorted({p.text for p in passages if p.text not in vectors})
        if todo:
            for text, vector in zip(todo, self.embedder.embed(todo)):
                vectors[text] = np.asarray(vector, dtype=np.float32)

    def _vectors_by_text(self, article_id: str) -> dict[str, np.ndarray]:
        """Stored vectors of an article's passages (any generation), keyed by passage text.

        A vector depends only on the text, so unchanged passages are never embedded again.
        """
        self._fresh_index()
        try:
            got = self.passages.get(where={"article_id": article_id}, include=["documents", "embeddings"])
        except ChromaError as exc:  # a missing vector: re-embed rather than fail the write
            log.warning("stored vectors of %s unreadable (%s); re-embedding", article_id, exc)
            return {}
        if not got["ids"]:
            return {}
        return {d: np.asarray(e, dtype=np.float32) for d, e in zip(got["documents"], got["embeddings"]) if e is not None}

    def _write_generation(
        self,
        article: Article,
        passages: list[Passage],
        vectors: dict[str, np.ndarray],
        on_passages: Callable[[int], None] | None,
        ingested_at: float,
    ) -> ArticleRecord:
        """Under the lock: passages under a new generation, then the record naming it, then cleanup."""
        self._fresh_index()
        gen = new_generation()
        for start in range(0, len(passages), self._batch):
            part = passages[start : start + self._batch]
            self.passages.upsert(
                ids=[record_id(p.id, gen) for p in part],
                embeddings=np.stack([vectors[p.text] for p in part]),
                documents=[p.text for p in part],
                metadatas=[_passage_meta(p, gen) for p in part],
            )
            if on_passages:
                on_passages(len(part))
        centroid = np.stack([vectors[p.text] for p in passages]).mean(axis=0)
        centroid /= np.linalg.norm(centroid) or 1.0
        meta = {
            "title": article.title,
            "url": article.url,
            "published": article.published,
            "source": source_key(article.source),
            "content_hash": self.content_hash(article),
            "text_sha": text_sha(article.text),
            "passages": len(passages),
            "ingested_at": ingested_at,
            "gen": gen,
            **_date_meta(article.published),
        }
        self._intend(article.id)  # announced by the next write should this process die here
        # The switch: from here on readers take the new generation.
        self.articles.upsert(ids=[article.id], embeddings=[centroid], documents=[article.raw], metadatas=[meta])
        record = _to_record(article.id, meta)
        # Published before the old generation goes: a reader whose read overlaps the delete
        # sees the token change and reads again with the new catalog (see ``_fetch``).
        self._bump({article.id: record})
        self._drop_leftovers(article.id, gen, publish=False)
        return record

    def _drop_leftovers(self, article_id: str, gen: str, publish: bool = True) -> int:
        """Delete the article's passages of any generation but ``gen`` (old versions, crashed writes)."""
        got = self.passages.get(where={"article_id": article_id}, include=["metadatas"])
        stale = [i for i, m in zip(got["ids"], got["metadatas"]) if str((m or {}).get("gen", "")) != gen]
        if not stale:
            return 0
        with self.lock.hold(LOCK_TIMEOUT):
            # Re-read under the lock: a writer may have switched the article meanwhile.
            rec = self._record(article_id)
            if rec is None or rec.gen != gen:
                return 0
            got = self.passages.get(where={"article_id": article_id}, include=["metadatas"])
            stale = [i for i, m in zip(got["ids"], got["metadatas"]) if str((m or {}).get("gen", "")) != gen]
            for start in range(0, len(stale), self._batch):
                self.passages.delete(ids=stale[start : start + self._batch])
            if publish and stale:
                self._bump({article_id: rec})  # readers re-read it: a killed writer may have switched it
        return len(stale)

    def rebuild_article(self, article_id: str) -> ArticleRecord:
        """Re-split and re-store an article from its stored raw text (repairs lost or extra passages)."""
        with self.lock.hold(LOCK_TIMEOUT):
            self.sync()
            got = self.articles.get(ids=[article_id], include=["documents", "metadatas"])
            if not got["ids"]:
                raise NotFoundError(f"no article with id {article_id!r}")
            meta = got["metadatas"][0] or {}
            article = _to_article(article_id, got["documents"][0], meta)
            passages = split_passages(article, self.settings.chunk)
            vectors = self._vectors_by_text(article_id)
            self._embed_missing(passages, vectors)
            return self._write_generation(
                article, passages, vectors, None, ingested_at=float(meta.get("ingested_at", time.time()))
            )

    def find_copies(self, text: str) -> list[str]:
        """Ids of stored articles whose cleaned text is exactly ``text``."""
        got = self.articles.get(where={"text_sha": text_sha(text)}, include=[])
        return list(got["ids"])

    def remove(self, article_id: str) -> int:
        """Delete an article and all its passages (orphans of a crashed write too); return how many."""
        return self.remove_article(article_id).passages

    def remove_article(self, article_id: str) -> RemoveResult:
        """``remove`` with the details: passages deleted and whether an article record existed."""
        with self.lock.hold(LOCK_TIMEOUT):
            self.sync()
            had_record = bool(self.articles.get(ids=[article_id], include=[])["ids"])
            ids = self.passages.get(where={"article_id": article_id}, include=[])["ids"]
            if not had_record and not ids:
                raise NotFoundError(f"no article with id {article_id!r}")
            # The record goes first and is published: readers stop trusting the passages before
            # they disappear.
            if had_record:
                self.articles.delete(ids=[article_id])
            self._bump({article_id: None})
            for start in range(0, len(ids), self._batch):
                self.passages.delete(ids=ids[start : start + self._batch])
        return RemoveResult(article_id, len(ids), had_record)

    def delete_passage_records(self, ids: Sequence[str]) -> None:
        """Delete raw passage records by Chroma id (the doctor's repair of orphans)."""
        with self.lock.hold(LOCK_TIMEOUT):
            for start in range(0, len(ids), self._batch):
                self.passages.delete(ids=list(ids[start : start + self._batch]))
            self._bump({}, everything=True)  # repairs may touch what readers index

    def restore_vectors(self, ids: Sequence[str]) -> int:
        """Re-embed passage records whose vector is missing (same id, text and metadata)."""
        with self.lock.hold(LOCK_TIMEOUT):
            self.sync()
            self._fresh_index()
            got = self.passages.get(ids=list(ids), include=["documents", "metadatas"])
            if not got["ids"]:
                return 0
            vectors = self.embedder.embed(list(got["documents"]))
            self.passages.upsert(ids=got["ids"], embeddings=vectors, documents=got["documents"], metadatas=got["metadatas"])
            self._bump({})
            return len(got["ids"])

    # ------------------------------------------------------------ reading

    def list_articles(self) -> list[ArticleInfo]:
        return sorted((r.info() for r in self.catalog().values()), key=lambda a: a.id)

    def get_article(self, article_id: str) -> Article:
        self.sync()
        got = self.articles.get(ids=[article_id], include=["documents", "metadatas"])
        if not got["ids"]:
            raise NotFoundError(f"no article with id {article_id!r}")
        return _to_article(article_id, got["documents"][0], got["metadatas"][0])

    def articles_by_id(self, article_ids: Sequence[str]) -> list[Article]:
        """The stored articles among ``article_ids`` (missing ids are skipped)."""
        self.sync()
        out: list[Article] = []
        ids = []
        catalog, recent = self._catalog, self._recent_docs
        for i in dict.fromkeys(article_ids):
            hit = recent.get(i)
            rec = catalog.get(i)
            if hit is not None and rec is not None and hit[0] == rec.gen:
                out.append(_to_article(i, hit[1], hit[2]))  # read by the last catch-up
            else:
                ids.append(i)
        for start in range(0, len(ids), 500):
            got = self.articles.get(ids=ids[start : start + 500], include=["documents", "metadatas"])
            out.extend(_to_article(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]))
        return out

    def all_articles(self) -> list[Article]:
        """Every stored article, read in pages rather than one request per article."""
        self.sync()
        got = self._get_all(self.articles, ["documents", "metadatas"])
        return [_to_article(i, d, m) for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])]

    def get_passages(self, article_id: str) -> list[Passage]:
        out = self._fetch(
            lambda: self._passages_of(self.passages.get(where={"article_id": article_id}, include=["documents", "metadatas"]))
        )
        return sorted(out, key=lambda p: p.index)

    def passages_of(self, article_ids: Sequence[str]) -> list[Passage]:
        """Current passages of several articles (those removed have none), in one read per 500 ids."""
        return [p for _, p in self.records_of(article_ids)]

    def records_of(self, article_ids: Sequence[str]) -> list[tuple[str, Passage]]:
        """``passages_of`` with each passage's record id (``PASSAGE_ID@GEN``: its content never changes)."""
        ids = sorted(set(article_ids))

        def read() -> list[tuple[str, Passage]]:
            out: list[tuple[str, Passage]] = []
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                where = {"article_id": part[0]} if len(part) == 1 else {"article_id": {"$in": part}}
                out.extend(self._records_of(self.passages.get(where=where, include=["documents", "metadatas"])))
            return out

        return self._fetch(read) if ids else []

    def get_passages_by_id(self, ids: Sequence[str]) -> dict[str, Passage]:
        """Passages by their user-facing id (``ARTICLE#pINDEX-HASH``), current generation only."""
        ids = list(dict.fromkeys(ids))  # Chroma refuses a repeated id
        if not ids:
            return {}

        def read() -> dict[str, Passage]:
            by_pid = self.passages.get(where={"pid": {"$in": ids}}, include=["documents", "metadatas"])
            legacy = self.passages.get(ids=ids, include=["documents", "metadatas"])  # stored before generations
            return {p.id: p for got in (by_pid, legacy) for p in self._passages_of(got)}

        return self._fetch(read)

    def all_passages(self) -> list[Passage]:
        return [p for _, p in self.all_records()]

    def all_records(self) -> list[tuple[str, Passage]]:
        """Every current passage with its record id (see ``records_of``)."""
        return self._fetch(lambda: self._records_of(self._get_all(self.passages, ["documents", "metadatas"])))

    def _passages_of(self, got: dict[str, Any]) -> list[Passage]:
        return [p for _, p in self._records_of(got)]

    def count(self) -> int:
        """Passages readers can see (the article records' counts)."""
        return sum(r.passages for r in self.catalog().values())

    def raw_passages(self, include: Sequence[str] = ("metadatas",)) -> dict[str, list]:
        """Every passage record as stored, whatever its generation (for the doctor)."""
        self.sync()
        return self._get_all(self.passages, list(include))

    def vector_missing(self, ids: Sequence[str]) -> list[str]:
        """Those of ``ids`` (record ids) that have no vector in the index."""
        self._fresh_index()
        missing: list[str] = []

        def probe(chunk: list[str]) -> None:
            try:
                got = self.passages.get(ids=chunk, include=["embeddings"])
                have = {i for i, e in zip(got["ids"], got["embeddings"]) if e is not None and len(e)}
                missing.extend(i for i in chunk if i not in have)
            except ChromaError:  # "Error finding id": some vector of the chunk is missing
                if len(chunk) == 1:
                    missing.append(chunk[0])
                    return
                half = len(chunk) // 2
                probe(chunk[:half])
                probe(chunk[half:])

        ids = list(ids)
        for start in range(0, len(ids), 500):
            probe(ids[start : start + 500])
        return missing

    def _get_all(self, collection, include: list[str]) -> dict[str, list]:
        out: dict[str, list] = {"ids": [], **{k: [] for k in include}}
        offset, page = 0, 5000
        while True:
            got = collection.get(include=include, limit=page, offset=offset)
            out["ids"].extend(got["ids"])
            for k in include:
                out[k].extend(got[k] if got[k] is not None else [])
            if len(got["ids"]) < page:
                return out
            offset += page
