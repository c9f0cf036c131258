"""The chat-model seam: in-process GGUF, OpenAI-compatible endpoint, replay cache, fake.

Every chat model here is a LangChain ``BaseChatModel``. Callers ask for JSON by passing
``json_schema=<dict or pydantic class>`` to ``invoke``/``stream`` (or ``bind``); each backend
turns that into its own constrained-output option.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableBinding
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from assistant.errors import (
    EndpointError,
    LLMError,
    ModelMissingError,
    ReplayMissError,
    StructuredOutputError,
)
from assistant.models import gguf_path, verify_on_load
from assistant.prompts import defuse_control_tokens
from assistant.redact import redact_text, redact_url
from assistant.settings import CacheMode, Settings

JSON_SCHEMA_KW = "json_schema"
CACHE_FORMAT = 1


# --------------------------------------------------------------------------- helpers


def schema_dict(schema: dict | type[BaseModel]) -> dict:
    """A JSON schema as a plain dict, from a dict or a pydantic model class."""
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return schema.model_json_schema()
    if isinstance(schema, dict):
        return schema
    raise TypeError(f"json_schema must be a dict or a pydantic model class, not {type(schema)!r}")


def _role(message: BaseMessage) -> str:
    if isinstance(message, SystemMessage):
        return "system"
    if isinstance(message, HumanMessage):
        return "user"
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, ToolMessage):
        return "tool"
    return getattr(message, "role", message.type)


def to_chat_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """Messages as ``{"role", "content"}`` dicts (text content only)."""
    return [{"role": _role(m), "content": m.text} for m in messages]


def defused_messages(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Messages whose text cannot contain a chat-template control token.

    The prompts already defuse article text (``prompts._as_data``); this second line of defence
    at the model seam also covers a question, a model reply fed back on a retry, or any message
    built outside the prompt files. Only what the backend receives changes: replay-cache keys
    are made from the messages as given.
    """
    out: list[BaseMessage] = []
    for m in messages:
        if isinstance(m.content, str):
            clean = defuse_control_tokens(m.content)
            if clean != m.content:
                m = m.model_copy(update={"content": clean})
        out.append(m)
    return out


def _word_chunks(text: str) -> list[str]:
    # Each piece keeps its trailing whitespace, so "".join(pieces) == text exactly.
    return re.findall(r"\s*\S+\s*|\s+", text) or ([text] if text else [])


