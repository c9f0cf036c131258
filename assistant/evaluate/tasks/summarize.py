"""The summarize task: system summaries beside Lead-1 and Lead-3 on the same items, ROUGE against the gold summary.

A task has a main run and optional variants (other lengths or strategies on the same dataset);
each is scored the same way, so the report can compare strategies item for item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.errors import AssistantError, ModelMissingError, ReplayMissError
from assistant.evaluate.datasets import count_rows, load_dataset
from assistant.evaluate.metrics import (
    ROUGE_KEYS,
    latency_stats,
    mean,
    rouge_scores,
    rouge_text,
    sentences,
)
from assistant.evaluate.suite import Suite, SummarizeTask, SummarizeVariant
from assistant.evaluate.tasks.common import ItemBase, TaskResult, Tick, llm_call, timer
from assistant.summarize import resolve_strategy
from assistant.types import Summary, Verdict

if TYPE_CHECKING:
    from assistant.service import Assistant


class SummarizeInput(BaseModel):
    reference: str = Field(description="The gold summary, one sentence per line")
    article_chars: int


class Lead(BaseModel):
    """The article's first sentences (Lead-1, Lead-3), scored like the system."""

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
    sources: list[int] = Field(default_factory=list, description="Numbers of the selected sentences it cites")
    origin: Literal["model", "source"] = "model"
    rejected: str = Field("", description="The model sentence it replaced (failed verification)")
    support: float | None = Field(None, description="The support scorer's calibrated probability")


class SummaryOutput(BaseModel):
    model: str
    strategy: str = "abstractive"
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
    variant: str = Field("", description="The variant's name; empty for the task's main run")
    input: SummarizeInput
    lead1: Lead | None = None
    lead3: Lead
    output: SummaryOutput | SummaryError
    scores: SummarizeScores
    latency_ms: float | None = Field(None, exclude_if=lambda v: v is None)


class SummarizeMetrics(BaseModel):
    n: int
    sentences_requested: int
    strategy: str = Field("", description="The strategy the summaries were written with")
    rouge1: float
    rouge2: float
    rougeLsum: float
    lead1_rouge1: float = 0.0
    lead1_rouge2: float = 0.0
    lead1_rougeLsum: float = 0.0
    lead3_rouge1: float
    lead3_rouge2: float
    lead3_rougeLsum: float
    citation_validity: float = Field(
        description="Share of citations naming a passage of the article"
    )
    citations: int
    support_rate: float = Field(description="Share of sentences the verifier found supported")
    sentences: int
    extractive_fallback_rate: float = Field(
        description="Share of summaries where the model gave no usable output (the selection is shown)"
    )
    replaced_rate: float = Field(
        0.0, description="Share of sentences that replace a model sentence which failed verification"
    )
    source_sentence_rate: float = Field(
        0.0, description="Share of sentences that are the article's own (replacements, fill-ins, fallbacks)"
    )
    support_scored: int = Field(0, description="Sentences with a calibrated support probability")
    errors: int


SummarizeResult = TaskResult[SummarizeItem, SummarizeMetrics]


def _output(summary: Summary, passage_ids: set[str]) -> SummaryOutput:
    return SummaryOutput(
        model=summary.model,
        strategy=summary.strategy,
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
                sources=s.sources,
                origin=s.origin,
                rejected=s.rejected,
                support=s.support,
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


def _share(part: int, whole: int) -> float:
    return round(part / whole, 6) if whole else 0.0


def _metrics(items: list[SummarizeItem], requested: int, strategy: str) -> SummarizeMetrics:
    outputs = [i.output for i in items if isinstance(i.output, SummaryOutput)]
    sents = [s for o in outputs for s in o.sentences]
    citations = [c for s in sents for c in s.citations]
    n = len(items)
    leads = {
        f"lead{k}_{m}": round(mean([getattr(i, f"lead{k}").scores[m] for i in items if getattr(i, f"lead{k}")]), 6)
        for k in (1, 3)
        for m in ROUGE_KEYS
    }
    return SummarizeMetrics(
        n=n,
        sentences_requested=requested,
        strategy=next((o.strategy for o in outputs), strategy),
        **{k: round(mean([getattr(i.scores, k) for i in items]), 6) for k in ROUGE_KEYS},
        **leads,
        citation_validity=_share(sum(c.valid for c in citations), len(citations)),
        citations=len(citations),
        support_rate=_share(sum(s.verdict == "supported" for s in sents), len(sents)),
        sentences=len(sents),
        extractive_fallback_rate=_share(sum(o.extractive_fallback for o in outputs), n),
        replaced_rate=_share(sum(bool(s.rejected) for s in sents), len(sents)),
        source_sentence_rate=_share(sum(s.origin == "source" for s in sents), len(sents)),
        support_scored=sum(s.support is not None for s in sents),
        errors=n - len(outputs),
    )


def _lead(reference: str, article: str, k: int) -> Lead:
    lead = sentences(article)[:k]
    return Lead(sentences=lead, scores=rouge_scores(reference, rouge_text(lead)))


def _run(
    assistant: Assistant,
    rows: list[dict],
    dataset: str,
    n_sentences: int,
    strategy: str | None,
    variant: str,
    tick: Tick,
) -> SummarizeResult:
    items: list[SummarizeItem] = []
    times: list[float] = []
    for row in rows:
        article_text = str(row["article"])
        reference = rouge_text(row["reference"])
        where = SummarizeItem.where(dataset, row)
        if variant:
            where["id"] = f"{where['id']}@{variant}"
        base = {
            **where,
            "variant": variant,
            "input": SummarizeInput(reference=reference, article_chars=len(article_text)),
            "lead1": _lead(reference, article_text, 1),
            "lead3": _lead(reference, article_text, 3),
        }
        try:
            with timer(times):
                summary = llm_call(
                    f"summarize{'_' + variant if variant else ''}",
                    row["id"],
                    assistant.summarize,
                    text=article_text,
                    sentences=n_sentences,
                    strategy=strategy,
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

    chosen = resolve_strategy(assistant.settings, strategy)
    return SummarizeResult(
        items=items, metrics=_metrics(items, n_sentences, chosen), latency=latency_stats(times)
    )


def run_summarize(
    assistant: Assistant, suite: Suite, task: SummarizeTask, tick: Tick
) -> SummarizeResult:
    """System summaries (pasted text), Lead-1 and Lead-3 on the same items, all scored with ROUGE."""
    rows = load_dataset(suite, task.dataset, ("article", "reference"))
    return _run(assistant, rows, task.dataset, task.sentences, task.strategy, "", tick)


def run_summarize_variant(
    assistant: Assistant, suite: Suite, task: SummarizeTask, name: str, variant: SummarizeVariant, tick: Tick
) -> SummarizeResult:
    """One variant of the task: its length and strategy (default: the task's) on its first ``limit`` items."""
    rows = load_dataset(suite, task.dataset, ("article", "reference"))
    if variant.limit:
        rows = rows[: variant.limit]
    return _run(
        assistant,
        rows,
        task.dataset,
        variant.sentences or task.sentences,
        variant.strategy or task.strategy,
        name,
        tick,
    )


def variant_rows(suite: Suite, task: SummarizeTask, variant: SummarizeVariant) -> int:
    """Items a variant will run (for the progress bar)."""
    n = count_rows(suite, task.dataset)
    return min(n, variant.limit) if variant.limit else n
