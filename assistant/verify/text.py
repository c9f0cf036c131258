"""Text normalisation shared by every check: scraping and tokenisation artefacts undone, accents folded."""

from __future__ import annotations

import re
import unicodedata

_QUOTE_MAP = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "`": "'", "\u00a0": " ", "´": "'"}
)
_PTB_BRACKETS = {"lrb": "(", "rrb": ")", "lsb": "[", "rsb": "]", "lcb": "{", "rcb": "}"}
_PTB_RE = re.compile(r"-(lrb|rrb|lsb|rsb|lcb|rcb)-", re.IGNORECASE)
_CLITIC_RE = re.compile(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE)
_SPACE_BEFORE_RE = re.compile(r"\s+([,.;:!?%)\]])")
_SPACE_AFTER_RE = re.compile(r"([(\[])\s+")
_GLUED_RE = re.compile(r"(?<=[a-z0-9%)\"'])([.!?])(?=[A-Z][a-z])")


def normalise_text(text: str) -> str:
    """The same text with escape and tokenisation artefacts undone ("has n't", "\\'s", "``"), so texts compare alike.

    Offsets are not kept: use it to compare or score text, never to point into the original.
    """
    t = (
        unicodedata.normalize("NFKC", text)
        .replace("\\'", "'")
        .replace("``", '"')
        .replace("''", '"')
    )
    t = t.translate(_QUOTE_MAP)
    if "-" in t:
        t = _PTB_RE.sub(lambda m: _PTB_BRACKETS[m.group(1).lower()], t)
    t = _CLITIC_RE.sub(r"\1", t)
    t = _SPACE_BEFORE_RE.sub(r"\1", t)
    t = _SPACE_AFTER_RE.sub(r"\1", t)
    # Scraped pages lose the space between sentences ("in 2003.Curtis"); put it back.
    return _GLUED_RE.sub(r"\1 ", t)


def fold(text: str) -> str:
    """Lower-case and strip accents so "Åsberg" matches "asberg"."""
    if text.isascii():
        return text.lower()
    t = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in t if not unicodedata.combining(c))


def shorten(text: str, n: int = 60) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis (for reasons shown to editors)."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"
