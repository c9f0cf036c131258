"""Shared fixtures: real Chroma in a temp dir, a fast deterministic embedder, the sample data."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from assistant.embed import HashingEmbedder
from assistant.service import Assistant
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# The labelled dev sets: ASSISTANT_EVAL_DATA_DIR, default ../shared/eval-data beside the repo (as CI lays it out).
EVAL_DATA = Settings().eval_data_dir
SEED = EVAL_DATA / "seed-article-putin-trump.txt"
EXAMPLES = ROOT / "examples" / "articles"


def eval_file(name: str) -> Path:
    """A dev data file from the eval data folder; a missing one fails the test (never a silent skip)."""
    path = EVAL_DATA / name
    if not path.is_file():
        pytest.fail(
            f"dev data {path} is missing: the tests need the shared eval data beside the repo "
            "(../shared/eval-data, as CI lays it out; or set ASSISTANT_EVAL_DATA_DIR)",
            pytrace=False,
        )
    return path


class CountingEmbedder(HashingEmbedder):
    """HashingEmbedder that records how many texts it embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def embed(self, texts):
        self.calls.append(len(texts))
        return super().embed(texts)


REPO_AUDIT = ROOT / "data" / "audit.jsonl"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


@pytest.fixture(autouse=True)
def _default_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Commands and Settings() without --data-dir (e.g. `assistant eval`, which audits the run) use a
    temp dir, never ./data or a developer's ASSISTANT_DATA_DIR; a test may set its own. A test that
    still appends to the repository's ./data/audit.jsonl (a subprocess given an env without
    ASSISTANT_DATA_DIR, run in the repository) fails."""
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "default-data"))
    before = _size(REPO_AUDIT)
    yield
    grown = _size(REPO_AUDIT) - before
    if grown > 0:
        pytest.fail(
            f"the test appended {grown} bytes to {REPO_AUDIT}: give its commands --data-dir or "
            "ASSISTANT_DATA_DIR in a temp dir",
            pytrace=False,
        )


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Default settings in a temp data dir; a developer's ASSISTANT_* variables never reach a test
    (Settings() and CLI calls in the test use the same temp data dir)."""
    for name in [n for n in os.environ if n.startswith("ASSISTANT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    return Settings(data_dir=tmp_path / "data")


def fake_support_scorer():
    """A support scorer on FakeScoringModel (a word absent from the source is improbable),
    with fixed one-feature weights: the real scorer's code path, no model."""
    from assistant.support import SupportScorer
    from assistant.support.calibrate import Calibrated
    from assistant.testing import FakeScoringModel

    weights = Calibrated(features=["pmi_min"], mean=[-4.0], scale=[2.0], coef=[3.0], intercept=0.0)
    return SupportScorer(FakeScoringModel(), weights)


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def assistant(settings: Settings, embedder: CountingEmbedder) -> Assistant:
    return Assistant(settings, embedder=embedder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
