"""`python -m eval.support record|fit|ablation|report`, each command run through its Typer app on
small labelled sets in the dev sets' formats (SummEdits-style with domain and split, FRANK-style
with dataset), with the token scores of the fake log-probability model (a word absent from the
source is improbable) recorded in a temp replay cache: the commands' real code, no model loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import eval.support as support_cli
from assistant.llm import ReplayCacheChat
from assistant.support.scorer import WEIGHTS_PATH
from assistant.testing import FakeScoringModel
from eval.support_fit import ABLATIONS

# (source, faithful sentence, the same with an invented word): one source per story.
STORIES = [
    ("The harbour board voted on Monday to build 40 new floating berths at the northern quay.",
     "The harbour board voted to build 40 floating berths.", "The harbour board voted to build 40 floating castles."),
    ("The ferry to Ostrand resumed service on Friday after six weeks of repairs to its engine.",
     "The ferry to Ostrand resumed service on Friday.", "The ferry to Ostrand resumed service on Wednesday."),
    ("Mayor Ingrid Halvorsen promised a temporary berth for the fishing fleet by the end of October.",
     "The mayor promised a temporary berth by October.", "The mayor promised a temporary airport by October."),
    ("The council approved a budget of 42 million euros for the harbour renewal after a long debate.",
     "The council approved a harbour budget of 42 million euros.", "The council approved a harbour budget of 42 million dollars."),
    ("About 200 fishermen gathered outside the town hall to protest against the harbour works.",
     "About 200 fishermen protested outside the town hall.", "About 200 farmers protested outside the town hall."),
    ("The fish market will open an hour later on Sundays from the first week of November.",
     "The fish market will open later on Sundays.", "The fish market will close later on Sundays."),
    ("Work on the southern pier starts in March and will cost 2.5 million euros, the board said.",
     "Work on the southern pier starts in March.", "Work on the southern bridge starts in March."),
    ("The lighthouse on Kelby point was repainted white and red by volunteers over the summer.",
     "Volunteers repainted the lighthouse over the summer.", "Soldiers repainted the lighthouse over the summer."),
]


def _rows(stories, **fields) -> list[dict]:
    rows = []
    for i, (source, good, bad) in enumerate(stories):
        for label, text in ((1, good), (0, bad)):
            rows.append({"id": f"{fields.get('split', 'frank')}-{i}-{label}", "article": source, "summary": text,
                         "label": label, **fields})
    return rows


@pytest.fixture
def sets(tmp_path: Path) -> tuple[Path, Path]:
    """(SummEdits-style file with evaluation and test rows in two domains, FRANK-style file)."""
    summedits = tmp_path / "summedits.jsonl"
    rows = (
        _rows(STORIES[:3], domain="news", split="evaluation")
        + _rows(STORIES[3:5], domain="podcast", split="evaluation")
        + _rows(STORIES[5:7], domain="news", split="test")
    )
    summedits.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    frank = tmp_path / "frank.jsonl"
    frank.write_text("\n".join(json.dumps(r) for r in _rows(STORIES[7:] + STORIES[:2], dataset="bbc")) + "\n")
    return summedits, frank


@pytest.fixture
def fake_model(monkeypatch: pytest.MonkeyPatch) -> list[FakeScoringModel]:
    """The commands' model seam answers with the fake model behind the replay cache they name."""
    made: list[FakeScoringModel] = []

    def model(cache_dir: Path, mode: str) -> ReplayCacheChat:
        made.append(FakeScoringModel())
        return ReplayCacheChat(inner=made[-1], cache_dir=cache_dir, mode=mode)

    monkeypatch.setattr(support_cli, "_model", model)
    return made


def run(*args: str) -> str:
    result = CliRunner().invoke(support_cli.app, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout  # progress lines go to stderr


def test_record_then_fit_ablation_and_report_replay_the_recorded_scores(sets, fake_model, tmp_path):
    summedits, frank = sets
    cache = tmp_path / "cache"
    packaged = WEIGHTS_PATH.read_bytes()

    out = run("record", "--data", summedits, "--data", frank, "--cache-dir", cache)
    assert out.startswith("20 pairs: ") and " 0 scored" not in out and f"scored and recorded in {cache}" in out
    assert fake_model[-1].scored and list(cache.rglob("*.json"))
    again = run("record", "--data", summedits, "--data", frank, "--cache-dir", cache)
    assert again.startswith("20 pairs: ") and ", 0 scored and recorded" in again
    assert fake_model[-1].scored == []  # everything replayed

    weights = tmp_path / "out" / "weights.json"
    out = run("fit", "--out", weights, "--summedits", summedits, "--frank", frank, "--cache-dir", cache)
    assert f"wrote {weights} (model fake, 16 pairs" in out
    assert "grouped 5-fold CV on the fit data" in out and "leave one domain out on the fit data" in out
    fitted = json.loads(weights.read_text())["models"]["fake"]
    assert fitted["features"] and "threshold" in fitted
    assert fake_model[-1].scored == []  # fit replays only
    assert WEIGHTS_PATH.read_bytes() == packaged  # the packaged weights are untouched

    table = run("ablation", "--summedits", summedits, "--frank", frank, "--cache-dir", cache)
    assert table.startswith("16 of 16 fit pairs recorded")
    for name in ABLATIONS:
        assert f"| {name} |" in table

    figures = json.loads(
        run("report", "--data", summedits, "--split", "test", "--weights", weights, "--cache-dir", cache,
            "--replay", "--json")
    )
    assert figures["n"] == 4 and set(figures["domains"]) == {"news"}
    # The invented words are improbable under the fake model: the held-out pairs are told apart.
    assert figures["roc_auc"] == 1.0


def test_report_without_fitted_weights_for_the_model_says_how_to_fit(sets, fake_model, tmp_path):
    summedits, _ = sets
    empty = tmp_path / "weights.json"
    empty.write_text('{"models": {}}')
    result = CliRunner().invoke(
        support_cli.app, ["report", "--data", str(summedits), "--weights", str(empty), "--cache-dir", str(tmp_path)]
    )
    assert result.exit_code == 2 and "python -m eval.support fit --out PATH" in result.output
