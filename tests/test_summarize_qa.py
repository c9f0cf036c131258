"""Cited summaries and answers with a scripted chat model over the real Chroma store."""

from __future__ import annotations

import json

import pytest

from assistant.service import Assistant
from assistant.settings import LLMSettings
from assistant.summarize import render_text
from assistant.testing import FakeChatModel
from tests.conftest import EXAMPLES, SEED


def _no_model_check(settings):
    """These tests are about the code's checks: the support scorer (the local model) stays off."""
    from assistant.settings import SupportSettings

    return settings.model_copy(update={"support": SupportSettings(enabled=False)})


@pytest.fixture
def fake() -> FakeChatModel:
    return FakeChatModel()


@pytest.fixture
def helper(settings, embedder, fake) -> Assistant:
    a = Assistant(_no_model_check(settings), embedder=embedder, chat=fake)
    a.ingest([SEED, EXAMPLES])
    return a


def _draft(*sentences: tuple[str, list[str], str]) -> str:
    return json.dumps({"sentences": [{"text": t, "passage_ids": ids, "quote": q} for t, ids, q in sentences]})


def test_summary_sentences_are_verified(helper, fake):
    fake.enqueue(
        _draft(
            ("Vellmar council approved a 42 million euro harbour budget.", ["P1"], "harbour renewal budget of 42 million euros"),
            ("The vote passed by 25 votes to 12.", ["P1"], "The vote passed by 19 votes to 12."),
            ("Okafor voted against the plan.", [], ""),
            ("The mayor resigned.", ["P9"], "The mayor resigned"),
        )
    )
    summary = helper.summarize(article_id="budget-approved", sentences=4, strategy="abstractive")
    verdicts = [s.verdict for s in summary.sentences]
    assert verdicts == ["supported", "unsupported", "unsupported", "unsupported"]
    assert "25" in summary.sentences[1].reason
    passage_ids = {p.id for p in helper.store.get_passages("budget-approved")}
    assert summary.sentences[0].citations[0].passage_id in passage_ids  # alias P1 mapped back
    # The article is delimited data inside the prompt, and the ids the model sees are short aliases.
    prompt = fake.history[0][-1].content
    assert '<passage id="P1">' in prompt and "42 million euros" in prompt
    text = render_text(summary)
    assert "[1]" in text and "UNSUPPORTED" in text


def test_summary_retries_then_falls_back_to_labelled_extractive(helper, fake):
    fake.enqueue("not json", "{\"sentences\": 3}", "still not json")
    summary = helper.summarize(article_id="budget-approved", sentences=3, strategy="abstractive")
    assert summary.extractive_fallback
    assert "extractive" in summary.model
    assert len(fake.history) == 3  # first try + settings.llm.retries (2)
    assert "could not be used" in fake.history[1][-1].content
    assert summary.sentences and all(s.verdict == "supported" for s in summary.sentences)


def test_long_article_is_summarised_by_section_then_merged(settings, embedder, fake, tmp_path):
    settings = settings.model_copy(update={"llm": LLMSettings(n_ctx=1400, max_tokens=300)})
    a = Assistant(_no_model_check(settings), embedder=embedder, chat=fake)
    paragraphs = [f"Paragraph {i}: the council met on day {i} and approved item {i} of the harbour plan." for i in range(120)]
    path = tmp_path / "long.txt"
    path.write_text("Long story\n\n" + "\n\n".join(paragraphs))
    a.ingest([path])
    passages = a.store.get_passages("long")
    from assistant.summarize import _sections, section_budget

    n_sections = len(_sections(passages, section_budget(settings)))
    assert n_sections >= 2
    for _ in range(n_sections):
        fake.enqueue(_draft(("The council approved item 3 of the harbour plan.", ["P1"], "approved item 3 of the harbour plan")))
    fake.enqueue(_draft(("The council approved item 3 of the harbour plan.", ["P1"], "approved item 3 of the harbour plan")))
    summary = a.summarize(article_id="long", sentences=3, strategy="abstractive")
    assert len(fake.history) == n_sections + 1
    assert "<section" in fake.history[-1][-1].content or "section" in fake.history[-1][-1].content.lower()
    assert not summary.extractive_fallback
    for messages in fake.history:
        assert sum(len(m.content) for m in messages) / 4 < settings.llm.n_ctx


