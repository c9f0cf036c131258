"""The editors' web app: chat, cited summaries, fact-checks, the article library and the eval suite.

Everything an article or a model wrote is shown as text: it goes through ``html.escape`` before it
reaches any HTML, Markdown or chat bubble, so ``<script>`` in an article is displayed, never run.
The handlers are plain module-level functions (testable without a browser); ``create_app`` wires
them to Gradio components.
"""

from __future__ import annotations

import html
import inspect
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.errors import AssistantError, BadInputError
from assistant.types import Answer, CheckReport, ClaimResult, Passage, Summary, TypoFlag

if TYPE_CHECKING:
    from assistant.service import Assistant
    from assistant.settings import Settings

log = logging.getLogger(__name__)

USERS_ENV = "ASSISTANT_APP_USERS"
DEV_SUITE = Path(__file__).resolve().parent.parent / "eval" / "suites" / "dev.yaml"
CHECK_UPLOAD_TYPES = (".txt", ".md", ".html", ".htm")
FLAG_COLUMNS = ["kind", "text", "suggestion", "verdict", "evidence quote", "reason"]
ARTICLE_COLUMNS = ["id", "title", "passages"]
METRIC_COLUMNS = ["metric", "value"]
VERDICT_ICON = {"supported": "✓", "unsupported": "⚠", "contradicted": "✗", "unverified": "?"}
VERDICT_COLORS = {
    "supported": "#22c55e",
    "unverified": "#facc15",
    "unsupported": "#f97316",
    "contradicted": "#ef4444",
}
TYPO_COLOR = "#a855f7"
NOT_ANSWERED = "The stored articles do not answer this question."
NO_SOURCES = '<p class="muted">Sources cited by the answer appear here.</p>'
_MARKER = re.compile(r"\[(\d+)\]")
# Gradio injects a live tracker into handler parameters whose default is a Progress.
_PROGRESS = gr.Progress()
_PROGRESS_TQDM = gr.Progress(track_tqdm=True)

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
.model { font-size: 0.85em; opacity: 0.7; margin-bottom: 8px; }
ol.sentences { padding-left: 1.4em; }
ol.sentences li { margin: 0 0 10px 0; line-height: 1.5; }
.verdict { font-weight: 600; margin-right: 4px; }
.verdict.supported { color: #15803d; }
.verdict.unsupported, .verdict.unverified { color: #c2410c; }
.verdict.contradicted { color: #b91c1c; }
.reason { font-size: 0.9em; color: #c2410c; margin-top: 2px; }
.footnotes { border-top: 1px solid var(--border-color-primary); margin-top: 12px; padding-top: 8px; font-size: 0.92em; }
.footnotes li { margin-bottom: 8px; }
.footnotes details { margin-top: 4px; }
.footnotes summary { cursor: pointer; opacity: 0.8; }
"""

# Page-wide styles, passed to ``launch(css=CSS)``: the highlighted text reads as running prose
# (Gradio lays each segment out as a flex item and breaks words anywhere).
CSS = """
#highlighted .textfield { display: block; word-break: normal; overflow-wrap: break-word; line-height: 1.9; }
#highlighted .token-container { display: inline; }
#highlighted .token.highlighted { margin: 0 1px; padding: 1px 3px; }
#highlighted .line-break { display: block; height: 0.4em; }
"""


# ---------------------------------------------------------------- errors and messages


def esc(text: object) -> str:
    """Text made safe to put inside HTML (element content or attribute values)."""
    return html.escape(str(text), quote=True)


def md_text(text: object) -> str:
    """Text made safe for Markdown: no HTML gets through; quotes stay as typed (never in code spans)."""
    return html.escape(str(text), quote=False).replace("\n", "  \n")


def friendly_error(exc: BaseException, doing: str = "this request") -> str:
    """What the editor reads: the error's own help for AssistantError, else a generic line (traceback logged)."""
    if isinstance(exc, AssistantError):
        return exc.user_message()
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith("assistant."):
        log.warning("feature not installed: %s", exc.name)
        return f"This feature is not installed yet (module {exc.name} is missing)."
    log.error("unexpected error during %s", doing, exc_info=exc)
    return f"Something went wrong during {doing}. The details are in the server log."


def notify(message: str) -> None:
    """A toast in the browser (its content is rendered as HTML, hence the escaping); a log line outside a request."""
    from gradio.context import LocalContext

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
    return md_text(text)


# ---------------------------------------------------------------- login and upload limits


def parse_users(lines: Iterable[str]) -> list[tuple[str, str]]:
    """``user:password`` entries (blank lines, ``#`` comments and surrounding spaces ignored); passwords may contain ':'."""
    users: list[tuple[str, str]] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        user, password = user.strip(), password.strip()
        if not sep or not user or not password:
            raise BadInputError(
                f"login entry {number} is not of the form user:password",
                "Write one user:password per line in the auth file, or ASSISTANT_APP_USERS=u1:p1,u2:p2.",
            )
        users.append((user, password))
    return users


def load_auth(
    settings: Settings, environ: dict[str, str] | None = None
) -> list[tuple[str, str]] | None:
    """Logins from ``settings.app.auth_file`` and ``ASSISTANT_APP_USERS``; None means no login."""
    environ = os.environ if environ is None else environ
    users: list[tuple[str, str]] = []
    path = settings.app.auth_file
    if path is not None:
        try:
            users += parse_users(Path(path).read_text(encoding="utf-8").splitlines())
        except OSError as exc:
            raise BadInputError(
                f"cannot read the auth file {path}: {exc.strerror or exc}",
                "Fix ASSISTANT_APP__AUTH_FILE or remove it to run without login.",
            ) from exc
    if environ.get(USERS_ENV, "").strip():
        users += parse_users(environ[USERS_ENV].split(","))
    return users or None


def max_upload_bytes(settings: Settings) -> int:
    return int(settings.app.max_upload_mb * 1024 * 1024)


def check_upload_size(path: Path, max_mb: float) -> None:
    """Refuse files over the upload limit with a message naming the setting."""
    size = Path(path).stat().st_size
    if size > max_mb * 1024 * 1024:
        raise BadInputError(
            f"{Path(path).name} is {size / 1024 / 1024:.1f} MB, over the upload limit of {max_mb:g} MB",
            "Split the file, or raise ASSISTANT_APP__MAX_UPLOAD_MB.",
        )


# ---------------------------------------------------------------- quotes and sources


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
    from rapidfuzz import fuzz

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


def sources_html(
    answer: Answer, passages: dict[str, Passage], titles: dict[str, str] | None = None
) -> str:
    """The Sources panel: each cited passage with its number, article title and the quoted span marked."""
    titles = titles or {}
    if not answer.answered:
        return f'<p class="muted">{esc(NOT_ANSWERED)}</p>'
    if not answer.citations:
        return '<p class="muted">The answer cites no passages.</p>'
    items = []
    for c in answer.citations:
        passage = passages.get(c.passage_id)
        title = (passage.title if passage else "") or titles.get(c.article_id) or c.article_id
        body = (
            mark_quote_html(passage.text, c.quote)
            if passage
            else f'<span class="muted">passage {esc(c.passage_id)} is no longer stored</span>'
        )
        items.append(
            f'<div class="src" data-n="{c.n}">'
            f'<div class="src-head"><span class="src-n">[{c.n}]</span>{esc(title)}</div>'
            f'<div class="src-id">{esc(c.passage_id)}</div>'
            f'<div class="src-text">{body}</div></div>'
        )
    return "".join(items)


def _norm(sentence: str) -> str:
    return " ".join(re.findall(r"\w+", _MARKER.sub(" ", sentence).lower()))


def _split_sentences(text: str) -> list[tuple[int, int]]:
    try:
        from assistant.verify import split_sentences

        return split_sentences(text)
    except ImportError:
        return [
            m.span()
            for m in re.finditer(r"[^.!?]+(?:[.!?]+(?:\s*\[\d+\])*|$)", text)
            if m.group().strip()
        ]


def answer_text(answer: Answer) -> str:
    """The answer as plain text with its [n] citations; unverified sentences get ⚠ and the reason."""
    if not answer.answered:
        return NOT_ANSWERED
    text = answer.answer.strip()
    if not answer.verdicts:
        return f"⚠ {text} (unverified: no sentence of the answer cites a passage)"
    flagged = [v for v in answer.verdicts if v.verdict != "supported"]
    if not flagged:
        return text
    pending = {id(v): v for v in flagged}
    out: list[str] = []
    last = 0
    for start, end in _split_sentences(text):
        key = _norm(text[start:end])
        match = next((v for v in pending.values() if key and _norm(v.text) == key), None)
        if match is None:
            continue
        del pending[id(match)]
        out.append(text[last:start])
        out.append(f"⚠ {text[start:end].strip()} ({_verdict_note(match.verdict, match.reason)})")
        last = end
    out.append(text[last:])
    lines = ["".join(out).strip()]
    # A flagged sentence that could not be placed in the text is still shown, never dropped.
    lines += [f"⚠ “{v.text}” ({_verdict_note(v.verdict, v.reason)})" for v in pending.values()]
    return "\n".join(lines)


def _verdict_note(verdict: str, reason: str) -> str:
    return f"{verdict}: {reason}" if reason else verdict


def chat_html(text: str) -> str:
    """Chat bubble content: the Chatbot renders HTML (render_markdown=False), so escape and keep line breaks."""
    return esc(text).replace("\n", "<br>")


# ---------------------------------------------------------------- chat


def chat_stream(
    assistant: Assistant, question: str, history: list[dict] | None
) -> Iterator[tuple[list[dict], str]]:
    """Stream an answer into the chat history; yields (messages, sources HTML), the last one verified."""
    messages = list(history or [])
    question = (question or "").strip()
    if not question:
        yield messages, NO_SOURCES
        return
    messages.append({"role": "user", "content": chat_html(question)})
    messages.append({"role": "assistant", "content": "…"})
    yield messages, '<p class="muted">Searching the stored articles…</p>'
    text = ""
    try:
        for item in assistant.ask_stream(question):
            if isinstance(item, Answer):
                messages[-1] = {"role": "assistant", "content": chat_html(answer_text(item))}
                yield messages, answer_sources(assistant, item)
                return
            text += str(item)
            messages[-1] = {"role": "assistant", "content": chat_html(text)}
            yield messages, '<p class="muted">Writing the answer…</p>'
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        message = friendly_error(exc, "the answer")
        notify(message)
        messages[-1] = {"role": "assistant", "content": chat_html(f"⚠ {message}")}
        yield messages, NO_SOURCES
        return
    # The stream ended without a verified Answer: show what came, marked as unverified.
    messages[-1] = {
        "role": "assistant",
        "content": chat_html(f"⚠ {text} (unverified: the answer was not checked)"),
    }
    yield messages, NO_SOURCES


def answer_sources(assistant: Assistant, answer: Answer) -> str:
    """Sources HTML for an answer, looking the cited passages up in the store."""
    try:
        passages = assistant.store.get_passages_by_id(
            sorted({c.passage_id for c in answer.citations})
        )
    except AssistantError as exc:
        log.warning("could not load cited passages: %s", exc)
        passages = {}
    return sources_html(answer, passages)


# ---------------------------------------------------------------- summarize


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
    if not rows:
        return head + '<p class="muted">The summary is empty.</p>'
    foot = []
    for pid, n in notes.items():
        passage = passages.get(pid)
        title = f" — {esc(passage.title)}" if passage and passage.title else ""
        quoted = "".join(f"<div>“<mark>{esc(q)}</mark>”</div>" for q in quotes.get(pid, []))
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


# ---------------------------------------------------------------- fact-check


def _locate(text: str, span_text: str, start: int, end: int) -> tuple[int, int] | None:
    """A flag's span in ``text``: its offsets when they hold its text, else the nearest occurrence of its text."""
    start, end = max(0, start), min(len(text), end)
    if not span_text or text[start:end] == span_text:
        return (start, end) if end > start else None
    hits = [m.start() for m in re.finditer(re.escape(span_text), text)]
    if not hits:
        return None  # the flag is still listed in the table; it just cannot be placed in this text
    best = min(hits, key=lambda h: abs(h - start))
    return best, best + len(span_text)


def typo_label(flag: TypoFlag) -> str:
    return f"typo → {flag.suggestion}"


def highlight_segments(
    text: str, typos: Sequence[TypoFlag], claims: Sequence[ClaimResult]
) -> list[tuple[str, str | None]]:
    """Non-overlapping (text, label) segments covering ``text``; a typo wins over the claim it sits in."""
    owner: list[int] = [-1] * len(text)
    labels: list[str] = []
    is_typo: list[bool] = []
    for claim in claims:
        span = _locate(text, claim.text, claim.start, claim.end)
        if span is None:
            continue
        labels.append(claim.verdict)
        is_typo.append(False)
        for i in range(*span):
            if owner[i] < 0:
                owner[i] = len(labels) - 1
    for flag in typos:
        span = _locate(text, flag.text, flag.start, flag.end)
        if span is None or any(owner[i] >= 0 and is_typo[owner[i]] for i in range(*span)):
            continue
        labels.append(typo_label(flag))
        is_typo.append(True)
        for i in range(*span):
            owner[i] = len(labels) - 1
    segments: list[tuple[str, str | None]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or owner[i] != owner[start]:
            segments.append((text[start:i], labels[owner[start]] if owner[start] >= 0 else None))
            start = i
    return segments


def highlight_colors(segments: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    colors = dict(VERDICT_COLORS)
    colors.update(
        {label: TYPO_COLOR for _, label in segments if label and label.startswith("typo")}
    )
    return colors


_SEVERITY = {"contradicted": 1, "unsupported": 2, "unverified": 2, "supported": 3}


def flag_rows(report: CheckReport) -> list[list[str]]:
    """One row per typo and claim (kind, text, suggestion, verdict, evidence quote, reason); problems first, then text order."""
    rows: list[tuple[int, int, list[str]]] = []
    for t in report.typos:
        rows.append((0, t.start, [f"typo ({t.kind})", t.text, t.suggestion, "", "", t.reason]))
    for c in report.claims:
        evidence = "; ".join(f"“{e.quote}” ({e.passage_id})" for e in c.evidence[:2])
        reason = c.reason + (f" | LLM judge: {c.judge}" if c.judge else "")
        verdict = f"{VERDICT_ICON.get(c.verdict, '')} {c.verdict}"
        rows.append(
            (_SEVERITY.get(c.verdict, 2), c.start, ["claim", c.text, "", verdict, evidence, reason])
        )
    return [r for *_, r in sorted(rows, key=lambda r: (r[0], r[1]))]


def read_text_upload(path: str | Path, max_mb: float) -> str:
    """Text of an uploaded .txt/.md/.html file (HTML reduced to its visible text)."""
    path = Path(path)
    if path.suffix.lower() not in CHECK_UPLOAD_TYPES:
        raise BadInputError(
            f"{path.name}: unsupported file type; use {', '.join(CHECK_UPLOAD_TYPES)}"
        )
    check_upload_size(path, max_mb)
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise BadInputError(f"{path.name} looks binary; give a text, Markdown or HTML file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(
            f"{path.name} is not valid UTF-8 (byte {exc.start}); re-save it as UTF-8"
        ) from exc
    if path.suffix.lower() in (".html", ".htm"):
        from assistant.ingest import html_to_text

        text, _ = html_to_text(text)
    return text


def run_check(
    assistant: Assistant, text: str | None, file: str | None = None, max_mb: float | None = None
) -> tuple[str, list[tuple[str, str | None]], list[list[str]], str]:
    """(text checked, highlight segments, flag rows, status); an uploaded file is used when no text is pasted."""
    max_mb = assistant.settings.app.max_upload_mb if max_mb is None else max_mb
    text = text or ""
    try:
        if not text.strip() and file:
            text = read_text_upload(file, max_mb)
        if not text.strip():
            raise BadInputError("paste some text or upload a .txt, .md or .html file to check")
        report = assistant.check(text=text)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return text, [], [], error_status(exc, "the fact-check")
    segments = highlight_segments(text, report.typos, report.claims)
    counts = {
        v: sum(1 for c in report.claims if c.verdict == v)
        for v in ("supported", "contradicted", "unverified")
    }
    status = (
        f"{len(report.typos)} spelling flag(s); {len(report.claims)} claim(s): {counts['supported']} supported, "
        f"{counts['contradicted']} contradicted, {counts['unverified']} unverified."
    )
    return text, segments, flag_rows(report), ok_status(status)


def accept_and_recheck(
    assistant: Assistant, name: str, text: str | None, file: str | None = None
) -> tuple[str, list[tuple[str, str | None]], list[list[str]], str]:
    """Add ``name`` to the style book, then check the text again."""
    name = (name or "").strip()
    try:
        if not name:
            raise BadInputError("type the spelling to accept first")
        assistant.accept_spelling(name)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return text or "", [], [], error_status(exc, "accepting the spelling")
    checked, segments, rows, status = run_check(assistant, text, file)
    return checked, segments, rows, ok_status(f"Accepted “{name}”.") + "  \n" + status


# ---------------------------------------------------------------- library


def articles_rows(assistant: Assistant) -> list[list[Any]]:
    return [[a.id, a.title, a.passages] for a in assistant.store.list_articles()]


def ingest_uploads(
    assistant: Assistant,
    files: Sequence[str | Path] | None,
    max_mb: float | None = None,
    progress: Callable[..., Any] | None = None,
) -> str:
    """Ingest uploaded files; Markdown report with the summary and each failed file with its reason."""
    max_mb = assistant.settings.app.max_upload_mb if max_mb is None else max_mb
    paths = [Path(f) for f in (files or [])]
    if not paths:
        return ok_status("Choose one or more files first (.txt .md .html .json .jsonl .pdf).")
    refused: list[tuple[str, str]] = []
    accepted: list[Path] = []
    for path in paths:
        try:
            check_upload_size(path, max_mb)
            accepted.append(path)
        except AssistantError as exc:
            refused.append((path.name, exc.user_message()))
        except OSError as exc:
            refused.append((path.name, f"cannot read the file: {exc.strerror or exc}"))
    done = [0]

    def on_file(result) -> None:
        done[0] += 1
        if progress is not None:
            progress((done[0], len(accepted)), desc=f"Ingested {Path(result.path).name}")

    try:
        if progress is not None:
            progress((0, len(accepted)), desc="Reading and embedding")
        report = assistant.ingest(accepted, on_file=on_file) if accepted else None
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return error_status(exc, "the ingest")
    failed = refused + [
        (Path(f.path).name, f.error or "") for f in (report.failed if report else [])
    ]
    lines = [md_text(report.summary()) if report else "No file ingested."]
    if refused:
        lines[0] += f" ({len(refused)} refused before reading)"
    if failed:
        notify(f"{len(failed)} file(s) could not be ingested; see the report.")
        lines.append("\n**Failed files**")
        lines += [f"- **{md_text(name)}**: {md_text(reason)}" for name, reason in failed]
    return "\n".join(lines)


def delete_article(assistant: Assistant, article_id: str | None) -> str:
    """Remove one article and its passages; status Markdown."""
    try:
        if not article_id:
            raise BadInputError("choose an article to delete")
        n = assistant.store.remove(article_id)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return error_status(exc, "the delete")
    return ok_status(f"Deleted {article_id} ({n} passages).")


# ---------------------------------------------------------------- evaluate


def _as_mapping(obj: Any) -> dict[str, Any]:
    """A shallow dict view of a dict, pydantic model, dataclass or plain object."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in fields(obj)}
    return (
        {k: v for k, v in vars(obj).items() if not k.startswith("_")}
        if hasattr(obj, "__dict__")
        else {}
    )


def metric_rows(result: Any) -> list[list[str]]:
    """Metrics, latency and gates of an evaluation result as (name, value) rows (nested names dotted)."""
    data = _as_mapping(result)
    if isinstance(data.get("results"), dict):  # RunResult: the report sits in .results
        data = data["results"]
    rows: list[list[str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, float):
            rows.append([prefix, f"{value:.4g}"])
        elif isinstance(value, (int, str, bool)) and len(str(value)) <= 200:
            rows.append([prefix, str(value)])

    walk("", data.get("metrics", data if "gates" not in data else {}))
    if isinstance(data.get("latency"), dict):
        walk("latency", data["latency"])
    for gate in data.get("gates") or []:
        if isinstance(gate, dict) and gate.get("gate"):
            verdict = "passed" if gate.get("passed") else f"FAILED: {gate.get('message', '')}"
            rows.append([f"gate {gate['gate']}", verdict])
    return rows


def plot_image(result: Any) -> str | None:
    """A path to the result's plot, if it has one (a file, a matplotlib figure, or out_dir/report.png)."""
    data = _as_mapping(result)
    for key in ("plot", "plot_path", "figure", "chart", "image"):
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, (str, Path)) and Path(value).is_file():
            return str(value)
        if hasattr(value, "savefig"):
            out = Path(tempfile.mkdtemp(prefix="assistant-eval-")) / "plot.png"
            value.savefig(out, dpi=110, bbox_inches="tight")
            return str(out)
    out_dir = data.get("out_dir")
    if out_dir and (Path(out_dir) / "report.png").is_file():
        return str(Path(out_dir) / "report.png")
    return None


def run_evaluation(
    assistant: Assistant, suite: Path | None = None, out_dir: Path | None = None
) -> tuple[str, list[list[str]], str | None]:
    """(status, metric rows, plot path) of the dev suite, LLM calls replayed from the suite's cache."""
    try:
        from assistant.evaluate import run_suite
    except ImportError:
        return (
            ok_status("The evaluation harness is not installed yet (assistant.evaluate)."),
            [],
            None,
        )
    suite = suite or DEV_SUITE
    out_dir = out_dir or assistant.settings.data_dir / "eval-out" / time.strftime("%Y%m%d-%H%M%S")
    try:
        params = inspect.signature(run_suite).parameters
        offered = {
            "out_dir": out_dir,
            "cache": "replay",  # the app never records: a missing call is reported, not made
            "settings": assistant.settings,
            "embedder": assistant.embedder,
            "progress": True,
        }
        result = run_suite(suite, **{k: v for k, v in offered.items() if k in params})
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return error_status(exc, "the evaluation"), [], None
    rows = metric_rows(result)
    failed = [r for r in rows if r[0].startswith("gate ") and r[1].startswith("FAILED")]
    status = f"Evaluation of {Path(suite).name} finished: {len(rows)} row(s)"
    status += f", {len(failed)} gate(s) failed." if failed else "."
    return ok_status(status + f" Reports in {out_dir}."), rows, plot_image(result)


# ---------------------------------------------------------------- the app


def _frame(rows: list[list[Any]], columns: list[str]):
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def create_app(assistant: Assistant | None = None) -> gr.Blocks:
    """The Gradio Blocks app over ``assistant`` (a default Assistant from Settings when None)."""
    if assistant is None:
        from assistant.service import Assistant

        assistant = Assistant()
    settings = assistant.settings
    max_mb = settings.app.max_upload_mb
    try:
        # Open the store and embedder now, not on the first (possibly concurrent) request.
        _ = assistant.retriever
    except AssistantError as exc:
        log.warning("the article store is not available yet: %s", exc.user_message())

    def choices_update():
        choices = article_choices(assistant)
        return gr.Dropdown(choices=choices, value=None), gr.Dropdown(choices=choices, value=None)

    def library_outputs(report: str):
        sum_dd, del_dd = choices_update()
        return report, _frame(articles_rows(assistant), ARTICLE_COLUMNS), sum_dd, del_dd

    def on_ask(question: str, history: list[dict]):
        for messages, sources in chat_stream(assistant, question, history):
            yield messages, sources, messages, ""

    def on_summarize(article_id: str | None, text: str, n: float, progress=_PROGRESS):
        progress(0, desc="Summarizing")
        return run_summarize(assistant, article_id, text, int(n))

    def check_outputs(result):
        text, segments, rows, status = result
        return (
            text,
            gr.HighlightedText(value=segments, color_map=highlight_colors(segments)),
            _frame(rows, FLAG_COLUMNS),
            status,
        )

    def on_check(text: str, file: str | None, progress=_PROGRESS):
        progress(0, desc="Checking claims and spellings")
        return check_outputs(run_check(assistant, text, file, max_mb))

    def on_accept(name: str, text: str, file: str | None, progress=_PROGRESS):
        progress(0, desc="Checking again")
        return check_outputs(accept_and_recheck(assistant, name, text, file))

    def on_check_file(file: str | None):
        if not file:
            return gr.skip(), ""
        try:
            return read_text_upload(file, max_mb), ok_status(
                f"Loaded {Path(file).name}; press Check."
            )
        except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
            return gr.skip(), error_status(exc, "reading the file")

    def on_ingest(files: list[str] | None, progress=_PROGRESS):
        return library_outputs(ingest_uploads(assistant, files, max_mb, progress))

    def on_delete(article_id: str | None):
        return library_outputs(delete_article(assistant, article_id))

    def on_refresh():
        try:
            return library_outputs("")
        except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
            status = error_status(exc, "listing the articles")
            return status, _frame([], ARTICLE_COLUMNS), gr.skip(), gr.skip()

    def on_evaluate(progress=_PROGRESS_TQDM):
        progress(0, desc="Running the dev suite")
        status, rows, image = run_evaluation(assistant)
        return status, _frame(rows, METRIC_COLUMNS), image

    with gr.Blocks(title="Newsroom assistant", analytics_enabled=False) as demo:
        gr.Markdown(
            "# Newsroom assistant\n"
            "Answers, summaries and fact-checks from your stored articles. Every sentence cites the passage "
            "it rests on; sentences the passages do not support are marked ⚠."
        )
        with gr.Tabs():
            with gr.Tab("Chat", id="chat"):
                history = gr.State([])
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        chatbot = gr.Chatbot(
                            label="Chat",
                            height=460,
                            render_markdown=False,
                            sanitize_html=True,
                            allow_tags=False,
                            feedback_options=None,
                            buttons=["copy"],
                            placeholder="Ask a question about the stored articles. Answers cite passages as [n].",
                            elem_id="chatbot",
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                placeholder="Ask about the stored articles, e.g. What did the mayor promise?",
                                show_label=False,
                                container=False,
                                scale=8,
                                elem_id="question",
                            )
                            ask_btn = gr.Button(
                                "Ask", variant="primary", scale=1, min_width=80, elem_id="ask"
                            )
                            clear_btn = gr.Button("Clear", scale=1, min_width=80)
                    with gr.Column(scale=2):
                        gr.Markdown("### Sources")
                        sources = gr.HTML(NO_SOURCES, css_template=HTML_CSS, elem_id="sources")
                ask_inputs = [question, history]
                ask_outputs = [chatbot, sources, history, question]
                ask_btn.click(on_ask, ask_inputs, ask_outputs, api_name="ask")
                question.submit(on_ask, ask_inputs, ask_outputs, api_name=False)
                clear_btn.click(
                    lambda: ([], NO_SOURCES, []),
                    None,
                    [chatbot, sources, history],
                    api_name=False,
                    queue=False,
                )
                # The chat's own trash icon must forget the session history too.
                chatbot.clear(lambda: (NO_SOURCES, []), None, [sources, history], api_name=False)

            with gr.Tab("Summarize", id="summarize"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        sum_article = gr.Dropdown(
                            label="Stored article", choices=[], value=None, elem_id="sum-article"
                        )
                        sum_text = gr.Textbox(
                            label="…or paste article text (used instead of the stored article)",
                            lines=8,
                            max_lines=20,
                            elem_id="sum-text",
                        )
                        sum_n = gr.Slider(1, 10, value=5, step=1, label="Sentences")
                        sum_btn = gr.Button("Summarize", variant="primary", elem_id="summarize")
                        sum_status = gr.Markdown(elem_id="sum-status")
                    with gr.Column(scale=3):
                        gr.Markdown("### Summary")
                        sum_out = gr.HTML(
                            '<p class="muted">The cited summary appears here.</p>',
                            css_template=HTML_CSS,
                            elem_id="summary",
                        )
                sum_btn.click(
                    on_summarize,
                    [sum_article, sum_text, sum_n],
                    [sum_out, sum_status],
                    api_name="summarize",
                )

            with gr.Tab("Fact-check", id="check"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        check_text = gr.Textbox(
                            label="Text to check", lines=10, max_lines=24, elem_id="check-text"
                        )
                        check_file = gr.File(
                            label="…or upload a .txt, .md or .html file",
                            file_types=list(CHECK_UPLOAD_TYPES),
                            type="filepath",
                            elem_id="check-file",
                        )
                        check_btn = gr.Button("Check", variant="primary", elem_id="check")
                        check_status = gr.Markdown(elem_id="check-status")
                    with gr.Column(scale=3):
                        highlighted = gr.HighlightedText(
                            label="Flags in the text",
                            show_legend=True,
                            combine_adjacent=False,
                            color_map=dict(VERDICT_COLORS),
                            elem_id="highlighted",
                        )
                flags = gr.Dataframe(
                    value=_frame([], FLAG_COLUMNS),
                    headers=FLAG_COLUMNS,
                    datatype="str",
                    interactive=False,
                    wrap=True,
                    column_widths=["9%", "27%", "10%", "11%", "23%", "20%"],
                    max_height=560,
                    show_search="search",
                    label="Flags (spelling first, then contradicted and unverified claims)",
                    elem_id="flags",
                )
                with gr.Row():
                    accept_name = gr.Textbox(
                        label="Accept spelling (never flag this name again)",
                        placeholder="e.g. Halvorrsen",
                        scale=4,
                        elem_id="accept-name",
                    )
                    accept_btn = gr.Button("Accept spelling", scale=1, elem_id="accept")
                check_outs = [check_text, highlighted, flags, check_status]
                check_btn.click(on_check, [check_text, check_file], check_outs, api_name="check")
                accept_btn.click(
                    on_accept,
                    [accept_name, check_text, check_file],
                    check_outs,
                    api_name="accept_spelling",
                )
                check_file.upload(
                    on_check_file, [check_file], [check_text, check_status], api_name=False
                )

            with gr.Tab("Library", id="library"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2):
                        uploads = gr.File(
                            label=f"Add articles (.txt .md .html .json .jsonl .pdf, up to {max_mb:g} MB each)",
                            file_count="multiple",
                            file_types=list(settings.ingest.extensions),
                            type="filepath",
                            elem_id="uploads",
                        )
                        ingest_btn = gr.Button("Ingest", variant="primary", elem_id="ingest")
                        ingest_report = gr.Markdown(elem_id="ingest-report")
                    with gr.Column(scale=3):
                        articles = gr.Dataframe(
                            value=_frame([], ARTICLE_COLUMNS),
                            headers=ARTICLE_COLUMNS,
                            datatype=["str", "str", "number"],
                            interactive=False,
                            wrap=True,
                            column_widths=["32%", "54%", "14%"],
                            show_search="search",
                            label="Stored articles",
                            elem_id="articles",
                        )
                        with gr.Row():
                            del_article = gr.Dropdown(
                                label="Article to delete",
                                choices=[],
                                value=None,
                                scale=3,
                                elem_id="del-article",
                            )
                            del_btn = gr.Button("Delete", variant="stop", scale=1, elem_id="delete")
                            refresh_btn = gr.Button("Refresh", scale=1)
                lib_outs = [ingest_report, articles, sum_article, del_article]
                ingest_btn.click(on_ingest, [uploads], lib_outs, api_name="ingest")
                del_btn.click(
                    on_delete,
                    [del_article],
                    lib_outs,
                    api_name="delete_article",
                    concurrency_limit=None,
                )
                refresh_btn.click(
                    on_refresh, None, lib_outs, api_name=False, concurrency_limit=None
                )

            with gr.Tab("Evaluate", id="evaluate"):
                gr.Markdown(
                    "Run the development suite (ROUGE, citation validity, consistency, typo precision/recall)."
                )
                eval_btn = gr.Button("Run dev suite", variant="primary", elem_id="evaluate")
                eval_status = gr.Markdown(elem_id="eval-status")
                with gr.Row(equal_height=False):
                    eval_table = gr.Dataframe(
                        value=_frame([], METRIC_COLUMNS),
                        headers=METRIC_COLUMNS,
                        interactive=False,
                        label="Metrics",
                    )
                    eval_plot = gr.Image(label="Plot", type="filepath", interactive=False)
                eval_btn.click(
                    on_evaluate, None, [eval_status, eval_table, eval_plot], api_name="evaluate"
                )

        demo.load(on_refresh, None, lib_outs, api_name=False, concurrency_limit=None)

    demo.queue(default_concurrency_limit=settings.app.concurrency, max_size=64)
    return demo
