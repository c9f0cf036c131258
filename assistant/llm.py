"""The model seam: the configured model (``get_chat_model``), streaming and structured output.

Every model is a ``ChatModel`` (``llm_base``: a LangChain ``BaseChatModel`` that declares its
``Capabilities`` and, when it can, scores tokens): the local GGUF (``llm_local``), an
OpenAI-compatible endpoint (``llm_openai``), the replay cache (``llm_replay``); the fakes for tests
are in ``assistant.testing``. Callers ask for JSON with ``complete_json`` (``json_schema=`` reaches
the models that take it), read replies with ``stream_reply`` and token scores with ``score``,
``judge`` and ``choose`` after ``require(model, "token_logprobs", ...)``. The names the rest of
the code uses are re-exported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from pydantic import BaseModel, ValidationError

from assistant.errors import LLMError, StructuredOutputError
from assistant.llm_base import (
    JSON_SCHEMA_KW,
    Capabilities,
    ChatModel,
    capabilities,
    defused_messages,
    friendly_endpoint_errors,
    model_name,
    require,
    schema_dict,
    to_chat_dicts,
)
from assistant.llm_llama import default_threads, load_llama
from assistant.llm_local import LlamaCppChat
from assistant.llm_replay import ReplayCacheChat, cache_path, read_entry, request_key, write_entry
from assistant.llm_scores import scoring_contexts
from assistant.models import gguf_path
from assistant.settings import CacheMode, Settings

__all__ = [
    "JSON_SCHEMA_KW",
    "Capabilities",
    "ChatModel",
    "LlamaCppChat",
    "ReplayCacheChat",
    "cache_path",
    "capabilities",
    "complete_json",
    "default_threads",
    "defused_messages",
    "friendly_endpoint_errors",
    "get_chat_model",
    "load_llama",
    "model_name",
    "parse_json_output",
    "read_entry",
    "request_key",
    "require",
    "schema_dict",
    "stream_reply",
    "to_chat_dicts",
    "write_entry",
]


def get_chat_model(
    settings: Settings,
    cache: CacheMode | None = None,
    purpose: Literal["chat", "fuse"] = "chat",
    cache_dir: Path | None = None,
) -> ChatModel:
    """The configured model (it chats and, local or OpenAI-compatible, scores tokens), wrapped in the
    replay cache (``cache_dir``, default the settings') unless its mode is off.

    ``purpose="fuse"`` is the extract-then-fuse writer: on the local backend it gets its own
    (smaller) context, so its prompt prefix stays in its KV cache. That does not change what greedy
    decoding writes, so it shares the chat model's cache identity.
    """
    llm = settings.llm
    if llm.backend == "local":
        fuse = purpose == "fuse"
        # The file is only opened on first use, so replay mode works without the model.
        chat: ChatModel = LlamaCppChat(
            model_path=str(gguf_path(llm.preset, settings.model_dir)),
            n_ctx=settings.summary.fuse_n_ctx if fuse else llm.n_ctx,
            scoring_contexts=scoring_contexts(settings),
            n_threads=llm.n_threads,
            temperature=llm.temperature,
            max_tokens=llm.max_tokens,
        )
    else:
        try:  # lazy: langchain-openai takes seconds to import; only this backend needs it
            from assistant.llm_openai import openai_chat
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise LLMError("langchain-openai is not installed", "Run `pip install langchain-openai`.") from exc
        chat = openai_chat(llm.base_url, llm.api_key, llm.model, llm.temperature, llm.max_tokens)
    mode = cache or llm.cache
    if mode == "off":
        return chat
    return ReplayCacheChat(inner=chat, cache_dir=cache_dir or settings.llm_cache_dir, mode=mode)


def stream_reply(chat: BaseChatModel, messages: Sequence[BaseMessage], **kwargs: object) -> Iterator[str]:
    """The reply's text as it is generated; in one piece from a model that does not stream."""
    require(chat, "chat", "a reply")
    if not capabilities(chat).streaming:
        text = chat.invoke(list(messages), **kwargs).text
        if text:
            yield text
        return
    for chunk in chat.stream(list(messages), **kwargs):
        text = chunk.text if isinstance(chunk.text, str) else str(chunk.content)
        if text:
            yield text


# --------------------------------------------------------------------------- structured output

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_json_output(text: str, schema: type[BaseModel]) -> BaseModel:
    """Validate a model reply against ``schema``; tolerates code fences and chatter."""
    body = text.strip()
    if fenced := _FENCE.match(body):
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except json.JSONDecodeError as first:
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise ValueError(f"no JSON object in the reply ({first.msg})") from None
        try:
            data = json.loads(body[start : end + 1])
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc.msg} at position {exc.pos}") from None
    return schema.model_validate(data)


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        lines = [
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:8]
        ]
        return "the JSON does not match the schema: " + "; ".join(lines)
    return str(exc)


def complete_json(
    chat: BaseChatModel, messages: Sequence[BaseMessage], schema: type[BaseModel], retries: int = 2
) -> BaseModel:
    """Ask for JSON matching ``schema``; re-ask with the error at most ``retries`` times."""
    require(chat, "chat", "structured output")
    conversation = list(messages)
    # A model that constrains its output to a schema gets it; any other reads the format from the prompt.
    constrain = {JSON_SCHEMA_KW: schema.model_json_schema()} if capabilities(chat).json_schema else {}
    attempts: list[str] = []
    error = ""
    for _ in range(retries + 1):
        reply = chat.invoke(conversation, **constrain)
        text = reply.text
        attempts.append(text)
        try:
            return parse_json_output(text, schema)
        except (ValueError, ValidationError) as exc:
            error = _describe(exc)
        conversation = [
            *conversation,
            AIMessage(content=text),
            HumanMessage(
                content=(
                    f"Your reply could not be used: {error}\n"
                    "Reply again with only one JSON object that follows the requested format, "
                    "and no other text."
                )
            ),
        ]
    raise StructuredOutputError(
        f"{model_name(chat)} gave no valid {schema.__name__} in {len(attempts)} attempts; "
        f"last error: {error}",
        attempts=attempts,
    )
