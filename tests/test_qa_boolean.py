"""Yes/no questions answered from the calibrated first-token choice, and multi-part questions."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import qa_boolean
from assistant.errors import ReplayMissError
from assistant.llm import ReplayCacheChat
from assistant.qa_boolean import Calibration, ask_stream, is_yes_no, split_parts
from assistant.service import Assistant
from assistant.settings import Settings, SupportSettings
from assistant.testing import FakeChatModel, FakeScoringModel
from assistant.types import Answer, Passage

TOLLAND = "The Tolland council rejected the 12 million euro harbour budget on Tuesday by 9 votes to 6."


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Did the Tolland council approve the harbour budget?", True),
        ("Is the bridge closed?", True),
        ("Hasn't the mayor resigned?", True),
        ("Can you pass the ball more than once in american football?", True),
        ("Is the budget 12 or 14 million euros?", False),  # asks which, not whether
        ("Was the vote close or not?", True),
        ("Who voted against the plan?", False),
        ("Didier Drogba scored?", False),
    ],
)
def test_yes_no_questions_are_detected_by_their_opening_auxiliary(question, expected):
    assert is_yes_no(question) is expected


@pytest.mark.parametrize(
    ("question", "parts"),
    [
        (
            "Who floated a three-way meeting, and what did the Kremlin say?",
            ["Who floated a three-way meeting?", "What did the Kremlin say?"],
        ),
        ("Did the council approve the budget and when will works start?", ["Did the council approve the budget?", "When will works start?"]),
        ("What did the mayor promise? Did the berth open?", ["What did the mayor promise?", "Did the berth open?"]),
        ("Did Smith and Jones vote for the plan?", ["Did Smith and Jones vote for the plan?"]),
        ("What did the mayor say, when asked about the berth?", ["What did the mayor say, when asked about the berth?"]),
    ],
)
def test_multi_part_questions_are_split_where_a_new_question_word_follows_and(question, parts):
    assert split_parts(question) == parts


def test_calibration_decides_not_stated_then_polarity():
    cal = Calibration(answer_threshold=1.0, polarity_threshold=0.5)
    assert cal.decide({"yes": -0.5, "no": -1.5, "not": -1.0}) == "not"  # margin 0.31 <= 1
    assert cal.decide({"yes": -0.2, "no": -3.0, "not": -4.0}) == "yes"
    assert cal.decide({"yes": -0.9, "no": -0.6, "not": -4.0}) == "no"
    assert cal.decide({"yes": -0.6, "no": -0.9, "not": -4.0}) == "no"  # 0.3 is under the 0.5 threshold


def test_the_relevance_floor_is_the_one_fitted_for_the_embedder(caplog):
    # Similarities differ from one MiniLM graph to another: each has its own fitted floor.
    cal = Calibration(min_relevance=0.5, floors={"graph-a": 0.6, "graph-b": 0.55})
    assert cal.for_embedder("graph-a").min_relevance == 0.6
    assert cal.for_embedder("graph-b").min_relevance == 0.55
    with caplog.at_level("WARNING", logger="assistant.qa_boolean"):
        assert cal.for_embedder("graph-c").min_relevance is None  # no floor fitted for it: none
        assert cal.for_embedder("graph-c").min_relevance is None
    assert caplog.text.count("no yes/no relevance floor") == 1  # said once, not on every question
    assert Calibration(min_relevance=0.5).for_embedder("any").min_relevance == 0.5  # no floors: as given
    from assistant.embed import GRAPHS
    from assistant.models import get_preset

    packaged = qa_boolean.load_calibration(f"local/{Path(get_preset('1.5b').filename).stem}")
    assert set(packaged.floors) == set(GRAPHS.values())  # both graphs' stores keep a fitted floor


def test_missing_or_stale_weights_fall_back_to_argmax(tmp_path: Path):
    path = tmp_path / "w.json"
    path.write_text('{"m": {"answer_threshold": 3, "polarity_threshold": 2, "prompts": "old"}}')
    cal = qa_boolean.load_calibration("m", path)
    assert (cal.answer_threshold, cal.polarity_threshold) == (0.0, 0.0)
    assert qa_boolean.load_calibration("other", tmp_path / "none.json").answer_threshold == 0.0


@pytest.fixture
def tolland(settings: Settings, embedder, tmp_path: Path) -> Assistant:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "tolland.txt").write_text(f"Tolland rejects harbour budget\n\n{TOLLAND}\n")
    (folder / "vellmar.txt").write_text(
        "Vellmar opens floating berth\n\nThe floating berth in Vellmar opened on Thursday. "
        "Mayor Ingrid Halvorsen said it holds 14 boats.\n"
    )
    settings = settings.model_copy(update={"support": SupportSettings(enabled=False)})
    a = Assistant(settings, embedder=embedder, chat=FakeChatModel())
    a.ingest([folder])
    return a


def _run(stream) -> tuple[str, Answer]:
    text, answer = "", None
    for item in stream:
        if isinstance(item, Answer):
            answer = item
        else:
            text += item
    assert answer is not None
    return text, answer


def test_a_no_answer_says_no_and_cites_the_evidence_sentence(tolland: Assistant):
    """No hard conflict ("back" is no antonym of "rejected"): the model's calibrated choice says no."""
    choices = FakeScoringModel()
    text, answer = _run(
        ask_stream("Did the Tolland council back the harbour budget?", tolland.retriever, tolland.chat, choices, tolland.settings)
    )
    assert text == answer.answer
    assert answer.answered and answer.answer.startswith("No, ")
    assert answer.answer.endswith("by 9 votes to 6 [1].")
    assert answer.citations[0].article_id == "tolland" and answer.citations[0].quote == TOLLAND
    assert [v.verdict for v in answer.verdicts] == ["supported"]
    assert answer.choice["decision"] == "no" and answer.choice["no"] > answer.choice["yes"]
    assert "conflict" not in answer.choice and choices.scored
    assert not tolland.chat.history  # the chat model wrote nothing: the answer rests on the signal


