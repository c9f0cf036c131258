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
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"")
    proc = run("--data-dir", data, "ingest", "--quiet", str(bad), str(SEED), check=False)
    assert proc.returncode == 1
    assert "bad.txt" in proc.stderr and "empty" in proc.stderr
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
