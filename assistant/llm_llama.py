"""llama.cpp in process: a GGUF's weights loaded once (``load_llama``) and the token-scoring engine on them.

``LlamaScorer`` reads a statement's token log-probabilities with and without its source
(``llm_scores``) through llama.cpp contexts of its own on the shared weights, keeping each
context's KV state between calls (further statements about the same source cost only their own
tokens). The local chat model (``llm_local.LlamaCppChat``) chats through ``load_llama`` and
delegates its ``score``, ``judge`` and ``choose`` to the engine for its file.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import LLMError, ModelMissingError
from assistant.llm_base import to_chat_dicts
from assistant.llm_scores import (
    JUDGE_PROMPT,
    SCORE_PROMPT,
    ScoringContexts,
    TokenScores,
    choice_digest,
    logsumexp,
    rounded_context,
    scoring_contexts,
    source_digest,
)
from assistant.models import verify_on_load
from assistant.prompts import render

log = logging.getLogger(__name__)

_YES = ("yes", "Yes", " yes", " Yes", "YES")
_NO = ("no", "No", " no", " No", "NO")

_LLAMAS: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_LLAMAS_LOCK = threading.Lock()
# Tokens llama.cpp computes in one pass. Each context reserves a compute buffer for the worst case,
# every token's logits over the 151,936-token vocabulary: 306 MB per context at 512, ~80 MB at
# 128. Reading a 600-token prompt was as fast (67.5 against 68.3 tok/s, 1.5B, 2 cores).
N_UBATCH = 128


def default_threads() -> int:
    """All cores: llama-cpp-python's own default is half of them."""
    return os.cpu_count() or 1


class _LentWeights:
    """A loaded model lent to another ``Llama``: everything is the owner's, and ``close`` leaves
    the weights to the owner (which the lender keeps alive)."""

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner._model, name)

    def close(self) -> None:
        pass


def _on_weights(llama_cpp: Any, owner: Any, **kwargs: Any) -> Any:
    """A ``Llama`` with its own context on ``owner``'s weights.

    llama-cpp-python's ``Llama`` always loads its file; while this one is built its model class
    returns the loaded weights instead (the caller holds ``_LLAMAS_LOCK``, the only place that
    builds a ``Llama``). A second load would cost the weights' memory again (+1.8 GB measured).
    """
    from llama_cpp import _internals  # lazy, as in load_llama

    real = _internals.LlamaModel
    _internals.LlamaModel = lambda **_: _LentWeights(owner)
    try:
        return llama_cpp.Llama(**kwargs)
    finally:
        _internals.LlamaModel = real


