"""Extractive selection: the article sentences a summary rests on, picked by code in well under a second.

Each sentence of the article's opening (``POOL`` sentences: news puts what matters first) is
scored by its position, its centrality among those sentences and its similarity to the headline
or lead (cosine over MiniLM sentence vectors), and a sentence opening with a quotation is marked
down; fragments (captions, labels) are skipped. Sentences are then taken greedily with maximal
marginal relevance, so a sentence that repeats one already taken loses to the next fact. The
weights were chosen on the CNN/DM dev articles with cross-validation (see the README): position
carries most of the signal in news, the vectors mostly serve to avoid repeats.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from assistant.embed import Embedder
from assistant.injection import find_injection
from assistant.types import Article, Passage, SourceSentence
from assistant.verify import split_sentences

# Sentences of the article's opening that are candidates; later ones almost never make a news summary.
POOL = 20
# Fewer words is a caption, a label or a dateline, not a statement to summarise.
MIN_WORDS = 6
# More words is usually several sentences run together (a caption glued to the text).
MAX_WORDS = 70
_QUOTE_OPENERS = "\"'‘“"
_ENDINGS = ".!?\"'”’)"
_BULLET = re.compile(r"\s*[•▪●◦*–-]\s+")


@dataclass(frozen=True)
class SelectionWeights:
    """How much each signal counts in a sentence's selection score."""

    position: float = 0.3  # penalty per log(1 + index): earlier is better, with diminishing steps
    centrality: float = 0.0  # cosine to the centroid of the candidate sentences
    lead: float = 0.0  # cosine to the headline (or the first sentence when there is none)
    quote: float = 0.5  # penalty for opening with a quotation (direct speech rarely states the news)
    redundancy: float = 0.5  # MMR: penalty times the cosine to the most similar sentence taken


DEFAULT_WEIGHTS = SelectionWeights()


@dataclass(frozen=True)
class Candidate:
    """One article sentence that may be selected, with the passage that holds it."""

    text: str
    start: int
    end: int
    position: int
    passage_id: str


def _holder(article: Article, start: int, end: int, passages: list[Passage]) -> Passage | None:
    raw_start, raw_end = article.to_raw(start, end)
    for p in passages:
        if p.start <= raw_start and raw_end <= p.end:
            return p
    text = article.text[start:end].strip()
    return next((p for p in passages if text in p.text), None)


def candidates(article: Article, passages: list[Passage], pool: int = POOL) -> list[Candidate]:
    """The first ``pool`` story sentences of the article (headline, fragments and run-ons left out).

    An article none of whose sentences passes (a short note, text with markup after each full
    stop) gets its sentences with only the length floor and the injection rule applied.
    """
    return _candidates(article, passages, pool, strict=True) or _candidates(article, passages, pool, strict=False)


def _candidates(article: Article, passages: list[Passage], pool: int, strict: bool) -> list[Candidate]:
    out: list[Candidate] = []
    headline = _headline(article)
    for position, (start, end) in enumerate(split_sentences(article.text)):
        text = article.text[start:end]
        bullet = _BULLET.match(text)
        if bullet:  # a key-points list item: the item without its bullet
            start += bullet.end()
            text = text[bullet.end() :]
        text = text.strip()
        words = len(text.split())
        if words < MIN_WORDS or (strict and (words > MAX_WORDS or text == headline)):
            continue
        if strict and not bullet and text[-1] not in _ENDINGS:
            continue  # a headline, label or caption without a full stop
        if find_injection(text):
            continue  # a sentence addressed to the assistant is neither summary nor instruction
        holder = _holder(article, start, end, passages)
        if holder is None:
            continue
        out.append(Candidate(text, start, end, position, holder.id))
        if len(out) == pool:
            break
    return out


def _headline(article: Article) -> str:
    title = article.title.strip()
    return title if title and title != article.id else ""


def score_candidates(
    cands: list[Candidate], vectors: np.ndarray, headline_vector: np.ndarray | None, weights: SelectionWeights
) -> list[float]:
    """Each candidate's score before redundancy: position, centrality, headline/lead similarity, quotation."""
    if not cands:
        return []
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    centrality = vectors @ (centroid / norm) if norm else np.zeros(len(cands))
    lead = vectors @ (headline_vector if headline_vector is not None else vectors[0])
    scores = []
    for i, c in enumerate(cands):
        s = -weights.position * math.log1p(c.position)
        s += weights.centrality * float(centrality[i]) + weights.lead * float(lead[i])
        if c.text[:1] in _QUOTE_OPENERS:
            s -= weights.quote
        scores.append(s)
    return scores


def mmr_order(scores: list[float], vectors: np.ndarray, k: int, redundancy: float) -> list[int]:
    """Greedy maximal marginal relevance: ``k`` indices, each best after the penalty for repeating one taken."""
    chosen: list[int] = []
    left = list(range(len(scores)))
    while left and len(chosen) < k:
        def gain(i: int) -> float:
            repeat = max((float(vectors[i] @ vectors[j]) for j in chosen), default=0.0)
            return scores[i] - redundancy * repeat

        best = max(left, key=gain)
        chosen.append(best)
        left.remove(best)
    return chosen


def select_sentences(
    article: Article,
    passages: list[Passage],
    n: int,
    embedder: Embedder,
    weights: SelectionWeights = DEFAULT_WEIGHTS,
    pool: int = POOL,
) -> list[SourceSentence]:
    """The ``n`` sentences a summary of ``article`` should rest on, in article order, numbered from 1."""
    cands = candidates(article, passages, pool)
    if not cands:
        return []
    headline = _headline(article)
    texts = [c.text for c in cands] + ([headline] if headline else [])
    vectors = embedder.embed(texts)
    headline_vector = vectors[-1] if headline else None
    vectors = vectors[: len(cands)]
    scores = score_candidates(cands, vectors, headline_vector, weights)
    picked = sorted(mmr_order(scores, vectors, n, weights.redundancy), key=lambda i: cands[i].position)
    return [
        SourceSentence(
            number=k + 1,
            text=cands[i].text,
            start=cands[i].start,
            end=cands[i].end,
            position=cands[i].position,
            passage_id=cands[i].passage_id,
            score=round(scores[i], 4),
        )
        for k, i in enumerate(picked)
    ]
