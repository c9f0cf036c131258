"""Prompts are YAML files in ``prompts/`` (system + user Jinja templates; an installed wheel's
copy in ``assistant/prompt_files``); this renders them.

Templates use ``StrictUndefined``, so a missing variable is an error rather than an empty
string. Every interpolated value passes through ``_as_data``, which defuses the tags the
prompts use as delimiters, so article text cannot close its ``<passage>`` and pose as
instructions.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import jinja2
import jinja2.meta
import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from assistant.errors import BadInputError
from assistant.settings import PROJECT_ROOT, SOURCE_CHECKOUT

# The prompt files live in prompts/ at the top of the repository; a wheel carries a copy as
# package data (setup.py copies them into assistant/prompt_files when it builds).
PROMPTS_DIR = (
    PROJECT_ROOT / "prompts" if SOURCE_CHECKOUT else Path(__file__).resolve().parent / "prompt_files"
)

# What the ask prompt tells the model to say when the passages hold no answer; code matches it.
NO_ANSWER = "The articles do not answer this question."

_DELIMITERS = (
    r"passages?|question|claim|evidence|sections?|sentence|article|data|instructions?"
    r"|system|user|assistant"
)
_TAG = re.compile(rf"<(\s*/?\s*)({_DELIMITERS})\b", re.IGNORECASE)
# Chat-template control tokens of the common model families: ChatML/Qwen <|im_start|>, Llama 3
# <|start_header_id|>, Gemma <start_of_turn>, Llama 2/Mistral </s>. llama.cpp (in-process and
# its server) renders the template to one string and tokenizes it with special tokens parsed,
# so such a string inside article text would become a real turn boundary.
_CHAT_TOKENS = re.compile(
    r"<\|([^|<>\s]{1,40})\|>|<((?:start|end)_of_turn|bos|eos|/?s)>", re.IGNORECASE
)


def defuse_control_tokens(text: str) -> str:
    """``text`` with chat-template control tokens made inert (look-alike brackets, still readable)."""
    return _CHAT_TOKENS.sub(
        lambda m: f"‹|{m.group(1)}|›" if m.group(1) is not None else f"‹{m.group(2)}›", text
    )


def _as_data(value: Any) -> Any:
    # A look-alike angle bracket keeps the text readable while no longer matching our tags;
    # chat-template control tokens are defused the same way.
    if not isinstance(value, str):
        return value
    value = _TAG.sub(lambda m: f"‹{m.group(1)}{m.group(2)}", value)
    return defuse_control_tokens(value)


_ENV = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=False,
    finalize=_as_data,
)
_ENV.globals["no_answer"] = NO_ANSWER


def _json(value: Any) -> str:
    # Unlike Jinja's tojson this keeps apostrophes and accents readable, which small
    # models copy back verbatim into their quotes.
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(value, ensure_ascii=False, default=str)


_ENV.filters["json"] = _json


class MissingVariableError(BadInputError):
    """A prompt was rendered without one of its variables."""


@dataclass(frozen=True)
class Prompt:
    """One prompt file: its templates and the variables it documents."""

    name: str
    description: str
    system: str
    user: str
    variables: dict[str, str] = field(default_factory=dict)
    output: str | None = None
    examples: tuple[dict[str, Any], ...] = ()

    def template_variables(self) -> set[str]:
        """Variables the templates actually use (globals excluded)."""
        names: set[str] = set()
        for source in (self.system, self.user):
            names |= jinja2.meta.find_undeclared_variables(_ENV.parse(source))
        return names - set(_ENV.globals)


def list_prompts(prompts_dir: Path = PROMPTS_DIR) -> list[str]:
    """Names of the prompts in ``prompts_dir`` (file stems), sorted."""
    return sorted(p.stem for p in Path(prompts_dir).glob("*.yaml"))


def _examples(path: Path, data: Any) -> tuple[dict[str, Any], ...]:
    # Worked examples: the user template rendered with each example's variables, then its reply.
    if data is None:
        return ()
    if not isinstance(data, list) or not all(
        isinstance(e, dict) and isinstance(e.get("variables"), dict) and isinstance(e.get("reply"), str)
        for e in data
    ):
        raise BadInputError(f"prompt file {path}: `examples` must be a list of {{variables: {{...}}, reply: TEXT}}")
    return tuple(data)


@lru_cache(maxsize=64)
def _load(path: Path, mtime: float) -> tuple[Prompt, jinja2.Template, jinja2.Template]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    missing = {"system", "user"} - set(data or {})
    if missing:
        raise BadInputError(f"prompt file {path} lacks {', '.join(sorted(missing))}")
    prompt = Prompt(
        name=path.stem,
        description=str(data.get("description", "")).strip(),
        system=data["system"],
        user=data["user"],
        variables=dict(data.get("variables") or {}),
        output=data.get("output"),
        examples=_examples(path, data.get("examples")),
    )
    return prompt, _ENV.from_string(prompt.system), _ENV.from_string(prompt.user)


def _path(name: str, prompts_dir: Path) -> Path:
    path = Path(prompts_dir) / f"{name}.yaml"
    if not path.is_file():
        raise BadInputError(
            f"no prompt named {name!r} in {prompts_dir}",
            f"Known prompts: {', '.join(list_prompts(prompts_dir)) or 'none'}.",
        )
    return path


def load_prompt(name: str, prompts_dir: Path = PROMPTS_DIR) -> Prompt:
    """The parsed prompt file ``<prompts_dir>/<name>.yaml``."""
    path = _path(name, prompts_dir)
    return _load(path, path.stat().st_mtime)[0]


def render(name: str, prompts_dir: Path = PROMPTS_DIR, **variables: Any) -> list[BaseMessage]:
    """Render a prompt into ``[SystemMessage, (example turns,) HumanMessage]``; a missing variable raises.

    A prompt's worked examples become earlier user/assistant turns: they are the same for every
    call, so a local model keeps them in its KV cache with the system text.
    """
    path = _path(name, prompts_dir)
    prompt, system, user = _load(path, path.stat().st_mtime)
    try:
        shots: list[BaseMessage] = []
        for example in prompt.examples:
            shots.append(HumanMessage(content=user.render(**example["variables"]).strip()))
            shots.append(AIMessage(content=example["reply"].strip()))
        return [
            SystemMessage(content=system.render(**variables).strip()),
            *shots,
            HumanMessage(content=user.render(**variables).strip()),
        ]
    except jinja2.UndefinedError as exc:
        raise MissingVariableError(
            f"prompt {name!r}: {exc.message}", "Pass every variable listed in the prompt file."
        ) from exc


# --------------------------------------------------------------------------- output schemas
# The JSON the prompts ask for; pass these to ``llm.complete_json``. Kept small and flat
# because small local models follow short schemas far more reliably.


class DraftSentence(BaseModel):
    """One summary sentence with the passages it came from and an exact supporting quote."""

    text: str = Field(description="The summary sentence")
    passage_ids: list[str] = Field(description="Ids of the passages the sentence is based on")
    quote: str = Field(description="Words copied exactly from one of the cited passages")


class DraftOutput(BaseModel):
    """Reply of the ``summarize`` and ``summarize_merge`` prompts."""

    sentences: list[DraftSentence]


class JudgeOutput(BaseModel):
    """Reply of the ``judge`` prompt."""

    verdict: Literal["supported", "contradicted", "not enough info"]
    reason: str = Field(description="One sentence saying why, naming the deciding words")


OUTPUT_SCHEMAS: dict[str, type[BaseModel]] = {
    "DraftOutput": DraftOutput,
    "JudgeOutput": JudgeOutput,
}


def output_schema(name: str, prompts_dir: Path = PROMPTS_DIR) -> type[BaseModel] | None:
    """The pydantic schema a prompt's reply must match, or None for free text."""
    prompt = load_prompt(name, prompts_dir)
    return OUTPUT_SCHEMAS[prompt.output] if prompt.output else None
