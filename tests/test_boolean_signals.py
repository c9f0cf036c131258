"""The yes/no signal measurements (eval/boolean_signals.py): its AUC and its arguments."""

from __future__ import annotations

import pytest

from eval.boolean_signals import auc


def test_auc_counts_ordered_pairs_and_ties_half():
    assert auc([0.9, 0.8, 0.1, 0.2], [True, True, False, False]) == 1.0
    assert auc([0.1, 0.2, 0.9, 0.8], [True, True, False, False]) == 0.0
    assert auc([0.5, 0.5], [True, False]) == 0.5
    assert auc([0.9, 0.3, 0.5, 0.1], [True, True, False, False]) == 0.75


def test_the_signal_modes_need_a_recorded_run(tmp_path, capsys):
    from eval.boolean_signals import main

    with pytest.raises(SystemExit) as exc:
        main(["prior", "--cache", str(tmp_path)])
    assert exc.value.code == 2
    assert "results.json" in capsys.readouterr().err
