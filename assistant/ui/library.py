"""The Library tab: upload articles or ingest one from a web link (each failure reported with its
reason), list and delete them,
record a preferred spelling in the style book, and read the audit log of who changed what."""

from __future__ import annotations

import dataclasses
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from assistant.auth import Actor, allowed, process_actor
from assistant.errors import AssistantError, BadInputError
from assistant.jobs import KEEP_JOBS, JobBusyError, JobRecord, JobRunner
from assistant.ui.auth import Access, RoleGates, check_upload_size
from assistant.ui.common import PROGRESS, error_status, frame, md_text, notify, ok_status
from assistant.ui.summaries import PICKER_LIMIT, choice_of, matching_articles, page_of, picker_page

_JOB_ID = re.compile(r"[0-9]{8}-[0-9]{9}-[0-9a-f]{6}")  # as JobRunner.start names them

if TYPE_CHECKING:
    from assistant.service import Assistant

ARTICLE_COLUMNS = ["id", "title", "published", "passages"]
AUDIT_COLUMNS = ["time (UTC)", "user", "action", "target", "details"]
AUDIT_SHOWN = 100  # the newest entries; the whole log is DATA/audit.jsonl


def audit_rows(assistant: Assistant, limit: int = AUDIT_SHOWN) -> list[list[str]]:
    """The newest audit entries first: time, user (and how they acted), action, target, details."""
    rows = []
    for e in reversed(assistant.audit.entries(limit=limit)):
        who = f"{e.user} ({e.via})" if e.via else e.user
        details = ", ".join(f"{k}={v}" for k, v in e.details.items())
        rows.append([e.time.replace("T", " ")[:19], who, e.action, e.target, details])
    return rows


JOB_ERRORS_SHOWN = 20  # failed inputs listed under a job's progress; the job's JSON file holds all
_RUNNERS: dict[Path, JobRunner] = {}
_RUNNERS_LOCK = threading.Lock()


def articles_rows(
    assistant: Assistant, query: str | None = "", limit: int = PICKER_LIMIT, page: int = 1
) -> list[list[Any]]:
    """(id, title, publication date or "undated", passages) of page ``page`` of the articles matching ``query``."""
    return table_rows(articles_page(assistant, query, page, limit)[0])


def table_rows(articles: Sequence[Any]) -> list[list[Any]]:
    """The Library table's rows: (id, title, publication date or "undated", passages)."""
    return [[a.id, a.title, a.published or "undated", a.passages] for a in articles]


def articles_page(assistant: Assistant, query: str | None = "", page: int = 1, size: int = PICKER_LIMIT) -> tuple[list, int, str]:
    """(articles of page ``page`` of the matches of ``query``, newest first; the clamped page; "1–200 of 1,234")."""
    return page_of(matching_articles(assistant, query), page, size)


def upload_jobs(assistant: Assistant) -> JobRunner:
    """The job runner of ``assistant``'s data folder (one per process: one upload job at a time)."""
    folder = (Path(assistant.settings.data_dir) / "jobs").resolve()
    with _RUNNERS_LOCK:
        return _RUNNERS.setdefault(folder, JobRunner(folder))


def job_text(record: JobRecord | None) -> str:
    """Markdown progress of an upload job: articles and files done of total, its state, failed inputs."""
    if record is None:
        return ""
    when = time.strftime("%H:%M:%S UTC", time.gmtime(record.started))
    head = f"**Upload job {md_text(record.id)}** by {md_text(record.user)}, started {when}: "
    counts = (
        f"{record.records_done:,} of {record.records_total:,} articles, "
        f"{record.files_done} of {record.files_total} file(s)"
    )
    stored = f"{record.added:,} added, {record.replaced:,} replaced, {record.unchanged:,} unchanged"
    if record.state == "running":
        text = f"{head}running — {counts} ({stored})."
    elif record.state == "finished":
        text = f"{head}finished — {counts} ({stored})."
    else:
        text = (
            f"{head}**{record.state}** after {counts} ({stored}): {md_text(record.message)}. "
            "The articles stored before it stopped stay stored; upload the rest again (unchanged ones are skipped)."
        )
    if record.errors:
        text += f"\n\n**{len(record.errors)} input(s) failed**"
        text += "".join(f"\n- **{md_text(n)}**: {md_text(r)}" for n, r in record.errors[:JOB_ERRORS_SHOWN])
        if len(record.errors) > JOB_ERRORS_SHOWN:
            text += f"\n- … {len(record.errors) - JOB_ERRORS_SHOWN} more in jobs/{md_text(record.id)}.json"
    return text


