"""The Summarize tab: the selected sentences at once, then the checked summary sentences as they are written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import gradio as gr

from assistant.errors import BadInputError
from assistant.summarize import source_label
from assistant.types import FusedSentence, Passage, Selection, SentenceResult, Summary
from assistant.ui.common import (
    HTML_CSS,
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


# Most articles a picker or the Library's table shows at once: an archive has tens of thousands,
# so pickers search (title or id) on the server and page through the matches, newest first.
PICKER_LIMIT = 200


def matching_articles(assistant: Assistant, query: str | None = "") -> list:
    """Every stored article whose title or id contains every word of ``query``, newest first."""
    words = (query or "").lower().split()
    found = [
        a for a in assistant.store.list_articles() if all(w in f"{a.title} {a.id}".lower() for w in words)
    ]
    found.sort(key=lambda a: (-a.ingested_at, a.id))
    return found


def find_articles(assistant: Assistant, query: str | None = "", limit: int = PICKER_LIMIT, page: int = 1) -> list:
    """Page ``page`` (from 1) of the articles matching ``query``, newest first, ``limit`` a page."""
    return page_of(matching_articles(assistant, query), page, limit)[0]


def page_of(items: list, page: int, size: int = PICKER_LIMIT) -> tuple[list, int, str]:
    """(items of ``page``, the page number clamped to 1..last, its label "201–400 of 1,234")."""
    last = max(1, -(-len(items) // size))
    page = min(max(1, int(page or 1)), last)
    shown = items[(page - 1) * size : page * size]
    if not shown:
        return shown, page, "no match"
    first = (page - 1) * size + 1
    return shown, page, f"{first:,}–{first + len(shown) - 1:,} of {len(items):,}"


def choice_of(a) -> tuple[str, str]:
    """(label, id) of an article in a dropdown."""
    return (f"{a.title or a.id} ({a.id})" if a.title != a.id else a.id, a.id)


def article_choices(
    assistant: Assistant, query: str | None = "", limit: int = PICKER_LIMIT, page: int = 1
) -> list[tuple[str, str]]:
    """(label, id) pairs for the article dropdowns: page ``page`` of the articles matching ``query``."""
    return [choice_of(a) for a in find_articles(assistant, query, limit, page)]


def picker_page(
    assistant: Assistant, query: str | None = "", page: int = 1, size: int = PICKER_LIMIT, label: str = "Stored article"
) -> tuple[gr.Dropdown, int]:
    """(the dropdown showing page ``page`` of the matches, its label saying which, the clamped page)."""
    shown, page, where = page_of(matching_articles(assistant, query), page, size)
    text = f"{label} ({where}, newest first)"
    return gr.Dropdown(choices=[choice_of(a) for a in shown], value=None, label=text), page


def _sentence_item(s: SentenceResult, marks: list[str]) -> str:
    icon = VERDICT_ICON.get(s.verdict, "?")
    label = '<span class="badge source">article\'s sentence</span> ' if s.origin == "source" else ""
    shown_reason = s.reason if (s.verdict != "supported" or s.origin == "source") else ""
    reason = f'<div class="reason">{esc(shown_reason)}</div>' if shown_reason else ""
    rejected = (
        f'<div class="rejected">model wrote: “{esc(s.rejected)}”</div>' if s.rejected else ""
    )
    return (
        f'<li class="sent {esc(s.verdict)}"><span class="verdict {esc(s.verdict)}">{icon} {esc(s.verdict)}</span> '
        f"{label}{esc(s.text)} <sup>{esc(''.join(marks))}</sup>{reason}{rejected}</li>"
    )


def summary_html(summary: Summary, passages: dict[str, Passage]) -> str:
    """Each sentence with its verdict and footnote numbers; footnotes give passage id and quote.

    An extract-then-fuse summary cites the selected sentences by number, and its footnotes are
    those sentences; a sentence that is the article's own (a replaced model sentence) is labelled.
    """
    head = ""
    if summary.extractive_fallback:
        head += (
            '<div class="badge fallback">extractive fallback: the model gave no valid summary</div>'
        )
    head += f'<div class="model">model: {esc(summary.model)} ({esc(summary.strategy)})</div>'
    head += injection_html(summary.injection_warning)
    if not summary.sentences:
        return head + '<p class="muted">The summary is empty.</p>'
    if summary.sources:
        return head + _numbered_html(summary, passages)
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
        rows.append(_sentence_item(s, marks))
    foot = []
    title = _source_date(summary)
    for pid, n in notes.items():
        passage = passages.get(pid)
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


def _source_date(summary: Summary) -> str:
    """The title and date every footnote of a summary shows (the summarised article's)."""
    return f' <span class="src-date">{esc(source_label(summary))}</span>'


def _numbered_html(summary: Summary, passages: dict[str, Passage]) -> str:
    rows = [_sentence_item(s, [f"[{n}]" for n in s.sources]) for s in summary.sentences]
    cited = {n for s in summary.sentences for n in s.sources}
    foot = []
    title = _source_date(summary)
    for src in summary.sources:
        if src.number not in cited:
            continue
        passage = passages.get(src.passage_id)
        detail = (
            f'<details><summary>passage text</summary><div class="src-text">{mark_quote_html(passage.text, src.text)}</div></details>'
            if passage
            else '<div class="muted">no such passage</div>'
        )
        warn = injected_passage_html(passage.injection) if passage and passage.injection else ""
        foot.append(
            f'<li value="{src.number}"><span class="src-id">{esc(src.passage_id)}</span>{title}'
            f"{warn}<div>“<mark>{esc(src.text)}</mark>”</div>{detail}</li>"
        )
    return (
        f'<ol class="sentences">{"".join(rows)}</ol>'
        f'<div class="footnotes"><strong>Cited sentences</strong><ol>{"".join(foot)}</ol></div>'
    )


def selection_html(selection: Selection, written: list[SentenceResult]) -> str:
    """A summary in progress: the sentences checked so far, then the selected sentences being fused."""
    done = "".join(_sentence_item(s, [f"[{n}]" for n in s.sources]) for s in written)
    picked = "".join(
        f'<li value="{s.number}">{esc(s.text)}</li>' for s in selection.sources
    )
    waiting = (
        '<p class="muted" id="fusing">The model is shortening and fusing the selected sentences…</p>'
    )
    return (
        (f'<ol class="sentences">{done}</ol>' if done else "")
        + waiting
        + f'<div class="selection"><strong>Selected sentences</strong> (picked by code, shown at once)'
        f'<ol class="selected">{picked}</ol></div>'
    )


def summarize_stream(
    assistant: Assistant, article_id: str | None, text: str | None, sentences: int
) -> Iterator[tuple[str, str]]:
    """(summary HTML, status) as the summary is made: the selection at once, each checked sentence, the result.

    Pasted text wins over the chosen article.
    """
    pasted = (text or "").strip()
    written: list[SentenceResult] = []
    selection: Selection | None = None
    try:
        if pasted:
            events = assistant.summarize_stream(text=pasted, sentences=int(sentences))
        elif article_id:
            events = assistant.summarize_stream(article_id=article_id, sentences=int(sentences))
        else:
            raise BadInputError("choose a stored article or paste some text first")
        for event in events:
            if isinstance(event, Selection):
                selection = event
                if event.strategy == "extract_fuse":
                    yield selection_html(event, written), ok_status("Selected sentences shown; writing the summary…")
            elif isinstance(event, FusedSentence) and selection is not None:
                written.append(event.sentence)
                yield selection_html(selection, written), ok_status(f"{len(written)} of {sentences} sentence(s) written…")
            elif isinstance(event, Summary):
                summary = event
        if pasted:
            _, passages = assistant.resolve_article(text=pasted)
        else:
            passages = assistant.store.get_passages(article_id)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        yield "", error_status(exc, "the summary")
        return
    by_id = {p.id: p for p in passages}
    flagged = sum(1 for s in summary.sentences if s.verdict != "supported")
    replaced = sum(1 for s in summary.sentences if s.rejected)
    status = f"{len(summary.sentences)} sentence(s), {flagged} not supported by their citations"
    status += f", {replaced} model sentence(s) replaced by the article's own." if replaced else "."
    yield summary_html(summary, by_id), ok_status(status)


def run_summarize(
    assistant: Assistant, article_id: str | None, text: str | None, sentences: int
) -> tuple[str, str]:
    """(summary HTML, status) of the finished summary: pasted text wins over the chosen article."""
    last = ("", "")
    for last in summarize_stream(assistant, article_id, text, sentences):
        pass
    return last


def build_tab(assistant: Assistant) -> tuple[gr.Dropdown, gr.State]:
    """The Summarize tab; returns its article dropdown and page (the Library tab refreshes its choices)."""

    def on_summarize(article_id: str | None, text: str, n: float):
        yield from summarize_stream(assistant, article_id, text, int(n))

    with gr.Tab("Summarize", id="summarize"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                find = gr.Textbox(
                    label=f"Find a stored article (words of its title or id; {PICKER_LIMIT} matches a page, newest first)",
                    elem_id="sum-find",
                )
                article = gr.Dropdown(
                    label="Stored article",
                    choices=[],
                    value=None,
                    # The page fills the choices; an API client names any stored id (the store
                    # answers "no article with id …" for one it does not hold).
                    allow_custom_value=True,
                    elem_id="sum-article",
                )
                page = gr.State(1)
                with gr.Row():
                    newer = gr.Button("◀ Newer", size="sm", elem_id="sum-newer")
                    older = gr.Button("Older ▶", size="sm", elem_id="sum-older")
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
        find.submit(lambda q: picker_page(assistant, q, 1), [find], [article, page], api_name=False, concurrency_limit=None)
        newer.click(lambda q, p: picker_page(assistant, q, p - 1), [find, page], [article, page], api_name=False, concurrency_limit=None)
        older.click(lambda q, p: picker_page(assistant, q, p + 1), [find, page], [article, page], api_name=False, concurrency_limit=None)
    return article, page