def _usage(prompt_tokens: int | None, completion_tokens: int | None) -> dict[str, int] | None:
    if prompt_tokens is None or completion_tokens is None:
        return None
    return {
        "input_tokens": prompt_tokens,
        "output_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def model_name(chat: Any) -> str:
    """A stable, human-readable name of the model behind ``chat`` (for output records)."""
    if isinstance(chat, RunnableBinding):
        return model_name(chat.bound)
    if isinstance(chat, ReplayCacheChat):
        return model_name(chat.inner)
    if isinstance(chat, LlamaCppChat):
        return chat.model_id or f"local/{Path(chat.model_path).stem}"
    if isinstance(chat, FakeChatModel):
        return chat.name or "fake"
    for attr in ("model_name", "model", "model_id"):
        value = getattr(chat, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(chat).__name__


# Keys whose values must never reach a cache file, even if some backend reports them.
_SECRET_KEY = re.compile(
    r"api_?key|secret|password|authori[sz]ation|bearer|^headers?$|^token$|cookie", re.IGNORECASE
)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    if isinstance(value, type) and issubclass(value, BaseModel):
        return value.model_json_schema()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _identity(chat: BaseChatModel) -> dict[str, Any]:
    """What identifies the model and its sampling settings in a cache key (never credentials)."""
    if isinstance(chat, LlamaCppChat):
        ident = {
            "backend": "local",
            "temperature": chat.temperature,
            "max_tokens": chat.max_tokens,
            "seed": chat.seed,
        }
    elif isinstance(chat, FakeChatModel):
        ident = {"backend": "fake"}
    else:
        # The endpoint URL is left out on purpose: the same model served elsewhere replays.
        params = {
            k: v
            for k, v in chat._identifying_params.items()
            if k in {"temperature", "max_tokens", "max_completion_tokens", "seed", "top_p", "stop"}
        }
        ident = {"backend": chat._llm_type, **params}
    return _scrub({"model": model_name(chat), **ident})


# --------------------------------------------------------------------------- local GGUF

_MIN_ROOM = 128  # fewest tokens worth generating; a prompt leaving less is an error

_LLAMAS: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_LLAMAS_LOCK = threading.Lock()


def default_threads() -> int:
    """All cores: llama-cpp-python's own default is half of them."""
    return os.cpu_count() or 1


def load_llama(
    model_path: str | Path,
    n_ctx: int,
    n_threads: int | None = None,
    chat_format: str | None = None,
) -> tuple[Any, threading.Lock]:
    """The process-wide ``llama_cpp.Llama`` for a GGUF and settings (loaded once) and the lock guarding it.

    Each n_ctx gets its own context and so its own KV cache: the chat prompt's prefix stays cached
    while summaries run in another context. The weights are mmapped once.
    """
    path = Path(model_path).resolve()
    threads = n_threads or default_threads()
    key = (str(path), n_ctx, threads)
    with _LLAMAS_LOCK:
        if key in _LLAMAS:
            return _LLAMAS[key]
        if not path.is_file():
            raise ModelMissingError(f"local model {path} is missing")

        verify_on_load(path)
        # This build uses OpenMP, whose threads spin while waiting: fastest on a machine the
        # model has to itself (12 vs 8.5 tok/s here), but on a CPU shared with other heavy work
        # two spinning threads fell to 1 tok/s against 6 when they sleep. Shared servers set
        # OMP_WAIT_POLICY=PASSIVE (libgomp reads it once, when llama_cpp is first imported).
        try:
            import llama_cpp
        except ImportError as exc:
            raise ModelMissingError(
                "llama-cpp-python is not installed",
                "Run `make models` (builds llama-cpp-python with portable CPU flags), "
                "or set ASSISTANT_LLM__BACKEND=openai with ASSISTANT_LLM__BASE_URL.",
            ) from exc
        try:
            llama = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                seed=0,
                chat_format=chat_format,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelMissingError(f"could not load {path}: {exc}") from exc
        # A Llama holds one KV cache and is not thread-safe: calls are serialised.
        _LLAMAS[key] = (llama, threading.Lock())
        return _LLAMAS[key]


class LlamaCppChat(BaseChatModel):
    """A GGUF chat model run in-process by llama-cpp-python (greedy, fixed seed)."""

    model_path: str = Field(description="Path of the GGUF file")
    model_id: str | None = Field(
        None, description="Name used in records; default local/<file stem>"
    )
    n_ctx: int = 4096
    n_threads: int | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    chat_format: str | None = Field(
        None, description="llama-cpp chat format; None = the GGUF's own template"
    )

    supports_json_schema: ClassVar[bool] = True

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

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

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
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
            usage_metadata=_usage(usage.get("prompt_tokens"), usage.get("completion_tokens")),
            response_metadata={
                "model_name": model_name(self),
                "finish_reason": choice.get("finish_reason"),
                "seconds": round(time.perf_counter() - started, 3),
            },
        )
        return ChatResult(
            generations=[ChatGeneration(message=message)], llm_output={"token_usage": usage}
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
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


# --------------------------------------------------------------------------- OpenAI-compatible


def _format_rejected(exc: Exception) -> bool:
    """Whether a server error means "I do not take this response_format" (so try the next one)."""
    import openai

    text = str(exc).lower()
    if "context" in text:
        return False  # an overflow fails the same way in every format
    if isinstance(exc, openai.BadRequestError | openai.UnprocessableEntityError):
        return True
    # llama-cpp-python's server answers its own validation error with a 500.
    return isinstance(exc, openai.APIStatusError) and (
        "response_format" in text or "json_schema" in text
    )


@contextmanager
def friendly_endpoint_errors(base_url: str | None, model: str) -> Iterator[None]:
    """Turn unreachable-server and bad-key errors into LLMErrors that say what to set."""
    import openai

    try:
        yield
    except openai.APIConnectionError as exc:
        # The address may carry user:password@ or ?api_key=: only a masked form is ever shown.
        where = redact_url(base_url) or "api.openai.com"
        raise EndpointError(
            f"cannot reach the chat endpoint {where}: {redact_text(str(exc))}"
        ) from exc
    except openai.AuthenticationError as exc:
        raise LLMError(
            f"the chat endpoint refused the API key ({exc.status_code})",
            "Set ASSISTANT_LLM__API_KEY to a valid key.",
        ) from exc
    except openai.NotFoundError as exc:
        raise LLMError(
            f"the chat endpoint does not know model {model!r} ({exc.status_code})",
            "Set ASSISTANT_LLM__MODEL to a model the server lists at /v1/models.",
        ) from exc


def _friendly_openai_errors(chat: Any) -> Any:
    return friendly_endpoint_errors(chat.openai_api_base, chat.model_name)


# The response_format each endpoint accepted, so only the first call per server probes.
_JSON_MODE_BY_URL: dict[str, str] = {}


@lru_cache(maxsize=1)
def _openai_class() -> type[BaseChatModel]:
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise LLMError(
            "langchain-openai is not installed", "Run `pip install langchain-openai`."
        ) from exc

    class OpenAICompatChat(ChatOpenAI):
        """ChatOpenAI that understands ``json_schema=`` on any OpenAI-compatible server."""

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
            import openai

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
            import openai

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

    return OpenAICompatChat


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
    return _openai_class()(
        base_url=base_url,
        api_key=key,
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        **kwargs,
    )


# --------------------------------------------------------------------------- replay cache


def cache_path(cache_dir: Path, key: str) -> Path:
    """The replay-cache file of ``key`` (sharded by its first two hex digits)."""
    return Path(cache_dir) / key[:2] / f"{key}.json"


def read_entry(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """A recorded entry, or None; a torn or hand-broken file is a miss (re-recorded in auto mode)."""
    path = cache_path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_entry(
    cache_dir: Path,
    key: str,
    request: dict[str, Any],
    response: dict[str, Any],
    model: str,
    indent: int | None = 2,
) -> None:
    """Record one response atomically (write a temporary file, then rename it into place)."""
    entry = {
        "format": CACHE_FORMAT,
        "key": key,
        "model": model,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "request": request,
        "response": response,
    }
    path = cache_path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(entry, indent=indent, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


class ReplayCacheChat(BaseChatModel):
    """Wraps a chat model; records responses to JSON files keyed by the request and replays them."""

    inner: BaseChatModel
    cache_dir: Path
    mode: CacheMode = "auto"
    hits: int = 0
    misses: int = 0

    model_config = ConfigDict(arbitrary_types_allowed=True)

    @property
    def _llm_type(self) -> str:
        return f"replay-cache({self.inner._llm_type})"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"inner": _identity(self.inner), "mode": self.mode}

    def request(
        self, messages: Sequence[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """The canonical, secret-free request that a cache key is the hash of."""
        params = {
            k: v
            for k, v in kwargs.items()
            if not k.startswith("ls_") and k not in {"callbacks", "tags", "metadata"}
        }
        if JSON_SCHEMA_KW in params:
            params[JSON_SCHEMA_KW] = schema_dict(params[JSON_SCHEMA_KW])
        if stop:
            params["stop"] = list(stop)
        return {
            "model": _identity(self.inner),
            "messages": to_chat_dicts(messages),
            "params": _scrub(params),
        }

    def key(
        self, messages: Sequence[BaseMessage], stop: list[str] | None = None, **kwargs: Any
    ) -> str:
        """sha256 of the canonical JSON of the request."""
        return request_key(self.request(messages, stop, **kwargs))

    def path_for(self, key: str) -> Path:
        """The cache file of ``key`` (sharded by its first two hex digits)."""
        return cache_path(self.cache_dir, key)

    def _read(self, key: str) -> dict[str, Any] | None:
        return read_entry(self.cache_dir, key)

    def _write(self, key: str, request: dict[str, Any], message: BaseMessage) -> None:
        response = {"text": message.text, "usage": _scrub(getattr(message, "usage_metadata", None))}
        write_entry(self.cache_dir, key, request, response, model_name(self.inner))

    def _lookup(
        self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        request = self.request(messages, stop, **kwargs)
        key = request_key(request)
        entry = self._read(key) if self.mode in ("replay", "auto") else None
        if entry is not None:
            self.hits += 1
        elif self.mode == "replay":
            self.misses += 1
            raise ReplayMissError(
                f"no recorded response for request {key[:16]} (model {model_name(self.inner)}, "
                f"{len(messages)} messages) in {self.cache_dir}"
            )
        elif self.mode != "off":
            self.misses += 1
        return key, request, entry

    @staticmethod
    def _cached_message(entry: dict[str, Any]) -> AIMessage:
        response = entry["response"]
        return AIMessage(
            content=response["text"],
            usage_metadata=response.get("usage"),
            response_metadata={"model_name": entry.get("model"), "cached": True},
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        key, request, entry = self._lookup(messages, stop, kwargs)
        if entry is not None:
            return ChatResult(generations=[ChatGeneration(message=self._cached_message(entry))])
        # The inner model runs without the outer callbacks, so token events are not reported twice.
        reply = self.inner.invoke(messages, stop=stop, **kwargs)
        if self.mode != "off":
            self._write(key, request, reply)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        key, request, entry = self._lookup(messages, stop, kwargs)
        if entry is not None:
            # An empty reply is still one (empty) chunk: LangChain rejects a stream of none.
            for piece in _word_chunks(entry["response"]["text"]) or [""]:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
            return
        pieces: list[str] = []
        usage = None
        for part in self.inner.stream(messages, stop=stop, **kwargs):
            pieces.append(part.text)
            usage = part.usage_metadata or usage
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=part.content, response_metadata=part.response_metadata
                )
            )
            if run_manager and part.text:
                run_manager.on_llm_new_token(part.text, chunk=chunk)
            yield chunk
        # Only a stream read to the end is recorded; an abandoned one never reaches here.
        if self.mode != "off":
            self._write(key, request, AIMessage(content="".join(pieces), usage_metadata=usage))


def request_key(request: dict[str, Any]) -> str:
    """sha256 hex of a request's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(
        request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- fake


class FakeChatModel(BaseChatModel):
    """A scripted chat model for tests: ``enqueue`` replies, read ``history`` and ``calls``."""

    responses: list[str] = Field(default_factory=list)
    history: list[list[BaseMessage]] = Field(default_factory=list)
    calls: list[dict[str, Any]] = Field(default_factory=list)

    supports_json_schema: ClassVar[bool] = True

    @property
    def _llm_type(self) -> str:
        return "fake"

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

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = self._next(messages, stop, kwargs)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        text = self._next(messages, stop, kwargs)
        for piece in _word_chunks(text) or [""]:
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk


# --------------------------------------------------------------------------- factory


def get_chat_model(
    settings: Settings, cache: CacheMode | None = None, purpose: Literal["chat", "fuse"] = "chat"
) -> BaseChatModel:
    """The configured chat model, wrapped in the replay cache unless its mode is off.

    ``purpose="fuse"`` is the extract-then-fuse writer: on the local backend it gets its own
    (smaller) context, so its prompt prefix stays in its KV cache. That does not change what greedy
    decoding writes, so it shares the chat model's cache identity.
    """
    llm = settings.llm
    if llm.backend == "local":
        fuse = purpose == "fuse"
        # The file is only opened on first use, so replay mode works without the model.
        chat: BaseChatModel = LlamaCppChat(
            model_path=str(gguf_path(llm.preset, settings.model_dir)),
            n_ctx=settings.summary.fuse_n_ctx if fuse else llm.n_ctx,
            n_threads=llm.n_threads,
            temperature=llm.temperature,
            max_tokens=llm.max_tokens,
        )
    else:
        chat = openai_chat(llm.base_url, llm.api_key, llm.model, llm.temperature, llm.max_tokens)
    mode = cache or llm.cache
    if mode == "off":
        return chat
    return ReplayCacheChat(inner=chat, cache_dir=settings.llm_cache_dir, mode=mode)


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
    conversation = list(messages)
    json_schema = schema.model_json_schema()
    attempts: list[str] = []
    error = ""
    for _ in range(retries + 1):
        reply = chat.invoke(conversation, json_schema=json_schema)
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
