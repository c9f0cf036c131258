"""The Summarize tab: a cited summary of a stored or pasted article, each sentence with its verdict."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from assistant.errors import BadInputError
from assistant.types import Passage, Summary
from assistant.ui.common import (
    HTML_CSS,
    PROGRESS,
    VERDICT_ICON,
    error_status,
    esc,
    injected_passage_html,
    injection_html,
    mark_quote_html,
    ok_status,
)

if TYPE_CHECKING:
    from assistant.service import Assistant


def article_choices(assistant: Assistant) -> list[tuple[str, str]]:
    """(label, id) pairs for the article dropdowns."""
    return [
        (f"{a.title or a.id} ({a.id})" if a.title != a.id else a.id, a.id)
        for a in assistant.store.list_articles()
    ]


def summary_html(summary: Summary, passages: dict[str, Passage]) -> str:
    """Each sentence with its verdict and footnote numbers; footnotes give passage id and quote."""
    notes: dict[str, int] = {}
    quotes: dict[str, list[str]] = {}
    rows = []
    for s in summary.sentences:
        marks = []
        for c in s.citations:
            n = notes.setdefault(c.passage_id, len(notes) + 1)
            if c.quote and c.quote not in quotes.setdefault(c.passage_id, []):
                quotes[c.passage_id].append(c.quote)
            marks.append(f"[{n}]")
        icon = VERDICT_ICON.get(s.verdict, "?")
        reason = (
            f'<div class="reason">{esc(s.reason)}</div>'
            if s.verdict != "supported" and s.reason
            else ""
        )
        rows.append(
            f'<li class="sent {esc(s.verdict)}"><span class="verdict {esc(s.verdict)}">{icon} {esc(s.verdict)}</span> '
            f"{esc(s.text)} <sup>{esc(''.join(marks))}</sup>{reason}</li>"
        )
    head = ""
    if summary.extractive_fallback:
        head += (
            '<div class="badge fallback">extractive fallback: the model gave no valid summary</div>'
        )
    head += f'<div class="model">model: {esc(summary.model)}</div>'
    head += injection_html(summary.injection_warning)
    if not rows:
        return head + '<p class="muted">The summary is empty.</p>'
    foot = []
    for pid, n in notes.items():
        passage = passages.get(pid)
        title = f" — {esc(passage.title)}" if passage and passage.title else ""
        quoted = "".join(f"<div>“<mark>{esc(q)}</mark>”</div>" for q in quotes.get(pid, []))
        if passage and passage.injection:
            quoted = injected_passage_html(passage.injection) + quoted
        if passage:
            first = (quotes.get(pid) or [""])[0]
            detail = f'<details><summary>passage text</summary><div class="src-text">{mark_quote_html(passage.text, first)}</div></details>'
        else:
            detail = '<div class="muted">no such passage</div>'
        foot.append(
            f'<li value="{n}"><span class="src-id">{esc(pid)}</span>{title}{quoted}{detail}</li>'
        )
    return (
        f'{head}<ol class="sentences">{"".join(rows)}</ol>'
        f'<div class="footnotes"><strong>Footnotes</strong><ol>{"".join(foot)}</ol></div>'
    )


def run_summarize(
    assistant: Assistant, article_id: str | None, text: str | None, sentences: int
) -> tuple[str, str]:
    """(summary HTML, status): pasted text wins over the chosen article."""
    pasted = (text or "").strip()
    try:
        if pasted:
            summary = assistant.summarize(text=pasted, sentences=int(sentences))
            _, passages = assistant.resolve_article(text=pasted)
        elif article_id:
            summary = assistant.summarize(article_id=article_id, sentences=int(sentences))
            passages = assistant.store.get_passages(article_id)
        else:
            raise BadInputError("choose a stored article or paste some text first")
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return "", error_status(exc, "the summary")
    by_id = {p.id: p for p in passages}
    flagged = sum(1 for s in summary.sentences if s.verdict != "supported")
    status = f"{len(summary.sentences)} sentence(s), {flagged} not supported by their citations."
    return summary_html(summary, by_id), ok_status(status)


def build_tab(assistant: Assistant) -> gr.Dropdown:
    """The Summarize tab; returns its article dropdown (the Library tab refreshes its choices)."""

    def on_summarize(article_id: str | None, text: str, n: float, progress=PROGRESS):
        progress(0, desc="Summarizing")
        return run_summarize(assistant, article_id, text, int(n))

    with gr.Tab("Summarize", id="summarize"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                article = gr.Dropdown(
                    label="Stored article", choices=[], value=None, elem_id="sum-article"
                )
                text = gr.Textbox(
                    label="…or paste article text (used instead of the stored article)",
                    lines=8,
                    max_lines=20,
                    elem_id="sum-text",
                )
                n = gr.Slider(1, 10, value=5, step=1, label="Sentences")
                button = gr.Button("Summarize", variant="primary", elem_id="summarize")
                status = gr.Markdown(elem_id="sum-status")
            with gr.Column(scale=3):
                gr.Markdown("### Summary")
                out = gr.HTML(
                    '<p class="muted">The cited summary appears here.</p>',
                    css_template=HTML_CSS,
                    elem_id="summary",
                )
        button.click(on_summarize, [article, text, n], [out, status], api_name="summarize")
    return article
