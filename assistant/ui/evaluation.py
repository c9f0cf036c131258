"""The Evaluate tab: the dev suite run from the replay cache, its metrics, gates and plot."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.auth import Actor
from assistant.evaluate.run import run_suite
from assistant.settings import PROJECT_ROOT
from assistant.ui.auth import Access, RoleGates
from assistant.ui.common import PROGRESS_TQDM, error_status, frame, ok_status

if TYPE_CHECKING:
    from assistant.evaluate.results import RunResult
    from assistant.service import Assistant

DEV_SUITE = PROJECT_ROOT / "eval" / "suites" / "dev.yaml"
METRIC_COLUMNS = ["metric", "value"]


def _flatten(prefix: str, value: Any, rows: list[list[str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, rows)
    elif isinstance(value, float):
        rows.append([prefix, f"{value:.4g}"])
    elif isinstance(value, int | str | bool) and len(str(value)) <= 200:
        rows.append([prefix, str(value)])


def metric_rows(result: RunResult) -> list[list[str]]:
    """Metrics, latency and gates of a run as (name, value) rows: ``task.metric``, ``latency.task.x``, ``gate …``."""
    rows: list[list[str]] = []
    _flatten("", result.metrics.model_dump(), rows)
    _flatten("latency", {t: s.model_dump() for t, s in result.latency.items()}, rows)
    for gate in result.gates:
        verdict = "passed" if gate.passed else f"FAILED: {gate.message}"
        rows.append([f"gate {gate.gate}", verdict])
    return rows


def run_evaluation(
    assistant: Assistant, suite: Path | None = None, out_dir: Path | None = None, actor: Actor | None = None
) -> tuple[str, list[list[str]], str | None]:
    """(status, metric rows, plot path) of the dev suite run by ``actor``, LLM calls replayed from the suite's cache."""
    # The harness loads spaCy, wordfreq and NLTK: imported on the first run, not at app start.

    suite = suite or DEV_SUITE
    out_dir = out_dir or assistant.settings.data_dir / "eval-out" / time.strftime("%Y%m%d-%H%M%S")
    try:
        # Refused before any work for a role that may not evaluate; recorded in the audit log.
        assistant.record_evaluation(str(suite), actor=actor, out_dir=str(out_dir))
        result = run_suite(
            suite,
            out_dir,
            cache="replay",  # the app never records: a missing call is reported, not made
            settings=assistant.settings,
            embedder=assistant._embedder,  # only one given explicitly: a suite's stores get the configured graph
            progress=True,
        )
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return error_status(exc, "the evaluation"), [], None
    rows = metric_rows(result)
    status = f"Evaluation of {Path(suite).name} finished: {len(rows)} row(s)"
    status += f", {len(result.failed)} gate(s) failed." if result.failed else "."
    plot = str(result.plot) if result.plot else None
    return ok_status(status + f" Reports in {out_dir}."), rows, plot


def build_tab(assistant: Assistant, access: Access | None = None, gates: RoleGates | None = None) -> None:
    """The Evaluate tab (admins only): one button, the metric table and the report's plot."""
    access = access or Access()
    gates = gates or RoleGates(access)

    def on_evaluate(request: gr.Request, progress=PROGRESS_TQDM):
        actor = access.act(request, "evaluate")
        progress(0, desc="Running the dev suite")
        status, rows, image = run_evaluation(assistant, actor=actor)
        return status, frame(rows, METRIC_COLUMNS), image

    with gates.add("evaluate", gr.Tab("Evaluate", id="evaluate", visible=gates.visible)):
        gr.Markdown(
            "Run the development suite (ROUGE, citation validity, consistency, typo precision/recall)."
        )
        button = gr.Button("Run dev suite", variant="primary", elem_id="evaluate")
        status = gr.Markdown(elem_id="eval-status")
        with gr.Row(equal_height=False):
            table = gr.Dataframe(
                value=frame([], METRIC_COLUMNS),
                headers=METRIC_COLUMNS,
                interactive=False,
                label="Metrics",
            )
            plot = gr.Image(label="Plot", type="filepath", interactive=False)
        button.click(on_evaluate, None, [status, table, plot], api_name="evaluate")