@pytest.mark.parametrize(
    ("question", "sentence", "why"),
    [
        # the example: "approve" where the article says "rejected" (an antonym)
        ("Did the Tolland council approve the harbour budget?", TOLLAND, "'approve' where the evidence says 'rejected'"),
        ("Was the Tolland harbour budget 15 million euros?", TOLLAND, "number '15' where the evidence says '12'"),
    ],
)
def test_a_hard_conflict_answers_no_without_asking_the_model(tolland: Assistant, question, sentence, why):
    choices = FakeScoringModel()
    choices.scripted = ["yes"]  # what the model would say: never asked
    text, answer = _run(ask_stream(question, tolland.retriever, tolland.chat, choices, tolland.settings))
    assert text == answer.answer and answer.answered
    assert answer.answer.startswith("No, the article says: ") and answer.answer.endswith(" [1].")
    assert answer.citations[0].quote == sentence and [v.verdict for v in answer.verdicts] == ["supported"]
    assert answer.choice["decision"] == "no" and answer.choice["conflict"].startswith(why)
    assert not choices.scored and choices.scripted == ["yes"]


def _passage(article: str, text: str, published: str = "") -> Passage:
    return Passage(id=f"{article}#p0", article_id=article, index=0, text=text, start=0, end=len(text), tokens=9,
                   published=published)


BERTH = "The berth has room for 14 boats and cost 380,000 euros, paid from the harbour budget."


@pytest.mark.parametrize(
    "question",
    [
        "Does the berth have room for more than 10 boats?",
        "Does the berth have room for at least 10 boats?",
        "Does the berth have room for 10 to 20 boats?",
        "Did the berth cost less than 400,000 euros?",
        "Did the berth cost between 300,000 and 400,000 euros?",
        "Does the berth lack room for 20 boats?",
        "Is there no room for 20 boats at the berth?",
    ],
)
def test_a_question_that_bounds_its_number_or_negates_is_left_to_the_model(question):
    """The claim checker would read "more than 10" against "14" as another number (review, session 29)."""
    berth = _passage("berth", BERTH)
    assert qa_boolean.hard_conflict(question, [(berth, berth.text, 0.8)]) is None
    plain = qa_boolean.hard_conflict("Does the berth have room for 20 boats?", [(berth, berth.text, 0.8)])
    assert plain is not None and plain[2].startswith("number '20' where the evidence says '14'")


