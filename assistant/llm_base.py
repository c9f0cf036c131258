"""The bottom of the model seam: the one model interface, its capability flags and shared helpers.

Every model the assistant uses is a ``ChatModel`` (a LangChain ``BaseChatModel``): the local GGUF
(``llm_local``), an OpenAI-compatible endpoint (``llm_openai``), the replay cache (``llm_replay``)
and the fakes for tests (``assistant.testing``). Each declares its ``Capabilities``: replying to
messages, JSON-schema output, streaming, and token log-probabilities (``score``, ``judge`` and
``choose``: the support scorer's and the yes/no answerer's signal, ``llm_scores``). Callers read
the flags through ``capabilities()`` (through wrappers such as the replay cache) and ``require()``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableBinding
from pydantic import BaseModel

from assistant.errors import EndpointError, LLMError
from assistant.llm_scores import TokenScores
from assistant.prompts import defuse_control_tokens
from assistant.redact import redact_text, redact_url

JSON_SCHEMA_KW = "json_schema"


@dataclass(frozen=True)
class Capabilities:
    """What a model can do; code that needs one of these reads the flag instead of guessing."""

    chat: bool = False  # replies to messages (invoke)
    json_schema: bool = False  # takes ``json_schema=`` and constrains its reply to it
    streaming: bool = False  # yields its reply as it is generated (stream)
    token_logprobs: bool = False  # scores given text token by token (score, judge, choose)


Capability = Literal["chat", "json_schema", "streaming", "token_logprobs"]
# A LangChain chat model from elsewhere: it chats and streams; JSON only by asking in the prompt.
_FOREIGN_CHAT = Capabilities(chat=True, streaming=True)

Stop = list[str] | None
RunManager = CallbackManagerForLLMRun | None


class ChatModel(BaseChatModel):
    """The assistant's one model interface: LangChain's chat interface plus token scores, each
    behind a declared capability.

    Chat: one hook each for a whole reply and a streamed one (``_reply``, ``_reply_stream``).
    Token scores: ``score``, ``judge`` and ``choose``, for a model declaring ``token_logprobs``: here
    they raise the ``require()`` error for any other model and otherwise ask ``scoring_engine()``
    (the replay cache and the fakes override them instead). A model may also name itself for records
    and score keys (``record_name()``) and say what decides its replies for replay-cache keys
    (``cache_identity()``). The OpenAI-compatible model also extends LangChain's ``ChatOpenAI``.
    """

    capabilities: ClassVar[Capabilities] = Capabilities(chat=True, json_schema=True, streaming=True)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: Stop = None,
        run_manager: RunManager = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._reply(messages, stop, run_manager, kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: Stop = None,
        run_manager: RunManager = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        return self._reply_stream(messages, stop, run_manager, kwargs)

    def _reply(self, messages: list[BaseMessage], stop: Stop, run_manager: RunManager, kwargs: dict[str, Any]) -> ChatResult:
        """The whole reply to ``messages``."""
        raise NotImplementedError

    def _reply_stream(
        self, messages: list[BaseMessage], stop: Stop, run_manager: RunManager, kwargs: dict[str, Any]
    ) -> Iterator[ChatGenerationChunk]:
        """The reply to ``messages`` as it is generated."""
        raise NotImplementedError

    def scoring_engine(self) -> Any:
        """What computes this model's token scores (``score``, ``judge``, ``choose``): models that
        declare ``token_logprobs`` and do not override those three return it here."""
        raise NotImplementedError

    def score(self, source: str, text: str) -> TokenScores:
        """Per-token log-probabilities of ``text`` read as the reply to "summarise ``source``", with and
        without the source (``llm_scores``)."""
        require(self, "token_logprobs", "scoring a statement's tokens")
        return self.scoring_engine().score(source, text)

    def judge(self, source: str, text: str) -> float:
        """log p(yes) - log p(no) for "does the source support the statement?"."""
        require(self, "token_logprobs", "the yes/no support judge")
        return self.scoring_engine().judge(source, text)

    def choose(self, prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> dict[str, float]:
        """log p of each choice's first reply token after the rendered ``prompt`` (nothing generated).

        ``choices`` maps a label to the words that may open the reply for it ("yes": ("Yes", "yes")).
        """
        require(self, "token_logprobs", "a constrained choice")
        return self.scoring_engine().choose(prompt, variables, choices)


def capabilities(model: Any) -> Capabilities:
    """The capabilities of ``model`` (through ``bind(...)``; wrappers report their inner model's)."""
    if isinstance(model, RunnableBinding):
        return capabilities(model.bound)
    declared = getattr(model, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    return _FOREIGN_CHAT if isinstance(model, BaseChatModel) else Capabilities()


def require(model: Any, capability: Capability, needed_for: str) -> None:
    """Raise LLMError (with what to do) when ``model`` lacks ``capability``."""
    if not getattr(capabilities(model), capability):
        raise LLMError(
            f"{model_name(model)} cannot do {capability.replace('_', ' ')}, which {needed_for} needs",
            "Configure a model that can (ASSISTANT_LLM__BACKEND, ASSISTANT_LLM__BASE_URL), "
            "or turn the feature off in the settings.",
        )


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


def word_chunks(text: str) -> list[str]:
    # Each piece keeps its trailing whitespace, so "".join(pieces) == text exactly.
    return re.findall(r"\s*\S+\s*|\s+", text) or ([text] if text else [])


def token_usage(prompt_tokens: int | None, completion_tokens: int | None) -> dict[str, int] | None:
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
    own = getattr(chat, "record_name", None)
    if callable(own):  # the assistant's own models name themselves (the replay cache: its inner model)
        return own()
    for attr in ("model_name", "model", "model_id"):
        value = getattr(chat, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(chat).__name__


# Keys whose values must never reach a cache file, even if some backend reports them.
_SECRET_KEY = re.compile(
    r"api_?key|secret|password|authori[sz]ation|bearer|^headers?$|^token$|cookie", re.IGNORECASE
)


def scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, type) and issubclass(value, BaseModel):
        return value.model_json_schema()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def chat_identity(chat: BaseChatModel) -> dict[str, Any]:
    """What identifies the model and its sampling settings in a cache key (never credentials)."""
    own = getattr(chat, "cache_identity", None)
    if callable(own):  # the local and fake models say what decides their replies
        ident = own()
    else:
        # The endpoint URL is left out on purpose: the same model served elsewhere replays.
        params = {
            k: v
            for k, v in chat._identifying_params.items()
            if k in {"temperature", "max_tokens", "max_completion_tokens", "seed", "top_p", "stop"}
        }
        ident = {"backend": chat._llm_type, **params}
    return scrub({"model": model_name(chat), **ident})


@contextmanager
def friendly_endpoint_errors(base_url: str | None, model: str) -> Iterator[None]:
    """Turn unreachable-server and bad-key errors into LLMErrors that say what to set."""
    import openai  # lazy: the client takes a second to import and only endpoint backends need it

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
