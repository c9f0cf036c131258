"""The suite file: datasets with field mappings, the tasks to run on them, and the gates CI enforces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from assistant.errors import BadInputError
from assistant.evaluate.gates import parse_gate
from assistant.settings import LLMSettings, SummarySettings, default_eval_data_dir

# A dataset path starting with this folder name is read from the eval data folder (Settings.eval_data_dir).
EVAL_DATA = "$EVAL_DATA"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Strict):
    path: Path = Field(
        description=f"jsonl file, relative to the suite's root, absolute, or under {EVAL_DATA}/ (the eval data folder)"
    )
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="task field -> field of the jsonl rows (dotted for nested); unmapped fields keep their name",
    )
    where: dict[str, str] = Field(
        default_factory=dict, description="Keep only rows whose field equals the value (e.g. split: test)"
    )
    start: int = Field(0, ge=0, description="Skip the first N rows (after `where`) before `every` picks")
    every: int = Field(1, ge=1, description="Then keep every n-th row (a fixed subset)")
    limit: int | None = Field(None, ge=1, description="Use only the first N rows (file order)")


class SummarizeVariant(_Strict):
    """Another run of the summarize task on the same dataset, reported beside the main run."""

    sentences: int | None = Field(None, ge=1, le=15, description="Summary length (default: the task's)")
    strategy: Literal["extract_fuse", "abstractive", "extractive"] | None = Field(
        None, description="Summary strategy (default: the task's)"
    )
    limit: int | None = Field(None, ge=1, description="Only the first N items of the dataset")


class SummarizeTask(_Strict):
    dataset: str = Field(description="Dataset with id, article, reference")
    sentences: int = Field(3, ge=1, le=15, description="Summary length asked of the assistant")
    strategy: Literal["auto", "extract_fuse", "abstractive", "extractive"] | None = Field(
        None, description="Summary strategy (default: the suite's `summary:` settings, else auto)"
    )
    variants: dict[str, SummarizeVariant] = Field(
        default_factory=dict,
        description=(
            "More runs on the same items (other lengths or strategies), keyed by a short name; their "
            "metrics are gated as summarize_<name>.<metric> and their items get the id suffix @<name>"
        ),
    )


class ConsistencyTask(_Strict):
    datasets: list[str] = Field(
        min_length=1,
        description="Datasets with id, article, summary, label (1 = consistent), optional domain",
    )
    method: Literal["support", "words"] = Field(
        "support",
        description="support: the calibrated support scorer (model calls replayed); words: word matching only",
    )
    fit_sets: list[str] = Field(
        default_factory=list,
        description="Datasets the support weights were fitted on: their figures are in-sample, and say so",
    )
    bootstrap: int = Field(
        1000, ge=0, description="Bootstrap resamples for the balanced-accuracy interval"
    )
    seed: int = Field(0, description="Seed of the bootstrap")

    @model_validator(mode="before")
    @classmethod
    def _one_dataset(cls, data: Any) -> Any:
        # `dataset: NAME` stays accepted for a single dataset
        if isinstance(data, dict) and "dataset" in data:
            data = {**data, "datasets": [data["dataset"]]}
            del data["dataset"]
        return data

    @property
    def dataset(self) -> str:
        return self.datasets[0]


class TyposTask(_Strict):
    dataset: str = Field(
        description="Dataset with id, text, typo, correct, offset (typo null = clean row)"
    )
    corpus: Literal["leave-one-out", "none"] = Field(
        "leave-one-out", description="Name evidence: the other rows of the dataset, or none"
    )


class QATask(_Strict):
    dataset: str = Field(
        description="Dataset with id, question, answer, article_id (the supporting article)"
    )
    corpus: str = Field(description="Dataset of articles (id, article) ingested before asking")
    k: int | None = Field(
        None, ge=1, description="Passages retrieved per question (default: settings)"
    )


class QABooleanTask(_Strict):
    dataset: str = Field(description="Dataset with id, question, answer (true/false), article_id (its passage)")
    corpus: str = Field(description="Dataset of articles (id, article, optional title) ingested before asking")
    controls: bool = Field(
        True, description="Also ask each question with its own article kept out of retrieval (must be refused)"
    )
    k: int | None = Field(None, ge=1, description="Passages retrieved per question (default: settings)")


class BriefTask(_Strict):
    dataset: str = Field(description="Dataset with id, query, optional since / until (ISO or 7d, 3m, 1y)")
    corpus: str = Field(description="Dataset of dated articles (id, article, optional title, published) ingested first")


class Tasks(_Strict):
    summarize: SummarizeTask | None = None
    consistency: ConsistencyTask | None = None
    typos: TyposTask | None = None
    qa: QATask | None = None
    qa_boolean: QABooleanTask | None = None
    brief: BriefTask | None = None


class Suite(_Strict):
    name: str
    description: str = ""
    root: Path = Field(
        Path("."), description="Folder relative paths start from, relative to the suite file"
    )
    cache_dir: Path = Field(
        Path("cache"), description="Replay cache of the LLM calls, relative to root"
    )
    llm: dict[str, Any] = Field(
        default_factory=dict, description="LLM settings pinned by the suite"
    )
    summary: dict[str, Any] = Field(
        default_factory=dict, description="Summary settings pinned by the suite (they shape the prompts)"
    )
    datasets: dict[str, DatasetSpec]
    tasks: Tasks
    gates: list[str] = Field(default_factory=list)
    source: Path | None = Field(None, exclude=True)
    eval_data: Path | None = Field(
        None, exclude=True, description=f"What {EVAL_DATA}/ stands for (run_suite: Settings.eval_data_dir)"
    )

    @property
    def base(self) -> Path:
        """The folder relative paths of the suite start from."""
        folder = self.source.parent if self.source else Path.cwd()
        return (folder / self.root).resolve()

    def resolve(self, path: Path) -> Path:
        """``path`` made absolute against the suite root (``$EVAL_DATA/...``: in the eval data folder)."""
        parts = Path(path).parts
        if parts and parts[0] == EVAL_DATA:
            return (self.eval_data or default_eval_data_dir()).joinpath(*parts[1:]).resolve()
        return path if path.is_absolute() else (self.base / path).resolve()

    def relative(self, path: Path) -> str:
        """``path`` as written relative to the suite root (never a temp or machine path when avoidable)."""
        try:
            return str(path.resolve().relative_to(self.base))
        except ValueError:
            return str(path)


_SUITE_HELP = "Give the path of a suite YAML (datasets, tasks, gates), e.g. `assistant eval eval/suites/dev.yaml`."
_FORMAT_HELP = "Fix the suite file; eval/suites/dev.yaml shows every key (datasets, tasks, gates)."


def load_suite(path: Path) -> Suite:
    """Read and validate a suite file; every problem is reported with the file name."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"no suite file {path}", _SUITE_HELP)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BadInputError(f"{path} is not valid YAML: {exc}", _FORMAT_HELP) from exc
    if not isinstance(data, dict):
        raise BadInputError(f"suite {path} is not a mapping of keys", _FORMAT_HELP)
    try:
        suite = Suite.model_validate({**data, "source": path.resolve()})
        LLMSettings(**suite.llm)
        SummarySettings(**suite.summary)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:8]
        )
        raise BadInputError(f"suite {path} is malformed: {problems}", _FORMAT_HELP) from None
    for task_name in Tasks.model_fields:
        task = getattr(suite.tasks, task_name)
        if task is None:
            continue
        for ref in (task.dataset, getattr(task, "corpus", None) if task_name in ("qa", "qa_boolean", "brief") else None):
            if ref is not None and ref not in suite.datasets:
                raise BadInputError(
                    f"suite {path}: task {task_name} uses dataset {ref!r}, which is not under `datasets:`",
                    _FORMAT_HELP,
                )
    if suite.tasks.summarize:
        for name in suite.tasks.summarize.variants:
            if not re.fullmatch(r"[A-Za-z_]\w*", name):
                raise BadInputError(
                    f"suite {path}: summarize variant {name!r} is not a plain name",
                    "Name variants with letters, digits and _ (gates call them summarize_<name>.<metric>).",
                )
    for gate in suite.gates:
        parse_gate(gate)
    return suite
