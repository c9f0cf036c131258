"""Real Chroma (embedded, temp dir): ingest, skip unchanged, replace changed, remove, bad files keep data."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.embed import HashingEmbedder
from assistant.errors import NotFoundError, StoreError
from assistant.ingest import make_article
from assistant.service import Assistant
from assistant.store import Store
from tests.conftest import EXAMPLES, SEED


def test_ingest_sample_corpus(assistant):
    report = assistant.ingest([EXAMPLES])
    assert not report.failed
    ids = {a.id for a in assistant.store.list_articles()}
    assert {"budget-approved", "harbour-vote", "study-published", "floating-berth-opens"} <= ids
    passages = assistant.store.get_passages("budget-approved")
    assert passages and all(p.article_id == "budget-approved" for p in passages)
    assert assistant.store.count() == sum(a.passages for a in assistant.store.list_articles())


def test_reingest_unchanged_embeds_nothing(assistant, embedder):
    assistant.ingest([SEED])
    before = sum(embedder.calls)
    report = assistant.ingest([SEED])
    assert report.articles == {"seed-article-putin-trump": "unchanged"}
    assert sum(embedder.calls) == before


def test_changed_file_replaces_old_passages(assistant, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Headline one\n\nThe council met on Monday. It approved the plan.\n")
    assistant.ingest([path])
    old = {p.id for p in assistant.store.get_passages("story")}
    path.write_text("Headline one\n\nThe council met on Tuesday. It rejected the plan.\n")
    report = assistant.ingest([path])
    assert report.articles["story"] == "replaced"
    new = assistant.store.get_passages("story")
    assert {p.id for p in new}.isdisjoint(old)
    assert "Tuesday" in new[0].text
    assert assistant.store.count() == len(new)


def test_remove_article(assistant):
    assistant.ingest([EXAMPLES])
    n = assistant.store.remove("harbour-vote")
    assert n >= 1
    assert "harbour-vote" not in {a.id for a in assistant.store.list_articles()}
    assert not assistant.store.get_passages("harbour-vote")
    with pytest.raises(NotFoundError):
        assistant.store.remove("harbour-vote")


def test_bad_files_reported_rest_ingested_stored_data_kept(assistant, tmp_path, monkeypatch):
    assistant.ingest([SEED])
    stored_before = {p.id for p in assistant.store.get_passages("seed-article-putin-trump")}
    batch = tmp_path / "batch"
    batch.mkdir()
    (batch / "empty.txt").write_bytes(b"")
    (batch / "binary.txt").write_bytes(b"\x00\xff\x00 binary")
    (batch / "latin1.txt").write_bytes("caf\u00e9".encode("latin-1"))
    (batch / "huge.txt").write_text("big " * 5000)
    (batch / "locked.txt").write_text("This file cannot be read.")
    (batch / "good.txt").write_text("Good story\n\nThe harbour reopened on Friday after repairs.")
    # A file that becomes unreadable (root ignores chmod, so simulate the OS refusing the read).
    real_read = Path.read_bytes

    def read_bytes(self):
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assistant.settings.ingest.max_file_bytes = 10_000
    # The stored seed article is re-sent with a broken copy under the same name: it must survive.
    broken_seed = batch / "seed-article-putin-trump.txt"
    broken_seed.write_bytes(b"\x00\x00")
    report = assistant.ingest([batch, tmp_path / "missing.txt"])
    errors = {Path(f.path).name: f.error for f in report.failed}
    assert set(errors) == {"empty.txt", "binary.txt", "latin1.txt", "huge.txt", "locked.txt", "seed-article-putin-trump.txt", "missing.txt"}
    assert "empty" in errors["empty.txt"]
    assert "binary" in errors["binary.txt"]
    assert "UTF-8" in errors["latin1.txt"]
    assert "over the limit" in errors["huge.txt"]
    assert "Permission denied" in errors["locked.txt"]
    assert "no such file" in errors["missing.txt"]
    assert report.articles == {"good": "added"}
    assert {p.id for p in assistant.store.get_passages("seed-article-putin-trump")} == stored_before


def test_failed_embedding_keeps_old_passages(assistant, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Headline\n\nThe mayor opened the bridge on Monday.")
    assistant.ingest([path])
    old = {p.id for p in assistant.store.get_passages("story")}

    class Broken(HashingEmbedder):
        def embed(self, texts):
            raise RuntimeError("embedding backend crashed")

    assistant.store.embedder = Broken()
    path.write_text("Headline\n\nThe mayor closed the bridge on Tuesday.")
    report = assistant.ingest([path])
    assert "embedding backend crashed" in report.failed[0].error
    assert {p.id for p in assistant.store.get_passages("story")} == old


def test_store_refuses_other_embedder(settings):
    Store(settings, HashingEmbedder(dim=256))

    class Other(HashingEmbedder):
        name = "other-embedder"

    with pytest.raises(StoreError, match="other-embedder"):
        Store(settings, Other())


def test_data_persists_across_clients(settings, embedder):
    Assistant(settings, embedder=embedder).ingest([SEED])
    again = Assistant(settings, embedder=embedder)
    assert [a.id for a in again.store.list_articles()] == ["seed-article-putin-trump"]
    article = again.store.get_article("seed-article-putin-trump")
    assert "Zeelenskyy" in article.text


def test_hybrid_search_finds_rare_name(assistant):
    assistant.ingest([EXAMPLES, SEED])
    hits = assistant.retriever.search("Vandermolen", k=3)
    assert hits[0].passage.text.count("Vandermolen") >= 1
    assert hits[0].lexical_rank is not None and hits[0].lexical_rank <= 1
    excluded = assistant.retriever.search("Vandermolen", k=5, exclude_articles=["harbour-vote", "floating-berth-opens"])
    assert all(h.passage.article_id not in {"harbour-vote", "floating-berth-opens"} for h in excluded)
    only = assistant.retriever.search("budget", k=5, only_article="budget-approved")
    assert only and all(h.passage.article_id == "budget-approved" for h in only)


def test_search_sees_new_articles_in_same_process(assistant, tmp_path):
    assistant.ingest([SEED])
    assistant.retriever.search("Putin")
    path = tmp_path / "new.txt"
    path.write_text("Zanzibar ferry\n\nThe Zanzibar ferry sank near the port.")
    assistant.ingest([path])
    assert assistant.retriever.search("Zanzibar ferry", k=1)[0].passage.article_id == "new"


def test_same_file_name_in_two_folders_keeps_both(assistant, tmp_path):
    for folder, day in (("a", "Monday"), ("b", "Friday")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "story.txt").write_text(f"Story\n\nThe ferry sailed on {day}.")
    report = assistant.ingest([tmp_path / "a", tmp_path / "b"])
    assert sorted(report.articles.values()) == ["added", "added"]
    assert len(assistant.store.list_articles()) == 2
    again = assistant.ingest([tmp_path / "a", tmp_path / "b"])
    assert sorted(again.articles.values()) == ["unchanged", "unchanged"]


def test_deeply_nested_json_is_reported_not_raised(assistant, tmp_path):
    bad = tmp_path / "deep.json"
    bad.write_text("[" * 200_000)
    report = assistant.ingest([bad, SEED])
    assert report.failed and "deep.json" in report.failed[0].path
    assert report.articles == {"seed-article-putin-trump": "added"}


def test_offsets_follow_a_line_added_above_unchanged_passages(assistant, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Headline\n\nThe mayor opened the bridge on Monday.")
    assistant.ingest([path])
    path.write_text("Updated on: 1 May\nHeadline\n\nThe mayor opened the bridge on Monday.")
    assistant.ingest([path])
    raw = path.read_text()
    for p in assistant.store.get_passages("story"):
        assert raw[p.start : p.end].startswith("Headline")


def test_excluding_an_article_that_is_not_stored_asks_chroma_for_no_filter(assistant, monkeypatch):
    """A pasted draft's own id is excluded from its evidence but is not stored: Chroma's $nin filter
    (~45% of a query's time) is asked only for stored articles, and the results are the same."""
    assistant.ingest([EXAMPLES])
    vector = assistant.retriever.embedder.embed(["harbour budget vote"])[0]
    plain = assistant.store.query(vector, 5)
    wheres = []
    query = assistant.store.passages.query
    monkeypatch.setattr(assistant.store.passages, "query", lambda **kw: wheres.append(kw.get("where")) or query(**kw))
    assert assistant.store.query(vector, 5, exclude_articles=["draft-not-stored"]) == plain
    assert wheres == [None]
    kept_out = assistant.store.query(vector, 5, exclude_articles=["draft-not-stored", "harbour-vote"])
    assert wheres[-1] == {"article_id": {"$nin": ["harbour-vote"]}}
    assert kept_out and all(p.article_id != "harbour-vote" for p, _ in kept_out)


def _add_leftover(store: Store, passage_id: str) -> str:
    """A record of an older generation ("0old") copying the live record of ``passage_id`` (same
    vector and text): what a crashed or overlapped write leaves behind. Returns its record id."""
    rid = store.passages.get(where={"pid": passage_id}, include=[])["ids"][0]
    got = store.passages.get(ids=[rid], include=["embeddings", "documents", "metadatas"])
    leftover = f"{passage_id}@0old"
    store.passages.add(ids=[leftover], embeddings=[got["embeddings"][0]], documents=got["documents"],
                       metadatas=[dict(got["metadatas"][0], gen="0old")])
    return leftover


def test_dense_hits_read_from_the_lexical_index_match_chromas_records(assistant, monkeypatch):
    """Given the BM25 index's passages (by record id), a dense query asks Chroma for ids and
    distances alone and takes the passages from the index: the same results as reading them from
    Chroma; another generation's leftover stays out, and records the index lacks (written since it
    was read) are read from Chroma, as is the new version of an article rewritten with the same
    text, whose passage ids are unchanged."""
    assistant.ingest([EXAMPLES])
    store = assistant.store
    index = assistant.retriever._lexical()
    vectors = assistant.retriever.embedder.embed(["harbour budget vote", "floating berth"])
    plain = store.query_many(vectors, 6)
    asked, read = [], []
    query, get = store.passages.query, store.passages.get
    monkeypatch.setattr(store.passages, "query", lambda **kw: asked.append(kw["include"]) or query(**kw))
    monkeypatch.setattr(store.passages, "get", lambda **kw: read.append(kw.get("ids")) or get(**kw))
    assert store.query_many(vectors, 6, known=index) == plain
    assert asked == [["distances"]] and read == []

    # A leftover of an older generation with the best passage's vector: never a hit.
    best = plain[0][0][0]
    leftover = _add_leftover(store, best.id)
    again = store.query_many(vectors, 6, known=index)
    assert again == plain
    assert [leftover] in read  # looked up, found to be of another generation

    # The index is now behind the store: records it lacks are read from Chroma.
    store.upsert_article(make_article("Harbour update\n\nThe harbour budget vote was postponed to May.", "harbour-update"))
    behind = store.query_many(vectors, 6, known=index)
    assert behind == store.query_many(vectors, 6)
    assert any(p.article_id == "harbour-update" for p, _ in behind[0])

    # Rewritten with the same text and a new link: same passage ids, a new generation.
    article = store.get_article(best.article_id)
    store.upsert_article(article.model_copy(update={"url": "https://example.org/moved"}))
    moved = [p for rows in store.query_many(vectors, 6, known=index) for p, _ in rows if p.article_id == best.article_id]
    assert moved and all(p.url == "https://example.org/moved" for p in moved)


def test_a_leftover_deleted_between_the_ids_query_and_its_read_is_left_out(assistant, monkeypatch):
    """A writer drops another generation's leftover after the dense query returned its id and before
    the passages it named are read: the search leaves it out rather than failing or reopening."""
    assistant.ingest([EXAMPLES])
    store = assistant.store
    index = assistant.retriever._lexical()
    vectors = assistant.retriever.embedder.embed(["harbour budget vote"])
    plain = store.query_many(vectors, 5)
    leftover = _add_leftover(store, plain[0][0][0].id)
    query = store.passages.query

    def query_then_delete(**kw):
        out = query(**kw)
        store.passages.delete(ids=[leftover])
        return out

    monkeypatch.setattr(store.passages, "query", query_then_delete)
    reopened = []  # the embedded store would recover by reopening Chroma (~0.5 s); a server's reader would fail
    monkeypatch.setattr(store, "_reopen_after_error", reopened.append)
    assert store.query_many(vectors, 5, known=index) == plain
    assert reopened == []
