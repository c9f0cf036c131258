"""The brief task: topic briefs over a small dated corpus; citations valid, lines supported, dates in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.brief import dates_in_order
from assistant.dates import in_range, parse_bound
from assistant.evaluate.datasets import load_dataset
from assistant.evaluate.metrics import latency_stats, mean
from assistant.evaluate.suite import BriefTask, Suite
from assistant.evaluate.tasks.common import ItemBase, TaskResult, Tick, llm_call, timer
from assistant.ingest import make_article
from assistant.types import Brief

if TYPE_CHECKING:
    from assistant.service import Assistant


class BriefInput(BaseModel):
    query: str
    since: str = ""
    until: str = ""


class BriefScores(BaseModel):
    citation_validity: float = Field(description="Share of the lines' citations that name a selected sentence's passage and quote it")
    support_rate: float = Field(description="Share of lines (timeline and overview) the checks found supported")
    dates_in_order: float = Field(description="1 when every timeline line's cited dates are no newer than the next line's")
    dated_lines: float = Field(description="Share of timeline lines with a date")
    in_range: float = Field(description="Share of cited sentences published within since/until")
    replaced_rate: float = Field(description="Share of model lines that failed a check and show the article's sentence")


class BriefItem(ItemBase):
    task: Literal["brief"] = "brief"
    input: BriefInput
    output: Brief
    scores: BriefScores
    latency_ms: float


class BriefMetrics(BaseModel):
    n: int
    lines: int
    citation_validity: float
    support_rate: float
    dates_in_order: float
    dated_lines: float
    in_range: float
    replaced_rate: float


BriefResult = TaskResult[BriefItem, BriefMetrics]


def _share(hit: int, total: int) -> float:
    return round(hit / total, 6) if total else 0.0


def score_brief(brief: Brief, passages: dict[str, str], since: int | None, until: int | None) -> BriefScores:
    """A brief's scores: ``passages`` maps every stored passage id to its text."""
    lines = [e.sentence for e in brief.timeline] + list(brief.overview)
    chosen = {s.passage_id for s in brief.sources}
    cites = [c for s in lines for c in s.citations]
    valid = sum(c.passage_id in chosen and c.quote in passages.get(c.passage_id, "") for c in cites)
    cited = {n for s in lines for n in s.sources}
    sources = [s for s in brief.sources if s.number in cited]
    return BriefScores(
        citation_validity=_share(valid, len(cites)),
        support_rate=_share(sum(s.verdict == "supported" for s in lines), len(lines)),
        dates_in_order=float(dates_in_order(brief)),
        dated_lines=_share(sum(bool(e.published) for e in brief.timeline), len(brief.timeline)),
        in_range=_share(sum(in_range(s.published, since, until) for s in sources), len(sources)),
        replaced_rate=_share(sum(bool(s.rejected) for s in lines), len(lines)),
    )


def run_brief(assistant: Assistant, suite: Suite, task: BriefTask, tick: Tick) -> BriefResult:
    """Ingest the dated corpus, write a brief for each query (within its since/until) and score it."""
    corpus = load_dataset(suite, task.corpus, ("article",), ("title", "published"))
    rows = load_dataset(suite, task.dataset, ("query",), ("since", "until"))
    for row in corpus:
        article = make_article(str(row["article"]), row["id"], title=str(row["title"] or ""), published=str(row["published"] or ""))
        assistant.store.upsert_article(article)
    passages = {p.id: p.text for p in assistant.store.all_passages()}
    items: list[BriefItem] = []
    times: list[float] = []
    for row in rows:
        since, until = str(row["since"] or ""), str(row["until"] or "")
        lo, hi = parse_bound(since), parse_bound(until, end=True)
        with timer(times):
            brief = llm_call("brief", row["id"], assistant.brief, str(row["query"]), since=lo, until=hi)
        items.append(
            BriefItem(
                **BriefItem.where(task.dataset, row),
                input=BriefInput(query=str(row["query"]), since=since, until=until),
                output=brief,
                scores=score_brief(brief, passages, lo, hi),
                latency_ms=round(times[-1], 1),
            )
        )
        tick()
    lines = [len(i.output.timeline) + len(i.output.overview) for i in items]

    def weighted(key: str) -> float:  # per line, not per brief: a long brief counts more
        return round(sum(getattr(i.scores, key) * n for i, n in zip(items, lines)) / sum(lines), 6) if sum(lines) else 0.0

    metrics = BriefMetrics(
        n=len(items),
        lines=sum(lines),
        citation_validity=weighted("citation_validity"),
        support_rate=weighted("support_rate"),
        dates_in_order=round(mean([i.scores.dates_in_order for i in items]), 6),
        dated_lines=round(mean([i.scores.dated_lines for i in items]), 6),
        in_range=round(mean([i.scores.in_range for i in items]), 6),
        replaced_rate=weighted("replaced_rate"),
    )
    return BriefResult(items=items, metrics=metrics, latency=latency_stats(times))