def load_llama(
    model_path: str | Path,
    n_ctx: int,
    n_threads: int | None = None,
    chat_format: str | None = None,
) -> tuple[Any, threading.Lock]:
    """The process-wide ``llama_cpp.Llama`` for a GGUF and settings (loaded once) and the lock guarding it.

    Each n_ctx gets its own context and so its own KV cache: the chat prompt's prefix stays cached
    while summaries run in another context. The weights are loaded once per file and shared by
    every context on it.
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
            import llama_cpp  # lazy: optional (the replay cache and endpoints run without it)
        except ImportError as exc:
            raise ModelMissingError(
                "llama-cpp-python is not installed",
                "Run `make models` (builds llama-cpp-python with portable CPU flags), "
                "or set ASSISTANT_LLM__BACKEND=openai with ASSISTANT_LLM__BASE_URL.",
            ) from exc
        kwargs = {
            "model_path": str(path),
            "n_ctx": n_ctx,
            "n_threads": threads,
            "n_threads_batch": threads,
            "n_ubatch": N_UBATCH,
            "seed": 0,
            "chat_format": chat_format,
            # Read, not mmapped: llama.cpp repacks the weights into memory of its own for the
            # CPU kernels, so a mapping kept the file's 1.1 GB resident beside the repacked copy
            # (RSS 1.86 GB against 1.27 GB read; loading from page cache takes 2.3 s against 1.4 s).
            "use_mmap": False,
            "verbose": False,
        }
        owner = next((llama for (p, _, _), (llama, _) in _LLAMAS.items() if p == str(path)), None)
        try:
            llama = llama_cpp.Llama(**kwargs) if owner is None else _on_weights(llama_cpp, owner, **kwargs)
        except (ValueError, RuntimeError) as exc:
            raise ModelMissingError(f"could not load {path}: {exc}") from exc
        # A Llama holds one KV cache and is not thread-safe: calls are serialised.
        _LLAMAS[key] = (llama, threading.Lock())
        return _LLAMAS[key]


def _log_softmax(row: np.ndarray) -> np.ndarray:
    row = row.astype(np.float64)
    m = row.max()
    return row - (m + math.log(np.exp(row - m).sum()))


def _char_spans(pieces: Sequence[bytes], text: str) -> list[tuple[int, int]]:
    """Character span of each token piece (pieces may split a UTF-8 character)."""
    spans, consumed = [], b""
    prev = 0
    for piece in pieces:
        consumed += piece
        end = len(consumed.decode("utf-8", errors="ignore"))
        spans.append((prev, min(end, len(text))))
        prev = end
    return spans



# --------------------------------------------------------------------------- token scores


def fill_batch(batch: Any, part: Sequence[int], first: int, wanted: Any) -> Any:
    """``batch`` holding ``part`` (tokens at positions ``first``…, sequence 0), with an output
    (logits or states) for the positions in ``wanted``."""
    batch.n_tokens = len(part)
    for j, tok in enumerate(part):
        batch.token[j] = tok
        batch.pos[j] = first + j
        batch.n_seq_id[j] = 1
        batch.seq_id[j][0] = 0
        batch.logits[j] = (first + j) in wanted
    return batch


def _too_long(n_tokens: int, n_ctx: int) -> LLMError:
    return LLMError(
        f"{n_tokens} tokens do not fit the scoring context of {n_ctx}",
        "Score against a shorter source (fewer passages) or raise ASSISTANT_LLM__N_CTX.",
    )


class _Context:
    """One llama.cpp context whose KV cache holds the last token sequence it read (reused by prefix)."""

    def __init__(self, llama: Any, n_ctx: int, n_threads: int) -> None:
        # lazy: llama-cpp-python is optional (the replay cache and OpenAI-compatible backends run without it)
        import llama_cpp
        from llama_cpp._internals import LlamaContext

        self._lib = llama_cpp
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = min(512, n_ctx)
        params.n_ubatch = min(N_UBATCH, n_ctx)
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.flash_attn_type = 0  # as Llama() sets it: 'auto' chose a slower CPU path here
        self.n_ctx = n_ctx
        self.n_batch = params.n_batch
        self.ctx = LlamaContext(model=llama._model, params=params, verbose=False)
        self.n_vocab = llama.n_vocab()
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.tokens: list[int] = []
        self._rows: dict[int, np.ndarray] = {}  # logit rows of the last call, by position

    def __del__(self) -> None:
        batch = getattr(self, "batch", None)
        free = getattr(getattr(self, "_lib", None), "llama_batch_free", None)
        if batch is not None and callable(free):  # at interpreter exit the module may be torn down already
            free(batch)

    def close(self) -> None:
        """Free the native context (its KV cache and compute buffer) and the batch now.

        Dropping the last reference is not enough: llama-cpp-python registers every context's
        ``close`` with its model, so a context replaced by a larger one would stay allocated for as
        long as the model is loaded. Closing twice is harmless (the model closes it again at exit).
        """
        batch, self.batch = self.batch, None
        if batch is not None:
            self._lib.llama_batch_free(batch)
        self.ctx.close()
        self.tokens, self._rows = [], {}

    def rows(self, tokens: list[int], positions: Sequence[int]) -> np.ndarray:
        """Logit rows at ``positions`` of ``tokens`` (the row at p predicts token p + 1).

        The KV cache keeps the longest prefix this context already read, so a second statement
        about the same source costs only its own tokens.
        """
        if len(tokens) > self.n_ctx:
            raise _too_long(len(tokens), self.n_ctx)
        wanted = set(positions)
        lcp = 0
        for a, b in zip(self.tokens, tokens):
            if a != b:
                break
            lcp += 1
        # A row depends only on the tokens up to its position: rows of the shared prefix are kept
        # (edits of one summary share most of their words, so they cost only what differs).
        out = {p: row for p, row in self._rows.items() if p < lcp and p in wanted}
        todo = [p for p in wanted if p not in out]
        start = min(lcp, min(todo, default=lcp))
        lib = self._lib
        mem = lib.llama_get_memory(self.ctx.ctx)
        lib.llama_memory_seq_rm(mem, 0, start, -1)
        self.tokens = self.tokens[:start]
        self._rows = {p: row for p, row in self._rows.items() if p < start}
        for chunk in range(start, len(tokens), self.n_batch):
            part = tokens[chunk : chunk + self.n_batch]
            rc = lib.llama_decode(self.ctx.ctx, fill_batch(self.batch, part, chunk, wanted))
            if rc != 0:
                self.tokens, self._rows = [], {}
                lib.llama_memory_clear(mem, True)
                raise LLMError(f"llama.cpp could not read the scoring prompt (llama_decode returned {rc})")
            for j in range(len(part)):
                if (chunk + j) in wanted:
                    ptr = lib.llama_get_logits_ith(self.ctx.ctx, j)
                    out[chunk + j] = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()
            self.tokens.extend(part)
        self._rows.update(out)
        return np.stack([out[p] for p in positions]) if positions else np.zeros((0, self.n_vocab), np.float32)


_ENGINES: dict[tuple[str, int, int, ScoringContexts], LlamaScorer] = {}
_ENGINES_LOCK = threading.Lock()
_MEMO_SIZE = 512


class LlamaScorer:
    """Scores statements with the local GGUF; keeps the source's KV state between statements.

    The engine behind ``LlamaCppChat.score`` / ``judge`` / ``choose``: one per model file, context
    sizes and thread count in the process (``shared``), as its contexts' KV caches are the point.
    Its three contexts are sized to what they read (``ScoringContexts``, from the settings); a
    prompt that outgrows one is read in a larger one up to ``contexts.limit`` (``_context``).
    """

    def __init__(
        self,
        model_path: str | Path,
        contexts: ScoringContexts | None = None,
        n_threads: int | None = None,
        name: str | None = None,
        chat_n_ctx: int = 4096,
    ):
        self.model_path = str(model_path)
        self.contexts = contexts or scoring_contexts(limit=chat_n_ctx)
        self.chat_n_ctx = chat_n_ctx  # the weights are shared with the chat model of this context size
        self.n_threads = n_threads
        self.name = name or f"local/{Path(model_path).stem}"
        self._lock = threading.Lock()
        self._llama: Any = None
        self._contexts: dict[str, _Context] = {}  # by role: source, statement, choice
        # Results of recent calls: an editor who changes one sentence of a summary waits only
        # for that sentence (the others are asked again with the same source and words).
        self._memo: OrderedDict[tuple[str, ...], Any] = OrderedDict()

    def _remember(self, key: tuple[str, ...], compute: Any) -> Any:
        """``compute()`` unless the same call was made recently (the caller holds the lock)."""
        if key in self._memo:
            self._memo.move_to_end(key)
            return self._memo[key]
        value = compute()
        self._memo[key] = value
        while len(self._memo) > _MEMO_SIZE:
            self._memo.popitem(last=False)
        return value

    @classmethod
    def shared(
        cls,
        model_path: str | Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        contexts: ScoringContexts | None = None,
    ) -> LlamaScorer:
        """One engine per model file, chat context size (``n_ctx``), thread count and context sizes
        in the process (its KV caches are the point)."""
        threads = n_threads or default_threads()
        contexts = contexts or scoring_contexts(limit=n_ctx)
        key = (str(Path(model_path).resolve()), n_ctx, threads, contexts)
        with _ENGINES_LOCK:
            if key not in _ENGINES:
                _ENGINES[key] = cls(model_path, contexts, threads, chat_n_ctx=n_ctx)
            return _ENGINES[key]

    def _load(self) -> Any:
        """The loaded model (the chat model's Llama, which owns the weights the contexts run on).

        Each role's context is made on its first use (``_context``), each keeping its own KV prefix:
        "source" reads the source (statements and the judge's question both follow it, so it is read
        once), "statement" reads statements without it, "choice" the yes/no choice prompt.
        """
        if self._llama is None:
            self._llama, _ = load_llama(self.model_path, self.chat_n_ctx, self.n_threads or default_threads())
        return self._llama

    def _context(self, role: str, need: int = 0) -> _Context:
        """The context for ``role`` (a ``ScoringContexts`` field), first replaced by a larger one when
        a prompt of ``need`` tokens does not fit it (the caller holds the lock once loaded).

        The sizes leave room for the product's own prompts (tests/test_scoring_contexts.py). What
        outgrows them (a very long statement or question, text the model's tokenizer splits far
        finer than tiktoken) is read in a context of its size rounded up to 256, which then stays;
        one longer than ``contexts.limit`` gets the "do not fit" error.
        """
        if need > self.contexts.limit:
            raise _too_long(need, self.contexts.limit)
        ctx = self._contexts.get(role)
        size = getattr(self.contexts, role)
        if ctx is not None and need <= ctx.n_ctx:
            return ctx
        if need > size:
            grown = rounded_context(need, self.contexts.limit)
            have = ctx.n_ctx if ctx is not None else size
            log.warning(
                "a %d-token %s prompt outgrew the scorer's context of %d: it gets one of %d", need, role, have, grown
            )
            size = grown
        # the old context (if any) is freed before the new one is allocated
        old = self._contexts.pop(role, None)
        if old is not None:
            old.close()
        self._contexts[role] = _Context(self._llama, size, self.n_threads or default_threads())
        return self._contexts[role]

    def _formatter(self, llama: Any) -> Any:
        # lazy: optional, as in _Context
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelMissingError(f"{self.model_path} has no chat template")
        vocab = llama._model
        return Jinja2ChatFormatter(
            template,
            eos_token=vocab.token_get_text(vocab.token_eos()),
            bos_token=vocab.token_get_text(vocab.token_bos()) if vocab.token_bos() >= 0 else "",
        )

    def _prompt(self, llama: Any, name: str, **variables: Any) -> list[int]:
        """Token ids of a rendered prompt in the model's chat template, up to the reply."""
        prompt = self._formatter(llama)(messages=to_chat_dicts(render(name, **variables))).prompt
        # Data in the messages had its control tokens defused by the prompt renderer.
        return llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def score(self, source: str, text: str) -> TokenScores:
        with self._lock:
            llama = self._load()

            def compute() -> TokenScores:
                cond = self._prompt(llama, SCORE_PROMPT, source=source)
                uncond = self._prompt(llama, SCORE_PROMPT, source="")
                return self._reply(cond, uncond, text)

            return self._remember(("score", source_digest(source), text), compute)

    def _reply(self, cond_prefix: list[int], uncond_prefix: list[int], text: str) -> TokenScores:
        """Scores of ``text`` read as the reply after each prefix (the caller holds the lock)."""
        llama = self._load()
        body = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if not body:
            return TokenScores(text=text, model=self.name)
        pieces = [llama.detokenize([t]) for t in body]
        at = len(cond_prefix) - 1
        cond_rows = self._rows("source", cond_prefix + body, range(at, at + len(body)))
        at = len(uncond_prefix) - 1
        uncond_rows = self._rows("statement", uncond_prefix + body, range(at, at + len(body)))
        cond, uncond, best, expected = [], [], [], []
        for i, tok in enumerate(body):
            lc = _log_softmax(cond_rows[i])
            lu = _log_softmax(uncond_rows[i])
            top = int(lc.argmax())
            cond.append(round(float(lc[tok]), 4))
            uncond.append(round(float(lu[tok]), 4))
            best.append(round(float(lc[top]), 4))
            expected.append(llama.detokenize([top]).decode("utf-8", errors="replace"))
        return TokenScores(
            text=text,
            spans=_char_spans(pieces, text),
            cond=cond,
            uncond=uncond,
            best=best,
            expected=expected,
            model=self.name,
        )

    def judge(self, source: str, text: str) -> float:
        with self._lock:
            llama = self._load()

            def compute() -> float:
                question = self._prompt(llama, JUDGE_PROMPT, source=source, statement=text)
                row = self._rows("source", question, [len(question) - 1])[0]
                return round(_yes_no(_log_softmax(row), self._choice_ids(llama)), 4)

            return self._remember(("judge", source_digest(source), text), compute)

    def choose(self, prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> dict[str, float]:
        """log p(first reply token) of each choice after the rendered ``prompt``, in one prefill.

        ``choices`` maps a label to the words that may open the reply for it ("yes": ("Yes",
        "yes")); a label's value is the log-sum-exp over those words' first tokens. Nothing is
        generated. The prompt is read in a context of its own, so its fixed system text and worked
        examples stay in that context's KV cache whatever the support scorer reads in between.
        """
        with self._lock:
            llama = self._load()

            def compute() -> dict[str, float]:
                tokens = self._prompt(llama, prompt, **variables)
                lp = _log_softmax(self._rows("choice", tokens, [len(tokens) - 1])[0])
                ids = {
                    label: sorted({llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})
                    for label, words in choices.items()
                }
                seen: dict[int, str] = {}
                for label, toks in ids.items():
                    for t in toks:
                        if seen.setdefault(t, label) != label:
                            raise LLMError(f"choices {seen[t]!r} and {label!r} open with the same token")
                return {label: round(logsumexp(lp[toks]), 4) for label, toks in ids.items()}

            key = ("choose", prompt, choice_digest(prompt, variables, choices))
            return self._remember(key, compute)

    def _rows(self, role: str, tokens: list[int], positions: Sequence[int]) -> np.ndarray:
        """Logit rows of ``tokens`` read in the context for ``role`` (the caller holds the lock)."""
        return self._context(role, len(tokens)).rows(tokens, positions)

    @staticmethod
    def _choice_ids(llama: Any) -> tuple[list[int], list[int]]:
        def first(words: tuple[str, ...]) -> list[int]:
            return sorted({llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})

        return first(_YES), first(_NO)


def _yes_no(logprobs: np.ndarray, ids: tuple[list[int], list[int]]) -> float:
    yes, no = ids
    return logsumexp(logprobs[yes]) - logsumexp(logprobs[no])


