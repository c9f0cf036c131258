"""Sentence splitting by rule: abbreviations, initials, quotes, and lower-cased model output.

Scored against pySBD and spaCy's parser/senter on the gold news passages in
tests/data/news_sentences.jsonl: ``python -m eval.sentences_bench`` (see the README).
"""

from __future__ import annotations

import re

# fmt: off
# Abbreviations that stand before a name or word and never end a sentence ("Gen. Smith", "Lt. Col.").
_TITLES = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "gen", "gov", "sen", "rep", "lt", "col", "capt", "sgt", "cpl", "maj",
    "mt", "ft", "rev", "hon", "pres", "supt", "det", "insp", "messrs", "adm", "cmdr", "gens", "reps", "sens",
    "vs", "v", "approx", "cf", "fig", "figs", "viz",
})
# Abbreviations that end a name and so may end a sentence ("... sold to Boeing Co. Airbus had bid"):
# a capitalised next word starts a new sentence unless it continues the name (_NAME_GOES_ON).
_NAME_ENDINGS = frozenset({
    "inc", "ltd", "co", "corp", "cos", "bros", "jr", "sr", "esq", "etc", "dept", "univ", "assn", "ave",
    "blvd", "rd", "pl", "sq", "hwy", "pkwy",
})
_ABBREV_BEFORE_NUMBER = frozenset(
    {"no", "nos", "vol", "fig", "p", "pp", "art", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
)
# Words after a name ending that continue it: "Co. Ltd.", "Inc. Chief Executive Tim Cook", "Jr. Day".
_NAME_GOES_ON = frozenset({
    "ltd", "inc", "corp", "co", "llc", "plc", "ag", "sa", "nv", "gmbh", "lp", "llp", "ceo", "cfo", "coo",
    "chairman", "chairwoman", "chair", "chief", "president", "executive", "founder", "spokesman",
    "spokeswoman", "spokesperson", "director", "day", "high", "middle", "elementary", "school", "academy",
    "boulevard", "blvd", "avenue", "ave", "street", "drive", "road", "memorial", "center", "centre",
    "library", "foundation", "award", "prize", "park", "bridge", "airport", "stadium", "arena", "hall",
    "nw", "ne", "sw", "se", "n", "s", "e", "w",
})
# Words after "a.m."/"p.m." that continue the time: "at 4 a.m. Thursday", "8 p.m. ET".
_TIME_GOES_ON = frozenset({
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "mon", "tue", "tues",
    "wed", "thu", "thur", "thurs", "fri", "sat", "sun", "january", "february", "march", "april", "may",
    "june", "july", "august", "september", "october", "november", "december", "jan", "feb", "mar", "apr",
    "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "et", "est", "edt", "ct", "cst", "cdt", "mt",
    "mst", "mdt", "pt", "pst", "pdt", "gmt", "bst", "utc", "cet", "cest", "eet", "jst", "ist", "aest",
    "local", "eastern", "pacific", "central", "mountain", "moscow", "beijing", "london", "paris",
})
# Words after a dotted acronym ("U.S.", "U.N.") that make a name with it: "U.S. Army", "U.N. Security Council".
_ACRONYM_GOES_ON = frozenset({
    "army", "navy", "air", "marine", "marines", "coast", "guard", "military", "forces", "force",
    "command", "senate", "house", "congress", "capitol", "supreme", "court", "courts", "district",
    "circuit", "appeals", "attorney", "attorneys", "treasury", "treasuries", "department", "dept",
    "embassy", "embassies", "consulate", "ambassador", "envoy", "mission", "secretary", "president",
    "vice", "government", "administration", "agency", "bureau", "office", "service", "services",
    "representative", "representatives", "delegation", "security", "general", "human", "refugee",
    "federal", "national", "central", "special", "state", "states", "justice", "defense", "defence",
    "trade", "commerce", "labor", "labour", "energy", "health", "census", "postal", "customs", "border",
    "immigration", "food", "geological", "fish", "forest", "park", "chamber", "parliament", "prime",
    "open", "olympic", "soccer", "steel", "bancorp", "cellular", "airways", "highway", "route", "interstate",
    "women's", "men's", "children's", "marshals", "marshal", "commission", "council",
    "assembly", "charter", "peacekeeping", "nuclear", "intelligence",
})
# A capitalised word after an ambiguous abbreviation that begins a sentence: "in the U.S. The family".
_SENTENCE_STARTERS = frozenset({
    "the", "a", "an", "he", "she", "it", "they", "we", "i", "you", "but", "and", "or", "so", "yet", "in",
    "on", "at", "by", "for", "from", "with", "to", "of", "as", "this", "that", "there", "these", "those",
    "his", "her", "their", "its", "our", "my", "your", "mr", "mrs", "ms", "dr", "after", "before", "when",
    "while", "if", "although", "though", "because", "since", "until", "during", "despite", "under",
    "some", "many", "most", "several", "few", "all", "both", "each", "every", "any", "no", "neither",
    "none", "one", "two", "three", "other", "others", "such", "what", "why", "how", "who", "where",
    "which", "whether", "officials", "police", "authorities", "analysts", "investors", "residents",
    "critics", "experts", "hundreds", "thousands", "dozens", "millions", "previously", "however",
    "meanwhile", "later", "earlier", "then", "now", "still", "also", "last", "next", "instead",
    "today", "yesterday", "according", "separately", "finally", "first", "asked", "here", "is", "was",
    "are", "were", "has", "have", "had", "did", "does", "do", "not", "only", "even", "more",
})
# Lower-cased text has no capital to go by: only words that rarely follow "u.s." inside a sentence.
_LOWER_STARTERS = frozenset({
    "the", "a", "an", "he", "she", "it", "they", "we", "i", "you", "there", "but", "their", "mr", "mrs", "ms", "dr",
})
_TIMES = frozenset({"a.m", "p.m"})
# Dotted places and bodies that may end a sentence; other dotted words are initials ("J.K. Rowling").
_PLACE_ACRONYMS = frozenset({
    "u.s", "u.k", "u.n", "e.u", "d.c", "u.s.a", "u.a.e", "u.s.s.r", "n.y", "n.j", "l.a", "n.z", "h.k", "p.r",
})
_NEVER_LAST = frozenset({"i.e", "e.g"})
# "her U.S. fans", "a U.S. official": after these an acronym describes the next word.
_ADJECTIVE_BEFORE = frozenset({"a", "an", "his", "her", "its", "their", "our", "my", "your", "whose"})
# fmt: on

# A full stop before a space or the end, or glued to the next sentence as in scraped pages
# ("a decision few had considered.Although", "last week."To be clear", "standards".The report").
_BOUNDARY_RE = re.compile(
    r"[.!?…]+[\"'”’)\]]*(?=\s|$)|(?<=[a-z0-9%)])[\"”’]?[.!?][\"”]?(?=[\"“]?[A-Z][a-z])"
)


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
    # Tokenised model output ("went home . he said") ends its sentences with a free-standing ".",
    # so a full stop glued to "u.s." or "p.m." there is the abbreviation's own.
    tokenised = lowercase and _FREE_STOP_RE.search(text) is not None
    for p_start, p_end in _blocks(text):
        p = text[p_start:p_end]
        start = quotes = counted = 0
        for m in _BOUNDARY_RE.finditer(p):
            end = m.end()
            if p[end - 1] == '"' and end < len(p) and not p[end].isspace():
                # glued: a straight quote after the stop opens the next sentence when the quotes so
                # far in the paragraph are paired ('said."We are' but 'said "It was great."Then')
                quotes += p.count('"', counted, end - 1)
                counted = end - 1
                if quotes % 2 == 0:
                    end -= 1
            if _is_boundary(p, m.start(), end, lowercase, tokenised):
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


_FREE_STOP_RE = re.compile(r"\s\.(?=\s|$)")
_NEXT_WORD_RE = re.compile(r"[\"'“‘(]*([\w.'’-]+)\W*(\S?)")
_SAID_AFTER_QUOTE_RE = re.compile(r"[\"'“‘]?\s*(?:\w+\s+){0,2}(said|says|told|added|asked)\b")
_INITIAL_RE = re.compile(r"[a-z]")
_DOTTED_RE = re.compile(r"(?:[a-z]\.)+[a-z]")
_STREET_NAME_RE = re.compile(r"[A-Z][\w'’-]*|\d+(?:st|nd|rd|th)")


def _is_boundary(p: str, punct_at: int, end: int, lowercase: bool, tokenised: bool = False) -> bool:
    """Whether the punctuation at ``punct_at`` ends a sentence (not "Mr.", "U.S. Army", "J. R. R.")."""
    # Look at bounded windows either side: slicing the whole paragraph per candidate is quadratic.
    left = p[max(0, punct_at - 40) : punct_at]
    words = left.split()
    raw = words[-1].lstrip("\"'“‘(") if words else ""
    word = raw.lower()
    rest = p[end : end + 60].lstrip()
    if not rest:
        return True
    m = _NEXT_WORD_RE.match(rest)
    nxt = m.group(1).lower().rstrip(".").removesuffix("'s").removesuffix("’s") if m else ""
    # the first letter of the word after next: "U.S. Security Council" goes on, "U.N. Diplomats expect" ends
    after_next = m.group(2) if m else ""
    first = rest[0]
    upper = first.isupper() or (first in "\"'“‘(" and rest[1:2].isupper())
    if p[punct_at] == "." and word:
        if word in _TITLES or word in _NEVER_LAST or (word == "st" and lowercase):
            return False
        if raw == "St":
            # "Main St. Firefighters ..." (a street: may end a sentence) but "in St. Louis" (a saint)
            before = words[-2] if len(words) > 1 and raw == words[-1] else ""
            if not _STREET_NAME_RE.fullmatch(before) or before.lower() in _SENTENCE_STARTERS:
                return False
            return upper and nxt not in _NAME_GOES_ON
        if word in _NAME_ENDINGS or (word == "al" and len(words) > 1 and words[-2].lower() == "et"):
            # "sold to Boeing Co. Airbus had bid", "a survey by Lee et al. The authors" (but "El Al." is a name)
            if lowercase:
                return not tokenised and nxt in _LOWER_STARTERS
            return upper and nxt not in _NAME_GOES_ON
        if word in _ABBREV_BEFORE_NUMBER and nxt[:1].isdigit():
            return False
        if _INITIAL_RE.fullmatch(word):
            if lowercase:  # "j. r. r. tolkien", "plan b. the council"
                return not tokenised and nxt in _LOWER_STARTERS
            if first.isupper() and nxt not in _SENTENCE_STARTERS:
                return False  # an initial: "George W. Bush", "J. R. R. Tolkien" (but "he wrote on X. He added")
        if _DOTTED_RE.fullmatch(word):  # "u.s", "d.c", "a.m"
            if lowercase:
                return not tokenised and nxt in _LOWER_STARTERS
            if word not in _TIMES and word not in _PLACE_ACRONYMS:
                # initials or an organisation: "J.K. Rowling", "J.P. "The Big Bopper" Richardson", "the C.A.B. On"
                return first.isupper() and nxt in _SENTENCE_STARTERS
            if not upper:
                return False
            if nxt in _SENTENCE_STARTERS:
                return True
            if word in _TIMES:  # "Polls close at 8 p.m. Results are due" but "at 4 a.m. Thursday"
                return nxt not in _TIME_GOES_ON
            # "sent to the U.N. Diplomats expect ..." (a plural noun, then a verb), but "U.S. Army",
            # "U.N. Security Council", "U.S. Rep. Adam Schiff", "her U.S. Facebook fans", "L.A. Takedown"
            if len(words) > 1 and words[-2].lower() in _ADJECTIVE_BEFORE:
                return False
            plural = len(nxt) > 3 and nxt.endswith("s") and not nxt.endswith("ss")
            return plural and nxt not in _ACRONYM_GOES_ON and after_next.islower()
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
