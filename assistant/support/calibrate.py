"""A small calibrated model over support features: L2 logistic regression and its weights file.

Written out in numpy (a dozen features, a few thousand rows: Newton's method converges in a few
steps), so the product needs no machine-learning dependency at run time.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.errors import BadInputError

WEIGHTS_FORMAT = 1


@dataclass
class Calibrated:
    """Logistic regression on standardised features, with the decision threshold and its provenance."""

    features: list[str]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float
    threshold: float = 0.5
    model: str = ""
    prompts: str = ""
    data: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    def logit(self, x: dict[str, float]) -> float:
        z = self.intercept
        for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef):
            z += c * (float(x.get(name, m)) - m) / s
        return z

    def probability(self, x: dict[str, float]) -> float:
        """P(the statement is supported) for one feature dict."""
        return _sigmoid(self.logit(x))

    def contributions(self, x: dict[str, float]) -> dict[str, float]:
        """Each feature's share of the logit (negative = evidence against support)."""
        return {
            name: c * (float(x.get(name, m)) - m) / s
            for name, m, s, c in zip(self.features, self.mean, self.scale, self.coef)
        }

    def to_json(self) -> dict:
        return {"format": WEIGHTS_FORMAT, **self.__dict__}

    @classmethod
    def from_json(cls, data: dict) -> Calibrated:
        if data.get("format") != WEIGHTS_FORMAT:
            raise BadInputError(
                f"support weights format {data.get('format')!r} is not {WEIGHTS_FORMAT}",
                "Re-fit them with `python -m eval.support fit --out PATH`.",
            )
        return cls(**{k: v for k, v in data.items() if k != "format"})


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def fit_logistic(
    rows: Sequence[dict[str, float]],
    labels: Sequence[int],
    features: Sequence[str],
    l2: float = 1.0,
    weights: Sequence[float] | None = None,
) -> Calibrated:
    """L2-regularised logistic regression (Newton's method) on standardised ``features``."""
    X = np.asarray([[float(r[f]) for f in features] for r in rows], dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = np.hstack([np.ones((len(X), 1)), (X - mean) / scale])
    beta = np.zeros(Z.shape[1])
    penalty = np.full(Z.shape[1], l2)
    penalty[0] = 0.0  # the intercept is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(Z @ beta)))
        grad = Z.T @ (w * (p - y)) + penalty * beta
        hess = (Z * (w * p * (1 - p))[:, None]).T @ Z + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibrated(
        features=list(features),
        mean=mean.round(6).tolist(),
        scale=scale.round(6).tolist(),
        coef=beta[1:].round(6).tolist(),
        intercept=round(float(beta[0]), 6),
    )


def balanced_weights(labels: Sequence[int], groups: Sequence[str] | None = None) -> list[float]:
    """Sample weights that give both classes, and (if given) every group, the same total weight."""
    labels = list(labels)
    n = len(labels)
    out = [1.0] * n
    if groups is not None:
        sizes: dict[str, int] = {}
        for g in groups:
            sizes[g] = sizes.get(g, 0) + 1
        out = [1.0 / sizes[g] for g in groups]
    totals = {c: sum(w for w, y in zip(out, labels) if y == c) for c in (0, 1)}
    return [w * n / (2 * totals[y]) if totals[y] else w for w, y in zip(out, labels)]


def data_fingerprint(paths: Sequence[Path]) -> dict[str, str]:
    """sha256 (first 16 hex) of each data file the weights were fitted on."""
    return {Path(p).name: hashlib.sha256(Path(p).read_bytes()).hexdigest()[:16] for p in paths}


def save(calibrated: Calibrated, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibrated.to_json(), indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> Calibrated:
    try:
        return Calibrated.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise BadInputError(
            f"cannot read support weights {path}: {exc}", "Re-fit them with `python -m eval.support fit --out PATH`."
        ) from exc
