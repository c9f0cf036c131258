"""The one home of the harness's metrics: latency, balanced accuracy and its bootstrap, typo and ROUGE scores.

Pure functions over plain values: the tasks, the dev scripts in ``eval/`` and the tests all
score with these, so a metric means the same thing everywhere it is reported.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

# re-exported: the harness's metrics are scored with these
from assistant.stats import (  # noqa: F401
    best_threshold,
    binary_metrics,
    bootstrap_balanced_accuracy,
    cross_validate,
    mean,
    percentile,
    roc_auc,
)
from assistant.types import TypoFlag
from assistant.verify import normalise_text, sentence_texts

if TYPE_CHECKING:
    from rouge_score.rouge_scorer import RougeScorer

ROUGE_KEYS = ("rouge1", "rouge2", "rougeLsum")


# --------------------------------------------------------------------------- averages and latency


class LatencyStats(BaseModel):
    """Per-item latency of one task (milliseconds, one decimal)."""

    n: int
    latency_p50_ms: float
    latency_p95_ms: float


def latency_stats(ms: Sequence[float]) -> LatencyStats:
    """p50 and p95 of per-item times in milliseconds."""
    return LatencyStats(
        n=len(ms),
        latency_p50_ms=round(percentile(ms, 50), 1),
        latency_p95_ms=round(percentile(ms, 95), 1),
    )


# --------------------------------------------------------------------------- typos


def is_typo_hit(flag: TypoFlag, offset: int, correct: str) -> bool:
    """A flag finds a typo when it covers the typo's offset and suggests the correct spelling."""
    return flag.start <= offset < flag.end and flag.suggestion == correct


def typo_metrics(rows: Sequence[dict], flags_per_row: Sequence[list[TypoFlag]]) -> dict[str, Any]:
    """Recall, precision and false alarms per clean article, as the eval-data README defines them."""
    n = len(rows)
    typo_rows = [i for i, r in enumerate(rows) if r.get("typo")]
    clean_rows = [i for i, r in enumerate(rows) if not r.get("typo")]
    hits = 0
    total_flags = sum(len(f) for f in flags_per_row)
    missed: list[str] = []
    for i in typo_rows:
        r = rows[i]
        if any(is_typo_hit(f, r["offset"], r["correct"]) for f in flags_per_row[i]):
            hits += 1
        else:
            missed.append(str(r.get("id", i)))
    clean_flags = sum(len(flags_per_row[i]) for i in clean_rows)
    return {
        "n": n,
        "n_typo": len(typo_rows),
        "n_clean": len(clean_rows),
        "detected": hits,
        "recall": hits / len(typo_rows) if typo_rows else 0.0,
        "precision": hits / total_flags if total_flags else 0.0,
        "flags": total_flags,
        "false_alarms_clean": clean_flags,
        "false_alarms_per_clean_doc": clean_flags / len(clean_rows) if clean_rows else 0.0,
        "missed": missed,
    }


# --------------------------------------------------------------------------- ROUGE and answers


def rouge_text(text: str | list[str]) -> str:
    """Spaces around punctuation normalised, one sentence per line (what ROUGE-Lsum splits on)."""
    if isinstance(text, list):
        return "\n".join(normalise_text(str(s)).strip() for s in text if str(s).strip())
    return "\n".join(sentences(normalise_text(text)))


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, stripped, empty ones dropped (the verifier's splitter)."""
    return [s.strip() for s in sentence_texts(text) if s.strip()]


@lru_cache(maxsize=1)
def _rouge_scorer() -> RougeScorer:
    # rouge-score pulls in NLTK (~0.5 s): loaded only when a summarize task scores something.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)


def rouge_scores(reference: str, candidate: str) -> dict[str, float]:
    """ROUGE-1/2/Lsum F1 (rouge-score with its Porter stemmer), rounded to six places."""
    scores = _rouge_scorer().score(reference, candidate)
    return {k: round(scores[k].fmeasure, 6) for k in ROUGE_KEYS}


_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "“”‘’"})


def normalise_answer(text: str) -> str:
    """Lower-case, no punctuation or articles, single spaces (SQuAD-style)."""
    return " ".join(_ARTICLES_RE.sub(" ", str(text).lower().translate(_PUNCT)).split())


def contains_answer(gold: str, answer: str) -> bool:
    """Whether the normalised gold answer stands as whole words in the normalised answer."""
    gold = normalise_answer(gold)
    return bool(gold) and f" {gold} " in f" {normalise_answer(answer)} "
