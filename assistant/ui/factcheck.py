"""The Fact-check tab: claims and spellings highlighted in the text, a table of flags, accepting a spelling."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from assistant.auth import Actor
from assistant.errors import BadInputError
from assistant.ingest import html_to_text
from assistant.types import CheckReport, ClaimResult, TypoFlag
from assistant.ui.auth import Access, RoleGates, check_upload_size
from assistant.ui.brief import date_range
from assistant.ui.common import (
    PROGRESS,
    VERDICT_COLORS,
    VERDICT_ICON,
    error_status,
    frame,
    ok_status,
)

if TYPE_CHECKING:
    from assistant.service import Assistant

CHECK_UPLOAD_TYPES = (".txt", ".md", ".html", ".htm")
FLAG_COLUMNS = ["kind", "text", "suggestion", "verdict", "support", "evidence quote", "reason"]
TYPO_COLOR = "#a855f7"
SUSPECT_COLOR = "#fb7185"
SUSPECT_LABEL = "suspect (model check)"


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
    """The highlight label of a typo flag ("typo → Zelenskyy")."""
    return f"typo → {flag.suggestion}"


def highlight_segments(
    text: str, typos: Sequence[TypoFlag], claims: Sequence[ClaimResult]
) -> list[tuple[str, str | None]]:
    """Non-overlapping (text, label) segments covering ``text``.

    A typo wins over the suspect words the model check found, which win over their claim.
    """
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
        for suspect in claim.suspect_spans:
            # offsets are into the article; placed inside the claim's span as found in ``text``
            rel = suspect.start - claim.start
            where = _locate(text, suspect.text, span[0] + rel, span[0] + rel + len(suspect.text))
            if where is None or not (span[0] <= where[0] < span[1]):
                continue
            labels.append(SUSPECT_LABEL)
            is_typo.append(False)
            for i in range(*where):
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
    """Label -> colour for the highlighted text: verdict colours, and one colour for every typo label."""
    colors = {**VERDICT_COLORS, SUSPECT_LABEL: SUSPECT_COLOR}
    colors.update(
        {label: TYPO_COLOR for _, label in segments if label and label.startswith("typo")}
    )
    return colors


_SEVERITY = {"contradicted": 1, "outdated": 1, "unsupported": 2, "unverified": 2, "supported": 3}


def flag_rows(report: CheckReport) -> list[list[str]]:
    """One row per typo and claim (kind, text, suggestion, verdict, evidence quote, reason); problems first, then text order."""
    rows: list[tuple[int, int, list[str]]] = []
    for t in report.typos:
        rows.append((0, t.start, [f"typo ({t.kind})", t.text, t.suggestion, "", "", "", t.reason]))
    for c in report.claims:
        evidence = "; ".join(
            f"“{e.quote}” ({e.title + ', ' if e.title else ''}{(e.published or 'undated') + ', ' if e.title or e.published else ''}"
            f"{e.passage_id}{', ⚠ addresses the assistant' if e.injection else ''})"
            for e in c.evidence[:2]
        ) or ("nothing in the archive on this" if any(x.check == "relevance" and x.outcome == "fail" for x in c.checks) else "")
        reason = c.reason + (f" | LLM judge: {c.judge}" if c.judge else "")
        verdict = f"{VERDICT_ICON.get(c.verdict, '')} {c.verdict}"
        row = ["claim", c.text, "", verdict, support_cell(c), evidence, reason]
        rows.append((_SEVERITY.get(c.verdict, 2), c.start, row))
    return [r for *_, r in sorted(rows, key=lambda r: (r[0], r[1]))]


def support_cell(claim: ClaimResult) -> str:
    """The model check's probability and suspect words, or "" before (or without) it."""
    if claim.support is None:
        return ""
    words = ", ".join(f"“{s.text.strip()}”" for s in claim.suspect_spans)
    return f"{claim.support:.2f}" + (f" — unlikely: {words}" if words else "")


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
        text, _ = html_to_text(text)
    return text


Outputs = tuple[str, list[tuple[str, str | None]], list[list[str]], str]


def _status(report: CheckReport, stage: str) -> str:
    counts = {
        v: sum(1 for c in report.claims if c.verdict == v)
        for v in ("supported", "contradicted", "unverified", "outdated")
    }
    outdated = f", {counts['outdated']} outdated (a newer article differs)" if counts["outdated"] else ""
    return (
        f"{len(report.typos)} spelling flag(s); {len(report.claims)} claim(s): {counts['supported']} supported, "
        f"{counts['contradicted']} contradicted, {counts['unverified']} unverified{outdated}. {stage}"
    )


