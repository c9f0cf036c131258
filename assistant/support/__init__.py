"""Model-backed support scores for sentences against their source (see scorer.py for the interface)."""

from __future__ import annotations

from pathlib import Path

from assistant.llm import get_chat_model
from assistant.llm_scores import TokenScores
from assistant.settings import CacheMode, Settings
from assistant.support.scorer import SupportResult, SupportScorer, SuspectSpan

__all__ = [
    "SupportResult",
    "SupportScorer",
    "SuspectSpan",
    "TokenScores",
    "support_scorer",
]


def support_scorer(
    settings: Settings, cache_dir: Path | None = None, mode: CacheMode | None = None, reuse_windows: bool = True
) -> SupportScorer:
    """The support scorer on the configured model (behind the replay cache unless its mode is off),
    with its fitted weights (if any).

    ``reuse_windows=False`` scores every statement against the window chosen for it alone (the
    eval harness: figures then do not depend on the order of the pairs).
    """
    return SupportScorer(
        get_chat_model(settings, cache=mode, cache_dir=cache_dir),
        # windows are cut to the model's whole context, as the weights were fitted; the scorer's
        # source context (sized for a full window and a 200-token statement) grows for a longer one
        n_ctx=settings.llm.n_ctx,
        source_tokens=settings.support.source_tokens,
        reuse_windows=reuse_windows,
    )
