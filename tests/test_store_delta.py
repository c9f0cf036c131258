"""Readers catch up with other processes' writes by deltas (issue 21): the writer records what
changed, readers replace just those articles in the catalog, BM25 and the corpus spellings, and
rebuild everything only when the change record is lost."""

from __future__ import annotations

import time

import numpy as np

from assistant.embed import HashingEmbedder
from assistant.retrieve import BM25, LexicalIndex, lexical_tokens
from assistant.service import Assistant
from assistant.store_changes import ChangeLog, change_id
from assistant.typos import CorpusNames
from tests.test_store_discipline import run_in_process


def _write(path, title: str, body: str):
    path.write_text(f"{title}\n\n{body}")
    return path


def _pair(settings):
    """A writer and a long-lived reader on one data dir (two Store objects, as two processes have)."""
    return Assistant(settings, embedder=HashingEmbedder()), Assistant(settings, embedder=HashingEmbedder())


def _lexical_ids(reader: Assistant, query: str) -> list[str]:
    return [h.passage.article_id for h in reader.retriever.search(query, k=5) if h.lexical_rank is not None]


def test_change_log_since_covers_or_asks_for_a_rebuild():
    log = ChangeLog(keep=3)
    assert log.since(-1) == (-1, set())
    log.record(5, None)  # first load
    log.record(6, {"a"})
    log.record(8, {"b", "c"})
    assert log.since(5) == (8, {"a", "b", "c"})
    assert log.since(6) == (8, {"b", "c"})
    assert log.since(8) == (8, set())
    assert log.since(4) == (8, None)  # before the first load: nothing covers it
    log.record(9, {"d"})
    log.record(10, {"e"})  # keep=3: the event 5->6 is dropped
    assert log.since(5) == (10, None)
    assert log.since(6) == (10, {"b", "c", "d", "e"})
    log.record(11, None)
    assert log.since(10) == (11, None)


def test_bm25_after_updates_scores_like_a_fresh_build():
    docs = [
        "The ferry sailed from the harbour on Monday.",
        "Council approves the harbour budget.",
        "A storm closed the harbour and the ferry stayed in port.",
        "Football: the harbour team won on Sunday.",
    ]
    added = ["The ferry returned to the harbour with forty passengers.", "Budget talks at the council stall."]
    bm25 = BM25(docs).updated([(1, docs[1]), (3, docs[3])], added)
    fresh = BM25([docs[0], docs[2], *added])
    for query in ["ferry harbour", "council budget", "football team", "passengers storm"]:
        got = bm25.scores(query)
        want = fresh.scores(query)
        assert got[1] == 0 and got[3] == 0  # removed slots never score
        np.testing.assert_allclose(got[[0, 2, 4, 5]], want, rtol=1e-6)
    assert bm25.n == 4 and bm25.dead == 2
    assert BM25(docs).scores("football")[3] > 0  # the original is left as it was


def test_lexical_index_replaces_an_articles_passages():
    from assistant.types import Passage

    def passage(article: str, i: int, text: str) -> Passage:
        return Passage(id=f"{article}#p{i}", article_id=article, index=i, start=0, end=len(text), text=text, tokens=len(text.split()))

    old = [passage("a", 0, "ferry sank"), passage("b", 0, "council met"), passage("a", 1, "ferry crew")]
    index = LexicalIndex.build(1, old, ["a#p0@g1", "b#p0@g1", "a#p1@g1"])
    fresh = [passage("a", 0, "bridge opened"), passage("c", 0, "ferry returned")]
    new = index.updated(2, {"a", "c"}, [("a#p0@g2", fresh[0]), ("c#p0@g1", fresh[1])])
    assert new.seq == 2 and index.seq == 1
    assert [p.id if p else None for p in new.passages] == [None, "b#p0", None, "a#p0", "c#p0"]
    assert new.slots == {"b": [1], "a": [3], "c": [4]}
    # by record id: a rewritten article's old record is gone, its passage id now names the new text
    assert new.passage("a#p0@g1") is None and new.passage("a#p0@g2") == fresh[0]
    assert new.passage("b#p0@g1") == old[1] and index.passage("a#p0@g1") == old[0]
    scores = new.bm25.scores("ferry")
    assert scores.argmax() == 4 and scores[[0, 2]].tolist() == [0, 0]
    assert lexical_tokens("Putin's ferries") == ["putin", "ferries"]