def check_stream(
    assistant: Assistant,
    text: str | None,
    file: str | None = None,
    max_mb: float | None = None,
    support: bool | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Iterator[Outputs]:
    """(text, highlight segments, flag rows, status) after the code checks, then again after each claim
    the model check (second stage) scored; an uploaded file is used when no text is pasted.
    ``since`` / ``until``: the page's date range (ISO or 7d, 3m, 1y), limiting the evidence."""
    max_mb = assistant.settings.app.max_upload_mb if max_mb is None else max_mb
    text = text or ""
    try:
        if not text.strip() and file:
            text = read_text_upload(file, max_mb)
        if not text.strip():
            raise BadInputError("paste some text or upload a .txt, .md or .html file to check")
        lo, hi = date_range(since, until)
        report = assistant.check(text=text, since=lo, until=hi)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        yield text, [], [], error_status(exc, "the fact-check")
        return

    def outputs(stage: str) -> Outputs:
        segments = highlight_segments(text, report.typos, report.claims)
        return text, segments, flag_rows(report), ok_status(_status(report, stage))

    todo = assistant.claims_to_score(report) if support is not False else []
    scorer = assistant.model_check(support) if todo else None
    if scorer is None:
        yield outputs("")
        return
    yield outputs(f"Model check (second stage): 0 of {len(todo)} claim(s) scored…")
    try:
        for n, (i, claim) in enumerate(assistant.support_claims(report, todo, scorer=scorer), 1):
            report.claims[i] = claim
            more = "…" if n < len(todo) else " — done."
            yield outputs(f"Model check (second stage): {n} of {len(todo)} claim(s) scored{more}")
    except Exception as exc:  # noqa: BLE001 - the code verdicts stay shown; the model stage says why it stopped
        segments = highlight_segments(text, report.typos, report.claims)
        yield text, segments, flag_rows(report), error_status(exc, "the model check (second stage)")


def run_check(
    assistant: Assistant, text: str | None, file: str | None = None, max_mb: float | None = None
) -> Outputs:
    """The final outputs of ``check_stream`` (both stages)."""
    result: Outputs = (text or "", [], [], "")
    for result in check_stream(assistant, text, file, max_mb):
        pass
    return result


def accept_and_recheck(
    assistant: Assistant, name: str, text: str | None, file: str | None = None, actor: Actor | None = None
) -> tuple[str, list[tuple[str, str | None]], list[list[str]], str]:
    """Add ``name`` to the style book as ``actor``, then check the text again."""
    name = (name or "").strip()
    try:
        if not name:
            raise BadInputError("type the spelling to accept first")
        assistant.accept_spelling(name, actor=actor)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return text or "", [], [], error_status(exc, "accepting the spelling")
    checked, segments, rows, status = run_check(assistant, text, file)
    return checked, segments, rows, ok_status(f"Accepted “{name}”.") + "  \n" + status


def build_tab(
    assistant: Assistant,
    max_mb: float,
    access: Access | None = None,
    gates: RoleGates | None = None,
    since: gr.Textbox | None = None,
    until: gr.Textbox | None = None,
) -> None:
    """The Fact-check tab: text or upload in, highlighted text and the flag table out (accepting a spelling:
    editors); ``since`` / ``until`` are the page's date-range control, limiting the evidence."""
    access = access or Access()
    gates = gates or RoleGates(access)

    def outputs(result):
        text, segments, rows, status = result
        return (
            text,
            gr.HighlightedText(value=segments, color_map=highlight_colors(segments)),
            frame(rows, FLAG_COLUMNS),
            status,
        )

    def on_check(text: str, file: str | None, since: str = "", until: str = ""):
        for result in check_stream(assistant, text, file, max_mb, since=since, until=until):
            yield outputs(result)

    def on_accept(name: str, text: str, file: str | None, request: gr.Request, progress=PROGRESS):
        actor = access.act(request, "accept_spelling")
        progress(0, desc="Checking again")
        return outputs(accept_and_recheck(assistant, name, text, file, actor=actor))

    def on_file(file: str | None):
        if not file:
            return gr.skip(), ""
        try:
            return read_text_upload(file, max_mb), ok_status(
                f"Loaded {Path(file).name}; press Check."
            )
        except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
            return gr.skip(), error_status(exc, "reading the file")

    with gr.Tab("Fact-check", id="check"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                text = gr.Textbox(
                    label="Text to check", lines=10, max_lines=24, elem_id="check-text"
                )
                # Uploading puts a file on the server: editors and admins (viewers paste text).
                file = gates.add(
                    "upload",
                    gr.File(
                        label="…or upload a .txt, .md or .html file",
                        file_types=list(CHECK_UPLOAD_TYPES),
                        type="filepath",
                        visible=gates.visible,
                        elem_id="check-file",
                    ),
                )
                button = gr.Button("Check", variant="primary", elem_id="check")
                status = gr.Markdown(elem_id="check-status")
            with gr.Column(scale=3):
                highlighted = gr.HighlightedText(
                    label="Flags in the text",
                    show_legend=True,
                    combine_adjacent=False,
                    color_map=dict(VERDICT_COLORS),
                    elem_id="highlighted",
                )
        flags = gr.Dataframe(
            value=frame([], FLAG_COLUMNS),
            headers=FLAG_COLUMNS,
            datatype="str",
            interactive=False,
            wrap=True,
            column_widths=["8%", "24%", "9%", "10%", "11%", "20%", "18%"],
            max_height=560,
            show_search="search",
            label="Flags (spelling first, then contradicted and unverified claims)",
            elem_id="flags",
        )
        with gates.add("accept_spelling", gr.Row(visible=gates.visible, elem_id="accept-box")):
            accept_name = gr.Textbox(
                label="Accept spelling (never flag this name again)",
                placeholder="e.g. Halvorrsen",
                scale=4,
                elem_id="accept-name",
            )
            accept_btn = gr.Button("Accept spelling", scale=1, elem_id="accept")
        outs = [text, highlighted, flags, status]
        dates = [since, until] if since is not None and until is not None else []
        button.click(on_check, [text, file, *dates], outs, api_name="check")
        accept_btn.click(on_accept, [accept_name, text, file], outs, api_name="accept_spelling")
        file.upload(on_file, [file], [text, status], api_name=False)
