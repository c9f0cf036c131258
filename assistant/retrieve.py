"""Hybrid retrieval: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import pickle
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.dates import in_range
from assistant.embed import Embedder
from assistant.files import replacing
from assistant.memory import release_free_memory
from assistant.settings import RetrieveSettings
from assistant.store import Store
from assistant.types import Passage, ScoredPassage

_STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "for", "from", "had", "has", "have", "he", "her", "his", "i", "in", "is", "it", "its", "of", "on", "or", "our", "she", "that", "the", "their", "them", "they", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "will", "with", "would", "you", "your"]
)
log = logging.getLogger(__name__)
SNAPSHOT_FILE = "bm25-index.pkl"
SNAPSHOT_VERSION = 3  # bump when lexical_tokens or the index layout changes
SNAPSHOT_EVERY = 200  # writes between two saves of a running reader's index
_WORD = re.compile(r"[\w][\w'’-]*")


def lexical_tokens(text: str) -> list[str]:
    """Lower-cased words and numbers without stop words; possessives folded ("Putin's" → "putin")."""
    out = []
    for tok in _WORD.findall(text.lower()):
        tok = re.sub(r"['’]s$", "", tok).strip("'’-")
        if tok and tok not in _STOPWORDS:
            out.append(tok)
    return out


class BM25:
    """Okapi BM25 over an inverted index; scoring touches only the postings of the query terms.

    Documents live in slots; ``updated`` returns a copy with some slots dropped (masked, their
    terms' document counts lowered) and new documents appended, so a reader catches up with a
    write by touching only the postings of the changed passages' terms.
    """

    def __init__(self, docs: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = np.zeros(len(docs), dtype=np.float32)
        for i, doc in enumerate(docs):
            counts = Counter(lexical_tokens(doc))
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                postings[term].append((i, tf))
        self.index = {
            t: (np.array([d for d, _ in p], dtype=np.int64), np.array([f for _, f in p], dtype=np.float32))
            for t, p in postings.items()
        }
        self.df = {t: len(p) for t, p in postings.items()}  # live documents per term
        self.lengths = lengths
        self.alive = np.ones(len(docs), dtype=bool)
        self._normalise()

    def _normalise(self) -> None:
        self.n = int(self.alive.sum())
        live = self.lengths[self.alive]
        avg = float(live.mean()) if live.size else 1.0
        self.norm = self.k1 * (1 - self.b + self.b * self.lengths / (avg or 1.0))

    @property
    def dead(self) -> int:
        """Slots of dropped documents still in the postings (masked when scoring)."""
        return len(self.alive) - self.n

    def updated(self, removed: Sequence[tuple[int, str]], added: Sequence[str]) -> BM25:
        """A copy without the documents ``removed`` ((slot, text) pairs) and with ``added`` appended
        (slots ``len(alive)`` on); this index is left as it was, for searches still using it."""
        new = copy.copy(self)
        new.index, new.df = dict(self.index), dict(self.df)
        base = len(self.alive)
        new.alive = np.concatenate([self.alive, np.ones(len(added), dtype=bool)])
        new.lengths = np.concatenate([self.lengths, np.zeros(len(added), dtype=np.float32)])
        for slot, text in removed:
            if not new.alive[slot]:
                continue
            new.alive[slot] = False
            new.lengths[slot] = 0.0
            for term in set(lexical_tokens(text)):
                new.df[term] = new.df.get(term, 1) - 1
        postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for k, doc in enumerate(added):
            counts = Counter(lexical_tokens(doc))
            new.lengths[base + k] = sum(counts.values())
            for term, tf in counts.items():
                postings[term].append((base + k, tf))
        for term, p in postings.items():
            ids = np.array([d for d, _ in p], dtype=np.int64)
            tf = np.array([f for _, f in p], dtype=np.float32)
            if term in new.index:
                old_ids, old_tf = new.index[term]
                ids, tf = np.concatenate([old_ids, ids]), np.concatenate([old_tf, tf])
            new.index[term] = (ids, tf)
            new.df[term] = new.df.get(term, 0) + len(p)
        new._normalise()
        return new

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(len(self.alive), dtype=np.float32)
        for term in set(lexical_tokens(query)):
            df = self.df.get(term, 0)
            if df <= 0:
                continue
            ids, tf = self.index[term]
            idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
            out[ids] += idf * tf * (self.k1 + 1) / (tf + self.norm[ids])
        if self.n < len(self.alive):
            out[~self.alive] = 0.0
        return out


@dataclass(frozen=True)
class LexicalIndex:
    """BM25 over the live passages as of the store's write ``seq``; slot i holds ``passages[i]``
    (None once its article changed) from the Chroma record ``records[i]``, ``slots`` maps an
    article id to its passages' slots and ``by_record`` a record id to its slot (the dense side
    reads its hits' passages here: ``Store.query_many``'s ``known``)."""

    seq: int
    bm25: BM25
    passages: list[Passage | None]
    slots: dict[str, list[int]]
    records: list[str]
    by_record: dict[str, int]

    @classmethod
    def build(cls, seq: int, passages: Sequence[Passage], records: Sequence[str] | None = None) -> LexicalIndex:
        """``records``: each passage's record id (by default its passage id, as stored before generations)."""
        slots: dict[str, list[int]] = {}
        for i, p in enumerate(passages):
            slots.setdefault(p.article_id, []).append(i)
        records = list(records) if records is not None else [p.id for p in passages]
        by_record = {r: i for i, r in enumerate(records)}
        return cls(seq, BM25([p.text for p in passages]), list(passages), slots, records, by_record)

    @classmethod
    def of_records(cls, seq: int, pairs: Sequence[tuple[str, Passage]]) -> LexicalIndex:
        return cls.build(seq, [p for _, p in pairs], [r for r, _ in pairs])

    def passage(self, record: str) -> Passage | None:
        slot = self.by_record.get(record)
        return self.passages[slot] if slot is not None else None

    def updated(self, seq: int, changed: set[str], fresh: Sequence[tuple[str, Passage]]) -> LexicalIndex:
        """This index with the ``changed`` articles' passages replaced by ``fresh`` (their current
        ones, with their record ids)."""
        removed = [(i, p.text) for a in changed for i in self.slots.get(a, ()) if (p := self.passages[i]) is not None]
        passages = list(self.passages)
        by_record = dict(self.by_record)
        for i, _ in removed:
            passages[i] = None
            by_record.pop(self.records[i], None)
        base = len(passages)
        passages.extend(p for _, p in fresh)
        records = self.records + [r for r, _ in fresh]
        slots = {a: s for a, s in self.slots.items() if a not in changed}
        for k, (r, p) in enumerate(fresh):
            slots.setdefault(p.article_id, []).append(base + k)
            by_record[r] = base + k
        bm25 = self.bm25.updated(removed, [p.text for _, p in fresh])
        if bm25.dead > max(1000, len(passages) // 3):  # mostly dropped slots: compact
            kept = [k for k, p in enumerate(passages) if p is not None]
            return LexicalIndex.build(seq, [passages[k] for k in kept], [records[k] for k in kept])  # type: ignore[misc]
        return LexicalIndex(seq, bm25, passages, slots, records, by_record)


class Retriever:
    """Searches a Store with dense and BM25 rankings fused by RRF."""

    def __init__(self, store: Store, embedder: Embedder, settings: RetrieveSettings | None = None) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings or RetrieveSettings()
        self._index: LexicalIndex | None = None
        self._lock = threading.Lock()
        self.rebuilds = 0  # full BM25 builds (without a snapshot, and catch-ups whose delta was lost)
        self._saved_seq = -1

    def _lexical(self) -> LexicalIndex:
        # Follows every write, by this process or any other: the changed articles' passages are
        # replaced (a delta), a full rebuild only when the store lost track of what changed.
        self.store.sync()
        index = self._index
        if index is None or index.seq != self.store.seq:
            with self._lock:
                index = self._index
                if index is None or index.seq != self.store.seq:
                    index = self._catch_up(index)
                    self._index = index  # one assignment: readers never see a half-built index
                    release_free_memory()  # the replaced index and a snapshot's unpickling buffers
        return index

    def _catch_up(self, index: LexicalIndex | None) -> LexicalIndex:
        if index is None:
            index = self._load_snapshot()
        if index is not None:
            seq, changed = self.store.changed_since(index.seq)
            if changed is not None:
                if changed:
                    index = index.updated(seq, changed, self.store.records_of(sorted(changed)))
                else:
                    index = dataclasses.replace(index, seq=seq)
                if index.seq - self._saved_seq >= SNAPSHOT_EVERY:
                    self._save_snapshot(index)
                return index
        index = LexicalIndex.of_records(self.store.seq, self.store.all_records())
        self.rebuilds += 1
        self._save_snapshot(index)
        return index

    # The index is saved in the data dir after a full build and every SNAPSHOT_EVERY writes, so
    # the next process starts from it and catches up by the store's change records.

    def _snapshot_path(self) -> Path | None:
        settings = getattr(self.store, "settings", None)
        return Path(settings.data_dir) / SNAPSHOT_FILE if settings is not None else None

    def _snapshot_key(self) -> str:
        return f"{SNAPSHOT_VERSION}:{self.store.passages.id}"

    def _load_snapshot(self) -> LexicalIndex | None:
        path = self._snapshot_path()
        if path is None or not path.exists():
            return None
        try:
            with path.open("rb") as f:
                key, index = pickle.load(f)  # the data dir is trusted like the Chroma files in it
        except (OSError, EOFError, ValueError, TypeError, AttributeError, ImportError, pickle.UnpicklingError) as exc:
            log.warning("ignoring unreadable BM25 snapshot %s (%s)", path, exc)
            return None
        if key != self._snapshot_key() or not isinstance(index, LexicalIndex):
            return None
        self._saved_seq = index.seq
        return index

    def _save_snapshot(self, index: LexicalIndex) -> None:
        path = self._snapshot_path()
        if path is None:
            return
        self._saved_seq = index.seq
        key = self._snapshot_key()

        def save() -> None:
            try:
                with replacing(path, binary=True) as f:
                    pickle.dump((key, index), f, protocol=pickle.HIGHEST_PROTOCOL)
            except OSError as exc:
                log.warning("could not save the BM25 snapshot %s (%s)", path, exc)

        # In the background: the search that built the index does not wait for the file (a
        # process that ends soon after, like a CLI search, finishes writing it before it exits).
        threading.Thread(target=save, name="bm25-snapshot").start()

    def search(
        self,
        query: str,
        k: int | None = None,
        exclude_articles: Sequence[str] = (),
        only_article: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
    ) -> list[ScoredPassage]:
        """Top-k passages for ``query``; ``score`` is the fused RRF score, with each ranker's own score kept.

        ``since`` / ``until`` (epoch seconds, inclusive; ``assistant.dates.parse_bound``) keep
        passages published in that range, on the dense and the BM25 side alike; undated passages
        are outside any range.
        """
        return self.search_many([query], k, exclude_articles, only_article, since=since, until=until)[0]

    def search_many(
        self,
        queries: Sequence[str],
        k: int | None = None,
        exclude_articles: Sequence[str] = (),
        only_article: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
    ) -> list[list[ScoredPassage]]:
        """``search`` for several queries, embedding them in one batch."""
        if not queries:
            return []
        k = k or self.settings.k
        n = max(self.settings.candidates, k)
        vectors = self.embedder.embed(list(queries))
        index = self._lexical()  # once for the batch: each look is a read of the store's state
        dense = self.store.query_many(
            vectors, n, exclude_articles=exclude_articles, only_article=only_article, since=since, until=until, known=index
        )
        return [
            self._fuse(index, q, d, k, n, exclude_articles, only_article, since, until) for q, d in zip(queries, dense)
        ]

    def within(self, since: int | None = None, until: int | None = None) -> Retriever:
        """This retriever limited to a publication-date range: every search through it applies the
        range (for callers that only call ``search`` / ``search_many``, such as ``ask`` and ``check``).
        Shares this retriever's BM25 index; with no bound it is this retriever itself."""
        if since is None and until is None:
            return self
        return DateRangeRetriever(self, since, until)

    def _fuse(
        self,
        index: LexicalIndex,
        query: str,
        dense: list[tuple[Passage, float]],
        k: int,
        n: int,
        exclude_articles: Sequence[str],
        only_article: str | None,
        since: int | None = None,
        until: int | None = None,
    ) -> list[ScoredPassage]:
        passages = index.passages
        lexical: list[tuple[Passage, float]] = []
        if passages:
            scores = index.bm25.scores(query)
            excluded = set(exclude_articles)
            dated = since is not None or until is not None
            # A date range may leave few of the best: then every passage with a score is a candidate.
            top = np.argsort(-scores)
            if not dated:
                top = top[: n * 4 if (excluded or only_article) else n]
            for i in top:
                if scores[i] <= 0:
                    break
                p = passages[i]
                if p is None:
                    continue
                if p.article_id in excluded or (only_article and p.article_id != only_article):
                    continue
                if dated and not in_range(p.published, since, until):
                    continue
                lexical.append((p, float(scores[i])))
                if len(lexical) >= n:
                    break
        fused: dict[str, ScoredPassage] = {}
        for rank, (p, sim) in enumerate(dense):
            fused[p.id] = ScoredPassage(passage=p, score=1 / (self.settings.rrf_k + rank + 1), dense_rank=rank, dense_score=sim)
        for rank, (p, s) in enumerate(lexical):
            hit = fused.setdefault(p.id, ScoredPassage(passage=p, score=0.0))
            hit.score += 1 / (self.settings.rrf_k + rank + 1)
            hit.lexical_rank, hit.lexical_score = rank, s
        return sorted(fused.values(), key=lambda h: -h.score)[:k]


class DateRangeRetriever(Retriever):
    """A Retriever whose searches keep a publication-date range (see ``Retriever.within``)."""

    def __init__(self, base: Retriever, since: int | None, until: int | None) -> None:
        self.base, self.since, self.until = base, since, until
        self.store, self.embedder, self.settings = base.store, base.embedder, base.settings

    def _lexical(self) -> LexicalIndex:
        return self.base._lexical()

    def search_many(
        self,
        queries: Sequence[str],
        k: int | None = None,
        exclude_articles: Sequence[str] = (),
        only_article: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
    ) -> list[list[ScoredPassage]]:
        since = self.since if since is None else max(since, self.since) if self.since is not None else since
        until = self.until if until is None else min(until, self.until) if self.until is not None else until
        return self.base.search_many(queries, k, exclude_articles, only_article, since=since, until=until)

    def within(self, since: int | None = None, until: int | None = None) -> Retriever:
        return self.base.within(
            self.since if since is None else since if self.since is None else max(since, self.since),
            self.until if until is None else until if self.until is None else min(until, self.until),
        )