def test_ask_maps_numbered_citations_and_verifies(helper, fake):
    fake.enqueue("The floating berth has room for 14 boats [1]. It cost 900,000 euros [1].")
    answer = helper.ask("How many boats fit in the floating berth?")
    assert answer.answered
    assert answer.citations[0].n == 1
    assert answer.citations[0].article_id == "floating-berth-opens"
    assert [v.verdict for v in answer.verdicts] == ["supported", "unsupported"]
    prompt = fake.history[0][-1].content
    assert '<passage n="1"' in prompt and "<question>" in prompt


def test_ask_streams_tokens_before_the_answer(helper, fake):
    fake.enqueue("Okafor leads the Green group [1].")
    items = list(helper.ask_stream("Who leads the Green group?"))
    tokens = [i for i in items if isinstance(i, str)]
    assert len(tokens) > 1 and "".join(tokens).startswith("Okafor")
    assert items[-1].answer.startswith("Okafor")


def test_ask_without_relevant_passages_says_so_without_calling_model(settings, fake):
    # The relevance threshold is calibrated for MiniLM, so this test uses the real model.
    a = Assistant(_no_model_check(settings), chat=fake)
    a.ingest([EXAMPLES])
    answer = a.ask("What is the boiling point of liquid nitrogen in kelvin?")
    assert not answer.answered
    assert "do not answer" in answer.answer
    assert fake.history == []


def test_ask_on_an_empty_archive_says_nothing_is_stored_and_how_to_ingest(settings, embedder, fake):
    from assistant.errors import EmptyArchiveError

    a = Assistant(_no_model_check(settings), embedder=embedder, chat=fake)
    with pytest.raises(EmptyArchiveError) as raised:
        a.ask("Who floated a three-way meeting?")
    message = raised.value.user_message()
    assert "no articles are stored" in message and "assistant ingest PATH" in message
    assert "do not answer" not in message
    assert raised.value.exit_code == 1
    assert fake.history == []


def test_ask_model_says_no_answer(helper, fake):
    from assistant.prompts import NO_ANSWER

    fake.enqueue(NO_ANSWER)
    answer = helper.ask("Who won the harbour rowing race?")
    assert not answer.answered and answer.citations == []


@pytest.mark.parametrize(
    "reply",
    ["The mayor of Tolland is not mentioned in the given passages.", "The passages do not mention who the mayor is."],
)
def test_ask_model_says_no_answer_in_other_words(helper, fake, reply):
    # the 1.5B model's own wording of a refusal (seen live): the refusal, not an unsupported claim
    fake.enqueue(reply)
    answer = helper.ask("Who is the mayor of Tolland?")
    assert not answer.answered and answer.citations == [] and answer.verdicts == []


def test_an_answer_that_says_something_is_unmentioned_elsewhere_is_checked(helper, fake):
    fake.enqueue("The vote passed by 19 votes to 12 [1]. The salt marsh is not mentioned in the passages.")
    answer = helper.ask("What did the council decide?")
    assert answer.answered and len(answer.verdicts) == 2
    # the checked sentence is shown without its marker and without the gap it leaves ("12 .")
    assert answer.verdicts[0].text == "The vote passed by 19 votes to 12."


@pytest.mark.parametrize(
    "reply",
    [
        "The council approved the harbour plan, though its cost is not stated in the text.",
        "The passages do not mention the mayor by name but the council voted 19 to 12.",
    ],
)
def test_a_one_sentence_answer_with_a_claim_besides_the_gap_is_not_taken_for_a_refusal(helper, fake, reply):
    # a real statement joined to "X is not stated": it was swallowed as "The articles do not answer"
    fake.enqueue(reply)
    answer = helper.ask("What did the council decide?")
    assert answer.answered and len(answer.verdicts) == 1, answer.answer


def test_a_marker_between_words_leaves_one_space(helper, fake):
    fake.enqueue("The vote [1]passed by 19 votes to 12 [1][2].")
    answer = helper.ask("What did the council decide?")
    assert answer.verdicts[0].text == "The vote passed by 19 votes to 12."


