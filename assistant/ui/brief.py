"""The Brief tab: a dated, cited topic brief across articles (timeline oldest first, then an overview),
and the date-range control (since / until) shared by Chat, Brief and Fact-check."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from assistant.dates import display, parse_bound
from assistant.errors import BadInputError
from assistant.types import Brief, BriefSource, SentenceResult
from assistant.ui.common import HTML_CSS, VERDICT_ICON, error_status, esc, ok_status

if TYPE_CHECKING:
    from assistant.service import Assistant

NO_BRIEF = '<p class="muted">Name a topic and press “Write brief”: a dated timeline and a short overview, every line cited.</p>'


def date_range(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """The date-range control's values as epoch seconds; a malformed or empty range is a BadInputError."""
    try:
        lo, hi = parse_bound(since), parse_bound(until, end=True)
    except ValueError as exc:
        raise BadInputError(str(exc), "Dates are ISO (2025-08-07) or relative (7d, 2w, 3m, 1y).") from None
    if lo is not None and hi is not None and lo > hi:
        raise BadInputError(f"'since' {since} is after 'until' {until}: no article can be in that range")
    return lo, hi


def _cite(numbers: list[int], by_number: dict[int, BriefSource]) -> str:
    return "".join(
        f'<sup title="{esc(by_number[n].title)}, {esc(display(by_number[n].published))}">[{n}]</sup>'
        for n in numbers
        if n in by_number
    )


def _line(s: SentenceResult, by_number: dict[int, BriefSource], date: str | None = None) -> str:
    icon = VERDICT_ICON.get(s.verdict, "?")
    when = f'<span class="brief-date">{esc(display(date)[:10])}</span> ' if date is not None else ""
    label = '<span class="badge source">article\'s sentence</span> ' if s.origin == "source" else ""
    reason = f'<div class="reason">{esc(s.reason)}</div>' if (s.verdict != "supported" or s.origin == "source") else ""
    rejected = f'<div class="rejected">model wrote: “{esc(s.rejected)}”</div>' if s.rejected else ""
    return (
        f'<li class="sent {esc(s.verdict)}">{when}<span class="verdict {esc(s.verdict)}">{icon}</span> '
        f"{label}{esc(s.text)} {_cite(s.sources, by_number)}{reason}{rejected}</li>"
    )


def brief_html(brief: Brief) -> str:
    """The timeline (one dated line per event, oldest first), the overview, then the cited sentences
    with their article's title and date."""
    if not brief.sources:
        return f'<p class="muted">Nothing in the archive on “{esc(brief.query)}” (in this date range).</p>'
    by_number = {s.number: s for s in brief.sources}
    warn = f'<div class="badge fallback">⚠ {esc(brief.injection_warning)}</div>' if brief.injection_warning else ""
    timeline = "".join(_line(e.sentence, by_number, e.published) for e in brief.timeline)
    overview = "".join(_line(s, by_number) for s in brief.overview)
    sources = "".join(
        f'<li id="brief-src-{s.number}"><b>[{s.number}]</b> “{esc(s.text)}” '
        f'<span class="src-date">({esc(s.title + ", " if s.title else "")}{esc(display(s.published))})</span> '
        f'<span class="src-id">{esc(s.passage_id)}</span></li>'
        for s in brief.sources
    )
    dropped = (
        f'<p class="muted">{brief.duplicates_dropped} near-duplicate passage(s) left out.</p>' if brief.duplicates_dropped else ""
    )
    return (
        f'{warn}<div class="model">model: {esc(brief.model)}</div>'
        f'<h4>Timeline (oldest first)</h4><ol class="sentences brief-timeline">{timeline}</ol>'
        f'<h4>Overview</h4><ol class="sentences brief-overview">{overview}</ol>'
        f'<div class="footnotes"><ol class="brief-sources" style="list-style:none;padding-left:0">{sources}</ol>{dropped}</div>'
    )


def run_brief(assistant: Assistant, query: str, since: str | None = None, until: str | None = None) -> tuple[str, str]:
    """(brief HTML, status) for a topic within the date range."""
    try:
        lo, hi = date_range(since, until)
        if not (query or "").strip():
            raise BadInputError("name a topic for the brief, e.g. Marlow footbridge repairs")
        brief = assistant.brief(query.strip(), since=lo, until=hi)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return NO_BRIEF, error_status(exc, "the brief")
    checked = [e.sentence for e in brief.timeline] + brief.overview
    replaced = sum(s.origin == "source" and bool(s.rejected) for s in checked)
    status = (
        f"{len(brief.timeline)} timeline line(s) from {len({s.article_id for s in brief.sources})} article(s), "
        f"{len(brief.overview)} overview sentence(s); {replaced} model line(s) failed a check and show the article's sentence."
    )
    return brief_html(brief), ok_status(status)


def build_tab(assistant: Assistant, since: gr.Textbox, until: gr.Textbox) -> None:
    """The Brief tab; ``since`` / ``until`` are the page's date-range control."""

    def on_brief(query: str, lo: str, hi: str):
        yield NO_BRIEF.replace("Name a topic and press “Write brief”", "Writing the brief"), ""
        yield run_brief(assistant, query, lo, hi)

    with gr.Tab("Brief", id="brief"):
        with gr.Row():
            query = gr.Textbox(
                placeholder="A topic, e.g. Marlow footbridge repairs",
                show_label=False,
                container=False,
                scale=8,
                elem_id="brief-query",
            )
            button = gr.Button("Write brief", variant="primary", scale=1, min_width=120, elem_id="brief")
        status = gr.Markdown(elem_id="brief-status")
        out = gr.HTML(NO_BRIEF, css_template=HTML_CSS, elem_id="brief-out")
        button.click(on_brief, [query, since, until], [out, status], api_name=False)
        query.submit(on_brief, [query, since, until], [out, status], api_name=False)


def date_controls() -> tuple[gr.Textbox, gr.Textbox]:
    """The page's date range: articles published since / until (applies to Chat, Brief and Fact-check)."""
    with gr.Row():
        since = gr.Textbox(
            label="Since (Chat, Brief, Fact-check)", value="", placeholder="2025-03-01 or 3m", scale=1, elem_id="since", max_lines=1
        )
        until = gr.Textbox(label="Until", value="", placeholder="2025-08-31 or empty", scale=1, elem_id="until", max_lines=1)
    return since, until
