"""Fakes for tests (never used by the product): a scripted chat model, and one that also scores tokens.

Both are ``ChatModel``s declaring their capabilities like the real models, so the code under test
reads the same flags: ``FakeChatModel`` only chats (asked for token scores it raises the
``require()`` error), ``FakeScoringModel`` chats from the same script and scores deterministically.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from assistant.errors import LLMError
from assistant.llm_base import Capabilities, ChatModel, RunManager, Stop, model_name, word_chunks
from assistant.llm_scores import TokenScores


class FakeChatModel(ChatModel):
    """A scripted chat model for tests: ``enqueue`` replies, read ``history`` and ``calls``."""

    responses: list[str] = Field(default_factory=list)
    history: list[list[BaseMessage]] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)

    capabilities: ClassVar[Capabilities] = Capabilities(chat=True, json_schema=True, streaming=True)

    @property
    def _llm_type(self) -> str:
        return "fake"

    def record_name(self) -> str:
        """Its ``name``, else "fake"."""
        return self.name or "fake"

    def cache_identity(self) -> dict[str, Any]:
        """A scripted model's replies depend on nothing but the script."""
        return {"backend": "fake"}

    def enqueue(self, *texts: str) -> FakeChatModel:
        """Queue replies, returned in order by later calls."""
        self.responses.extend(texts)
        return self

    def _next(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> str:
        self.history.append(list(messages))
        self.calls.append({"stop": stop, **kwargs})
        if not self.responses:
            raise LLMError(
                "FakeChatModel has no queued response", "Call enqueue() in the test first."
            )
        return self.responses.pop(0)

    def _reply(self, messages: list[BaseMessage], stop: Stop, run_manager: RunManager, kwargs: dict[str, Any]) -> ChatResult:
        text = self._next(messages, stop, kwargs)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _reply_stream(
        self, messages: list[BaseMessage], stop: Stop, run_manager: RunManager, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        text = self._next(messages, stop, kwargs)
        for piece in word_chunks(text) or [""]:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


class FakeScoringModel(FakeChatModel):
    """A FakeChatModel that also scores tokens, deterministically: a word of the text absent from the
    source is improbable there. ``scored`` lists its scoring calls; ``scripted`` labels answer ``choose``."""

    scored: list[tuple[str, str]] = Field(default_factory=list)
    scripted: list[str] = Field(default_factory=list)

    capabilities: ClassVar[Capabilities] = Capabilities(
        chat=True, json_schema=True, streaming=True, token_logprobs=True
    )

    def score(self, source: str, text: str) -> TokenScores:
        """Each word: likely (-0.5) when all its word characters occur in ``source``, else unlikely (-9)."""
        self.scored.append((source, text))
        known = {w.lower() for w in re.findall(r"\w+", source)}
        spans, cond, uncond, best, expected = [], [], [], [], []
        for m in re.finditer(r"\s*\S+", text):
            parts = re.findall(r"\w+", m.group().lower())
            spans.append((m.start(), m.end()))
            hit = all(p in known for p in parts)
            cond.append(-0.5 if hit else -9.0)
            uncond.append(-4.0)
            best.append(-0.5)
            expected.append(m.group() if hit else " …")
        return TokenScores(
            text=text, spans=spans, cond=cond, uncond=uncond, best=best, expected=expected, model=model_name(self)
        )

    def judge(self, source: str, text: str) -> float:
        """3, less 4 for each word the source does not have."""
        scores = self.score(source, text)
        return 3.0 - 4.0 * sum(c < -5 for c in scores.cond)

    def choose(self, prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> dict[str, float]:
        """A scripted choice: the next label of ``self.scripted`` if any; else, on the passage sharing
        most words with the question: the last label ("not") when it shares under half of them, the
        second ("no") when it says "rejected", "denied", "not" …, the first ("yes") otherwise."""
        self.scored.append((prompt, str(variables.get("question", ""))))
        labels = list(choices)
        if self.scripted:
            pick = self.scripted.pop(0)
        else:
            q = {w for w in re.findall(r"[a-z]{4,}", str(variables.get("question", "")).lower())}
            texts = [str(p.get("text", "")).lower() for p in variables.get("passages", [])] or [""]
            text = max(texts, key=lambda t: len(q & set(re.findall(r"[a-z]{4,}", t))))  # the passage most about it
            shared = q & set(re.findall(r"[a-z]{4,}", text))
            if len(shared) < max(1, len(q) // 2):
                pick = labels[-1]
            elif re.search(r"\b(rejected|denied|not|never|refused|failed)\b", text):
                pick = labels[1]
            else:
                pick = labels[0]
        return {label: (-0.1 if label == pick else -4.0) for label in labels}