def test_corpus_names_remove_and_add_match_a_recount():
    texts = {
        "a": "Mayor Okonkwo met Zelenskyy in Kyiv.",
        "b": "Zelenskyy thanked Okonkwo in Lviv.",
        "c": "In Kyiv, Okonkwo spoke.",
    }
    names = CorpusNames.from_articles(texts.items())
    assert names.near("Okonkwoo", 1)  # builds the look-up index, which must follow the changes
    changed = names.copy()
    changed.remove_article("b")
    changed.add_article("c", "In Odesa, Okonkwo and Zelenskyy spoke.")
    changed.add_article("d", "Zelenskyy visited Lviv.")
    recount = CorpusNames.from_articles(
        [("a", texts["a"]), ("c", "In Odesa, Okonkwo and Zelenskyy spoke."), ("d", "Zelenskyy visited Lviv.")]
    )
    assert changed.counts == recount.counts and changed.docs == recount.docs
    assert changed.n_docs == recount.n_docs == 3 and changed.digests == recount.digests
    for word in ["Okonkwoo", "Zelensky", "Kyyiv", "Lvov"]:
        assert sorted(changed.near(word, 2)) == sorted(recount.near(word, 2)), word
    assert names.docs["Okonkwo"] == 3 and names.n_docs == 3  # the copy left the original alone
    again = CorpusNames.from_json(changed.to_json())
    assert again.articles == changed.articles


def test_reader_applies_another_writers_changes_as_deltas(settings, tmp_path):
    writer, reader = _pair(settings)
    first = _write(tmp_path / "ferry.txt", "Ferry", "The Zanzibar ferry Mkombozi left the port of Dar on Monday.")
    writer.ingest([first])
    assert _lexical_ids(reader, "Mkombozi ferry") == ["ferry"]
    assert reader.corpus_names().counts["Mkombozi"] == 1
    assert reader.retriever.rebuilds == 1

    # A new article from the writer: the reader's BM25, catalog and spellings take it in.
    writer.ingest([_write(tmp_path / "bridge.txt", "Bridge", "The Selander bridge in Kalmar reopened on Tuesday.")])
    assert "bridge" in _lexical_ids(reader, "Selander bridge Kalmar")
    assert {a.id for a in reader.store.list_articles()} == {"ferry", "bridge"}
    assert reader.corpus_names().counts["Selander"] == 1

    # A changed article: old words gone, new words found.
    writer.ingest([_write(first, "Ferry", "The Zanzibar ferry Mkombozi returned to Pemba on Friday.")])
    assert _lexical_ids(reader, "Pemba Friday") == ["ferry"]
    assert "ferry" not in _lexical_ids(reader, "Dar Monday port")
    assert reader.corpus_names().counts["Pemba"] == 1 and "Dar" not in reader.corpus_names().counts

    # A removed article: out of the catalog, BM25 and spellings.
    writer.remove("bridge")
    assert _lexical_ids(reader, "Selander bridge Kalmar") == []
    assert {a.id for a in reader.store.list_articles()} == {"ferry"}
    assert "Selander" not in reader.corpus_names().counts
    assert reader.retriever.rebuilds == 1  # every change above was applied as a delta


def test_a_lost_change_record_makes_the_reader_rebuild(settings, tmp_path):
    writer, reader = _pair(settings)
    writer.ingest([_write(tmp_path / "ferry.txt", "Ferry", "The Mkombozi ferry left Dar on Monday.")])
    assert _lexical_ids(reader, "Mkombozi") == ["ferry"]
    names_before = reader.corpus_names()
    writer.ingest([_write(tmp_path / "bridge.txt", "Bridge", "The Selander bridge reopened in Kalmar.")])
    writer.store.state.delete(ids=[change_id(writer.store.seq)])  # the delta is lost
    assert _lexical_ids(reader, "Selander Kalmar") == ["bridge"]
    assert reader.retriever.rebuilds == 2
    names = reader.corpus_names()
    assert names is not names_before and names.counts["Selander"] == 1
    # And the next write is a delta again.
    writer.remove("ferry")
    assert _lexical_ids(reader, "Mkombozi") == []
    assert reader.retriever.rebuilds == 2


