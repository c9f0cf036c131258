"""The `openai` backend against a real OpenAI-compatible server: llama-cpp-python's, on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from assistant import models
from assistant.llm import complete_json, get_chat_model, model_name
from assistant.settings import Settings

pytestmark = [pytest.mark.slow, pytest.mark.server]

STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model_ids(base_url: str) -> list[str] | None:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
            return [m["id"] for m in json.load(response)["data"]]
    except OSError:
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    gguf = models.assemble_gguf("0.5b", Settings().model_dir)  # fast when already assembled
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(gguf),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--n_ctx",
                "2048",
                "--n_threads",
                str(os.cpu_count() or 1),
                # prompt log-probabilities (echo) for the support scorer need every token's logits
                "--logits_all",
                "true",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        ids = None
        while ids is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                state = (
                    f"exited with {proc.returncode}"
                    if proc.poll() is not None
                    else "not up in time"
                )
                pytest.fail(f"llama_cpp.server {state}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
            ids = _model_ids(base_url)
        yield base_url, ids[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def chat(server: tuple[str, str]):
    base_url, model = server
    return get_chat_model(
        Settings(
            llm={
                "backend": "openai",
                "base_url": base_url,
                "model": model,
                "max_tokens": 48,
                "cache": "off",
            }
        )
    )


MESSAGES = [
    SystemMessage(content="You are a terse assistant."),
    HumanMessage(content="What is the capital of France? Answer in one short sentence."),
]


def test_completion(chat) -> None:
    reply = chat.invoke(MESSAGES)
    assert "Paris" in reply.content
    assert model_name(chat).endswith(".gguf")


def test_streamed_completion(chat) -> None:
    pieces = [c.content for c in chat.stream(MESSAGES) if c.content]
    assert len(pieces) > 2, "the server streams tokens, not one block"
    assert "Paris" in "".join(pieces)


class Capital(BaseModel):
    country: str
    capital: str


def test_json_schema_through_the_server(chat) -> None:
    # llama-cpp-python's server rejects OpenAI's json_schema format; the adapter falls back to
    # {"type": "json_object", "schema": ...}, which the server turns into a grammar.
    result = complete_json(
        chat,
        [HumanMessage(content="Give the country and capital of France as JSON.")],
        Capital,
        retries=1,
    )
    assert result.capital == "Paris"


SOURCE = (
    "The harbour council met on Tuesday. It approved the new ferry terminal by 19 votes to 12. "
    "The terminal will cost 40 million euros and open in 2027."
)


def test_support_through_the_server(server: tuple[str, str]) -> None:
    from assistant.errors import LLMError
    from assistant.llm_openai import openai_chat

    base_url, model = server
    scorer = openai_chat(base_url, None, model)  # the chat model scores tokens too
    # llama-cpp-python's server echoes a Qwen prompt's log-probabilities one token off (no BOS):
    # the client refuses them rather than scoring with misaligned values
    with pytest.raises(LLMError, match="shifted by one token"):
        scorer.score(SOURCE, "The terminal will cost 40 million euros.")
    # the yes/no judge reads the first reply token's log-probabilities, which the server aligns
    good = scorer.judge(SOURCE, "The terminal will cost 40 million euros.")
    bad = scorer.judge(SOURCE, "The terminal will cost 95 million euros.")
    assert np.isfinite(good) and np.isfinite(bad)
    assert good > bad
