"""The `assistant` command end to end, in a subprocess, with the real MiniLM model and Chroma."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, SEED

BIN = Path(sys.executable).parent / "assistant"


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OPENAI_"))}
    proc = subprocess.run([str(BIN), *args], check=False, capture_output=True, text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr}")
    return proc


def test_seed_ingest_then_search_returns_three_way_meet_first(tmp_path):
    data = str(tmp_path / "x")
    out = run("--data-dir", data, "ingest", "--quiet", str(SEED))
    assert "1 article(s) added" in out.stdout
    hits = json.loads(run("--data-dir", data, "search", "three-way meeting with the Ukrainian president", "--json").stdout)
    assert "three-way meet" in hits[0]["text"]
    assert hits[0]["article_id"] == "seed-article-putin-trump"
    assert {"passage_id", "score", "dense_score", "lexical_score"} <= set(hits[0])
    again = run("--data-dir", data, "ingest", "--quiet", str(SEED))
    assert "1 unchanged" in again.stdout and "0 passage(s) written" in again.stdout


def test_list_remove_and_failing_batch_exit_code(tmp_path):
    data = str(tmp_path / "x")
    run("--data-dir", data, "ingest", "--quiet", str(EXAMPLES))
    listed = json.loads(run("--data-dir", data, "list", "--json").stdout)
    assert len(listed) == 4 and all(a["passages"] >= 1 for a in listed)
    shown = run("--data-dir", data, "list").stdout
    assert "\t1 passage\t" in shown and "\t1 passages\t" not in shown, shown
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    proc = run("--data-dir", data, "ingest", "--quiet", str(bad), str(SEED), check=False)
    assert proc.returncode == 1
    assert "bad.txt" in proc.stderr and "empty" in proc.stderr
    # Without --quiet too, a log (stderr not a terminal) gets plain lines: no progress bar's \r or cursor codes.
    logged = run("--data-dir", data, "ingest", str(bad), check=False)
    assert logged.returncode == 1 and f"FAILED {bad}: file is empty" in logged.stderr.splitlines(), repr(logged.stderr)
    assert "\r" not in logged.stderr and "\x1b[" not in logged.stderr
    assert "1 article(s) added" in proc.stdout
    run("--data-dir", data, "remove", "harbour-vote")
    proc = run("--data-dir", data, "remove", "harbour-vote", check=False)
    assert proc.returncode == 2 and "assistant list" in proc.stderr
    assert len(json.loads(run("--data-dir", data, "list", "--json").stdout)) == 4


def test_tiktoken_works_offline_in_venv(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TIKTOKEN_CACHE_DIR"}
    # An unreachable proxy makes any download attempt fail fast.
    env.update(HTTPS_PROXY="http://127.0.0.1:9", HTTP_PROXY="http://127.0.0.1:9", TMPDIR=str(tmp_path))
    code = "import tiktoken; print(len(tiktoken.get_encoding('cl100k_base').encode('offline newsroom')), tiktoken.get_encoding('o200k_base').n_vocab)"
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[1] == "200019"



def _record_fuse_reply(cache_dir: Path, path: Path, n: int, reply: str) -> list[str]:
    """The fuse model's reply for ``path`` written into a replay cache, as `--record` would; returns the selection."""
    from assistant.embed import default_embedder
    from assistant.extract import select_sentences
    from assistant.fuse import TOKENS_PER_SENTENCE, fuse_messages
    from assistant.ingest import make_article, read_file, split_passages
    from assistant.llm import get_chat_model, request_key, write_entry
    from assistant.settings import LLMSettings, Settings

    # What `summarize --file` does: the file's text as an unstored draft.
    article = make_article(read_file(path)[0].raw, "draft")
    sources = select_sentences(article, split_passages(article), n, default_embedder())
    settings = Settings(llm=LLMSettings(cache="replay", cache_dir=cache_dir))
    chat = get_chat_model(settings, purpose="fuse")
    request = chat.request(fuse_messages(sources, n), max_tokens=TOKENS_PER_SENTENCE * n + 32)
    write_entry(cache_dir, request_key(request), request, {"text": reply, "usage": None}, "local/test")
    return [s.text for s in sources]


