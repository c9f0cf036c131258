"""Features of one statement (or one sentence of it) from its token scores and from code checks.

Every feature is computed the same way at fit time and at run time, from a ``TokenScores`` record
and the source text; the calibrated model (``calibrate.py``) turns them into a probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assistant.support.logprobs import TokenScores
from assistant.verify import consistency_score, missing_facts


@dataclass(frozen=True)
class Word:
    """A word of the statement: its character span and the indices of its tokens."""

    start: int
    end: int
    tokens: tuple[int, ...]


def words(scores: TokenScores, start: int = 0, end: int | None = None) -> list[Word]:
    """Tokens grouped into words (a token starting with a space or punctuation starts a new word)."""
    end = len(scores.text) if end is None else end
    out: list[list[int]] = []
    for i, (a, b) in enumerate(scores.spans):
        piece = scores.text[a:b]
        # a token's leading space may lie just before the span (" said" opens a sentence at "s")
        if a + len(piece) - len(piece.lstrip()) < start or b > end or a == b:
            continue
        new = not out or piece[:1].isspace() or not piece[:1].isalnum() or not scores.text[a - 1 : a].isalnum()
        if new:
            out.append([i])
        else:
            out[-1].append(i)
    result = []
    for idx in out:
        a = scores.spans[idx[0]][0]
        b = scores.spans[idx[-1]][1]
        text = scores.text[a:b]
        a += len(text) - len(text.lstrip())
        result.append(Word(a, b, tuple(idx)))
    return result


def _lowest(values: np.ndarray, k: int) -> float:
    return float(np.sort(values)[:k].mean()) if len(values) else 0.0


def token_features(scores: TokenScores, start: int = 0, end: int | None = None) -> dict[str, float]:
    """Pooled model features of the statement's tokens inside [start, end)."""
    ws = words(scores, start, end)
    idx = [i for w in ws for i in w.tokens]
    if not idx:
        return {name: 0.0 for name in TOKEN_FEATURES}
    cond = np.asarray(scores.cond, dtype=np.float64)[idx]
    uncond = np.asarray(scores.uncond, dtype=np.float64)[idx]
    best = np.asarray(scores.best, dtype=np.float64)[idx]
    pmi = cond - uncond
    all_pmi = scores.pmi
    word_pmi = np.asarray([sum(all_pmi[i] for i in w.tokens) for w in ws])
    # Tokens the source made less likely than they are in general: how far, and how surprising
    # each was against the model's own best guess there.
    gap = best - cond
    return {
        "pmi_min": float(pmi.min()),
        "pmi_low3": _lowest(pmi, 3),
        "pmi_mean": float(pmi.mean()),
        "pmi_median": float(np.median(pmi)),
        "pmi_word_min": float(word_pmi.min()),
        "cond_min": float(cond.min()),
        "cond_mean": float(cond.mean()),
        "gap_max": float(gap.max()),
        "gap_at_pmi_min": float(gap[int(pmi.argmin())]),
        "neg_pmi_share": float((pmi < -1.0).mean()),
        "log_tokens": math.log(len(idx)),
        # The dip relative to the statement's own level: sources differ in how predictable they
        # make any statement, and these do not depend on that level.
        "pmi_min_rel": float(pmi.min() - np.median(pmi)),
        "pmi_min_z": float((pmi.min() - pmi.mean()) / (pmi.std() + 0.5)),
    }


TOKEN_FEATURES = (
    "pmi_min",
    "pmi_low3",
    "pmi_mean",
    "pmi_median",
    "pmi_word_min",
    "cond_min",
    "cond_mean",
    "gap_max",
    "gap_at_pmi_min",
    "neg_pmi_share",
    "log_tokens",
    "pmi_min_rel",
    "pmi_min_z",
)


