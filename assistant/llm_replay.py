"""The replay cache: model calls recorded to JSON files keyed by the request, and replayed.

``ReplayCacheChat`` wraps any model: one folder holds its chat replies and its token scores
(``score``, ``judge``, ``choose``), with one key scheme: sha256 of the canonical JSON of a
secret-free request. CI replays the dev suite from it without loading a model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict

from assistant.errors import ReplayMissError
from assistant.files import replace_text
from assistant.llm_base import (
    JSON_SCHEMA_KW,
    Capabilities,
    ChatModel,
    RunManager,
    Stop,
    capabilities,
    chat_identity,
    model_name,
    require,
    schema_dict,
    scrub,
    to_chat_dicts,
    word_chunks,
)
from assistant.llm_scores import TokenScores, choice_digest, prompt_fingerprint, source_digest
from assistant.settings import CacheMode

CACHE_FORMAT = 1


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
    replace_text(cache_path(cache_dir, key), json.dumps(entry, indent=indent, ensure_ascii=False) + "\n")


class ReplayCacheChat(ChatModel):
    """Wraps a model; records its replies and token scores to JSON files keyed by the request and replays them."""

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
    def capabilities(self) -> Capabilities:
        """The inner model's: a replayed reply is what that model gave."""
        return capabilities(self.inner)

    def record_name(self) -> str:
        """The inner model's name (a replayed reply is that model's)."""
        return model_name(self.inner)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"inner": chat_identity(self.inner), "mode": self.mode}

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
            "model": chat_identity(self.inner),
            "messages": to_chat_dicts(messages),
            "params": scrub(params),
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
        response = {"text": message.text, "usage": scrub(getattr(message, "usage_metadata", None))}
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

    def _reply(self, messages: list[BaseMessage], stop: Stop, run_manager: RunManager, kwargs: dict[str, Any]) -> ChatResult:
        key, request, entry = self._lookup(messages, stop, kwargs)
        if entry is not None:
            return ChatResult(generations=[ChatGeneration(message=self._cached_message(entry))])
        # The inner model runs without the outer callbacks, so token events are not reported twice.
        reply = self.inner.invoke(messages, stop=stop, **kwargs)
        if self.mode != "off":
            self._write(key, request, reply)
        return ChatResult(generations=[ChatGeneration(message=reply)])

    def _reply_stream(
        self, messages: list[BaseMessage], stop: Stop, run_manager: RunManager, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        key, request, entry = self._lookup(messages, stop, kwargs)
        if entry is not None:
            # An empty reply is still one (empty) chunk: LangChain rejects a stream of none.
            for piece in word_chunks(entry["response"]["text"]) or [""]:
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

    # ------------------------------------------------------------------ token scores

    def score_request(self, kind: str, source: str, text: str) -> dict[str, Any]:
        """What a recorded score depends on; the source enters by its hash (articles are long)."""
        return {
            "kind": kind,
            "model": model_name(self.inner),
            "prompts": prompt_fingerprint(),
            "source_sha256": source_digest(source),
            "text": text,
        }

    def _recorded(self, what: str, request: dict[str, Any], compute: Callable[[], Any]) -> Any:
        """The recorded response to ``request``, else ``compute()`` (recorded unless the mode is off)."""
        require(self, "token_logprobs", "recorded token scores")
        key = request_key(request)
        name = model_name(self.inner)
        if self.mode in ("replay", "auto"):
            entry = read_entry(self.cache_dir, key)
            if entry is not None:
                self.hits += 1
                return entry["response"]
            if self.mode == "replay":
                self.misses += 1
                raise ReplayMissError(f"no recorded {what} for request {key[:16]} (model {name}) in {self.cache_dir}")
        if self.mode != "off":
            self.misses += 1
        response = compute()
        if self.mode != "off":
            write_entry(self.cache_dir, key, request, response, name, indent=None)
        return response

    def score(self, source: str, text: str) -> TokenScores:
        """The inner model's token scores of ``text`` given ``source``, recorded or replayed."""
        request = self.score_request("support-logprobs", source, text)
        found = self._recorded(
            "support-logprobs", request, lambda: self.inner.score(source, text).model_dump(mode="json")
        )
        return TokenScores.model_validate(found)

    def judge(self, source: str, text: str) -> float:
        """The inner model's yes/no support judge, recorded or replayed."""
        request = self.score_request("support-judge", source, text)
        found = self._recorded("support-judge", request, lambda: {"judge": self.inner.judge(source, text)})
        return float(found["judge"])

    def choose(self, prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> dict[str, float]:
        """A recorded constrained choice, keyed by the rendered prompt and the choices."""
        request = {
            "kind": "choice",
            "model": model_name(self.inner),
            "prompt": prompt,
            "sha256": choice_digest(prompt, variables, choices),
        }
        found = self._recorded("choice", request, lambda: self.inner.choose(prompt, variables, choices))
        return {k: float(v) for k, v in found.items()}


def request_key(request: dict[str, Any]) -> str:
    """sha256 hex of a request's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(
        request, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
