"""The typos task: misspelt names and words found, with the right suggestion, and false alarms."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

from pydantic import BaseModel, Field

from assistant.evaluate.datasets import load_dataset
from assistant.evaluate.metrics import is_typo_hit, latency_stats, typo_metrics
from assistant.evaluate.suite import Suite, TyposTask
from assistant.evaluate.tasks.common import ItemBase, TaskResult, Tick, timer
from assistant.types import TypoFlag
from assistant.typos import CorpusNames, find_typos, warm_up

CorpusMode = Literal["leave-one-out", "none"]


class TyposInput(BaseModel):
    typo: str | None = Field(
        description="The misspelling planted in the text; None for a clean row"
    )
    correct: str | None
    offset: int | None


class FlagOut(BaseModel):
    text: str
    start: int
    end: int
    suggestion: str
    kind: str
    reason: str


class TyposOutput(BaseModel):
    flags: list[FlagOut]


class TyposScores(BaseModel):
    false_flags: float = Field(description="Flags that are not the planted typo (lower is better)")
    detected: float | None = Field(None, exclude_if=lambda v: v is None)


class TyposItem(ItemBase):
    task: Literal["typos"] = "typos"
    input: TyposInput
    output: TyposOutput
    scores: TyposScores
    latency_ms: float


class TyposMetrics(BaseModel):
    n: int
    n_typo: int
    n_clean: int
    detected: int
    recall: float
    precision: float
    flags: int
    false_alarms_clean: int
    false_alarms_per_clean_doc: float
    corpus: CorpusMode


TyposResult = TaskResult[TyposItem, TyposMetrics]


def leave_one_out(
    texts: Sequence[str], corpus: CorpusMode = "leave-one-out", times: list[float] | None = None
) -> Iterator[list[TypoFlag]]:
    """``find_typos`` of each text with the other texts as its corpus evidence (or none).

    Leave-one-out: a text's own spellings never count as evidence for themselves. The check's
    time per text (not the corpus build) is appended to ``times``.
    """
    sink: list[float] = [] if times is None else times
    warm_up()
    for i, text in enumerate(texts):
        names = (
            CorpusNames.from_texts([*texts[:i], *texts[i + 1 :]])
            if corpus == "leave-one-out"
            else None
        )
        with timer(sink):
            flags = find_typos(text, corpus=names)
        yield flags


def _scores(row: dict, flags: list[TypoFlag]) -> TyposScores:
    if not row.get("typo"):
        return TyposScores(false_flags=float(len(flags)))
    hit = any(is_typo_hit(f, int(row["offset"]), row["correct"]) for f in flags)
    return TyposScores(false_flags=float(len(flags) - int(hit)), detected=float(hit))


def run_typos(suite: Suite, task: TyposTask, tick: Tick) -> TyposResult:
    """find_typos per row (corpus = the other rows, as eval/typos_dev.py does), README metrics."""
    rows = load_dataset(suite, task.dataset, ("text",), optional=("typo", "correct", "offset"))
    texts = [str(r["text"]) for r in rows]
    items: list[TyposItem] = []
    flags_per_row: list[list[TypoFlag]] = []
    times: list[float] = []
    for row, flags in zip(rows, leave_one_out(texts, task.corpus, times)):
        flags_per_row.append(flags)
        items.append(
            TyposItem(
                **TyposItem.where(task.dataset, row),
                input=TyposInput(typo=row["typo"], correct=row["correct"], offset=row["offset"]),
                output=TyposOutput(
                    flags=[
                        FlagOut(**f.model_dump(include=set(FlagOut.model_fields))) for f in flags
                    ]
                ),
                scores=_scores(row, flags),
                latency_ms=round(times[-1], 1),
            )
        )
        tick()
    m = typo_metrics(rows, flags_per_row)
    metrics = TyposMetrics(
        n=m["n"],
        n_typo=m["n_typo"],
        n_clean=m["n_clean"],
        detected=m["detected"],
        recall=round(m["recall"], 6),
        precision=round(m["precision"], 6),
        flags=m["flags"],
        false_alarms_clean=m["false_alarms_clean"],
        false_alarms_per_clean_doc=round(m["false_alarms_per_clean_doc"], 6),
        corpus=task.corpus,
    )
    return TyposResult(items=items, metrics=metrics, latency=latency_stats(times))
