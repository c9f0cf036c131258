"""What every tab of the web app shares: escaping, user-facing messages, verdict colours, styles, quotes.

Everything an article or a model wrote is shown as text: it goes through ``html.escape`` before it
reaches any HTML, Markdown or chat bubble, so ``<script>`` in an article is displayed, never run.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import gradio as gr
import pandas as pd
from gradio.context import LocalContext
from rapidfuzz import fuzz

from assistant.errors import AssistantError, EndpointError
from assistant.redact import public_error, redact_text

log = logging.getLogger("assistant.ui")

VERDICT_ICON = {"supported": "✓", "unsupported": "⚠", "contradicted": "✗", "unverified": "?", "outdated": "⌛"}
VERDICT_COLORS = {
    "supported": "#22c55e",
    "unverified": "#facc15",
    "unsupported": "#f97316",
    "contradicted": "#ef4444",
    "outdated": "#f43f5e",
}
TYPO_COLOR = "#a855f7"
# Gradio injects a live tracker into handler parameters whose default is a Progress.
PROGRESS = gr.Progress()
PROGRESS_TQDM = gr.Progress(track_tqdm=True)

# Scoped to each gr.HTML component (Gradio 6 css_template); no `${` or backticks allowed here.
HTML_CSS = """
.muted { opacity: 0.7; font-style: italic; }
mark { background: #fde68a; color: #1f2937; padding: 0 2px; border-radius: 2px; }
.src { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 10px 12px; margin: 0 0 10px 0; }
.src-head { font-weight: 600; margin-bottom: 4px; }
.src-n { display: inline-block; min-width: 2em; font-weight: 700; }
.src-id { font-family: var(--font-mono); font-size: 0.8em; opacity: 0.7; }
.src-text { white-space: pre-wrap; line-height: 1.45; font-size: 0.95em; }
.badge { display: inline-block; border-radius: 999px; padding: 1px 10px; font-size: 0.85em; font-weight: 600; }
.badge.fallback { background: #fef3c7; color: #92400e; border: 1px solid #f59e0b; margin-bottom: 8px; }
.badge.source { background: #e0e7ff; color: #3730a3; border: 1px solid #818cf8; font-size: 0.75em; }
.rejected { font-size: 0.85em; opacity: 0.75; margin-top: 2px; text-decoration: line-through; }
.selection { border-top: 1px dashed var(--border-color-primary); margin-top: 10px; padding-top: 8px; }
ol.selected li { margin: 0 0 6px 0; line-height: 1.45; opacity: 0.85; }
.model { font-size: 0.85em; opacity: 0.7; margin-bottom: 8px; }
ol.sentences { padding-left: 1.4em; }
ol.sentences li { margin: 0 0 10px 0; line-height: 1.5; }
.verdict { font-weight: 600; margin-right: 4px; }
.verdict.supported { color: #15803d; }
.verdict.unsupported, .verdict.unverified { color: #c2410c; }
.verdict.contradicted, .verdict.outdated { color: #b91c1c; }
.reason { font-size: 0.9em; color: #c2410c; margin-top: 2px; }
.footnotes { border-top: 1px solid var(--border-color-primary); margin-top: 12px; padding-top: 8px; font-size: 0.92em; }
.footnotes li { margin-bottom: 8px; }
.footnotes details { margin-top: 4px; }
.footnotes summary { cursor: pointer; opacity: 0.8; }
.inj-warning { background: #fee2e2; color: #7f1d1d; border: 1px solid #ef4444; border-radius: 8px; padding: 8px 12px; margin-bottom: 10px; }
.src.injected { border-color: #ef4444; border-width: 2px; }
.inj { color: #b91c1c; font-weight: 600; font-size: 0.9em; margin: 2px 0 4px 0; }
"""

# Page-wide styles, passed to ``launch(css=CSS)``: the highlighted text reads as running prose
# (Gradio lays each segment out as a flex item and breaks words anywhere).
CSS = """
#highlighted .textfield { display: block; word-break: normal; overflow-wrap: break-word; line-height: 1.9; }
#highlighted .token-container { display: inline; }
#highlighted .token.highlighted { margin: 0 1px; padding: 1px 3px; }
#highlighted .line-break { display: block; height: 0.4em; }
"""


def esc(text: object) -> str:
    """Text made safe to put inside HTML (element content or attribute values)."""
    return html.escape(str(text), quote=True)


def md_text(text: object) -> str:
    """Text made safe for Markdown: no HTML gets through; quotes stay as typed (never in code spans)."""
    return html.escape(str(text), quote=False).replace("\n", "  \n")


def friendly_error(exc: BaseException, doing: str = "this request") -> str:
    """What the editor reads (``redact.public_error``): the error's own help for AssistantError, never
    the model endpoint's address or a credential; anything else a generic line (details logged)."""
    if isinstance(exc, EndpointError):
        # The address is for the operator (redacted: a log can travel further than the server).
        log.error("model endpoint error during %s: %s", doing, redact_text(str(exc)))
    elif not isinstance(exc, AssistantError):
        log.error("unexpected error during %s", doing, exc_info=exc)
    return public_error(exc, doing)


def notify(message: str) -> None:
    """A toast in the browser (its content is rendered as HTML, hence the escaping); a log line outside a request."""
    if LocalContext.event_id.get(None) is None:
        log.info("user notice: %s", message)
        return
    gr.Warning(esc(message))


def error_status(exc: BaseException, doing: str) -> str:
    """Status Markdown for a failed action, after notifying the browser."""
    message = friendly_error(exc, doing)
    notify(message)
    return "⚠ " + md_text(message)


def ok_status(text: str) -> str:
    """Status Markdown for a finished action."""
    return md_text(text)


def find_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` stands in ``text``: exact, then ignoring case and spacing, then fuzzy."""
    quote = quote.strip().strip("\"“”'‘’").strip()
    if not quote or not text:
        return None
    at = text.find(quote)
    if at >= 0:
        return at, at + len(quote)
    words = [re.escape(w) for w in quote.split()]
    match = re.search(r"\s+".join(words), text, flags=re.IGNORECASE)
    if match:
        return match.span()
    found = fuzz.partial_ratio_alignment(quote.lower(), text.lower())
    if found is not None and found.score >= 90 and found.dest_end > found.dest_start:
        return found.dest_start, found.dest_end
    return None


def mark_quote_html(text: str, quote: str) -> str:
    """``text`` escaped, with the quoted span wrapped in <mark>."""
    span = find_quote(text, quote) if quote else None
    if span is None:
        return esc(text)
    start, end = span
    return f"{esc(text[:start])}<mark>{esc(text[start:end])}</mark>{esc(text[end:])}"


def injection_html(warning: str) -> str:
    """The banner over sources or a summary that rests on passages addressing the assistant ("" when none)."""
    return f'<div class="inj-warning" role="alert">⚠ {esc(warning)}</div>' if warning else ""


def injected_passage_html(found: str) -> str:
    """The warning on one marked passage: what in it addresses the assistant."""
    return (
        f'<div class="inj">⚠ This passage addresses the assistant ({esc(found)}). '
        "It was not followed and cannot support a statement on its own.</div>"
    )


def frame(rows: list[list[Any]], columns: list[str]) -> pd.DataFrame:
    """A table value for gr.Dataframe."""
    return pd.DataFrame(rows, columns=columns)
