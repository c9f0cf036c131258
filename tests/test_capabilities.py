"""One model interface: every model declares its capabilities, and the code reads the flags."""

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
    LlamaCppChat,
    ReplayCacheChat,
    capabilities,
    complete_json,
    require,
)
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.support.logprobs import LlamaLogprobs, OpenAILogprobs, ReplayLogprobs
from assistant.support.scorer import SupportScorer
from assistant.testing import FakeChatModel, FakeLogprobs

MESSAGES = [HumanMessage(content="Say something.")]


class Fact(BaseModel):
    subject: str


class PlainChat(FakeChatModel):
    """A chat model that neither streams nor takes a JSON schema (e.g. a bare completion endpoint)."""

    capabilities: ClassVar[Capabilities] = Capabilities(chat=True)

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        raise AssertionError("a model that does not stream is never asked to")


def test_each_backend_declares_what_it_can_do(tmp_path) -> None:
    local = LlamaCppChat(model_path="m.gguf")
    assert capabilities(local) == Capabilities(chat=True, json_schema=True, streaming=True)
    assert capabilities(local.bind(max_tokens=5)) == capabilities(local)  # through bind()
    # The replay cache answers for what its inner model can do.
    assert capabilities(ReplayCacheChat(inner=PlainChat(), cache_dir=tmp_path)) == Capabilities(chat=True)
    for scorer in (LlamaLogprobs("m.gguf"), OpenAILogprobs(None, None, "m"), FakeLogprobs()):
        assert capabilities(scorer) == Capabilities(token_logprobs=True)
        assert capabilities(ReplayLogprobs(scorer, tmp_path)).token_logprobs
    assert capabilities(object()) == Capabilities()


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


def test_a_model_without_token_scores_cannot_back_the_support_scorer() -> None:
    with pytest.raises(LLMError) as err:
        SupportScorer(PlainChat())  # type: ignore[arg-type]
    assert "token logprobs" in str(err.value) and err.value.help
    with pytest.raises(LLMError):
        require(FakeLogprobs(), "chat", "an answer")


def test_yes_no_questions_need_token_scores_else_free_text(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    scored = Assistant(settings, chat=FakeChatModel(), support=SupportScorer(FakeLogprobs()))
    assert isinstance(scored.answer_choices, FakeLogprobs)

    class NoScores(FakeLogprobs):
        capabilities = Capabilities()

    unscored = Assistant(settings, chat=FakeChatModel(), support=SupportScorer(FakeLogprobs()))
    unscored._support.model = NoScores()  # a scorer whose model lost the capability
    assert unscored.answer_choices is None
