"""The local token scorer's llama.cpp contexts are sized from the settings in one place
(``llm_scores.scoring_contexts``): the product's largest prompts fit them, the support scorer cuts
its windows to the same size, and a prompt that still outgrows a context is read in a larger one.

The prompts are the real ones (rendered, in a ChatML template, windows and excerpts chosen by the
product's own code), counted with tiktoken here and with the local model's tokenizer in the slow
test; the model itself is a fake.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, ClassVar

import numpy as np
import pytest

from assistant import llm_llama
from assistant.errors import LLMError
from assistant.ingest import split_passages
from assistant.injection import model_view
from assistant.llm import get_chat_model
from assistant.llm_llama import LlamaScorer
from assistant.llm_scores import (
    CHOICE_CONTEXT_FACTOR,
    JUDGE_PROMPT,
    QUESTION_TOKENS,
    SCORE_PROMPT,
    STATEMENT_TOKENS,
    ScoringContexts,
    scoring_contexts,
    support_n_ctx,
    window_budget,
)
from assistant.qa_boolean import CHOICES, PROMPT, retrieve_excerpts
from assistant.settings import LLMSettings, Settings, SupportSettings
from assistant.support import support_scorer
from assistant.support.scorer import SupportScorer
from assistant.testing import FakeScoringModel
from assistant.tokens import count_tokens, get_encoding
from assistant.types import Article, ScoredPassage


def _sentence(i: int, words: int) -> str:
    """A news sentence of about ``words`` words, dense in numbers: the local model's tokenizer splits
    every digit, so it counts ~1.17 times tiktoken's tokens here (1.09 on the densest dev domain,
    earnings calls; 1.02 on news)."""
    parts = [f"On {i % 28 + 1} March 2024 the Vellmar council approved €{1000 + 37 * i:,}.{i % 10} million for the harbour"]
    n = 0
    while len(" ".join(parts).split()) < words:
        n += 1
        parts.append(f"and a further {12 + i + n}.{(i * n) % 10}% for the ferry terminal in ward {100 + n * i}, the finance committee said")
    return " ".join(parts) + "."


ARTICLE = " ".join(_sentence(i, 28) for i in range(60))  # ~3,000 tokens: cut to a window


def _statement(tokens: int, i: int = 7) -> str:
    """A sentence of about ``tokens`` tiktoken tokens, about the article."""
    enc = get_encoding()
    text = _sentence(i, tokens)
    return enc.decode(enc.encode(text)[: tokens - 1]).rstrip() + "."


class _Retriever:
    """Returns the given passages as the closest hits."""

    def __init__(self, passages) -> None:
        self.passages = passages

    def search(self, query: str, k: int | None = None, **_: Any) -> list[ScoredPassage]:
        return [ScoredPassage(passage=p, score=1.0, dense_score=0.9) for p in self.passages[: k or 5]]


def largest_prompts(llama: Any, settings: Settings) -> dict[str, int]:
    """The longest prompt (in ``llama``'s tokens) the product sends each scorer context under ``settings``."""
    engine = LlamaScorer("unused.gguf")

    def n(text: str) -> int:
        return len(llama.tokenize(text.encode(), add_bos=False, special=False))

    scorer = SupportScorer(
        FakeScoringModel(), None, n_ctx=settings.llm.n_ctx, source_tokens=settings.support.source_tokens, reuse_windows=False
    )
    need = {"source": 0, "statement": 0, "choice": 0}
    # Statements as long as the context leaves room for (a longer one grows it: see below).
    for size in (12, STATEMENT_TOKENS):
        statement = _statement(size)
        window = scorer.window(ARTICLE, [statement])
        scored = len(engine._prompt(llama, SCORE_PROMPT, source=window)) + n(statement)
        judged = len(engine._prompt(llama, JUDGE_PROMPT, source=window, statement=statement))
        need["source"] = max(need["source"], scored, judged)
        need["statement"] = max(need["statement"], len(engine._prompt(llama, SCORE_PROMPT, source="")) + n(statement))
    # The yes/no choice: each retrieved passage a single sentence that fills it (its excerpt is then
    # the whole passage, whatever the excerpt budget), a question as long as the room left for it.
    long = " ".join(_statement(settings.chunk.max_tokens - 5, i) for i in range(12))
    article = Article(id="a1", raw=long, text=long)
    passages = sorted(split_passages(article, settings.chunk), key=lambda p: -p.tokens)
    question = "Did " + _statement(QUESTION_TOKENS - 2).rstrip(".") + "?"
    found = retrieve_excerpts(question, _Retriever(passages), settings, factor=CHOICE_CONTEXT_FACTOR)
    assert len(found) == settings.retrieve.answer_passages
    assert all(count_tokens(t) >= settings.chunk.max_tokens - 20 for _, t, _ in found)  # whole passages
    variables = {"question": question, "passages": [{"text": model_view(t)} for _, t, _ in found]}
    need["choice"] = len(engine._prompt(llama, PROMPT, **variables))
    return need


class TiktokenLlama:
    """Stands in for llama-cpp's ``Llama`` in the scorer: tiktoken's tokens, ChatML's markers one token each."""

    SPECIALS = ("<|im_start|>", "<|im_end|>")
    CHATML = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )

    def __init__(self) -> None:
        self.enc = get_encoding()
        self.base = self.enc.n_vocab
        self.metadata = {"tokenizer.chat_template": self.CHATML}
        self._model = self

    # the vocabulary calls the chat formatter makes
    def token_eos(self) -> int:
        return self.base + 1

    def token_bos(self) -> int:
        return -1

    def token_get_text(self, token: int) -> str:
        return self.SPECIALS[token - self.base]

    def n_vocab(self) -> int:
        return self.base + len(self.SPECIALS)

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        out: list[int] = []
        pattern = "(" + "|".join(map(re.escape, self.SPECIALS)) + ")"
        for piece in re.split(pattern, text.decode()) if special else [text.decode()]:
            if piece in self.SPECIALS:
                out.append(self.base + self.SPECIALS.index(piece))
            elif piece:
                out.extend(self.enc.encode(piece, disallowed_special=()))
        return out

    def detokenize(self, tokens: list[int], special: bool = False) -> bytes:
        return b"".join(self.enc.decode_single_token_bytes(t) for t in tokens if t < self.base)


