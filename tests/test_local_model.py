"""Local GGUF model: assembly from wheel parts (fast, fake parts) and the real 1.5B (slow)."""

from __future__ import annotations

import hashlib
import sys
import time
import types
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel

from assistant import models
from assistant.errors import ModelMissingError
from assistant.llm import LlamaCppChat, complete_json, load_llama, model_name
from assistant.prompts import NO_ANSWER, render
from assistant.settings import Settings

# --------------------------------------------------------------------------- assembly (fast)


@pytest.fixture
def fake_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> models.Preset:
    blobs = [b"GGUF" + bytes(range(256)) * 3, b"middle" * 1000, b"end"]
    names = []
    for i, blob in enumerate(blobs, 1):
        part = tmp_path / "wheels" / f"part{i:02d}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(blob)
        name = f"fake_model_part{i}"
        module = types.ModuleType(name)
        module.get_part_path = lambda p=part: str(p)
        monkeypatch.setitem(sys.modules, name, module)
        names.append(name)
    whole = b"".join(blobs)
    preset = models.Preset(
        "tiny", "tiny.gguf", tuple(names), hashlib.sha256(whole).hexdigest(), len(whole)
    )
    monkeypatch.setitem(models.PRESETS, "tiny", preset)
    return preset


def test_pinned_presets_are_complete() -> None:
    assert set(models.PRESETS) == {"1.5b", "0.5b"}
    assert models.PRESETS["1.5b"].sha256.startswith("cc324af0")
    for preset in models.PRESETS.values():
        assert len(preset.sha256) == 64 and preset.filename.endswith(".gguf")
    assert len(models.PRESETS["1.5b"].packages) == 22 and len(models.PRESETS["0.5b"].packages) == 6


def test_assemble_concatenates_verifies_and_is_idempotent(
    fake_preset: models.Preset, tmp_path: Path
) -> None:
    out = tmp_path / "models"
    path = models.assemble_gguf("tiny", out)
    assert path == models.gguf_path("tiny", out) == out / "tiny.gguf"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == fake_preset.sha256
    assert models.verify("tiny", out)
    assert [p.name for p in out.iterdir()] == ["tiny.gguf"]  # no temp file left behind

    mtime = path.stat().st_mtime_ns
    assert models.assemble_gguf("tiny", out) == path
    assert path.stat().st_mtime_ns == mtime  # second run skips the work


def test_corrupt_file_of_the_right_size_is_caught_by_verify_and_repaired(
    fake_preset: models.Preset, tmp_path: Path
) -> None:
    path = models.assemble_gguf("tiny", tmp_path)
    path.write_bytes(b"X" * fake_preset.size)
    assert models.is_assembled("tiny", tmp_path) and not models.verify("tiny", tmp_path)
    models.assemble_gguf("tiny", tmp_path, force_verify=True)
    assert models.verify("tiny", tmp_path)