def test_reader_follows_a_writer_process_by_deltas(settings, tmp_path):
    reader = Assistant(settings, embedder=HashingEmbedder())
    reader.ingest([_write(tmp_path / "ferry.txt", "Ferry", "The Mkombozi ferry left Dar on Monday.")])
    assert _lexical_ids(reader, "Mkombozi") == ["ferry"]
    run_in_process(
        f"""
        (Path({str(tmp_path)!r}) / "bridge.txt").write_text("Bridge\\n\\nThe Selander bridge reopened in Kalmar.")
        a.ingest([Path({str(tmp_path)!r}) / "bridge.txt"])
        a.remove("ferry")
        """,
        settings.data_dir,
    )
    assert _lexical_ids(reader, "Selander Kalmar") == ["bridge"]
    assert _lexical_ids(reader, "Mkombozi") == []
    # The vector index reloads in the background: the new passage's vector is found once it is done.
    assert reader.store.wait_for_reload()
    assert reader.retriever.search("bridge reopened", k=1)[0].dense_rank is not None
    assert reader.retriever.rebuilds == 1
    assert reader.corpus_names().counts["Selander"] == 1 and "Mkombozi" not in reader.corpus_names().counts


def test_a_new_reader_starts_from_the_saved_index_and_catches_up(settings, tmp_path, monkeypatch):
    """Start-up at archive size: BM25 and the corpus names come from their files in the data dir,
    brought up to date by the change records written since, not rebuilt from every passage."""
    first = Assistant(settings, embedder=HashingEmbedder())
    first.ingest([_write(tmp_path / "ferry.txt", "Ferry", "The Mkombozi ferry left Dar on Monday.")])
    assert _lexical_ids(first, "Mkombozi") == ["ferry"] and first.retriever.rebuilds == 1
    first.corpus_names()
    for _ in range(100):  # the snapshot is written in the background
        if (settings.data_dir / "bm25-index.pkl").exists():
            break
        time.sleep(0.05)
    first.ingest([_write(tmp_path / "bridge.txt", "Bridge", "The Selander bridge reopened in Kalmar.")])
    first.remove("ferry")

    from assistant import check

    recounts = []
    monkeypatch.setattr(check.CorpusNames, "from_articles", classmethod(lambda cls, items: recounts.append(1) or cls()))
    second = Assistant(settings, embedder=HashingEmbedder())
    assert _lexical_ids(second, "Selander Kalmar") == ["bridge"]
    assert _lexical_ids(second, "Mkombozi") == []
    assert second.retriever.rebuilds == 0  # loaded, then the two writes applied as deltas
    names = second.corpus_names()
    assert not recounts and names.counts["Selander"] == 1 and "Mkombozi" not in names.counts

    # Change records gone (a reader far behind): both are built from the store again.
    monkeypatch.undo()
    first.store.state.delete(where={"seq": {"$gte": 0}})
    first.ingest([_write(tmp_path / "quay.txt", "Quay", "The Stenqvist quay was closed in Visby.")])
    third = Assistant(settings, embedder=HashingEmbedder())
    assert _lexical_ids(third, "Stenqvist Visby") == ["quay"]
    assert third.retriever.rebuilds == 1
    assert third.corpus_names().counts["Stenqvist"] == 1


def test_a_reloaded_vector_index_frees_the_old_client_at_once(settings, tmp_path):
    """chromadb's System holds reference cycles: a client replaced by a reload was freed only by a
    rare full collection (at 100k passages, ~285 MB more after every write by another process)."""
    import gc
    import weakref

    reader = Assistant(settings, embedder=HashingEmbedder())
    reader.ingest([_write(tmp_path / "ferry.txt", "Ferry", "The Mkombozi ferry left Dar on Monday.")])
    gc.disable()  # as on a large heap, where a full collection comes rarely: nothing frees it by chance
    try:
        for _ in range(2):
            old = weakref.ref(reader.store.client._server)  # the System's API, with the index cache
            reader.store._reload_in_background()
            assert reader.store.wait_for_reload()
            assert reader.retriever.search("Mkombozi ferry", k=1)[0].dense_rank is not None
            assert old() is None
        old = weakref.ref(reader.store.client._server)
        reader.store._open(fresh=True)  # the foreground reopen (writers, repairs)
        assert old() is None
    finally:
        gc.enable()
