"""The typed record of one eval run, written as results.json and read back by the CLI, the app and CI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from assistant.evaluate.baseline import BaselineDiff
from assistant.evaluate.gates import GateResult
from assistant.evaluate.metrics import LatencyStats
from assistant.evaluate.tasks.brief import BriefItem, BriefMetrics
from assistant.evaluate.tasks.consistency import ConsistencyItem, ConsistencyMetrics
from assistant.evaluate.tasks.qa import QAItem, QAMetrics
from assistant.evaluate.tasks.qa_boolean import QABooleanItem, QABooleanMetrics
from assistant.evaluate.tasks.summarize import SummarizeItem, SummarizeMetrics
from assistant.evaluate.tasks.typos import TyposItem, TyposMetrics
from assistant.settings import CacheMode

RESULTS_FORMAT = 1


def _absent(value: Any) -> bool:
    return value is None


class DatasetInfo(BaseModel):
    path: str = Field(description="As written in the suite (relative to its root)")
    limit: int | None
    fields: dict[str, str]


class SuiteInfo(BaseModel):
    name: str
    description: str
    file: str | None = Field(description="The suite file, relative to the suite root when possible")
    datasets: dict[str, DatasetInfo]


class LLMInfo(BaseModel):
    backend: str
    preset: str
    model: str | None = Field(description="The OpenAI-compatible model name (None for local)")
    temperature: float
    max_tokens: int
    n_ctx: int


class CacheInfo(BaseModel):
    mode: CacheMode
    dir: str
    hits: int | None = Field(None, exclude_if=_absent)
    misses: int | None = Field(None, exclude_if=_absent)


class RunInfo(BaseModel):
    started_at: str
    seconds: float
    llm: LLMInfo | None = Field(description="None when no task needed the model")
    cache: CacheInfo | None


class RunMetrics(BaseModel):
    """Aggregate metrics of the tasks that ran (a task that did not run is absent)."""

    summarize: SummarizeMetrics | None = Field(None, exclude_if=_absent)
    summarize_variants: dict[str, SummarizeMetrics] = Field(
        default_factory=dict,
        exclude_if=lambda v: not v,
        description="The summarize task's other runs (lengths, strategies), by variant name",
    )
    qa: QAMetrics | None = Field(None, exclude_if=_absent)
    qa_boolean: QABooleanMetrics | None = Field(None, exclude_if=_absent)
    brief: BriefMetrics | None = Field(None, exclude_if=_absent)
    consistency: ConsistencyMetrics | None = Field(None, exclude_if=_absent)
    typos: TyposMetrics | None = Field(None, exclude_if=_absent)

    def tables(self) -> dict[str, dict[str, Any]]:
        """task -> metric -> value, as gates and the baseline diff look them up (variants as summarize_<name>)."""
        tables = self.model_dump()
        for name, metrics in tables.pop("summarize_variants", {}).items():
            tables[f"summarize_{name}"] = metrics
        return tables


Item = Annotated[
    SummarizeItem | QAItem | QABooleanItem | BriefItem | ConsistencyItem | TyposItem, Field(discriminator="task")
]


class RunResult(BaseModel):
    """Everything a run produced; ``results.json`` is its JSON."""

    format: int = RESULTS_FORMAT
    suite: SuiteInfo
    run: RunInfo
    metrics: RunMetrics
    latency: dict[str, LatencyStats]
    gates: list[GateResult]
    items: list[Item]
    baseline: BaselineDiff | None = Field(None, exclude_if=_absent)
    out_dir: Path = Field(exclude=True, description="Where the reports were written")

    @property
    def failed(self) -> list[GateResult]:
        """The gates that did not pass."""
        return [g for g in self.gates if not g.passed]

    @property
    def plot(self) -> Path | None:
        """The report's PNG, when one was drawn."""
        path = self.out_dir / "report.png"
        return path if path.is_file() else None

    def to_json(self) -> str:
        """The results.json text."""
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def read(cls, out_dir: Path) -> RunResult:
        """The run whose reports are in ``out_dir`` (its results.json)."""
        data = json.loads((Path(out_dir) / "results.json").read_text(encoding="utf-8"))
        return cls.model_validate({**data, "out_dir": out_dir})