def test_wrong_hash_is_refused_and_leaves_nothing(
    fake_preset: models.Preset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        models.PRESETS,
        "tiny",
        models.Preset("tiny", "tiny.gguf", fake_preset.packages, "0" * 64, fake_preset.size),
    )
    with pytest.raises(ModelMissingError, match="expected 0000"):
        models.assemble_gguf("tiny", tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_part_package_names_make_models(
    fake_preset: models.Preset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        models.PRESETS,
        "tiny",
        models.Preset(
            "tiny",
            "tiny.gguf",
            (*fake_preset.packages, "no_such_model_part_pkg"),
            fake_preset.sha256,
            1,
        ),
    )
    with pytest.raises(ModelMissingError, match="no_such_model_part_pkg") as info:
        models.assemble_gguf("tiny", tmp_path)
    assert "make models" in info.value.help
    with pytest.raises(ModelMissingError) as info:
        models.require_gguf("tiny", tmp_path)
    assert "make models" in info.value.help


def test_unknown_preset() -> None:
    with pytest.raises(ModelMissingError, match="unknown model preset"):
        models.gguf_path("7b", Path("."))


def test_setup_models_cli_is_idempotent(
    fake_preset: models.Preset,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    from assistant import setup_models, tokens

    monkeypatch.setattr(tokens, "install_bpe_files", lambda: tmp_path / "bpe")
    assert setup_models.main(["--preset", "tiny", "--model-dir", str(tmp_path)]) == 0
    assert "assembled and verified" in capsys.readouterr().out
    assert setup_models.main(["--preset", "tiny", "--model-dir", str(tmp_path)]) == 0
    assert "already present" in capsys.readouterr().out
    assert setup_models.main(["--preset", "tiny", "--model-dir", str(tmp_path), "--verify"]) == 0
    assert "verified sha256" in capsys.readouterr().out


# --------------------------------------------------------------------------- the real model (slow)


class Headline(BaseModel):
    city: str
    year: int
    topic: str


@pytest.fixture(scope="module")
def chat() -> LlamaCppChat:
    settings = Settings()
    path = models.assemble_gguf("1.5b", settings.model_dir)  # fast when already assembled
    return LlamaCppChat(model_path=str(path), n_ctx=2048, max_tokens=128)


@pytest.mark.slow
def test_real_model_returns_schema_valid_json(chat: LlamaCppChat) -> None:
    messages = [
        SystemMessage(content="You extract facts from news text. Reply with JSON only."),
        HumanMessage(
            content=(
                "Text: <passage>In 2023 the city council of Lyon approved a new tram line."
                "</passage>\n"
                "Give the city, the year and the topic."
            )
        ),
    ]
    headline = complete_json(
        chat, messages, Headline, retries=0
    )  # the grammar makes retries unneeded
    assert headline.city == "Lyon" and headline.year == 2023
    assert model_name(chat) == "local/qwen2.5-coder-1.5b-instruct-q4_k_m"


@pytest.mark.slow
def test_real_model_streams_tokens_and_is_deterministic(chat: LlamaCppChat) -> None:
    messages = [HumanMessage(content="Name three colours of the rainbow, separated by commas.")]
    start = time.perf_counter()
    chunks, first = [], None
    for chunk in chat.stream(messages, max_tokens=24):
        if chunk.content and first is None:
            first = time.perf_counter() - start
        chunks.append(chunk.content)
    pieces = [c for c in chunks if c]
    assert len(pieces) >= 3, "tokens arrive one by one, not as a single block"
    assert first is not None and first < 30
    assert "".join(pieces) == chat.invoke(messages, max_tokens=24).content  # greedy: same text


@pytest.mark.slow
def test_real_model_follows_the_ask_prompt(chat: LlamaCppChat) -> None:
    passages = [
        {
            "id": "a1-p0",
            "text": "The Elm Street bridge in Leeds reopened on 3 May 2024 "
            "after two years of repairs.",
        },
        {"id": "a1-p1", "text": "The repairs cost £12 million, the council said."},
    ]
    answer = chat.invoke(
        render("ask", question="How much did the repairs cost?", passages=passages)
    ).content
    assert "12 million" in answer and "[2]" in answer
    none = chat.invoke(
        render("ask", question="Who won the 1998 World Cup?", passages=passages)
    ).content
    assert NO_ANSWER.rstrip(".").lower() in none.lower()


@pytest.mark.slow
def test_model_is_loaded_once_per_process(chat: LlamaCppChat) -> None:
    other = LlamaCppChat(model_path=chat.model_path, n_ctx=chat.n_ctx, temperature=0.5)
    assert other._llama()[0] is chat._llama()[0] is load_llama(chat.model_path, chat.n_ctx)[0]


@pytest.mark.slow
def test_contexts_of_other_sizes_share_the_loaded_weights(chat: LlamaCppChat) -> None:
    """The fuse writer's smaller context runs on the chat model's weights, not a second copy."""

    def anon_mb() -> int:
        line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("RssAnon"))
        return int(line.split()[1]) // 1024

    big, _ = chat._llama()
    before = anon_mb()
    small, _ = load_llama(chat.model_path, 1024)
    assert small is not big and small.n_ctx() == 1024
    assert small.model is big.model  # the same llama_model pointer

    def reply(llama) -> str:
        llama.reset()  # read the prompt whole, not after a prefix an earlier test left cached
        return llama.create_chat_completion(
            messages=[{"role": "user", "content": "Name one colour."}], max_tokens=6, temperature=0
        )["choices"][0]["message"]["content"]

    assert reply(big) == reply(small)  # greedy decoding on the same weights writes the same
    assert anon_mb() - before < 300  # a context and its buffers, not another 1.2 GB of weights
