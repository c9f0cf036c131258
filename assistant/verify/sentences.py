"""Sentence splitting by rule: abbreviations, initials, quotes, and lower-cased model output."""

from __future__ import annotations

import re

# fmt: off
_ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "gen", "gov", "sen", "rep", "lt", "col", "capt",
    "sgt", "cpl", "maj", "mt", "ft", "inc", "ltd", "co", "corp", "vs", "v", "etc", "rev", "hon", "pres",
    "supt", "det", "insp", "approx", "dept", "univ", "ave", "blvd", "rd", "cf", "al", "esq", "messrs",
})
_ABBREV_BEFORE_NUMBER = frozenset(
    {"no", "nos", "vol", "fig", "p", "pp", "art", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
)
_SENTENCE_STARTERS = frozenset({
    "the", "a", "an", "he", "she", "it", "they", "we", "i", "you", "but", "and", "in", "on", "at", "this",
    "that", "there", "these", "those", "his", "her", "their", "its", "our", "mr", "mrs", "ms", "dr", "after",
    "when", "while", "if", "as", "some", "many", "officials", "police",
})
# fmt: on
_BOUNDARY_RE = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s|$)|(?<=[a-z0-9%)])[.!?][\"”]?(?=[A-Z][a-z])")


_LINE_BREAK_RE = re.compile(r"[ \t]*\n\s*")


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans between hard line breaks; a single break inside running text ("held in\nthe capital") is kept."""
    out, start = [], 0
    for m in _LINE_BREAK_RE.finditer(text):
        before = text[m.start() - 1] if m.start() else ""
        after = text[m.end()] if m.end() < len(text) else ""
        if m.group().count("\n") == 1 and (before.islower() or before in ",;") and after.islower():
            continue
        out.append((start, m.start()))
        start = m.end()
    out.append((start, len(text)))
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of ``text`` (rule-based: abbreviations, initials, quotes, lower-cased text)."""
    spans: list[tuple[int, int]] = []
    lowercase = not any(c.isupper() for c in text)
    for p_start, p_end in _blocks(text):
        p = text[p_start:p_end]
        start = 0
        for m in _BOUNDARY_RE.finditer(p):
            end = m.end()
            if _is_boundary(p, m.start(), end, lowercase):
                _add_span(spans, p, p_start, start, end)
                start = end
        _add_span(spans, p, p_start, start, len(p))
    return spans


def _add_span(spans: list[tuple[int, int]], p: str, offset: int, start: int, end: int) -> None:
    seg = p[start:end]
    if seg.strip():
        lead = len(seg) - len(seg.lstrip())
        trail = len(seg) - len(seg.rstrip())
        spans.append((offset + start + lead, offset + end - trail))


_NEXT_WORD_RE = re.compile(r"[\"'“‘(]*([\w.]+)")
_SAID_AFTER_QUOTE_RE = re.compile(r"[\"'“‘]?\s*(?:\w+\s+){0,2}(said|says|told|added|asked)\b")
_INITIAL_RE = re.compile(r"[a-z]")
_DOTTED_RE = re.compile(r"(?:[a-z]\.)+[a-z]")


def _is_boundary(p: str, punct_at: int, end: int, lowercase: bool) -> bool:
    """Whether the punctuation at ``punct_at`` ends a sentence (not "Mr.", "U.S. Army", "J. R. R.")."""
    # Look at bounded windows either side: slicing the whole paragraph per candidate is quadratic.
    left = p[max(0, punct_at - 40) : punct_at]
    word = left.rsplit(None, 1)[-1].lower().strip("\"'“‘(") if left.strip() else ""
    rest = p[end : end + 60].lstrip()
    if not rest:
        return True
    m = _NEXT_WORD_RE.match(rest)
    nxt = m.group(1).lower() if m else ""
    first = rest[0]
    if p[punct_at] == "." and word:
        if word in _ABBREVIATIONS:
            return False
        if word in _ABBREV_BEFORE_NUMBER and nxt[:1].isdigit():
            return False
        if _INITIAL_RE.fullmatch(word) and first.isupper() and nxt not in _SENTENCE_STARTERS:
            return False  # an initial: "George W. Bush", "J. R. R. Tolkien" (but "he wrote on X. He added")
        if _DOTTED_RE.fullmatch(word):  # "u.s", "d.c", "a.m"
            return nxt in _SENTENCE_STARTERS and (first.isupper() or lowercase)
    if first.isupper():
        return True
    if not lowercase:
        return first.isdigit() or first in "\"'“‘("
    if first.isalnum() or first in "\"'“‘":
        # lower-cased model output: a quote closing before "he said" is not a sentence end
        return p[end - 1] not in "\"'”’" or not _SAID_AFTER_QUOTE_RE.match(rest)
    return False


def sentence_texts(text: str) -> list[str]:
    """The sentences of ``text`` as strings (see ``split_sentences``)."""
    return [text[a:b] for a, b in split_sentences(text)]