def job_record(jobs: JobRunner, job_id: str | None) -> dict[str, Any]:
    """The saved record of upload job ``job_id`` (the newest when blank) as JSON; ``gr.Error`` when
    there is none or the id is not one this app makes."""
    job_id = (job_id or "").strip()
    if job_id and not _JOB_ID.fullmatch(job_id):
        raise gr.Error(f"{job_id[:80]!r} is not an upload job id (e.g. 20261206-101500123-a1b2c3).")
    record = jobs.get(job_id) if job_id else jobs.latest()
    if record is None:
        raise gr.Error(
            f"no upload job {job_id!r} in this data folder (the newest {KEEP_JOBS} are kept)"
            if job_id
            else "no upload job has run in this data folder yet"
        )
    return {**dataclasses.asdict(record), "done": record.done}


def start_upload_job(
    assistant: Assistant,
    paths: Sequence[Path],
    records: int,
    refused: Sequence[tuple[str, str]] = (),
    actor: Actor | None = None,
) -> str:
    """Ingest ``paths`` in a background job (copies of the files: the upload's own may go); Markdown saying so.

    A second job while this process runs one is refused with the running job's progress.
    """
    actor = actor or process_actor()
    runner = upload_jobs(assistant)
    staging = runner.folder / f"upload-{uuid.uuid4().hex}"
    copies = []
    for i, path in enumerate(paths):
        (staging / str(i)).mkdir(parents=True)
        copies.append(Path(shutil.copy2(path, staging / str(i) / path.name)))

    def work(record: JobRecord, jobs: JobRunner) -> str:
        def on_article(_article_id: str, status: str) -> None:
            record.records_done += 1
            if status in ("added", "replaced", "unchanged"):
                setattr(record, status, getattr(record, status) + 1)
            jobs.save(record)

        def on_file(result) -> None:
            record.files_done += 1
            if result.error:
                record.errors.append([Path(result.path).name, result.error])
            jobs.save(record)

        try:
            report = assistant.ingest(copies, on_file=on_file, on_article=on_article, actor=actor)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return report.summary()

    try:
        record = runner.start(
            actor.name,
            work,
            files_total=len(copies),
            records_total=records,
            errors=[[name, reason] for name, reason in refused],
        )
    except JobBusyError as busy:
        shutil.rmtree(staging, ignore_errors=True)
        return md_text(
            f"Upload refused: upload job {busy.running.id} by {busy.running.user} is still running "
            f"({busy.running.records_done:,} of {busy.running.records_total:,} articles). "
            "Upload again when it has finished; its progress shows in the Library tab."
        )
    return (
        f"Upload job {md_text(record.id)} started: {records:,} articles from {len(copies)} file(s) are "
        "stored in the background. Its progress shows below and stays there when the page is reloaded."
    )


