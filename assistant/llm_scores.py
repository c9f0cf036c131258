"""Token scores: what a model that scores text returns, the prompts it reads, and what keys a recorded score.

A statement is scored as the model's reply to "summarise the source" (``prompts/support.yaml``),
once after the model has read the source and once without it; a constrained yes/no question
(``prompts/support_judge.yaml``) adds the probability of "yes" for the whole statement; a
constrained choice reads the first reply token of any prompt. No text is generated. The models
that do this declare ``Capabilities(token_logprobs=True)`` (``llm_base.ChatModel``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from assistant.prompts import PROMPTS_DIR, render
from assistant.settings import (
    ChunkSettings,
    LLMSettings,
    RetrieveSettings,
    Settings,
    SupportSettings,
)

SCORE_PROMPT = "support"
JUDGE_PROMPT = "support_judge"


class TokenScores(BaseModel):
    """Per-token log-probabilities of ``text``; ``spans[i]`` is token i's [start, end) in ``text``."""

    text: str
    spans: list[tuple[int, int]] = Field(default_factory=list)
    cond: list[float] = Field(default_factory=list, description="log p(token | source, earlier tokens)")
    uncond: list[float] = Field(default_factory=list, description="log p(token | no source, earlier tokens)")
    best: list[float] = Field(
        default_factory=list, description="highest log-probability any token had there, given the source"
    )
    expected: list[str] = Field(
        default_factory=list, description="the token the model found likeliest there, given the source"
    )
    model: str = ""

    @property
    def pmi(self) -> np.ndarray:
        return np.asarray(self.cond, dtype=np.float64) - np.asarray(self.uncond, dtype=np.float64)


def prompt_fingerprint(prompts_dir: Path = PROMPTS_DIR) -> str:
    """Hash of the scoring prompts: a change invalidates recorded scores and fitted weights."""
    h = hashlib.sha256()
    for name in (SCORE_PROMPT, JUDGE_PROMPT):
        h.update((Path(prompts_dir) / f"{name}.yaml").read_bytes())
    return h.hexdigest()[:16]


def source_digest(source: str) -> str:
    """sha256 of a source text: the key of its recorded scores, remembered calls and read window."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


def choice_digest(prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> str:
    """sha256 of a rendered choice prompt and its choices: the key of a recorded constrained choice."""
    messages = render(prompt, **variables)
    payload = {"messages": [[m.type, str(m.content)] for m in messages], "choices": {k: list(v) for k, v in choices.items()}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def logsumexp(values: np.ndarray) -> float:
    """log(sum(exp(values))), computed without overflow."""
    m = float(values.max())
    return m + math.log(float(np.exp(values - m).sum()))


# --------------------------------------------------------------------------- context sizes

# Tokens of the support prompts around the source and statement: system text, tags, the judge's
# question and the chat template (79 of the local model's tokens in the judge prompt).
PROMPT_TOKENS = 120
# Statements up to this long are read beside a full source window in the sized source context; a
# longer one's prompt grows it (``LlamaScorer._context``). The longest statement in the support dev
# sets has 184 tokens.
STATEMENT_TOKENS = 200
# The yes/no choice prompt (prompts/ask_boolean.yaml): its system text, worked examples and template
# (411 of the local model's tokens), the tags around each passage (11) and room for the question.
CHOICE_PROMPT_TOKENS = 420
CHOICE_PASSAGE_TOKENS = 12
QUESTION_TOKENS = 64
# A yes/no answer often rests on a clause beside the sentence that names the subject: the choice
# prompt gets this many times the free-text answer's excerpt budget (it generates nothing, so
# only its prefill grows; chosen on the fit rows, eval/suites/boolean-fit.yaml).
CHOICE_CONTEXT_FACTOR = 2
# Context sizes are rounded up to a multiple of this. A prompt gets the same scores in any context
# it fits (the same to the last digit at 1,280 and 4,096 tokens: tests/test_support_local.py), so
# recorded scores still apply.
CONTEXT_STEP = 256


@dataclass(frozen=True)
class ScoringContexts:
    """Sizes in tokens of the local token scorer's llama.cpp contexts, each sized to what it reads.

    A context's KV cache costs ~28 KB a token on the 1.5B model (28 layers, 2 KV heads of 128, f16).
    """

    source: int  # score and judge prompts: a source window and a statement
    statement: int  # the statement scored without a source
    choice: int  # the yes/no choice prompt with its excerpts
    limit: int  # llm.n_ctx: a prompt that outgrows its context is read in a larger one up to this


# A statement read without its source: the prompt and room for a STATEMENT_TOKENS statement
# (counted twice, as in ``window_budget``).
_STATEMENT_ROOM = PROMPT_TOKENS + 2 * STATEMENT_TOKENS + 16


def rounded_context(tokens: int, limit: int) -> int:
    """A context for ``tokens``: rounded up to a multiple of ``CONTEXT_STEP``, at most ``limit``."""
    return min(limit, -(-tokens // CONTEXT_STEP) * CONTEXT_STEP)


def window_budget(n_ctx: int, source_tokens: int, longest: int) -> int:
    """Tokens of source that fit a source context of ``n_ctx`` beside statements of up to ``longest``
    tokens (counted twice: room for the model's tokenizer, which splits digits finer than tiktoken)."""
    return min(source_tokens, n_ctx - PROMPT_TOKENS - 2 * longest - 16)


def support_n_ctx(source_tokens: int, limit: int) -> int:
    """The source context's size: a full window of ``source_tokens`` beside a statement of
    ``STATEMENT_TOKENS`` (``window_budget``'s terms), rounded up to 256, at most ``limit``."""
    return rounded_context(source_tokens + _STATEMENT_ROOM, limit)


def scoring_contexts(settings: Settings | None = None, limit: int | None = None) -> ScoringContexts:
    """The token scorer's context sizes for ``settings`` (default: the defaults), never above
    ``limit`` (default ``llm.n_ctx``). The support scorer cuts its windows to ``limit`` (as its
    weights were fitted), so ``source`` holds a full window beside a statement of up to
    ``STATEMENT_TOKENS``; a longer statement's prompt grows the context (``LlamaScorer._context``)."""
    support = settings.support if settings else SupportSettings()
    retrieve = settings.retrieve if settings else RetrieveSettings()
    chunk = settings.chunk if settings else ChunkSettings()
    limit = limit or (settings.llm.n_ctx if settings else LLMSettings().n_ctx)
    passages = retrieve.answer_passages
    # An excerpt keeps its passage's best sentence whatever the budget, so a passage may be shown
    # whole (a passage is at most chunk.max_tokens).
    excerpts = max(passages * chunk.max_tokens, CHOICE_CONTEXT_FACTOR * retrieve.answer_context_tokens)
    return ScoringContexts(
        source=support_n_ctx(support.source_tokens, limit),
        statement=rounded_context(_STATEMENT_ROOM, limit),
        choice=rounded_context(CHOICE_PROMPT_TOKENS + passages * CHOICE_PASSAGE_TOKENS + excerpts + QUESTION_TOKENS, limit),
        limit=limit,
    )
