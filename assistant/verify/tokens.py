"""Tokens for matching: stems, canonical numbers and dates, each with a weight and an offset.

Both sides of every comparison (claim and evidence, summary and article) go through ``analyse``,
so "2,000" matches "2000", "five per cent" matches "5%" and "rose" matches "rise".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from text_to_num import alpha2digit

from assistant.verify.text import fold, normalise_text
from assistant.verify.words import (
    AMBIGUOUS_MONTHS,
    MONTHS,
    NUM_WORDS,
    ORDINAL_WORDS,
    SCALES,
    STOP,
    WEEKDAYS,
    rarity,
    stem,
)


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


class Tok(NamedTuple):
    """One matching unit: ``key`` is the stem or the canonical number, ``kind`` word/num/date."""

    text: str
    key: str
    kind: str
    content: bool
    weight: float
    start: int  # char offset in the analysed (cleaned, folded) text


_TOKEN_RE = re.compile(
    r"(?:[^\W\d_]\.){2,}|\d+(?:\.\d+)?(?:st|nd|rd|th|s)?%?|[^\W\d_]+(?:'[^\W\d_]+)?"
)
_POSSESSIVE_RE = re.compile(r"'s\b|'\s")
_THOUSANDS_RE = re.compile(r"(?<=\d),(?=\d{3}\b)")
_PERCENT_RE = re.compile(r"(?<=\d)\s*(?:per\s?cent|percent|pc)\b")
_MONTH_MARK = "monthx"
_CASED_MONTH_RE = re.compile(r"\b(?:March|May|Jan|Feb|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b")


def _mark_month(m: re.Match) -> str:
    # "in May" is a date, "Theresa May" is a name: a capitalised word just before means a name
    before = m.string[max(0, m.start() - 25) : m.start()]
    prev = before.split()[-1] if before.split() else ""
    if before[-1:].isspace() and prev[:1].isupper() and prev[-1:] not in '.!?:"':
        return m.group(0)
    return _MONTH_MARK + m.group(0).lower()


# text2num reads "hundreds of" as 100, "tens of thousands" as "10 of 1000" and "four-hundredths" as
# "400ths": vague quantities and fractions are kept as words, the text between them is converted.
_VAGUE_NUMBER_RE = re.compile(r"\b((?:hundred|thousand|million|billion|trillion|ten)(?:s|ths?))\b")


def number_words_to_digits(text: str) -> str:
    """Spelled-out numbers as digits ("twenty-five" -> "25", "three hundred and forty" -> "340").

    text2num leaves small lone numbers ("two friends", "one of") as words; ``analyse`` reads those.
    """
    parts = _VAGUE_NUMBER_RE.split(text)
    return "".join(p if i % 2 else alpha2digit(p, "en") for i, p in enumerate(parts) if p)


def prepare(text: str) -> str:
    """Cleaned, folded text with number words as digits and n't, possessives, thousands separators, "per cent" normalised."""
    t = normalise_text(text)
    if any(c.isupper() for c in t):
        t = _CASED_MONTH_RE.sub(_mark_month, t)
    t = number_words_to_digits(fold(t))
    if "'" in t:
        t = t.replace("can't", "can not").replace("won't", "will not").replace("n't", " not")
        t = _POSSESSIVE_RE.sub(" ", t)  # "carney's" -> "carney"
    t = _THOUSANDS_RE.sub("", t)  # "2,000" -> "2000"
    return _PERCENT_RE.sub("%", t)  # "5 per cent" -> "5%"


@lru_cache(maxsize=200_000)
def _word_tok(w: str) -> tuple[str, str, bool, float]:
    """(key, kind, content, weight) of an ordinary word, cached: most tokens take this path."""
    if w.startswith(_MONTH_MARK):
        return MONTHS[w[len(_MONTH_MARK) :]], "date", True, 3.0
    if w in WEEKDAYS or (w in MONTHS and w not in AMBIGUOUS_MONTHS):
        return MONTHS.get(w, w), "date", True, 3.0
    if w.endswith("."):  # dotted acronym: "u.s." and "U.S." alike
        return w.replace(".", ""), "word", True, rarity(w.replace(".", ""))
    key = stem(w)
    content = w not in STOP and key not in STOP and len(w) > 2
    return key, "word", content, rarity(w) if content else 0.0


