"""The qa task: questions over an ingested corpus, the gold answer contained and the right article cited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.evaluate.datasets import load_dataset
from assistant.evaluate.metrics import contains_answer, latency_stats, mean
from assistant.evaluate.suite import QATask, Suite
from assistant.evaluate.tasks.common import ItemBase, TaskResult, Tick, llm_call, timer
from assistant.ingest import make_article
from assistant.types import AnswerCitation

if TYPE_CHECKING:
    from assistant.service import Assistant


class QAInput(BaseModel):
    question: str
    answer: str = Field(description="The gold answer")
    article_id: str = Field(description="The article that supports the gold answer")


class QAOutput(BaseModel):
    answer: str
    answered: bool
    cited_articles: list[str]
    citations: list[AnswerCitation]


class QAScores(BaseModel):
    contains_answer: float
    citation_hit: float
    support_rate: float


class QAItem(ItemBase):
    task: Literal["qa"] = "qa"
    input: QAInput
    output: QAOutput
    scores: QAScores
    latency_ms: float


class QAMetrics(BaseModel):
    n: int
    answer_accuracy: float
    citation_hit_rate: float
    answered_rate: float
    support_rate: float


QAResult = TaskResult[QAItem, QAMetrics]


def run_qa(assistant: Assistant, suite: Suite, task: QATask, tick: Tick) -> QAResult:
    """Ingest the corpus, ask each question: gold answer contained (normalised), citation on the gold article."""
    corpus = load_dataset(suite, task.corpus, ("article",))
    rows = load_dataset(suite, task.dataset, ("question", "answer", "article_id"))
    for row in corpus:
        assistant.store.upsert_article(make_article(str(row["article"]), row["id"]))
    items: list[QAItem] = []
    times: list[float] = []
    for row in rows:
        with timer(times):
            answer = llm_call("qa", row["id"], assistant.ask, str(row["question"]), k=task.k)
        cited = sorted({c.article_id for c in answer.citations})
        supported = sum(1 for v in answer.verdicts if v.verdict == "supported")
        gold_article = str(row["article_id"])
        items.append(
            QAItem(
                **QAItem.where(task.dataset, row),
                input=QAInput(
                    question=str(row["question"]),
                    answer=str(row["answer"]),
                    article_id=gold_article,
                ),
                output=QAOutput(
                    answer=answer.answer,
                    answered=answer.answered,
                    cited_articles=cited,
                    citations=answer.citations,
                ),
                scores=QAScores(
                    contains_answer=float(contains_answer(str(row["answer"]), answer.answer)),
                    citation_hit=float(gold_article in cited),
                    support_rate=(
                        round(supported / len(answer.verdicts), 6) if answer.verdicts else 0.0
                    ),
                ),
                latency_ms=round(times[-1], 1),
            )
        )
        tick()
    metrics = QAMetrics(
        n=len(items),
        answer_accuracy=round(mean([i.scores.contains_answer for i in items]), 6),
        citation_hit_rate=round(mean([i.scores.citation_hit for i in items]), 6),
        answered_rate=round(mean([float(i.output.answered) for i in items]), 6),
        support_rate=round(mean([i.scores.support_rate for i in items]), 6),
    )
    return QAResult(items=items, metrics=metrics, latency=latency_stats(times))
