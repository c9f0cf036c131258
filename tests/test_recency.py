"""Recency where asked: "latest", "now", "still", "so far" rank newer relevant passages first, and the
answer says "as of" the newest cited date (fictional archive tests/data/dated-story.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant import cli
from assistant.embed import default_embedder
from assistant.recency import NewestFirst, as_of, asks_for_recency, newest_first
from assistant.service import Assistant
from assistant.testing import FakeChatModel
from assistant.types import Passage, ScoredPassage
from assistant.ui.chat import answer_text

STORY = Path(__file__).parent / "data" / "dated-story.jsonl"

# Each recency question with the article that holds the current answer.
QUESTIONS = [
    ("What is the latest cost estimate for the Marlow footbridge repairs?", "marlow-correction"),
    ("When is the Marlow footbridge now expected to reopen?", "marlow-halfway"),
    ("Is the temporary ferry still running?", "marlow-halfway"),
    ("How much will the footbridge repairs cost so far?", "marlow-correction"),
    ("Who is currently repairing the Marlow footbridge?", "marlow-halfway"),
]


@pytest.fixture(scope="module")
def minilm():
    return default_embedder()


@pytest.fixture
def archive(settings, minilm) -> Assistant:
    a = Assistant(settings, embedder=minilm, chat=FakeChatModel())
    assert not a.ingest([STORY]).failed
    return a


def test_recency_words():
    assert all(asks_for_recency(q) for q, _ in QUESTIONS)
    assert asks_for_recency("What has the council said as of May?")
    assert not asks_for_recency("How much did the council say the repairs would cost?")
    assert not asks_for_recency("Who knows the snow report?")  # 'now' inside words does not count


def _hit(pid: str, published: str, score: float, dense: float, lexical: float) -> ScoredPassage:
    p = Passage(id=pid, article_id=pid, index=0, text=pid, start=0, end=1, tokens=1, published=published)
    return ScoredPassage(passage=p, score=score, dense_score=dense, lexical_score=lexical)


def test_boost_moves_the_newest_relevant_passage_up_but_not_an_irrelevant_one():
    hits = [
        _hit("old", "2025-03-01", 0.033, 0.80, 4.0),
        _hit("new", "2025-05-01", 0.031, 0.78, 3.0),
        _hit("newest-off-topic", "2025-08-01", 0.016, 0.50, 0.2),
        _hit("undated", "", 0.030, 0.79, 3.5),
    ]
    ranked = [h.passage.id for h in newest_first(hits)]
    assert ranked[0] == "new"  # the newest of the relevant ones
    assert ranked.index("newest-off-topic") == 3  # newer, but not about it: not pulled up
    assert ranked.index("undated") < ranked.index("newest-off-topic")
    # one date among the relevant: nothing to weigh, the ranking stands
    same = [_hit("a", "2025-03-01", 0.033, 0.8, 4.0), _hit("b", "2025-03-01", 0.03, 0.79, 4.0)]
    assert [h.passage.id for h in newest_first(same)] == ["a", "b"]


def test_newest_first_measured_on_the_correction_archive(archive):
    plain = newest = 0
    for question, current in QUESTIONS:
        plain += archive.retriever.search(question, k=4)[0].passage.article_id == current
        newest += NewestFirst(archive.retriever).search(question, k=4)[0].passage.article_id == current
    # the figures the module docstring states
    assert (newest, plain) == (5, 4)


def test_ask_says_as_of_the_newest_cited_date(archive, monkeypatch):
    fake = archive.chat
    fake.enqueue("The repairs will cost 3.1 million euros [1].")
    answer = archive.ask(QUESTIONS[0][0])
    cited = [c.article_id for c in answer.citations]
    assert cited == ["marlow-correction"]
    assert answer.as_of == "2025-05-14T16:00:00+02:00" == as_of(answer)
    assert "As of 2025-05-14 (the newest article cited)." in answer_text(answer)
    # the passages the model read: the newest relevant first
    prompt = fake.history[-1][-1].content
    assert prompt.index("3.1 million") < prompt.index("2.4 million")
    # a question without a recency word: no boost, no "as of"
    fake.enqueue("The repairs will cost 3.1 million euros [1].")
    assert archive.ask("How much will the Marlow footbridge repairs cost?").as_of == ""
    monkeypatch.setattr(cli.State, "assistant", classmethod(lambda cls: archive))
    runner = CliRunner()
    fake.enqueue("The repairs will cost 3.1 million euros [1].")
    out = runner.invoke(cli.app, ["ask", QUESTIONS[0][0], "--no-support", "--json"], catch_exceptions=False)
    assert json.loads(out.output)["as_of"] == "2025-05-14T16:00:00+02:00"
    fake.enqueue("The repairs will cost 3.1 million euros [1].")
    out = runner.invoke(cli.app, ["ask", QUESTIONS[0][0], "--no-support"], catch_exceptions=False)
    assert "As of 2025-05-14 (the newest article cited)." in out.output
