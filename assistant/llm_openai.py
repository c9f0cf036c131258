"""The OpenAI-compatible model: OpenAI, vLLM, Ollama or llama.cpp's server (``base_url`` ends in /v1).

It chats through LangChain's ``ChatOpenAI`` and scores tokens (``score``, ``judge``, ``choose``)
through ``OpenAIScorer``: prompt log-probabilities echoed by the completions API, first-token
log-probabilities of chat completions. Imported only when that backend is configured:
langchain-openai takes seconds to import.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import openai
from langchain_openai import ChatOpenAI
from pydantic import Field, SecretStr

from assistant.errors import LLMError
from assistant.llm_base import (
    JSON_SCHEMA_KW,
    Capabilities,
    ChatModel,
    defused_messages,
    friendly_endpoint_errors,
    model_name,
    schema_dict,
    to_chat_dicts,
)
from assistant.llm_scores import JUDGE_PROMPT, SCORE_PROMPT, TokenScores, logsumexp
from assistant.prompts import render


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


class OpenAICompatChat(ChatOpenAI, ChatModel):
    """ChatOpenAI that understands ``json_schema=`` on any OpenAI-compatible server and scores tokens.

    Token log-probabilities are declared, not probed: an endpoint that does not return them fails
    the first scoring call with what to do.
    """

    capabilities: ClassVar[Capabilities] = Capabilities(
        chat=True, json_schema=True, streaming=True, token_logprobs=True
    )
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

    def scoring_engine(self) -> OpenAIScorer:
        """Token scores from the same endpoint, model and key."""
        key = self.openai_api_key.get_secret_value() if self.openai_api_key is not None else None
        return OpenAIScorer(self.openai_api_base, key, self.model_name, name=model_name(self))


def openai_chat(
    base_url: str | None,
    api_key: str | SecretStr | None,
    model: str,
    temperature: float = 0.0,
    max_tokens: int | None = 512,
    **kwargs: Any,
) -> OpenAICompatChat:
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


class OpenAIScorer:
    """Token scores from an OpenAI-compatible endpoint.

    Statements are scored with the completions API echoing the prompt's log-probabilities
    (llama.cpp's and vLLM's servers do this; OpenAI's chat models do not). The yes/no judge uses
    chat completions with ``logprobs``, which most endpoints return. Prompts are the same files,
    written out as plain text (the endpoint applies no chat template to a completions prompt).
    """

    def __init__(self, base_url: str | None, api_key: str | None, model: str, name: str | None = None) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.name = name or model  # recorded with the scores: the chat model's name

    def _client(self) -> Any:
        import openai  # lazy: only the OpenAI-compatible backend needs the client

        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "not-needed", max_retries=1)

    @staticmethod
    def _plain(name: str, **variables: Any) -> str:
        system, user = render(name, **variables)
        return f"{system.text}\n\n{user.text}\n\n"

    def _echo(self, prefix: str, text: str) -> tuple[list[tuple[int, int]], list[float], list[float], list[str]]:
        with friendly_endpoint_errors(self.base_url, self.model):
            got = self._client().completions.create(
                model=self.model, prompt=prefix + text, max_tokens=1, echo=True, logprobs=1, temperature=0.0
            )
        lp = got.choices[0].logprobs
        if lp is None or not lp.token_logprobs or lp.text_offset is None:
            raise LLMError(
                f"the endpoint for {self.model} returns no prompt log-probabilities",
                "Use a server that echoes them (llama.cpp's with --logits_all, vLLM), or the local model.",
            )
        prompt = prefix + text
        generated = (got.choices[0].text or "")[len(prompt) :]
        if generated and "".join(lp.tokens) == prompt:
            # llama-cpp-python's server, for a model without a BOS token (Qwen), reads each prompt
            # token's log-probability from its own logits row (the next token's distribution) and
            # drops the generated token: every value is one position off and cannot be repaired.
            raise LLMError(
                f"the endpoint for {self.model} returns prompt log-probabilities shifted by one token",
                "llama-cpp-python's server does this for models without a BOS token; use vLLM, "
                "a server that aligns echoed log-probabilities, or the local model.",
            )
        spans, values, best, expected = [], [], [], []
        n_prompt = len(prompt)
        for tok, value, off, top in zip(lp.tokens, lp.token_logprobs, lp.text_offset, lp.top_logprobs or []):
            if off < len(prefix) or off >= n_prompt or value is None:
                continue
            start = off - len(prefix)
            spans.append((start, min(start + len(tok), len(text))))
            values.append(float(value))
            alt = max((top or {tok: value}).items(), key=lambda kv: kv[1])
            best.append(max(float(alt[1]), float(value)))
            expected.append(alt[0])
        return spans, values, best, expected

    def score(self, source: str, text: str) -> TokenScores:
        return self._reply(self._plain(SCORE_PROMPT, source=source), self._plain(SCORE_PROMPT, source=""), text)

    def _reply(self, cond_prefix: str, uncond_prefix: str, text: str) -> TokenScores:
        """Scores of ``text`` echoed after each prefix (with the source, without it)."""
        spans, cond, best, expected = self._echo(cond_prefix, text)
        uspans, uncond, _, _ = self._echo(uncond_prefix, text)
        if uspans != spans:
            raise LLMError(f"the endpoint tokenised the statement differently in two calls ({self.model})")
        return TokenScores(text=text, spans=spans, cond=cond, uncond=uncond, best=best, expected=expected, model=self.name)

    def _first_token(self, prompt: str, top_logprobs: int, **variables: Any) -> dict[str, float]:
        """{token: log-probability} of the most likely first reply tokens after the rendered chat ``prompt``."""
        messages = to_chat_dicts(render(prompt, **variables))
        with friendly_endpoint_errors(self.base_url, self.model):
            got = self._client().chat.completions.create(
                model=self.model, messages=messages, max_tokens=1, logprobs=True, top_logprobs=top_logprobs, temperature=0.0
            )
        content = got.choices[0].logprobs.content if got.choices[0].logprobs else None
        if not content:
            raise LLMError(f"the endpoint for {self.model} returns no log-probabilities for chat replies")
        return {t.token: t.logprob for t in content[0].top_logprobs} or {content[0].token: content[0].logprob}

    def judge(self, source: str, text: str) -> float:
        top = self._first_token(JUDGE_PROMPT, 10, source=source, statement=text)
        yes = [v for k, v in top.items() if k.strip().lower() == "yes"]
        no = [v for k, v in top.items() if k.strip().lower() == "no"]
        floor = min(top.values()) - 1.0  # an answer missing from the top list is rarer than all of it
        return round(logsumexp(np.asarray(yes or [floor])) - logsumexp(np.asarray(no or [floor])), 4)

    def choose(self, prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> dict[str, float]:
        """log p(first reply token) per choice from chat log-probabilities (top 20 tokens)."""
        top = self._first_token(prompt, 20, **variables)
        floor = min(top.values()) - 1.0
        hits: dict[str, list[float]] = {label: [] for label in choices}
        for token, value in top.items():
            label = _label_of(token, choices)
            if label is not None:
                hits[label].append(value)
        return {label: round(logsumexp(np.asarray(v or [floor])), 4) for label, v in hits.items()}


def _label_of(token: str, choices: dict[str, Sequence[str]]) -> str | None:
    """The choice a first reply token opens: the one whose word it is; else the only one whose word
    it begins ("N" begins both "No" and "Not": it counts for neither)."""
    t = token.strip().lower()
    if not t:
        return None
    exact = [label for label, words in choices.items() if any(w.strip().lower() == t for w in words)]
    if exact:
        return exact[0]
    prefix = [label for label, words in choices.items() if any(w.strip().lower().startswith(t) for w in words)]
    return prefix[0] if len(prefix) == 1 else None