def test_summarize_streams_the_selection_then_checked_sentences(tmp_path):
    cache = tmp_path / "cache"
    selected = _record_fuse_reply(
        cache,
        SEED,
        2,
        "[1] Trump said there was a good chance he could meet the Russian and Ukrainian leaders.\n"
        "[2] Zelenskyy agreed to meet Putin on the Moon.",
    )
    env = {
        "ASSISTANT_LLM__CACHE": "replay",
        "ASSISTANT_LLM__CACHE_DIR": str(cache),
        "ASSISTANT_SUMMARY__SUPPORT": "false",
        "ASSISTANT_MODEL_DIR": str(tmp_path / "no-models"),  # replay: no model is loaded
    }
    proc = subprocess.run(
        [str(BIN), "--data-dir", str(tmp_path / "d"), "summarize", "--file", str(SEED), "-n", "2"],
        check=False, capture_output=True, text=True, timeout=600, env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # The selection comes first, then the summary lines, then the cited sentences.
    assert out.index("Selected sentences") < out.index(selected[0]) < out.index("Summary:")
    summary = out[out.index("Summary:") :]
    assert "- Trump said there was a good chance" in summary and "[1]" in summary
    # The invented sentence is replaced by its source sentence, labelled, with the reason.
    assert "[article's sentence]" in summary and "Moon" in summary.split("Replaced model sentences:")[1]
    data = json.loads(
        subprocess.run(
            [str(BIN), "--data-dir", str(tmp_path / "d"), "summarize", "--file", str(SEED), "-n", "2", "--json"],
            check=True, capture_output=True, text=True, timeout=600, env={**os.environ, **env},
        ).stdout
    )
    assert data["strategy"] == "extract_fuse" and [s["text"] for s in data["sources"]] == selected
    assert [s["origin"] for s in data["sentences"]] == ["model", "source"]
    extractive = run("--data-dir", str(tmp_path / "d"), "summarize", "--file", str(SEED), "-n", "2",
                     "--strategy", "extractive", "--json")
    assert [s["text"] for s in json.loads(extractive.stdout)["sentences"]] == selected


def test_usage_errors_print_the_usage_message_and_exit_2(tmp_path):
    """Unknown option, unknown command, missing argument, bad value, a command's own BadParameter:
    click's short usage message, no traceback, exit code 2 (typer >= 0.29 raises its vendored click's
    exceptions, which `click.ClickException` does not match)."""
    data = str(tmp_path / "d")
    cases = {
        ("--data-dir", data, "ingest", "--bogus"): "No such option: --bogus",
        ("--data-dir", data, "frobnicate"): "No such command 'frobnicate'",
        ("--data-dir", data, "search"): "Missing argument",
        ("--data-dir", data, "search", "harbour", "-k", "many"): "Invalid value for '-k'",
        ("--data-dir", data, "summarize"): "give either ARTICLE_ID or --file PATH",
        # -k 0 used to mean "the default" and -k -3 "all but the last 3 candidates"
        ("--data-dir", data, "search", "harbour", "-k", "0"): "Invalid value for '-k'",
        ("--data-dir", data, "search", "harbour", "-k", "-3"): "Invalid value for '-k'",
        ("--data-dir", data, "ask", "Who floated a meeting?", "-k", "0"): "Invalid value for '-k'",
        ("--data-dir", data, "search", "  "): "the query is empty",
        # it was "Check the file or text and try again", about a question
        ("--data-dir", data, "ask", ""): "the question is empty",
    }
    for args, message in cases.items():
        proc = run(*args, check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 2, (args, output)
        assert "Traceback" not in output, (args, output)
        assert message in proc.stderr and "Usage: assistant" in proc.stderr, (args, output)


def test_a_data_dir_that_is_a_file_is_a_usage_error_not_a_traceback(tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder")
    for data, env in ((str(afile), {}), (str(afile / "sub"), {}), (None, {"ASSISTANT_DATA_DIR": str(afile)})):
        args = ("list",) if data is None else ("--data-dir", data, "list")
        proc = subprocess.run([str(BIN), *args], check=False, capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
        assert proc.returncode == 2, (args, proc.stdout + proc.stderr)
        assert "Traceback" not in proc.stderr and "FileExistsError" not in proc.stderr, proc.stderr
        assert "Invalid value for '--data-dir'" in proc.stderr and f"{afile} is a file" in proc.stderr, proc.stderr
    assert afile.read_text() == "not a folder"
    # the default ./data a file in the working folder: not blamed on ASSISTANT_DATA_DIR, which is unset
    (tmp_path / "data").write_text("not a folder")
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_DATA_DIR"}
    proc = subprocess.run([str(BIN), "list"], check=False, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2 and "data (the default) cannot be the data folder" in proc.stderr, proc.stderr


def test_check_and_summarize_file_errors_name_the_file(tmp_path):
    """A missing --file or a folder is a usage error; a file read_file rejects is named in the error."""
    data = str(tmp_path / "d")
    missing, empty = tmp_path / "nowhere.txt", tmp_path / "draft.txt"
    empty.write_text("")
    for command in ("check", "summarize"):
        for path, message in ((missing, "does not exist"), (tmp_path, "is a directory"), (empty, f"{empty}: file is empty")):
            proc = run("--data-dir", data, command, "--file", str(path), check=False)
            assert proc.returncode == 2, (command, path, proc.stdout + proc.stderr)
            assert message in proc.stderr and str(path) in proc.stderr, proc.stderr
            assert "Traceback" not in proc.stderr


def test_check_on_an_empty_archive_says_so_and_still_flags_names(tmp_path):
    """Claims have nothing to be checked against: the check says so (and how to ingest), exit 0 with
    its typo flags, since the spelling check needs no archive."""
    draft = tmp_path / "draft.txt"
    draft.write_text("Mr Zeelenskyy met Mr Trump on Friday. The summit lasted three hours.\n")
    proc = run("--data-dir", str(tmp_path / "d"), "check", "--file", str(draft), "--no-support", "--json", check=False)
    assert proc.returncode == 0, proc.stderr
    assert "no articles are stored yet" in proc.stderr and "assistant ingest PATH" in proc.stderr
    report = json.loads(proc.stdout)
    assert any(t["suggestion"] == "Zelenskyy" for t in report["typos"]), report["typos"]
    stored = tmp_path / "s"
    run("--data-dir", str(stored), "ingest", "--quiet", str(SEED))
    proc = run("--data-dir", str(stored), "check", "--file", str(draft), "--no-support", "--json")
    assert "no articles are stored" not in proc.stderr


def test_version_prints_the_package_version_and_exits_0():
    import tomllib
    from importlib.metadata import version

    proc = run("--version", check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"assistant {version('newsroom-assistant')}"
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert proc.stdout.strip() == f"assistant {pyproject['project']['version']}"


def test_version_falls_back_to_pyproject_when_the_package_is_not_installed(monkeypatch):
    from importlib.metadata import PackageNotFoundError

    from assistant import cli

    def not_installed(name):
        raise PackageNotFoundError(name)

    import tomllib

    monkeypatch.setattr(cli, "metadata_version", not_installed)
    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    assert cli._version() == pyproject["project"]["version"]


def test_ask_and_search_on_an_empty_archive_say_nothing_is_stored_and_exit_1(tmp_path):
    data = str(tmp_path / "empty")
    for args in (
        ("ask", "Who floated a three-way meeting?", "--no-support"),
        ("search", "three-way meeting"),
        ("search", "three-way meeting", "--json"),
    ):
        proc = run("--data-dir", data, *args, check=False)
        assert proc.returncode == 1, (args, proc.stdout + proc.stderr)
        assert "no articles are stored" in proc.stderr and "assistant ingest PATH" in proc.stderr, args
        assert "do not answer" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
        assert proc.stdout == "", args