def ingest_uploads(
    assistant: Assistant,
    files: Sequence[str | Path] | None,
    max_mb: float | None = None,
    progress: Callable[..., Any] | None = None,
    actor: Actor | None = None,
    max_records: int | None = None,
    background: int | None = None,
) -> str:
    """Ingest uploaded files as ``actor``; Markdown report with the summary and each failed file with its reason.

    An upload whose files hold more than ``max_records`` articles (``app.max_upload_records``) is
    refused whole before anything is embedded: an archive belongs to ``assistant ingest``. One of
    more than ``background`` articles (``app.background_upload_records``) starts a background job
    (``start_upload_job``) and the report says so at once.
    """
    max_mb = assistant.settings.app.max_upload_mb if max_mb is None else max_mb
    max_records = assistant.settings.app.max_upload_records if max_records is None else max_records
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
    records = count_records(accepted, assistant.settings.ingest)
    if records > max_records:
        return md_text(
            f"Upload refused: its files hold {records} articles and one upload may add at most {max_records} "
            "(ASSISTANT_APP__MAX_UPLOAD_RECORDS). Split the file, or ingest it from the command line with "
            "`assistant ingest FILE`, which takes any size."
        )
    background = assistant.settings.app.background_upload_records if background is None else background
    if accepted and records > background:
        try:
            return start_upload_job(assistant, accepted, records, refused, actor)
        except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
            return error_status(exc, "starting the upload job")
    done = [0]

    def on_file(result) -> None:
        done[0] += 1
        if progress is not None:
            progress((done[0], len(accepted)), desc=f"Ingested {Path(result.path).name}")

    try:
        if progress is not None:
            progress((0, len(accepted)), desc="Reading and embedding")
        report = assistant.ingest(accepted, on_file=on_file, actor=actor) if accepted else None
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


def count_records(paths: Sequence[Path], settings) -> int:
    """Articles the files would add: each record of a .json/.jsonl file, one for any other file."""
    from assistant.ingest import read_file

    total = 0
    for path in paths:
        if path.suffix.lower() in (".json", ".jsonl"):
            try:
                total += len(read_file(path, settings))
            except (AssistantError, OSError, ValueError):
                total += 1  # unreadable: the ingest reports it as a failed file
        else:
            total += 1
    return total


def ingest_link(assistant: Assistant, url: str | None, actor: Actor | None = None) -> str:
    """Fetch a web page and ingest its article as ``actor`` (``Assistant.ingest_url``: the CLI's checks,
    public addresses only unless allowed); Markdown report with the summary or the reason it failed."""
    url = (url or "").strip()
    try:
        if not url:
            raise BadInputError("paste a web link first", "Give an address that starts with http:// or https://.")
        report = assistant.ingest_url(url, actor=actor)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return error_status(exc, "the link ingest")
    lines = [md_text(report.summary())]
    for f in report.failed:
        notify("The link could not be ingested; see the report.")
        lines += ["\n**Failed link**", f"- **{md_text(f.path)}**: {md_text(f.error or '')}"]
    for f in report.files:
        for article in f.articles:
            date = article.published or "undated"
            lines.append(f"- {md_text(article.id)}: {md_text(article.title)} ({md_text(date)})")
    return "\n".join(lines)


def delete_article(assistant: Assistant, article_id: str | None, actor: Actor | None = None) -> str:
    """Remove one article and its passages as ``actor`` (recorded in the audit log); status Markdown."""
    try:
        if not article_id:
            raise BadInputError("choose an article to delete")
        result = assistant.remove(article_id, actor=actor)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return error_status(exc, "the delete")
    return ok_status(f"Deleted {article_id} ({result.passages} passages).")


def add_preferred_spelling(
    assistant: Assistant, name: str | None, variants: str | None, actor: Actor | None = None
) -> str:
    """Record ``name`` as the preferred spelling with its comma-separated wrong ``variants``; status Markdown."""
    name = (name or "").strip()
    wrong = [v.strip() for v in (variants or "").split(",") if v.strip()]
    try:
        if not name or not wrong:
            raise BadInputError(
                "give the preferred spelling and at least one wrong variant",
                "Write the variants separated by commas, e.g. Zelenskiy, Zelensky.",
            )
        assistant.add_preferred_spelling(name, wrong, actor=actor)
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        return error_status(exc, "the style-book edit")
    return ok_status(f"Style book: “{name}” is preferred over {', '.join(wrong)}.")


