"""Dense reads of the store: nearest passages by vector, current generations only.

``ReadsVectors`` is the part of ``Store`` that queries Chroma's vector index and keeps only live
passages (those of the generation their article record names; see ``assistant.store``), and
``_fetch`` runs any read against a catalog consistent with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from chromadb.errors import ChromaError

from assistant.errors import StoreError
from assistant.store_changes import LOCK_TIMEOUT, FollowsWriters
from assistant.store_records import ArticleRecord, _to_passage, _where, record_id
from assistant.types import Passage

# (excluded article ids, only this article, published since, until): a dense query's restriction
_Restriction = tuple[tuple[str, ...], str | None, int | None, int | None]


class KnownPassages(Protocol):
    """Passages this process holds by record id (the BM25 index): a dense query given these asks
    Chroma for ids and distances alone (see ``ReadsVectors.query_many``)."""

    def passage(self, record: str) -> Passage | None: ...


class ReadsVectors(FollowsWriters):
    """Nearest-passage queries and consistent reads (``Store`` sets ``passages``)."""

    passages: Any

    def _records_of(self, got: dict[str, Any]) -> list[tuple[str, Passage]]:
        """(record id, passage) of the live records in a Chroma read with documents and metadata."""
        ids, docs, metas = got["ids"], got["documents"], got["metadatas"]
        return [(i, _to_passage(i, d, m)) for i, d, m, ok in zip(ids, docs, metas, self._live(ids, metas)) if ok]

    def _live(self, ids: Sequence[str], metas: Sequence[dict[str, Any] | None]) -> list[bool]:
        """Which passage records belong to the generation their article record names."""
        catalog = self._catalog
        out = []
        for m in metas:
            rec = catalog.get(str((m or {}).get("article_id", ""))) if m else None
            out.append(rec is not None and str(m.get("gen", "")) == rec.gen)
        return out

    def _fetch(self, read: Callable[[], Any]) -> Any:
        """Run ``read`` against a catalog consistent with it.

        Writers publish a new token after switching an article and before deleting its old
        passages, so a read that overlapped a switch sees the token change and runs again.
        """
        token = self.sync()
        for _ in range(3):
            got = read()
            if self._read_token() == token:
                return got
            token = self.sync()
        # Writers keep switching (a tight loop of small writes): read between two of them.
        with self.lock.hold(LOCK_TIMEOUT):
            self.sync()
            return read()

    def query(
        self,
        vector: np.ndarray,
        n: int,
        exclude_articles: Sequence[str] = (),
        only_article: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
    ) -> list[tuple[Passage, float]]:
        """Nearest passages by cosine similarity (1 - distance)."""
        return self.query_many(np.asarray([vector]), n, exclude_articles, only_article, since=since, until=until)[0]

    def query_many(
        self,
        vectors: np.ndarray,
        n: int,
        exclude_articles: Sequence[str] = (),
        only_article: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        known: KnownPassages | None = None,
    ) -> list[list[tuple[Passage, float]]]:
        """``query`` for several vectors in one Chroma call, current generations only.

        ``since`` / ``until`` (epoch seconds, inclusive) keep passages whose ``published_ts`` lies
        in the range, in Chroma's ``where``; undated passages are outside any range.

        ``known``: passages this process already holds, by record id. Chroma then returns ids and
        distances only and the passages come from ``known``: a record's content never changes (a
        rewrite is a new generation, a new record id), and its id names passage and generation, so
        the catalog says whether it is live. Reading documents and metadata was ~85% of a query's
        time (a draft check's 29 claims: 0.09 s of 0.1 s). Ids ``known`` lacks (written since it
        was read, or another generation's leftover) are read from Chroma as before.
        """
        restrict = (tuple(exclude_articles), only_article, since, until)
        for _ in range(2):
            token = self._token
            try:
                return self._query_many(vectors, n, restrict, known)
            except (ChromaError, StoreError) as exc:
                if not self._embedded or "Error finding id" not in str(exc):
                    raise
                # Another process deleted passages while this query ran on the vector index
                # loaded before: expected, and the token says so; read again (sync reopens).
                if self._read_token() == token:
                    self._reopen_after_error(exc)
        # Writes keep overlapping this query (a CLI writing fast while many checks run): query
        # between two of them, under the writer lock, where no delete can interfere.
        with self.lock.hold(LOCK_TIMEOUT):
            self.sync()
            self._fresh_index()
            try:
                return self._query_live(vectors, n, restrict)
            except (ChromaError, StoreError) as exc:
                if not self._embedded or "Error finding id" not in str(exc):
                    raise
                self._reopen_after_error(exc)  # stale without any published write: an outside writer
                return self._query_live(vectors, n, restrict)

    def _query_many(
        self, vectors: np.ndarray, n: int, restrict: _Restriction, known: KnownPassages | None
    ) -> list[list[tuple[Passage, float]]]:
        return self._fetch(lambda: self._query_live(vectors, n, restrict, known))

    def _query_live(
        self, vectors: np.ndarray, n: int, restrict: _Restriction, known: KnownPassages | None = None
    ) -> list[list[tuple[Passage, float]]]:
        catalog = self._catalog  # one snapshot: a hit is live when this catalog names its generation
        if not catalog:
            return [[] for _ in range(len(vectors))]
        self._fresh_index(wait=False)
        exclude, only_article, since, until = restrict
        # An excluded article that is not stored (a pasted draft's own id) has no live passage to
        # keep out (``_live`` drops passages of articles the catalog lacks), and Chroma's ``$nin``
        # filter costs ~45% of a query: leave such ids out of it.
        where = _where([a for a in exclude if a in catalog], only_article, since, until)
        # Leftovers of other generations are filtered out after the query: ask for a few more
        # (Chroma returns fewer when the collection is smaller, so no count is needed).
        want = n + max(8, n // 4)
        while True:
            got = self.passages.query(
                query_embeddings=[np.asarray(v, dtype=np.float32) for v in vectors],
                n_results=want,
                where=where,
                include=["distances"] if known is not None else ["documents", "metadatas", "distances"],
            )
            if known is not None:
                found = self._resolve(got["ids"], known, catalog)
            elif any(m is None for metas in got["metadatas"] for m in metas):
                raise StoreError("Error finding id: vector index out of date")  # reopened by the caller
            else:
                found = {}
                for ids, docs, metas in zip(got["ids"], got["documents"], got["metadatas"]):
                    found.update(self._records_of({"ids": ids, "documents": docs, "metadatas": metas}))
            out = []
            short = False
            for ids, dists in zip(got["ids"], got["distances"]):
                rows = [(found[i], 1.0 - float(x)) for i, x in zip(ids, dists) if i in found]
                short |= len(rows) < n and len(ids) == want
                out.append(rows[:n])
            if not short:
                return out
            want *= 2

    def _resolve(
        self, ids: Sequence[Sequence[str]], known: KnownPassages, catalog: dict[str, ArticleRecord]
    ) -> dict[str, Passage]:
        """The live passages among record ids a query returned, by record id: from ``known`` when it
        holds the record and ``catalog`` names its generation, else read from Chroma."""
        found: dict[str, Passage] = {}
        unknown: list[str] = []
        for rid in {i for row in ids for i in row}:
            p = known.passage(rid)
            rec = catalog.get(p.article_id) if p is not None else None
            if p is not None and rec is not None and record_id(p.id, rec.gen) == rid:
                found[rid] = p
            else:
                unknown.append(rid)  # another generation's leftover, or a record ``known`` lacks
        if unknown:
            # A record missing here was a leftover deleted since the query: not live, left out.
            found.update(self._records_of(self.passages.get(ids=unknown, include=["documents", "metadatas"])))
        return found
