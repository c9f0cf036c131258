"""Command-line interface: `assistant ingest|search|list|remove|summarize|ask|check|stylebook|eval|doctor`."""

from __future__ import annotations

import json
import logging
import sys
import tomllib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as metadata_version
from pathlib import Path
from typing import Annotated

import click
import typer
from tqdm import tqdm

from assistant.auth import cli_actor
from assistant.dates import display, parse_bound
from assistant.errors import AssistantError, BadInputError
from assistant.ingest import expand_inputs, is_link, read_file
from assistant.redact import install_log_redaction, redact_text
from assistant.settings import Settings
from assistant.types import Answer, FusedSentence, Selection, Summary

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
stylebook_app = typer.Typer(help="The editors' style book: preferred spellings and accepted names.")
app.add_typer(stylebook_app, name="stylebook")


class State:
    settings: Settings = None  # type: ignore[assignment]
    _assistant = None

    @classmethod
    def assistant(cls):
        if cls._assistant is None:
            # lazy: the stages load chromadb, spaCy and LangChain (~2 s); `assistant --help` must not wait for them
            from assistant.service import Assistant

            cls._assistant = Assistant(cls.settings)
        return cls._assistant


def _version() -> str:
    """The installed package's version; from a source tree that is not installed, pyproject.toml's."""
    try:
        return metadata_version("newsroom-assistant")
    except PackageNotFoundError:
        try:
            pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
            return tomllib.loads(pyproject.read_text())["project"]["version"]
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"assistant {_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data folder (default ./data or ASSISTANT_DATA_DIR)")] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """Offline newsroom assistant: cited summaries, claim checks and typo flags."""
    settings = Settings()
    # where a bad data dir came from: the option, the environment or (neither) the default ./data
    if data_dir is not None:
        settings, where = settings.model_copy(update={"data_dir": data_dir}), ""
    elif "data_dir" in settings.model_fields_set:
        where = " (from ASSISTANT_DATA_DIR)"
    else:
        where = " (the default)"
    _check_data_dir(settings.data_dir, where)
    State.settings = settings
    State._assistant = None


def _check_data_dir(path: Path, where: str) -> None:
    """A data dir that is (or lies under) a file is a usage error (exit 2), not a traceback at the first write."""
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise typer.BadParameter(
            f"{path}{where} cannot be the data folder: {blocker} is a file; give a folder (it is created if missing)",
            param_hint="'--data-dir'",
        )


def _echo_json(obj) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2))


_SINCE_HELP = "Only articles published on or after this date: ISO (2025-08-07) or relative (7d, 2w, 3m, 1y)"
_UNTIL_HELP = "Only articles published on or before this date (a bare day includes all of it): ISO or relative"


