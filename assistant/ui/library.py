"""The Library tab: upload articles (each bad file reported with its reason), list and delete them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.errors import AssistantError, BadInputError
from assistant.ui.auth import check_upload_size
from assistant.ui.common import PROGRESS, error_status, frame, md_text, notify, ok_status
from assistant.ui.summaries import article_choices

if TYPE_CHECKING:
    from assistant.service import Assistant

ARTICLE_COLUMNS = ["id", "title", "passages"]


def articles_rows(assistant: Assistant) -> list[list[Any]]:
    """(id, title, passages) of each stored article."""
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


def build_tab(
    assistant: Assistant, max_mb: float, summary_article: gr.Dropdown
) -> tuple[Callable[[], tuple], list[gr.components.Component]]:
    """The Library tab; returns its refresh handler and outputs (the page runs them on load).

    ``summary_article`` is the Summarize tab's dropdown: its choices follow the stored articles.
    """

    def choices_update():
        choices = article_choices(assistant)
        return gr.Dropdown(choices=choices, value=None), gr.Dropdown(choices=choices, value=None)

    def outputs(report: str):
        summary_dd, delete_dd = choices_update()
        return report, frame(articles_rows(assistant), ARTICLE_COLUMNS), summary_dd, delete_dd

    def on_ingest(files: list[str] | None, progress=PROGRESS):
        return outputs(ingest_uploads(assistant, files, max_mb, progress))

    def on_delete(article_id: str | None):
        return outputs(delete_article(assistant, article_id))

    def on_refresh():
        try:
            return outputs("")
        except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
            status = error_status(exc, "listing the articles")
            return status, frame([], ARTICLE_COLUMNS), gr.skip(), gr.skip()

    with gr.Tab("Library", id="library"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                uploads = gr.File(
                    label=f"Add articles (.txt .md .html .json .jsonl .pdf, up to {max_mb:g} MB each)",
                    file_count="multiple",
                    file_types=list(assistant.settings.ingest.extensions),
                    type="filepath",
                    elem_id="uploads",
                )
                ingest_btn = gr.Button("Ingest", variant="primary", elem_id="ingest")
                report = gr.Markdown(elem_id="ingest-report")
            with gr.Column(scale=3):
                articles = gr.Dataframe(
                    value=frame([], ARTICLE_COLUMNS),
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
                    delete_dd = gr.Dropdown(
                        label="Article to delete",
                        choices=[],
                        value=None,
                        scale=3,
                        elem_id="del-article",
                    )
                    delete_btn = gr.Button("Delete", variant="stop", scale=1, elem_id="delete")
                    refresh_btn = gr.Button("Refresh", scale=1)
        outs = [report, articles, summary_article, delete_dd]
        ingest_btn.click(on_ingest, [uploads], outs, api_name="ingest")
        delete_btn.click(
            on_delete, [delete_dd], outs, api_name="delete_article", concurrency_limit=None
        )
        refresh_btn.click(on_refresh, None, outs, api_name=False, concurrency_limit=None)
    return on_refresh, outs