def test_a_name_conflict_or_a_newer_passage_leaves_the_answer_to_the_model():
    okafor = _passage("vote", "Councillor Okafor voted against the harbour plan on Tuesday.")
    # the archive does not mention Jensen: "No" would be a guess
    assert qa_boolean.hard_conflict("Did Councillor Jensen vote against the harbour plan?", [(okafor, okafor.text, 0.8)]) is None
    old = _passage("march", "The council did not release the environmental study of the harbour works.", "2026-03-01")
    new = _passage("september", "The environmental study of the harbour works came out on Friday.", "2026-09-01")
    question = "Did the council release the environmental study of the harbour works?"
    assert qa_boolean.hard_conflict(question, [(old, old.text, 0.8)]) is not None  # a negation, alone
    assert qa_boolean.hard_conflict(question, [(old, old.text, 0.8), (new, new.text, 0.7)]) is None


def test_a_conflict_another_passage_disputes_is_left_to_the_model():
    fourteen = _passage("a", "The floating berth in Vellmar holds 14 boats, the mayor said.")
    twenty = _passage("b", "The floating berth in Vellmar holds 20 boats, the harbour master said.")
    question = "Does the floating berth in Vellmar hold 20 boats?"
    assert qa_boolean.as_statement(question) == "the floating berth in Vellmar hold 20 boats"
    n, quote, why = qa_boolean.hard_conflict(question, [(fourteen, fourteen.text, 0.8)])
    assert (n, quote) == (1, fourteen.text) and why.startswith("number '20' where the evidence says '14'")
    assert qa_boolean.hard_conflict(question, [(fourteen, fourteen.text, 0.8), (twenty, twenty.text, 0.7)]) is None
    assert qa_boolean.hard_conflict(question, [(twenty, twenty.text, 0.7)]) is None


def test_a_yes_answer_and_not_stated_come_from_the_signal(tolland: Assistant):
    choices = FakeScoringModel()
    choices.scripted = ["yes", "not"]
    _, yes = _run(ask_stream("Did the berth open on Thursday?", tolland.retriever, tolland.chat, choices, tolland.settings))
    assert yes.answer.startswith("Yes, ") and yes.citations[0].article_id == "vellmar"
    assert "[1]" in yes.answer and yes.verdicts[0].verdict == "supported"
    _, none = _run(ask_stream("Did the berth cost 380,000 euros?", tolland.retriever, tolland.chat, choices, tolland.settings))
    assert not none.answered and none.answer == qa_boolean.NOT_STATED and not none.citations


def test_calibrated_thresholds_decide_not_the_raw_argmax(tolland: Assistant):
    choices = FakeScoringModel()
    choices.scripted = ["yes"]  # yes -0.1, others -4: margins 3.9
    stream = qa_boolean.boolean_stream(
        "Did the berth open on Thursday?", tolland.retriever, choices, tolland.settings,
        calibration=Calibration(answer_threshold=5.0),
    )
    _, answer = _run(stream)
    assert answer.answer == qa_boolean.NOT_STATED


