"""The store's change log: what each write changed, so readers catch up by deltas, not reloads.

Every write publishes a sequence number (``writes`` in the state record) and, first, a change
record ``change-SEQ`` in the same ``…-state`` collection naming the articles it switched or
removed (or "everything", for tools that write passages directly). A reader that sees a newer
sequence number reads the change records after its own, applies them to its article catalog,
and hands the changed article ids to its consumers (BM25, corpus spellings), which replace
just those articles. When a record is missing (pruned: the reader was more than ``KEEP``
writes behind, or a write crashed between its change record and its state record) the reader
reloads everything, as before.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from assistant.memory import collect_dropped
from assistant.store_records import ArticleRecord, _fresh_embedded_client, _to_record

log = logging.getLogger(__name__)
_STATE_ID = "store"
# Articles a writer is about to switch, published only by its next change record: a writer
# killed between the switch and that record leaves them here, and the next write announces them.
_PENDING_ID = "pending"
# Article texts kept from the last catch-ups (for the corpus names' delta).
RECENT_DOCS = 512
# Seconds a writer waits for the store lock before giving up with a clear error.
LOCK_TIMEOUT = 600.0

# Change records kept in Chroma; a reader further behind than this reloads everything.
KEEP = 2000
CHANGE_PREFIX = "change-"


def change_id(seq: int) -> str:
    return f"{CHANGE_PREFIX}{seq:012d}"


def change_record(seq: int, articles: set[str] | None) -> dict[str, Any]:
    """Metadata of the change record for write ``seq`` (``articles`` None: anything changed)."""
    return {"seq": seq, "all": articles is None, "articles": json.dumps(sorted(articles or ()))}


def read_changes(metas: list[dict[str, Any] | None], after: int, upto: int) -> set[str] | None:
    """The article ids changed by writes ``after+1 .. upto`` from their change records, or None
    when a record is missing or one of them says "everything"."""
    by_seq = {int(m["seq"]): m for m in metas if m and "seq" in m}
    changed: set[str] = set()
    for seq in range(after + 1, upto + 1):
        meta = by_seq.get(seq)
        if meta is None or meta.get("all"):
            return None
        try:
            changed.update(str(x) for x in json.loads(str(meta.get("articles", "[]"))))
        except ValueError:
            return None
    return changed


@dataclass(frozen=True)
class Change:
    """Writes ``after+1 .. upto`` as this process applied them; ``articles`` None = reload everything."""

    after: int
    upto: int
    articles: frozenset[str] | None


class ChangeLog:
    """The changes this process applied (its own writes and other processes'), for catch-up."""

    def __init__(self, keep: int = KEEP) -> None:
        self._events: deque[Change] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.seq = -1  # nothing loaded yet

    def record(self, upto: int, articles: set[str] | None) -> None:
        with self._lock:
            after = self.seq
            self._events.append(Change(after, upto, None if articles is None else frozenset(articles)))
            self.seq = upto

    def since(self, seq: int) -> tuple[int, set[str] | None]:
        """(current sequence number, article ids changed after ``seq``); ids None = rebuild."""
        with self._lock:
            events, now = list(self._events), self.seq
        if seq == now:
            return now, set()
        if seq < 0 or seq > now:
            return now, None
        changed: set[str] = set()
        covered = False
        for ev in events:
            if ev.upto <= seq:
                continue
            if not covered:
                if ev.after > seq:
                    return now, None  # the events that follow ``seq`` were dropped
                covered = True
            if ev.articles is None:
                return now, None
            changed |= ev.articles
        return now, changed if covered else None


class FollowsWriters:
    """The part of ``Store`` that follows other writers: the state record (token, sequence
    number), catch-up by deltas, publishing this process's writes (``_bump``)."""

    # Set by Store.__init__ / Store._open.
    state: Any
    articles: Any
    lock: Any
    changes: ChangeLog
    revision: int
    _catalog: dict[str, ArticleRecord]
    _token: str | None
    _sync_lock: threading.RLock
    _embedded: bool
    _index_stale: bool
    _reloading: bool
    settings: Any
    embedder: Any
    _recent_docs: dict[str, tuple[str, str, dict[str, Any]]]  # article id -> (gen, raw text, metadata)

    def _open(self, client: Any | None = None, fresh: bool = False) -> None:
        raise NotImplementedError

    def _handles(self, client: Any) -> tuple[Any, Any, Any, Any]:
        raise NotImplementedError

    def _get_all(self, collection: Any, include: list[str]) -> dict[str, list]:
        raise NotImplementedError

    def _read_state(self) -> tuple[str, int]:
        """(store token, sequence number of the last write) as published by the last writer."""
        got = self.state.get(ids=[_STATE_ID], include=["metadatas"])
        if not got["ids"]:
            return "", 0
        meta = got["metadatas"][0] or {}
        return str(meta.get("token", "")), int(meta.get("writes", 0))

    def _read_token(self) -> str:
        return self._read_state()[0]

    @property
    def seq(self) -> int:
        """Sequence number of the last write this process has applied (see ``changes``)."""
        return self.changes.seq

    def changed_since(self, seq: int) -> tuple[int, set[str] | None]:
        """(sequence number now, ids of the articles changed after write ``seq``; None = reload).

        Asks this process's change log first, then the change records in Chroma: a snapshot
        saved by an earlier process (BM25, corpus names) catches up from them at start-up.
        """
        self.sync()
        now, changed = self.changes.since(seq)
        if changed is not None or not 0 <= seq < now:
            return now, changed
        got = self.state.get(where={"$and": [{"seq": {"$gt": seq}}, {"seq": {"$lte": now}}]}, include=["metadatas"])
        return now, read_changes(got["metadatas"] or [], seq, now)

    def sync(self) -> str:
        """Catch up if any process wrote since the last look; return the store token.

        Cheap when nothing changed (one small Chroma read). Another process's writes are applied
        as deltas from the change log (see ``assistant.store_changes``): the catalog re-reads
        just the changed article records, and ``changes`` tells BM25 and the corpus spellings
        which articles to replace. This process's own writes update the token and the catalog
        together, so a change seen here was made elsewhere.
        """
        token = self._read_token()
        if token == self._token:
            return token
        with self._sync_lock:
            token, seq = self._read_state()
            if token == self._token:
                return token
            if self._token is not None and self._embedded:
                # Reopened lazily, by the next read that needs vectors: a burst of writes by a
                # CLI costs one reopen per query here, not one per article it wrote.
                self._index_stale = True
            self._catch_up(seq)
            self._token = token
            self.revision += 1
            return token

    def _catch_up(self, seq: int) -> None:
        """Under the sync lock: apply other processes' writes up to ``seq`` to the catalog."""
        mine = self.changes.seq
        changed: set[str] | None = None
        if 0 <= mine < seq:  # otherwise a first load, or a store whose count went back: reload
            got = self.state.get(where={"seq": {"$gt": mine}}, include=["metadatas"])
            changed = read_changes(got["metadatas"] or [], mine, seq)
        if changed is None:
            self._load_catalog()
        elif changed:
            ids = sorted(changed)
            # The texts too: the corpus names read them next, and after another process's write
            # the first read of a collection through the reopened client costs ~0.5 s.
            got = self.articles.get(ids=ids, include=["metadatas", "documents"])
            records = {i: _to_record(i, m) for i, m in zip(got["ids"], got["metadatas"])}
            for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"]):
                self._recent_docs[i] = (records[i].gen, doc, meta)
            while len(self._recent_docs) > RECENT_DOCS:
                self._recent_docs.pop(next(iter(self._recent_docs)))
            catalog = dict(self._catalog)  # copied: other threads may be iterating the current one
            for article_id in ids:
                if article_id in records:
                    catalog[article_id] = records[article_id]
                else:
                    catalog.pop(article_id, None)
            self._catalog = catalog
        self.changes.record(seq, changed)

    def _fresh_index(self, wait: bool = True) -> None:
        """Before a read of vectors: reload the embedded store's vector index if another process wrote.

        ``wait=False`` (searches): the reload runs in the background and this read uses the index
        it has, which lacks only the vectors written since (their passages are found by BM25 at
        once, by their vectors when the reload is done); a read that meets a vector deleted since
        reopens at once (see ``Store.query_many`` in assistant.store_search). Writers and repairs wait for the reload.
        """
        if not self._index_stale:
            return
        if not wait:
            self._reload_in_background()
            return
        with self._sync_lock:
            if self._index_stale:
                self._open(fresh=True)
                self._index_stale = False

    def _reload_in_background(self) -> None:
        with self._sync_lock:
            if self._reloading:
                return
            self._reloading = True
            token = self._token

        def run() -> None:
            try:
                handles = self._handles(_fresh_embedded_client(self.settings))
                probe = [1.0] + [0.0] * (self.embedder.dim - 1)
                handles[1].query(query_embeddings=[probe], n_results=1, include=[])  # loads the vector index
                handles[2].get(limit=1, include=[])
                with self._sync_lock:
                    self.client, self.passages, self.articles, self.state = handles
                    # A write that came in meanwhile may be missing from what was loaded.
                    self._index_stale = self._token != token
                collect_dropped()  # the client just replaced
            except Exception as exc:  # noqa: BLE001 - the next read that needs vectors reopens in the foreground
                log.warning("background reload of the Chroma vector index failed: %s", exc)
            finally:
                self._reloading = False

        threading.Thread(target=run, name="chroma-reload", daemon=True).start()

    def wait_for_reload(self, timeout: float = 60.0) -> bool:
        """Wait until no background reload of the vector index is running (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while self._reloading and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._reloading

    def _load_catalog(self) -> None:
        got = self._get_all(self.articles, ["metadatas"])
        self._catalog = {i: _to_record(i, m) for i, m in zip(got["ids"], got["metadatas"])}

    def catalog(self) -> dict[str, ArticleRecord]:
        """Article id → record, current as of this call."""
        self.sync()
        return self._catalog

    def _pending(self) -> tuple[int, set[str]]:
        """(sequence number of the last write, the articles announced as about to change since it and
        not yet published), from the state and pending records in one read."""
        got = self.state.get(ids=[_STATE_ID, _PENDING_ID], include=["metadatas"])
        metas = {i: m or {} for i, m in zip(got["ids"], got["metadatas"])}
        writes = int(metas.get(_STATE_ID, {}).get("writes", 0))
        meta = metas.get(_PENDING_ID, {})
        if int(meta.get("after", -1)) != writes:
            return writes, set()  # published since (or never written)
        try:
            return writes, {str(x) for x in json.loads(str(meta.get("articles", "[]")))}
        except ValueError:
            return writes, set()

    def _intend(self, article_id: str) -> None:
        """Under the writer lock, before switching ``article_id``: note it as pending.

        If this process dies after the switch and before ``_bump`` publishes it, readers would
        keep the old record (or never list a new article), and a re-ingest that finds the
        content unchanged would publish nothing; the next writer announces pending articles.
        """
        writes, pending = self._pending()
        ids = pending | {article_id}
        self.state.upsert(
            ids=[_PENDING_ID], embeddings=[[1.0]], metadatas=[{"after": writes, "articles": json.dumps(sorted(ids))}]
        )

    def settle_pending(self) -> bool:
        """Announce the articles a killed writer switched without publishing; True if there were any."""
        if not self._pending()[1]:
            return False
        with self.lock.hold(LOCK_TIMEOUT):
            if not self._pending()[1]:
                return False
            self._bump({})  # merges the pending articles into its change record
            return True

    def _bump(self, changed: dict[str, ArticleRecord | None], everything: bool = False) -> None:
        """Publish this process's write (under the writer lock): a change record naming the changed
        articles, then a new token and sequence number, the catalog updated in the same step."""
        with self._sync_lock:
            writes, pending = self._pending()
            if writes != self.changes.seq:
                self._catch_up(writes)  # writes by others this process has not applied yet
            leftover = pending - set(changed)
            if leftover:  # switched by a writer that died before publishing them
                changed = dict(changed)
                got = self.articles.get(ids=sorted(leftover), include=["metadatas"])
                records = {i: _to_record(i, m) for i, m in zip(got["ids"], got["metadatas"])}
                changed.update({i: records.get(i) for i in leftover})
            seq = writes + 1
            articles = None if everything else set(changed)
            # The change record first: a reader that sees the new sequence number finds it.
            self.state.upsert(ids=[change_id(seq)], embeddings=[[1.0]], metadatas=[change_record(seq, articles)])
            token = secrets.token_hex(8)
            self.state.upsert(
                ids=[_STATE_ID],
                embeddings=[[1.0]],
                metadatas=[{"token": token, "writes": seq, "at": time.time(), "pid": os.getpid()}],
            )
            if seq > KEEP:
                self.state.delete(ids=[change_id(seq - KEEP)])
            catalog = dict(self._catalog)  # copied: other threads may be iterating the current one
            for article_id, rec in changed.items():
                if rec is None:
                    catalog.pop(article_id, None)
                else:
                    catalog[article_id] = rec
            self._catalog = catalog
            self._token = token
            self.changes.record(seq, articles)
            self.revision += 1

    def mark_changed(self) -> None:
        """Tell every reader to reload (for tools that write passages directly, e.g. the benchmark)."""
        with self.lock.hold(LOCK_TIMEOUT), self._sync_lock:
            self._load_catalog()
            self._bump({}, everything=True)

    def _reopen_after_error(self, exc: Exception) -> None:
        """The vector index misses a delete made after the last published token: reopen.

        Writers publish before deleting an old generation (so readers with an old catalog read
        again), hence an index loaded between the two can lag by that delete; an outside writer
        that publishes nothing looks the same. Either way a fresh index answers.
        """
        log.info("Chroma vector index older than the last delete (%s); reopening the store", exc)
        with self._sync_lock:
            self._open(fresh=True)
            self._index_stale = False
            token, seq = self._read_state()
            if token != self._token:  # a write published meanwhile: apply it (a delta when recorded)
                self._catch_up(seq)
                self._token = token
                self.revision += 1