class FakeContext:
    """Stands in for a llama.cpp context: records its size, refuses what does not fit as the real one does."""

    made: ClassVar[list[int]] = []

    def __init__(self, llama: Any, n_ctx: int, n_threads: int) -> None:
        self.n_ctx, self.n_vocab, self.tokens = n_ctx, llama.n_vocab(), []
        self.closed = False
        FakeContext.made.append(n_ctx)

    def close(self) -> None:
        self.closed = True

    def rows(self, tokens: list[int], positions) -> np.ndarray:
        if len(tokens) > self.n_ctx:
            raise LLMError(f"{len(tokens)} tokens do not fit the scoring context of {self.n_ctx}")
        self.tokens = list(tokens)
        return np.zeros((len(list(positions)), self.n_vocab), np.float32)


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch):
    """A LlamaScorer on TiktokenLlama and FakeContexts of the given sizes."""
    llama = TiktokenLlama()
    monkeypatch.setattr(llm_llama, "_Context", FakeContext)
    monkeypatch.setattr(llm_llama, "load_llama", lambda *a, **k: (llama, threading.Lock()))
    FakeContext.made = []

    def make(contexts: ScoringContexts) -> LlamaScorer:
        return LlamaScorer("fake.gguf", contexts, n_threads=1, chat_n_ctx=contexts.limit)

    return make


# --------------------------------------------------------------------------- the sizes


def test_default_sizes() -> None:
    # they were 4,096 (source, = llm.n_ctx), 1,024 (statement) and 2,048 (choice) tokens
    assert scoring_contexts() == ScoringContexts(source=1280, statement=768, choice=1280, limit=4096)


def test_a_full_window_fits_beside_the_statement_room() -> None:
    for source_tokens in (64, 300, 700, 1000, 1900):
        n_ctx = support_n_ctx(source_tokens, limit=8192)
        assert n_ctx % 256 == 0
        assert window_budget(n_ctx, source_tokens, STATEMENT_TOKENS) == source_tokens
        assert window_budget(n_ctx - 256, source_tokens, STATEMENT_TOKENS) < source_tokens  # the least that does


def test_sizes_follow_the_settings_and_never_exceed_llm_n_ctx(settings: Settings) -> None:
    wider = settings.model_copy(update={"support": SupportSettings(source_tokens=1500)})
    assert scoring_contexts(wider).source == 2048
    more = settings.model_copy(update={"retrieve": settings.retrieve.model_copy(update={"answer_passages": 8})})
    assert scoring_contexts(more).choice > scoring_contexts(settings).choice
    small = settings.model_copy(update={"llm": LLMSettings(n_ctx=1000)})
    assert max(vars(scoring_contexts(small)).values()) == 1000


