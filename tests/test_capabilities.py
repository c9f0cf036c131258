"""One model interface: every model declares its capabilities, one object chats and scores tokens,
and the code reads the flags."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from langchain_core.messages import HumanMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import BaseModel

from assistant.errors import LLMError
from assistant.fuse import stream_text
from assistant.llm import (
    Capabilities,
    ChatModel,
    LlamaCppChat,
    ReplayCacheChat,
    capabilities,
    complete_json,
    require,
)
from assistant.llm_openai import openai_chat
from assistant.qa_boolean import CHOICES, choice_scores
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.support.calibrate import Calibrated
from assistant.support.scorer import SupportScorer
from assistant.testing import FakeChatModel, FakeScoringModel

MESSAGES = [HumanMessage(content="Say something.")]


class Fact(BaseModel):
    subject: str


class PlainChat(FakeChatModel):
    """A chat model that neither streams nor takes a JSON schema (e.g. a bare completion endpoint)."""

    capabilities: ClassVar[Capabilities] = Capabilities(chat=True)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise AssertionError("a model that does not stream is never asked to")


ALL = Capabilities(chat=True, json_schema=True, streaming=True, token_logprobs=True)
SOURCE = "The council approved the harbour plan on Tuesday. The plan costs 12 million euros."


def test_each_backend_declares_what_it_can_do(tmp_path) -> None:
    local = LlamaCppChat(model_path="m.gguf")
    endpoint = openai_chat("http://127.0.0.1:9/v1", None, "m")
    for model in (local, endpoint, FakeScoringModel()):  # each one object that chats and scores tokens
        assert isinstance(model, ChatModel) and capabilities(model) == ALL
    assert capabilities(local.bind(max_tokens=5)) == capabilities(local)  # through bind()
    assert capabilities(FakeChatModel()) == Capabilities(chat=True, json_schema=True, streaming=True)
    # The replay cache answers for what its inner model can do.
    assert capabilities(ReplayCacheChat(inner=PlainChat(), cache_dir=tmp_path)) == Capabilities(chat=True)
    assert capabilities(ReplayCacheChat(inner=local, cache_dir=tmp_path)) == ALL
    assert capabilities(object()) == Capabilities()


def test_one_model_object_chats_and_scores_through_the_replay_cache(tmp_path) -> None:
    model = FakeScoringModel().enqueue("The plan costs 12 million euros [1].")
    recorder = ReplayCacheChat(inner=model, cache_dir=tmp_path, mode="record")
    reply = recorder.invoke(MESSAGES).text
    weights = Calibrated(features=["pmi_min"], mean=[-4.0], scale=[2.0], coef=[3.0], intercept=0.0)
    good, bad = SupportScorer(recorder, weights).score_many(
        SOURCE, ["The plan costs 12 million euros.", "The plan costs 95 million euros."]
    )
    assert reply == "The plan costs 12 million euros [1]." and model.history and model.scored
    assert good.supported and not bad.supported and bad.suspect_spans[0].text.strip() == "95"
    # One folder holds the object's replies and scores; replayed, the inner model is never asked.
    idle = FakeScoringModel()
    replay = ReplayCacheChat(inner=idle, cache_dir=tmp_path, mode="replay")
    assert replay.invoke(MESSAGES).text == reply
    again = SupportScorer(replay, weights).score_many(
        SOURCE, ["The plan costs 12 million euros.", "The plan costs 95 million euros."]
    )
    assert [r.probability for r in again] == [good.probability, bad.probability]
    assert not idle.history and not idle.scored and replay.misses == 0


def test_json_schema_reaches_only_models_that_take_it() -> None:
    constrained = FakeChatModel().enqueue('{"subject": "bridge"}')
    assert complete_json(constrained, MESSAGES, Fact) == Fact(subject="bridge")
    assert "json_schema" in constrained.calls[0]
    plain = PlainChat().enqueue('{"subject": "bridge"}')
    assert complete_json(plain, MESSAGES, Fact) == Fact(subject="bridge")
    assert "json_schema" not in plain.calls[0]  # the prompt asks for the format instead


def test_a_model_that_does_not_stream_replies_in_one_piece() -> None:
    streaming = FakeChatModel().enqueue("The bridge opened in May.")
    assert list(stream_text(streaming, MESSAGES, max_tokens=20)) == ["The ", "bridge ", "opened ", "in ", "May."]
    plain = PlainChat().enqueue("The bridge opened in May.")
    assert list(stream_text(plain, MESSAGES, max_tokens=20)) == ["The bridge opened in May."]


def test_a_chat_only_model_cannot_back_the_support_scorer(tmp_path) -> None:
    for chat_only in (FakeChatModel(), PlainChat(), ReplayCacheChat(inner=FakeChatModel(), cache_dir=tmp_path)):
        with pytest.raises(LLMError) as err:
            SupportScorer(chat_only)
        assert "cannot do token logprobs, which the support scorer needs" in str(err.value) and err.value.help
    # asked directly, its scoring methods raise the same error instead of guessing
    with pytest.raises(LLMError, match="cannot do token logprobs"):
        FakeChatModel().score(SOURCE, "The plan costs 12 million euros.")
    with pytest.raises(LLMError, match="cannot do token logprobs"):
        ReplayCacheChat(inner=FakeChatModel(), cache_dir=tmp_path, mode="record").judge(SOURCE, "The plan.")
    assert not list(tmp_path.rglob("*.json"))  # nothing recorded
    with pytest.raises(LLMError, match="cannot do token logprobs"):
        choice_scores(FakeChatModel(), "Did it rain?", ["It rained."])
    assert set(choice_scores(FakeScoringModel(), "Did it rain?", ["It rained."])) == set(CHOICES)
    with pytest.raises(LLMError):
        require(PlainChat(), "json_schema", "an answer")


def test_yes_no_questions_need_token_scores_else_free_text(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    scorer_model = FakeScoringModel()
    scored = Assistant(settings, chat=FakeChatModel(), support=SupportScorer(scorer_model))
    assert scored.answer_choices is scorer_model

    class NoScores(FakeScoringModel):
        capabilities: ClassVar[Capabilities] = Capabilities(chat=True)

    unscored = Assistant(settings, chat=FakeChatModel(), support=SupportScorer(FakeScoringModel()))
    unscored._support.model = NoScores()  # a scorer whose model lost the capability
    assert unscored.answer_choices is None


def test_the_configured_model_answers_yes_no_choices_itself(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path, llm={"cache": "replay"})
    configured = Assistant(settings)
    assert configured.answer_choices is configured.chat  # one object: chat and token scores
    assert capabilities(configured.chat) == ALL
