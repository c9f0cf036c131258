"""Recency where asked: a question about the latest or current state reads newer passages first.

A question with "latest", "now", "still", "so far", "current", "as of" (and the like) is answered
from a ranking in which, among the relevant passages, newer ones move up. Relevant means close to
the best by either ranker's own score (the fused RRF scores of a one-topic archive are all alike):
a dense cosine within ``DENSE_MARGIN`` of the best, or a BM25 score at least ``LEXICAL_SHARE`` of
the best. Each relevant passage gains up to ``BOOST`` times the best fused score, in proportion to
how late in that group it was published (the newest gains it all, the oldest nothing; undated
passages nothing), so the newest relevant passage comes first and a newer passage about something
else is not pulled up. The answer then says "as of" the newest date it cites. Measured on the
fictional correction archive (tests/data/dated-story.jsonl, MiniLM): the passage holding the
current answer is ranked first for 5 of 5 recency questions, against 4 of 5 without the boost
(tests/test_recency.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from assistant.dates import timestamp
from assistant.types import Answer, ScoredPassage

# Words that ask for the current state of things.
_RECENCY = re.compile(
    r"\b(latest|newest|most\s+recent(?:ly)?|recently|now|nowadays|currently|current|still|so\s+far|"
    r"as\s+of|to\s+date|any\s+more|anymore|these\s+days|at\s+present|up\s+to\s+date)\b",
    re.IGNORECASE,
)
# Relevant: a dense cosine this close to the best one, or a BM25 score at least this share of the best.
DENSE_MARGIN = 0.05
LEXICAL_SHARE = 0.5
# The newest relevant passage gains this share of the best fused score (RRF scores of the top
# passages differ by far less, so the newest relevant one comes first).
BOOST = 0.5
# Candidates read before re-ranking, as a multiple of the k asked for.
DEPTH = 2


def asks_for_recency(question: str) -> bool:
    """Whether a question asks about the latest or current state ("Is the bridge still closed?")."""
    return bool(_RECENCY.search(question or ""))


def relevant_group(hits: Sequence[ScoredPassage]) -> list[ScoredPassage]:
    """The hits close to the best by the dense or the BM25 ranker's own score (see the module doc)."""
    dense = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
    lexical = max((h.lexical_score for h in hits if h.lexical_score is not None), default=None)
    return [
        h
        for h in hits
        if (dense is not None and h.dense_score is not None and h.dense_score >= dense - DENSE_MARGIN)
        or (lexical and h.lexical_score is not None and h.lexical_score >= LEXICAL_SHARE * lexical)
    ]


def newest_first(hits: Sequence[ScoredPassage], boost: float = BOOST) -> list[ScoredPassage]:
    """``hits`` re-ranked so newer passages come first among the relevant ones (see the module doc).

    Scores are replaced by the boosted ones; ranks and each ranker's own score are kept.
    """
    if not hits:
        return []
    best = max(h.score for h in hits)
    group = {h.passage.id: timestamp(h.passage.published) for h in relevant_group(hits)}
    stamps = [t for t in group.values() if t is not None]
    if len(set(stamps)) < 2:
        return list(hits)
    lo, hi = min(stamps), max(stamps)
    out = []
    for h in hits:
        t = group.get(h.passage.id)
        gain = boost * best * (t - lo) / (hi - lo) if t is not None else 0.0
        out.append(h.model_copy(update={"score": h.score + gain}))
    return sorted(out, key=lambda h: -h.score)


class NewestFirst:
    """A retriever whose searches rank newer relevant passages first (``newest_first``)."""

    def __init__(self, inner: Any, depth: int = DEPTH) -> None:
        self.inner, self.depth = inner, depth

    def search(self, query: str, k: int | None = None, **kw: Any) -> list[ScoredPassage]:
        k = k or self.inner.settings.k
        return newest_first(self.inner.search(query, k=k * self.depth, **kw))[:k]

    def search_many(self, queries: Sequence[str], k: int | None = None, **kw: Any) -> list[list[ScoredPassage]]:
        k = k or self.inner.settings.k
        return [newest_first(h)[:k] for h in self.inner.search_many(queries, k=k * self.depth, **kw)]


def as_of(answer: Answer) -> str:
    """The newest publication date among an answer's citations ("" when none is dated)."""
    dated = [(t, c.published) for c in answer.citations if (t := timestamp(c.published)) is not None]
    return max(dated)[1] if dated else ""
