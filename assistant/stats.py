"""Statistics shared by the evaluation harness and the support scorer's fitting.

A bottom module (it imports nothing of the project's): ROC AUC, thresholds, balanced accuracy
and its bootstrap, threshold cross-validation, means and percentiles. ``evaluate.metrics``
re-exports these, so a figure means the same thing wherever it is reported.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from typing import Any


def mean(values: Sequence[float]) -> float:
    """The arithmetic mean; 0.0 for no values."""
    return sum(values) / len(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile with linear interpolation (numpy's default); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# --------------------------------------------------------------------------- binary decisions


def binary_metrics(labels: Sequence[int], predictions: Sequence[int]) -> dict[str, Any]:
    """Balanced accuracy plus precision, recall and support of each class (1 = consistent)."""
    out: dict[str, Any] = {"n": len(labels)}
    recalls = []
    for cls in (1, 0):
        tp = sum(1 for y, p in zip(labels, predictions) if y == cls and p == cls)
        support = sum(1 for y in labels if y == cls)
        predicted = sum(1 for p in predictions if p == cls)
        recall = tp / support if support else 0.0
        out[f"precision_{cls}"] = tp / predicted if predicted else 0.0
        out[f"recall_{cls}"] = recall
        out[f"n_{cls}"] = support
        recalls.append(recall)
    out["balanced_accuracy"] = sum(recalls) / 2
    return out


def bootstrap_balanced_accuracy(
    labels: Sequence[int], predictions: Sequence[int], n: int, seed: int
) -> tuple[float, float] | tuple[None, None]:
    """95% percentile interval of balanced accuracy, resampling within each class (fixed seed)."""
    if n <= 0:
        return None, None
    rng = random.Random(seed)
    by_class = {c: [p for y, p in zip(labels, predictions) if y == c] for c in (0, 1)}
    values = []
    for _ in range(n):
        recalls = []
        for cls, preds in by_class.items():
            if not preds:
                continue
            sample = [preds[rng.randrange(len(preds))] for _ in preds]
            recalls.append(sum(1 for p in sample if p == cls) / len(sample))
        values.append(mean(recalls))
    return percentile(values, 2.5), percentile(values, 97.5)


def best_threshold(
    labels: Sequence[int], scores: Sequence[float], prefer: float = 0.5
) -> tuple[float, float]:
    """The threshold (midpoint between adjacent scores) with the highest balanced accuracy, and that accuracy.

    A score at or above the threshold predicts 1. Ties go to the candidate nearest ``prefer`` (the
    shipped threshold), so a plateau keeps it. Sorted counts make it O(n log n).
    """
    import numpy as np  # lazy: the bottom module stays free of numpy for the callers that never fit

    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    values = np.unique(s)
    cands = np.concatenate([[values[0] - 1e-9], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-9]])
    pos, neg = np.sort(s[y == 1]), np.sort(s[y == 0])
    # a class with no rows has recall 0, as in binary_metrics
    recall1 = 1.0 - np.searchsorted(pos, cands, side="left") / len(pos) if len(pos) else 0.0 * cands
    recall0 = np.searchsorted(neg, cands, side="left") / len(neg) if len(neg) else 0.0 * cands
    bacc = (recall1 + recall0) / 2
    best = np.flatnonzero(np.isclose(bacc, bacc.max(), rtol=0, atol=1e-12))
    pick = best[int(np.abs(cands[best] - prefer).argmin())]
    return float(cands[pick]), float(bacc[pick])


def roc_auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """Area under the ROC curve: the chance a random positive outscores a random negative (ties half)."""
    import numpy as np  # lazy, as in best_threshold

    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    n1, n0 = int((y == 1).sum()), int((y == 0).sum())
    if not n1 or not n0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    for value in np.unique(s):  # average ranks over ties
        tied = s == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return float((ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _folds(n: int, folds: int, seed: int) -> list[tuple[list[int], set[int]]]:
    """(train, test) index splits of one shuffled ``folds``-fold partition."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    splits = []
    for k in range(folds):
        test = set(order[k::folds])
        splits.append(([i for i in order if i not in test], test))
    return splits


def cross_validate(
    labels: Sequence[int],
    tables: Sequence[Sequence[float]],
    prefer: float,
    folds: int = 5,
    repeats: int = 10,
) -> tuple[float, float]:
    """Balanced accuracy when the score table and its threshold are picked on the other folds.

    ``tables`` holds one score per item for each candidate setting; with a single table this is
    plain threshold cross-validation. Mean and sd over ``repeats`` shuffles.
    """
    results = []
    for seed in range(repeats):
        predictions = [0] * len(labels)
        for train, test in _folds(len(labels), folds, seed):
            y = [labels[i] for i in train]
            fits = [(best_threshold(y, [t[i] for i in train], prefer), t) for t in tables]
            (threshold, _), scores = max(fits, key=lambda f: f[0][1])
            for i in test:
                predictions[i] = int(scores[i] >= threshold)
        results.append(binary_metrics(labels, predictions)["balanced_accuracy"])
    return statistics.mean(results), statistics.pstdev(results)
