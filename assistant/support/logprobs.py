"""Token log-probabilities of a statement with and without its source: the support scorer's raw signal.

A statement is scored as the model's reply to "summarise the source", once after the model has
read the source and once without it. The per-token difference (pointwise mutual information)
says how much the source, not the language alone, made each token likely: a swapped name or an
invented detail is a token the source made *less* likely. A constrained yes/no question adds the
probability of "yes" for the whole statement. No text is generated.

Backends: the local GGUF through llama.cpp (the source's KV state is kept, so further statements
about the same source cost only their own tokens), an OpenAI-compatible completions endpoint that
echoes prompt log-probabilities and the replay cache (CI never loads a model); the fake for tests is in
``assistant.testing``. Each declares ``Capabilities(token_logprobs=True)`` (``assistant.llm_base``).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, Field

from assistant.errors import LLMError, ModelMissingError, ReplayMissError
from assistant.llm_base import Capabilities, capabilities, friendly_endpoint_errors, to_chat_dicts
from assistant.llm_local import default_threads, load_llama
from assistant.llm_replay import read_entry, request_key, write_entry
from assistant.prompts import PROMPTS_DIR, render

SCORE_PROMPT = "support"
JUDGE_PROMPT = "support_judge"
_YES = ("yes", "Yes", " yes", " Yes", "YES")
_NO = ("no", "No", " no", " No", "NO")


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


class LogprobModel(Protocol):
    """Anything that scores a statement's tokens against a source (``capabilities.token_logprobs``)."""

    name: str
    capabilities: Capabilities

    def score(self, source: str, text: str) -> TokenScores: ...

    def judge(self, source: str, text: str) -> float:
        """log p(yes) - log p(no) for "does the source support the statement?"."""
        ...

    def choose(self, prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> dict[str, float]:
        """log p of each choice's first reply token after the rendered ``prompt`` (nothing generated)."""
        ...


def prompt_fingerprint(prompts_dir: Path = PROMPTS_DIR) -> str:
    """Hash of the scoring prompts: a change invalidates recorded scores and fitted weights."""
    h = hashlib.sha256()
    for name in (SCORE_PROMPT, JUDGE_PROMPT):
        h.update((Path(prompts_dir) / f"{name}.yaml").read_bytes())
    return h.hexdigest()[:16]


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


# --------------------------------------------------------------------------- local llama.cpp


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
        params.n_ubatch = min(512, n_ctx)
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

    def rows(self, tokens: list[int], positions: Sequence[int]) -> np.ndarray:
        """Logit rows at ``positions`` of ``tokens`` (the row at p predicts token p + 1).

        The KV cache keeps the longest prefix this context already read, so a second statement
        about the same source costs only its own tokens.
        """
        if len(tokens) > self.n_ctx:
            raise LLMError(
                f"{len(tokens)} tokens do not fit the scoring context of {self.n_ctx}",
                "Score against a shorter source (fewer passages) or raise ASSISTANT_LLM__N_CTX.",
            )
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
            b = self.batch
            b.n_tokens = len(part)
            for j, tok in enumerate(part):
                b.token[j] = tok
                b.pos[j] = chunk + j
                b.n_seq_id[j] = 1
                b.seq_id[j][0] = 0
                b.logits[j] = (chunk + j) in wanted
            rc = lib.llama_decode(self.ctx.ctx, b)
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


def choice_digest(prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> str:
    """sha256 of a rendered choice prompt and its choices: the key of a recorded constrained choice."""
    messages = render(prompt, **variables)
    payload = {"messages": [[m.type, str(m.content)] for m in messages], "choices": {k: list(v) for k, v in choices.items()}}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


_ENGINES: dict[tuple[str, int, int], LlamaLogprobs] = {}
_ENGINES_LOCK = threading.Lock()
_MEMO_SIZE = 512


def source_digest(source: str) -> str:
    """sha256 of a source text: the key of its recorded scores, remembered calls and read window."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


class LlamaLogprobs:
    """Scores statements with the local GGUF; keeps the source's KV state between statements."""

    capabilities = Capabilities(token_logprobs=True)

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        name: str | None = None,
        chat_n_ctx: int = 4096,
    ):
        self.model_path = str(model_path)
        self.n_ctx = n_ctx
        self.chat_n_ctx = chat_n_ctx  # the weights are shared with the chat model of this context size
        self.n_threads = n_threads
        self.name = name or f"local/{Path(model_path).stem}"
        self._lock = threading.Lock()
        self._loaded: tuple[Any, _Context, _Context] | None = None
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
    def shared(cls, model_path: str | Path, n_ctx: int = 4096, n_threads: int | None = None) -> LlamaLogprobs:
        """One engine per model file and context size in the process (its KV caches are the point)."""
        threads = n_threads or default_threads()
        key = (str(Path(model_path).resolve()), n_ctx, threads)
        with _ENGINES_LOCK:
            if key not in _ENGINES:
                _ENGINES[key] = cls(model_path, n_ctx, threads)
            return _ENGINES[key]

    def _load(self) -> tuple[Any, _Context, _Context]:
        if self._loaded is None:
            threads = self.n_threads or default_threads()
            # The chat model's Llama owns the weights; the scorer adds two contexts of its own:
            # a large one that keeps the source, a small one for the statement without it.
            llama, _ = load_llama(self.model_path, self.chat_n_ctx, threads)
            # Two contexts on the shared weights, each keeping its own KV prefix: one reads the
            # source (statements and the yes/no question both follow it, so it is read once), the
            # other reads statements without the source.
            self._loaded = (
                llama,
                _Context(llama, self.n_ctx, threads),
                _Context(llama, 1024, threads),
            )
        return self._loaded

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
            llama, _, _ = self._load()

            def compute() -> TokenScores:
                cond = self._prompt(llama, SCORE_PROMPT, source=source)
                uncond = self._prompt(llama, SCORE_PROMPT, source="")
                return self._reply(cond, uncond, text)

            return self._remember(("score", source_digest(source), text), compute)

    def _reply(self, cond_prefix: list[int], uncond_prefix: list[int], text: str) -> TokenScores:
        """Scores of ``text`` read as the reply after each prefix (the caller holds the lock)."""
        llama, cond_ctx, uncond_ctx = self._load()
        body = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if not body:
            return TokenScores(text=text, model=self.name)
        pieces = [llama.detokenize([t]) for t in body]
        at = len(cond_prefix) - 1
        cond_rows = cond_ctx.rows(cond_prefix + body, range(at, at + len(body)))
        at = len(uncond_prefix) - 1
        uncond_rows = uncond_ctx.rows(uncond_prefix + body, range(at, at + len(body)))
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
            llama, cond_ctx, _ = self._load()

            def compute() -> float:
                question = self._prompt(llama, JUDGE_PROMPT, source=source, statement=text)
                row = cond_ctx.rows(question, [len(question) - 1])[0]
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
            llama, _, _ = self._load()
            ctx = self.__dict__.get("_choice_ctx")
            if ctx is None:
                ctx = self.__dict__["_choice_ctx"] = _Context(llama, 2048, self.n_threads or default_threads())

            def compute() -> dict[str, float]:
                tokens = self._prompt(llama, prompt, **variables)
                lp = _log_softmax(ctx.rows(tokens, [len(tokens) - 1])[0])
                ids = {
                    label: sorted({llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})
                    for label, words in choices.items()
                }
                seen: dict[int, str] = {}
                for label, toks in ids.items():
                    for t in toks:
                        if seen.setdefault(t, label) != label:
                            raise LLMError(f"choices {seen[t]!r} and {label!r} open with the same token")
                return {label: round(_logsumexp(lp[toks]), 4) for label, toks in ids.items()}

            key = ("choose", prompt, choice_digest(prompt, variables, choices))
            return self._remember(key, compute)

    @staticmethod
    def _choice_ids(llama: Any) -> tuple[list[int], list[int]]:
        def first(words: tuple[str, ...]) -> list[int]:
            return sorted({llama.tokenize(w.encode(), add_bos=False, special=False)[0] for w in words})

        return first(_YES), first(_NO)


def _logsumexp(values: np.ndarray) -> float:
    m = float(values.max())
    return m + math.log(float(np.exp(values - m).sum()))


def _yes_no(logprobs: np.ndarray, ids: tuple[list[int], list[int]]) -> float:
    yes, no = ids
    return _logsumexp(logprobs[yes]) - _logsumexp(logprobs[no])


# --------------------------------------------------------------------------- OpenAI-compatible


class OpenAILogprobs:
    """Token scores from an OpenAI-compatible endpoint.

    Statements are scored with the completions API echoing the prompt's log-probabilities
    (llama.cpp's and vLLM's servers do this; OpenAI's chat models do not). The yes/no judge uses
    chat completions with ``logprobs``, which most endpoints return. Prompts are the same files,
    written out as plain text (the endpoint applies no chat template to a completions prompt).
    """

    # Declared, not probed: an endpoint that does not echo them fails the first call with what to do.
    capabilities = Capabilities(token_logprobs=True)

    def __init__(self, base_url: str | None, api_key: str | None, model: str) -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.model = model
        self.name = f"openai/{model}"

    def _client(self) -> Any:
        import openai  # lazy: only the OpenAI-compatible backend needs the client

        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key or "not-needed", max_retries=1)

    @staticmethod
    def _plain(name: str, **variables: Any) -> str:
        system, user = render(name, **variables)
        return f"{system.text}\n\n{user.text}\n\n"

    def _echo(self, prefix: str, text: str) -> tuple[list[tuple[int, int]], list[float], list[float], list[str]]:
        with friendly_endpoint_errors(self.base_url, self.model):
            got = self._client().completions.create(
                model=self.model, prompt=prefix + text, max_tokens=1, echo=True, logprobs=1, temperature=0.0
            )
        lp = got.choices[0].logprobs
        if lp is None or not lp.token_logprobs or lp.text_offset is None:
            raise LLMError(
                f"the endpoint for {self.model} returns no prompt log-probabilities",
                "Use a server that echoes them (llama.cpp's with --logits_all, vLLM), or the local model.",
            )
        prompt = prefix + text
        generated = (got.choices[0].text or "")[len(prompt) :]
        if generated and "".join(lp.tokens) == prompt:
            # llama-cpp-python's server, for a model without a BOS token (Qwen), reads each prompt
            # token's log-probability from its own logits row (the next token's distribution) and
            # drops the generated token: every value is one position off and cannot be repaired.
            raise LLMError(
                f"the endpoint for {self.model} returns prompt log-probabilities shifted by one token",
                "llama-cpp-python's server does this for models without a BOS token; use vLLM, "
                "a server that aligns echoed log-probabilities, or the local model.",
            )
        spans, values, best, expected = [], [], [], []
        n_prompt = len(prompt)
        for tok, value, off, top in zip(lp.tokens, lp.token_logprobs, lp.text_offset, lp.top_logprobs or []):
            if off < len(prefix) or off >= n_prompt or value is None:
                continue
            start = off - len(prefix)
            spans.append((start, min(start + len(tok), len(text))))
            values.append(float(value))
            alt = max((top or {tok: value}).items(), key=lambda kv: kv[1])
            best.append(max(float(alt[1]), float(value)))
            expected.append(alt[0])
        return spans, values, best, expected

    def score(self, source: str, text: str) -> TokenScores:
        return self._reply(self._plain(SCORE_PROMPT, source=source), self._plain(SCORE_PROMPT, source=""), text)

    def _reply(self, cond_prefix: str, uncond_prefix: str, text: str) -> TokenScores:
        """Scores of ``text`` echoed after each prefix (with the source, without it)."""
        spans, cond, best, expected = self._echo(cond_prefix, text)
        uspans, uncond, _, _ = self._echo(uncond_prefix, text)
        if uspans != spans:
            raise LLMError(f"the endpoint tokenised the statement differently in two calls ({self.model})")
        return TokenScores(text=text, spans=spans, cond=cond, uncond=uncond, best=best, expected=expected, model=self.name)

    def _first_token(self, prompt: str, top_logprobs: int, **variables: Any) -> dict[str, float]:
        """{token: log-probability} of the most likely first reply tokens after the rendered chat ``prompt``."""
        messages = to_chat_dicts(render(prompt, **variables))
        with friendly_endpoint_errors(self.base_url, self.model):
            got = self._client().chat.completions.create(
                model=self.model, messages=messages, max_tokens=1, logprobs=True, top_logprobs=top_logprobs, temperature=0.0
            )
        content = got.choices[0].logprobs.content if got.choices[0].logprobs else None
        if not content:
            raise LLMError(f"the endpoint for {self.model} returns no log-probabilities for chat replies")
        return {t.token: t.logprob for t in content[0].top_logprobs} or {content[0].token: content[0].logprob}

    def judge(self, source: str, text: str) -> float:
        top = self._first_token(JUDGE_PROMPT, 10, source=source, statement=text)
        yes = [v for k, v in top.items() if k.strip().lower() == "yes"]
        no = [v for k, v in top.items() if k.strip().lower() == "no"]
        floor = min(top.values()) - 1.0  # an answer missing from the top list is rarer than all of it
        return round(_logsumexp(np.asarray(yes or [floor])) - _logsumexp(np.asarray(no or [floor])), 4)

    def choose(self, prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> dict[str, float]:
        """log p(first reply token) per choice from chat log-probabilities (top 20 tokens)."""
        top = self._first_token(prompt, 20, **variables)
        floor = min(top.values()) - 1.0
        hits: dict[str, list[float]] = {label: [] for label in choices}
        for token, value in top.items():
            label = _label_of(token, choices)
            if label is not None:
                hits[label].append(value)
        return {label: round(_logsumexp(np.asarray(v or [floor])), 4) for label, v in hits.items()}


def _label_of(token: str, choices: dict[str, Sequence[str]]) -> str | None:
    """The choice a first reply token opens: the one whose word it is; else the only one whose word
    it begins ("N" begins both "No" and "Not": it counts for neither)."""
    t = token.strip().lower()
    if not t:
        return None
    exact = [label for label, words in choices.items() if any(w.strip().lower() == t for w in words)]
    if exact:
        return exact[0]
    prefix = [label for label, words in choices.items() if any(w.strip().lower().startswith(t) for w in words)]
    return prefix[0] if len(prefix) == 1 else None


# --------------------------------------------------------------------------- replay cache and fake


class ReplayLogprobs:
    """Records token scores in the chat replay cache (same folder, same key scheme) and replays them."""

    def __init__(self, inner: LogprobModel, cache_dir: Path, mode: str = "auto") -> None:
        self.inner = inner
        self.cache_dir = Path(cache_dir)
        self.mode = mode
        self.name = inner.name
        self.hits = 0
        self.misses = 0

    @property
    def capabilities(self) -> Capabilities:
        """The inner model's: a replayed score is what that model gave."""
        return capabilities(self.inner)

    def request(self, kind: str, source: str, text: str) -> dict[str, Any]:
        """What a recorded score depends on; the source enters by its hash (articles are long)."""
        return {
            "kind": kind,
            "model": self.inner.name,
            "prompts": prompt_fingerprint(),
            "source_sha256": source_digest(source),
            "text": text,
        }

    def _cached(self, kind: str, source: str, text: str, compute: Any) -> Any:
        request = self.request(kind, source, text)
        key = request_key(request)
        if self.mode in ("replay", "auto"):
            entry = read_entry(self.cache_dir, key)
            if entry is not None:
                self.hits += 1
                return entry["response"]
            if self.mode == "replay":
                self.misses += 1
                raise ReplayMissError(
                    f"no recorded {kind} for request {key[:16]} (model {self.inner.name}) in {self.cache_dir}"
                )
        if self.mode != "off":
            self.misses += 1
        response = compute()
        if self.mode != "off":
            write_entry(self.cache_dir, key, request, response, self.inner.name, indent=None)
        return response

    def score(self, source: str, text: str) -> TokenScores:
        def compute() -> dict:
            return self.inner.score(source, text).model_dump(mode="json")

        return TokenScores.model_validate(self._cached("support-logprobs", source, text, compute))

    def judge(self, source: str, text: str) -> float:
        return float(self._cached("support-judge", source, text, lambda: {"judge": self.inner.judge(source, text)})["judge"])

    def choose(self, prompt: str, variables: dict[str, Any], choices: dict[str, Sequence[str]]) -> dict[str, float]:
        """A recorded constrained choice, keyed by the rendered prompt and the choices."""
        request = {"kind": "choice", "model": self.inner.name, "prompt": prompt, "sha256": choice_digest(prompt, variables, choices)}
        key = request_key(request)
        if self.mode in ("replay", "auto"):
            entry = read_entry(self.cache_dir, key)
            if entry is not None:
                self.hits += 1
                return {k: float(v) for k, v in entry["response"].items()}
            if self.mode == "replay":
                self.misses += 1
                raise ReplayMissError(f"no recorded choice for request {key[:16]} (model {self.inner.name}) in {self.cache_dir}")
        if self.mode != "off":
            self.misses += 1
        response = self.inner.choose(prompt, variables, choices)
        if self.mode != "off":
            write_entry(self.cache_dir, key, request, response, self.inner.name, indent=None)
        return response
