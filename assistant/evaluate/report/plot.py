"""report.png: ROUGE of the system beside Lead-3, and the headline check metrics with their interval."""

from __future__ import annotations

from pathlib import Path

from assistant.evaluate.metrics import ROUGE_KEYS
from assistant.evaluate.results import RunMetrics

# (label, value, 95% interval or None)
Check = tuple[str, float, tuple[float | None, float | None] | None]


def _checks(m: RunMetrics) -> list[Check]:
    checks: list[Check] = []
    if m.summarize:
        checks += [
            ("citation\nvalidity", m.summarize.citation_validity, None),
            ("sentence\nsupport", m.summarize.support_rate, None),
        ]
    if m.consistency:
        c = m.consistency
        interval = (c.balanced_accuracy_ci_low, c.balanced_accuracy_ci_high)
        checks.append(("consistency\nbal. acc.", c.balanced_accuracy, interval))
    if m.typos:
        checks += [
            ("typo\nrecall", m.typos.recall, None),
            ("typo\nprecision", m.typos.precision, None),
        ]
    if m.qa:
        checks += [
            ("QA answer\naccuracy", m.qa.answer_accuracy, None),
            ("QA citation\nhit", m.qa.citation_hit_rate, None),
        ]
    return checks


def write_plot(metrics: RunMetrics, title: str, path: Path) -> Path | None:
    """One PNG with a panel for summaries and one for the checks; None when the run has neither."""
    import matplotlib  # lazy: matplotlib takes ~1 s to import and only the PNG needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    checks = _checks(metrics)
    panels = (["summarize"] if metrics.summarize else []) + (["checks"] if checks else [])
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "summarize":
            s = metrics.summarize
            xs = range(len(ROUGE_KEYS))
            ax.bar([x - 0.2 for x in xs], [getattr(s, k) for k in ROUGE_KEYS], 0.4, label="system")
            ax.bar(
                [x + 0.2 for x in xs],
                [getattr(s, "lead3_" + k) for k in ROUGE_KEYS],
                0.4,
                label="Lead-3",
            )
            ax.set_xticks(list(xs), ["ROUGE-1", "ROUGE-2", "ROUGE-Lsum"])
            ax.set_title(f"Summaries (n={s.n}), ROUGE F1")
            ax.legend()
        else:
            labels = [c[0] for c in checks]
            values = [c[1] for c in checks]
            ax.bar(range(len(values)), values, color="tab:green")
            for x, (_, v, ci) in enumerate(checks):
                if ci and None not in ci:
                    ax.errorbar(x, v, yerr=[[v - ci[0]], [ci[1] - v]], capsize=4, color="black")
            for x, v in enumerate(values):
                ax.text(x, 0.03, f"{v:.2f}", ha="center", fontsize=9, color="white")
            ax.set_xticks(range(len(values)), labels, fontsize=8)
            ax.set_title("Checks")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
