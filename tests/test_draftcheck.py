"""The draft fact-check benchmark (eval/draftcheck.py): its data, its paragraph rule, its fitting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.types import CheckReport, CheckStep, ClaimResult
from eval.draftcheck import (
    DEFAULT_DATA,
    Paragraph,
    balanced,
    fit_threshold,
    flagged,
    grouped_cv,
    load_drafts,
    truecase,
)

REPO = Path(__file__).resolve().parent.parent


def test_truecase_takes_the_articles_mid_sentence_casing() -> None:
    article = "On Monday Mark Carney said he would leave the Bank of England. Staff declined to comment."
    got = truecase("mark carney will leave the bank of england, staff said. he declined to comment.", article)
    assert got == "Mark Carney will leave the Bank of England, staff said. He declined to comment."


def test_drafts_have_one_paragraph_per_labelled_summary(tmp_path) -> None:
    rows = [
        {"id": "a1", "article": "The council met on Monday. It approved the plan.", "summary": "the council approved the plan.", "label": 1},
        {"id": "a2", "article": "The council met on Monday. It approved the plan.", "summary": "the council rejected the plan.", "label": 0},
        {"id": "b1", "article": "Rain fell in Oslo.", "summary": "it rained in oslo.", "label": 1},
    ]
    data = tmp_path / "frank.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    drafts = load_drafts(data)
    assert [len(d.paragraphs) for d in drafts] == [2, 1]
    d = drafts[0]
    for p in d.paragraphs:
        assert d.text[p.start : p.end] == p.text
    assert [p.label for p in d.paragraphs] == [1, 0]


def _claim(start: int, verdict: str, support: float | None = None, by: str = "model") -> ClaimResult:
    return ClaimResult(text="x", start=start, end=start + 1, verdict=verdict, support=support, decided_by=by,
                       checks=[CheckStep(check="model", outcome="note", detail="")])


def test_a_paragraph_is_flagged_when_any_of_its_claims_is_not_supported() -> None:
    report = CheckReport(article_id="d", claims=[_claim(0, "supported"), _claim(5, "unverified"), _claim(20, "supported")])
    assert flagged(report, Paragraph("p", 1, "", 0, 10)) is True
    assert flagged(report, Paragraph("q", 1, "", 12, 30)) is False
    assert flagged(report, Paragraph("r", 1, "", 40, 50)) is None  # no claim checked in it
    assert balanced([(1, False), (1, True), (0, True), (0, True)]) == {
        "balanced_accuracy": 0.75, "faithful_flagged": 0.5, "edited_caught": 1.0, "faithful": 2, "edited": 2,
    }


def test_fitted_cut_separates_and_is_measured_out_of_fold() -> None:
    # (draft, label, lowest support in the paragraph, a code conflict)
    items = [(f"d{i}", 1, 0.6 + 0.01 * i, False) for i in range(20)] + [(f"e{i}", 0, 0.2 + 0.01 * i, False) for i in range(20)]
    cut = fit_threshold(items)
    assert 0.39 < cut <= 0.6
    assert grouped_cv(items)["balanced_accuracy"] == 1.0
    # a code conflict flags the paragraph whatever its score
    assert balanced([(y, hard or p < cut) for _, y, p, hard in [("x", 0, 0.9, True)]])["edited_caught"] == 1.0


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_DATA.is_file(), reason="needs ../shared/eval-data")
def test_draft_benchmark_replays_the_recorded_model_calls() -> None:
    """The recorded FRANK drafts replay with no model: the model stage's figures are those in the README."""
    out = subprocess.run(
        [sys.executable, "-m", "eval.draftcheck", "--replay", "--limit", "40", "--no-controls", "--gate", "0.68"],
        check=False, cwd=REPO, capture_output=True, text=True, timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout)
    assert figures["model"]["claims_scored"] > 100
    assert figures["model"]["balanced_accuracy"] > figures["code_only"]["balanced_accuracy"]
