"""What every task shares: the item record's common fields, the typed task result, timing, replay misses."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from assistant.errors import ReplayMissError
from assistant.evaluate.metrics import LatencyStats

# Called once per finished item (the progress bar).
Tick = Callable[[], None]


class ItemBase(BaseModel):
    """Where an item comes from: its task, its id and its dataset line."""

    task: str
    id: str
    dataset: str
    line: int

    @classmethod
    def where(cls, dataset: str, row: dict) -> dict[str, Any]:
        """The common fields of the item for ``row`` of ``dataset``."""
        return {"id": row["id"], "dataset": dataset, "line": row["_line"]}


ItemT = TypeVar("ItemT", bound=ItemBase)
MetricsT = TypeVar("MetricsT", bound=BaseModel)


class TaskResult(BaseModel, Generic[ItemT, MetricsT]):
    """One task's run: every item with its scores, the aggregate metrics and the latency."""

    items: list[ItemT] = Field(default_factory=list)
    metrics: MetricsT
    latency: LatencyStats


@contextmanager
def timer(sink: list[float]) -> Iterator[None]:
    """Append the block's wall time in milliseconds to ``sink`` (also when it raises)."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        sink.append((time.perf_counter() - t0) * 1000)


def llm_call(task: str, item_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; a replay miss is re-raised naming the task, the item and how to record it."""
    try:
        return fn(*args, **kwargs)
    except ReplayMissError as exc:
        raise ReplayMissError(
            f"{task} item {item_id}: {exc}",
            "Record the suite's model calls with `assistant eval SUITE --record` (runs the local "
            "model), commit the cache folder, or run without --replay.",
        ) from exc
