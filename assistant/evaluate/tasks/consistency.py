"""The consistency task: the product's "is this summary supported by its article?" against human labels.

With ``method: support`` (the product's verdict) each summary is scored by the calibrated support
scorer (its model calls replayed from the suite's cache) and called consistent when the
probability reaches the fitted threshold. The word-matching verifier is scored beside it on the
same rows, so the report shows what the model-backed score adds. Figures per dataset and domain,
ROC AUC beside balanced accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from assistant.errors import BadInputError
from assistant.evaluate.datasets import load_dataset
from assistant.evaluate.metrics import (
    binary_metrics,
    bootstrap_balanced_accuracy,
    latency_stats,
    roc_auc,
)
from assistant.evaluate.suite import ConsistencyTask, Suite
from assistant.evaluate.tasks.common import ItemBase, TaskResult, Tick, llm_call, timer
from assistant.support.data import pair_from_row
from assistant.verify import (
    CONSISTENCY_THRESHOLD,
    DEFAULT_PARAMS,
    ConsistencyParams,
    consistency_score,
    warm_up,
)

if TYPE_CHECKING:
    from assistant.support import SupportScorer


class ConsistencyInput(BaseModel):
    label: int = Field(description="1 = consistent with the article, 0 = not (human label)")
    summary: str
    domain: str = ""


class ConsistencyOutput(BaseModel):
    predicted: int
    reason: str
    probability: float | None = Field(None, description="support probability (method support)")
    suspects: list[str] = Field(
        default_factory=list, description="the words the article makes least likely"
    )
    words_score: float = Field(
        description="the word-matching verifier's score (consistent at >= its threshold)"
    )


class ConsistencyScores(BaseModel):
    correct: float


class ConsistencyItem(ItemBase):
    task: Literal["consistency"] = "consistency"
    input: ConsistencyInput
    output: ConsistencyOutput
    scores: ConsistencyScores
    latency_ms: float


class Figures(BaseModel):
    """ROC AUC and balanced accuracy of one group of rows."""

    n: int
    roc_auc: float | None = Field(description="None when the group has one class only")
    balanced_accuracy: float


class DatasetFigures(Figures):
    in_fit_set: bool = Field(
        description="the support weights were fitted on these rows: in-sample figures"
    )
    words_roc_auc: float | None
    words_balanced_accuracy: float
    domains: dict[str, Figures] = Field(default_factory=dict)


class ConsistencyMetrics(BaseModel):
    method: str = "support"
    n: int
    n_consistent: int
    n_inconsistent: int
    balanced_accuracy: float
    balanced_accuracy_ci_low: float | None = Field(description="None when bootstrap is 0")
    balanced_accuracy_ci_high: float | None
    bootstrap: int
    bootstrap_seed: int
    roc_auc: float | None = None
    precision_consistent: float
    recall_consistent: float
    precision_inconsistent: float
    recall_inconsistent: float
    words_balanced_accuracy: float | None = None
    words_roc_auc: float | None = None
    min_domain_roc_auc: float | None = Field(
        None, description="the weakest domain's ROC AUC (rows not fitted on)"
    )
    datasets: dict[str, DatasetFigures] = Field(default_factory=dict)


ConsistencyResult = TaskResult[ConsistencyItem, ConsistencyMetrics]


def _round(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 6)


def _figures(items: Sequence[ConsistencyItem], scores: Sequence[float]) -> Figures:
    labels = [i.input.label for i in items]
    return Figures(
        n=len(items),
        roc_auc=_round(roc_auc(labels, scores)),
        balanced_accuracy=round(
            binary_metrics(labels, [i.output.predicted for i in items])["balanced_accuracy"], 6
        ),
    )


def _score(item_scores: Sequence[ConsistencyItem]) -> list[float]:
    return [
        i.output.probability if i.output.probability is not None else i.output.words_score
        for i in item_scores
    ]


def run_consistency(
    suite: Suite, task: ConsistencyTask, tick: Tick, scorer: SupportScorer | None = None
) -> ConsistencyResult:
    """Every dataset's rows scored; balanced accuracy (bootstrap 95% CI), ROC AUC, per dataset and domain."""
    if task.method == "support" and (scorer is None or scorer.calibrated is None):
        name = scorer.name if scorer is not None else "the configured model"
        raise BadInputError(
            f"consistency method 'support' needs fitted support weights for {name}",
            "Fit them with `python -m eval.support fit --out PATH`, or set `method: words` in the suite.",
        )
    warm_up()  # spaCy tables and word frequencies, so latency is per item
    items: list[ConsistencyItem] = []
    times: list[float] = []
    for name in task.datasets:
        for row in load_dataset(
            suite, name, ("article", "summary", "label"), optional=("domain", "dataset")
        ):
            pair = pair_from_row({**row, "split": "eval"}, default_domain=name)
            with timer(times):
                words, why = consistency_score(str(row["summary"]), str(row["article"]))
                probability, suspects = None, []
                if task.method == "support":
                    assert scorer is not None
                    result = llm_call("consistency", pair.id, scorer.score, pair.source, pair.text)
                    probability, suspects = (
                        result.probability,
                        [s.text for s in result.suspect_spans],
                    )
                    predicted, reason = int(bool(result.supported)), result.reason
                else:
                    predicted, reason = int(words >= CONSISTENCY_THRESHOLD), why
            items.append(
                ConsistencyItem(
                    **ConsistencyItem.where(name, row),
                    input=ConsistencyInput(
                        label=pair.label, summary=str(row["summary"]), domain=pair.domain
                    ),
                    output=ConsistencyOutput(
                        predicted=predicted,
                        reason=reason,
                        probability=probability,
                        suspects=suspects,
                        words_score=round(words, 6),
                    ),
                    scores=ConsistencyScores(correct=float(predicted == pair.label)),
                    latency_ms=round(times[-1], 1),
                )
            )
            tick()
    return ConsistencyResult(
        items=items, metrics=_metrics(items, task), latency=latency_stats(times)
    )


