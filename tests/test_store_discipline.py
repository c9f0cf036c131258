"""One writer discipline: generations, ids under a lock, readers that follow other processes (real Chroma)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from assistant.embed import HashingEmbedder
from assistant.errors import NotFoundError
from assistant.ingest import make_article
from assistant.service import Assistant
from assistant.store import Store
from tests.conftest import ROOT


def story(day: str, paragraphs: int = 1, word: str = "ferry") -> str:
    body = "\n\n".join(
        f"Paragraph {i}: the {word} sailed from the northern harbour on {day} with {i + 12} passengers aboard. "
        + "The crossing was calm and the crew reported no delays at all. " * 12
        for i in range(paragraphs)
    )
    return f"Harbour news\n\n{body}"


def raw_records(store: Store, article_id: str) -> list[dict]:
    got = store.passages.get(where={"article_id": article_id}, include=["metadatas"])
    return list(got["metadatas"])


def run_in_process(code: str, data_dir: Path) -> str:
    """Run ``code`` in a fresh interpreter with ``a`` = Assistant on ``data_dir`` (hashing embedder)."""
    prelude = textwrap.dedent(f"""
        from pathlib import Path
        from assistant.embed import HashingEmbedder
        from assistant.service import Assistant
        from assistant.settings import Settings
        a = Assistant(Settings(data_dir=Path({str(data_dir)!r})), embedder=HashingEmbedder())
    """)
    proc = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# ---------------------------------------------------------------- generations


def test_replace_writes_a_new_generation_and_leaves_no_old_records(assistant, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text(story("Monday", paragraphs=3))
    assistant.ingest([path])
    first = raw_records(assistant.store, "story")
    assert len({m["gen"] for m in first}) == 1 and len(first) == assistant.store.list_articles()[0].passages
    path.write_text(story("Friday", paragraphs=2))
    assert assistant.ingest([path]).articles == {"story": "replaced"}
    second = raw_records(assistant.store, "story")
    assert len({m["gen"] for m in second}) == 1 and second[0]["gen"] != first[0]["gen"]
    assert len(second) == assistant.store.list_articles()[0].passages == len(assistant.store.get_passages("story"))
    # Passage ids shown to users keep their form ARTICLE#pINDEX-HASH; the generation is internal.
    assert all(p.id.startswith("story#p") and "@" not in p.id for p in assistant.store.get_passages("story"))


def test_crash_before_the_switch_keeps_the_old_article_and_hides_the_new_passages(assistant, tmp_path, monkeypatch):
    path = tmp_path / "story.txt"
    path.write_text(story("Monday", paragraphs=2))
    assistant.ingest([path])
    before = [p.text for p in assistant.store.get_passages("story")]

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed between the passages and the article record")

    monkeypatch.setattr(assistant.store.articles, "upsert", crash)
    path.write_text(story("Friday", paragraphs=4, word="barge"))
    with pytest.raises(KeyboardInterrupt):
        assistant.ingest([path])
    monkeypatch.undo()
    # The half-written generation is stored but nobody reads it.
    assert len({m["gen"] for m in raw_records(assistant.store, "story")}) == 2
    assert [p.text for p in assistant.store.get_passages("story")] == before
    assert all("barge" not in h.passage.text for h in assistant.retriever.search("barge Friday", k=10))
    assert [a.passages for a in assistant.store.list_articles()] == [len(before)]
    # Re-ingest converges: the new version replaces the old, leftovers are gone.
    assert assistant.ingest([path]).articles == {"story": "replaced"}
    assert len({m["gen"] for m in raw_records(assistant.store, "story")}) == 1
    assert "barge" in assistant.retriever.search("barge Friday", k=1)[0].passage.text


def test_orphans_of_a_first_ingest_are_invisible_and_removable(assistant, tmp_path, monkeypatch):
    path = tmp_path / "article-016.txt"
    path.write_text(story("Monday", paragraphs=3))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(assistant.store.articles, "upsert", crash)
    with pytest.raises(KeyboardInterrupt):
        assistant.ingest([path])
    monkeypatch.undo()
    left = raw_records(assistant.store, "article-016")
    assert len(left) >= 3
    assert assistant.retriever.search("ferry northern harbour", k=5) == []
    assert assistant.store.list_articles() == []
    removed = assistant.remove("article-016")
    assert removed.passages == len(left) and not removed.had_record
    assert raw_records(assistant.store, "article-016") == []
    with pytest.raises(NotFoundError):
        assistant.remove("article-016")


def test_unchanged_reingest_clears_leftovers_without_embedding(assistant, embedder, tmp_path, monkeypatch):
    path = tmp_path / "story.txt"
    path.write_text(story("Monday"))
    assistant.ingest([path])
    original_upsert = assistant.store.articles.upsert
    path.write_text(story("Friday"))
    monkeypatch.setattr(assistant.store.articles, "upsert", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        assistant.ingest([path])
    monkeypatch.setattr(assistant.store.articles, "upsert", original_upsert)
    path.write_text(story("Monday"))  # back to the stored version
    calls = len(embedder.calls)
    assert assistant.ingest([path]).articles == {"story": "unchanged"}
    assert len(embedder.calls) == calls
    assert len({m["gen"] for m in raw_records(assistant.store, "story")}) == 1


@pytest.mark.parametrize("first", [False, True], ids=["replace", "add"])
def test_a_writer_killed_after_the_switch_is_announced_by_the_next_write(settings, tmp_path, monkeypatch, first):
    """Killed between the switch and publishing it: a reader must not keep the old record (whose
    passages the next write deletes) nor miss a new article, though the re-ingest finds it unchanged.
    (The SIGKILL chaos test met this: an article listed with no passages.)"""
    path = tmp_path / "item-114.txt"
    reader = Assistant(settings, embedder=HashingEmbedder())
    other = tmp_path / "other.txt"
    other.write_text(story("Sunday", word="tug"))
    Assistant(settings, embedder=HashingEmbedder()).ingest([other])
    if not first:
        path.write_text(story("Monday", paragraphs=2))
        Assistant(settings, embedder=HashingEmbedder()).ingest([path])
    assert len(reader.store.list_articles()) == (1 if first else 2)
    killed = Assistant(settings, embedder=HashingEmbedder())

    def die(*args, **kwargs):
        raise KeyboardInterrupt("SIGKILL after the switch, before the change record")

    monkeypatch.setattr(killed.store, "_bump", die)
    path.write_text(story("Friday", paragraphs=3, word="barge"))
    with pytest.raises(KeyboardInterrupt):
        killed.ingest([path])
    # The next run finds the article stored as it is on disk: nothing to embed, but it announces it.
    rerun = Assistant(settings, embedder=HashingEmbedder())
    assert rerun.ingest([path]).articles == {"item-114": "unchanged"}
    stored = [p.text for p in rerun.store.get_passages("item-114")]
    assert len(stored) >= 3 and sum("barge" in t for t in stored) == 3
    listed = {i.id: i for i in reader.store.list_articles()}
    assert listed["item-114"].passages == len(stored)
    assert [p.text for p in reader.store.get_passages("item-114")] == stored
    assert "barge" in reader.retriever.search("barge Friday", k=1)[0].passage.text


def test_a_stale_pending_note_announces_nothing_twice(settings, tmp_path):
    """Once published, the pending note is spent: an unchanged re-ingest writes no change record."""
    path = tmp_path / "story.txt"
    path.write_text(story("Monday"))
    a = Assistant(settings, embedder=HashingEmbedder())
    a.ingest([path])
    seq = a.store.seq
    assert Assistant(settings, embedder=HashingEmbedder()).ingest([path]).articles == {"story": "unchanged"}
    assert a.store.changed_since(seq) == (seq, set())


def test_readers_never_see_half_an_article(settings, tmp_path):
    """A writer flips an article between two versions while readers read it: always one whole version."""
    writer = Assistant(settings, embedder=HashingEmbedder())
    reader = Assistant(settings, embedder=HashingEmbedder())  # its own Store, as another app worker
    path = tmp_path / "flip.txt"
    versions = {3: story("Monday", 3, "alpha"), 5: story("Friday", 5, "beta")}
    path.write_text(versions[3])
    writer.ingest([path])
    sizes = {3: len(writer.store.get_passages("flip"))}
    path.write_text(versions[5])
    writer.ingest([path])
    sizes[5] = len(writer.store.get_passages("flip"))
    stop = threading.Event()
    errors: list[str] = []

    def write() -> None:
        n = 3
        while not stop.is_set():
            path.write_text(versions[n])
            writer.ingest([path])
            n = 8 - n

    def read() -> None:
        while not stop.is_set():
            passages = reader.store.get_passages("flip")
            alpha = any("alpha" in p.text for p in passages)
            beta = any("beta" in p.text for p in passages)
            n = len(passages)
            if alpha == beta or n != sizes[3 if alpha else 5] or [p.index for p in passages] != list(range(n)):
                errors.append(f"get_passages saw {n} passages, alpha {alpha}, beta {beta}")
            hits = reader.retriever.search("ferry alpha beta northern harbour", k=10)
            if not hits:
                errors.append("search found nothing")

    threads = [threading.Thread(target=write)] + [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    threading.Event().wait(8)
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]


# ---------------------------------------------------------------- ids under concurrency


def _same_name_files(tmp_path: Path, n: int) -> list[Path]:
    files = []
    for i in range(n):
        folder = tmp_path / f"upload-{i}"
        folder.mkdir()
        path = folder / "report.txt"
        path.write_text(story(f"day {i}", paragraphs=i + 1, word=f"vessel{i}"))
        files.append(path)
    return files


def _assert_one_article_per_file(store: Store, files: list[Path]) -> None:
    infos = store.list_articles()
    assert len(infos) == len(files)
    by_word = {}
    for info in infos:
        passages = store.get_passages(info.id)
        assert len(passages) == info.passages
        words = {w for p in passages for w in p.text.split() if w.startswith("vessel")}
        assert len(words) == 1, f"{info.id} mixes passages of {words}"
        by_word[words.pop()] = info
    for i, path in enumerate(files):
        assert by_word[f"vessel{i}"].source == str(path.resolve())


def test_concurrent_same_name_ingests_in_threads_keep_every_article(settings, tmp_path):
    files = _same_name_files(tmp_path, 5)
    barrier = threading.Barrier(len(files))
    reports = [None] * len(files)

    def upload(i: int) -> None:
        a = Assistant(settings, embedder=HashingEmbedder())  # one per request, as separate sessions
        barrier.wait()
        reports[i] = a.ingest([files[i]])

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(files))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ids = [next(iter(r.articles)) for r in reports]
    assert len(set(ids)) == 5 and "report" in ids
    assert all(next(iter(r.articles.values())) == "added" for r in reports)
    _assert_one_article_per_file(Assistant(settings, embedder=HashingEmbedder()).store, files)
    # Each file keeps its id on re-ingest.
    again = Assistant(settings, embedder=HashingEmbedder()).ingest(files)
    assert sorted(again.articles) == sorted(ids) and set(again.articles.values()) == {"unchanged"}


def test_concurrent_same_name_ingests_in_processes_keep_every_article(settings, tmp_path):
    files = _same_name_files(tmp_path, 5)
    start = tmp_path / "go"
    code = """
        import sys, time
        from pathlib import Path
        while not Path(sys.argv[2]).exists():
            time.sleep(0.01)
        print(list(a.ingest([Path(sys.argv[1])]).articles.items()))
    """
    prelude = textwrap.dedent(f"""
        from pathlib import Path
        from assistant.embed import HashingEmbedder
        from assistant.service import Assistant
        from assistant.settings import Settings
        a = Assistant(Settings(data_dir=Path({str(settings.data_dir)!r})), embedder=HashingEmbedder())
        a.store  # opened before the start signal
    """)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", prelude + textwrap.dedent(code), str(f), str(start)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for f in files
    ]
    threading.Event().wait(3)
    start.write_text("go")
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    _assert_one_article_per_file(Assistant(settings, embedder=HashingEmbedder()).store, files)


def test_same_file_by_relative_and_absolute_path_is_one_article(assistant, tmp_path, monkeypatch):
    folder = tmp_path / "desk"
    folder.mkdir()
    (folder / "story.txt").write_text(story("Monday"))
    monkeypatch.chdir(tmp_path)
    assert assistant.ingest([Path("desk/story.txt")]).articles == {"story": "added"}
    assert assistant.ingest([folder / "story.txt"]).articles == {"story": "unchanged"}
    assert assistant.ingest([Path("desk/../desk/story.txt")]).articles == {"story": "unchanged"}
    assert [a.id for a in assistant.store.list_articles()] == ["story"]


def test_a_folder_with_nothing_ingestable_is_a_failed_input(assistant, tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.docx").write_bytes(b"PK")
    report = assistant.ingest([empty])
    assert len(report.failed) == 1 and report.failed[0].path == str(empty)
    assert "no file to ingest" in report.failed[0].error and ".txt" in report.failed[0].error
    assert report.articles == {}


def test_json_records_repeating_an_id_are_refused(assistant, tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"id": "a1", "text": "One story here."}\n{"id": "a1", "text": "Another story."}\n')
    report = assistant.ingest([path])
    assert "repeats the id 'a1'" in report.failed[0].error
    assert assistant.store.list_articles() == []


# ---------------------------------------------------------------- readers follow writers


def test_long_lived_reader_follows_another_process_writing_the_embedded_store(settings, tmp_path):
    """Bug 2 of issue 11: a reader that had loaded Chroma's vector index failed with "Error finding id"."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"a{i}.txt").write_text(f"Story {i}\n\nThe council of town {i} met on Monday and approved plan {i}.")
    reader = Assistant(settings, embedder=HashingEmbedder())
    reader.ingest([src])
    assert reader.retriever.search("council town plan", k=3)
    assert reader.corpus_names() is reader.corpus_names()  # kept in memory while nothing changes
    run_in_process(
        f"""
        src = Path({str(src)!r})
        for i in range(5):
            (src / f"a{{i}}.txt").write_text(f"Story {{i}}\\n\\nThe council of town {{i}} met on Tuesday and rejected plan {{i}}.")
        (src / "zanzibar.txt").write_text("Zanzibar ferry\\n\\nThe Zanzibar ferry Mkombozi sank near the port.")
        print(a.ingest([src]).summary())
        """,
        settings.data_dir,
    )
    # Every read path of the long-lived reader sees the other process's writes, without errors.
    hits = reader.retriever.search("council town plan", k=5, exclude_articles=["a1"])
    assert hits and all("Tuesday" in h.passage.text for h in hits if h.passage.article_id.startswith("a"))
    assert reader.retriever.search("Mkombozi", k=1)[0].passage.article_id == "zanzibar"
    assert "zanzibar" in {a.id for a in reader.store.list_articles()}
    assert reader.store.count() == 6
    assert reader.corpus_names().counts["Mkombozi"] == 1
    report = reader.check(text="The Zanzibar ferry Mkombozi sank near the port on Friday, officials said.")
    assert report.claims
    # The reader can write again afterwards, and the other process sees that.
    extra = tmp_path / "extra.txt"
    extra.write_text("Extra\n\nA heron nested on the town hall roof in Tromsø.")
    reader.ingest([extra])
    assert "extra" in run_in_process("print([x.id for x in a.store.list_articles()])", settings.data_dir)


