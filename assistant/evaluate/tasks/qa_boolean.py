"""The qa_boolean task: yes/no questions over an ingested archive, answered from the calibrated
first-token choice (``assistant.qa_boolean``), each also asked as an unanswerable control.

Per question: the stated polarity against the gold answer, a refusal ("Not stated"), whether the
question's own passage is cited, time to the first streamed word. Per control (the same question
with its own article kept out of retrieval, as if removed from the archive): refused or not.
Each item keeps the three log-probabilities, so ``python -m eval.fit_boolean`` can fit the
thresholds on one suite's items and another suite reports on rows it never saw.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.evaluate.datasets import load_dataset
from assistant.evaluate.metrics import latency_stats, mean
from assistant.evaluate.suite import QABooleanTask, Suite
from assistant.evaluate.tasks.common import ItemBase, TaskResult, Tick, llm_call
from assistant.ingest import make_article
from assistant.llm import model_name
from assistant.qa_boolean import _Excluding, boolean_stream, is_yes_no, load_calibration
from assistant.service import Assistant
from assistant.types import Answer


class BoolInput(BaseModel):
    question: str
    gold: Literal["yes", "no"]
    article_id: str = Field(description="The article (passage) that answers the question")
    detected: bool = Field(description="is_yes_no() recognises the question (the product's router)")


class BoolAsked(BaseModel):
    answer: str
    decision: Literal["yes", "no", "not", "none"] = Field(description="'none': no relevant passage retrieved")
    choice: dict[str, Any] | None = Field(description="log p of Yes / No / Not and the margins")
    cited_articles: list[str]
    first_token_ms: float


class BoolScores(BaseModel):
    polarity_right: float
    refused: float
    own_passage_cited: float
    control_refused: float | None


class QABooleanItem(ItemBase):
    task: Literal["qa_boolean"] = "qa_boolean"
    input: BoolInput
    output: BoolAsked
    control: BoolAsked | None
    scores: BoolScores
    latency_ms: float


class QABooleanMetrics(BaseModel):
    n: int
    n_yes: int
    n_no: int
    detected_rate: float = Field(description="questions the product routes to the yes/no answerer")
    polarity_right_yes: float = Field(description="gold-yes questions answered 'Yes'")
    polarity_right_no: float = Field(description="gold-no questions answered 'No'")
    polarity_right: float
    refusal_rate: float = Field(description="answerable questions answered 'Not stated' (or nothing retrieved)")
    own_passage_cited: float = Field(description="answered questions citing their own passage")
    control_refused: float | None = Field(description="controls (own passage kept out) refused")
    answer_threshold: float
    polarity_threshold: float
    min_relevance: float | None = Field(None, description="the relevance floor below which a question is not stated")


QABooleanResult = TaskResult[QABooleanItem, QABooleanMetrics]


def store_corpus(assistant: Assistant, corpus: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Store the passages as news articles are (headline, blank line, body: BoolQ's title names the
    subject). Returns each article's twins: BoolQ asks several questions about one passage, so a
    question's "own passage" is every article with the same text (all are kept out of its control,
    and any of them is the right cite)."""
    for row in corpus:
        title = str(row.get("title") or "").strip()
        text = f"{title}\n\n{row['article']}" if title else str(row["article"])
        assistant.store.upsert_article(make_article(text, row["id"], title=title))
    same: dict[str, list[str]] = {}
    for row in corpus:
        same.setdefault(" ".join(str(row["article"]).split()), []).append(row["id"])
    return {i: ids for ids in same.values() for i in ids}


def as_question(text: Any) -> str:
    """A BoolQ question as an editor types it (BoolQ's are lower-case and unpunctuated)."""
    question = str(text).strip()
    if question and question[-1] != "?":
        question += "?"
    return question[0].upper() + question[1:] if question else question


def _ask(assistant: Assistant, question: str, k: int | None, exclude: list[str]) -> tuple[Answer, float]:
    retriever = assistant.retriever
    if exclude:
        retriever = _Excluding(retriever, exclude)
    t0 = time.perf_counter()
    first = None
    answer = None
    for item in boolean_stream(question, retriever, assistant.answer_choices, assistant.settings, k):
        if isinstance(item, Answer):
            answer = item
        elif first is None and item.strip():
            first = (time.perf_counter() - t0) * 1000
    assert answer is not None
    return answer, round(first if first is not None else (time.perf_counter() - t0) * 1000, 1)