def build_tab(
    assistant: Assistant,
    max_mb: float,
    summary_article: gr.Dropdown,
    access: Access | None = None,
    gates: RoleGates | None = None,
    summary_page: gr.State | None = None,
) -> tuple[Callable[..., tuple], list[gr.components.Component]]:
    """The Library tab; returns its load handler and outputs (the page runs them on load).

    ``summary_article`` is the Summarize tab's dropdown (``summary_page`` its page): its choices
    follow the stored articles. Uploading is shown to editors, deleting and the style book to
    admins (``gates``); each handler checks the signed-in user's role on the server as well. A
    background upload job's progress is read on load and polled every 1.5 s while it runs.
    """
    access = access or Access()
    gates = gates or RoleGates(access)
    summary_page = summary_page if summary_page is not None else gr.State(1)
    jobs = upload_jobs(assistant)

    def table_update(query: str | None = "", page: int = 1):
        shown, page, where = articles_page(assistant, query, page)
        table = gr.Dataframe(value=frame(table_rows(shown), ARTICLE_COLUMNS), label=f"Stored articles ({where}, newest first)")
        delete = gr.Dropdown(choices=[choice_of(a) for a in shown], value=None)
        return table, delete, page

    def outputs(report: str):
        table, delete_dd, page = table_update()
        summary_dd, sum_page = picker_page(assistant)
        return report, table, summary_dd, delete_dd, frame(audit_rows(assistant), AUDIT_COLUMNS), page, sum_page

    def job_view(request: gr.Request):
        """(job progress, the poll timer on while it runs, the state shown) for a user who may upload."""
        if access.enabled and not allowed(access.actor(request).role, "ingest"):
            return "", gr.Timer(active=False), ""
        record = jobs.latest()
        running = record is not None and record.state == "running"
        return job_text(record), gr.Timer(active=running), record.state if record else ""

    def on_upload_job(job_id: str, request: gr.Request) -> dict:
        """An upload job's progress for API clients: the job ``job_id`` (the newest when blank), as
        JSON, the same record the Library tab shows. Editors and admins, like uploads."""
        access.act(request, "ingest")
        return job_record(jobs, job_id)

    def on_ingest(files: list[str] | None, request: gr.Request, progress=PROGRESS):
        actor = access.act(request, "ingest")
        return outputs(ingest_uploads(assistant, files, max_mb, progress, actor=actor))

    def on_ingest_link(url: str | None, request: gr.Request):
        actor = access.act(request, "ingest")
        return outputs(ingest_link(assistant, url, actor=actor))

    def on_delete(article_id: str | None, request: gr.Request):
        actor = access.act(request, "delete")
        return outputs(delete_article(assistant, article_id, actor=actor))

    def on_prefer(name: str | None, variants: str | None, request: gr.Request):
        actor = access.act(request, "edit_stylebook")
        status = add_preferred_spelling(assistant, name, variants, actor=actor)
        return status, frame(audit_rows(assistant), AUDIT_COLUMNS)

    def on_refresh():
        try:
            return outputs("")
        except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
            status = error_status(exc, "listing the articles")
            return status, frame([], ARTICLE_COLUMNS), gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()

    def on_load(request: gr.Request):
        return *on_refresh(), *job_view(request)

    def on_tick(seen: str, request: gr.Request):
        text, timer, state = job_view(request)
        if seen == "running" and state != "running":  # the job just ended: list what it stored
            table, delete_dd, page = table_update()
            return text, timer, state, table, delete_dd, frame(audit_rows(assistant), AUDIT_COLUMNS), page
        return text, timer, state, *(gr.skip() for _ in range(4))

    with gr.Tab("Library", id="library"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=2):
                with gates.add("ingest", gr.Group(visible=gates.visible, elem_id="ingest-box")):
                    uploads = gr.File(
                        label=f"Add articles (.txt .md .html .json .jsonl .pdf, up to {max_mb:g} MB each)",
                        file_count="multiple",
                        file_types=list(assistant.settings.ingest.extensions),
                        type="filepath",
                        elem_id="uploads",
                    )
                    ingest_btn = gr.Button("Ingest", variant="primary", elem_id="ingest")
                    link = gr.Textbox(
                        label="Or a web link (the page's title, date and text are extracted)",
                        placeholder="https://…",
                        elem_id="ingest-url",
                    )
                    link_btn = gr.Button("Fetch and ingest", elem_id="ingest-url-go")
                    job = gr.Markdown(elem_id="upload-job")
                report = gr.Markdown(elem_id="ingest-report")
                with gates.add(
                    "edit_stylebook",
                    gr.Accordion("Style book: preferred spelling", open=False, visible=gates.visible, elem_id="stylebook-box"),
                ):
                    prefer_name = gr.Textbox(label="Preferred spelling", placeholder="e.g. Zelenskyy", elem_id="prefer-name")
                    prefer_variants = gr.Textbox(
                        label="Wrong variants (comma-separated)", placeholder="e.g. Zelenskiy, Zelensky", elem_id="prefer-variants"
                    )
                    prefer_btn = gr.Button("Add to the style book", elem_id="prefer")
                    prefer_status = gr.Markdown(elem_id="prefer-status")
            with gr.Column(scale=3):
                find = gr.Textbox(
                    label=f"Find articles (words of the title or id; {PICKER_LIMIT} matches a page, newest first)",
                    elem_id="lib-find",
                )
                articles = gr.Dataframe(
                    value=frame([], ARTICLE_COLUMNS),
                    headers=ARTICLE_COLUMNS,
                    datatype=["str", "str", "str", "number"],
                    interactive=False,
                    wrap=True,
                    column_widths=["26%", "44%", "18%", "12%"],
                    show_search="search",
                    label="Stored articles",
                    elem_id="articles",
                )
                page = gr.State(1)
                with gr.Row():
                    newer = gr.Button("◀ Newer", size="sm", elem_id="lib-newer")
                    older = gr.Button("Older ▶", size="sm", elem_id="lib-older")
                with gr.Row():
                    with gates.add("delete", gr.Row(visible=gates.visible, elem_id="delete-box")):
                        delete_dd = gr.Dropdown(
                            label="Article to delete",
                            choices=[],
                            value=None,
                            scale=3,
                            # API clients name any id; the store answers for ids it does not hold.
                            allow_custom_value=True,
                            elem_id="del-article",
                        )
                        delete_btn = gr.Button("Delete", variant="stop", scale=1, elem_id="delete")
                    refresh_btn = gr.Button("Refresh", scale=1, elem_id="refresh")
        audit = gr.Dataframe(
            value=frame([], AUDIT_COLUMNS),
            headers=AUDIT_COLUMNS,
            datatype="str",
            interactive=False,
            wrap=True,
            max_height=360,
            label=f"Audit log: who changed what (newest first, last {AUDIT_SHOWN})",
            elem_id="audit",
        )
        timer = gr.Timer(1.5, active=False)
        seen = gr.State("")
        job_outs = [job, timer, seen]
        # Page states are outputs too (skipped by the API): a refreshed list starts at its first page.
        outs = [report, articles, summary_article, delete_dd, audit, page, summary_page]
        ingest_btn.click(on_ingest, [uploads], outs, api_name="ingest").then(
            job_view, None, job_outs, api_name=False, concurrency_limit=None
        )
        link_btn.click(on_ingest_link, [link], outs, api_name="ingest_url")
        gr.api(on_upload_job, api_name="upload_job")
        link.submit(on_ingest_link, [link], outs, api_name=False)
        delete_btn.click(on_delete, [delete_dd], outs, api_name="delete_article", concurrency_limit=None)
        prefer_btn.click(
            on_prefer, [prefer_name, prefer_variants], [prefer_status, audit], api_name="add_preferred_spelling"
        )
        refresh_btn.click(on_load, None, outs + job_outs, api_name=False, concurrency_limit=None)
        # Not the Summarize picker: a job ending must not clear the article chosen there.
        timer.tick(on_tick, [seen], [*job_outs, articles, delete_dd, audit, page], api_name=False, concurrency_limit=None)

        def on_page(query: str | None, n: int):
            return table_update(query, n)

        paged = [articles, delete_dd, page]
        find.submit(lambda q: on_page(q, 1), [find], paged, api_name=False, concurrency_limit=None)
        newer.click(lambda q, n: on_page(q, n - 1), [find, page], paged, api_name=False, concurrency_limit=None)
        older.click(lambda q, n: on_page(q, n + 1), [find, page], paged, api_name=False, concurrency_limit=None)
    return on_load, outs + job_outs
