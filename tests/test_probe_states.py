"""The hidden-state probe's fitting (eval/probe_states.py): out-of-fold, standardised, PCA-reduced."""

from __future__ import annotations

import numpy as np

from assistant.stats import roc_auc
from eval.probe_states import _probe_oof


def test_the_probe_finds_a_direction_hidden_among_many_and_scores_out_of_fold():
    rng = np.random.default_rng(0)
    n, dim = 240, 300
    y = (rng.random(n) < 0.45).astype(float)
    x = rng.normal(size=(n, dim))
    x[:, :4] += 3.0 * y[:, None] * np.array([1.0, -1.0, 0.5, 2.0])  # the label lives in a few dimensions
    folds = np.arange(n) % 5
    p = _probe_oof(x, y, folds, dims=16, l2=1.0)
    assert ((p > 0) & (p < 1)).all()
    assert roc_auc(list(y), list(p)) > 0.9
    # labels that nothing predicts: out of fold the probe is near chance, not fitted to noise
    shuffled = rng.permutation(y)
    assert abs(roc_auc(list(shuffled), list(_probe_oof(x, shuffled, folds, dims=16, l2=1.0))) - 0.5) < 0.15
