"""The eval harness: a YAML suite of jsonl gold sets → metrics, gates, JSON / Markdown / JUnit reports.

A suite names its datasets (with a field mapping, so any gold set fits), the tasks to run on
them and the gates CI enforces. LLM calls go through the replay cache in the suite's cache dir:
``--record`` fills it with the real model, ``--replay`` runs from it alone (a miss is an error),
so CI needs no model and scores the same run after run. Only latency differs between runs, and
it is kept apart from the metrics.

Modules: ``suite`` (the file), ``datasets``, ``metrics`` (every score's definition), ``tasks/``
(one per task, each returning a typed result), ``gates``, ``baseline`` (the diff),
``results`` (the typed ``RunResult``), ``run`` (``run_suite``), ``report/`` (markdown, junit,
plot) and ``calibration`` (how well the consistency threshold generalises).
"""

from __future__ import annotations

from assistant.evaluate.baseline import LOWER_IS_BETTER, BaselineDiff, compare_baseline
from assistant.evaluate.datasets import load_dataset
from assistant.evaluate.gates import Gate, GateResult, evaluate_gates, parse_gate
from assistant.evaluate.metrics import (
    ROUGE_KEYS,
    LatencyStats,
    binary_metrics,
    bootstrap_balanced_accuracy,
    latency_stats,
    normalise_answer,
    rouge_text,
    typo_metrics,
)
from assistant.evaluate.report import render_junit, render_markdown, write_plot, write_reports
from assistant.evaluate.results import RESULTS_FORMAT, RunMetrics, RunResult
from assistant.evaluate.run import run_suite
from assistant.evaluate.suite import (
    ConsistencyTask,
    DatasetSpec,
    QATask,
    Suite,
    SummarizeTask,
    Tasks,
    TyposTask,
    load_suite,
)
from assistant.evaluate.tasks.common import TaskResult, Tick
from assistant.evaluate.tasks.consistency import run_consistency
from assistant.evaluate.tasks.qa import run_qa
from assistant.evaluate.tasks.summarize import run_summarize
from assistant.evaluate.tasks.typos import run_typos
from assistant.settings import CacheMode

__all__ = [
    "LOWER_IS_BETTER",
    "RESULTS_FORMAT",
    "ROUGE_KEYS",
    "BaselineDiff",
    "CacheMode",
    "ConsistencyTask",
    "DatasetSpec",
    "Gate",
    "GateResult",
    "LatencyStats",
    "QATask",
    "RunMetrics",
    "RunResult",
    "Suite",
    "SummarizeTask",
    "TaskResult",
    "Tasks",
    "Tick",
    "TyposTask",
    "binary_metrics",
    "bootstrap_balanced_accuracy",
    "compare_baseline",
    "evaluate_gates",
    "latency_stats",
    "load_dataset",
    "load_suite",
    "normalise_answer",
    "parse_gate",
    "render_junit",
    "render_markdown",
    "rouge_text",
    "run_consistency",
    "run_qa",
    "run_suite",
    "run_summarize",
    "run_typos",
    "typo_metrics",
    "write_plot",
    "write_reports",
]
