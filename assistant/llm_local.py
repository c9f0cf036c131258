"""The local model: a GGUF run in-process by llama-cpp-python (greedy, fixed seed), chat and token scores.

The weights are loaded once per process (``llm_llama.load_llama``); token scores (``score``,
``judge``, ``choose``) come from the process's scoring engine for the same file
(``llm_llama.LlamaScorer``), which reads the loaded model through contexts of its own.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from assistant.errors import LLMError
from assistant.llm_base import (
    JSON_SCHEMA_KW,
    Capabilities,
    ChatModel,
    RunManager,
    Stop,
    defused_messages,
    model_name,
    schema_dict,
    to_chat_dicts,
    token_usage,
)
from assistant.llm_llama import LlamaScorer, load_llama
from assistant.llm_scores import ScoringContexts

_MIN_ROOM = 128  # fewest tokens worth generating; a prompt leaving less is an error


class LlamaCppChat(ChatModel):
    """A GGUF model run in-process by llama-cpp-python (greedy, fixed seed): it chats and scores tokens."""

    model_path: str = Field(description="Path of the GGUF file")
    model_id: str | None = Field(
        None, description="Name used in records; default local/<file stem>"
    )
    n_ctx: int = 4096
    scoring_contexts: ScoringContexts | None = Field(
        None, description="Context sizes of the token scorer (llm_scores.scoring_contexts); None = the defaults' within n_ctx"
    )
    n_threads: int | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    chat_format: str | None = Field(
        None, description="llama-cpp chat format; None = the GGUF's own template"
    )

    capabilities: ClassVar[Capabilities] = Capabilities(
        chat=True, json_schema=True, streaming=True, token_logprobs=True
    )

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    def record_name(self) -> str:
        """The name in output records: ``model_id``, else local/<file stem>."""
        return self.model_id or f"local/{Path(self.model_path).stem}"

    def cache_identity(self) -> dict[str, Any]:
        """What decides this model's replies, for replay-cache keys."""
        return {"backend": "local", "temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model": model_name(self),
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
            "n_ctx": self.n_ctx,
        }

    def _llama(self) -> tuple[Any, threading.Lock]:
        return load_llama(self.model_path, self.n_ctx, self.n_threads, self.chat_format)

    def scoring_engine(self) -> LlamaScorer:
        """The process's token-scoring engine for this file, context sizes and thread count."""
        return LlamaScorer.shared(
            self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads, contexts=self.scoring_contexts
        )

    def _params(self, stop: list[str] | None, kwargs: dict[str, Any], llama: Any) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "seed": self.seed,
        }
        schema = kwargs.pop(JSON_SCHEMA_KW, None)
        accepted = inspect.signature(llama.create_chat_completion).parameters
        # Extra llama-cpp options pass through; LangChain's own bookkeeping kwargs do not.
        params.update(
            {k: v for k, v in kwargs.items() if k in accepted and k not in {"messages", "stream"}}
        )
        if stop:
            params["stop"] = stop
        if schema is not None:
            params["response_format"] = {"type": "json_object", "schema": schema_dict(schema)}
        return params

    def _check_fits(self, llama: Any, messages: list[dict[str, str]], max_tokens: int) -> None:
        # llama-cpp clamps max_tokens to the room left but fails cryptically on a prompt that
        # leaves none; count first (plus ~8 template tokens a message) so the user gets a fix.
        text = "".join(m["content"] for m in messages)
        n_prompt = len(llama.tokenize(text.encode(), add_bos=False, special=False)) + 8 * len(
            messages
        )
        if n_prompt + min(max_tokens, _MIN_ROOM) > self.n_ctx:
            raise LLMError(
                f"prompt of ~{n_prompt} tokens leaves no room to answer in n_ctx={self.n_ctx}",
                "Use fewer or shorter passages, or raise ASSISTANT_LLM__N_CTX.",
            )

    def _complete(
        self, llama: Any, chat: list[dict[str, str]], params: dict[str, Any], stream: bool
    ) -> Any:
        try:
            return llama.create_chat_completion(messages=chat, stream=stream, **params)
        except ValueError as exc:  # llama-cpp reports bad requests (overflow, bad grammar) this way
            raise LLMError(f"local model refused the request: {exc}") from exc

    def _reply(self, messages: list[BaseMessage], stop: Stop, run_manager: RunManager, kwargs: dict[str, Any]) -> ChatResult:
        llama, lock = self._llama()
        chat = to_chat_dicts(defused_messages(messages))
        params = self._params(stop, kwargs, llama)
        with lock:
            self._check_fits(llama, chat, params["max_tokens"])
            started = time.perf_counter()
            response = self._complete(llama, chat, params, stream=False)
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        message = AIMessage(
            content=choice["message"].get("content") or "",
            usage_metadata=token_usage(usage.get("prompt_tokens"), usage.get("completion_tokens")),
            response_metadata={
                "model_name": model_name(self),
                "finish_reason": choice.get("finish_reason"),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)], llm_output={"token_usage": usage}
        )

    def _reply_stream(
        self, messages: list[BaseMessage], stop: Stop, run_manager: RunManager, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        llama, lock = self._llama()
        chat = to_chat_dicts(defused_messages(messages))
        params = self._params(stop, kwargs, llama)
        # The lock is held while the caller iterates; closing the generator releases it.
        with lock:
            self._check_fits(llama, chat, params["max_tokens"])
            for part in self._complete(llama, chat, params, stream=True):
                choice = part["choices"][0]
                text = choice["delta"].get("content") or ""
                finish = choice.get("finish_reason")
                if not text and not finish:
                    continue
                meta = {"finish_reason": finish, "model_name": model_name(self)} if finish else {}
                chunk = ChatGenerationChunk(
                    message=AIMessageChunk(content=text, response_metadata=meta)
                )
                if run_manager and text:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk
