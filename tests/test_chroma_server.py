"""Server mode: a real `chroma run` on loopback, selected by settings."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assistant.service import Assistant
from assistant.settings import ChromaSettings, Settings
from tests.conftest import EXAMPLES, SEED, free_port


@pytest.fixture
def chroma_server(tmp_path):
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    with open(tmp_path / "chroma.log", "w") as log:
        proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(tmp_path / "server-db"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.time() + 60
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"chroma run did not start: {(tmp_path / 'chroma.log').read_text()}") from None
                    time.sleep(0.3)
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.server
def test_ingest_and_search_against_chroma_server(chroma_server, tmp_path):
    settings = Settings(data_dir=tmp_path / "unused", chroma=ChromaSettings(host="127.0.0.1", port=chroma_server))
    assistant = Assistant(settings)
    report = assistant.ingest([SEED, EXAMPLES])
    assert not report.failed and len(report.articles) == 5
    hits = assistant.retriever.search("three-way meeting with the Ukrainian president", k=3)
    assert "three-way meet" in hits[0].passage.text
    # Nothing was written to the embedded store's folder: the server holds the data.
    assert not (tmp_path / "unused" / "chroma").exists()
    again = Assistant(settings)
    assert len(again.store.list_articles()) == 5
    assert again.ingest([SEED]).articles == {"seed-article-putin-trump": "unchanged"}