def test_below_the_relevance_floor_the_model_is_not_asked(tolland: Assistant):
    choices = FakeScoringModel()
    question = "Did the Tolland council approve the harbour budget?"
    relevance, worded = qa_boolean.question_relevance(question, tolland.retriever, tolland.settings)
    assert 0.0 < relevance <= 1.0 and worded  # the article has "Tolland", "council", "harbour", "budget"
    # a floor above its similarity does not refuse a question whose words a passage holds
    _, answered = _run(qa_boolean.boolean_stream(
        question, tolland.retriever, choices, tolland.settings, calibration=Calibration(min_relevance=relevance + 0.01)
    ))
    assert answered.answered and answered.choice["shares_words"] is True
    # a question the archive neither resembles enough nor shares the words of: refused unasked
    choices.scored.clear()
    other = "Is the lighthouse keeper paid by the ferry company?"
    relevance, worded = qa_boolean.question_relevance(other, tolland.retriever, tolland.settings)
    assert not worded
    text, answer = _run(qa_boolean.boolean_stream(
        other, tolland.retriever, choices, tolland.settings, calibration=Calibration(min_relevance=relevance + 0.01)
    ))
    assert text == answer.answer == qa_boolean.NOT_STATED and not answer.answered
    assert answer.choice == {
        "relevance": round(relevance, 4), "shares_words": False, "min_relevance": relevance + 0.01, "decision": "not",
    }
    assert not choices.scored  # refused on the evidence alone
    # at the floor, the model is asked and its signal decides
    _, asked = _run(qa_boolean.boolean_stream(
        other, tolland.retriever, choices, tolland.settings, calibration=Calibration(min_relevance=round(relevance, 4))
    ))
    assert choices.scored and asked.choice["relevance"] == round(relevance, 4)


def test_a_model_that_cannot_score_tokens_answers_yes_no_in_free_text(tolland: Assistant):
    # The capability flag decides, not the presence of a choose() method (every ChatModel has one).
    tolland.chat.enqueue("The Tolland council rejected the harbour budget by 9 votes to 6 [1].")
    _, answer = _run(
        ask_stream(
            "Did the Tolland council approve the harbour budget?",
            tolland.retriever, tolland.chat, FakeChatModel(), tolland.settings,
        )
    )
    assert tolland.chat.history  # the chat model wrote the answer
    assert getattr(answer, "choice", None) is None and answer.answered


def test_unanswerable_control_excludes_the_articles_own_passage(tolland: Assistant):
    _, answer = _run(
        ask_stream(
            "Did the Tolland council approve the harbour budget?",
            tolland.retriever, tolland.chat, FakeScoringModel(), tolland.settings, exclude_articles=["tolland"],
        )
    )
    assert not answer.answered
    assert all(c.article_id != "tolland" for c in answer.citations)


def test_multi_part_question_answers_each_part_with_its_own_citation(tolland: Assistant):
    tolland.chat.enqueue("Mayor Ingrid Halvorsen said the berth holds 14 boats [1].")
    text, answer = _run(
        ask_stream(
            "How many boats does the berth hold, and did the Tolland council approve the harbour budget?",
            tolland.retriever, tolland.chat, FakeScoringModel(), tolland.settings,
        )
    )
    assert answer.answered and len(answer.parts) == 2
    assert answer.answer == text.strip()
    assert answer.answer.startswith("Mayor Ingrid Halvorsen said the berth holds 14 boats [1]. No, the article says:")
    assert answer.answer.endswith("[2].")
    assert [c.article_id for c in answer.citations] == ["vellmar", "tolland"]
    assert [c.n for c in answer.citations] == [1, 2]
    assert [v.verdict for v in answer.verdicts] == ["supported", "supported"]


def test_a_part_the_articles_do_not_answer_is_said_to_be_unanswered(tolland: Assistant):
    tolland.chat.enqueue("The articles do not answer this question.")
    _, answer = _run(
        ask_stream(
            "Who chairs the Tolland council, and did the Tolland council approve the harbour budget?",
            tolland.retriever, tolland.chat, FakeScoringModel(), tolland.settings,
        )
    )
    assert answer.answered
    assert answer.answer.startswith("Who chairs the Tolland council? Not stated in the articles. No, ")
    assert [c.n for c in answer.citations] == [1]


