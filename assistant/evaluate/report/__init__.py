"""The run's reports: results.json, report.md with report.png, and junit.xml."""

from __future__ import annotations

from assistant.evaluate.report.junit import render_junit
from assistant.evaluate.report.markdown import render_markdown
from assistant.evaluate.report.plot import write_plot
from assistant.evaluate.results import RunResult

__all__ = ["render_junit", "render_markdown", "write_plot", "write_reports"]


def write_reports(run: RunResult) -> None:
    """results.json, report.md with report.png, junit.xml, in ``run.out_dir``."""
    out = run.out_dir
    (out / "results.json").write_text(run.to_json(), encoding="utf-8")
    plot = write_plot(run.metrics, run.suite.name, out / "report.png")
    (out / "report.md").write_text(
        render_markdown(run, plot.name if plot else None), encoding="utf-8"
    )
    (out / "junit.xml").write_text(render_junit(run), encoding="utf-8")
