"""Gates: ``task.metric OP threshold`` checked against a run's metrics (and latency)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from assistant.errors import BadInputError

# task -> metric -> value, as results.json holds them
Tables = Mapping[str, Mapping[str, Any]]

# task.metric, or a dotted path into a metric table (consistency.datasets.frank.roc_auc)
_METRIC = r"[A-Za-z_]\w*(?:\.[A-Za-z_][\w-]*)+"
_GATE_RE = re.compile(rf"^\s*({_METRIC})\s*(>=|<=|==|>|<)\s*(\S+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Gate:
    """``task.metric OP threshold``; the threshold is a number or another ``task.metric``."""

    expr: str
    metric: str
    op: str
    threshold: float | str


class GateResult(BaseModel):
    """One gate checked against a run: the values compared, the outcome and a message naming both."""

    gate: str = Field(description="The gate as written (spaces normalised)")
    metric: str = Field(description="The task.metric it checks")
    value: float | None = Field(
        description="The metric's value; None when the run did not produce it"
    )
    threshold: float | None = Field(description="The number compared against (None when missing)")
    passed: bool
    message: str


_GATE_HELP = "Write gates like `summarize.rougeLsum >= 0.30` (OP is one of >= <= > < ==)."


def parse_gate(text: str) -> Gate:
    """Parse ``task.metric OP value`` (value: a number or another task.metric); malformed is a BadInputError."""
    m = _GATE_RE.match(text)
    if not m:
        raise BadInputError(
            f"gate {text!r} is not `task.metric OP value`",
            _GATE_HELP,
        )
    metric, op, rhs = m.groups()
    try:
        threshold: float | str = float(rhs)
    except ValueError:
        if not re.fullmatch(_METRIC, rhs):
            raise BadInputError(
                f"gate {text!r}: {rhs!r} is neither a number nor a task.metric", _GATE_HELP
            ) from None
        threshold = rhs
    return Gate(" ".join(text.split()), metric, op, threshold)


def _lookup(name: str, metrics: Tables, latency: Tables) -> float | None:
    for table in (metrics, latency):
        value: Any = table
        for part in name.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _check(gate: Gate, metrics: Tables, latency: Tables) -> GateResult:
    value = _lookup(gate.metric, metrics, latency)
    threshold = (
        gate.threshold
        if isinstance(gate.threshold, float)
        else _lookup(gate.threshold, metrics, latency)
    )
    missing = [n for n, v in ((gate.metric, value), (str(gate.threshold), threshold)) if v is None]
    if missing:
        known = ", ".join(
            f"{t}.{k}"
            for t, table in metrics.items()
            for k, v in table.items()
            if isinstance(v, int | float)
        )
        passed = False
        message = f"gate {gate.expr}: no metric {missing[0]} in this run (known: {known})"
    else:
        passed = _OPS[gate.op](value, threshold)
        rhs = (
            f"{threshold:.4f}"
            if isinstance(gate.threshold, float)
            else f"{gate.threshold} = {threshold:.4f}"
        )
        verdict = "passed" if passed else "FAILED"
        message = f"gate {gate.expr} {verdict}: {gate.metric} = {value:.4f} (needs {gate.op} {rhs})"
    return GateResult(
        gate=gate.expr,
        metric=gate.metric,
        value=value,
        threshold=threshold,
        passed=passed,
        message=message,
    )


def evaluate_gates(gates: list[str], metrics: Tables, latency: Tables) -> list[GateResult]:
    """Check every gate; a metric the run did not produce fails its gate, naming what exists."""
    return [_check(parse_gate(text), metrics, latency) for text in gates]
