"""`assistant doctor`: finds and repairs what crashes leave behind (real Chroma, real files)."""

from __future__ import annotations

import json
import os
import sqlite3

import numpy as np
import pytest

from assistant import doctor
from tests.conftest import EXAMPLES
from tests.test_cli import run


def _crash_on_switch(monkeypatch, store) -> None:
    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed before the article record was written")

    monkeypatch.setattr(store.articles, "upsert", crash)


def test_healthy_store_has_no_problems(assistant):
    assistant.ingest([EXAMPLES])
    report = doctor.diagnose(assistant)
    assert report.problems == [] and report.healthy
    assert report.articles == 4 and report.passages == assistant.store.count()
    assert "no problems found" in report.render()


def test_doctor_finds_and_repairs_orphans_stale_generations_and_count_mismatches(assistant, tmp_path, monkeypatch):
    assistant.ingest([EXAMPLES])
    # 1. an ingest killed before its first article record: orphans
    ghost = tmp_path / "ghost.txt"
    ghost.write_text("Ghost story\n\nA ghost ship was seen off the northern quay on Monday night.")
    _crash_on_switch(monkeypatch, assistant.store)
    with pytest.raises(KeyboardInterrupt):
        assistant.ingest([ghost])
    # 2. a replace killed before its switch: a stale generation of a stored article
    changed = tmp_path / "budget-approved.txt"
    changed.write_text((EXAMPLES / "budget-approved.txt").read_text().replace("42", "43"))
    with pytest.raises(KeyboardInterrupt):
        assistant.store.put_article(_article(changed).model_copy(update={"source": ""}))
    monkeypatch.undo()
    # 3. a passage lost from the current generation
    lost = assistant.store.passages.get(where={"article_id": "harbour-vote"}, include=[])["ids"][0]
    assistant.store.passages.delete(ids=[lost])

    report = doctor.diagnose(assistant)
    kinds = {(p.kind, p.article_id) for p in report.problems}
    assert kinds == {("orphan", "ghost"), ("stale_generation", "budget-approved"), ("count_mismatch", "harbour-vote")}
    assert not report.healthy and "doctor --repair" in report.render()
    before = {a.id: a.passages for a in assistant.store.list_articles()}

    fixed = doctor.repair(assistant)
    assert fixed.healthy and all(p.repaired for p in fixed.problems) and len(fixed.problems) == 3
    assert doctor.diagnose(assistant).problems == []
    after = {a.id: a.passages for a in assistant.store.list_articles()}
    assert after == before  # nothing stored was lost: harbour-vote was rebuilt from its own text
    assert len(assistant.store.get_passages("harbour-vote")) == after["harbour-vote"]
    assert not assistant.store.passages.get(where={"article_id": "ghost"}, include=[])["ids"]
    assert "ghost ship" not in " ".join(h.passage.text for h in assistant.retriever.search("ghost ship", k=5))
    actions = [(e.action, e.target, e.details.get("problem")) for e in assistant.audit.entries()]
    assert ("repair", "harbour-vote", "count_mismatch") in actions and ("repair", "ghost", "orphan") in actions


def _article(path):
    from assistant.ingest import read_file

    return read_file(path)[0]


def test_doctor_restores_vectors_lost_from_the_index(assistant, settings):
    assistant.ingest([EXAMPLES])
    store = assistant.store
    # Simulate a lost index file: no HNSW data and no log left to rebuild it from.
    db = sqlite3.connect(settings.chroma_dir / "chroma.sqlite3")
    collection = db.execute("select id from collections where name = 'passages'").fetchone()[0]
    segment = db.execute(
        "select id from segments where collection = ? and scope = 'VECTOR'", (collection,)
    ).fetchone()[0]
    db.execute("delete from embeddings_queue where topic like ?", (f"%{collection}",))
    db.commit()
    db.close()
    for name in os.listdir(settings.chroma_dir / segment):
        os.remove(settings.chroma_dir / segment / name)
    store._open(fresh=True)  # as a freshly started process would

    report = doctor.diagnose(assistant)
    assert {p.kind for p in report.problems} == {"missing_vector"}
    assert sum(len(p.records) for p in report.problems) == store.count()
    doctor.repair(assistant)
    store._open(fresh=True)
    assert doctor.diagnose(assistant).problems == []
    hit = assistant.retriever.search("floating berth boats", k=1)[0]
    assert hit.dense_rank is not None  # found by its vector again, not only by BM25


def test_cli_doctor_exit_codes_and_remove_of_orphans(tmp_path):
    data = tmp_path / "d"
    run("--data-dir", str(data), "ingest", "--quiet", str(EXAMPLES / "harbour-vote.txt"))
    assert json.loads(run("--data-dir", str(data), "doctor", "--json").stdout)["healthy"] is True
    # Passages of an article whose record was never written (as a killed ingest leaves them).
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    client = chromadb.PersistentClient(path=str(data / "chroma"), settings=ChromaConfig(anonymized_telemetry=False))
    client.get_collection("passages").add(
        ids=["article-016#p0-00000000@1"],
        embeddings=[np.full(384, 0.05, dtype=np.float32)],
        documents=["Orphan passage text about the harbour."],
        metadatas=[{"article_id": "article-016", "pid": "article-016#p0-00000000", "gen": "1", "index": 0, "start": 0, "end": 10, "tokens": 7}],
    )
    found = run("--data-dir", str(data), "doctor", check=False)
    assert found.returncode == 1 and "orphan article-016" in found.stdout
    removed = run("--data-dir", str(data), "remove", "article-016")
    assert "orphan" in removed.stdout
    assert run("--data-dir", str(data), "doctor").returncode == 0
    audit = [json.loads(line) for line in (data / "audit.jsonl").read_text().splitlines()]
    assert [(e["action"], e["target"], e["via"]) for e in audit] == [
        ("ingest", "harbour-vote", "cli"),
        ("delete", "article-016", "cli"),
    ]
