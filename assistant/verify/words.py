"""Word lists and the lexicon the checks share: stop words, number and date words, stems, word rarity."""

from __future__ import annotations

import logging
import math
from functools import lru_cache

from spacy.lang.en.stop_words import STOP_WORDS as _SPACY_STOP_WORDS

from assistant.errors import AssistantError
from assistant.nlp import get_nlp

log = logging.getLogger(__name__)

# fmt: off
# "having"/"being" are auxiliaries in practice; spaCy's list only has their base forms
STOP = frozenset({w.replace("’", "'").replace("‘", "'") for w in _SPACY_STOP_WORDS} | {"having", "being", "doing"})
NUM_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100, "dozen": 12, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "half": 0.5,
}  # "first"/"second" are left out: too often "first time", "a second"
ORDINAL_WORDS = frozenset({"third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"})
SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "mn": 1e6, "billion": 1e9, "bn": 1e9, "trillion": 1e12}
MONTHS = {
    "january": "january", "jan": "january", "february": "february", "feb": "february", "march": "march",
    "april": "april", "apr": "april", "may": "may", "june": "june", "jun": "june", "july": "july",
    "jul": "july", "august": "august", "aug": "august", "september": "september", "sep": "september",
    "sept": "september", "october": "october", "oct": "october", "november": "november", "nov": "november",
    "december": "december", "dec": "december",
}
WEEKDAYS = frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
# Month words that are also ordinary English words count as dates only next to a number or capitalised.
AMBIGUOUS_MONTHS = frozenset({"march", "may", "jan", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "feb", "apr", "sept"})
# fmt: on


@lru_cache(maxsize=1)
def irregular() -> dict[str, str]:
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
def stem(word: str) -> str:
    """Crude but symmetric stem: both sides go through it, so collisions rarely matter."""
    w = irregular().get(word, word)
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
def frequencies() -> dict[str, float]:
    """wordfreq's English frequency table, loaded once (wordfreq itself takes ~1 s to import)."""
    from wordfreq import get_frequency_dict

    return get_frequency_dict("en")


@lru_cache(maxsize=200_000)
def zipf(word: str) -> float:
    """wordfreq's Zipf frequency by direct look-up (``zipf_frequency`` re-tokenises every call)."""
    f = frequencies().get(word, 0.0)
    return math.log10(f) + 9.0 if f > 0 else 0.0


def rarity(word: str) -> float:
    """Weight of a word: rare words ("haemorrhage", "carney") carry the facts, common ones little."""
    return max(0.5, 7.0 - zipf(word))
