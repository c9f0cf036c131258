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
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from assistant.prompts import PROMPTS_DIR, render

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
