"""Names as the stored corpus spells them: counts of capitalised words across articles.

The typo checker (``typos.py``) trusts a spelling the archive uses in several articles; readers
keep these counts current from the store's change records (``apply`` of a delta) instead of
recounting every article.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

# A name spelt this way in at least this many stored articles is established.
CORPUS_ESTABLISHED_DOCS = 2
SKIP_RE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\w+|[#@][\w-]+")
WORD_RE = re.compile(r"[^\W\d_]+")


class CorpusNames:
    """Counts of capitalised words across the stored corpus (occurrences and articles)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.docs: Counter[str] = Counter()
        self.n_docs = 0
        # Digests of the texts counted, so a stored article checked against the corpus it
        # belongs to is not taken as its own second witness.
        self.digests: set[str] = set()
        # Built on first use: names by length, and one-deletion keys for one-edit look-ups.
        self._index: dict[int, list[str]] | None = None
        self._deletes: dict[str, list[str]] | None = None
        # Article id -> (digest, its words) when built by ``from_articles``: lets a reader take a
        # changed article out and put its new text in, instead of recounting the corpus.
        self.articles: dict[str, tuple[str, dict[str, int]]] | None = None

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CorpusNames:
        """Count the capitalised words of every text."""
        names = cls()
        for text in texts:
            names.add_text(text)
        return names

    @classmethod
    def from_articles(cls, articles: Iterable[tuple[str, str]]) -> CorpusNames:
        """Count the capitalised words of (article id, text) pairs, remembering each article's
        words so a changed or removed article can be taken out again (``remove_article``)."""
        names = cls()
        names.articles = {}
        for article_id, text in articles:
            names.add_article(article_id, text)
        return names

    def add_text(self, text: str) -> None:
        """Add one article's capitalised words."""
        self._add(corpus_words(text), text_digest(text))

    def _add(self, words: Counter[str] | dict[str, int], digest: str) -> None:
        self.counts.update(words)
        for w in words:
            self._set_docs(w, self.docs.get(w, 0) + 1)
        self.n_docs += 1
        self.digests.add(digest)

    def add_article(self, article_id: str, text: str) -> None:
        """Add an article's words under its id (replacing what the id had)."""
        self.remove_article(article_id)
        words = {sys.intern(w): n for w, n in corpus_words(text).items()}
        digest = text_digest(text)
        self._add(words, digest)
        if self.articles is not None:
            self.articles[article_id] = (digest, words)

    def remove_article(self, article_id: str) -> bool:
        """Take an article's words out again; False if it was not counted under that id."""
        if self.articles is None or article_id not in self.articles:
            return False
        digest, words = self.articles.pop(article_id)
        self.counts.subtract(words)
        for w in words:
            if self.counts[w] <= 0:
                del self.counts[w]
            self._set_docs(w, self.docs.get(w, 0) - 1)
        self.n_docs -= 1
        if all(d != digest for d, _ in self.articles.values()):
            self.digests.discard(digest)
        return True

    def _set_docs(self, word: str, n: int) -> None:
        """Set a name's article count, keeping the look-up index (if built) in step."""
        before = self.docs.get(word, 0)
        if n > 0:
            self.docs[word] = n
        else:
            self.docs.pop(word, None)
        if self._index is None or self._deletes is None:
            return
        was, now = before >= CORPUS_ESTABLISHED_DOCS, n >= CORPUS_ESTABLISHED_DOCS
        if was == now:
            return
        # Lists are replaced, never changed in place: copies made by ``copy`` share them.
        lower = word.lower()
        keys = {lower} | {lower[:i] + lower[i + 1 :] for i in range(len(lower))}
        if now:
            self._index[len(word)] = [*self._index.get(len(word), ()), word]
            for key in keys:
                self._deletes[key] = [*self._deletes.get(key, ()), word]
        else:
            self._index[len(word)] = [x for x in self._index.get(len(word), ()) if x != word]
            for key in keys:
                self._deletes[key] = [x for x in self._deletes.get(key, ()) if x != word]

    def copy(self) -> CorpusNames:
        """An independent copy (the look-up index shared until either side changes a name)."""
        new = CorpusNames()
        new.counts, new.docs, new.n_docs, new.digests = Counter(self.counts), Counter(self.docs), self.n_docs, set(self.digests)
        new.articles = dict(self.articles) if self.articles is not None else None
        if self._index is not None and self._deletes is not None:
            new._index, new._deletes = dict(self._index), dict(self._deletes)
        return new

    def contains(self, text: str) -> bool:
        """True if exactly this text was counted."""
        return text_digest(text) in self.digests

    def docs_without(self, text: str) -> Callable[[str], int]:
        """Article counts per name, leaving ``text`` out if it was counted."""
        own = set(corpus_words(text)) if self.contains(text) else set()
        return lambda name: self.docs.get(name, 0) - (name in own)

    def to_json(self) -> dict:
        """Plain data for caching."""
        out = {
            "version": 1,
            "n_docs": self.n_docs,
            "counts": dict(self.counts),
            "docs": dict(self.docs),
            "digests": sorted(self.digests),
        }
        if self.articles is not None:
            out["articles"] = {i: [d, w] for i, (d, w) in self.articles.items()}
        return out

    @classmethod
    def from_json(cls, d: dict) -> CorpusNames:
        """Rebuild from :meth:`to_json` output."""
        names = cls()
        names.counts = Counter({str(k): int(v) for k, v in d.get("counts", {}).items()})
        names.docs = Counter({str(k): int(v) for k, v in d.get("docs", {}).items()})
        names.n_docs = int(d.get("n_docs", 0))
        names.digests = {str(x) for x in d.get("digests", [])}
        if "articles" in d:
            names.articles = {
                str(i): (str(dg), {sys.intern(str(w)): int(n) for w, n in words.items()}) for i, (dg, words) in d["articles"].items()
            }
        return names

    def near(self, word: str, max_dist: int) -> list[tuple[str, int]]:
        """Established corpus names within ``max_dist`` edits of ``word``."""
        if self._index is None:
            self._build_index()
        assert self._index is not None and self._deletes is not None
        lower = word.lower()
        found: set[str] = set()
        # One edit: any two strings one Damerau edit apart share a one-letter deletion.
        for key in {lower} | {lower[:i] + lower[i + 1 :] for i in range(len(lower))}:
            found.update(self._deletes.get(key, ()))
        out = []
        for name in found:
            d = DamerauLevenshtein.distance(lower, name.lower(), score_cutoff=1)
            if name != word and d <= 1:
                out.append((name, d))
        if max_dist >= 2:
            for length in range(len(word) - max_dist, len(word) + max_dist + 1):
                names = self._index.get(length, [])
                for name, dist, _ in process.extract(
                    word,
                    names,
                    scorer=DamerauLevenshtein.distance,
                    score_cutoff=max_dist,
                    limit=None,
                ):
                    if name != word and dist == 2:
                        out.append((name, int(dist)))
        return out

    def _build_index(self) -> None:
        index: dict[int, list[str]] = {}
        deletes: dict[str, list[str]] = {}
        for name, n in self.docs.items():
            if n < CORPUS_ESTABLISHED_DOCS:
                continue
            index.setdefault(len(name), []).append(name)
            lower = name.lower()
            for key in {lower} | {lower[:i] + lower[i + 1 :] for i in range(len(lower))}:
                deletes.setdefault(key, []).append(name)
        self._index, self._deletes = index, deletes

    def __len__(self) -> int:
        return len(self.counts)


def corpus_words(text: str) -> Counter[str]:
    return Counter(w for w in WORD_RE.findall(SKIP_RE.sub(" ", text)) if is_name_like(w))


def text_digest(text: str) -> str:
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:16]


def is_name_like(word: str) -> bool:
    return len(word) >= 2 and word[0].isupper() and not word.isupper()
