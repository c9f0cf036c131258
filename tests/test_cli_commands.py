"""Every command of the `assistant` CLI has a test that runs it, and the style-book commands run here.

``COMMAND_TESTS`` names, for each command, a test that invokes it (in a subprocess or through
Typer's runner); ``test_every_cli_command_has_a_test_that_runs_it`` walks the real command tree,
so a new command fails until a test of it is listed, and checks that each listed test exists and
names the command in its code.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
import yaml

from assistant.cli import app
from tests.conftest import ROOT

BIN = Path(sys.executable).parent / "assistant"
TESTS = ROOT / "tests"

# command path -> (test file, test function) that runs it through the CLI.
COMMAND_TESTS: dict[str, tuple[str, str]] = {
    "ingest": ("test_cli.py", "test_seed_ingest_then_search_returns_three_way_meet_first"),
    "search": ("test_cli.py", "test_seed_ingest_then_search_returns_three_way_meet_first"),
    "list": ("test_cli.py", "test_list_remove_and_failing_batch_exit_code"),
    "remove": ("test_cli.py", "test_list_remove_and_failing_batch_exit_code"),
    "doctor": ("test_doctor.py", "test_cli_doctor_exit_codes_and_remove_of_orphans"),
    "summarize": ("test_cli.py", "test_summarize_streams_the_selection_then_checked_sentences"),
    "ask": ("test_date_filters.py", "test_ask_since_answers_only_from_the_range_and_cites_title_and_date"),
    "brief": ("test_brief.py", "test_brief_since_and_cli"),
    "check": ("test_check.py", "test_cli_check_json_carries_support_and_suspect_spans"),
    "eval": ("test_evaluate.py", "test_cli_exit_code_names_failing_gate"),
    "stylebook add": ("test_cli_commands.py", "test_stylebook_add_then_show_and_check_uses_it"),
    "stylebook show": ("test_cli_commands.py", "test_stylebook_add_then_show_and_check_uses_it"),
    "stylebook remove": ("test_cli_commands.py", "test_stylebook_remove_undoes_an_accepted_name"),
}


# `python -m eval.support` (research tooling beside the harness), the same way.
SUPPORT_COMMAND_TESTS: dict[str, tuple[str, str]] = {
    name: ("test_eval_support_cli.py", "test_record_then_fit_ablation_and_report_replay_the_recorded_scores")
    for name in ("record", "fit", "ablation", "report")
}


def command_paths(command, prefix: tuple[str, ...] = ()) -> set[str]:
    """Every leaf command under ``command`` (Typer's click-style tree) as "group sub" paths."""
    subcommands = getattr(command, "commands", None)
    if subcommands:
        paths: set[str] = set()
        for name, sub in subcommands.items():
            paths |= command_paths(sub, (*prefix, name))
        return paths
    return {" ".join(prefix)}


def _function_source(file: Path, name: str) -> str | None:
    source = file.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node)
    return None


@pytest.mark.parametrize("which", ["assistant", "eval.support"])
def test_every_cli_command_has_a_test_that_runs_it(which):
    from eval.support import app as support_app

    cli_app, listed = {"assistant": (app, COMMAND_TESTS), "eval.support": (support_app, SUPPORT_COMMAND_TESTS)}[which]
    commands = command_paths(typer.main.get_command(cli_app))
    assert commands == set(listed), (
        f"commands without a listed test: {sorted(commands - set(listed))}; "
        f"listed but gone: {sorted(set(listed) - commands)}"
    )
    for command, (file, function) in listed.items():
        body = _function_source(TESTS / file, function)
        assert body is not None, f"{command}: no test {function} in tests/{file}"
        for word in command.split():
            assert f'"{word}"' in body, f"{command}: {file}::{function} never names {word!r}"


def cli(data: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    proc = subprocess.run(
        [str(BIN), "--data-dir", str(data), *args],
        check=False, capture_output=True, text=True, env=env, timeout=600,
    )
    if check:
        assert proc.returncode == 0, f"{args} exited {proc.returncode}: {proc.stderr}"
    return proc


def test_stylebook_add_then_show_and_check_uses_it(tmp_path):
    data = tmp_path / "data"
    empty = cli(data, "stylebook", "show")
    assert empty.stdout.startswith("(empty: ") and "does not exist yet" in empty.stdout

    added = cli(data, "stylebook", "add", "Zelenskyy", "--variant", "Zelensky", "--variant", "Zelenskiy")
    assert f"style book updated: {data / 'stylebook.yaml'}" in added.stdout
    cli(data, "stylebook", "add", "Vandermoolen")  # a name to accept, never to flag

    shown = yaml.safe_load(cli(data, "stylebook", "show").stdout)
    assert shown == yaml.safe_load((data / "stylebook.yaml").read_text(encoding="utf-8"))
    text = json.dumps(shown)
    assert "Zelenskyy" in text and "Zelensky" in text and "Zelenskiy" in text and "Vandermoolen" in text

    # Both changes are recorded as the person at the terminal.
    actions = [json.loads(line) for line in (data / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["target"], e["via"]) for e in actions] == [
        ("edit_stylebook", "Zelenskyy", "cli"),
        ("accept_spelling", "Vandermoolen", "cli"),
    ]

    # The check reads the style book: a variant is flagged with the preferred spelling.
    draft = tmp_path / "draft.txt"
    draft.write_text("Talks in Kyiv\n\nPresident Zelensky met Piet Vandermoolen in Kyiv on Monday.\n")
    report = json.loads(cli(data, "check", "--file", str(draft), "--json", "--no-support").stdout)
    flags = {t["text"]: t["suggestion"] for t in report["typos"]}
    assert flags.get("Zelensky") == "Zelenskyy", report["typos"]
    assert "Vandermoolen" not in flags

    # A usage error exits 2 with the usage message.
    usage = cli(data, "stylebook", "add", check=False)
    assert usage.returncode == 2 and "Missing argument" in usage.stderr


def test_stylebook_remove_undoes_an_accepted_name(tmp_path):
    """A name accepted by mistake silenced its flag for good: `stylebook remove` takes it back out."""
    data = tmp_path / "data"
    missing = cli(data, "stylebook", "remove", "Zelensky", check=False)
    assert missing.returncode == 2 and "not in the style book" in missing.stderr and "Traceback" not in missing.stderr
    assert not (data / "stylebook.yaml").exists()

    draft = tmp_path / "draft.txt"
    draft.write_text("Talks in Kyiv\n\nPresident Zelensky met the mayor in Kyiv on Monday.\n")

    def flags() -> dict[str, str]:
        report = json.loads(cli(data, "check", "--file", str(draft), "--json", "--no-support").stdout)
        return {t["text"]: t["suggestion"] for t in report["typos"]}

    cli(data, "stylebook", "add", "Zelenskyy", "--variant", "Zelensky")
    assert flags().get("Zelensky") == "Zelenskyy"
    cli(data, "stylebook", "add", "Zelensky")  # the mistake: the variant is now accepted
    assert "Zelensky" not in flags()
    removed = cli(data, "stylebook", "remove", "zelensky")
    assert "removed accepted name 'Zelensky'" in removed.stdout
    assert yaml.safe_load((data / "stylebook.yaml").read_text()) == {"preferred": {"Zelenskyy": []}, "allow": []}
    cli(data, "stylebook", "remove", "Zelenskyy")
    assert yaml.safe_load((data / "stylebook.yaml").read_text()) == {"preferred": {}, "allow": []}
    actions = [json.loads(line) for line in (data / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["target"]) for e in actions][-2:] == [("edit_stylebook", "zelensky"), ("edit_stylebook", "Zelenskyy")]
