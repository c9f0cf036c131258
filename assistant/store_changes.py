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
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

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
