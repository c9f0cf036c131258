"""The summarize task: system summaries and Lead-3 on the same items, ROUGE against the gold summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.errors import AssistantError, ModelMissingError, ReplayMissError
from assistant.evaluate.datasets import load_dataset
from assistant.evaluate.metrics import (
    ROUGE_KEYS,
    latency_stats,
    mean,
    rouge_scores,
    rouge_text,
    sentences,
)
from assistant.evaluate.suite import Suite, SummarizeTask
from assistant.evaluate.tasks.common import ItemBase, TaskResult, Tick, llm_call, timer
from assistant.types import Summary, Verdict

if TYPE_CHECKING:
    from assistant.service import Assistant


class SummarizeInput(BaseModel):
    reference: str = Field(description="The gold summary, one sentence per line")
    article_chars: int


class Lead3(BaseModel):
    """The article's first three sentences, scored like the system."""

    sentences: list[str]
    scores: dict[str, float]


class CitedQuote(BaseModel):
    passage_id: str
    quote: str
    valid: bool = Field(description="The passage id exists in the article the summary is of")


class SummarySentence(BaseModel):
    text: str
    verdict: Verdict
    reason: str
    citations: list[CitedQuote]


class SummaryOutput(BaseModel):
    model: str
    extractive_fallback: bool
    sentences: list[SummarySentence]


class SummaryError(BaseModel):
    """The assistant refused the item (an AssistantError); it scores zero."""

    error: str


class SummarizeScores(BaseModel):
    rouge1: float
    rouge2: float
    rougeLsum: float
    support_rate: float
    citation_validity: float


class SummarizeItem(ItemBase):
    task: Literal["summarize"] = "summarize"
    input: SummarizeInput
    lead3: Lead3
    output: SummaryOutput | SummaryError
    scores: SummarizeScores
    latency_ms: float | None = Field(None, exclude_if=lambda v: v is None)


class SummarizeMetrics(BaseModel):
    n: int
    sentences_requested: int
    rouge1: float
    rouge2: float
    rougeLsum: float
    lead3_rouge1: float
    lead3_rouge2: float
    lead3_rougeLsum: float
    citation_validity: float = Field(
        description="Share of citations naming a passage of the article"
    )
    citations: int
    support_rate: float = Field(description="Share of sentences the verifier found supported")
    sentences: int
    extractive_fallback_rate: float
    errors: int


SummarizeResult = TaskResult[SummarizeItem, SummarizeMetrics]


def _output(summary: Summary, passage_ids: set[str]) -> SummaryOutput:
    return SummaryOutput(
        model=summary.model,
        extractive_fallback=summary.extractive_fallback,
        sentences=[
            SummarySentence(
                text=s.text,
                verdict=s.verdict,
                reason=s.reason,
                citations=[
                    CitedQuote(**c.model_dump(), valid=c.passage_id in passage_ids)
                    for c in s.citations
                ],
            )
            for s in summary.sentences
        ],
    )


def _scores(reference: str, output: SummaryOutput) -> SummarizeScores:
    texts = [s.text for s in output.sentences]
    citations = [c for s in output.sentences for c in s.citations]
    supported = sum(1 for s in output.sentences if s.verdict == "supported")
    valid = sum(1 for c in citations if c.valid)
    rouge = rouge_scores(reference, rouge_text(texts)) if texts else dict.fromkeys(ROUGE_KEYS, 0.0)
    return SummarizeScores(
        **rouge,
        support_rate=round(supported / len(texts), 6) if texts else 0.0,
        citation_validity=round(valid / len(citations), 6) if citations else 0.0,
    )


def _metrics(items: list[SummarizeItem], requested: int) -> SummarizeMetrics:
    outputs = [i.output for i in items if isinstance(i.output, SummaryOutput)]
    sents = [s for o in outputs for s in o.sentences]
    citations = [c for s in sents for c in s.citations]
    n = len(items)
    return SummarizeMetrics(
        n=n,
        sentences_requested=requested,
        **{k: round(mean([getattr(i.scores, k) for i in items]), 6) for k in ROUGE_KEYS},
        **{f"lead3_{k}": round(mean([i.lead3.scores[k] for i in items]), 6) for k in ROUGE_KEYS},
        citation_validity=(
            round(sum(c.valid for c in citations) / len(citations), 6) if citations else 0.0
        ),
        citations=len(citations),
        support_rate=(
            round(sum(s.verdict == "supported" for s in sents) / len(sents), 6) if sents else 0.0
        ),
        sentences=len(sents),
        extractive_fallback_rate=(
            round(sum(o.extractive_fallback for o in outputs) / n, 6) if n else 0.0
        ),
        errors=n - len(outputs),
    )


def run_summarize(
    assistant: Assistant, suite: Suite, task: SummarizeTask, tick: Tick
) -> SummarizeResult:
    """System summaries (pasted text) and Lead-3 on the same items, both scored with ROUGE."""
    rows = load_dataset(suite, task.dataset, ("article", "reference"))
    items: list[SummarizeItem] = []
    times: list[float] = []
    for row in rows:
        article_text = str(row["article"])
        reference = rouge_text(row["reference"])
        lead3 = sentences(article_text)[:3]
        base = {
            **SummarizeItem.where(task.dataset, row),
            "input": SummarizeInput(reference=reference, article_chars=len(article_text)),
            "lead3": Lead3(sentences=lead3, scores=rouge_scores(reference, rouge_text(lead3))),
        }
        try:
            with timer(times):
                summary = llm_call(
                    "summarize",
                    row["id"],
                    assistant.summarize,
                    text=article_text,
                    sentences=task.sentences,
                )
        except (ReplayMissError, ModelMissingError):
            raise
        except AssistantError as exc:
            zero = SummarizeScores(
                **dict.fromkeys(ROUGE_KEYS, 0.0), support_rate=0.0, citation_validity=0.0
            )
            items.append(SummarizeItem(**base, output=SummaryError(error=str(exc)), scores=zero))
            tick()
            continue
        # The same split the assistant made: citations are checked against these passage ids.
        passage_ids = {p.id for p in assistant.resolve_article(text=article_text)[1]}
        output = _output(summary, passage_ids)
        items.append(
            SummarizeItem(
                **base,
                output=output,
                scores=_scores(reference, output),
                latency_ms=round(times[-1], 1),
            )
        )
        tick()
    return SummarizeResult(
        items=items, metrics=_metrics(items, task.sentences), latency=latency_stats(times)
    )
