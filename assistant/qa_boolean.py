"""Yes/no and multi-part questions: detected in code, yes/no answered from a measured signal.

A yes/no question ("Did the council approve the budget?") is not answered from the small
model's free text (the 1.5B model never says "no": it refuses or says yes). Instead the model
reads the retrieved excerpts in ``prompts/ask_boolean.yaml`` and code reads the log-probabilities
of the three possible first reply tokens, "Yes", "No" and "Not" (stated), in one prefill
(``ChatModel.choose`` of a model declaring ``token_logprobs``; recorded and replayed through the
replay cache).

Whether the archive answers at all is decided by evidence, not by the model: the answer is "Not
stated in the articles." when no retrieved passage is close to the question, neither by the
embedder's cosine similarity (a floor fitted with unanswerable controls: the same questions with
their passage removed) nor by words (half the question's content words, retrieval's own rule).
Measured on the fit rows, similarity separates answerable questions from their controls far better
than the model's own "Not stated" probability (ROC AUC 0.92 against 0.75); the word rule keeps
the floor, fitted on BoolQ's Wikipedia questions, from refusing short news questions whose words
the article has ("Did the debate last six hours?": similarity 0.21).
Above the floor the code's hard conflicts come first: the question read as a statement ("Does the
berth have room for 20 boats?": "the berth have room for 20 boats") that the claim checker finds
contradicted by a passage read (a different number or date, a negation or antonym), when no
passage read backs it and none is newer, is answered "No", citing the sentence that says
otherwise; the model is not asked (questions that bound a number or negate are left to it).
Otherwise the model's margins decide, with thresholds fitted on dev data
(``qa_boolean_weights.json``, ``python -m eval.fit_boolean``): "Not stated" unless the margin for
an answer clears the first, then "Yes" or "No" by the second. The answer cites the sentence of the
passage closest to the question that shares most of its words, and is verified like every other
answer sentence.

A question with several parts ("Who floated a three-way meeting, and what did the Kremlin
say?") is split in code; each part is answered (or said to be unanswered) with its own citation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Iterator, Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field
from rapidfuzz import fuzz

from assistant.injection import model_view
from assistant.llm_base import ChatModel, capabilities, model_name, require
from assistant.llm_scores import CHOICE_CONTEXT_FACTOR
from assistant.prompts import NO_ANSWER, PROMPTS_DIR
from assistant.qa import _keys, answer_stream, excerpt, mark_injection, relevant, shares_words
from assistant.settings import Settings
from assistant.types import Answer, AnswerCitation, Citation, Passage, ScoredPassage
from assistant.verify import check_claim, split_sentences, verify_citations

log = logging.getLogger(__name__)

PROMPT = "ask_boolean"
CHOICES: dict[str, tuple[str, ...]] = {"yes": ("Yes", "yes"), "no": ("No", "no"), "not": ("Not", "not")}
NOT_STATED = "Not stated in the articles."
WEIGHTS_PATH = Path(__file__).with_name("qa_boolean_weights.json")

# Auxiliary verbs that open a yes/no question.
AUXILIARIES = frozenset(
    ["did", "does", "do", "is", "are", "was", "were", "has", "have", "had", "will", "would", "can", "could", "should", "shall", "may", "might", "must", "isn't", "aren't", "wasn't", "weren't", "didn't", "doesn't", "don't", "hasn't", "haven't", "hadn't", "won't", "wouldn't", "can't", "couldn't", "shouldn't"]
)
WH_WORDS = frozenset(["who", "whom", "whose", "what", "which", "when", "where", "why", "how"])
_OPENERS = AUXILIARIES | WH_WORDS
# A new part starts after "and" / "but" (with or without a comma), ";" or "?" when the next word
# opens a question; a bare comma does not split ("What did she say, when asked …?").
_SPLIT = re.compile(r"(?:\s*,?\s+(?:and|but)\s+|\s*;\s*|\?\s+)(?=(\w+'?\w*)\b)", re.IGNORECASE)

Label = Literal["yes", "no", "not"]


def _first_word(text: str) -> str:
    m = re.match(r"\s*([A-Za-z]+(?:'[a-z]+)?)", text)
    return m.group(1).lower() if m else ""


def is_yes_no(question: str) -> bool:
    """True for a question opened by an auxiliary verb ("Did …", "Is …"), not an either-or one."""
    q = question.strip()
    if _first_word(q) not in AUXILIARIES:
        return False
    # "Is it X or Y?" asks which, not whether ("… or not?" still asks whether).
    return not re.search(r"\bor\b(?!\s+not\b)", q, re.IGNORECASE)


def split_parts(question: str) -> list[str]:
    """The question's parts: a new part starts after "and", a comma or "?" when a question word
    (who/what/… or an auxiliary verb) follows. One part when nothing splits it."""
    q = question.strip()
    parts, start = [], 0
    for m in _SPLIT.finditer(q):
        if m.group(1).lower() not in _OPENERS or m.start() == 0:
            continue
        head = q[start : m.start()].strip(" ,;")
        if len(head.split()) >= 2:
            parts.append(head)
            start = m.end()
    parts.append(q[start:].strip(" ,;"))
    out = []
    for p in parts:
        p = p.rstrip("?").strip()
        if p:
            out.append(p[0].upper() + p[1:] + "?")
    return out if len(out) > 1 else [question.strip()]


# --------------------------------------------------------------------------- the signal and its calibration


def prompt_fingerprint() -> str:
    """Hash of the choice prompt: fitted thresholds are valid only for the prompt they were fitted on."""
    return hashlib.sha256((Path(PROMPTS_DIR) / f"{PROMPT}.yaml").read_bytes()).hexdigest()[:16]


def _lse(*values: float) -> float:
    m = max(values)
    return m + math.log(sum(math.exp(v - m) for v in values))


def answer_margin(lp: dict[str, float]) -> float:
    """log p(Yes or No) − log p(Not stated): how strongly the passages answer the question."""
    return _lse(lp["yes"], lp["no"]) - lp["not"]


def polarity_margin(lp: dict[str, float]) -> float:
    """log p(Yes) − log p(No)."""
    return lp["yes"] - lp["no"]


class Calibration(BaseModel):
    """A relevance floor and two thresholds on the choice log-probabilities, fitted on dev data (not on reported rows)."""

    min_relevance: float | None = Field(
        None,
        description="'Not stated' without asking the model when no retrieved passage's dense similarity to the "
        "question reaches this and none holds half its content words (None: no floor beyond retrieval's own)",
    )
    floors: dict[str, float] = Field(
        default_factory=dict,
        description="the relevance floor fitted for each embedder, by name: similarities differ from one "
        "embedder (MiniLM graph) to another. When set, it replaces min_relevance: an embedder it does not "
        "name gets no floor",
    )
    answer_threshold: float = Field(0.0, description="answered when answer_margin > this")
    polarity_threshold: float = Field(0.0, description="'yes' when polarity_margin > this")
    model: str = ""
    prompts: str = ""
    fitted_on: dict[str, Any] = Field(default_factory=dict)

    def for_embedder(self, name: str) -> Calibration:
        """This calibration with the relevance floor fitted for the embedder ``name`` (see ``floors``)."""
        if not self.floors:
            return self
        floor = self.floors.get(name)
        if floor is None:
            _warn_no_floor(name)
        return self.model_copy(update={"min_relevance": floor})

    def relevant(self, relevance: float, shares_words: bool = False) -> bool:
        """Whether passages this similar to the question (or holding its words) may answer it."""
        return self.min_relevance is None or shares_words or relevance >= self.min_relevance

    def decide(self, lp: dict[str, float]) -> Label:
        if answer_margin(lp) <= self.answer_threshold:
            return "not"
        return "yes" if polarity_margin(lp) > self.polarity_threshold else "no"


@cache
def _warn_no_floor(embedder: str) -> None:
    """Said once per embedder and process, not on every question."""
    log.warning("no yes/no relevance floor is fitted for embedder %r: questions are asked without one", embedder)


@lru_cache(maxsize=8)
def _read_weights(path: str, mtime: float) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def load_calibration(model: str, path: Path = WEIGHTS_PATH) -> Calibration:
    """The fitted thresholds for ``model`` and the current prompt; 0/0 (the model's argmax) otherwise."""
    if path.is_file():
        entry = _read_weights(str(path), path.stat().st_mtime).get(model)
        if entry and entry.get("prompts") == prompt_fingerprint():
            return Calibration.model_validate(entry)
    return Calibration(model=model, prompts=prompt_fingerprint())


def choice_scores(model: ChatModel, question: str, excerpts: Sequence[str]) -> dict[str, float]:
    """The three first-token log-probabilities for ``question`` over the excerpts (one prefill)."""
    require(model, "token_logprobs", "answering yes/no questions from the first reply token")
    passages = [{"text": model_view(t)} for t in excerpts]
    return model.choose(PROMPT, {"question": question, "passages": passages}, CHOICES)


def warm_up(model: ChatModel) -> None:
    """Read the choice prompt's fixed system text and examples into the model's KV cache."""
    model.choose(PROMPT, {"question": "", "passages": []}, CHOICES)


# --------------------------------------------------------------------------- answering


class BooleanAnswer(Answer):
    """An Answer with the signal it was decided on (yes/no questions) or its parts (multi-part ones)."""

    choice: dict[str, Any] | None = Field(
        None, description="log p of Yes / No / Not, the two margins and the decision (yes/no questions)"
    )
    parts: list[dict[str, Any]] = Field(default_factory=list, description="a multi-part question's parts")


_PRONOUN = re.compile(r"\b(it|its|they|them|their|he|him|his|she|her|this|that|these|those)\b", re.IGNORECASE)


class _WithContext:
    """Searches with the question's earlier part added, for a later part that only points back to
    its subject ("Which university did the study, and when was it published?": "When was it published?")."""

    def __init__(self, inner: Any, context: str) -> None:
        self.inner, self.context = inner, context

    def search(self, query: str, k: int | None = None, **kw: Any):
        return self.inner.search(f"{query} {self.context}", k=k, **kw)


class _Excluding:
    """A retriever that never returns the given articles (the eval's unanswerable controls)."""

    def __init__(self, inner: Any, exclude: Sequence[str]) -> None:
        self.inner, self.exclude = inner, list(exclude)

    def search(self, query: str, k: int | None = None, **kw: Any):
        return self.inner.search(query, k=k, exclude_articles=self.exclude)


def _embedder_name(retriever: Any) -> str:
    """The name of the embedder behind ``retriever`` (through the wrappers above), else ""."""
    while not hasattr(retriever, "embedder") and hasattr(retriever, "inner"):
        retriever = retriever.inner
    return str(getattr(getattr(retriever, "embedder", None), "name", ""))


def retrieve_excerpts(
    question: str, retriever: Any, settings: Settings, k: int | None = None, factor: int = 1
) -> list[tuple[Passage, str, float]]:
    """The passages an answer would read, each with its question-relevant excerpt (as ``qa`` does)
    and its dense similarity to the question (0 for a passage only the keyword index found)."""
    hits = relevant(question, retriever.search(question, k=k or settings.retrieve.k))[: settings.retrieve.answer_passages]
    if not hits:
        return []
    budget = max(40, factor * settings.retrieve.answer_context_tokens // len(hits))
    shown: set[str] = set()
    found = [(h.passage, excerpt(question, h.passage, budget, shown), float(h.dense_score or 0.0)) for h in hits]
    return [(p, t, d) for p, t, d in found if t]


def question_relevance(question: str, retriever: Any, settings: Settings, k: int | None = None) -> tuple[float, bool]:
    """(the best dense similarity among the passages a yes/no answer would read (0 when none),
    whether one of them holds half the question's content words)."""
    return relevance_of(question, retrieve_excerpts(question, retriever, settings, k, factor=CHOICE_CONTEXT_FACTOR))


def relevance_of(question: str, found: Sequence[tuple[Passage, str, float]]) -> tuple[float, bool]:
    """(best dense similarity of ``found`` (0 when empty), whether one of its passages holds half the question's words)."""
    return max((d for _, _, d in found), default=0.0), any(shares_words(question, p.text) for p, _, _ in found)


# Cosine similarity a cited passage gains per question content word it holds: the middle of the
# plateau (0.03-0.06) that cites the question's own passage most often on the answered fit rows
# (odd lines) of chat-boolq-dev; the dev rows were not used to choose it.
QUESTION_WORD_WEIGHT = 0.045


def evidence(
    question: str, passages: list[Passage], excerpts: list[str], similarity: Sequence[float] | None = None
) -> tuple[int, str]:
    """1-based number of the passage whose sentence bears most on the question, and that sentence.

    Candidates are the sentences the model read (the excerpts). They come from the passage closest
    to the question: its dense similarity (``similarity``) plus ``QUESTION_WORD_WEIGHT`` for each
    of the question's content words it holds. Measured on the answered fit rows of chat-boolq-dev,
    similarity alone picks the question's own passage 96.7% of the time, with the words 97.3%
    (the passage of the sentence with most of the question's words: 82%). Within that passage a
    full sentence beats a headline (no closing stop), then more of the question's words (light
    stems), then closer wording. Without similarities every passage's sentences compete on those.
    """
    qkeys = _keys(question)
    closeness = [s + QUESTION_WORD_WEIGHT * len(qkeys & _keys(p.text)) for s, p in zip(similarity or [], passages)]
    top = max(closeness, default=0.0)
    best: tuple[tuple, int, str] | None = None
    for n, text in enumerate(excerpts, start=1):
        closest = bool(closeness) and closeness[n - 1] >= top
        for piece in text.split(" … "):
            for a, b in split_sentences(piece) or [(0, len(piece))]:
                sentence = piece[a:b].strip()
                if not sentence:
                    continue
                rank = (
                    closest,
                    bool(re.search(r"[.!?][\"'”’)]?$", sentence)),
                    len(qkeys & _keys(sentence)),
                    fuzz.token_set_ratio(question, sentence),
                )
                if best is None or rank > best[0]:
                    best = (rank, n, sentence)
    if best is None:
        return 1, passages[0].text.strip()
    return best[1], best[2]


def as_statement(question: str) -> str:
    """A yes/no question's words as a statement for the claim checker: its opening auxiliary and
    question mark dropped. The grammar stays rough ("the berth have room for 20 boats"): the hard
    conflicts read numbers, dates, names and polarity, not grammar."""
    words = question.strip().rstrip("?").strip().split(maxsplit=1)
    if len(words) == 2 and words[0].lower() in AUXILIARIES:
        return words[1]
    return " ".join(words)


# A question whose number is a bound or a range ("more than 10 boats", "between 300,000 and
# 400,000 euros") or whose statement carries a negation or a lack ("without a study", "lack room")
# is not one the claim checker reads right: it would take "more than 10" against "14" for another
# number, "without" against a sentence that has the word for a flip. Such questions go to the model.
_HEDGED = re.compile(
    r"\b(?:more|less|fewer|over|under|above|below|least|most|up to|within|between|exceed\w*|than|beyond"
    r"|nearly|almost|about|around|approximately|roughly|only|just|no|not|never|none|nothing|without"
    r"|lack\w*|short of|too)\b|n't\b|\d\s*(?:to|-|–|and|or)\s*\d",
    re.IGNORECASE,
)


def hard_conflict(question: str, found: Sequence[tuple[Passage, str, float]]) -> tuple[int, str, str] | None:
    """(1-based number of the passage, its sentence, why) when the claim checker finds the question's
    statement contradicted by a passage read (a different number or date, a negation or antonym, a
    pair in the other order) and the answer can rest on it; None otherwise, and the model decides.

    It cannot when a passage read backs the statement (the articles disagree), when a newer passage
    was read (it may say otherwise in other words), when the conflict is a name (the question may
    be about someone the archive does not mention), or when the question bounds its number or
    negates (``_HEDGED``).
    """
    statement = as_statement(question)
    if _HEDGED.search(statement):
        return None
    hits = [ScoredPassage(passage=p, score=d, dense_score=d) for p, _, d in found]
    result = check_claim(statement, hits)
    if result.verdict != "contradicted" or len(result.evidence) != 1:
        return None  # no conflict, or the evidence disagrees with itself (the second item backs it)
    if result.reason.startswith("name "):  # the claim checker's name conflict ("name 'X' where …")
        return None
    first = result.evidence[0]
    n = next((i for i, (p, _, _) in enumerate(found, start=1) if p.id == first.passage_id), None)
    if n is None:
        return None
    when = found[n - 1][0].published
    if any(p.published and p.published > when for p, _, _ in found):  # ISO dates; undated sorts first
        return None
    return n, first.quote, result.reason


def _answered(word: str, question: str, passages: list[Passage], n: int, sentence: str, signal: dict, model: str) -> Iterator[str | Answer]:
    """The streamed words of "Yes/No, the article says: SENTENCE [n]." and then its verified Answer."""
    sentence = sentence.rstrip()
    body = sentence.rstrip(".")
    rest = f", the article says: {body} [{n}]."
    yield word
    yield rest
    p = passages[n - 1]
    cited = [Citation(passage_id=p.id, quote=sentence)]
    verdict = verify_citations(f"{word}, the article says: {body}.", cited, {x.id: x for x in passages})
    answer = BooleanAnswer(
        question=question,
        answer=word + rest,
        citations=[AnswerCitation(n=n, passage_id=p.id, article_id=p.article_id, quote=sentence)],
        verdicts=[verdict],
        model=model,
        choice=signal,
    )
    yield mark_injection(answer, passages)


def boolean_stream(
    question: str, retriever: Any, model: ChatModel, settings: Settings, k: int | None = None, calibration: Calibration | None = None
) -> Iterator[str | Answer]:
    """Yield the answer's words ("No", then the cited evidence), then the verified Answer.

    The answer is a ``BooleanAnswer``: its ``choice`` holds the three log-probabilities and the decision.
    """
    found = retrieve_excerpts(question, retriever, settings, k, factor=CHOICE_CONTEXT_FACTOR)
    if not found:
        yield NO_ANSWER
        yield Answer(question=question, answer=NO_ANSWER, model="none (no relevant passages)", answered=False)
        return
    passages = [p for p, _, _ in found]
    excerpts = [t for _, t, _ in found]
    best, worded = relevance_of(question, found)
    relevance = round(best, 4)
    cal = (calibration or load_calibration(model_name(model))).for_embedder(_embedder_name(retriever))
    if not cal.relevant(relevance, worded):
        # nothing stored is close enough to the question to answer it: the model is not asked
        yield NOT_STATED
        signal = {"relevance": relevance, "shares_words": worded, "min_relevance": cal.min_relevance, "decision": "not"}
        yield BooleanAnswer(
            question=question, answer=NOT_STATED, model="none (below the relevance floor)", answered=False, choice=signal
        )
        return
    conflict = hard_conflict(question, found)
    if conflict is not None:
        n, sentence, why = conflict
        signal = {"relevance": relevance, "shares_words": worded, "conflict": why, "decision": "no"}
        yield from _answered("No", question, passages, n, sentence, signal, "none (a hard conflict in the passages)")
        return
    lp = choice_scores(model, question, excerpts)
    label = cal.decide(lp)
    signal = {
        **{k_: round(v, 4) for k_, v in lp.items()},
        "answer_margin": round(answer_margin(lp), 4),
        "polarity_margin": round(polarity_margin(lp), 4),
        "relevance": relevance,
        "shares_words": worded,
        "decision": label,
    }
    if label == "not":
        yield NOT_STATED
        yield BooleanAnswer(question=question, answer=NOT_STATED, model=model_name(model), answered=False, choice=signal)
        return
    n, sentence = evidence(question, passages, excerpts, [d for _, _, d in found])
    yield from _answered("Yes" if label == "yes" else "No", question, passages, n, sentence, signal, model_name(model))


# --------------------------------------------------------------------------- the dispatcher

_MARKER = re.compile(r"\[(\d+)\]")


def _merge(question: str, parts: list[tuple[str, Answer]]) -> tuple[list[str], Answer]:
    """One Answer from the parts' answers: citations renumbered over the union of cited passages.

    An answered first part keeps its own numbers: it was streamed as written ("… [3]."), so the
    final answer must say the same; later parts' passages are numbered after them.
    Returns each part's text as shown (an unanswered part says so, naming the part) and the Answer.
    """
    numbers: dict[str, int] = {}
    citations: list[AnswerCitation] = []
    texts: list[str] = []
    verdicts = []
    if parts and parts[0][1].answered:
        numbers = {c.passage_id: c.n for c in parts[0][1].citations}
    for part, ans in parts:
        local = {c.n: c for c in ans.citations}
        for c in ans.citations:
            if c.passage_id not in numbers:
                numbers[c.passage_id] = max(numbers.values(), default=0) + 1
            if all(x.passage_id != c.passage_id for x in citations):
                citations.append(c.model_copy(update={"n": numbers[c.passage_id]}))

        def renumber(m: re.Match, local: dict = local) -> str:
            c = local.get(int(m.group(1)))
            return f"[{numbers[c.passage_id]}]" if c else m.group(0)

        if ans.answered:
            texts.append(_MARKER.sub(renumber, ans.answer.strip()))
            verdicts.extend(ans.verdicts)
        else:
            texts.append(f"{part} {NOT_STATED}")
    answered = any(a.answered for _, a in parts)
    warnings = [a.injection_warning for _, a in parts if a.injection_warning]
    merged = BooleanAnswer(
        question=question,
        answer=" ".join(texts) if answered else NO_ANSWER,
        citations=sorted(citations, key=lambda c: c.n),
        verdicts=verdicts,
        model=next((a.model for _, a in parts if a.answered), parts[0][1].model),
        answered=answered,
        injection_warning="; ".join(warnings),
        parts=[{"question": q, "answered": a.answered, "choice": getattr(a, "choice", None)} for q, a in parts],
    )
    return texts, merged


def ask_stream(
    question: str,
    retriever: Any,
    chat: Any,
    choices: ChatModel | None,
    settings: Settings,
    k: int | None = None,
    exclude_articles: Sequence[str] = (),
) -> Iterator[str | Answer]:
    """Answer text as it is made, then the verified Answer: each part of the question answered on
    its own, yes/no parts from the calibrated first-token signal (when ``choices`` is given).

    ``exclude_articles`` keeps articles out of retrieval (the eval's unanswerable controls).
    """
    if exclude_articles:
        retriever = _Excluding(retriever, exclude_articles)

    def one(part: str, source: Any = retriever) -> Iterator[str | Answer]:
        if choices is not None and capabilities(choices).token_logprobs and is_yes_no(part):
            yield from boolean_stream(part, source, choices, settings, k)
        else:
            yield from answer_stream(part, source, chat, settings, k=k)

    parts = split_parts(question) if question.strip() else [question]
    if len(parts) == 1:
        yield from one(question)
        return
    done: list[tuple[str, Answer]] = []
    for i, part in enumerate(parts):
        answer = None
        live = False
        # a later part that points back with a pronoun retrieves with the first part's words too
        source = _WithContext(retriever, parts[0]) if i and _PRONOUN.search(part) else retriever
        for item in one(part, source):
            if isinstance(item, Answer):
                answer = item
            elif i == 0 and not (isinstance(item, str) and item.strip() in (NO_ANSWER, NOT_STATED)):
                live = True
                yield item  # the first part streams as it is written: ``_merge`` keeps its [n]
        assert answer is not None
        done.append((part, answer))
        if not live:
            texts, _ = _merge(question, done)
            yield (" " if i else "") + texts[-1]
    yield _merge(question, done)[1]
