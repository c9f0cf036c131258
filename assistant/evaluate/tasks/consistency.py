"""The consistency task: the verifier's "is this summary consistent?" against human labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

from assistant.evaluate.datasets import load_dataset
from assistant.evaluate.metrics import binary_metrics, bootstrap_balanced_accuracy, latency_stats
from assistant.evaluate.suite import ConsistencyTask, Suite
from assistant.evaluate.tasks.common import ItemBase, TaskResult, Tick, timer
from assistant.verify import (
    DEFAULT_PARAMS,
    ConsistencyParams,
    consistency_score,
    is_consistent,
    warm_up,
)


class ConsistencyInput(BaseModel):
    label: int = Field(description="1 = consistent with the article, 0 = not (human label)")
    summary: str


class ConsistencyOutput(BaseModel):
    predicted: int
    reason: str


class ConsistencyScores(BaseModel):
    correct: float


class ConsistencyItem(ItemBase):
    task: Literal["consistency"] = "consistency"
    input: ConsistencyInput
    output: ConsistencyOutput
    scores: ConsistencyScores
    latency_ms: float


class ConsistencyMetrics(BaseModel):
    n: int
    n_consistent: int
    n_inconsistent: int
    balanced_accuracy: float
    balanced_accuracy_ci_low: float | None = Field(description="None when bootstrap is 0")
    balanced_accuracy_ci_high: float | None
    bootstrap: int
    bootstrap_seed: int
    precision_consistent: float
    recall_consistent: float
    precision_inconsistent: float
    recall_inconsistent: float


ConsistencyResult = TaskResult[ConsistencyItem, ConsistencyMetrics]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def run_consistency(suite: Suite, task: ConsistencyTask, tick: Tick) -> ConsistencyResult:
    """is_consistent against human labels: balanced accuracy (bootstrap 95% CI), per-class P/R."""
    rows = load_dataset(suite, task.dataset, ("article", "summary", "label"))
    warm_up()  # spaCy tables and word frequencies, so latency is per item
    items: list[ConsistencyItem] = []
    times: list[float] = []
    for row in rows:
        label = int(row["label"])
        with timer(times):
            consistent, reason = is_consistent(str(row["summary"]), str(row["article"]))
        prediction = int(consistent)
        items.append(
            ConsistencyItem(
                **ConsistencyItem.where(task.dataset, row),
                input=ConsistencyInput(label=label, summary=str(row["summary"])),
                output=ConsistencyOutput(predicted=prediction, reason=reason),
                scores=ConsistencyScores(correct=float(prediction == label)),
                latency_ms=round(times[-1], 1),
            )
        )
        tick()
    labels = [i.input.label for i in items]
    predictions = [i.output.predicted for i in items]
    m = binary_metrics(labels, predictions)
    lo, hi = bootstrap_balanced_accuracy(labels, predictions, task.bootstrap, task.seed)
    metrics = ConsistencyMetrics(
        n=m["n"],
        n_consistent=m["n_1"],
        n_inconsistent=m["n_0"],
        balanced_accuracy=round(m["balanced_accuracy"], 6),
        balanced_accuracy_ci_low=_round(lo),
        balanced_accuracy_ci_high=_round(hi),
        bootstrap=task.bootstrap,
        bootstrap_seed=task.seed,
        precision_consistent=round(m["precision_1"], 6),
        recall_consistent=round(m["recall_1"], 6),
        precision_inconsistent=round(m["precision_0"], 6),
        recall_inconsistent=round(m["recall_0"], 6),
    )
    return ConsistencyResult(items=items, metrics=metrics, latency=latency_stats(times))


def consistency_scores(
    rows: Sequence[dict],
    params: ConsistencyParams = DEFAULT_PARAMS,
    times: list[float] | None = None,
) -> list[float]:
    """``consistency_score`` of each row's summary against its article; per-row ms appended to ``times``."""
    sink: list[float] = [] if times is None else times
    out = []
    for row in rows:
        with timer(sink):
            score, _ = consistency_score(row["summary"], row["article"], params)
        out.append(score)
    return out