def test_store_token_changes_on_every_write(assistant, tmp_path):
    path = tmp_path / "story.txt"
    path.write_text(story("Monday"))
    tokens = {assistant.store.sync()}
    assistant.ingest([path])
    tokens.add(assistant.store.sync())
    path.write_text(story("Friday"))
    assistant.ingest([path])
    tokens.add(assistant.store.sync())
    assistant.remove("story")
    tokens.add(assistant.store.sync())
    assert len(tokens) == 4


def test_stores_written_before_generations_still_read_and_upgrade(settings, tmp_path):
    """A data dir from before this change (record ids = passage ids, no generation) keeps working."""
    embedder = HashingEmbedder()
    store = Store(settings, embedder)
    text = "Old story\n\nThe old bridge closed on Monday for repairs."
    vec = embedder.embed([text])[0]
    store.passages.add(
        ids=["old#p0-12345678"],
        embeddings=[vec],
        documents=[text],
        metadatas=[{"article_id": "old", "index": 0, "start": 0, "end": len(text), "tokens": 12, "title": "Old story", "url": ""}],
    )
    store.articles.add(
        ids=["old"],
        embeddings=[vec],
        documents=[text],
        metadatas=[{"title": "Old story", "url": "", "published": "", "source": "old.txt", "content_hash": "x", "passages": 1, "ingested_at": 1.0}],
    )
    a = Assistant(settings, embedder=embedder)
    assert [p.id for p in a.store.get_passages("old")] == ["old#p0-12345678"]
    assert a.retriever.search("old bridge closed", k=1)[0].passage.id == "old#p0-12345678"
    assert set(a.store.get_passages_by_id(["old#p0-12345678"])) == {"old#p0-12345678"}
    assert a.store.put_article(make_article(text + "\n\nIt reopened on Friday.", "old")).status == "replaced"
    records = raw_records(a.store, "old")
    assert records and all(m.get("gen") for m in records)  # the legacy record went with the old version
