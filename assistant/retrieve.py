"""Hybrid retrieval: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from assistant.dates import in_range
from assistant.embed import Embedder
from assistant.settings import RetrieveSettings
from assistant.store import Store
from assistant.types import Passage, ScoredPassage

_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "for", "from", "had", "has", "have", "he", "her", "his", "i", "in", "is", "it", "its", "of", "on", "or", "our", "she", "that", "the", "their", "them", "they", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "will", "with", "would", "you", "your"]
)
_WORD = re.compile(r"[\w][\w'’-]*")


def lexical_tokens(text: str) -> list[str]:
    """Lower-cased words and numbers without stop words; possessives folded ("Putin's" → "putin")."""
    out = []
    for tok in _WORD.findall(text.lower()):
        tok = re.sub(r"['’]s$", "", tok).strip("'’-")
        if tok and tok not in _STOPWORDS:
            out.append(tok)
    return out


class BM25:
    """Okapi BM25 over an inverted index; scoring touches only the postings of the query terms."""

    def __init__(self, docs: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(len(docs), dtype=np.float32)
        for i, doc in enumerate(docs):
            counts = Counter(lexical_tokens(doc))
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                postings[term].append((i, tf))
        self.n = len(docs)
        avg = float(lengths.mean()) if self.n else 1.0
        self.norm = k1 * (1 - b + b * lengths / (avg or 1.0))
        self.index = {
            t: (np.array([d for d, _ in p], dtype=np.int64), np.array([f for _, f in p], dtype=np.float32))
            for t, p in postings.items()
        }

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        for term in set(lexical_tokens(query)):
            if term not in self.index:
                continue
            ids, tf = self.index[term]
            idf = math.log(1 + (self.n - len(ids) + 0.5) / (len(ids) + 0.5))
            out[ids] += idf * tf * (self.k1 + 1) / (tf + self.norm[ids])
        return out


class Retriever:
    """Searches a Store with dense and BM25 rankings fused by RRF."""

    def __init__(self, store: Store, embedder: Embedder, settings: RetrieveSettings | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings or RetrieveSettings()
        self._index: tuple[str, BM25, list[Passage]] | None = None
        self._lock = threading.Lock()

    def _lexical(self) -> tuple[BM25, list[Passage]]:
        # Rebuilt whenever the store token changes: a write by this process or by any other.
        key = self.store.sync()
        index = self._index
        if index is None or index[0] != key:
            with self._lock:
                index = self._index
                if index is None or index[0] != key:
                    passages = self.store.all_passages()
                    index = (key, BM25([p.text for p in passages]), passages)
                    self._index = index  # one assignment: readers never see a half-built pair
        return index[1], index[2]

    def search(
        self,
        query: str,
        k: int | None = None,
        exclude_articles: Sequence[str] = (),
        only_article: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
    ) -> list[ScoredPassage]:
        """Top-k passages for ``query``; ``score`` is the fused RRF score, with each ranker's own score kept.

        ``since`` / ``until`` (epoch seconds, inclusive; ``assistant.dates.parse_bound``) keep
        passages published in that range, on the dense and the BM25 side alike; undated passages
        are outside any range.
        """
        return self.search_many([query], k, exclude_articles, only_article, since=since, until=until)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int | None = None,
        exclude_articles: Sequence[str] = (),
        only_article: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
    ) -> list[list[ScoredPassage]]:
        """``search`` for several queries, embedding them in one batch."""
        if not queries:
            return []
        k = k or self.settings.k
        n = max(self.settings.candidates, k)
        vectors = self.embedder.embed(list(queries))
        dense = self.store.query_many(
            vectors, n, exclude_articles=exclude_articles, only_article=only_article, since=since, until=until
        )
        return [self._fuse(q, d, k, n, exclude_articles, only_article, since, until) for q, d in zip(queries, dense)]

    def within(self, since: int | None = None, until: int | None = None) -> Retriever:
        """This retriever limited to a publication-date range: every search through it applies the
        range (for callers that only call ``search`` / ``search_many``, such as ``ask`` and ``check``).
        Shares this retriever's BM25 index; with no bound it is this retriever itself."""
        if since is None and until is None:
            return self
        return DateRangeRetriever(self, since, until)

    def _fuse(
        self,
        query: str,
        dense: list[tuple[Passage, float]],
        k: int,
        n: int,
        exclude_articles: Sequence[str],
        only_article: str | None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[ScoredPassage]:
        bm25, passages = self._lexical()
        lexical: list[tuple[Passage, float]] = []
        if passages:
            scores = bm25.scores(query)
            excluded = set(exclude_articles)
            dated = since is not None or until is not None
            # A date range may leave few of the best: then every passage with a score is a candidate.
            top = np.argsort(-scores)
            if not dated:
                top = top[: n * 4 if (excluded or only_article) else n]
            for i in top:
                p = passages[i]
                if scores[i] <= 0:
                    break
                if p.article_id in excluded or (only_article and p.article_id != only_article):
                    continue
                if dated and not in_range(p.published, since, until):
                    continue
                lexical.append((p, float(scores[i])))
                if len(lexical) >= n:
                    break
        fused: dict[str, ScoredPassage] = {}
        for rank, (p, sim) in enumerate(dense):
            fused[p.id] = ScoredPassage(passage=p, score=1 / (self.settings.rrf_k + rank + 1), dense_rank=rank, dense_score=sim)
        for rank, (p, s) in enumerate(lexical):
            hit = fused.setdefault(p.id, ScoredPassage(passage=p, score=0.0))
            hit.score += 1 / (self.settings.rrf_k + rank + 1)
            hit.lexical_rank, hit.lexical_score = rank, s
        return sorted(fused.values(), key=lambda h: -h.score)[:k]


class DateRangeRetriever(Retriever):
    """A Retriever whose searches keep a publication-date range (see ``Retriever.within``)."""

    def __init__(self, base: Retriever, since: int | None, until: int | None) -> None:
        self.base, self.since, self.until = base, since, until
        self.store, self.embedder, self.settings = base.store, base.embedder, base.settings

    def _lexical(self) -> tuple[BM25, list[Passage]]:
        return self.base._lexical()

    def search_many(
        self,
        queries: Sequence[str],
        k: int | None = None,
        exclude_articles: Sequence[str] = (),
        only_article: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
    ) -> list[list[ScoredPassage]]:
        since = self.since if since is None else max(since, self.since) if self.since is not None else since
        until = self.until if until is None else min(until, self.until) if self.until is not None else until
        return self.base.search_many(queries, k, exclude_articles, only_article, since=since, until=until)

    def within(self, since: int | None = None, until: int | None = None) -> Retriever:
        return self.base.within(
            self.since if since is None else since if self.since is None else max(since, self.since),
            self.until if until is None else until if self.until is None else min(until, self.until),
        )
