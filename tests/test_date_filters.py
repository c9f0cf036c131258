"""--since / --until on search, ask and check: both the dense (Chroma where) and the BM25 side."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from assistant import cli
from assistant.dates import parse_bound
from assistant.service import Assistant
from assistant.testing import FakeChatModel

RECORDS = [
    {"id": "budget-2023", "title": "Harbour budget 2023", "published": "2023-05-01T09:00:00+02:00",
     "text": "The harbour council approved a budget of 3 million euros for the floating berth. Mayor Okafor welcomed the vote."},
    {"id": "budget-2025", "title": "Harbour budget 2025", "published": "2025-08-07",
     "text": "The harbour council approved a budget of 5 million euros for the floating berth. Mayor Okafor welcomed the vote."},
    {"id": "budget-undated", "title": "Harbour budget, undated",
     "text": "The harbour council approved a budget of 4 million euros for the floating berth. Mayor Okafor welcomed the vote."},
    {"id": "ferry-2024", "title": "Ferry strike", "date": "12 June 2024",
     "text": "Ferry crews walked out on Monday over pay; the quayside kiosk stayed shut."},
]


@pytest.fixture
def archive(settings, embedder, tmp_path) -> Assistant:
    path = tmp_path / "archive.json"
    path.write_text(json.dumps(RECORDS))
    fake = FakeChatModel()
    a = Assistant(settings, embedder=embedder, chat=fake)
    assert not a.ingest([path]).failed
    return a


@pytest.fixture
def run(archive, monkeypatch):
    monkeypatch.setattr(cli.State, "assistant", classmethod(lambda cls: archive))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli.app, list(args), catch_exceptions=False)

    return invoke


def _ids(hits) -> set[str]:
    return {h.passage.article_id for h in hits}


def test_retriever_range_applies_to_dense_and_bm25(archive):
    r = archive.retriever
    assert _ids(r.search("harbour budget floating berth", k=10)) >= {"budget-2023", "budget-2025", "budget-undated"}
    since = parse_bound("2025-01-01")
    hits = r.search("harbour budget floating berth", k=10, since=since)
    assert _ids(hits) == {"budget-2025"}
    assert hits[0].dense_rank is not None and hits[0].lexical_rank is not None  # both sides kept it
    # The dense side alone: Chroma's where on published_ts.
    dense = archive.store.query_many(archive.embedder.embed(["harbour budget"]), 10, since=since)[0]
    assert {p.article_id for p, _ in dense} == {"budget-2025"}
    # The BM25 side alone: a word only the 2024 ferry story has, outside the range, is not matched.
    kiosk = r.search("quayside kiosk", k=10, since=since)
    assert all(h.lexical_rank is None for h in kiosk) and "ferry-2024" not in _ids(kiosk)
    until = parse_bound("2024-06-12", end=True)  # a bare day includes all of it
    assert _ids(r.search("harbour ferry kiosk budget", k=10, until=until)) == {"budget-2023", "ferry-2024"}
    between = r.search("harbour ferry budget", k=10, since=parse_bound("2024-01-01"), until=parse_bound("2024-12-31", end=True))
    assert _ids(between) == {"ferry-2024"}
    # A bound view (what ask and check are given) keeps the range for search and search_many alike.
    view = r.within(since=since)
    assert _ids(view.search("harbour budget", k=10)) == {"budget-2025"}
    assert _ids(view.search_many(["kiosk", "budget"], k=10)[1]) == {"budget-2025"}
    assert r.within() is r


def test_search_cli_since_until_and_dates_on_hits(run):
    out = run("search", "harbour budget floating berth", "-k", "10", "--since", "2023-01-01", "--until", "2023-12-31", "--json")
    assert out.exit_code == 0, out.output
    hits = json.loads(out.output)
    assert {h["article_id"] for h in hits} == {"budget-2023"}
    assert hits[0]["published"] == "2023-05-01T09:00:00+02:00" and hits[0]["title"] == "Harbour budget 2023"
    text = run("search", "harbour budget", "-k", "10")
    assert "(Harbour budget 2025, 2025-08-07)" in text.output and "(Harbour budget, undated, undated)" in text.output
    listed = run("list")
    assert "budget-2025\t2025-08-07\t" in listed.output and "budget-undated\tundated\t" in listed.output


@pytest.mark.parametrize("args", [("--since", "last tuesday"), ("--until", "2025-02-30"), ("--since", "2025-08-01", "--until", "2025-07-01")])
def test_malformed_or_empty_range_is_a_usage_error(run, args):
    for command in (("search", "harbour"), ("ask", "What did the council approve?"), ("check", "budget-2025")):
        out = run(*command, *args)
        assert out.exit_code == 2, (command, args, out.output)
        assert "--since" in out.output or "--until" in out.output


def test_ask_since_answers_only_from_the_range_and_cites_title_and_date(run, archive):
    archive.chat.enqueue("The council approved a budget of 5 million euros [1].")
    out = run("ask", "What budget did the harbour council approve?", "--since", "2025-01-01", "--no-support", "--json")
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    prompt = " ".join(str(m.content) for m in archive.chat.history[-1])
    assert "5 million" in prompt and "3 million" not in prompt and "4 million" not in prompt
    assert answer["citations"] and all(c["article_id"] == "budget-2025" for c in answer["citations"])
    assert answer["citations"][0]["published"] == "2025-08-07" and answer["citations"][0]["title"] == "Harbour budget 2025"
    archive.chat.enqueue("The council approved a budget of 3 million euros [1].")
    text = run("ask", "What budget did the harbour council approve?", "--until", "2023-12-31", "--no-support")
    assert "(Harbour budget 2023, 2023-05-01T09:00:00+02:00)" in text.output


def test_check_since_limits_the_evidence(run, tmp_path):
    draft = tmp_path / "draft.txt"
    draft.write_text("Harbour draft\n\nThe harbour council approved a budget of 5 million euros for the floating berth.\n")
    out = run("check", "--file", str(draft), "--since", "2025-01-01", "--no-support", "--json")
    assert out.exit_code == 0, out.output
    evidence = [e for c in json.loads(out.output)["claims"] for e in c["evidence"]]
    assert evidence and {e["article_id"] for e in evidence} == {"budget-2025"}
    assert all(e["published"] == "2025-08-07" for e in evidence)
    old = run("check", "--file", str(draft), "--until", "2023-12-31", "--no-support", "--json")
    assert {e["article_id"] for c in json.loads(old.output)["claims"] for e in c["evidence"]} <= {"budget-2023"}
    text = run("check", "--file", str(draft), "--since", "2025-01-01", "--no-support")
    assert "Harbour budget 2025, 2025-08-07" in text.output


def test_web_app_citations_show_title_and_date():
    from assistant import ui
    from assistant.types import Answer, AnswerCitation, CheckReport, ClaimResult, Evidence, Passage

    passage = Passage(id="b#p0", article_id="b", index=0, text="The council voted 7 to 2.", start=0, end=25, tokens=8,
                      title="Harbour vote", published="2025-08-07")
    answer = Answer(question="q", answer="It passed [1].",
                    citations=[AnswerCitation(n=1, passage_id="b#p0", article_id="b", quote="The council voted 7 to 2")])
    assert "Harbour vote" in ui.sources_html(answer, {"b#p0": passage}) and "2025-08-07" in ui.sources_html(answer, {"b#p0": passage})
    report = CheckReport(article_id="d", claims=[ClaimResult(text="It passed.", start=0, end=10, verdict="supported", evidence=[
        Evidence(passage_id="b#p0", article_id="b", quote="The council voted 7 to 2.", title="Harbour vote", published="2025-08-07"),
        Evidence(passage_id="c#p0", article_id="c", quote="It passed.", title="Old note"),
    ])])
    cell = ui.flag_rows(report)[0][5]
    assert "(Harbour vote, 2025-08-07, b#p0)" in cell and "(Old note, undated, c#p0)" in cell


def test_fact_check_tab_applies_the_page_date_range(archive):
    from assistant.ui.factcheck import check_stream

    draft = "The harbour council approved a budget of 5 million euros for the floating berth."
    *_, (_text, _segments, rows, _status) = check_stream(archive, draft, support=False, since="2025-01-01")
    assert rows and "budget-2025" in rows[0][5] and "budget-2023" not in rows[0][5] and "2025-08-07" in rows[0][5]
    *_, (_, _, old_rows, _) = check_stream(archive, draft, support=False, until="2023-12-31")
    assert "budget-2025" not in " ".join(r[5] for r in old_rows)
    # a range the editor typed wrong is a message, not a crash
    *_, (_, _, none, bad) = check_stream(archive, draft, support=False, since="2025-01-01", until="2024-01-01")
    assert not none and "after" in bad


def test_summary_citations_show_the_articles_title_and_date(run, archive):
    # extractive: no model; every cited sentence in text and JSON carries the article's title and date
    text = run("summarize", "budget-2025", "--strategy", "extractive", "-n", "2")
    assert text.exit_code == 0, text.output
    footnotes = [line for line in text.output.splitlines() if line.startswith("[")]
    assert footnotes and all("(Harbour budget 2025, 2025-08-07): " in line for line in footnotes)
    data = json.loads(run("summarize", "budget-2025", "--strategy", "extractive", "--json").output)
    assert (data["title"], data["published"]) == ("Harbour budget 2025", "2025-08-07")
    undated = run("summarize", "budget-undated", "--strategy", "extractive")
    assert "(Harbour budget, undated, undated): " in undated.output
    # extract-then-fuse, as the app shows it: the footnotes carry the title and date too
    from assistant.ui.summaries import run_summarize

    archive.chat.enqueue("[1] The harbour council approved a budget of 3 million euros for the floating berth.")
    archive.settings.summary.strategy = "extract_fuse"
    calls = len(archive.chat.history)
    html, _status = run_summarize(archive, "budget-2023", "", 1)
    assert len(archive.chat.history) == calls + 1  # the model fused the selection
    assert "Cited sentences" in html and "(Harbour budget 2023, 2023-05-01T09:00:00+02:00)" in html
