"""The fact-check weighs evidence by date: a claim an older article supports and a newer one
contradicts is ``outdated``, shown with both quotes and their dates (fictional archive in
tests/data/dated-story.jsonl: a May story corrects the March cost estimate)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant import cli
from assistant.check import claims_to_score
from assistant.service import Assistant
from assistant.testing import FakeChatModel
from assistant.ui.factcheck import flag_rows
from tests.conftest import fake_support_scorer

STORY = Path(__file__).parent / "data" / "dated-story.jsonl"
OLD = "Repairs to the Marlow footbridge will cost 2.4 million euros, Kessbrook council said."
NEW = "Repairs to the Marlow footbridge will cost 3.1 million euros, Kessbrook council said."


def _archive(settings, embedder, tmp_path, dated: bool = True) -> Assistant:
    records = [json.loads(line) for line in STORY.read_text().splitlines()]
    if not dated:
        for r in records:
            r.pop("published")
    path = tmp_path / "story.json"
    path.write_text(json.dumps(records))
    a = Assistant(settings, embedder=embedder, chat=FakeChatModel(), support=fake_support_scorer())
    assert not a.ingest([path]).failed
    return a


@pytest.fixture
def archive(settings, embedder, tmp_path) -> Assistant:
    return _archive(settings, embedder, tmp_path)


def test_older_support_newer_contradiction_is_outdated(archive):
    report = archive.check(text=f"{OLD} {NEW}")
    old, new = report.claims
    assert old.verdict == "outdated"
    # both quotes, the newer first, each with its article's date
    assert [(e.article_id, e.published) for e in old.evidence] == [
        ("marlow-correction", "2025-05-14T16:00:00+02:00"),
        ("marlow-cost", "2025-03-12"),
    ]
    assert "3.1 million euros" in old.evidence[0].quote and "2.4 million euros" in old.evidence[1].quote
    assert "2025-05-14" in old.reason and "2025-03-12" in old.reason and old.reason.startswith("outdated:")
    decisive = [c for c in old.checks if c.decisive]
    assert [(c.check, c.outcome) for c in decisive] == [("conflict", "fail")]
    # the correction's own figure is supported: the newer source outranks the older one, and says so
    assert new.verdict == "supported"
    assert "the older passage marlow-cost" in new.reason and "agrees with the claim" in new.reason
    assert [e.article_id for e in new.evidence] == ["marlow-correction", "marlow-cost"]


def test_model_check_leaves_outdated_alone(archive):
    report = archive.check_with_support(text=f"{OLD} {NEW}", support=True)
    assert report.claims[0].verdict == "outdated"
    assert 0 not in claims_to_score(report)
    assert report.claims[0].decided_by == "code"


def test_undated_sources_are_not_weighed(settings, embedder, tmp_path):
    # Same stories without dates: nothing says which is newer, so the conflict decides as before.
    a = _archive(settings, embedder, tmp_path, dated=False)
    old, new = a.check(text=f"{OLD} {NEW}").claims
    assert (old.verdict, new.verdict) == ("contradicted", "contradicted")


def test_until_before_the_correction_leaves_the_claim_supported(archive):
    from assistant.dates import parse_bound

    claim = archive.check(text=OLD, until=parse_bound("2025-04-30", end=True)).claims[0]
    assert claim.verdict == "supported" and claim.evidence[0].article_id == "marlow-cost"


def test_outdated_in_cli_text_json_and_app(archive, monkeypatch, tmp_path):
    monkeypatch.setattr(cli.State, "assistant", classmethod(lambda cls: archive))
    draft = tmp_path / "draft.txt"
    draft.write_text(OLD)
    runner = CliRunner()
    out = runner.invoke(cli.app, ["check", "--file", str(draft), "--no-support"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "OUTDATED" in out.output
    assert "(Marlow footbridge repairs will cost more, council says, 2025-05-14T16:00:00+02:00, " in out.output
    assert "(Marlow footbridge repairs to cost 2.4 million euros, 2025-03-12, " in out.output
    js = runner.invoke(cli.app, ["check", "--file", str(draft), "--no-support", "--json"], catch_exceptions=False)
    claim = json.loads(js.output)["claims"][0]
    assert claim["verdict"] == "outdated"
    assert [e["published"] for e in claim["evidence"]] == ["2025-05-14T16:00:00+02:00", "2025-03-12"]
    row = flag_rows(archive.check(text=OLD))[0]
    assert row[3] == "⌛ outdated"
    assert "2025-05-14T16:00:00+02:00" in row[5] and "2025-03-12" in row[5]
    assert "“Repairs to the Marlow footbridge will cost 3.1 million euros" in row[5]
