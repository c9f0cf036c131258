"""The real local model end to end through the CLI: summarize, ask, and replay without the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SEED

BIN = Path(sys.executable).parent / "assistant"
pytestmark = pytest.mark.slow


def cli(*args: str, env: dict[str, str] | None = None) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "OPENAI_", "ASSISTANT_"))}
    proc = subprocess.run([str(BIN), *args], check=False, capture_output=True, text=True, env={**base, **(env or {})}, timeout=900)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


def test_summarize_file_with_local_model_then_replay_without_it(data, tmp_path):
    cache = {"ASSISTANT_LLM__CACHE": "record", "ASSISTANT_LLM__CACHE_DIR": str(tmp_path / "cache")}
    first = cli("--data-dir", str(data), "summarize", "--file", str(SEED), "--json", env=cache)
    assert first["model"].startswith("local/qwen2.5-coder-1.5b")
    assert not first["extractive_fallback"]
    assert len(first["sentences"]) >= 3
    from assistant.ingest import read_file, split_passages

    article = read_file(SEED)[0]
    ids = {p.id for p in split_passages(article)}
    ids = {i.replace(article.id, "draft", 1) for i in ids}
    for s in first["sentences"]:
        assert s["verdict"] in {"supported", "unsupported"} and s["reason"]
        for c in s["citations"]:
            assert c["passage_id"] in ids, c
    assert sum(s["verdict"] == "supported" for s in first["sentences"]) >= 2
    # Replay only, with the model folder pointed at nothing: identical output, no model call.
    replay = {**cache, "ASSISTANT_LLM__CACHE": "replay", "ASSISTANT_MODEL_DIR": str(tmp_path / "no-models")}
    second = cli("--data-dir", str(data), "summarize", "--file", str(SEED), "--json", env=replay)
    assert second == first


def test_ask_cites_the_witkoff_passage(data):
    subprocess.run([str(BIN), "--data-dir", str(data), "ingest", "--quiet", str(SEED)], check=True, timeout=300)
    answer = cli("--data-dir", str(data), "ask", "Who floated a three-way meeting?", "--json")
    assert answer["answered"]
    assert "Witkoff" in answer["answer"]
    assert answer["citations"]
    from assistant.service import Assistant
    from assistant.settings import Settings

    passages = {p.id: p for p in Assistant(Settings(data_dir=data)).store.get_passages("seed-article-putin-trump")}
    assert any("Witkoff" in passages[c["passage_id"]].text for c in answer["citations"])
