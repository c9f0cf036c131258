"""Topic briefs over the 6-article fictional story with a correction (tests/data/dated-story.jsonl):
every timeline line cited, dated and in order; every line checked like a summary sentence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant import cli
from assistant.brief import dates_in_order, drop_near_duplicates, render_text
from assistant.dates import parse_bound, timestamp
from assistant.embed import default_embedder
from assistant.service import Assistant
from assistant.testing import FakeChatModel
from tests.conftest import fake_support_scorer

STORY = Path(__file__).parent / "data" / "dated-story.jsonl"
QUERY = "Marlow footbridge repairs"
TIMELINE_LINES = (
    "[1] Kessbrook council closed the Marlow footbridge after engineers found cracks in two of its supports.",
    "[2] Repairs to the Marlow footbridge will cost 2.4 million euros.",
    "[3] A temporary ferry began carrying passengers across the river Kess.",
    "[4] Repairs will now cost 5 million euros, the council said.",  # a wrong number: replaced
    "[5] Halden Steelworks will repair the Marlow footbridge, with work starting in July.",
    "[6] Half of the new steel supports of the Marlow footbridge are now in place.",
)
TIMELINE = "\n".join(TIMELINE_LINES)
OVERVIEW_LINES = (
    "[1] The Marlow footbridge was closed after engineers found cracks in two of its supports.",
    "[4] Repairs to the Marlow footbridge will cost 3.1 million euros.",
    "[5][6] Halden Steelworks says half of the new supports are in place.",
    "[9] The bridge reopened last week.",  # cites no selected sentence: replaced
)
OVERVIEW = "\n".join(OVERVIEW_LINES)


@pytest.fixture(scope="module")
def minilm():
    return default_embedder()


@pytest.fixture
def archive(settings, minilm) -> Assistant:
    a = Assistant(settings, embedder=minilm, chat=FakeChatModel(), support=fake_support_scorer())
    assert not a.ingest([STORY]).failed
    return a


def _lines(brief):
    return [e.sentence for e in brief.timeline] + list(brief.overview)


def test_brief_of_the_story_is_cited_dated_in_order_and_checked(archive):
    archive.chat.enqueue(TIMELINE, OVERVIEW)
    brief = archive.brief(QUERY, support=True)
    by_number = {s.number: s for s in brief.sources}
    # one event per article, all six, oldest first, each line dated by what it cites
    assert len(brief.timeline) == 6 and len(by_number) == 6
    assert [by_number[e.sentence.sources[0]].article_id for e in brief.timeline] == [
        "marlow-closed", "marlow-cost", "marlow-ferry", "marlow-correction", "marlow-contractor", "marlow-halfway",
    ]
    stamps = [timestamp(e.published) for e in brief.timeline]
    assert None not in stamps and stamps == sorted(stamps) and dates_in_order(brief)
    for e in brief.timeline:
        assert e.published == max((by_number[n].published for n in e.sentence.sources), key=timestamp)
    # every line cites a selected sentence and was checked; what failed is the source sentence, labelled
    for s in _lines(brief):
        assert s.sources and s.citations and all(c.passage_id in {x.passage_id for x in brief.sources} for c in s.citations)
        assert s.verdict == "supported" or s.origin == "source", s
    wrong = next(e.sentence for e in brief.timeline if e.sentence.rejected.startswith("Repairs will now cost 5"))
    assert wrong.origin == "source" and "'5'" in wrong.reason and "3.1 million euros" in wrong.text
    made_up = next(s for s in brief.overview if s.rejected == "The bridge reopened last week.")
    assert made_up.origin == "source" and "cites none of the selected sentences" in made_up.reason
    assert 3 <= len(brief.overview) <= 5
    # the model check ran on the lines that are not plain cuts
    assert any(s.support is not None for s in _lines(brief) if s.origin == "model")
    text = render_text(brief)
    assert "2025-03-12 - Repairs to the Marlow footbridge will cost 2.4 million euros. [2]" in text
    assert "[article's sentence]" in text and "Replaced model sentences:" in text
    assert "(Marlow footbridge repairs will cost more, council says, 2025-05-14T16:00:00+02:00)" in text
    # the model saw the numbered sentences only: no dates, no ids
    prompt = archive.chat.history[0][-1].content
    assert "2025-" not in prompt and "#p0" not in prompt


def test_near_copies_are_dropped(settings, minilm, tmp_path):
    records = [json.loads(line) for line in STORY.read_text().splitlines()]
    copy = dict(records[1], id="marlow-cost-wire", text=records[1]["text"] + " (Wire report.)")
    path = tmp_path / "story.json"
    path.write_text(json.dumps([*records, copy]))
    a = Assistant(settings, embedder=minilm, chat=FakeChatModel())
    assert not a.ingest([path]).failed
    hits = a.retriever.search(QUERY, k=12)
    kept, dropped = drop_near_duplicates(hits)
    assert dropped == 1 and len(kept) == len(hits) - 1
    a.chat.enqueue("", "")  # no usable lines: the selection stands, labelled
    brief = a.brief(QUERY, support=False)
    assert brief.duplicates_dropped == 1
    assert len(brief.timeline) == 6 and len({s.article_id for s in brief.sources}) == 6
    assert all(e.sentence.origin == "source" and "extractive fallback" in e.sentence.reason for e in brief.timeline)


def test_brief_since_and_cli(archive, monkeypatch):
    monkeypatch.setattr(cli.State, "assistant", classmethod(lambda cls: archive))
    runner = CliRunner()
    archive.chat.enqueue(
        "[1] Repairs will cost 3.1 million euros.\n[2] Halden Steelworks will do the work.\n[3] Half the supports are in place.",
        "[1] Repairs to the Marlow footbridge will cost 3.1 million euros.\n[3] Half of the new steel supports are in place.",
    )
    out = runner.invoke(cli.app, ["brief", QUERY, "--since", "2025-05-01", "--no-support", "--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert {s["article_id"] for s in data["sources"]} == {"marlow-correction", "marlow-contractor", "marlow-halfway"}
    assert all(timestamp(e["published"]) >= parse_bound("2025-05-01") for e in data["timeline"])
    assert [e["published"][:10] for e in data["timeline"]] == ["2025-05-14", "2025-06-20", "2025-08-05"]
    archive.chat.enqueue("", "")
    text = runner.invoke(cli.app, ["brief", QUERY, "--until", "2025-03-31", "--no-support"], catch_exceptions=False)
    assert "Brief: Marlow footbridge repairs (2 article(s), 2025-03-03 to 2025-03-12)" in text.output
    assert runner.invoke(cli.app, ["brief", QUERY, "--since", "nonsense"]).exit_code == 2


def test_brief_tab_and_the_date_range_control(archive):
    from assistant.ui.brief import run_brief
    from assistant.ui.chat import chat_stream

    archive.chat.enqueue(TIMELINE, OVERVIEW)
    html, status = run_brief(archive, QUERY)
    assert html.index("2025-03-03") < html.index("2025-03-12") < html.index("2025-08-05")
    assert "article&#x27;s sentence" in html and "model wrote: “Repairs will now cost 5 million euros" in html
    assert "(Marlow footbridge repairs will cost more, council says, 2025-05-14T16:00:00+02:00)" in html
    assert "6 timeline line(s) from 6 article(s)" in status
    archive.chat.enqueue("", "")
    html, _ = run_brief(archive, QUERY, since="2025-06-01", until="")
    assert "2025-06-20" in html and "2025-03-12" not in html
    _, status = run_brief(archive, QUERY, since="yesterday-ish")
    assert "not a date" in status
    # the chat applies the same range: the March estimate is outside it, so it cannot be cited
    archive.chat.enqueue("The repairs will cost 3.1 million euros [1].")
    *_, (_messages, sources) = chat_stream(archive, "How much will the repairs cost?", [], "2025-05-01", "")
    prompt = archive.chat.history[-1][-1].content
    assert "3.1 million" in prompt and "2.4 million" not in prompt
    assert "2025-05-14" in sources