def test_the_assistant_uses_the_support_scorers_model_for_choices(settings, embedder, tmp_path):
    from tests.conftest import fake_support_scorer

    scorer = fake_support_scorer()
    a = Assistant(settings, embedder=embedder, chat=FakeChatModel(), support=scorer)
    assert a.answer_choices is scorer.model
    assert Assistant(settings, embedder=embedder, chat=FakeChatModel()).answer_choices is None


def test_choices_are_recorded_and_replayed(tmp_path: Path):
    variables = {"question": "Did it rain?", "passages": [{"text": "It rained all day."}]}
    recorder = ReplayCacheChat(inner=FakeScoringModel(), cache_dir=tmp_path, mode="record")
    got = recorder.choose(qa_boolean.PROMPT, variables, qa_boolean.CHOICES)
    replay = ReplayCacheChat(inner=FakeScoringModel(), cache_dir=tmp_path, mode="replay")
    assert replay.choose(qa_boolean.PROMPT, variables, qa_boolean.CHOICES) == got
    assert replay.hits == 1
    with pytest.raises(ReplayMissError):
        replay.choose(qa_boolean.PROMPT, {**variables, "question": "Did it snow?"}, qa_boolean.CHOICES)


@pytest.mark.slow
def test_real_model_says_no_to_the_tolland_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The issue's example on the local 1.5B model: "No", citing the rejection. "approve" against
    "rejected" is a hard conflict (answered without the model); "back" is none, so the model's
    calibrated choice says no, and "reject" yes."""
    for name in [n for n in __import__("os").environ if n.startswith("ASSISTANT_")]:
        monkeypatch.delenv(name)
    (tmp_path / "tolland.txt").write_text(f"Tolland rejects harbour budget\n\n{TOLLAND}\n")
    a = Assistant(Settings(data_dir=tmp_path / "data"))
    a.ingest([tmp_path / "tolland.txt"])
    answer = a.ask("Did the Tolland council approve the harbour budget?")
    assert answer.answered and answer.answer.startswith("No, ")
    assert answer.citations[0].quote == TOLLAND
    assert [v.verdict for v in answer.verdicts] == ["supported"]
    assert answer.choice["conflict"].startswith("'approve' where the evidence says 'rejected'")
    backed = a.ask("Did the Tolland council back the harbour budget?")
    assert backed.answer.startswith("No, ") and "conflict" not in backed.choice
    assert backed.choice["polarity_margin"] < 0 and backed.citations[0].quote == TOLLAND
    assert a.ask("Did the Tolland council reject the harbour budget?").answer.startswith("Yes, ")


def test_a_later_part_that_points_back_retrieves_with_the_first_parts_words(tolland: Assistant):
    seen: list[str] = []

    class Spy:
        def search(self, query, k=None, **kw):
            seen.append(query)
            return tolland.retriever.search(query, k=k, **kw)

    tolland.chat.enqueue("The floating berth in Vellmar opened on Thursday [1].", "It holds 14 boats [1].")
    _run(ask_stream("When did the Vellmar berth open, and how many boats does it hold?", Spy(), tolland.chat, None, tolland.settings))
    assert seen[0] == "When did the Vellmar berth open?"
    assert seen[1] == "How many boats does it hold? When did the Vellmar berth open?"


NEWS_QUESTIONS = Path(__file__).parent / "data" / "news-yesno-sample.jsonl"


def test_the_packaged_floor_does_not_refuse_news_questions_the_sample_articles_answer(settings: Settings):
    """The floor is fitted on BoolQ's Wikipedia questions; short news questions are less similar to
    their article, and the word rule keeps them. 16 yes/no questions the sample articles answer
    (written for this test, never fitted on) must all reach the model."""
    import json

    from assistant.models import get_preset
    from tests.conftest import EXAMPLES

    a = Assistant(settings)  # the real embedder: the floor is a threshold on its similarities
    a.ingest([EXAMPLES])
    cal = qa_boolean.load_calibration(f"local/{Path(get_preset('1.5b').filename).stem}")
    cal = cal.for_embedder(a.retriever.embedder.name)
    assert cal.min_relevance is not None  # the packaged weights carry a floor fitted for this graph
    rows = [json.loads(line) for line in NEWS_QUESTIONS.read_text().splitlines() if line.strip()]
    found = {r["question"]: qa_boolean.question_relevance(r["question"], a.retriever, a.settings) for r in rows}
    assert [q for q, (rel, worded) in found.items() if not cal.relevant(rel, worded)] == []
    # similarity alone would have refused several of them: the reason for the word rule
    assert sum(not cal.relevant(rel) for rel, _ in found.values()) >= 3


def test_the_cited_sentence_comes_from_the_passage_closest_to_the_question():
    """Another passage may share more of the question's words; the one most similar to the question
    (dense similarity) is the question's own far more often on the fit rows (96% against 82%)."""
    from assistant.ingest import make_article, split_passages

    own = split_passages(make_article("The Tolland council rejected the harbour budget on Tuesday.", "own"))[0]
    other = split_passages(make_article("Did the council approve the budget? The Kelby council approved its budget.", "other"))[0]
    texts = [other.text, own.text]
    # words alone pick the other passage's sentence ...
    assert qa_boolean.evidence("Did the council approve the budget?", [other, own], texts)[0] == 1
    # ... the closest passage wins when similarities are known, and its best sentence is cited
    n, sentence = qa_boolean.evidence("Did the council approve the budget?", [other, own], texts, [0.41, 0.63])
    assert (n, sentence) == (2, "The Tolland council rejected the harbour budget on Tuesday.")
    # equal similarities: words decide, as without them
    assert qa_boolean.evidence("Did the council approve the budget?", [other, own], texts, [0.5, 0.5])[0] == 1


