"""The support scorer: ``(source, sentence) -> probability, evidence span, suspect spans, reason``.

The probability comes from a calibrated model (``calibrate.py``) over the model's token scores
(``ChatModel.score`` and ``judge`` of a model declaring ``token_logprobs``; ``assistant.llm_scores``)
and the code's word-matching signals (``features.py``), fitted on labelled dev data. Suspect spans
are the words the source made least likely, with the token the model expected there instead. Hard
conflicts found by code (a number, date or name the source does not have) are reported by the
callers and stay decisive on their own.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from assistant.errors import AssistantError
from assistant.llm_base import ChatModel, model_name, require
from assistant.llm_scores import (
    TokenScores,
    prompt_fingerprint,
    source_digest,
    window_budget,
)
from assistant.support.calibrate import Calibrated
from assistant.support.features import all_features, words
from assistant.tokens import count_tokens
from assistant.types import SuspectSpan
from assistant.verify import split_sentences

log = logging.getLogger(__name__)

WEIGHTS_PATH = Path(__file__).resolve().parent / "weights.json"
# A word whose tokens the source made this much less likely (summed PMI, natural log) is suspect.
SUSPECT_PMI = -2.0
MAX_SUSPECTS = 3
# Longest source read for one scoring (tiktoken count): a 1.5B model reads ~65 tokens/s on two
# cores, so a longer article is cut to the sentences most like the statements being scored. The
# weights are fitted on sources cut the same way (SummEdits' podcasts run to 2,000 tokens).
SOURCE_TOKENS = 700
_WINDOWS_KEPT = 16


class SupportResult(BaseModel):
    """How well a source supports one sentence."""

    probability: float | None = Field(description="calibrated P(supported); None when no calibrated model applies")
    supported: bool | None = None
    threshold: float | None = None
    evidence: str = Field("", description="the source sentence the statement matches best")
    evidence_start: int = -1
    evidence_end: int = -1
    suspect_spans: list[SuspectSpan] = Field(default_factory=list)
    reason: str = ""
    signals: dict[str, float] = Field(default_factory=dict)


@lru_cache(maxsize=4)
def _load_weights(path: str, mtime: float) -> dict[str, Calibrated]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: Calibrated.from_json(entry) for name, entry in data.get("models", {}).items()}


def load_calibration(model_name: str, path: Path = WEIGHTS_PATH) -> Calibrated | None:
    """The fitted weights for ``model_name`` whose prompts match the current ones, else None."""
    if not Path(path).is_file():
        return None
    try:
        found = _load_weights(str(path), Path(path).stat().st_mtime).get(model_name)
    except (OSError, ValueError, AssistantError) as exc:
        log.warning("support weights %s unreadable: %s", path, exc)
        return None
    if found is None:
        return None
    if found.prompts and found.prompts != prompt_fingerprint():
        log.warning("support weights for %s were fitted with other prompts: re-fit them", model_name)
        return None
    return found


def evidence_sentence(source: str, sentence: str) -> tuple[str, int, int]:
    """The source sentence that shares most with ``sentence``, and its character span."""
    best = ("", -1, -1)
    top = -1.0
    for a, b in split_sentences(source) or [(0, len(source))]:
        score = fuzz.token_set_ratio(sentence, source[a:b])
        if score > top:
            top, best = score, (source[a:b], a, b)
    return best


def fit_source(source: str, sentence: str, budget: int) -> str:
    """``source`` cut to ``budget`` tokens by keeping the sentences most like ``sentence`` (in order)."""
    if count_tokens(source) <= budget:
        return source
    spans = split_sentences(source) or [(0, len(source))]
    ranked = sorted(range(len(spans)), key=lambda i: -fuzz.token_set_ratio(sentence, source[spans[i][0] : spans[i][1]]))
    keep: set[int] = set()
    used = 0
    for i in ranked:
        cost = count_tokens(source[spans[i][0] : spans[i][1]]) + 1
        if used + cost > budget:
            continue
        keep.add(i)
        used += cost
    return " ".join(source[a:b] for i, (a, b) in enumerate(spans) if i in keep)


def source_window(source: str, statements: list[str], source_tokens: int = SOURCE_TOKENS, n_ctx: int = 4096) -> str:
    """The part of ``source`` the statements are scored against (all of it when it is short), within
    the model's context of ``n_ctx`` tokens (``llm.n_ctx``; the scorer's source context, sized for
    a full window beside a 200-token statement, grows for a longer one)."""
    longest = max((count_tokens(s) for s in statements), default=0)
    return fit_source(source, " ".join(statements), max(window_budget(n_ctx, source_tokens, longest), 64))


def suspects(scores: TokenScores, start: int = 0, end: int | None = None) -> list[SuspectSpan]:
    """The words in [start, end) the source made least likely (offsets relative to ``start``)."""
    pmi = scores.pmi
    found = []
    for w in words(scores, start, end):
        value = float(sum(pmi[i] for i in w.tokens))
        if value <= SUSPECT_PMI and scores.text[w.start : w.end].strip(" .,;:!?\"'()"):
            found.append(
                SuspectSpan(
                    start=w.start - start,
                    end=w.end - start,
                    text=scores.text[w.start : w.end],
                    pmi=round(value, 2),
                    expected=scores.expected[w.tokens[0]].strip() if scores.expected else "",
                )
            )
    return sorted(found, key=lambda s: s.pmi)[:MAX_SUSPECTS]


class SupportScorer:
    """Scores sentences against a source with a model's token probabilities and calibrated weights."""

    def __init__(
        self,
        model: ChatModel,
        calibrated: Calibrated | None = None,
        n_ctx: int = 4096,
        source_tokens: int = SOURCE_TOKENS,
        reuse_windows: bool = True,
    ) -> None:
        require(model, "token_logprobs", "the support scorer")
        self.model = model
        self.calibrated = calibrated if calibrated is not None else load_calibration(model_name(model))
        # The model's whole context (llm.n_ctx): windows are cut to fit it, as the weights were fitted.
        self.n_ctx = n_ctx
        self.source_tokens = source_tokens
        # The window of each recent source that was read last: reused while it still holds the
        # evidence of the sentences asked about, so the model's KV cache of it is reused too.
        # Off for evaluation: each labelled pair is then scored as it was when the weights were fitted,
        # whatever pairs about the same source came before it.
        self.reuse_windows = reuse_windows
        self._windows: OrderedDict[str, str] = OrderedDict()
        self._windows_lock = threading.Lock()

    @property
    def name(self) -> str:
        """The model's name: its fitted weights and recorded scores are keyed by it."""
        return model_name(self.model)

    def score(self, source: str, sentence: str) -> SupportResult:
        """Support of one sentence by ``source``."""
        return self.score_many(source, [sentence])[0]

    def score_many(self, source: str, sentences: list[str]) -> list[SupportResult]:
        """Support of each sentence by ``source``, read once (one window of it for all sentences)."""
        sentences = [s.strip() for s in sentences]
        src = self.window(source, sentences)
        return [self._one(source, src, s) for s in sentences]

    def window(self, source: str, sentences: list[str]) -> str:
        """The part of ``source`` to read: the last window of it while that holds every sentence's evidence."""
        if not self.reuse_windows:
            return source_window(source, sentences, self.source_tokens, self.n_ctx)
        key = source_digest(source)
        with self._windows_lock:
            last = self._windows.get(key)
        if last is not None and all(evidence_sentence(source, s)[0] in last for s in sentences):
            with self._windows_lock:
                self._windows.move_to_end(key)
            return last
        src = source_window(source, sentences, self.source_tokens, self.n_ctx)
        with self._windows_lock:
            self._windows[key] = src
            while len(self._windows) > _WINDOWS_KEPT:
                self._windows.popitem(last=False)
        return src

    def _one(self, source: str, src: str, sentence: str) -> SupportResult:
        scores = self.model.score(src, sentence)
        wanted = self.calibrated.features if self.calibrated is not None else []
        uses_judge = any(f.startswith("judge") for f in wanted)
        features = all_features(scores, src, judge=self.model.judge(src, sentence) if uses_judge else None)
        ev, ev_start, ev_end = evidence_sentence(source, sentence)
        spans = suspects(scores)
        if self.calibrated is None:
            return SupportResult(
                probability=None,
                evidence=ev,
                evidence_start=ev_start,
                evidence_end=ev_end,
                suspect_spans=spans,
                reason=f"no calibrated support weights for {self.name}: run `python -m eval.support fit --out PATH`",
                signals=features,
            )
        cal = self.calibrated
        p = cal.probability(features)
        ok = p >= cal.threshold
        return SupportResult(
            probability=round(p, 4),
            supported=ok,
            threshold=cal.threshold,
            evidence=ev,
            evidence_start=ev_start,
            evidence_end=ev_end,
            suspect_spans=spans,
            reason=_reason(p, ok, spans, cal, features),
            signals={k: round(v, 4) for k, v in features.items()},
        )


def _reason(p: float, ok: bool, spans: list[SuspectSpan], cal: Calibrated, features: dict[str, float]) -> str:
    head = f"support {p:.2f} ({'at or above' if ok else 'below'} the {cal.threshold:.2f} threshold)"
    if spans:
        worst = spans[0]
        hint = f"; reading the source the model expected '{worst.expected}'" if worst.expected else ""
        return f"{head}: '{worst.text.strip()}' is unlikely given the source{hint}"
    against = sorted(cal.contributions(features).items(), key=lambda kv: kv[1])[:1]
    if not ok and against:
        return f"{head}: weakest signal {against[0][0]}"
    return head