def _date_range(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """--since / --until as epoch seconds; a malformed or empty range is a usage error (exit 2)."""
    try:
        lo = parse_bound(since)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--since'") from None
    try:
        hi = parse_bound(until, end=True)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--until'") from None
    if lo is not None and hi is not None and lo > hi:
        raise typer.BadParameter(f"--since {since} is after --until {until}: no article can be in that range")
    return lo, hi


def _count(n: int, noun: str) -> str:
    """ "1 passage", "7 passages"."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _cited(title: str, published: str) -> str:
    """How a citation names its source: "Title, 2025-08-07" (or "undated")."""
    return f"{title}, {display(published)}" if title else display(published)


@app.command()
def ingest(
    paths: Annotated[
        list[str], typer.Argument(help="Files (.txt .md .html .json .jsonl .pdf), folders or web links (https://…)")
    ],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Chunk, embed and store articles in Chroma. Exit code 1 if any file or link failed."""
    a = State.assistant()
    inputs = [p if is_link(p) else Path(p) for p in paths]
    files = list(expand_inputs(inputs, a.settings.ingest))  # folders expanded, to size the progress bar
    # Progress bars only on a terminal: in a log or a pipe their \r and cursor-up codes land on the FAILED lines.
    disable = quiet or not sys.stderr.isatty()
    with tqdm(total=len(files), desc="files", unit="file", disable=disable, position=0) as fbar, tqdm(
        desc="passages", unit="psg", disable=disable, position=1
    ) as pbar:
        def on_file(result) -> None:
            fbar.update(1)
            if result.error:
                tqdm.write(f"FAILED {result.path}: {result.error}", file=sys.stderr)

        report = a.ingest(files, on_file=on_file, on_passages=pbar.update, actor=cli_actor())
    typer.echo(report.summary())
    if report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for")],
    k: Annotated[int, typer.Option("-k", min=1, help="How many passages")] = 5,
    since: Annotated[str | None, typer.Option("--since", help=_SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option("--until", help=_UNTIL_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output")] = False,
) -> None:
    """Hybrid (dense + BM25) search over stored passages. Exit code 1 if no article is stored yet."""
    if not query.strip():
        raise typer.BadParameter("the query is empty: say what to look for", param_hint="'QUERY'")
    lo, hi = _date_range(since, until)
    a = State.assistant()
    a.require_articles("there is nothing to search")
    hits = a.retriever.search(query, k=k, since=lo, until=hi)
    if as_json:
        _echo_json(
            [
                {
                    "rank": i + 1,
                    "passage_id": h.passage.id,
                    "article_id": h.passage.article_id,
                    "title": h.passage.title,
                    "published": h.passage.published,
                    "url": h.passage.url,
                    "score": round(h.score, 6),
                    "dense_score": h.dense_score,
                    "lexical_score": h.lexical_score,
                    "text": h.passage.text,
                    "injection": h.passage.injection,
                }
                for i, h in enumerate(hits)
            ]
        )
        return
    if not hits:
        typer.echo("No stored passage matches.")
    for i, h in enumerate(hits, 1):
        typer.echo(f"{i}. [{h.score:.4f}] {h.passage.id}  ({_cited(h.passage.title, h.passage.published)})")
        if h.passage.injection:
            typer.echo(f"   ⚠ addresses the assistant: {h.passage.injection}")
        typer.echo("   " + h.passage.text.replace("\n", " ")[:300])


@app.command("list")
def list_articles(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List stored articles with their passage counts."""
    infos = State.assistant().store.list_articles()
    if as_json:
        _echo_json([vars(i) for i in infos])
        return
    if not infos:
        typer.echo("No articles stored yet: run `assistant ingest PATH`.")
    for info in infos:
        typer.echo(f"{info.id}\t{display(info.published)}\t{_count(info.passages, 'passage')}\t{info.title}")


@app.command()
def remove(article_id: Annotated[str, typer.Argument(help="Article id from `assistant list`")]) -> None:
    """Delete one article and its passages (also passages an interrupted ingest left without an article)."""
    result = State.assistant().remove(article_id, actor=cli_actor())
    if result.had_record:
        typer.echo(f"removed {article_id} ({_count(result.passages, 'passage')})")
    else:
        typer.echo(f"removed {result.passages} orphan passage(s) of {article_id} (left by an interrupted ingest; it had no article record)")


@app.command()
def doctor(
    repair: Annotated[bool, typer.Option("--repair", help="Fix what is found (deletes leftovers, rebuilds articles from their stored text)")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Check the store for crash leftovers and mismatches; exit 1 if problems remain."""
    # lazy: imports the store (chromadb), as State.assistant does
    from assistant import doctor as doc

    a = State.assistant()
    report = doc.repair(a, actor=cli_actor()) if repair else doc.diagnose(a)
    if as_json:
        _echo_json(report.to_json())
    else:
        typer.echo(report.render())
    if not report.healthy:
        raise typer.Exit(1)


def _read_draft(path: Path) -> str:
    try:
        articles = read_file(path, State.settings.ingest)
    except BadInputError as exc:
        # read_file's reasons ("file is empty") do not say which file: a --file error names it.
        raise BadInputError(f"{path}: {exc}", exc.help) from exc
    if len(articles) != 1:
        raise typer.BadParameter(f"{path} holds {len(articles)} articles; give one article or ingest it and use its id")
    return articles[0].raw


@app.command()
def summarize(
    article_id: Annotated[str | None, typer.Argument(help="Stored article id (see `assistant list`)")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", exists=True, dir_okay=False, help="Summarise a file without storing it")
    ] = None,
    sentences: Annotated[int, typer.Option("--sentences", "-n", min=1, max=15)] = 5,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="auto | extract_fuse | abstractive | extractive (default: ASSISTANT_SUMMARY__STRATEGY, else auto)",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Cited summary: the selected sentences at once, then each checked sentence as it is written."""
    if (article_id is None) == (file is None):
        raise typer.BadParameter("give either ARTICLE_ID or --file PATH")
    # lazy, as State.assistant
    from assistant.summarize import render_text, sentence_line, summary_footer

    a = State.assistant()
    text = _read_draft(file) if file else None
    summary = None
    streamed = False
    for event in a.summarize_stream(article_id=article_id, text=text, sentences=sentences, strategy=strategy):
        if isinstance(event, Summary):
            summary = event
        elif as_json:
            continue
        elif isinstance(event, Selection) and event.strategy == "extract_fuse":
            typer.echo("Selected sentences (the model shortens and fuses these):")
            for s in event.sources:
                typer.echo(f"  [{s.number}] {s.text}")
            typer.echo("\nSummary:")
        elif isinstance(event, FusedSentence):
            typer.echo(sentence_line(event.sentence))
            streamed = True
    assert summary is not None
    if as_json:
        data = summary.model_dump(
            include={"article_id", "title", "published", "model", "extractive_fallback", "strategy", "injection_warning"}
        )
        data["sentences"] = [s.model_dump() for s in summary.sentences]
        data["sources"] = [s.model_dump() for s in summary.sources]
        _echo_json(data)
    elif streamed:
        # The sentences are on screen already: what follows are the replacements, footnotes and model.
        if summary.extractive_fallback:
            typer.echo("[extractive fallback: the model did not produce a valid summary]")
        typer.echo("\n".join(summary_footer(summary)))
    else:
        typer.echo(render_text(summary))


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="A question about the stored articles")],
    k: Annotated[int | None, typer.Option("-k", min=1, help="Passages to retrieve")] = None,
    support: Annotated[
        bool | None,
        typer.Option("--support/--no-support", help="Model check of the answer's sentences (default: settings)"),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help=_SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option("--until", help=_UNTIL_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Answer from the stored articles with inline numbered citations (streamed)."""
    if not question.strip():
        raise typer.BadParameter("the question is empty: ask about the stored articles", param_hint="'QUESTION'")
    lo, hi = _date_range(since, until)
    a = State.assistant()
    answer = None
    for item in a.ask_stream(question, k=k, since=lo, until=hi):
        if isinstance(item, Answer):
            answer = item
        elif not as_json:
            typer.echo(item, nl=False)
    assert answer is not None
    scorer = a.model_check(support)
    if scorer is not None:
        answer = a.support_answer(answer, scorer)
    if as_json:
        _echo_json(
            answer.model_dump(
                include={"question", "answer", "citations", "verdicts", "model", "answered", "injection_warning", "as_of"}
            )
        )
        return
    typer.echo("")
    if answer.as_of:
        typer.echo(f"As of {answer.as_of[:10]} (the newest article cited).")
    if answer.injection_warning:
        typer.echo(f"  ⚠ {answer.injection_warning}")
    for v in answer.verdicts:
        if v.verdict != "supported":
            typer.echo(f"  ⚠ {v.verdict}: {v.text}  ({v.reason})")
        elif v.support is not None:
            typer.echo(f"  ✓ model check {v.support:.2f}: {v.text}")
    for c in answer.citations:
        flag = f"  ⚠ addresses the assistant: {c.injection}" if c.injection else ""
        typer.echo(f"[{c.n}] {c.passage_id} ({_cited(c.title, c.published)}): \"{c.quote}\"{flag}")


@app.command()
def brief(
    query: Annotated[str, typer.Argument(help="What the brief is about, e.g. 'Marlow footbridge repairs'")],
    since: Annotated[str | None, typer.Option("--since", help=_SINCE_HELP)] = None,
    until: Annotated[str | None, typer.Option("--until", help=_UNTIL_HELP)] = None,
    support: Annotated[
        bool | None,
        typer.Option("--support/--no-support", help="Model check of each line (default: as summaries)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A dated, cited topic brief across articles: a timeline (oldest first) and a short overview."""
    from assistant.brief import render_text

    lo, hi = _date_range(since, until)
    result = State.assistant().brief(query, since=lo, until=hi, support=support)
    if as_json:
        _echo_json(result.model_dump())
    else:
        typer.echo(render_text(result))


@app.command()
def check(
    article_id: Annotated[str | None, typer.Argument(help="Stored article id")] = None,
    file: Annotated[Path | None, typer.Option("--file", exists=True, dir_okay=False, help="Check a file (not stored)")] = None,
    judge: Annotated[bool | None, typer.Option("--judge/--no-judge", help="Also ask the LLM judge")] = None,
    support: Annotated[
        bool | None,
        typer.Option("--support/--no-support", help="Model check: the calibrated support score decides each claim (default: settings)"),
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="Evidence only from articles published on or after this date (ISO or 7d, 3m, 1y)")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Evidence only from articles published on or before this date")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Claims checked against the rest of the corpus, and misspelt names / typos with suggestions."""
    if (article_id is None) == (file is None):
        raise typer.BadParameter("give either ARTICLE_ID or --file PATH")
    lo, hi = _date_range(since, until)
    # lazy, as State.assistant
    from assistant.check import render_text as render_report

    a = State.assistant()
    report = a.check_with_support(
        article_id=article_id, text=_read_draft(file) if file else None, judge=judge, support=support, since=lo, until=hi
    )
    if not a.store.count():
        # typos and names are still checked; the claims had nothing to be checked against
        typer.echo(
            "note: no articles are stored yet, so every claim is 'nothing in the archive on this'. "
            "Ingest articles first: `assistant ingest PATH`.",
            err=True,
        )
    if as_json:
        _echo_json(report.model_dump())
    else:
        # The evidence lines show "(title, date, passage id)": the date rides on the title for the text view.
        shown = report.model_copy(deep=True)
        for claim in shown.claims:
            for e in claim.evidence:
                e.title = _cited(e.title, e.published)
        typer.echo(render_report(shown))


@stylebook_app.command("add")
def stylebook_add(
    name: Annotated[str, typer.Argument(help="A spelling to accept (never flagged again)")],
    variants: Annotated[list[str] | None, typer.Option("--variant", help="Known wrong spellings of NAME")] = None,
) -> None:
    """Accept a name, or record the preferred spelling with its variants."""
    a = State.assistant()
    if variants:
        a.add_preferred_spelling(name, list(variants), actor=cli_actor())
    else:
        a.accept_spelling(name, actor=cli_actor())
    typer.echo(f"style book updated: {State.settings.stylebook_path}")


@stylebook_app.command("remove")
def stylebook_remove(
    name: Annotated[str, typer.Argument(help="An accepted name, a preferred spelling (with its variants) or a variant")],
) -> None:
    """Undo a style-book entry: the name is checked like any other word again."""
    removed = State.assistant().remove_spelling(name, actor=cli_actor())
    typer.echo(f"removed {'; '.join(removed)} from the style book: {State.settings.stylebook_path}")


@stylebook_app.command("show")
def stylebook_show() -> None:
    """Print the style book."""
    path = State.settings.stylebook_path
    typer.echo(path.read_text() if path.exists() else f"(empty: {path} does not exist yet)")


@app.command("eval")
def eval_suite(
    suite: Annotated[Path, typer.Argument(help="Suite YAML (datasets, tasks, gates), e.g. eval/suites/dev.yaml")],
    baseline: Annotated[Path | None, typer.Option("--baseline", help="An earlier results.json: list items that got worse")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for results.json, report.md (+ PNG) and junit.xml")] = Path("eval-out"),
    record: Annotated[bool, typer.Option("--record", help="Run the model and record its calls into the suite's cache dir")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Replay recorded calls only; no model is loaded, a miss is an error")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar")] = False,
) -> None:
    """Score a suite: ROUGE vs Lead-3, citations, consistency, typos, QA, latency. Exit 1 if a gate fails.

    Without --record or --replay the model runs live (ASSISTANT_LLM__CACHE=auto replays what is recorded).
    """
    if record and replay:
        raise typer.BadParameter("give --record or --replay, not both")
    mode = "record" if record else "replay" if replay else None
    # lazy, as State.assistant
    from assistant.evaluate.run import run_suite

    State.assistant().record_evaluation(str(suite), actor=cli_actor(), mode=mode or "live", out=str(out))
    result = run_suite(suite, out, cache=mode, baseline=baseline, settings=State.settings, progress=not quiet)
    for gate in result.gates:
        typer.echo(gate.message, err=not gate.passed)
    if result.baseline is not None:
        b = result.baseline
        typer.echo(f"baseline: {b.regressed_items} of {b.compared_items} items got worse ({len(b.regressions)} scores)")
    typer.echo(f"reports: {out / 'results.json'}, {out / 'report.md'}, {out / 'junit.xml'}")
    if result.failed:
        names = ", ".join(f"{g.gate} (value {g.value:.4f})" if g.value is not None else g.gate for g in result.failed)
        typer.echo(f"FAILED gates: {names}", err=True)
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point: user errors print their help text and exit 2 (a failed request, 1)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except AssistantError as exc:
        typer.echo(f"error: {redact_text(exc.user_message())}", err=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors
        try:  # typer >= 0.29 vendors click: its exceptions are not `click.ClickException`
            from typer._click.exceptions import ClickException as VendoredClickException
        except ImportError:
            VendoredClickException = click.ClickException
        if isinstance(exc, (click.ClickException, VendoredClickException)):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
