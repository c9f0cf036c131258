"""The reference lexicons of the typo checker: the spaCy md vocabulary, wordfreq and codespell.

Each is built once per process (``lexicon()``, ``codespell_table()``; a second or two).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from assistant.nlp import get_nlp


@dataclass(frozen=True)
class Lexicon:
    md_rank: dict[str, int]  # md vocabulary form -> frequency rank (0 = most frequent)
    md_mixed: dict[str, str]  # lowercase -> md form with inner capitals ("mcdonald": "McDonald")
    wf: dict[str, float]  # lowercase word -> wordfreq probability (wordfreq's own cached dict)

    def wf_zipf(self, word: str) -> float:
        """wordfreq Zipf of ``word`` (case-folded, as wordfreq stores it); 0 if unknown."""
        f = self.wf.get(word.lower())
        return round(math.log10(f) + 9.0, 2) if f else 0.0

    def md_zipf(self, word: str) -> float:
        """Zipf estimated from the md rank of the word as written or in lowercase."""
        return max(self.cap_zipf(word), self.cap_zipf(word.lower()))

    def cap_zipf(self, word: str) -> float:
        """Zipf of this exact form (the md vocabulary is case-sensitive); 0 if absent."""
        rank = self.md_rank.get(word)
        if rank is None:
            return 0.0
        # Fitted on words both lexicons know: Zipf ~ 9.8 - 1.46 log10(rank).
        return max(1.0, min(7.0, 9.8 - 1.46 * math.log10(rank + 1)))

    def zipf(self, word: str) -> float:
        """Best frequency evidence for ``word`` across both lexicons (0 = unknown)."""
        return max(self.wf_zipf(word), self.md_zipf(word))

    def describe(self, word: str) -> str:
        """Which lexicons know ``word``, for a flag's reason."""
        parts = []
        if word in self.md_rank or word.lower() in self.md_rank:
            parts.append("is in the spaCy md vocabulary")
        z = self.wf_zipf(word)
        if z:
            parts.append(f"has wordfreq Zipf {z:.1f}")
        return " and ".join(parts)


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """Build the reference lexicons once per process (a second or two)."""
    import wordfreq

    md = get_nlp("md")
    strings = md.vocab.strings
    md_rank: dict[str, int] = {}
    md_mixed: dict[str, str] = {}
    # The md vectors table keeps its source order, which is frequency order ("the" is near
    # the top); that rank is the only frequency the md vocabulary carries.
    for rank, key in enumerate(md.vocab.vectors.key2row):
        try:
            form = strings[key]
        except KeyError:
            continue
        md_rank.setdefault(form, rank)
        if form[:1].isupper() and not form[1:].islower() and not form.isupper():
            md_mixed.setdefault(form.lower(), form)
    if md_rank.get("the", 10**9) > 1000:  # order not as expected: keep presence, drop rank
        md_rank = dict.fromkeys(md_rank, 200_000)
    return Lexicon(md_rank, md_mixed, wordfreq.get_frequency_dict("en"))


@lru_cache(maxsize=1)
def codespell_table() -> dict[str, list[str]]:
    """codespell's misspelling -> corrections table (entries it would not fix are dropped)."""
    path = resources.files("codespell_lib") / "data" / "dictionary.txt"
    table: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        wrong, sep, data = line.partition("->")
        if not sep:
            continue
        # codespell's own rule: "a, b," lists fixes; "a, reason" disables the entry.
        comma = data.rfind(",")
        if comma >= 0 and comma != len(data) - 1:
            continue
        fixes = [f.strip() for f in data.rstrip(",").split(",") if f.strip()]
        if fixes:
            table[wrong.strip().lower()] = fixes
    return table
