"""Names in cased text: capitalised runs, spaCy NER for an ambiguous first word, and name look-ups."""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz

from assistant.nlp import get_nlp
from assistant.verify.text import fold, normalise_text
from assistant.verify.tokens import Tok, anchors
from assistant.verify.words import MONTHS, STOP, WEEKDAYS, stem

# fmt: off
_TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "dr", "prof", "professor", "sir", "dame", "lord", "lady", "president",
    "prime", "minister", "chancellor", "secretary", "senator", "sen", "rep", "gov", "governor", "gen",
    "general", "judge", "justice", "king", "queen", "prince", "princess", "pope", "rev", "st", "saint",
    "the", "of", "de", "van", "von", "der", "la", "le", "du", "da", "al", "bin", "and",
})
_NAME_CONNECTORS = frozenset({"of", "for", "de", "van", "von", "der", "la", "le", "du", "da", "al", "bin", "del"})
_NER_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "PRODUCT", "WORK_OF_ART", "LAW"})
# fmt: on

_CAP_TOKEN_RE = re.compile(r"[\w'’.-]+")
# A summariser's unknown-word marker ("UNK", "[UNK]"): a gap in the text, not a name, so it neither
# forms a name nor contradicts one (machine summaries carry it where their vocabulary ran out).
_PLACEHOLDERS = frozenset({"UNK"})


def name_tokens(name: str) -> tuple[str, ...]:
    """The folded words of a name without titles and connectors ("President Vladimir Putin" -> vladimir, putin)."""
    toks = [
        fold(t)
        for t in re.findall(r"[^\W\d_]+", name.replace("’", "'"))
        if len(t) > 1 or t.isupper()
    ]
    toks = [t for t in toks if t not in ("s",)]
    core = tuple(t for t in toks if t not in _TITLES)
    return core or tuple(toks)


def capitalised_names(sentence: str) -> list[str]:
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
            and bare not in _PLACEHOLDERS
            and bare.lower() not in MONTHS
            and bare.lower() not in WEEKDAYS
            and bare != "I"
        )
        if is_cap and initial and not run:
            nxt_cap = (
                i + 1 < len(words)
                and words[i + 1][0][:1].isupper()
                and not sentence[end : words[i + 1][1]].strip()
            )
            # a lone capitalised opener ("Curated", "Police", "Putin") is left to NER in names_in
            is_cap = bare.lower() not in STOP and (nxt_cap or bare.isupper())
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
            w.lower() in STOP for w in words
        )
        if n and name_tokens(n) and not shouted and not all(t in STOP for t in name_tokens(n)):
            out.append(n)
    return out


@lru_cache(maxsize=4096)
def ner_names(sentence: str) -> tuple[str, ...]:
    """spaCy NER names of one sentence (NER only: the parser is not needed and costs most)."""
    doc = get_nlp("sm")(sentence, disable=["parser", "tagger", "lemmatizer", "attribute_ruler"])
    return tuple(e.text for e in doc.ents if e.label_ in _NER_LABELS)


def names_in(sentence: str, use_ner: bool = True) -> list[str]:
    """Names in a cased sentence: capitalised runs, plus spaCy NER for an ambiguous first word ("Trump said")."""
    text = normalise_text(sentence)
    names = capitalised_names(text)
    first = re.match(r"[\W]*([A-Z][\w'’-]*)", text)
    if not use_ner or not first or first.group(1).lower() in STOP:
        return names
    word = first.group(1)
    if word in _PLACEHOLDERS or any(n.split()[0] == word for n in names):
        return names  # NER's "UNK Smith" would make the gap part of the name
    # NER only here: elsewhere capitalisation already finds names, and NER costs ~3 ms a sentence
    for ent in ner_names(text):
        if ent.split()[0] == word and name_tokens(ent):
            names.insert(0, ent)
            break
    return names


def name_in(name: str, words: set[str], names: list[str] | tuple[str, ...] = ()) -> bool:
    """Every token of the name occurs (allowing a spelling variant of long tokens, or an acronym of ``names``)."""
    tokens = name_tokens(name)
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
        if len(t) >= 3 and any(w.startswith(t) for n in names for w in name_tokens(n)):
            continue  # a short form of a name in the passage: "Alex" for "Alexander Soumbadze"
        return False
    return True


_LETTERS_RE = re.compile(r"[^\W\d_]+")
_DOTTED_ACRONYM_RE = re.compile(r"(?:[^\W\d_]\.){2,}")


@lru_cache(maxsize=8192)
def word_set(text: str) -> set[str]:
    """Folded words of ``text`` for name look-ups; dotted acronyms also joined ("D.C." -> "dc")."""
    t = fold(normalise_text(text)).replace("'s", " ")
    return set(_LETTERS_RE.findall(t)) | {a.replace(".", "") for a in _DOTTED_ACRONYM_RE.findall(t)}


def name_anchors(toks: tuple[Tok, ...], name: str) -> tuple[str | None, str | None]:
    """The content words either side of a name in a token sequence."""
    keys = {stem(w) for w in name_tokens(name)}
    at = [i for i, t in enumerate(toks) if t.key in keys]
    return anchors(toks, min(at), max(at)) if at else (None, None)


@lru_cache(maxsize=16_384)
def sentence_names(sentence: str) -> list[str]:
    """``capitalised_names`` cached per sentence: evidence passages recur across claims."""
    return capitalised_names(sentence)
