"""The OpenAI-compatible chat model: OpenAI, vLLM, Ollama or llama.cpp's server (``base_url`` ends in /v1).

Imported only when that backend is configured: langchain-openai takes seconds to import.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Literal

import openai
from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI
from pydantic import Field, SecretStr

from assistant.errors import LLMError
from assistant.llm_base import (
    JSON_SCHEMA_KW,
    Capabilities,
    defused_messages,
    friendly_endpoint_errors,
    schema_dict,
)


def _format_rejected(exc: Exception) -> bool:
    """Whether a server error means "I do not take this response_format" (so try the next one)."""
    text = str(exc).lower()
    if "context" in text:
        return False  # an overflow fails the same way in every format
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return True
    # llama-cpp-python's server answers its own validation error with a 500.
    return isinstance(exc, openai.APIStatusError) and (
        "response_format" in text or "json_schema" in text
    )


def _friendly_openai_errors(chat: Any) -> Any:
    return friendly_endpoint_errors(chat.openai_api_base, chat.model_name)


# The response_format each endpoint accepted, so only the first call per server probes.
_JSON_MODE_BY_URL: dict[str, str] = {}


class OpenAICompatChat(ChatOpenAI):
    """ChatOpenAI that understands ``json_schema=`` on any OpenAI-compatible server."""

    capabilities: ClassVar[Capabilities] = Capabilities(chat=True, json_schema=True, streaming=True)
    json_mode: Literal["auto", "json_schema", "json_object", "off"] = Field(
        "auto",
        description="How a JSON schema is sent; auto: json_schema, then json_object",
    )

    def _formats(self, schema: dict | None) -> list[tuple[str, dict | None]]:
        if schema is None:
            return [("none", None)]
        json_schema = {
            "type": "json_schema",
            "json_schema": {
                "name": schema.get("title", "output"),
                "schema": schema,
                "strict": False,
            },
        }
        # llama-cpp-python's server only knows {"type": "json_object", "schema": ...}.
        json_object = {"type": "json_object", "schema": schema}
        mode = self.json_mode
        if mode == "auto":
            mode = _JSON_MODE_BY_URL.get(str(self.openai_api_base), "auto")
        if mode == "off":
            return [("off", None)]
        if mode == "json_object":
            return [("json_object", json_object)]
        if mode == "json_schema":
            return [("json_schema", json_schema)]
        return [("json_schema", json_schema), ("json_object", json_object)]

    def _with_format(self, kwargs: dict[str, Any], fmt: dict | None) -> dict[str, Any]:
        if fmt is None:
            return kwargs
        # Sent as extra_body so LangChain does not switch to its beta parse() path; a
        # per-call extra_body replaces the instance's, so both are merged here.
        extra = {
            **(self.extra_body or {}),
            **(kwargs.get("extra_body") or {}),
            "response_format": fmt,
        }
        return {**kwargs, "extra_body": extra}

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
        raw = kwargs.pop(JSON_SCHEMA_KW, None)
        formats = self._formats(schema_dict(raw) if raw is not None else None)
        for i, (mode, fmt) in enumerate(formats):
            try:
                with _friendly_openai_errors(self):
                    result = super()._generate(
                        defused_messages(messages), stop, run_manager, **self._with_format(kwargs, fmt)
                    )
            except openai.APIStatusError as exc:
                if i + 1 == len(formats) or not _format_rejected(exc):
                    raise
                continue
            if len(formats) > 1:
                _JSON_MODE_BY_URL[str(self.openai_api_base)] = mode
            return result
        raise AssertionError("unreachable")

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
        raw = kwargs.pop(JSON_SCHEMA_KW, None)
        formats = self._formats(schema_dict(raw) if raw is not None else None)
        for i, (mode, fmt) in enumerate(formats):
            started = False
            try:
                with _friendly_openai_errors(self):
                    for chunk in super()._stream(
                        defused_messages(messages), stop, run_manager, **self._with_format(kwargs, fmt)
                    ):
                        started = True
                        yield chunk
            except openai.APIStatusError as exc:
                if started or i + 1 == len(formats) or not _format_rejected(exc):
                    raise
                continue
            if len(formats) > 1:
                _JSON_MODE_BY_URL[str(self.openai_api_base)] = mode
            return


def openai_chat(
    base_url: str | None,
    api_key: str | SecretStr | None,
    model: str,
    temperature: float = 0.0,
    max_tokens: int | None = 512,
    **kwargs: Any,
) -> BaseChatModel:
    """A ChatOpenAI for OpenAI, vLLM, Ollama or llama.cpp's server (``base_url`` ends in /v1)."""
    if api_key is None and base_url is None and not os.environ.get("OPENAI_API_KEY"):
        raise LLMError(
            "the openai backend needs an endpoint or a key",
            "Set ASSISTANT_LLM__BASE_URL (and ASSISTANT_LLM__API_KEY if the server wants one), "
            "or use ASSISTANT_LLM__BACKEND=local after `make models`.",
        )
    if isinstance(api_key, SecretStr):
        api_key = api_key.get_secret_value() or None
    # Local servers ignore the key, but the openai client refuses to start without one.
    key = api_key or os.environ.get("OPENAI_API_KEY") or "not-needed"
    if base_url and "api.openai.com" not in base_url and max_tokens is not None:
        # LangChain sends only max_completion_tokens, which llama-cpp-python's server (and
        # older Ollama) ignore, generating to the end of the context; send both there.
        kwargs["extra_body"] = {"max_tokens": max_tokens, **(kwargs.get("extra_body") or {})}
    return OpenAICompatChat(
        base_url=base_url,
        api_key=key,
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        **kwargs,
    )