def test_paraphrased_quote_is_realigned_and_repeats_dropped(helper, fake):
    fake.enqueue(
        _draft(
            ("The vote passed by 19 votes to 12.", ["P1"], "the vote was passed 19-12"),
            ("The vote passed by 19 votes to 12 in the council.", ["P1"], "The vote passed by 19 votes to 12."),
            ("Okafor said the council had not studied the salt marsh.", ["P1"], "Okafor had concerns"),
        )
    )
    summary = helper.summarize(article_id="budget-approved", sentences=3, strategy="abstractive")
    assert len(summary.sentences) == 2  # the near-repeat is dropped
    first = summary.sentences[0]
    assert first.verdict == "supported"
    assert first.citations[0].quote == "The vote passed by 19 votes to 12."
    assert "re-aligned by code" in first.reason
    # A realigned quote still has to carry the sentence's names and numbers.
    fake.enqueue(_draft(("The vote passed by 21 votes to 12.", ["P1"], "passed narrowly")))
    again = helper.summarize(article_id="budget-approved", sentences=1, strategy="abstractive")
    assert again.sentences[0].verdict == "unsupported" and "21" in again.sentences[0].reason


def test_answer_prompt_holds_question_relevant_excerpts_within_budget(helper, fake):
    from assistant.qa import excerpt
    from assistant.tokens import count_tokens

    passage = next(p for p in helper.store.get_passages("seed-article-putin-trump") if "Witkoff" in p.text)
    short = excerpt("Who floated the three-way meet?", passage, 60)
    assert "Witkoff" in short
    assert count_tokens(short) <= 60 + 5
    fake.enqueue("Steve Witkoff floated it [1].")
    helper.ask("Who floated a three-way meeting?")
    prompt = fake.history[-1][-1].content
    assert prompt.count("<passage n=") <= helper.settings.retrieve.answer_passages
    assert "Witkoff" in prompt


def test_excerpt_picks_the_sentence_with_the_rare_question_word_and_skips_repeats():
    from assistant.qa import excerpt
    from assistant.types import Passage
    from assistant.verify import split_sentences

    text = (
        "Floating berth opens for Vellmar fishing fleet. "
        "A temporary floating berth for the fleet opened on Thursday, two days before the deadline. "
        "The berth has room for 14 boats and cost 380,000 euros, paid from the harbour budget."
    )
    passage = Passage(id="b#p0", article_id="b", index=0, text=text, start=0, end=len(text), tokens=50)
    # "berth" is in every sentence; "cost" names the one that answers (a 30-token budget holds one).
    assert excerpt("How much did the floating berth cost?", passage, 30) == (
        "The berth has room for 14 boats and cost 380,000 euros, paid from the harbour budget."
    )
    # "protested" meets "protest" and "berths" meets "berth" (a light stem).
    said = "About 200 fishermen gathered to protest on Monday."
    other = Passage(id="h#p0", article_id="h", index=0, text=said, start=0, end=len(said), tokens=12)
    assert "200" in excerpt("How many fishermen protested?", other, 30)
    # A sentence already shown from an overlapping passage is not shown again.
    shown: set[str] = set()
    first = excerpt("How much did the berth cost?", passage, 30, shown)
    second = excerpt("How much did the berth cost?", passage, 30, shown)
    assert first and first not in second
    # A passage whose every sentence was shown has no excerpt (and is left out of the prompt).
    everything = {text[a:b].strip() for a, b in split_sentences(text)}
    assert excerpt("How much did the berth cost?", passage, 200, everything) == ""


def test_uncited_answer_sentence_gets_the_passage_that_says_it(helper, fake):
    fake.enqueue("The floating berth has room for 14 boats. The mayor flew to the moon.")
    answer = helper.ask("How many boats fit in the floating berth?")
    first, second = answer.verdicts
    assert first.verdict == "supported" and first.citations[0].passage_id.startswith("floating-berth-opens")
    assert second.verdict == "unsupported" and second.reason == "no citation"


def test_citation_to_a_passage_not_given_is_ignored_beside_real_ones(helper, fake):
    fake.enqueue("The floating berth has room for 14 boats [1][7].")
    answer = helper.ask("How many boats fit in the floating berth?")
    (verdict,) = answer.verdicts
    assert verdict.verdict == "supported" and "[7]" in verdict.reason
    assert [c.n for c in answer.citations] == [1]


def test_warm_up_prefills_the_answer_and_fuse_prompts(settings, embedder, fake):
    fuse = FakeChatModel().enqueue("")
    fake.enqueue("")
    Assistant(settings, embedder=embedder, chat=fake, fuse_chat=fuse).warm_up()
    (messages,) = fake.history
    assert "numbered news passages" in messages[0].content
    assert fake.calls[0].get("max_tokens") == 1
    # The fuse model reads its system text and worked examples into its own context.
    (fused,) = fuse.history
    assert "highlights" in fused[0].content and len(fused) > 2
    assert fuse.calls[0].get("max_tokens") == 1