def test_a_passage_holding_more_of_the_question_words_wins_a_near_tie_in_similarity():
    """Closeness is the dense similarity plus QUESTION_WORD_WEIGHT per question content word the
    passage holds (fitted on the answered fit rows: own passage cited 96.7% -> 97.3%)."""
    from assistant.ingest import make_article, split_passages

    question = "Did the Tolland council reject the harbour budget?"
    own = split_passages(make_article("The Tolland council rejected the harbour budget on Tuesday.", "own"))[0]
    other = split_passages(make_article("The Kelby council met on Tuesday to discuss road repairs.", "other"))[0]
    texts = [other.text, own.text]
    # a little less similar, but it holds the question's harbour, budget and Tolland
    assert qa_boolean.evidence(question, [other, own], texts, [0.60, 0.55])[0] == 2
    # similarity still decides when the gap is wider than the words make up
    assert qa_boolean.evidence(question, [other, own], texts, [0.80, 0.55])[0] == 1


def test_a_merged_answer_keeps_the_numbers_its_first_part_streamed_with():
    """The first part streams as written ("… [3]."): the merged answer must read the same, and the
    second part's passages are numbered after it (a review found the stream said [3], the answer [1])."""
    from assistant.types import AnswerCitation

    def answer(text: str, *cited: tuple[int, str]) -> Answer:
        return Answer(question="q", answer=text, answered=True,
                      citations=[AnswerCitation(n=n, passage_id=f"{a}#p0", article_id=a) for n, a in cited])

    first = answer("No, the article says: The study was published on Friday [3].", (3, "study"))
    second = answer("The protest was on Monday [1]. The study came out late [2].", (1, "protest"), (2, "study"))
    texts, merged = qa_boolean._merge("q1, and q2?", [("q1", first), ("q2", second)])
    assert texts[0] == first.answer  # what was streamed
    assert merged.answer == f"{first.answer} The protest was on Monday [4]. The study came out late [3]."
    assert [(c.n, c.article_id) for c in merged.citations] == [(3, "study"), (4, "protest")]
    # an unanswered first part streamed nothing: numbering starts at 1
    none = Answer(question="q", answer=qa_boolean.NOT_STATED, answered=False)
    _, merged = qa_boolean._merge("q1, and q2?", [("q1", none), ("q2", second)])
    assert [(c.n, c.article_id) for c in merged.citations] == [(1, "protest"), (2, "study")]
