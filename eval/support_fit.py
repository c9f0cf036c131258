"""Fit the support weights on labelled dev pairs and measure them (grouped CV, held-out splits).

Research tooling, not the product: the assistant only reads the weights file this writes
(``assistant/support/scorer.py``). Run it through ``python -m eval.support``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import ReplayMissError
from assistant.llm_base import ChatModel
from assistant.llm_scores import prompt_fingerprint
from assistant.stats import best_threshold, binary_metrics, roc_auc
from assistant.support.calibrate import Calibrated, balanced_weights, data_fingerprint, fit_logistic
from assistant.support.data import LabelledPair, by_source
from assistant.support.features import all_features
from assistant.support.scorer import source_window

# Chosen before the held-out split was scored, by `python -m eval.support ablation` on the fit data:
# the set with the best leave-one-domain-out ROC AUC, a tie (within 0.005) going to the better
# worst domain, then to fewer features (README, "The support scorer"). Relative PMI (the dip
# below the statement's own level) and the yes/no judge carry across domains; the code's
# word-matching signals add the missing names and numbers.
DEFAULT_FEATURES = (
    "judge_clip",
    "pmi_min",
    "pmi_min_rel",
    "overlap",
    "missing_values",
    "missing_names",
)
DEFAULT_L2 = 1.0


@dataclass
class Scored:
    """A labelled pair with its features."""

    pair: LabelledPair
    features: dict[str, float]


def score_features(
    pairs: Sequence[LabelledPair],
    model: ChatModel,
    on_pair: Callable[[int, LabelledPair], None] | None = None,
    judge: bool = True,
    skip_missing: bool = False,
) -> list[Scored]:
    """Features of every pair (token scores and the yes/no judge from ``model``, usually the replay cache).

    With ``skip_missing`` a pair whose scores are not recorded is left out (a replaying ``model``
    raises ReplayMissError for it) instead of failing the run.
    """
    out = []
    for i, pair in enumerate(by_source(pairs)):
        source = source_window(pair.source, [pair.text])
        try:
            verdict = model.judge(source, pair.text) if judge else None
            scores = model.score(source, pair.text)
            features = all_features(scores, source, judge=verdict)
            out.append(Scored(pair, features))
        except ReplayMissError:
            if not skip_missing:
                raise
        if on_pair:
            on_pair(i, pair)
    return out


def _fit(rows: Sequence[Scored], features: Sequence[str], l2: float) -> Calibrated:
    labels = [r.pair.label for r in rows]
    weights = balanced_weights(labels, [f"{r.pair.domain}/{r.pair.group}" for r in rows])
    return fit_logistic([r.features for r in rows], labels, features, l2=l2, weights=weights)


def cross_validate(
    rows: Sequence[Scored],
    features: Sequence[str],
    l2: float = DEFAULT_L2,
    folds: int = 5,
    seed: int = 0,
    by_domain: bool = False,
) -> list[tuple[float, int]]:
    """Out-of-fold (probability, prediction) per row; folds keep every source's pairs together.

    ``by_domain`` leaves one domain out at a time instead: the figure for text of a kind the
    weights have not seen, which is what an editor's articles are to them.
    """
    if by_domain:
        fold_of = {d: k for k, d in enumerate(sorted({r.pair.domain for r in rows}))}
        key = lambda r: fold_of[r.pair.domain]
    else:
        groups = sorted({r.pair.group for r in rows})
        rng = np.random.default_rng(seed)
        rng.shuffle(groups)
        fold_of = {g: i % folds for i, g in enumerate(groups)}
        key = lambda r: fold_of[r.pair.group]
    out: list[tuple[float, int]] = [(0.0, 0)] * len(rows)
    for k in sorted(set(fold_of.values())):
        train = [r for r in rows if key(r) != k]
        model = _fit(train, features, l2)
        inner = [model.probability(r.features) for r in train]
        threshold, _ = best_threshold([r.pair.label for r in train], inner)
        for i, r in enumerate(rows):
            if key(r) == k:
                p = model.probability(r.features)
                out[i] = (p, int(p >= threshold))
    return out


def metrics(rows: Sequence[Scored], probs: Sequence[float], preds: Sequence[int]) -> dict:
    """ROC AUC and balanced accuracy overall and per domain."""
    labels = [r.pair.label for r in rows]
    out = {
        "n": len(rows),
        "roc_auc": round(roc_auc(labels, probs), 4),
        "balanced_accuracy": round(binary_metrics(labels, preds)["balanced_accuracy"], 4),
        "domains": {},
    }
    for domain in sorted({r.pair.domain for r in rows}):
        idx = [i for i, r in enumerate(rows) if r.pair.domain == domain]
        y = [labels[i] for i in idx]
        out["domains"][domain] = {
            "n": len(idx),
            "roc_auc": round(roc_auc(y, [probs[i] for i in idx]), 4),
            "balanced_accuracy": round(binary_metrics(y, [preds[i] for i in idx])["balanced_accuracy"], 4),
        }
    return out


def fit(
    rows: Sequence[Scored],
    model_name: str,
    data_paths: Sequence[Path],
    features: Sequence[str] = DEFAULT_FEATURES,
    l2: float = DEFAULT_L2,
) -> Calibrated:
    """Weights fitted on all ``rows``; threshold and reported figures from grouped cross-validation."""
    cv = cross_validate(rows, features, l2)
    lodo = cross_validate(rows, features, l2, by_domain=True)
    calibrated = _fit(rows, features, l2)
    labels = [r.pair.label for r in rows]
    probs = [calibrated.probability(r.features) for r in rows]
    # The threshold is the in-sample best of the final model; CV figures are reported beside it.
    calibrated.threshold = round(best_threshold(labels, probs)[0], 4)
    calibrated.model = model_name
    calibrated.prompts = prompt_fingerprint()
    calibrated.data = {
        "files": data_fingerprint(data_paths),
        "rows": len(rows),
        "selection": "consistency-summedits-dev split == evaluation, plus consistency-frank-dev (recorded rows)",
        "domains": dict(sorted(Counter(r.pair.domain for r in rows).items())),
        "l2": l2,
    }
    calibrated.metrics = {
        "grouped_cv": metrics(rows, [p for p, _ in cv], [d for _, d in cv]),
        "leave_one_domain_out": metrics(rows, [p for p, _ in lodo], [d for _, d in lodo]),
    }
    return calibrated


def evaluate(rows: Sequence[Scored], calibrated: Calibrated) -> dict:
    """Figures of fitted weights on held-out rows (e.g. SummEdits' test split)."""
    probs = [calibrated.probability(r.features) for r in rows]
    return metrics(rows, probs, [int(p >= calibrated.threshold) for p in probs])


# Feature sets compared by `python -m eval.support ablation` (README, "Support scorer").
ABLATIONS: dict[str, tuple[str, ...]] = {
    "code signals only (overlap, missing values/names)": ("overlap", "missing_values", "missing_names"),
    "cond_min (no subtraction)": ("cond_min",),
    "pmi_min": ("pmi_min",),
    "pmi_min + log_tokens": ("pmi_min", "log_tokens"),
    "pmi_low3": ("pmi_low3",),
    "pmi_word_min": ("pmi_word_min",),
    "pmi_min + pmi_low3 + pmi_word_min": ("pmi_min", "pmi_low3", "pmi_word_min"),
    "judge": ("judge",),
    "judge + pmi_min": ("judge", "pmi_min"),
    "judge + pmi_min + log_tokens": ("judge", "pmi_min", "log_tokens"),
    "pmi_min_rel": ("pmi_min_rel",),
    "pmi_min_z": ("pmi_min_z",),
    "judge_clip": ("judge_clip",),
    "judge_clip + pmi_min": ("judge_clip", "pmi_min"),
    "judge_clip + pmi_min + pmi_min_z": ("judge_clip", "pmi_min", "pmi_min_z"),
    "judge_clip + pmi_min_rel": ("judge_clip", "pmi_min_rel"),
    "judge_clip + pmi_min + pmi_min_rel": ("judge_clip", "pmi_min", "pmi_min_rel"),
    "judge_clip + pmi_min + pmi_min_rel + code": (
        "judge_clip", "pmi_min", "pmi_min_rel", "overlap", "missing_values", "missing_names",
    ),
    "judge + pmi (min, low3, word_min) + code": (
        "judge", "pmi_min", "pmi_low3", "pmi_word_min", "overlap", "missing_values", "missing_names",
    ),
    "all features": (
        "pmi_min", "pmi_low3", "pmi_word_min", "pmi_mean", "cond_min", "gap_at_pmi_min", "judge",
        "log_tokens", "overlap", "missing_values", "missing_names", "log_source_chars",
    ),
}


def ablation(rows: Sequence[Scored], sets: dict[str, Sequence[str]] = ABLATIONS, l2: float = DEFAULT_L2) -> dict:
    """Grouped-CV and leave-one-domain-out figures of each feature set on the fit rows."""
    out = {}
    for name, features in sets.items():
        cv = cross_validate(rows, features, l2)
        lodo = cross_validate(rows, features, l2, by_domain=True)
        out[name] = {
            "features": list(features),
            "grouped_cv": metrics(rows, [p for p, _ in cv], [d for _, d in cv]),
            "leave_one_domain_out": metrics(rows, [p for p, _ in lodo], [d for _, d in lodo]),
        }
    return out
