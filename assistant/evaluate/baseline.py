"""The baseline diff: items and metrics of this run that got worse (or better) than an earlier results.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from assistant.errors import BadInputError

# Per-item scores where a larger value is worse; every other per-item score is better larger.
LOWER_IS_BETTER = frozenset({"false_flags"})
_EPS = 1e-9


class Regression(BaseModel):
    """One per-item score that got worse."""

    task: str
    id: str
    score: str
    baseline: int | float
    current: int | float
    delta: int | float


class MetricDelta(BaseModel):
    # counts stay integers ("citations": 32 -> 33), rates stay floats
    baseline: int | float
    current: int | float
    delta: int | float


class BaselineDiff(BaseModel):
    file: str = Field(description="The baseline results.json, as given")
    compared_items: int
    regressed_items: int
    improved_items: int
    new_items: int
    missing_items: int
    regressions: list[Regression] = Field(description="Worst first")
    metric_deltas: dict[str, MetricDelta] = Field(
        description="task.metric -> change, for metrics that moved"
    )


def read_baseline(path: Path) -> dict[str, Any]:
    """An earlier run's results.json; an unreadable one is a BadInputError naming what to give."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BadInputError(
            f"cannot read baseline {path}: {exc}",
            "Give the results.json of an earlier `assistant eval` run, e.g. eval/baselines/dev.json.",
        ) from None


def compare_baseline(
    baseline: dict[str, Any],
    items: list[dict[str, Any]],
    metrics: dict[str, dict[str, Any]],
    file: str,
) -> BaselineDiff:
    """Items whose per-item scores got worse than in ``baseline`` (a results.json), worst first.

    Both sides are results.json data (``RunResult.model_dump()`` for this run), so a baseline
    written by an older version compares as long as it has items with task, id and scores.
    """
    old = {(i["task"], i["id"]): i for i in baseline.get("items", [])}
    regressions, improved, compared = [], 0, 0
    for item in items:
        before = old.get((item["task"], item["id"]))
        if before is None:
            continue
        compared += 1
        better = False
        for key, value in item.get("scores", {}).items():
            prev = before.get("scores", {}).get(key)
            if not isinstance(prev, int | float) or not isinstance(value, int | float):
                continue
            delta = value - prev
            worse = delta > _EPS if key in LOWER_IS_BETTER else delta < -_EPS
            if worse:
                regressions.append(
                    Regression(
                        task=item["task"],
                        id=item["id"],
                        score=key,
                        baseline=prev,
                        current=value,
                        delta=round(delta, 6),
                    )
                )
            elif abs(delta) > _EPS:
                better = True
        improved += better
    regressions.sort(key=lambda r: (-abs(r.delta), r.task, r.id, r.score))
    metric_deltas = {}
    for task, table in metrics.items():
        for key, value in table.items():
            prev = baseline.get("metrics", {}).get(task, {}).get(key)
            if (
                isinstance(value, int | float)
                and isinstance(prev, int | float)
                and abs(value - prev) > _EPS
            ):
                metric_deltas[f"{task}.{key}"] = MetricDelta(
                    baseline=prev, current=value, delta=round(value - prev, 6)
                )
    current_keys = {(i["task"], i["id"]) for i in items}
    return BaselineDiff(
        file=file,
        compared_items=compared,
        regressed_items=len({(r.task, r.id) for r in regressions}),
        improved_items=improved,
        new_items=len(current_keys - set(old)),
        missing_items=len(set(old) - current_keys),
        regressions=regressions,
        metric_deltas=metric_deltas,
    )