def _asked(answer: Answer, first_ms: float) -> BoolAsked:
    choice = getattr(answer, "choice", None)
    return BoolAsked(
        answer=answer.answer,
        decision=choice["decision"] if choice else "none",
        choice=choice,
        cited_articles=sorted({c.article_id for c in answer.citations}),
        first_token_ms=first_ms,
    )


def run_qa_boolean(assistant: Assistant, suite: Suite, task: QABooleanTask, tick: Tick) -> QABooleanResult:
    """Ingest the corpus, then ask every question (and its control) through the yes/no answerer."""
    if assistant.answer_choices is None:
        raise ValueError("qa_boolean needs a constrained-choice model (give the suite a logprobs model)")
    # An archive of its own (the recorded prompts depend on what retrieval finds in it).
    own_dir = assistant.settings.data_dir / "qa_boolean"
    choices = assistant.answer_choices
    assistant = Assistant(
        assistant.settings.model_copy(update={"data_dir": own_dir}), embedder=assistant._embedder, chat=assistant._chat
    )
    assistant.__dict__["_answer_choices"] = choices
    corpus = load_dataset(suite, task.corpus, ("article",), ("title",))
    rows = load_dataset(suite, task.dataset, ("question", "answer", "article_id"))
    twins = store_corpus(assistant, corpus)
    items: list[QABooleanItem] = []
    firsts: list[float] = []
    for row in rows:
        question, own = as_question(row["question"]), str(row["article_id"])
        gold = "yes" if row["answer"] in (True, "true", "True", "yes", 1) else "no"
        answer, first = llm_call("qa_boolean", row["id"], _ask, assistant, question, task.k, [])
        firsts.append(first)
        asked = _asked(answer, first)
        control = None
        if task.controls:
            removed = twins.get(own, [own])
            c_answer, c_first = llm_call("qa_boolean", f"{row['id']} (control)", _ask, assistant, question, task.k, removed)
            control = _asked(c_answer, c_first)
        answered = asked.decision in ("yes", "no")
        items.append(
            QABooleanItem(
                **QABooleanItem.where(task.dataset, row),
                input=BoolInput(question=question, gold=gold, article_id=own, detected=is_yes_no(question)),
                output=asked,
                control=control,
                scores=BoolScores(
                    polarity_right=float(asked.decision == gold),
                    refused=float(not answered),
                    own_passage_cited=float(bool(set(twins.get(own, [own])) & set(asked.cited_articles))),
                    control_refused=None if control is None else float(control.decision in ("not", "none")),
                ),
                latency_ms=first,
            )
        )
        tick()
    yes = [i for i in items if i.input.gold == "yes"]
    no = [i for i in items if i.input.gold == "no"]
    answered = [i for i in items if not i.scores.refused]
    controls = [i.scores.control_refused for i in items if i.scores.control_refused is not None]
    cal = load_calibration(model_name(assistant.answer_choices)).for_embedder(assistant.retriever.embedder.name)
    metrics = QABooleanMetrics(
        n=len(items),
        n_yes=len(yes),
        n_no=len(no),
        detected_rate=round(mean([float(i.input.detected) for i in items]), 6),
        polarity_right_yes=round(mean([i.scores.polarity_right for i in yes]), 6),
        polarity_right_no=round(mean([i.scores.polarity_right for i in no]), 6),
        polarity_right=round(mean([i.scores.polarity_right for i in items]), 6),
        refusal_rate=round(mean([i.scores.refused for i in items]), 6),
        own_passage_cited=round(mean([i.scores.own_passage_cited for i in answered]), 6),
        control_refused=round(mean(controls), 6) if controls else None,
        answer_threshold=cal.answer_threshold,
        polarity_threshold=cal.polarity_threshold,
        min_relevance=cal.min_relevance,
    )
    # The task's latency is the time to the first streamed word (replayed runs: the replay's time).
    return QABooleanResult(items=items, metrics=metrics, latency=latency_stats(firsts))
