"""Model-backed support scores for sentences against their source (see scorer.py for the interface)."""

from __future__ import annotations

from pathlib import Path

from assistant.models import gguf_path
from assistant.settings import Settings
from assistant.support.logprobs import (
    LlamaLogprobs,
    LogprobModel,
    OpenAILogprobs,
    ReplayLogprobs,
    TokenScores,
)
from assistant.support.scorer import SupportResult, SupportScorer, SuspectSpan

__all__ = [
    "LogprobModel",
    "SupportResult",
    "SupportScorer",
    "SuspectSpan",
    "TokenScores",
    "logprob_model",
    "support_scorer",
]


def logprob_model(settings: Settings, cache_dir: Path | None = None, mode: str | None = None) -> LogprobModel:
    """The configured model's token scorer, behind the replay cache unless its mode is off."""
    llm = settings.llm
    if llm.backend == "local":
        model: LogprobModel = LlamaLogprobs.shared(
            gguf_path(llm.preset, settings.model_dir), n_ctx=llm.n_ctx, n_threads=llm.n_threads
        )
    else:
        model = OpenAILogprobs(llm.base_url, llm.api_key, llm.model)
    mode = mode or llm.cache
    if mode == "off":
        return model
    return ReplayLogprobs(model, cache_dir or settings.llm_cache_dir, mode=mode)


def support_scorer(
    settings: Settings, cache_dir: Path | None = None, mode: str | None = None, reuse_windows: bool = True
) -> SupportScorer:
    """The support scorer for the configured model, with its fitted weights (if any).

    ``reuse_windows=False`` scores every statement against the window chosen for it alone (the
    eval harness: figures then do not depend on the order of the pairs).
    """
    return SupportScorer(
        logprob_model(settings, cache_dir, mode),
        n_ctx=settings.llm.n_ctx,
        source_tokens=settings.support.source_tokens,
        reuse_windows=reuse_windows,
    )
