"""Name and typo checking: spaCy entities, reference lexicons, corpus spellings, the style book, codespell.

A capitalised word is suspect when the reference lexicons (spaCy md vocabulary, wordfreq)
do not know it, or know it only as a rarity, and a close spelling is clearly better attested:
by the lexicons, by the same text, by the stored corpus, or by the style book. The style
book overrides everything; ordinary words are checked only against codespell's list of
known misspellings, so a correct proper noun is never "corrected" into a common word.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz.distance import DamerauLevenshtein

from assistant.corpus_names import (
    CORPUS_ESTABLISHED_DOCS,
    SKIP_RE,
    WORD_RE,
    CorpusNames,
    is_name_like,
)
from assistant.lexicons import Lexicon, codespell_table, lexicon
from assistant.nlp import get_nlp
from assistant.stylebook import StyleBook
from assistant.types import TypoFlag

# A word at or above this Zipf frequency (wordfreq scale, 3 = once per million words) is an
# established spelling and is never flagged as a name typo.
ESTABLISHED_ZIPF = 2.3
# A rare but known word is flagged only when a neighbour is this much (log10) more frequent.
RARE_GAP = 2.5
# ...and that neighbour is itself a common word (e.g. "Keven" -> "Kevin"), also capitalised.
RARE_NEIGHBOUR_ZIPF = 4.0
RARE_NEIGHBOUR_CAP_ZIPF = 3.5
# With only the lexicons as evidence, an unknown word's neighbour must be at least this
# frequent, by kind of slip: vowel changes and wrong keys turn one real name into another
# far more often than doubled, swapped or dropped letters do ("Lusardo"/"Lusardi").
LEXICON_MIN_ZIPF = {"double": 1.5, "swap": 1.5, "drop": 1.5, "vowel": 2.5, "key": 3.5}
FIRST_LETTER_EXTRA_ZIPF = 2.0
# The slips that turn a real word into a rare-but-real one ("Kevin" -> "Keven").
_SLIPS = frozenset({"double", "swap", "drop", "vowel"})
# Endings that make another form of a name, not a misspelling of it.
_SUFFIXES = frozenset({"s", "es", "'s", "i", "e"})
# Weight of the md-vector fit between a candidate and its neighbouring words when ranking
# candidates ("Hlter Skelter": "Helter" fits "Skelter", "Halter" does not).
CONTEXT_WEIGHT = 2.0
CONTEXT_MIN_SIM = 0.5
# Names shorter than this are too ambiguous to correct ("Jon"/"Jo"/"Joe").
MIN_NAME_LEN = 4
# Seen in CORPUS_ESTABLISHED_DOCS corpus articles (corpus_names.py) = a spelling this newsroom
# uses; a rival spelling must be used in CORPUS_RATIO times as many articles to be suggested over it.
CORPUS_RATIO = 3
# Grammatical or idiomatic repeats that are not typos.
_DOUBLES = "had that is was do bye no yes very so ha blah knock chop tut there well far"
LEGIT_DOUBLES = frozenset(_DOUBLES.split())
_VOWELS = frozenset("aeiou")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_KEYBOARD = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
# Spans where words are identifiers, not prose: URLs, e-mail addresses, handles, hashtags.
# Prior of each kind of one-edit typo (a noisy-channel weight): doubled letters, swaps and
# dropped letters are the common slips; an arbitrary substituted letter is the least likely.
_EDIT_PRIOR = {
    "double": 1.0,
    "swap": 1.0,
    "drop": 0.8,
    "vowel": 0.8,
    "key": 0.5,
    "insert": 0.4,
    "sub": 0.3,
    "other": 0.2,
}
_EDIT_WORDS = {
    "double": "a doubled letter",
    "swap": "two letters swapped",
    "drop": "a dropped letter",
    "vowel": "a changed vowel",
    "key": "a neighbouring key",
    "insert": "an extra letter",
    "sub": "a changed letter",
    "other": "several edits",
}


# --------------------------------------------------------------------------- lexicons


# Only tokens and entities are needed: skipping the parser and tagger halves the time.
_UNUSED_PIPES = ("tagger", "parser", "attribute_ruler", "lemmatizer")
_SENTENCE_END = frozenset({".", "!", "?", "…", ":", ";"})
_OPENERS = frozenset({'"', "'", "“", "‘", "(", "[", "-", "–", "—", "•"})


def parse(text: str):
    """Tokens and entities from the sm pipeline (loaded once by assistant.nlp)."""
    nlp = get_nlp("sm")
    return nlp(text, disable=[p for p in _UNUSED_PIPES if p in nlp.pipe_names])


def warm_up() -> None:
    """Load the spaCy pipelines, lexicons and codespell table now, so the first check is fast."""
    lexicon()
    codespell_table()
    parse("Warm up.")


# --------------------------------------------------------------------------- edits


def _edits1(word: str) -> set[str]:
    """Every string one Damerau edit from ``word`` (lowercase letters plus the word's own)."""
    letters = set(_ALPHABET) | set(word)
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return (deletes | swaps | replaces | inserts) - {word}


def _key_pos() -> dict[str, tuple[int, int]]:
    return {c: (r, i) for r, row in enumerate(_KEYBOARD) for i, c in enumerate(row)}


_KEYPOS = _key_pos()


def _edit_kind(typo: str, right: str) -> str:
    """Name the single edit that turns ``right`` into ``typo`` (both lowercase)."""
    if len(typo) == len(right) + 1:
        i = next((k for k in range(len(right)) if typo[k] != right[k]), len(right))
        neighbours = {typo[i - 1] if i else "", typo[i + 1] if i + 1 < len(typo) else ""}
        return "double" if typo[i] in neighbours else "insert"
    if len(typo) + 1 == len(right):
        return "drop"
    if len(typo) == len(right):
        diff = [k for k in range(len(typo)) if typo[k] != right[k]]
        if len(diff) == 2 and diff[1] == diff[0] + 1 and typo[diff[0]] == right[diff[1]]:
            return "swap"
        if len(diff) == 1:
            a, b = typo[diff[0]], right[diff[0]]
            if a in _VOWELS and b in _VOWELS:
                return "vowel"
            pa, pb = _KEYPOS.get(a), _KEYPOS.get(b)
            if pa and pb and abs(pa[0] - pb[0]) <= 1 and abs(pa[1] - pb[1]) <= 1:
                return "key"
            return "sub"
    return "other"


def _max_dist(word: str) -> int:
    # Two edits only for long names, where two real names rarely come that close.
    return 2 if len(word) >= 9 else 1


def _case_like(candidate: str, model: str, lex: Lexicon) -> str:
    """Give a lowercase candidate the capitalisation of the word it would replace."""
    if model[1:] == model[1:].lower():
        return candidate.capitalize()
    return lex.md_mixed.get(candidate) or candidate.capitalize()


@lru_cache(maxsize=50_000)
def _lexicon_neighbours(word: str) -> tuple[tuple[str, float], ...]:
    """Lexicon words one edit from ``word`` with their Zipf, most frequent first."""
    lex = lexicon()
    lower = word.lower()
    out: dict[str, float] = {}
    for cand in _edits1(lower):
        if len(cand) < 2:
            continue
        z = max(lex.wf_zipf(cand), lex.md_zipf(cand), lex.md_zipf(cand.capitalize()))
        if z > 0:
            form = _case_like(cand, word, lex)
            out[form] = max(out.get(form, 0.0), z)
    return tuple(sorted(out.items(), key=lambda kv: -kv[1]))


@lru_cache(maxsize=200_000)
def _zipf(word: str) -> float:
    return lexicon().zipf(word)


# --------------------------------------------------------------------------- checking


@dataclass
class _Candidate:
    form: str
    dist: int
    kind: str
    zipf: float = 0.0
    in_text: int = 0
    corpus_docs: int = 0
    style: bool = False
    first_letter: bool = False
    context: float = 0.0  # md-vector similarity to the neighbouring words

    def rank(self) -> float:
        """Noisy-channel style: attestation (log frequency) times the edit's prior."""
        support = self.zipf
        if self.in_text:
            support += 2.0 + math.log10(1 + self.in_text)
        if self.corpus_docs:
            support += 1.0 + math.log10(1 + self.corpus_docs)
        if self.style:
            support += 3.0
        support += CONTEXT_WEIGHT * self.context
        return support + math.log10(_EDIT_PRIOR.get(self.kind, 0.2)) * 2.0 - 2.0 * (self.dist - 1)


def find_typos(
    text: str, corpus: CorpusNames | None = None, stylebook: StyleBook | None = None
) -> list[TypoFlag]:
    """Flag misspelt names, known misspellings, doubled words and style-book variants in ``text``."""
    book = stylebook or StyleBook()
    doc = parse(text)
    skip = [m.span() for m in SKIP_RE.finditer(text)]
    flags: list[TypoFlag] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return not any(s < end and start < e for s, e in taken + skip)

    def add(flag: TypoFlag) -> None:
        flags.append(flag)
        taken.append((flag.start, flag.end))

    # The style book first: it overrides every other signal.
    for flag in _style_flags(text, book):
        if free(flag.start, flag.end):
            add(flag)
    accepted = {_fold(w) for name in book.accepted() for w in WORD_RE.findall(name)}

    # Words in prose only: URLs, addresses, handles and hashtags are identifiers.
    words = [t for t in doc if t.is_alpha and free(t.idx, t.idx + len(t.text)) and not _handle(t)]
    text_counts: Counter[str] = Counter(t.text for t in words)
    names = [w for w in text_counts if is_name_like(w) and len(w) >= MIN_NAME_LEN]
    docs = corpus.docs_without(text) if corpus is not None else (lambda name: 0)

    for tok in words:
        if _fold(tok.text) in accepted or not free(tok.idx, tok.idx + len(tok.text)):
            continue
        flag = (
            _doubled(tok)
            or _codespell_flag(tok)
            or _name_flag(tok, text_counts, names, corpus, docs, book, accepted)
        )
        if flag is not None and free(flag.start, flag.end):
            add(flag)
    return sorted(flags, key=lambda f: f.start)


def _fold(word: str) -> str:
    return word.replace("\u2019", "'").casefold()


def _style_flags(text: str, book: StyleBook) -> list[TypoFlag]:
    out = []
    for variant, preferred in book.variants().items():
        pattern = r"(?<!\w)" + re.escape(variant) + r"(?!\w)"
        for m in re.finditer(pattern, text, flags=re.IGNORECASE):
            found = m.group(0)
            if found == preferred:
                continue
            out.append(
                TypoFlag(
                    text=found,
                    start=m.start(),
                    end=m.end(),
                    suggestion=preferred,
                    kind="style",
                    reason=f"the style book prefers '{preferred}' to '{variant}'",
                    score=1.0,
                )
            )
    # A longer variant ("Volodymyr Zelensky") wins over a shorter one inside it.
    out.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[TypoFlag] = []
    for f in out:
        if not kept or f.start >= kept[-1].end:
            kept.append(f)
    return kept


def _handle(tok) -> bool:
    """A word glued to "#", "@", "/" or "." (a hashtag, handle or path) is not prose."""
    if tok.i == 0:
        return False
    prev = tok.doc[tok.i - 1]
    return not prev.whitespace_ and prev.text in {"#", "@", "/", "."}


def _doubled(tok) -> TypoFlag | None:
    doc = tok.doc
    prev = doc[tok.i - 1] if tok.i else None
    if prev is None or not prev.is_alpha or prev.whitespace_ != " ":
        return None
    before = doc[prev.i - 1] if prev.i else None
    after = doc[tok.i + 1] if tok.i + 1 < len(doc) else None
    if (before is not None and before.text == "-" and not before.whitespace_) or (
        after is not None and after.text == "-" and not tok.whitespace_
    ):
        return None  # "an eight-goal goal-difference": parts of two compounds
    if tok.text.lower() != prev.text.lower() or not tok.text.islower():
        return None  # "Bora Bora", "Walla Walla": repeated capitals are usually names
    if tok.text.lower() in LEGIT_DOUBLES:
        return None
    return TypoFlag(
        text=f"{prev.text} {tok.text}",
        start=prev.idx,
        end=tok.idx + len(tok.text),
        suggestion=prev.text,
        kind="doubled",
        reason=f"'{tok.text}' is repeated",
        score=0.9,
    )


def _starts_sentence(tok) -> bool:
    """Sentence start without the parser: after end punctuation, an opener or a line break."""
    doc = tok.doc
    j = tok.i - 1
    while j >= 0 and (doc[j].text in _OPENERS or doc[j].is_space):
        if "\n" in doc[j].text or "\n" in doc[j].whitespace_:
            return True
        j -= 1
    return j < 0 or doc[j].text in _SENTENCE_END or "\n" in doc[j].whitespace_


def _codespell_flag(tok) -> TypoFlag | None:
    word = tok.text
    if not word.islower():
        # Capitalised words are names unless they merely start a sentence; a form the md
        # vocabulary knows capitalised ("Wil") is taken as a name.
        if not (_starts_sentence(tok) and word[1:].islower() and not tok.ent_type_):
            return None
        if word in lexicon().md_rank:
            return None
    fixes = codespell_table().get(word.lower())
    if not fixes:
        return None
    suggestion = fixes[0] if word.islower() else fixes[0][:1].upper() + fixes[0][1:]
    reason = f"codespell lists '{word.lower()}' as a misspelling of '{fixes[0]}'"
    if len(fixes) > 1:
        reason += f" (or {', '.join(repr(f) for f in fixes[1:])})"
    return TypoFlag(
        text=word,
        start=tok.idx,
        end=tok.idx + len(word),
        suggestion=suggestion,
        kind="word",
        reason=reason,
        score=0.8 if len(fixes) == 1 else 0.5,
    )


def _name_flag(
    tok,
    text_counts: Counter[str],
    names: list[str],
    corpus: CorpusNames | None,
    docs: Callable[[str], int],
    book: StyleBook,
    accepted: set[str],
) -> TypoFlag | None:
    word = tok.text
    if len(word) < MIN_NAME_LEN or not word[0].isupper() or word.isupper():
        return None
    zw = _zipf(word)
    if zw >= ESTABLISHED_ZIPF:
        return None
    corpus_docs = docs(word)
    n_word = text_counts[word]
    lower = word.lower()
    max_dist = _max_dist(word)
    cands: dict[str, _Candidate] = {}

    def cand(form: str, dist: int) -> _Candidate:
        c = cands.get(form)
        if c is None:
            c = cands[form] = _Candidate(
                form, dist, _edit_kind(lower, form.lower()) if dist == 1 else "other"
            )
            c.zipf = _zipf(form)
            c.in_text = text_counts[form]
            c.corpus_docs = docs(form)
            c.style = _fold(form) in accepted
            c.first_letter = lower[:1] != form[:1].lower()
        return c

    for form, _ in _lexicon_neighbours(word):
        cand(form, 1)
    for form in names:
        if form != word and abs(len(form) - len(word)) <= max_dist:
            d = DamerauLevenshtein.distance(lower, form.lower(), score_cutoff=max_dist)
            if d <= max_dist:
                cand(form, d)
    if corpus is not None:
        for form, d in corpus.near(word, max_dist):
            cand(form, d)
    for name in book.accepted():
        for form in WORD_RE.findall(name):
            if form != word and len(form) >= MIN_NAME_LEN:
                d = DamerauLevenshtein.distance(lower, form.lower(), score_cutoff=max_dist)
                if d <= max_dist:
                    cand(form, d)

    viable = [c for c in cands.values() if _supports(c, zw, n_word, corpus_docs, word)]
    if not viable:
        return None
    if len(viable) > 1:
        neighbours = _neighbour_words(tok)
        for c in viable:
            c.context = _context_fit(c.form, neighbours)
    viable.sort(key=lambda c: -c.rank())
    best = viable[0]
    return TypoFlag(
        text=word,
        start=tok.idx,
        end=tok.idx + len(word),
        suggestion=best.form,
        kind="name",
        reason=_reason(tok, word, zw, n_word, best, viable[1:]),
        score=_score(best, zw, viable[1:], bool(tok.ent_type_)),
    )


def _supports(c: _Candidate, zw: float, n_word: int, corpus_docs: int, word: str) -> bool:
    """Is ``c`` clearly better attested than the word it would replace?"""
    if _inflection(word, c.form):
        return False  # "Cambridges"/"Cambridge", "Tikriti"/"Tikrit": a form, not a slip
    if _strip_accents(word) == _strip_accents(c.form):
        return False  # "Åsberg"/"Asberg": a transliteration choice for the style book
    if c.style:
        return True
    if c.dist > 1 and (zw > 0 or _soundex(word) != _soundex(c.form)):
        return False  # two edits: only an unknown word that sounds the same
    return (
        _text_supports(c, zw, n_word)
        or _corpus_supports(c, zw, n_word, corpus_docs)
        or (_lexicon_supports(c, zw, n_word, corpus_docs))
    )


def _text_supports(c: _Candidate, zw: float, n_word: int) -> bool:
    """The same name spelt two ways in one text: the rarer spelling is the suspect."""
    if not c.in_text:
        return False
    if zw == 0:
        return c.in_text > n_word or (c.zipf > 0 and c.in_text >= n_word)
    # Two spellings the lexicons both know ("Lianna"/"Liana", "Kiltie"/"Killie") are often
    # two people; only a rarity next to a common name is suspect ("Danel"/"Daniel").
    return c.in_text >= n_word and c.zipf >= zw + 1.0 and c.kind in _SLIPS


def _corpus_supports(c: _Candidate, zw: float, n_word: int, corpus_docs: int) -> bool:
    """The newsroom's usual spelling, used in many more articles than this one."""
    if c.corpus_docs < max(CORPUS_ESTABLISHED_DOCS, CORPUS_RATIO * max(1, corpus_docs)):
        return False
    # A spelling the lexicons know needs a likely slip to be "corrected".
    return n_word <= 2 and (zw == 0 or (c.kind in _SLIPS and c.zipf >= zw))


def _lexicon_supports(c: _Candidate, zw: float, n_word: int, corpus_docs: int) -> bool:
    """Lexicon evidence alone: one edit, and the spelling is not used again here or in the corpus."""
    if c.dist != 1 or n_word != 1 or corpus_docs >= CORPUS_ESTABLISHED_DOCS:
        return False
    if zw == 0:
        # Typists seldom miss a name's first letter, so an edit there needs a common neighbour.
        extra = FIRST_LETTER_EXTRA_ZIPF if c.first_letter else 0.0
        return c.zipf >= LEXICON_MIN_ZIPF.get(c.kind, 99.0) + extra
    # A real but rare word ("Keven") is corrected only by a likely slip to a word that is
    # common, and common with a capital ("Kevin"; not "Gonna" for the name "Ganna").
    return (
        c.kind in _SLIPS
        and not c.first_letter
        and c.zipf >= max(zw + RARE_GAP, RARE_NEIGHBOUR_ZIPF)
        and lexicon().cap_zipf(c.form) >= RARE_NEIGHBOUR_CAP_ZIPF
    )


_SOUNDEX = {
    c: str(d)
    for d, letters in enumerate(["aeiouyhw", "bfpv", "cgjkqsxz", "dt", "l", "mn", "r"])
    for c in letters
}


def _soundex(word: str) -> str:
    """American Soundex code, so "similar sound" can gate two-edit matches."""
    word = _strip_accents(word)
    letters = [c for c in word if c in _SOUNDEX]
    if not letters:
        return word
    out, last = letters[0], _SOUNDEX[letters[0]]
    for c in letters[1:]:
        code = _SOUNDEX[c]
        if code != "0" and code != last:
            out += code
        if c not in "hw":
            last = code
    return (out + "000")[:4].upper()


def _strip_accents(word: str) -> str:
    return "".join(
        ch for ch in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(ch)
    )


def _inflection(a: str, b: str) -> bool:
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    tail = long_[len(short) :]
    return long_.lower().startswith(short.lower()) and tail.lower() in _SUFFIXES


def _neighbour_words(tok) -> list[str]:
    doc = tok.doc
    out = []
    for j in (tok.i - 1, tok.i + 1):
        if 0 <= j < len(doc) and doc[j].is_alpha and not doc[j].is_stop:
            out.append(doc[j].text)
    return out


def _context_fit(form: str, neighbours: list[str]) -> float:
    """Best cosine between ``form`` and a neighbouring word in the md vectors (0 if unknown)."""
    vocab = get_nlp("md").vocab
    if not neighbours or not vocab.has_vector(form):
        return 0.0
    v = vocab.get_vector(form)
    best = 0.0
    for word in neighbours:
        if vocab.has_vector(word):
            u = vocab.get_vector(word)
            denom = float((v @ v) ** 0.5 * (u @ u) ** 0.5)
            if denom:
                best = max(best, float(v @ u) / denom)
    # Only a phrase-like fit counts; weaker similarities among rare md words are noise.
    return best if best >= CONTEXT_MIN_SIM else 0.0


def _reason(
    tok, word: str, zw: float, n_word: int, best: _Candidate, others: list[_Candidate]
) -> str:
    lex = lexicon()
    if zw == 0:
        head = f"'{word}' is not in the spaCy md vocabulary or wordfreq"
    else:
        head = f"'{word}' is rare in the reference lexicons (Zipf {zw:.1f})"
    if n_word > 1:
        head += f" and occurs {n_word} times in this text"
    if tok.ent_type_:
        head += f"; spaCy tags it as part of an entity ({tok.ent_type_})"
    evidence = []
    if best.style:
        evidence.append("is in the style book")
    known = lex.describe(best.form)
    if known:
        evidence.append(known)
    if best.in_text:
        evidence.append(f"occurs {_times(best.in_text)} in this text")
    if best.corpus_docs:
        evidence.append(
            f"occurs in {best.corpus_docs} corpus article{'s' if best.corpus_docs > 1 else ''}"
        )
    how = _EDIT_WORDS.get(best.kind, "") if best.dist == 1 else ""
    detail = f"edit distance {best.dist}" + (f", {how}" if how else "")
    tail = f"'{best.form}' ({detail}) " + ", ".join(evidence)
    if others:
        tail += "; other candidates: " + ", ".join(f"'{c.form}'" for c in others[:3])
    return f"{head}; {tail}"


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _score(best: _Candidate, zw: float, others: list[_Candidate], entity: bool) -> float:
    """A 0-1 confidence: strong for text/corpus/style support, weaker for a near tie."""
    s = 0.5 + 0.05 * min(best.zipf, 5.0) + (0.05 if entity else 0.0)
    if best.in_text or best.corpus_docs or best.style:
        s += 0.15
    if zw:
        s -= 0.15
    if others and others[0].rank() > best.rank() - 0.5:
        s -= 0.15
    return round(max(0.05, min(0.99, s)), 2)
