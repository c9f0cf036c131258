"""Summary vs article consistency: the weakest summary sentence against its best-matching article sentence."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from assistant.verify.polarity import polarity_flip
from assistant.verify.sentences import sentence_texts
from assistant.verify.text import normalise_text, shorten
from assistant.verify.tokens import Tok, analyse, keys_of

# Summary consistent at or above this score: the middle of the dev plateau (0.865-0.90).
CONSISTENCY_THRESHOLD = 0.88

_PERSONAL_PRONOUNS = frozenset({"he", "she", "they", "him", "her", "his", "their", "them"})


class ConsistencyParams(NamedTuple):
    """Knobs of ``consistency_score`` (defaults picked on consistency-frank-dev; see eval/consistency_dev.py)."""

    elsewhere: float = (
        0.4  # credit for a summary word found in the article but not in the aligned sentence
    )
    pronoun: float = 0.3  # penalty per personal pronoun the aligned article sentence does not use
    polarity: float = (
        0.5  # penalty when the aligned sentence says the opposite (negation or antonym)
    )


DEFAULT_PARAMS = ConsistencyParams()


@dataclass(slots=True)
class _ArticleIndex:
    sentences: list[tuple[Tok, ...]]
    sentence_keys: list[set[str]]
    sentence_words: list[set[str]]
    keys: set[str]


@lru_cache(maxsize=256)
def _article_index(article: str) -> _ArticleIndex:
    """Sentences of an article analysed once (cached: FRANK scores several summaries per article)."""
    sents = [analyse(s) for s in sentence_texts(normalise_text(article))]
    keys = [keys_of(t) for t in sents]
    return _ArticleIndex(
        sents, keys, [{t.text for t in s} for s in sents], set().union(*keys) if keys else set()
    )


def _sentence_support(
    toks: tuple[Tok, ...], idx: _ArticleIndex, params: ConsistencyParams
) -> tuple[float, int, list[str]]:
    """Best support of one summary sentence by one article sentence: score, sentence index, problems."""
    content = [t for t in toks if t.content]
    total = sum(t.weight for t in content)
    best, best_j = -1.0, -1
    for j, keys in enumerate(idx.sentence_keys):
        # words elsewhere in the article earn part credit: a first name given earlier, a recap
        cov = sum(
            t.weight if t.key in keys else params.elsewhere * t.weight * (t.key in idx.keys)
            for t in content
        )
        if cov > best:
            best, best_j = cov, j
    if best_j < 0:
        return 0.0, -1, ["article has no sentences"]
    score = best / total
    keys, words = idx.sentence_keys[best_j], idx.sentence_words[best_j]
    problems = []
    missing = [t.text for t in content if t.key not in idx.keys]
    elsewhere = [t.text for t in content if t.key in idx.keys and t.key not in keys]
    if missing:
        problems.append("not in article: " + ", ".join(dict.fromkeys(missing)))
    if elsewhere:
        problems.append("not in the matching sentence: " + ", ".join(dict.fromkeys(elsewhere)))
    # A pronoun the source sentence does not use means the summary resolved a reference itself (often wrongly).
    pronouns = sorted({t.text for t in toks if t.text in _PERSONAL_PRONOUNS} - words)
    if pronouns:
        score -= params.pronoun * len(pronouns)
        problems.append("pronoun not in the matching sentence: " + ", ".join(pronouns))
    flip = polarity_flip(toks, idx.sentences[best_j])
    if flip:
        score -= params.polarity
        problems.append(flip.replace("the other text", "the article"))
    return score, best_j, problems


def consistency_score(
    summary: str, article: str, params: ConsistencyParams = DEFAULT_PARAMS
) -> tuple[float, str]:
    """Score (higher = better supported; the weakest summary sentence decides) and a reason naming it."""
    idx = _article_index(article)
    worst: tuple[float, str, list[str]] = (1.0, "", [])
    for sent in sentence_texts(normalise_text(summary)):
        toks = analyse(sent)
        if not any(t.content for t in toks):
            continue
        score, _, problems = _sentence_support(toks, idx, params)
        if score < worst[0] or not worst[1]:
            worst = (score, sent, problems)
    score, sent, problems = worst
    if not sent:
        return 1.0, "nothing checkable in the summary"
    return score, f'weakest sentence (score {score:.2f}): "{shorten(sent)}"; ' + (
        "; ".join(problems) or "fully supported"
    )


def is_consistent(summary: str, article: str) -> tuple[bool, str]:
    """Whether every summary sentence is supported by an article sentence, with the reason."""
    score, reason = consistency_score(summary, article)
    return score >= CONSISTENCY_THRESHOLD, reason
