"""report.md: headline tables (Lead-3 beside the system), gates, baseline regressions, worst items, the plot."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from assistant.evaluate.results import RunResult
from assistant.evaluate.tasks.consistency import ConsistencyItem
from assistant.evaluate.tasks.qa import QAItem
from assistant.evaluate.tasks.summarize import SummarizeItem, SummaryError
from assistant.evaluate.tasks.typos import TyposItem

Lines = list[str]
# Column alignment: "l" left (text), "r" right (numbers).
Columns = Sequence[tuple[str, str]]


def _f(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.{digits}f}"
    return "—" if value is None else str(value)


def _short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    return (text if len(text) <= n else text[: n - 1] + "…").replace("|", "\\|")


def table(columns: Columns, rows: Sequence[Sequence[str]]) -> Lines:
    """A Markdown (GFM pipe) table, columns padded; cells are written as given (escape ``|`` first)."""
    text = tabulate(
        rows,
        headers=[name for name, _ in columns],
        tablefmt="pipe",
        colalign=["right" if align == "r" else "left" for _, align in columns],
        disable_numparse=True,  # cells are formatted already ("1.000", "0.20 (5 in 25)")
    )
    return text.splitlines()


# --------------------------------------------------------------------------- headline tables


def _header(run: RunResult) -> Lines:
    failed = run.failed
    lines = [f"# Eval report: {run.suite.name}", ""]
    if run.suite.description:
        lines += [run.suite.description.strip(), ""]
    status = (
        f"**{len(failed)} of {len(run.gates)} gates failed**"
        if failed
        else f"all {len(run.gates)} gates passed"
    )
    lines += [f"Suite `{run.suite.file}`, {status}."]
    cache = run.run.cache
    if cache:
        stats = (
            f", {cache.hits or 0} hits / {cache.misses or 0} misses"
            if cache.hits is not None
            else ""
        )
        lines += [f"LLM calls: cache mode `{cache.mode}` in `{cache.dir}`{stats}."]
    return [*lines, ""]


def _summaries(run: RunResult) -> Lines:
    s = run.metrics.summarize
    if s is None:
        return []
    first = next((i for i in run.items if isinstance(i, SummarizeItem)), None)
    ds = first.dataset if s.n and first else "?"
    info = run.suite.datasets.get(ds)
    limit = info.limit if info else None
    subset = (
        f" (the first {limit} rows of the file: a subset, see the suite description)"
        if limit
        else ""
    )
    rows = [
        [label, _f(getattr(s, k)), _f(getattr(s, "lead1_" + k)), _f(getattr(s, "lead3_" + k))]
        for k, label in (("rouge1", "ROUGE-1"), ("rouge2", "ROUGE-2"), ("rougeLsum", "ROUGE-Lsum"))
    ]
    rows += [
        [f"citation validity ({s.citations} citations)", _f(s.citation_validity), "—", "—"],
        [f"sentence support rate ({s.sentences} sentences)", _f(s.support_rate), "—", "—"],
        [
            f"sentences with a support score ({s.support_scored} of {s.sentences})",
            _f(_share(s.support_scored, s.sentences)),
            "—",
            "—",
        ],
        ["model sentences replaced by the article's (failed verification)", _f(s.replaced_rate), "—", "—"],
        ["the article's own sentences (replaced, filled in, fallback)", _f(s.source_sentence_rate), "—", "—"],
        ["extractive-fallback rate (no usable model output)", _f(s.extractive_fallback_rate), "—", "—"],
        ["errors", str(s.errors), "—", "—"],
    ]
    return [
        f"## Summaries: {s.n} items of `{ds}`{subset}",
        "",
        (
            f"System = `Assistant.summarize(text=article, sentences={s.sentences_requested})`, "
            f"strategy `{s.strategy}`; Lead-1 / Lead-3 = the article's first one / three sentences. "
            "ROUGE F1 with stemming, spaces around punctuation normalised, sentences newline-joined for Lsum."
        ),
        "",
        *table([("metric", "l"), ("system", "r"), ("Lead-1", "r"), ("Lead-3", "r")], rows),
        "",
        *_strategies(run),
    ]


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _strategies(run: RunResult) -> Lines:
    """Every summarize run (the main one and its variants) beside Lead-n on the same items."""
    m = run.metrics
    if m.summarize is None or not m.summarize_variants:
        return []
    runs = [("main", m.summarize), *m.summarize_variants.items()]
    rows: list[list[str]] = []
    leads: set[tuple[int, int]] = set()
    for name, s in runs:
        rows.append(
            [
                f"`{name}`",
                s.strategy,
                str(s.sentences_requested),
                str(s.n),
                _f(s.rouge1),
                _f(s.rouge2),
                _f(s.rougeLsum),
                _f(s.support_rate),
                _f(s.replaced_rate),
                _f(s.extractive_fallback_rate),
            ]
        )
        k = 1 if s.sentences_requested == 1 else 3
        if (k, s.n) not in leads:
            leads.add((k, s.n))
            rows.append(
                [
                    f"Lead-{k}",
                    "first sentences",
                    str(k),
                    str(s.n),
                    *(_f(getattr(s, f"lead{k}_{key}")) for key in ("rouge1", "rouge2", "rougeLsum")),
                    "—",
                    "—",
                    "—",
                ]
            )
    columns = [("run", "l"), ("strategy", "l"), ("sentences", "r"), ("items", "r")]
    columns += [("ROUGE-1", "r"), ("ROUGE-2", "r"), ("ROUGE-Lsum", "r"), ("support", "r")]
    columns += [("replaced", "r"), ("fallback", "r")]
    return [
        "### Strategies compared",
        "",
        "Each run on the first `items` rows of the dataset; a Lead-n row follows a run on new items.",
        "",
        *table(columns, rows),
        "",
    ]


def _value_section(title: str, rows: Sequence[Sequence[str]]) -> Lines:
    """A heading over a two-column metric | value table."""
    return [title, "", *table([("metric", "l"), ("value", "r")], rows), ""]


def _consistency(run: RunResult) -> Lines:
    c = run.metrics.consistency
    if c is None:
        return []
    interval = (
        f"{_f(c.balanced_accuracy)} (95% CI {_f(c.balanced_accuracy_ci_low)}"
        f"–{_f(c.balanced_accuracy_ci_high)}, stratified bootstrap ×{c.bootstrap}, "
        f"seed {c.bootstrap_seed})"
    )
    rows = [
        ["balanced accuracy", interval],
        ["ROC AUC", _f(c.roc_auc)],
        [
            "consistent: precision / recall",
            f"{_f(c.precision_consistent)} / {_f(c.recall_consistent)}",
        ],
        [
            "inconsistent: precision / recall",
            f"{_f(c.precision_inconsistent)} / {_f(c.recall_inconsistent)}",
        ],
        [
            "word matching alone: balanced accuracy / ROC AUC",
            f"{_f(c.words_balanced_accuracy)} / {_f(c.words_roc_auc)}",
        ],
    ]
    method = "calibrated support scorer" if c.method == "support" else "word matching"
    title = (
        f"## Consistency detection ({method}): {c.n} items "
        f"({c.n_consistent} consistent, {c.n_inconsistent} not)"
    )
    lines = _value_section(title, rows)
    groups = []
    for name, d in c.datasets.items():
        note = " (fitted on: in-sample)" if d.in_fit_set else ""
        groups.append(
            [
                f"**{name}**{note}",
                str(d.n),
                _f(d.roc_auc),
                _f(d.balanced_accuracy),
                f"{_f(d.words_roc_auc)} / {_f(d.words_balanced_accuracy)}",
            ]
        )
        for domain, f in d.domains.items():
            groups.append(
                [f"{name} / {domain}", str(f.n), _f(f.roc_auc), _f(f.balanced_accuracy), ""]
            )
    if groups:
        columns = [
            ("dataset / domain", "l"),
            ("n", "r"),
            ("ROC AUC", "r"),
            ("balanced accuracy", "r"),
            ("word matching AUC / bal. acc.", "r"),
        ]
        lines += ["Per dataset and domain:", "", *table(columns, groups), ""]
    return lines


def _typos(run: RunResult) -> Lines:
    ty = run.metrics.typos
    if ty is None:
        return []
    rows = [
        ["recall", f"{_f(ty.recall)} ({ty.detected}/{ty.n_typo})"],
        ["precision", f"{_f(ty.precision)} ({ty.detected} of {ty.flags} flags)"],
        [
            "false alarms per clean document",
            f"{_f(ty.false_alarms_per_clean_doc, 2)} ({ty.false_alarms_clean} in {ty.n_clean})",
        ],
    ]
    title = (
        f"## Typos: {ty.n} items ({ty.n_typo} with a typo, {ty.n_clean} clean; corpus: {ty.corpus})"
    )
    return _value_section(title, rows)


def _questions(run: RunResult) -> Lines:
    q = run.metrics.qa
    if q is None:
        return []
    rows = [
        ["answer contains the gold answer", _f(q.answer_accuracy)],
        ["a citation hits the supporting article", _f(q.citation_hit_rate)],
        ["answered", _f(q.answered_rate)],
        ["sentence support rate", _f(q.support_rate)],
    ]
    return _value_section(f"## Questions: {q.n} items", rows)


def _yes_no(run: RunResult) -> Lines:
    q = run.metrics.qa_boolean
    if q is None:
        return []
    rows = [
        ["stated polarity right, gold-yes questions", f"{_f(q.polarity_right_yes)} of {q.n_yes}"],
        ["stated polarity right, gold-no questions", f"{_f(q.polarity_right_no)} of {q.n_no}"],
        ["refused ('Not stated') though answerable", _f(q.refusal_rate)],
        ["own passage cited (answered questions)", _f(q.own_passage_cited)],
        ["unanswerable controls refused", _f(q.control_refused) if q.control_refused is not None else "—"],
        ["routed to the yes/no answerer by is_yes_no()", _f(q.detected_rate)],
        ["relevance floor (dense similarity)", "none" if q.min_relevance is None else f"{q.min_relevance:g}"],
        ["thresholds (answer margin, polarity margin)", f"{q.answer_threshold:g}, {q.polarity_threshold:g}"],
    ]
    return _value_section(f"## Yes/no questions: {q.n} items", rows)


def _latency(run: RunResult) -> Lines:
    if not run.latency:
        return []
    replayed = run.run.cache is not None and run.run.cache.mode == "replay"
    note = " (LLM calls replayed from the cache: model time is not included)" if replayed else ""
    rows = [
        [t, str(v.n), f"{v.latency_p50_ms:.1f}", f"{v.latency_p95_ms:.1f}"]
        for t, v in run.latency.items()
    ]
    columns = [("task", "l"), ("n", "r"), ("p50 ms", "r"), ("p95 ms", "r")]
    return ["## Latency per item" + note, "", *table(columns, rows), ""]


def _gates(run: RunResult) -> Lines:
    rows = [[f"`{g.gate}`", _f(g.value, 4), "pass" if g.passed else "**FAIL**"] for g in run.gates]
    rows = rows or [["(none)", "", ""]]
    return ["## Gates", "", *table([("gate", "l"), ("value", "r"), ("result", "l")], rows), ""]


def _baseline(run: RunResult, most: int = 50) -> Lines:
    b = run.baseline
    if b is None:
        return []
    lines = [
        f"## Compared with baseline `{b.file}`",
        "",
        (
            f"{b.compared_items} items compared: {b.regressed_items} got worse, "
            f"{b.improved_items} got better ({b.new_items} new, {b.missing_items} missing)."
        ),
        "",
    ]
    if b.regressions:
        columns = [("task", "l"), ("item", "l"), ("score", "l")]
        columns += [("baseline", "r"), ("now", "r"), ("delta", "r")]
        rows = [
            [r.task, f"`{r.id}`", r.score, _f(r.baseline), _f(r.current), f"{r.delta:+.3f}"]
            for r in b.regressions[:most]
        ]
        lines += table(columns, rows)
        if len(b.regressions) > most:
            lines.append(f"\n…and {len(b.regressions) - most} more in results.json.")
        lines.append("")
    if b.metric_deltas:
        rows = [
            [k, _f(v.baseline), _f(v.current), f"{v.delta:+.3f}"]
            for k, v in b.metric_deltas.items()
        ]
        columns = [("metric", "l"), ("baseline", "r"), ("now", "r"), ("delta", "r")]
        lines += [*table(columns, rows), ""]
    return lines


# --------------------------------------------------------------------------- worst items


def _worst_summaries(items: list[SummarizeItem], n: int) -> Lines:
    if not items:
        return []
    worst = sorted(items, key=lambda i: (i.scores.rougeLsum, i.id))[:n]
    rows = []
    for i in worst:
        out = i.output
        if isinstance(out, SummaryError):
            first, bad = out.error, ""
        else:
            first = next((s.text for s in out.sentences), "(empty)")
            bad = next((s.reason for s in out.sentences if s.verdict != "supported"), "")
        rows.append(
            [
                f"`{i.id[:16]}`",
                _f(i.scores.rougeLsum),
                _f(i.lead3.scores["rougeLsum"]),
                _f(i.scores.support_rate),
                f"{_short(first)}{' — ' + _short(bad, 70) if bad else ''}",
            ]
        )
    columns = [("item", "l"), ("ROUGE-Lsum", "r"), ("Lead-3", "r"), ("support", "r")]
    columns += [("first sentence / problem", "l")]
    return ["Summaries with the lowest ROUGE-Lsum:", "", *table(columns, rows), ""]


def _worst_consistency(items: list[ConsistencyItem], n: int) -> Lines:
    wrong = [i for i in items if not i.scores.correct]
    if not wrong:
        return []
    rows = [
        [f"`{i.id[:16]}`", str(i.input.label), str(i.output.predicted), _short(i.output.reason)]
        for i in wrong[:n]
    ]
    columns = [("item", "l"), ("label", "r"), ("predicted", "r"), ("reason", "l")]
    return [
        f"Consistency mistakes ({len(wrong)}; first {min(n, len(wrong))}):",
        "",
        *table(columns, rows),
        "",
    ]


def _worst_typos(items: list[TyposItem], n: int) -> Lines:
    lines: Lines = []
    missed = [i for i in items if i.scores.detected == 0.0]
    alarms = sorted(
        [i for i in items if i.scores.false_flags > 0],
        key=lambda i: (-i.scores.false_flags, i.id),
    )
    if missed:
        rows = []
        for i in missed[:n]:
            flags = ", ".join(f"{f.text}→{f.suggestion}" for f in i.output.flags) or "none"
            rows.append(
                [f"`{i.id[:16]}`", f"{i.input.typo} → {i.input.correct}", _short(flags, 60)]
            )
        columns = [("item", "l"), ("typo → correct", "l"), ("flags raised", "l")]
        lines += [f"Missed typos ({len(missed)}):", "", *table(columns, rows), ""]
    if alarms:
        rows = []
        for i in alarms[:n]:
            flags = ", ".join(f"{f.text}→{f.suggestion} ({f.kind})" for f in i.output.flags)
            rows.append([f"`{i.id[:16]}`", str(int(i.scores.false_flags)), _short(flags, 80)])
        columns = [("item", "l"), ("false flags", "r"), ("flags", "l")]
        lines += [
            f"Most false flags ({len(alarms)} items with any):",
            "",
            *table(columns, rows),
            "",
        ]
    return lines


def _worst_questions(items: list[QAItem], n: int) -> Lines:
    wrong = [i for i in items if not i.scores.contains_answer]
    if not wrong:
        return []
    rows = [
        [
            f"`{i.id[:16]}`",
            _short(i.input.question, 50),
            _short(i.input.answer, 30),
            _short(i.output.answer, 60),
        ]
        for i in wrong[:n]
    ]
    columns = [("item", "l"), ("question", "l"), ("gold", "l"), ("answer", "l")]
    return [f"Questions without the gold answer ({len(wrong)}):", "", *table(columns, rows), ""]


def _worst_items(run: RunResult, n: int = 5) -> Lines:
    items = run.items
    lines = [
        *_worst_summaries([i for i in items if isinstance(i, SummarizeItem) and not i.variant], n),
        *_worst_consistency([i for i in items if isinstance(i, ConsistencyItem)], n),
        *_worst_typos([i for i in items if isinstance(i, TyposItem)], n),
        *_worst_questions([i for i in items if isinstance(i, QAItem)], n),
    ]
    return ["## Worst items", "", *lines] if lines else []


def render_markdown(run: RunResult, plot: str | None) -> str:
    """The human report: headline tables, gates, baseline regressions, worst items, the plot."""
    lines = [
        *_header(run),
        *_summaries(run),
        *_consistency(run),
        *_typos(run),
        *_yes_no(run),
        *_questions(run),
        *_latency(run),
        *_gates(run),
        *_baseline(run),
        *_worst_items(run),
    ]
    if plot:
        lines += ["## Plot", "", f"![metrics]({plot})", ""]
    return "\n".join(lines)