def test_the_support_scorer_and_the_model_use_the_same_size(settings: Settings) -> None:
    settings = settings.model_copy(update={"support": SupportSettings(source_tokens=900)})
    contexts = scoring_contexts(settings)
    assert get_chat_model(settings).scoring_contexts == contexts  # the file is opened on first use only
    # windows are cut to the model's whole context, as the weights were fitted (not to the sized one)
    assert support_scorer(settings).n_ctx == settings.llm.n_ctx


# --------------------------------------------------------------------------- the product's prompts fit


def test_the_products_largest_prompts_fit_their_contexts(settings: Settings) -> None:
    need = largest_prompts(TiktokenLlama(), settings)
    contexts = scoring_contexts(settings)
    assert need["source"] <= contexts.source
    assert need["statement"] <= contexts.statement
    assert need["choice"] <= contexts.choice


def test_scoring_the_largest_prompts_grows_no_context(fake_engine, settings: Settings, caplog) -> None:
    contexts = scoring_contexts(settings)
    engine = fake_engine(contexts)
    scorer = SupportScorer(FakeScoringModel(), None, n_ctx=settings.llm.n_ctx, reuse_windows=False)
    with caplog.at_level(logging.WARNING, logger="assistant.llm_llama"):
        for size in (12, STATEMENT_TOKENS):
            statement = _statement(size)
            window = scorer.window(ARTICLE, [statement])
            engine.score(window, statement)
            engine.judge(window, statement)
        engine.choose(PROMPT, {"question": "Did the council approve it?", "passages": [{"text": ARTICLE[:900]}]}, CHOICES)
    assert sorted(FakeContext.made) == sorted([contexts.source, contexts.statement, contexts.choice])
    assert not caplog.records


def test_a_long_statement_keeps_its_full_window_and_grows_the_context(fake_engine, settings: Settings, caplog) -> None:
    """Windows are cut to the model's whole context, as the weights were fitted: a statement longer
    than the sized room gets the same window as before the contexts were sized, read in a larger one."""
    contexts = scoring_contexts(settings)
    engine = fake_engine(contexts)
    statement = _statement(3 * STATEMENT_TOKENS)
    window = support_scorer(settings).window(ARTICLE, [statement])
    assert count_tokens(window) > settings.support.source_tokens - 60  # not cut for the statement
    with caplog.at_level(logging.WARNING, logger="assistant.llm_llama"):
        engine.score(window, statement)
    assert max(FakeContext.made) > contexts.source and "outgrew" in caplog.text


def test_a_prompt_that_outgrows_its_context_is_read_in_a_larger_one(fake_engine, caplog) -> None:
    engine = fake_engine(ScoringContexts(source=256, statement=256, choice=256, limit=1024))
    source = _statement(350)
    engine._load()
    first = engine._context("source")
    with caplog.at_level(logging.WARNING, logger="assistant.llm_llama"):
        scores = engine.score(source, "The council approved it.")
    assert len(scores.cond) == len(scores.uncond) > 0
    assert first.closed  # the context it replaced is freed, not left to the model's exit stack
    assert engine._context("source").n_ctx == 512  # the source context grew to the prompt, rounded up to 256
    assert engine._context("statement").n_ctx == 256  # the statement context did not need to
    assert "outgrew" in caplog.text
    engine.judge(source, "The council approved it.")  # read in the grown context: no further growth
    assert FakeContext.made == [256, 512, 256]  # source, the grown source, statement (each made on first use)
    with pytest.raises(LLMError, match="do not fit the scoring context of 1024"):
        engine.score(_statement(1100), "The council approved it.")
    assert FakeContext.made == [256, 512, 256]  # beyond the limit: the error, no context made


# --------------------------------------------------------------------------- with the model's tokenizer (slow)


@pytest.mark.slow
def test_the_products_largest_prompts_fit_in_the_models_own_tokens(settings: Settings) -> None:
    """The local model's tokenizer splits digits one by one; its vocabulary only is loaded (no weights run)."""
    import llama_cpp

    from assistant.models import gguf_path

    path = gguf_path("1.5b", settings.model_dir)
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make models`")
    llama = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    # the text is denser in digits (more tokens to the model than to tiktoken) than any dev domain
    assert len(llama.tokenize(ARTICLE.encode(), add_bos=False, special=False)) > 1.1 * count_tokens(ARTICLE)
    need = largest_prompts(llama, settings)
    contexts = scoring_contexts(settings)
    assert need["source"] <= contexts.source
    assert need["statement"] <= contexts.statement
    assert need["choice"] <= contexts.choice
