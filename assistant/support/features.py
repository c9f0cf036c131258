"""Features of one statement (or one sentence of it) from its token scores and from code checks.

Every feature is computed the same way at fit time and at run time, from a ``TokenScores`` record
and the source text; the calibrated model (``calibrate.py``) turns them into a probability.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from assistant.llm_scores import TokenScores
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
