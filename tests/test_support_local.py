"""The support scorer on the real local 1.5B model (llama.cpp): token scores, KV reuse, verdicts."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.llm import LlamaCppChat, model_name
from assistant.llm_llama import LlamaScorer
from assistant.llm_scores import ScoringContexts, scoring_contexts
from assistant.models import gguf_path
from assistant.qa_boolean import CHOICES, PROMPT
from assistant.settings import Settings
from assistant.support.scorer import SupportScorer, load_calibration

pytestmark = pytest.mark.slow

SOURCE = (
    "The harbour council met on Tuesday evening. It approved the new ferry terminal by 19 votes to 12, "
    "after a debate that lasted four hours. Mayor Ana Ruiz said the terminal would cost 40 million euros "
    "and open in 2027. Opponents, led by councillor Piet Varga, said the money should go to housing."
)
FAITHFUL = "Mayor Ana Ruiz said the ferry terminal would cost 40 million euros."
EDITED = "Mayor Ana Ruiz said the ferry terminal would cost 95 million euros."
SWAPPED = "Councillor Piet Varga said the ferry terminal would cost 40 million euros."


@pytest.fixture(scope="module")
def model() -> LlamaCppChat:
    """The local chat model: it scores tokens through the process's engine for its file."""
    return LlamaCppChat(model_path=str(gguf_path("1.5b", Settings().model_dir)))


def test_the_source_makes_an_edited_number_unlikely(model: LlamaCppChat) -> None:
    good = model.score(SOURCE, FAITHFUL)
    bad = model.score(SOURCE, EDITED)
    assert "".join(good.text[a:b] for a, b in good.spans) == FAITHFUL
    assert bad.pmi.min() < good.pmi.min() - 2.0
    worst = int(bad.pmi.argmin())
    a, b = bad.spans[worst]
    assert "95" in bad.text[max(0, a - 2) : b + 2]
    assert bad.expected[worst].strip() in {"4", "40"}


def test_kept_prefix_gives_the_same_scores_as_a_fresh_context(model: LlamaCppChat) -> None:
    model.score(SOURCE, FAITHFUL)
    reused = model.score(SOURCE, EDITED)  # shares the source and the sentence's first words
    fresh = LlamaScorer(model.model_path).score(SOURCE, EDITED)  # an engine of its own
    # Only rounding may differ: llama.cpp's kernels depend on how many tokens a pass holds.
    # Measured largest gap per token: 0.05 on the AVX2 build, 0.23 on AVX-512 (a kept prefix read
    # at the wrong positions differs by whole nats).
    assert np.allclose(reused.cond, fresh.cond, atol=0.3)
    assert np.allclose(reused.uncond, fresh.uncond, atol=0.3)


def test_contexts_sized_to_need_score_exactly_as_full_size_ones(model: LlamaCppChat) -> None:
    """The scorer's contexts are sized from the settings (1,280 / 768 / 1,280 tokens by default);
    llama.cpp reads a prompt over the same KV cells in any context it fits, so the scores are the
    ones the 4,096 / 1,024 / 2,048-token contexts gave (and the recorded ones still apply)."""
    sized = LlamaScorer(model.model_path)
    assert sized.contexts == scoring_contexts()
    full = LlamaScorer(model.model_path, ScoringContexts(source=4096, statement=1024, choice=2048, limit=4096))
    a, b = sized.score(SOURCE, EDITED), full.score(SOURCE, EDITED)
    assert (a.cond, a.uncond, a.best) == (b.cond, b.uncond, b.best)
    assert sized.judge(SOURCE, EDITED) == full.judge(SOURCE, EDITED)
    ask = {"question": "Did the council approve the ferry terminal?", "passages": [{"text": SOURCE}]}
    assert sized.choose(PROMPT, ask, CHOICES) == full.choose(PROMPT, ask, CHOICES)
    assert [sized._context(role).n_ctx for role in ("source", "statement")] == [1280, 768]


def test_a_grown_context_scores_the_same_and_frees_the_one_it_replaced(model: LlamaCppChat) -> None:
    """A prompt longer than its context is read in a larger one; the replaced llama.cpp context is
    freed at once (llama-cpp-python would otherwise keep it until the model closes)."""
    tiny = LlamaScorer(model.model_path, ScoringContexts(source=256, statement=256, choice=256, limit=4096))
    tiny._load()
    first = tiny._context("source")
    full = LlamaScorer(model.model_path, ScoringContexts(source=4096, statement=1024, choice=2048, limit=4096))
    long = " ".join([SOURCE] * 4)  # ~270 tokens of source: the prompt outgrows 256
    a, b = tiny.score(long, EDITED), full.score(long, EDITED)
    assert tiny._context("source").n_ctx > 256  # the source context grew
    assert first.ctx.ctx is None and first.batch is None  # the old one's native context and batch are freed
    assert (a.cond, a.uncond, a.best) == (b.cond, b.uncond, b.best)


def test_judge_prefers_the_faithful_sentence(model: LlamaCppChat) -> None:
    assert model.judge(SOURCE, FAITHFUL) > model.judge(SOURCE, EDITED)


def test_calibrated_scorer_separates_faithful_from_edited(model: LlamaCppChat) -> None:
    calibrated = load_calibration(model_name(model))
    assert calibrated is not None, "assistant/support/weights.json has no weights for the local model"
    scorer = SupportScorer(model, calibrated)
    good, bad, swapped = scorer.score_many(SOURCE, [FAITHFUL, EDITED, SWAPPED])
    assert good.probability > bad.probability and good.probability > swapped.probability
    assert bad.supported is False
    assert any("95" in s.text for s in bad.suspect_spans)
    assert SOURCE[good.evidence_start : good.evidence_end] == good.evidence


def test_a_repeated_call_is_answered_from_memory(model: LlamaCppChat) -> None:
    first = model.score(SOURCE, FAITHFUL)
    ctx = model.scoring_engine()._context("source")
    model.score(SOURCE, SWAPPED)  # the context now holds another sentence
    held = list(ctx.tokens)
    assert model.score(SOURCE, FAITHFUL) is first
    assert ctx.tokens == held  # nothing was read again
