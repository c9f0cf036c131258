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
                        raise RuntimeError(f"chroma run did not start: {(tmp_path / 'chroma.log').read_text()}")
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


@pytest.mark.server
def test_two_replicas_on_one_chroma_server_follow_each_other(chroma_server, tmp_path):
    """Two app replicas (own data dirs, one `chroma run`): each sees the other's writes and deletes."""
    from assistant.embed import HashingEmbedder

    chroma = ChromaSettings(host="127.0.0.1", port=chroma_server)
    one = Assistant(Settings(data_dir=tmp_path / "one", chroma=chroma), embedder=HashingEmbedder())
    two = Assistant(Settings(data_dir=tmp_path / "two", chroma=chroma), embedder=HashingEmbedder())
    one.ingest([EXAMPLES])
    assert two.retriever.search("Vandermolen", k=1)[0].passage.article_id in {"harbour-vote", "floating-berth-opens"}
    assert two.corpus_names() is two.corpus_names()  # kept in memory while nothing changes
    new = tmp_path / "zanzibar.txt"
    new.write_text("Zanzibar ferry\n\nThe Zanzibar ferry Mkombozi sank near the port on Friday.")
    one.ingest([new])
    # BM25, the article list and the corpus names of replica two follow replica one's write.
    assert two.retriever.search("Mkombozi", k=1)[0].passage.article_id == "zanzibar"
    assert "zanzibar" in {a.id for a in two.store.list_articles()}
    assert two.corpus_names().counts["Mkombozi"] == 1
    new.write_text("Zanzibar ferry\n\nThe Zanzibar ferry Mkombozi was refloated on Sunday.")
    one.ingest([new])
    assert [p.text for p in two.store.get_passages("zanzibar")] == [p.text for p in one.store.get_passages("zanzibar")]
    assert "refloated" in two.store.get_passages("zanzibar")[0].text
    two.remove("zanzibar")
    assert "zanzibar" not in {a.id for a in one.store.list_articles()}
    assert all(h.passage.article_id != "zanzibar" for h in one.retriever.search("Mkombozi", k=5))