def _metrics(items: list[ConsistencyItem], task: ConsistencyTask) -> ConsistencyMetrics:
    labels = [i.input.label for i in items]
    predictions = [i.output.predicted for i in items]
    m = binary_metrics(labels, predictions)
    lo, hi = bootstrap_balanced_accuracy(labels, predictions, task.bootstrap, task.seed)
    words_pred = [int(i.output.words_score >= CONSISTENCY_THRESHOLD) for i in items]
    datasets: dict[str, DatasetFigures] = {}
    held_out_domains: list[float] = []
    for name in task.datasets:
        mine = [i for i in items if i.dataset == name]
        base = _figures(mine, _score(mine))
        domains = {}
        for domain in sorted({i.input.domain for i in mine}):
            group = [i for i in mine if i.input.domain == domain]
            domains[domain] = _figures(group, _score(group))
            if name not in task.fit_sets and domains[domain].roc_auc is not None:
                held_out_domains.append(domains[domain].roc_auc)
        y = [i.input.label for i in mine]
        datasets[name] = DatasetFigures(
            **base.model_dump(),
            in_fit_set=name in task.fit_sets,
            words_roc_auc=_round(roc_auc(y, [i.output.words_score for i in mine])),
            words_balanced_accuracy=round(
                binary_metrics(
                    y, [int(i.output.words_score >= CONSISTENCY_THRESHOLD) for i in mine]
                )["balanced_accuracy"],
                6,
            ),
            domains=domains if len(domains) > 1 else {},
        )
    return ConsistencyMetrics(
        method=task.method,
        n=m["n"],
        n_consistent=m["n_1"],
        n_inconsistent=m["n_0"],
        balanced_accuracy=round(m["balanced_accuracy"], 6),
        balanced_accuracy_ci_low=_round(lo),
        balanced_accuracy_ci_high=_round(hi),
        bootstrap=task.bootstrap,
        bootstrap_seed=task.seed,
        roc_auc=_round(roc_auc(labels, _score(items))),
        precision_consistent=round(m["precision_1"], 6),
        recall_consistent=round(m["recall_1"], 6),
        precision_inconsistent=round(m["precision_0"], 6),
        recall_inconsistent=round(m["recall_0"], 6),
        words_balanced_accuracy=round(binary_metrics(labels, words_pred)["balanced_accuracy"], 6),
        words_roc_auc=_round(roc_auc(labels, [i.output.words_score for i in items])),
        min_domain_roc_auc=min(held_out_domains) if held_out_domains else None,
        datasets=datasets,
    )


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