@lru_cache(maxsize=20_000)
def analyse(text: str) -> tuple[Tok, ...]:
    """Tokens of ``text`` normalised for matching: stems, canonical numbers, month names."""
    t = prepare(text)
    raw = [(m.group(), m.start()) for m in _TOKEN_RE.finditer(t)]
    out: list[Tok] = []
    i = 0
    n = len(raw)
    while i < n:
        w, pos = raw[i]
        if not (w[0].isdigit() or w in NUM_WORDS):
            if w in AMBIGUOUS_MONTHS and (
                (i > 0 and raw[i - 1][0][0].isdigit()) or (i + 1 < n and raw[i + 1][0][0].isdigit())
            ):
                out.append(Tok(w, MONTHS[w], "date", True, 3.0, pos))  # "may 18", "3 march"
            else:
                out.append(Tok(w.removeprefix(_MONTH_MARK), *_word_tok(w), pos))
            i += 1
            continue
        nxt = raw[i + 1][0] if i + 1 < n else ""
        pct = w.endswith("%")
        core = w.rstrip("%")
        ordinal = core in ORDINAL_WORDS or core.endswith(("st", "nd", "rd", "th"))
        if core[0].isdigit():
            core = core.rstrip("stndrh")  # "3rd", "1990s" -> "3", "1990"
        value = float(core) if core[0].isdigit() else float(NUM_WORDS[core])
        if nxt in SCALES and not pct:
            value *= SCALES[nxt]
            i += 1
        elif nxt == "percent" or (nxt == "per" and i + 2 < n and raw[i + 2][0] == "cent"):
            pct = True  # "five per cent" (digits were already turned into "5%")
            i += 1 if nxt == "percent" else 2
        # "third" and "3rd" match each other, not "three": a rank is not a count
        key = _format_value(value) + ("%" if pct else "th" if ordinal else "")
        # "one" and "half" are mostly ordinary words ("one of the"); keep them as weak numbers
        weak = w in ("one", "half") and not pct
        out.append(Tok(w, key, "num", not weak, 0.5 if weak else 3.0, pos))
        i += 1
    return tuple(out)


def keys_of(toks: tuple[Tok, ...]) -> set[str]:
    """The match keys of ``toks``."""
    return {t.key for t in toks}


def values_of(toks: tuple[Tok, ...]) -> dict[str, str]:
    """Canonical number/date key -> surface form, for the strong (non-"one") ones."""
    return {t.key: t.text for t in toks if t.kind in ("num", "date") and t.content}


def value_kind(key: str) -> str:
    """What a canonical value is (year, percentage, rank, month, weekday, count): only like ones conflict."""
    if key.endswith("%"):
        return "pct"
    if key.endswith("th"):
        return "rank"
    if re.fullmatch(r"(19|20)\d\d", key):
        return "year"
    if key in WEEKDAYS:
        return "weekday"
    if key in MONTHS.values():
        return "month"
    return "num"


def anchors(toks: tuple[Tok, ...], left: int, right: int) -> tuple[str | None, str | None]:
    """Keys of the nearest content word before ``left`` and after ``right``: what a word is said about."""
    before = next(
        (toks[k].key for k in range(left - 1, max(left - 5, -1), -1) if toks[k].content), None
    )
    after = next(
        (toks[k].key for k in range(right + 1, min(right + 5, len(toks))) if toks[k].content), None
    )
    return before, after


def same_anchor(x: tuple[str | None, str | None], y: tuple[str | None, str | None]) -> bool:
    """Whether two words stand by the same neighbour word, on either side."""
    # either side: "the Senate approved the bill" and "the bill was not approved by the Senate" share anchors
    return bool(({x[0], x[1]} & {y[0], y[1]}) - {None})