# Words of a statement asked again as cloze questions: the content words the left-to-right reading
# found least supported (each costs one short prompt after the source, with and without it).
CLOZE_WORDS = 2
_FUNCTION_WORDS = frozenset(
    [
        "a", "an", "the", "and", "or", "but", "of", "to", "in", "on", "at", "by", "for", "from",
        "with", "as", "is", "are", "was", "were", "be", "been", "has", "have", "had", "it", "its",
        "this", "that", "these", "those", "he", "she", "they", "we", "you", "i", "his", "her",
        "their", "our", "your", "which", "who", "whom", "whose", "what", "when", "where", "how",
        "than", "then", "there", "here", "so", "if", "not", "no", "do", "does", "did", "will",
        "would", "can", "could", "should", "may", "might"
    ]
)


def cloze_targets(scores: TokenScores, k: int = CLOZE_WORDS) -> list[tuple[int, int]]:
    """Spans of the ``k`` content words of the statement with the lowest summed PMI (punctuation trimmed).

    Function words are skipped: their probability says more about phrasing than about the facts.
    """
    pmi = scores.pmi
    text = scores.text
    ranked = []
    for w in words(scores):
        a, b = w.start, w.end
        while a < b and not text[a].isalnum():
            a += 1
        while b > a and not text[b - 1].isalnum():
            b -= 1
        word = text[a:b]
        if not word or word.lower() in _FUNCTION_WORDS or (len(word) < 3 and not word.isdigit()):
            continue
        ranked.append((float(sum(pmi[i] for i in w.tokens)), a, b))
    ranked.sort()
    return sorted((a, b) for _, a, b in ranked[:k])


def masked(text: str, start: int, end: int) -> str:
    """``text`` with [start, end) replaced by a blank."""
    return f"{text[:start]}___{text[end:]}"


def ask_cloze(model, source: str, scores: TokenScores, k: int = CLOZE_WORDS) -> list[tuple[TokenScores, int, int]]:
    """For each target word: the statement's scores as the filling of its blank, and the word's span."""
    return [(model.cloze(source, masked(scores.text, a, b), scores.text), a, b) for a, b in cloze_targets(scores, k)]


def cloze_features(fills: list[tuple[TokenScores, int, int]]) -> dict[str, float]:
    """How the source changed the probability of each blanked word, read with the whole statement around it."""
    pmi, cond, gap = [], [], []
    for scores, a, b in fills:
        idx = [i for i, (s, e) in enumerate(scores.spans) if s < b and e > a]
        if not idx:
            continue
        c = np.asarray(scores.cond)[idx]
        u = np.asarray(scores.uncond)[idx]
        pmi.append(float((c - u).sum()))
        cond.append(float(c.sum()))
        gap.append(float(scores.best[idx[0]] - scores.cond[idx[0]]))
    if not pmi:
        return {name: 0.0 for name in CLOZE_FEATURES}
    return {"cloze_pmi_min": min(pmi), "cloze_cond_min": min(cond), "cloze_gap_max": max(gap)}


CLOZE_FEATURES = ("cloze_pmi_min", "cloze_cond_min", "cloze_gap_max")


def with_stage1(features: dict[str, float], first) -> dict[str, float]:
    """``features`` plus ``stage1_logit``, the first stage's logit (``first`` is its Calibrated): the cloze stage's input."""
    features["stage1_logit"] = first.logit(features)
    return features


def code_features(source: str, statement: str) -> dict[str, float]:
    """Word-matching signals from the deterministic verifier (no model)."""
    overlap, _ = consistency_score(statement, source)
    missing = missing_facts(statement, source)
    return {
        "overlap": float(overlap),
        "missing_values": float(len(missing.values)),
        "missing_names": float(len(missing.names)),
        "log_source_chars": math.log(1 + len(source)),
    }


def all_features(
    scores: TokenScores, source: str, start: int = 0, end: int | None = None, judge: float | None = None
) -> dict[str, float]:
    """Model and code features of the statement span [start, end) against ``source``.

    ``judge`` is the yes/no log-odds of the same span, when it was asked (a separate model call).
    """
    end = len(scores.text) if end is None else end
    out = {**token_features(scores, start, end), **code_features(source, scores.text[start:end])}
    if judge is not None:
        out["judge"] = judge
        # log-odds run to +-20 on confident answers; beyond +-6 they add no ranking information
        out["judge_clip"] = float(np.clip(judge, -6.0, 6.0))
    return out
