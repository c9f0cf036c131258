"""Deterministic checks behind every verdict: citations, claims and summary consistency.

Nothing here calls a language model. Each verdict comes with a reason an editor
can check by eye ("number '12' not in cited passage p3"). An LLM judge may add
a signal elsewhere but never overrules these functions.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from rapidfuzz import fuzz
from spacy.lang.en.stop_words import STOP_WORDS
from wordfreq import get_frequency_dict

from assistant.errors import AssistantError
from assistant.types import Citation, ClaimResult, Evidence, Passage, ScoredPassage, SentenceResult

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# Tunable thresholds (picked on the dev sets; see eval/consistency_dev.py)
# ---------------------------------------------------------------------------

QUOTE_MIN_SCORE = 85.0  # rapidfuzz partial_ratio a cited quote must reach in its passage
CITED_MIN_OVERLAP = 0.25  # below this share of content words the citation is to the wrong passage
CLAIM_RELATED = 0.35  # weighted overlap under which evidence is about something else
CLAIM_CONTEXT = 0.7  # overlap of the rest of the claim before a differing value is a conflict
CLAIM_SUPPORTED = 0.7  # weighted overlap (every name/number matched) needed for "supported"
CLAIM_MIN_WORDS = 3  # shared content words, at least, before evidence can support or contradict
CLAIM_MIN_WEIGHT = 4.0  # and their summed rarity weight ("people died in the fire" is about 4.7)
# Summary consistent at or above this score: the middle of the dev plateau (0.865-0.90).
CONSISTENCY_THRESHOLD = 0.88

# ---------------------------------------------------------------------------
# Word lists
# ---------------------------------------------------------------------------

# fmt: off
# "having"/"being" are auxiliaries in practice; spaCy's list only has their base forms
_STOP = frozenset({w.replace("’", "'").replace("‘", "'") for w in STOP_WORDS} | {"having", "being", "doing"})
_NEGATIONS = frozenset({"not", "no", "never", "nobody", "nothing", "none", "neither", "nor", "without", "cannot"})
_NUM_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "dozen": 12, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "half": 0.5,
}  # "first"/"second" are left out: too often "first time", "a second"
_ORDINAL_WORDS = frozenset({"third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"})
_SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12}
_MONTHS = {
    "january": "january", "jan": "january", "february": "february", "feb": "february", "march": "march",
    "april": "april", "apr": "april", "may": "may", "june": "june", "jun": "june", "july": "july",
    "jul": "july", "august": "august", "aug": "august", "september": "september", "sep": "september",
    "sept": "september", "october": "october", "oct": "october", "november": "november", "nov": "november",
    "december": "december", "dec": "december",
}
_WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
# Month words that are also ordinary English words count as dates only next to a number or capitalised.
_AMBIGUOUS_MONTHS = frozenset({"march", "may", "jan", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "feb", "apr", "sept"})
_TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady", "president",
    "prime", "minister", "chancellor", "secretary", "senator", "sen", "rep", "gov", "governor", "gen",
    "general", "judge", "justice", "king", "queen", "prince", "princess", "pope", "rev", "st", "saint",
    "the", "of", "de", "van", "von", "der", "la", "le", "du", "da", "al", "bin", "and",
})
_NAME_CONNECTORS = frozenset({"of", "for", "de", "van", "von", "der", "la", "le", "du", "da", "al", "bin", "del"})
_NER_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"})
_ATTRIBUTION = re.compile(
    r"\b(said|says|say|told|tells|claimed|claims|according to|announced|reported|confirmed|denied|"
    r"stated|added|insisted|warned|admitted|alleged|argued|wrote|tweeted|revealed|estimated)\b",
    re.IGNORECASE,
)
# Pairs whose swap flips a claim ("rose" vs "fell"); compared after stemming.
_ANTONYM_PAIRS = [
    ("rise", "fall"), ("rise", "drop"), ("rise", "decline"), ("increase", "decrease"), ("increase", "fall"),
    ("increase", "decline"), ("increase", "drop"), ("increase", "cut"), ("grow", "shrink"), ("expand", "shrink"),
    ("gain", "loss"), ("gain", "lose"), ("win", "lose"), ("victory", "defeat"),
    ("confirm", "deny"), ("accept", "reject"), ("approve", "reject"), ("approve", "veto"), ("support", "oppose"),
    ("agree", "disagree"), ("allow", "ban"), ("allow", "forbid"), ("allow", "prohibit"), ("legal", "illegal"),
    ("guilty", "innocent"), ("convict", "acquit"), ("succeed", "fail"), ("success", "failure"), ("open", "close"),
    ("higher", "lower"), ("highest", "lowest"), ("more", "fewer"), ("more", "less"), ("most", "least"),
    ("largest", "smallest"), ("best", "worst"), ("above", "below"), ("before", "after"), ("majority", "minority"),
    ("profit", "loss"), ("alive", "dead"), ("survive", "die"), ("hire", "fire"), ("strengthen", "weaken"),
    ("include", "exclude"), ("arrive", "depart"), ("resign", "appoint"), ("up", "down"), ("boost", "cut"),
    ("raise", "lower"), ("raise", "cut"), ("start", "end"), ("begin", "end"), ("lift", "impose"),
    ("north", "south"), ("northern", "southern"), ("east", "west"), ("eastern", "western"),
    ("upper", "lower"), ("inner", "outer"), ("first", "last"), ("earlier", "later"), ("early", "late"),
    ("maximum", "minimum"), ("export", "import"), ("buy", "sell"), ("male", "female"),
]
# fmt: on

# ---------------------------------------------------------------------------
# Normalisation and tokens
# ---------------------------------------------------------------------------

_QUOTE_MAP = str.maketrans(
    {"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "`": "'", "\u00a0": " ", "´": "'"}
)
_PTB_BRACKETS = {"lrb": "(", "rrb": ")", "lsb": "[", "rsb": "]", "lcb": "{", "rcb": "}"}
_PTB_RE = re.compile(r"-(lrb|rrb|lsb|rsb|lcb|rcb)-", re.IGNORECASE)
_CLITIC_RE = re.compile(r"\s+(n't|'s|'re|'ve|'ll|'d|'m)\b", re.IGNORECASE)
_SPACE_BEFORE_RE = re.compile(r"\s+([,.;:!?%)\]])")
_SPACE_AFTER_RE = re.compile(r"([(\[])\s+")
_GLUED_RE = re.compile(r"(?<=[a-z0-9%)\"'])([.!?])(?=[A-Z][a-z])")


def clean_text(text: str) -> str:
    """Undo escape and tokenisation artefacts ("has n't", "\\'s", "``") so texts compare alike."""
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


def _fold(text: str) -> str:
    """Lower-case and strip accents so "Åsberg" matches "asberg"."""
    if text.isascii():
        return text.lower()
    t = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in t if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def _irregular() -> dict[str, str]:
    """Irregular forms ("met" -> "meet", "said" -> "say") from spaCy's lemmatizer tables."""
    table: dict[str, str] = {
        "said": "say",
        "says": "say",
        "told": "tell",
        "met": "meet",
        "won": "win",
        "lost": "lose",
        "fell": "fall",
        "rose": "rise",
        "risen": "rise",
        "fallen": "fall",
        "went": "go",
        "gone": "go",
        "took": "take",
        "taken": "take",
        "made": "make",
        "left": "leave",
        "came": "come",
        "ran": "run",
        "held": "hold",
        "got": "get",
        "gave": "give",
        "given": "give",
        "found": "find",
        "thought": "think",
        "knew": "know",
        "known": "know",
        "saw": "see",
        "seen": "see",
        "began": "begin",
        "begun": "begin",
        "sold": "sell",
        "bought": "buy",
        "paid": "pay",
        "led": "lead",
        "died": "die",
        "dying": "die",
        "children": "child",
        "people": "person",
        "men": "man",
        "women": "woman",
        "shot": "shoot",
    }
    try:
        from assistant.nlp import get_nlp

        exc = get_nlp("sm").get_pipe("lemmatizer").lookups.get_table("lemma_exc")
    except (
        AssistantError,
        KeyError,
        ValueError,
    ) as err:  # the built-in list still covers the common verbs
        log.warning("spaCy lemma tables unavailable (%s); using the built-in irregular forms", err)
        return table
    for pos in ("verb", "noun", "adj"):
        for form, lemmas in exc[pos].items():
            if isinstance(form, str) and lemmas and form not in table and form.isalpha():
                table[form] = lemmas[0]
    return table


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    """Crude but symmetric stem: both sides go through it, so collisions rarely matter."""
    w = _irregular().get(word, word)
    if len(w) <= 3 or not w.isalpha():
        return w
    for suffix, repl in (
        ("ies", "y"),
        ("ied", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            if suffix == "s" and w.endswith(("ss", "us", "is")):
                continue
            w = w[: len(w) - len(suffix)] + repl
            if suffix in ("ing", "ed") and len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # "stopped" -> "stop"
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]  # "save"/"saved"/"saving" -> "sav"
    return w


@lru_cache(maxsize=1)
def _frequencies() -> dict[str, float]:
    return get_frequency_dict("en")


@lru_cache(maxsize=200_000)
def _zipf(word: str) -> float:
    """wordfreq's Zipf frequency by direct look-up (``zipf_frequency`` re-tokenises every call)."""
    f = _frequencies().get(word, 0.0)
    return math.log10(f) + 9.0 if f > 0 else 0.0


def _rarity(word: str) -> float:
    """Weight of a word: rare words ("haemorrhage", "carney") carry the facts, common ones little."""
    return max(0.5, 7.0 - _zipf(word))


def warm_up() -> None:
    """Load spaCy's lemma tables, the NER pipeline and wordfreq now, so the first check is not slow."""
    _irregular()
    _frequencies()
    _ner_names("Warm up with Ada Lovelace in London.")


def _fmt(value: float) -> str:
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


def _prepare(text: str) -> str:
    """Cleaned, folded text with n't, possessives, thousands separators and "per cent" normalised."""
    t = clean_text(text)
    if any(c.isupper() for c in t):
        t = _CASED_MONTH_RE.sub(_mark_month, t)
    t = _fold(t)
    if "'" in t:
        t = t.replace("can't", "can not").replace("won't", "will not").replace("n't", " not")
        t = _POSSESSIVE_RE.sub(" ", t)  # "carney's" -> "carney"
    t = _THOUSANDS_RE.sub("", t)  # "2,000" -> "2000"
    return _PERCENT_RE.sub("%", t)  # "5 per cent" -> "5%"


@lru_cache(maxsize=200_000)
def _word_tok(w: str) -> tuple[str, str, bool, float]:
    """(key, kind, content, weight) of an ordinary word, cached: most tokens take this path."""
    if w.startswith(_MONTH_MARK):
        return _MONTHS[w[len(_MONTH_MARK) :]], "date", True, 3.0
    if w in _WEEKDAYS or (w in _MONTHS and w not in _AMBIGUOUS_MONTHS):
        return _MONTHS.get(w, w), "date", True, 3.0
    if w.endswith("."):  # dotted acronym: "u.s." and "U.S." alike
        return w.replace(".", ""), "word", True, _rarity(w.replace(".", ""))
    key = _stem(w)
    content = w not in _STOP and key not in _STOP and len(w) > 2
    return key, "word", content, _rarity(w) if content else 0.0


@lru_cache(maxsize=20_000)
def analyse(text: str) -> tuple[Tok, ...]:
    """Tokens of ``text`` normalised for matching: stems, canonical numbers, month names."""
    t = _prepare(text)
    raw = [(m.group(), m.start()) for m in _TOKEN_RE.finditer(t)]
    out: list[Tok] = []
    i = 0
    n = len(raw)
    while i < n:
        w, pos = raw[i]
        if not (w[0].isdigit() or w in _NUM_WORDS):
            if w in _AMBIGUOUS_MONTHS and (
                (i > 0 and raw[i - 1][0][0].isdigit()) or (i + 1 < n and raw[i + 1][0][0].isdigit())
            ):
                out.append(Tok(w, _MONTHS[w], "date", True, 3.0, pos))  # "may 18", "3 march"
            else:
                out.append(Tok(w.removeprefix(_MONTH_MARK), *_word_tok(w), pos))
            i += 1
            continue
        nxt = raw[i + 1][0] if i + 1 < n else ""
        pct = w.endswith("%")
        core = w.rstrip("%")
        ordinal = core in _ORDINAL_WORDS or core.endswith(("st", "nd", "rd", "th"))
        if core[0].isdigit():
            core = core.rstrip("stndrh")  # "3rd", "1990s" -> "3", "1990"
        value = float(core) if core[0].isdigit() else float(_NUM_WORDS[core])
        if nxt in _SCALES and not pct:
            value *= _SCALES[nxt]
            i += 1
        elif nxt == "percent" or (nxt == "per" and i + 2 < n and raw[i + 2][0] == "cent"):
            pct = True  # "five per cent" (digits were already turned into "5%")
            i += 1 if nxt == "percent" else 2
        # "third" and "3rd" match each other, not "three": a rank is not a count
        key = _fmt(value) + ("%" if pct else "th" if ordinal else "")
        # "one" and "half" are mostly ordinary words ("one of the"); keep them as weak numbers
        weak = w in ("one", "half") and not pct
        out.append(Tok(w, key, "num", not weak, 0.5 if weak else 3.0, pos))
        i += 1
    return tuple(out)


def _keys(toks: tuple[Tok, ...]) -> set[str]:
    return {t.key for t in toks}


_NEGATION_IDIOMS = frozenset(
    {"more", "less", "fewer", "only", "just", "doubt", "matter", "later", "sooner"}
)
# "unable to revive", "failed to pay", "refused to sign" deny the verb that follows
_NEGATING_VERBS = frozenset({"unable", "fail", "fails", "failed", "refuse", "refuses", "refused"})


# Words a negation reaches across to its verb or noun ("did not even meet", "has not been paid").
_NEGATION_SKIP = frozenset({
    "be", "been", "being", "is", "are", "was", "were", "have", "has", "had", "do", "does", "did", "ever",
    "even", "yet", "really", "always", "a", "an", "the", "any", "to", "longer", "so", "too", "very", "much",
    "quite", "necessarily", "entirely", "fully", "immediately", "currently", "also", "get", "got",
    "will", "would", "can", "could", "should", "may", "might", "must", "shall",  # "neither will be"
})  # fmt: skip
# Common verbs spaCy lists as stop words: a negation can govern them ("did not say", "has not seen").
_STOP_VERBS = (
    "say",
    "see",
    "make",
    "go",
    "give",
    "take",
    "show",
    "move",
    "put",
    "call",
    "keep",
    "seem",
)


@lru_cache(maxsize=1)
def _stop_verb_keys() -> frozenset[str]:
    return frozenset(_stem(w) for w in _STOP_VERBS)


def _negated_positions(toks: tuple[Tok, ...]) -> dict[int, int]:
    """Position of each negated word -> position of its cue ("did not meet": meet -> not)."""
    out: dict[int, int] = {}
    for i, t in enumerate(toks):
        nxt = toks[i + 1].text if i + 1 < len(toks) else ""
        if t.text in _NEGATIONS:
            if nxt in _NEGATION_IDIOMS:
                continue  # "no more than 44%" and "not only" assert, they do not deny
        elif not (t.text in _NEGATING_VERBS and nxt == "to"):
            continue
        for k in range(i + 1, min(i + 6, len(toks))):
            u = toks[k]
            if u.text in _NEGATION_SKIP:
                continue
            # the first other word decides: "hasn't been seen since April" negates "seen", not "April"
            if u.content or u.key in _stop_verb_keys():
                out[k] = i
            break
    return out


def _anchors(toks: tuple[Tok, ...], left: int, right: int) -> tuple[str | None, str | None]:
    """Keys of the nearest content word before ``left`` and after ``right``: what a word is said about."""
    before = next(
        (toks[k].key for k in range(left - 1, max(left - 5, -1), -1) if toks[k].content), None
    )
    after = next(
        (toks[k].key for k in range(right + 1, min(right + 5, len(toks))) if toks[k].content), None
    )
    return before, after


def _same_anchor(x: tuple[str | None, str | None], y: tuple[str | None, str | None]) -> bool:
    # either side: "the Senate approved the bill" and "the bill was not approved by the Senate" share anchors
    return bool(({x[0], x[1]} & {y[0], y[1]}) - {None})


def _negation_flip(a: tuple[Tok, ...], b: tuple[Tok, ...]) -> str | None:
    """A word negated in ``a`` that ``b`` states plainly about the same neighbour words."""
    neg_a, neg_b = _negated_positions(a), _negated_positions(b)
    for k, cue in neg_a.items():
        anchors = _anchors(a, cue, k)
        for m, u in enumerate(b):
            if u.key != a[k].key or m in neg_b:
                continue
            if _same_anchor(anchors, _anchors(b, m, m)):
                return f"'{a[cue].text} {a[k].text}' where the other text says '{u.text}'"
    return None


@lru_cache(maxsize=1)
def _antonyms() -> dict[str, set[str]]:
    table: dict[str, set[str]] = {}
    for a, b in _ANTONYM_PAIRS:
        sa, sb = _stem(a), _stem(b)
        table.setdefault(sa, set()).add(sb)
        table.setdefault(sb, set()).add(sa)
    return table


def _antonym_flip(a: tuple[Tok, ...], b: tuple[Tok, ...]) -> tuple[str, str] | None:
    """A word of ``a`` whose antonym stands in ``b`` about the same neighbour words (and neither is negated)."""
    table = _antonyms()
    neg_a, neg_b = _negated_positions(a), _negated_positions(b)
    a_keys, b_keys = _keys(a), _keys(b)
    for i, t in enumerate(a):
        for opp in table.get(t.key, ()):
            if opp not in b_keys or t.key in b_keys or opp in a_keys or i in neg_a:
                continue
            for m, u in enumerate(b):
                # "did not win" vs "lost" agree: a negated antonym is no flip
                if (
                    u.key == opp
                    and m not in neg_b
                    and _same_anchor(_anchors(a, i, i), _anchors(b, m, m))
                ):
                    return t.text, u.text
    return None


def polarity_flip(a: str | tuple[Tok, ...], b: str | tuple[Tok, ...]) -> str | None:
    """Why ``a`` and ``b`` state opposite things (negation or antonym about the same words), else None."""
    ta = analyse(a) if isinstance(a, str) else a
    tb = analyse(b) if isinstance(b, str) else b
    neg = _negation_flip(ta, tb) or _negation_flip(tb, ta)
    ant = _antonym_flip(ta, tb)
    if neg and ant:
        return None  # two flips cancel: "did not win" vs "lost"
    if ant:
        return f"'{ant[0]}' where the other text says '{ant[1]}'"
    return neg


# ---------------------------------------------------------------------------
# Sentences
# ---------------------------------------------------------------------------

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


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


# ---------------------------------------------------------------------------
# Names, numbers and dates of a cased sentence
# ---------------------------------------------------------------------------

_CAP_TOKEN_RE = re.compile(r"[\w'’.-]+")


def _name_tokens(name: str) -> tuple[str, ...]:
    toks = [
        _fold(t)
        for t in re.findall(r"[^\W\d_]+", name.replace("’", "'"))
        if len(t) > 1 or t.isupper()
    ]
    toks = [t for t in toks if t not in ("s",)]
    core = tuple(t for t in toks if t not in _TITLES)
    return core or tuple(toks)


def _capitalised_names(sentence: str) -> list[str]:
    """Runs of capitalised words ("Vladimir Putin", "Bank of England"), skipping ordinary sentence openers."""
    names: list[str] = []
    run: list[str] = []
    words = [(m.group(), m.start(), m.end()) for m in _CAP_TOKEN_RE.finditer(sentence)]
    prev_end = 0
    for i, (w, pos, end) in enumerate(words):
        gap = sentence[prev_end:pos]
        prev_end = end
        if run and gap.strip():  # punctuation between words ends a name: 'Trump," Ushakov said'
            names.append(" ".join(run))
            run = []
        bare = w.strip("'’.-")
        initial = i == 0 or sentence[:pos].rstrip()[-1:] in (".", "!", "?", ":", '"', "“", "'", "‘")
        is_cap = (
            bare[:1].isupper()
            and bare.lower() not in _MONTHS
            and bare.lower() not in _WEEKDAYS
            and bare != "I"
        )
        if is_cap and initial and not run:
            nxt_cap = (
                i + 1 < len(words)
                and words[i + 1][0][:1].isupper()
                and not sentence[end : words[i + 1][1]].strip()
            )
            # a lone capitalised opener ("Curated", "Police", "Putin") is left to NER in names_in
            is_cap = bare.lower() not in _STOP and (nxt_cap or bare.isupper())
        possessive = bare.endswith(("'s", "’s"))
        if is_cap:
            run.append(bare[:-2] if possessive else bare)
            if possessive:  # "Trump's Steve Witkoff" is two people
                names.append(" ".join(run))
                run = []
        elif (
            run
            and w.lower() in _NAME_CONNECTORS
            and i + 1 < len(words)
            and words[i + 1][0][:1].isupper()
        ):
            run.append(w)
        else:
            if run:
                names.append(" ".join(run))
            run = []
    if run:
        names.append(" ".join(run))
    out = []
    for n in names:
        while n.split() and n.split()[-1].lower() in _NAME_CONNECTORS:
            n = " ".join(n.split()[:-1])
        words = n.split()
        # a run of function words is no name ("'The flash" after a quote), nor a shouted label ("SHOW US YOUR")
        shouted = sum(w.isupper() and len(w) > 1 for w in words) >= 2 and any(
            w.lower() in _STOP for w in words
        )
        if n and _name_tokens(n) and not shouted and not all(t in _STOP for t in _name_tokens(n)):
            out.append(n)
    return out


@lru_cache(maxsize=4096)
def _ner_names(sentence: str) -> tuple[str, ...]:
    """spaCy NER names of one sentence (NER only: the parser is not needed and costs most)."""
    from assistant.nlp import get_nlp

    doc = get_nlp("sm")(sentence, disable=["parser", "tagger", "lemmatizer", "attribute_ruler"])
    return tuple(e.text for e in doc.ents if e.label_ in _NER_LABELS)


def names_in(sentence: str, use_ner: bool = True) -> list[str]:
    """Names in a cased sentence: capitalised runs, plus spaCy NER for an ambiguous first word ("Trump said")."""
    text = clean_text(sentence)
    names = _capitalised_names(text)
    first = re.match(r"[\W]*([A-Z][\w'’-]*)", text)
    if not use_ner or not first or first.group(1).lower() in _STOP:
        return names
    word = first.group(1)
    if any(n.split()[0] == word for n in names):
        return names
    # NER only here: elsewhere capitalisation already finds names, and NER costs ~3 ms a sentence
    for ent in _ner_names(text):
        if ent.split()[0] == word and _name_tokens(ent):
            names.insert(0, ent)
            break
    return names


def _name_in(name: str, words: set[str], names: list[str] | tuple[str, ...] = ()) -> bool:
    """Every token of the name occurs (allowing a spelling variant of long tokens, or an acronym of ``names``)."""
    tokens = _name_tokens(name)
    if len(tokens) == 1 and name.isupper() and 2 <= len(name) <= 6:
        for other in names:  # "ONS" for "Office for National Statistics"
            initials = "".join(w[0] for w in other.split() if w.lower() not in _NAME_CONNECTORS)
            if initials.upper() == name:
                return True
    for t in tokens:
        if t in words:
            continue
        if len(t) >= 5 and any(abs(len(t) - len(w)) <= 2 and fuzz.ratio(t, w) >= 85 for w in words):
            continue
        if len(t) >= 3 and any(w.startswith(t) for n in names for w in _name_tokens(n)):
            continue  # a short form of a name in the passage: "Alex" for "Alexander Soumbadze"
        return False
    return True


@lru_cache(maxsize=8192)
def _word_set(text: str) -> set[str]:
    """Folded words of ``text`` for name look-ups; dotted acronyms also joined ("D.C." -> "dc")."""
    t = _fold(clean_text(text)).replace("'s", " ")
    return set(_LETTERS_RE.findall(t)) | {a.replace(".", "") for a in _DOTTED_ACRONYM_RE.findall(t)}


_LETTERS_RE = re.compile(r"[^\W\d_]+")
_DOTTED_ACRONYM_RE = re.compile(r"(?:[^\W\d_]\.){2,}")


def _values(toks: tuple[Tok, ...]) -> dict[str, str]:
    """Canonical number/date key -> surface form, for the strong (non-"one") ones."""
    return {t.key: t.text for t in toks if t.kind in ("num", "date") and t.content}


# ---------------------------------------------------------------------------
# Check-worthiness
# ---------------------------------------------------------------------------

_QUOTE_RE = re.compile(r"[\"“”]|(?:^|\s)'[^']{3,}'")


def is_checkworthy(sentence: str) -> bool:
    """True when the sentence states something checkable: numbers, dates, quotes, attributions or names."""
    s = clean_text(sentence)
    if len(s.split()) < 4:
        return False  # labels and bylines ("Outlook News Desk", "Updated on:")
    toks = analyse(s)
    if any(t.kind in ("num", "date") and t.content for t in toks):
        return True
    if _QUOTE_RE.search(sentence) or _ATTRIBUTION.search(s):
        return True
    return bool(names_in(s))  # NER runs only for an ambiguous capitalised first word


# ---------------------------------------------------------------------------
# Citations
# ---------------------------------------------------------------------------


def _quote_score(quote: str, passage_text: str) -> float:
    q = " ".join(_prepare(quote).split())
    p = " ".join(_prepare(passage_text).split())
    if not q:
        return 100.0
    return fuzz.partial_ratio(q, p) if len(q) <= len(p) else fuzz.ratio(q, p)


def _quoted_spans(sentence: str) -> list[str]:
    """Direct speech inside the sentence (three words or more): it must be in the source verbatim."""
    s = clean_text(sentence)
    spans = re.findall(r'"([^"]{8,})"', s)
    return [x for x in spans if len(x.split()) >= 3]


def best_sentence(claim: str, passages: Sequence[Passage]) -> tuple[float, str, Passage | None]:
    """The passage sentence that most closely restates ``claim`` (rapidfuzz token_set_ratio): score, sentence, passage."""
    best: tuple[float, str, Passage | None] = (0.0, "", None)
    for p in passages:
        spans = split_sentences(p.text) or [(0, len(p.text))]
        for a, b in spans:
            text = p.text[a:b].strip()
            score = fuzz.token_set_ratio(claim, text)
            if score > best[0] or best[2] is None:
                best = (score, text, p)
    return best


def verify_citations(
    sentence: str,
    citations: list[Citation],
    passages: dict[str, Passage],
    article_id: str | None = None,
) -> SentenceResult:
    """Check one summary/answer sentence against the passages it cites (ids, quotes, names, numbers, dates)."""

    def fail(reason: str) -> SentenceResult:
        return SentenceResult(
            text=sentence, citations=citations, verdict="unsupported", reason=reason
        )

    if not citations:
        return fail("no citation")
    cited: list[Passage] = []
    for c in citations:
        p = passages.get(c.passage_id)
        if p is None:
            return fail(f"cited passage '{c.passage_id}' does not exist")
        if article_id is not None and p.article_id != article_id:
            return fail(
                f"cited passage '{c.passage_id}' belongs to article '{p.article_id}', not '{article_id}'"
            )
        if c.quote.strip():
            score = _quote_score(c.quote, p.text)
            if score < QUOTE_MIN_SCORE:
                return fail(
                    f'quote not found in passage {p.id} (best match {score:.0f}/100): "{_short(c.quote)}"'
                )
        cited.append(p)
    ids = ", ".join(p.id for p in cited)
    joined = "\n".join(p.text for p in cited)
    for q in _quoted_spans(sentence):
        score = _quote_score(q, joined)
        if score < QUOTE_MIN_SCORE:
            return fail(
                f'quote not found in passage {ids} (best match {score:.0f}/100): "{_short(q)}"'
            )
    s_toks, p_toks = analyse(sentence), analyse(joined)
    p_keys = _keys(p_toks)
    for key, text in _values(s_toks).items():
        if key not in p_keys:
            kind = "date" if key in _MONTHS.values() or key in _WEEKDAYS else "number"
            return fail(f"{kind} '{text}' not in cited passage {ids}")
    words = _word_set(joined)
    passage_names = [n for s in _sentences(clean_text(joined)) for n in _capitalised_names(s)]
    for name in names_in(sentence):
        if not _name_in(name, words, passage_names):
            return fail(f"name '{name}' not in cited passage {ids}")
    content = [t for t in s_toks if t.content and t.kind == "word"]
    if len(content) >= 4:
        share = sum(t.weight for t in content if t.key in p_keys) / sum(t.weight for t in content)
        if share < CITED_MIN_OVERLAP:
            return fail(f"sentence shares few words with cited passage {ids} ({share:.0%})")
    return SentenceResult(
        text=sentence,
        citations=citations,
        verdict="supported",
        reason=f"names, numbers and quotes found in {ids}",
    )


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ---------------------------------------------------------------------------
# Claims against evidence from other articles
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _EvSentence:
    text: str
    toks: tuple[Tok, ...]
    keys: set[str]

    @property
    def names(self) -> list[str]:
        return _sentence_names(self.text)


@dataclass(slots=True)
class _EvPassage:
    text: str
    sentences: list[_EvSentence]
    keys: set[str]

    # Names and raw words are needed only for the few passages a claim aligns with: computed on demand.
    @property
    def words(self) -> set[str]:
        return _word_set(self.text)

    @property
    def names(self) -> list[str]:
        return [n for s in self.sentences for n in s.names]


@lru_cache(maxsize=16_384)
def _sentence_names(sentence: str) -> list[str]:
    return _capitalised_names(sentence)


@lru_cache(maxsize=4096)
def _ev_passage(passage_id: str, text: str) -> _EvPassage:
    """Analyse an evidence passage once (cached by id and text): sentences and their stems."""
    sents = []
    for s in _sentences(clean_text(text)):
        toks = analyse(s)
        sents.append(_EvSentence(s, toks, _keys(toks)))
    keys = set().union(*(s.keys for s in sents)) if sents else set()
    return _EvPassage(text, sents, keys)


def _overlap(
    claim: tuple[Tok, ...], keys: set[str], skip: set[str] = frozenset()
) -> tuple[float, int, float]:
    """Weighted share of the claim's content found in ``keys`` (ignoring ``skip``), matched count and weight."""
    total = hit = 0.0
    n = 0
    seen: set[str] = set()
    for t in claim:
        if not t.content or t.key in skip or t.key in seen:
            continue  # each word once: "hour ... hours" is one match, not two
        seen.add(t.key)
        total += t.weight
        if t.key in keys:
            hit += t.weight
            n += 1
    return (hit / total if total else 0.0), n, hit


def _aligned(
    claim: tuple[Tok, ...], keys: set[str], share: float, skip: set[str] = frozenset()
) -> bool:
    """The claim (minus ``skip``) and an evidence sentence say the same thing about enough substance.

    A share alone is not enough: "We know where to look" matches any sentence with "know" and "look".
    """
    got, n, weight = _overlap(claim, keys, skip)
    return got >= share and n >= CLAIM_MIN_WORDS and weight >= CLAIM_MIN_WEIGHT


def _value_anchors(toks: tuple[Tok, ...], key: str) -> tuple[str | None, str | None]:
    """The content words either side of a number or date ("12 people" -> "person")."""
    at = next((i for i, t in enumerate(toks) if t.key == key and t.kind != "word"), None)
    return (None, None) if at is None else _anchors(toks, at, at)


def _kind_of(key: str) -> str:
    """What a canonical value is (year, percentage, rank, month, weekday, count): only like ones conflict."""
    if key.endswith("%"):
        return "pct"
    if key.endswith("th"):
        return "rank"
    if re.fullmatch(r"(19|20)\d\d", key):
        return "year"
    if key in _WEEKDAYS:
        return "weekday"
    if key in _MONTHS.values():
        return "month"
    return "num"


def check_claim(claim: str, evidence: list[ScoredPassage]) -> ClaimResult:
    """Judge a claim against evidence passages from other articles: supported, contradicted or unverified."""
    c_toks = analyse(claim)
    c_values = _values(c_toks)
    c_names = names_in(claim)

    def result(verdict: str, reason: str, *evs: tuple[ScoredPassage, _EvSentence]) -> ClaimResult:
        found = [
            Evidence(passage_id=sp.passage.id, article_id=sp.passage.article_id, quote=s.text)
            for sp, s in evs
        ]
        return ClaimResult(
            text=claim, start=0, end=len(claim), verdict=verdict, evidence=found, reason=reason
        )

    if not evidence:
        return result("unverified", "no evidence from other articles")
    if not any(t.content for t in c_toks):
        return result("unverified", "nothing checkable in the claim")
    top = max(sp.score for sp in evidence)
    scored: list[tuple[float, float, ScoredPassage, int, _EvPassage]] = []
    for sp in evidence:
        ep = _ev_passage(sp.passage.id, sp.passage.text)
        prior = (sp.score / top) if top > 0 else 0.0
        for j, s in enumerate(ep.sentences):
            ov = _overlap(c_toks, s.keys)[0]
            # the retrieval score only breaks near-ties between sentences of similar overlap
            scored.append((ov + 0.05 * prior, ov, sp, j, ep))
    if not scored:
        return result("unverified", "evidence passages are empty")
    scored.sort(key=lambda x: -x[0])

    def support(ov: float, sp: ScoredPassage, j: int, ep: _EvPassage) -> str | None:
        """Why this sentence does not support the claim, or None when it does."""
        window = set().union(*(x.keys for x in ep.sentences[max(0, j - 1) : j + 2]))
        missing = [text for key, text in c_values.items() if key not in window]
        missing += [n for n in c_names if not _name_in(n, ep.words, ep.names)]
        if missing:
            return (
                ", ".join(f"'{x}'" for x in missing)
                + f" not found in the best evidence (passage {sp.passage.id})"
            )
        if not _aligned(c_toks, ep.sentences[j].keys, CLAIM_SUPPORTED):
            return f"best evidence covers only {ov:.0%} of the claim (passage {sp.passage.id})"
        return None

    aligned = [x for x in scored[:5] if x[1] >= CLAIM_RELATED]
    if not aligned:
        _, ov, sp, j, ep = scored[0]
        return result(
            "unverified",
            f"no evidence sentence matches the claim (best overlap {ov:.0%})",
            (sp, ep.sentences[j]),
        )
    # A name counts as missing only when no evidence passage has it (another may spell it out).
    passages = {id(ep): ep for _, _, _, _, ep in scored}.values()
    known_words = set().union(*(ep.words for ep in passages))
    known_names = [n for ep in passages for n in ep.names]
    conflicts = [
        _conflict(claim, c_toks, c_values, c_names, ep.sentences[j], ep, known_words, known_names)
        for _, _, _, j, ep in aligned
    ]
    backing = next(
        (
            (sp, ep.sentences[j])
            for (_, ov, sp, j, ep), c in zip(aligned, conflicts)
            if not c and support(ov, sp, j, ep) is None
        ),
        None,
    )
    # A differing number, date or polarity wins even when another source agrees: the editor must see the
    # discrepancy. A different name yields to a source naming the claim's own: it is often a synonym
    # ("Tyneside" for "Newcastle").
    for (_, _, sp, j, ep), found in zip(aligned, conflicts):
        if found is None or (found[0] == "name" and backing):
            continue
        also = f"; passage {backing[0].passage.id} agrees with the claim" if backing else ""
        return result(
            "contradicted",
            f"{found[1]} in passage {sp.passage.id}{also}",
            (sp, ep.sentences[j]),
            *([backing] if backing else []),
        )
    if backing:
        sp, s = backing
        ov = _overlap(c_toks, s.keys)[0]
        return result(
            "supported",
            f"names, numbers and {ov:.0%} of the wording match passage {sp.passage.id}",
            backing,
        )
    _, ov, sp, j, ep = aligned[0]
    return result(
        "unverified", support(ov, sp, j, ep) or "no supporting evidence", (sp, ep.sentences[j])
    )


def _name_anchors(toks: tuple[Tok, ...], name: str) -> tuple[str | None, str | None]:
    """The content words either side of a name in a token sequence."""
    keys = {_stem(w) for w in _name_tokens(name)}
    at = [i for i, t in enumerate(toks) if t.key in keys]
    return _anchors(toks, min(at), max(at)) if at else (None, None)


def _conflict(
    claim: str,
    c_toks: tuple[Tok, ...],
    c_values: dict[str, str],
    c_names: list[str],
    s: _EvSentence,
    ep: _EvPassage,
    known_words: set[str],
    known_names: list[str],
) -> tuple[str, str] | None:
    """(kind, reason) when the aligned evidence sentence gives another value, name or polarity."""
    c_keys = _keys(c_toks)
    # Numbers and dates: same kind, different value, standing by the same words ("12 people" / "10
    # people"), the rest of the claim aligned. A giant caption sentence full of numbers is no rival.
    s_values = _values(s.toks)
    for key, text in c_values.items():
        if key in ep.keys:
            continue
        where = _value_anchors(c_toks, key)
        for okey, otext in s_values.items():
            if okey in c_keys or _kind_of(okey) != _kind_of(key):
                continue
            other = _value_anchors(s.toks, okey)
            # side by side: the counted word follows the number ("6 train" is not "two friends")
            if not ((where[1] and where[1] == other[1]) or (where[0] and where[0] == other[0])):
                continue
            if _aligned(c_toks, s.keys, CLAIM_CONTEXT, skip={key}):
                kind = "date" if _kind_of(key) in ("month", "weekday") else "number"
                return "value", f"{kind} '{text}' where the evidence says '{otext}'"
    # Names: a claim name absent from the passage where the aligned sentence names someone the claim does not.
    claim_words = _word_set(claim)
    for name in c_names:
        if _name_in(name, known_words, known_names):
            continue
        # Rivals: a variant of this name ("Jean Dupont" for "John Dupont") first, then names the claim does not
        # mention at all ("Donald Trump" for "Joe Biden", but not "President Putin" when the claim names Putin).
        # A rival must stand where the claim's name stands (same neighbour words), so "his blog, That Dad
        # Blog" is not set against "bikini model Alexis Randock" in a sentence that merely shares words.
        own = set(_name_tokens(name))
        where = _name_anchors(c_toks, name)
        others = []
        for n in s.names:
            tokens = set(_name_tokens(n))
            if _name_in(n, claim_words, c_names):
                continue
            if tokens & own:
                others.insert(0, n)
            elif not tokens & claim_words and _same_anchor(where, _name_anchors(s.toks, n)):
                others.append(n)
        if not others:
            continue
        # the rest of the claim, matched names included, must line up with the rival's sentence
        # (only the differing words are skipped: "john"/"jean", not "dupont")
        skip = {_stem(w) for w in own ^ set(_name_tokens(others[0]))}
        if _aligned(c_toks, s.keys, CLAIM_CONTEXT, skip=skip):
            return "name", f"name '{name}' where the evidence says '{others[0]}'"
    # Polarity: a negation or an antonym about the same words ("did not meet" vs "met", "rose" vs "fell").
    flip = polarity_flip(c_toks, s.toks)
    # the flipped word itself is no context
    if flip and _aligned(c_toks, s.keys, CLAIM_CONTEXT, skip=c_keys & _antonyms().keys()):
        return "polarity", flip.replace("the other text", "the evidence")
    return None


# ---------------------------------------------------------------------------
# Summary vs article consistency
# ---------------------------------------------------------------------------


_PERSONAL_PRONOUNS = frozenset({"he", "she", "they", "him", "her", "his", "their", "them"})


class ConsistencyParams(NamedTuple):
    """Knobs of ``consistency_score`` (defaults picked on consistency-frank-dev; see eval/consistency_dev.py)."""

    elsewhere: float = (
        0.4  # credit for a summary word found in the article but not in the aligned sentence
    )
    pronoun: float = 0.3  # penalty per personal pronoun the aligned article sentence does not use
    polarity: float = (
        0.5  # penalty when the aligned sentence says the opposite (negation or antonym)
    )


DEFAULT_PARAMS = ConsistencyParams()


@dataclass(slots=True)
class _ArticleIndex:
    sentences: list[tuple[Tok, ...]]
    sentence_keys: list[set[str]]
    sentence_words: list[set[str]]
    keys: set[str]


@lru_cache(maxsize=256)
def _article_index(article: str) -> _ArticleIndex:
    """Sentences of an article analysed once (cached: FRANK scores several summaries per article)."""
    sents = [analyse(s) for s in _sentences(clean_text(article))]
    keys = [_keys(t) for t in sents]
    return _ArticleIndex(
        sents, keys, [{t.text for t in s} for s in sents], set().union(*keys) if keys else set()
    )


def _sentence_support(
    toks: tuple[Tok, ...], idx: _ArticleIndex, params: ConsistencyParams
) -> tuple[float, int, list[str]]:
    """Best support of one summary sentence by one article sentence: score, sentence index, problems."""
    content = [t for t in toks if t.content]
    total = sum(t.weight for t in content)
    best, best_j = -1.0, -1
    for j, keys in enumerate(idx.sentence_keys):
        # words elsewhere in the article earn part credit: a first name given earlier, a recap
        cov = sum(
            t.weight if t.key in keys else params.elsewhere * t.weight * (t.key in idx.keys)
            for t in content
        )
        if cov > best:
            best, best_j = cov, j
    if best_j < 0:
        return 0.0, -1, ["article has no sentences"]
    score = best / total
    keys, words = idx.sentence_keys[best_j], idx.sentence_words[best_j]
    problems = []
    missing = [t.text for t in content if t.key not in idx.keys]
    elsewhere = [t.text for t in content if t.key in idx.keys and t.key not in keys]
    if missing:
        problems.append("not in article: " + ", ".join(dict.fromkeys(missing)))
    if elsewhere:
        problems.append("not in the matching sentence: " + ", ".join(dict.fromkeys(elsewhere)))
    # A pronoun the source sentence does not use means the summary resolved a reference itself (often wrongly).
    pronouns = sorted({t.text for t in toks if t.text in _PERSONAL_PRONOUNS} - words)
    if pronouns:
        score -= params.pronoun * len(pronouns)
        problems.append("pronoun not in the matching sentence: " + ", ".join(pronouns))
    flip = polarity_flip(toks, idx.sentences[best_j])
    if flip:
        score -= params.polarity
        problems.append(flip.replace("the other text", "the article"))
    return score, best_j, problems


def consistency_score(
    summary: str, article: str, params: ConsistencyParams = DEFAULT_PARAMS
) -> tuple[float, str]:
    """Score (higher = better supported; the weakest summary sentence decides) and a reason naming it."""
    idx = _article_index(article)
    worst: tuple[float, str, list[str]] = (1.0, "", [])
    for sent in _sentences(clean_text(summary)):
        toks = analyse(sent)
        if not any(t.content for t in toks):
            continue
        score, _, problems = _sentence_support(toks, idx, params)
        if score < worst[0] or not worst[1]:
            worst = (score, sent, problems)
    score, sent, problems = worst
    if not sent:
        return 1.0, "nothing checkable in the summary"
    return score, f'weakest sentence (score {score:.2f}): "{_short(sent)}"; ' + (
        "; ".join(problems) or "fully supported"
    )


def is_consistent(summary: str, article: str) -> tuple[bool, str]:
    """Whether every summary sentence is supported by an article sentence, with the reason."""
    score, reason = consistency_score(summary, article)
    return score >= CONSISTENCY_THRESHOLD, reason


class MissingFacts(NamedTuple):
    """Numbers/dates and names of a statement that its source does not contain."""

    values: list[str]
    names: list[str]


def missing_facts(statement: str, source: str) -> MissingFacts:
    """The statement's numbers, dates and names that do not occur anywhere in ``source``."""
    s_toks = analyse(statement)
    src_keys = _keys(analyse(source))
    values = [text for key, text in _values(s_toks).items() if key not in src_keys]
    words = _word_set(source)
    src_names = [n for s in _sentences(clean_text(source)) for n in _capitalised_names(s)]
    names = [n for n in names_in(statement) if not _name_in(n, words, src_names)]
    return MissingFacts(values, names)
