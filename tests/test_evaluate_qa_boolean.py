"""The qa_boolean eval task on fakes: polarity per gold class, refusals, controls, citations, replay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from assistant.embed import HashingEmbedder
from assistant.errors import ReplayMissError
from assistant.evaluate.run import run_suite
from assistant.testing import FakeChatModel, FakeScoringModel
from eval.fit_boolean import best_threshold, fit, fit_floor, relevances

ROWS = [
    # "back" is no antonym of "rejected": the model's choice answers (a hard conflict would answer unasked)
    {"id": "b1", "title": "Tolland", "question": "Did the Tolland council back the harbour budget?", "answer": False,
     "passage": "The Tolland council rejected the 12 million euro harbour budget on Tuesday by 9 votes to 6."},
    {"id": "b2", "title": "Vellmar", "question": "Did the floating berth in Vellmar open on Thursday?", "answer": True,
     "passage": "The floating berth in Vellmar opened on Thursday, and it holds 14 boats."},
    {"id": "b3", "title": "Eastmoor", "question": "Is the Eastmoor study about the salt marsh?", "answer": True,
     "passage": "The Eastmoor study found the works would harm 3 per cent of the salt marsh."},
]


def _suite(tmp_path: Path, cache: str = "cache") -> Path:
    gold = tmp_path / "gold"
    gold.mkdir(exist_ok=True)
    (gold / "boolq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    suite = {
        "name": "tiny-boolean",
        "root": "gold",
        "cache_dir": cache,
        "datasets": {
            "passages": {"path": "boolq.jsonl", "fields": {"article": "passage"}},
            "questions": {"path": "boolq.jsonl", "fields": {"article_id": "id"}},
        },
        "tasks": {"qa_boolean": {"dataset": "questions", "corpus": "passages"}},
        "gates": ["qa_boolean.polarity_right_no >= 1.0", "qa_boolean.control_refused >= 0.9"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def test_qa_boolean_scores_polarity_refusals_controls_and_citations(tmp_path: Path):
    result = run_suite(
        _suite(tmp_path), tmp_path / "out", chat=FakeChatModel(), embedder=HashingEmbedder(),
        logprobs=FakeScoringModel(), cache="record", progress=False,
    )
    m = result.metrics.qa_boolean
    assert (m.n, m.n_yes, m.n_no) == (3, 2, 1)
    assert m.polarity_right_no == 1.0 and m.polarity_right_yes == 1.0
    assert m.refusal_rate == 0.0 and m.own_passage_cited == 1.0
    assert m.control_refused == 1.0 and m.detected_rate == 1.0
    items = {i.id: i for i in result.items}
    assert items["b1"].output.decision == "no" and items["b1"].output.answer.startswith("No, ")
    assert items["b1"].output.choice["no"] > items["b1"].output.choice["yes"]
    assert items["b1"].control.decision in ("not", "none")
    assert not result.failed
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Yes/no questions: 3 items" in report
    # the recorded choices replay without the model; another prompt would be a miss
    again = run_suite(
        _suite(tmp_path), tmp_path / "out2", chat=FakeChatModel(), embedder=HashingEmbedder(),
        logprobs=FakeScoringModel(), cache="replay", progress=False,
    )
    assert again.metrics.qa_boolean == m
    with pytest.raises(ReplayMissError):
        run_suite(
            _suite(tmp_path, cache="empty-cache"), tmp_path / "out3", chat=FakeChatModel(), embedder=HashingEmbedder(),
            logprobs=FakeScoringModel(), cache="replay", progress=False,
        )


def test_fit_boolean_fits_thresholds_on_recorded_items(tmp_path: Path):
    run_suite(
        _suite(tmp_path), tmp_path / "out", chat=FakeChatModel(), embedder=HashingEmbedder(),
        logprobs=FakeScoringModel(), cache="off", progress=False,
    )
    entry = fit(tmp_path / "out" / "results.json")
    assert entry["fitted_on"]["questions"] == 3 and entry["fitted_on"]["rows"] == ["b1", "b2", "b3"]
    assert entry["fitted_on"]["in_sample"]["polarity_right_no"] == 1.0


def test_fit_boolean_counts_hard_conflicts_as_no_answers_whatever_the_thresholds(tmp_path: Path):
    def item(i: str, gold: str, choice: dict, control: dict | None = None) -> dict:
        return {"task": "qa_boolean", "id": i, "input": {"gold": gold}, "output": {"choice": choice},
                "control": {"choice": control} if control is not None else None}

    asked = {"answer_margin": 2.0, "relevance": 0.8, "shares_words": True}
    refused = {"answer_margin": -1.0, "relevance": 0.8, "shares_words": True}
    said_no = {"conflict": "number '20' where the evidence says '14'", "decision": "no", "relevance": 0.8, "shares_words": True}
    items = [
        item("y1", "yes", {**asked, "polarity_margin": 3.0}, refused),
        item("n1", "no", {**asked, "polarity_margin": -1.0}, refused),
        item("n2", "no", said_no, said_no),  # its control answered "No" too: a control not refused
        item("y2", "yes", said_no, refused),  # a wrong "No"
    ]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"suite": {"name": "t", "datasets": {}}, "items": items}), encoding="utf-8")
    entry = fit(results, floor=0.5)["fitted_on"]["in_sample"]
    assert entry["answered_questions"] == 1.0  # the two conflicts are answers, not refusals
    assert entry["controls_refused"] == 0.75
    assert entry["polarity_right_no"] == 1.0 and entry["polarity_right_yes"] == 0.5
    # a floor above the conflicts' relevance (and no shared words): the floor refuses them first
    for i in items[2:]:
        i["output"]["choice"] = dict(said_no, relevance=0.3, shares_words=False)
    results.write_text(json.dumps({"suite": {"name": "t", "datasets": {}}, "items": items}), encoding="utf-8")
    assert fit(results, floor=0.5)["fitted_on"]["in_sample"]["answered_questions"] == 0.5


def test_best_threshold_maximises_balanced_accuracy():
    t, _bacc, tpr, tnr = best_threshold([2.0, 3.0, 1.5], [0.5, 1.0, 2.5])
    assert 1.0 < t < 1.5 and tpr == 1.0 and tnr == pytest.approx(2 / 3)
    # a control with nothing retrieved is refused whatever the threshold
    assert best_threshold([1.0], [], neg_fixed=(1, 0))[3] == 1.0


def test_fit_boolean_counts_questions_below_the_floor_as_refused(tmp_path: Path):
    run_suite(
        _suite(tmp_path), tmp_path / "out", chat=FakeChatModel(), embedder=HashingEmbedder(),
        logprobs=FakeScoringModel(), cache="off", progress=False,
    )
    items = json.loads((tmp_path / "out" / "results.json").read_text())["items"]
    choices = [i["output"]["choice"] for i in items if i["output"]["choice"]]
    rel = sorted(c["relevance"] for c in choices)
    assert len(rel) == 3 and all(0.0 <= r <= 1.0 for r in rel)
    worded = sum(c["shares_words"] for c in choices)
    # a floor above every question's relevance: only questions whose words a passage holds are answered
    entry = fit(tmp_path / "out" / "results.json", floor=rel[-1] + 0.01)
    assert entry["min_relevance"] == round(rel[-1] + 0.01, 4)
    assert entry["fitted_on"]["in_sample"]["answered_questions"] == pytest.approx(worded / 3, abs=1e-3)
    # no floor: as before
    assert fit(tmp_path / "out" / "results.json")["fitted_on"]["in_sample"]["answered_questions"] > 0


def test_relevance_floor_is_fitted_between_questions_and_their_controls(tmp_path: Path):
    path = tmp_path / "boolq.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    rel = relevances(path, start=0, every=1)  # the real embedder, the archive built as the task builds it
    assert [r[0] for r in rel] == ["b1", "b2", "b3"]
    assert all(own[0] > ctl[0] for _, own, ctl in rel)  # each question is closest to its own passage
    assert all(own[1] and not ctl[1] for _, own, ctl in rel)  # and only its own passage has its words
    floor, kept, refused = fit_floor(rel)
    assert kept == 1.0 and refused == 1.0
    # similarity alone: the floor lies between the controls and the questions
    alone = [(i, (o, False), (c, False)) for i, (o, _), (c, _) in rel]
    floor, kept, refused = fit_floor(alone)
    assert kept == 1.0 and refused == 1.0
    assert max(c for _, _, (c, _) in alone) < floor <= min(o for _, (o, _), _ in alone)
