"""Citation checks: a summary or answer sentence against the passages it cites."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from rapidfuzz import fuzz

from assistant.types import Citation, Passage, SentenceResult
from assistant.verify.names import capitalised_names, name_in, names_in, word_set
from assistant.verify.sentences import sentence_texts, split_sentences
from assistant.verify.text import normalise_text, shorten
from assistant.verify.tokens import Tok, analyse, keys_of, prepare, values_of
from assistant.verify.words import MONTHS, WEEKDAYS

QUOTE_MIN_SCORE = 85.0  # rapidfuzz partial_ratio a cited quote must reach in its passage
CITED_MIN_OVERLAP = 0.25  # below this share of content words the citation is to the wrong passage


def quote_score(quote: str, passage_text: str) -> float:
    """How well ``quote`` occurs in ``passage_text`` (0-100, rapidfuzz on normalised text; an empty quote scores 100)."""
    q = " ".join(prepare(quote).split())
    p = " ".join(prepare(passage_text).split())
    if not q:
        return 100.0
    return fuzz.partial_ratio(q, p) if len(q) <= len(p) else fuzz.ratio(q, p)


def _quoted_spans(sentence: str) -> list[str]:
    """Direct speech inside the sentence (three words or more): it must be in the source verbatim."""
    s = normalise_text(sentence)
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

    def fail(reason: str, soft: bool = False) -> SentenceResult:
        return SentenceResult(
            text=sentence, citations=citations, verdict="unsupported", reason=reason, soft=soft
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
            score = quote_score(c.quote, p.text)
            if score < QUOTE_MIN_SCORE:
                return fail(
                    f'quote not found in passage {p.id} (best match {score:.0f}/100): "{shorten(c.quote)}"'
                )
        cited.append(p)
    ids = ", ".join(p.id for p in cited)
    joined = "\n".join(p.text for p in cited)
    for q in _quoted_spans(sentence):
        score = quote_score(q, joined)
        if score < QUOTE_MIN_SCORE:
            return fail(
                f'quote not found in passage {ids} (best match {score:.0f}/100): "{shorten(q)}"'
            )
    s_toks, p_keys = analyse(sentence), keys_of(analyse(joined))
    values = _missing_values(s_toks, p_keys)
    if values:
        key, text = values[0]
        kind = "date" if key in MONTHS.values() or key in WEEKDAYS else "number"
        return fail(f"{kind} '{text}' not in cited passage {ids}")
    names = _missing_names(sentence, joined)
    if names:
        # a name written another way ("EU Commission" for "EC") is an overlap finding, not a conflict
        return fail(f"name '{names[0]}' not found verbatim in cited passage {ids}", soft=True)
    content = [t for t in s_toks if t.content and t.kind == "word"]
    if len(content) >= 4:
        share = sum(t.weight for t in content if t.key in p_keys) / sum(t.weight for t in content)
        if share < CITED_MIN_OVERLAP:
            return fail(f"sentence shares few words with cited passage {ids} ({share:.0%})", soft=True)
    return SentenceResult(
        text=sentence,
        citations=citations,
        verdict="supported",
        reason=f"names, numbers and quotes found in {ids}",
    )


class MissingFacts(NamedTuple):
    """Numbers/dates and names of a statement that its source does not contain."""

    values: list[str]
    names: list[str]


def _missing_values(toks: tuple[Tok, ...], source_keys: set[str]) -> list[tuple[str, str]]:
    """(key, surface form) of each number or date of ``toks`` absent from ``source_keys``."""
    return [(key, text) for key, text in values_of(toks).items() if key not in source_keys]


def _missing_names(statement: str, source: str) -> list[str]:
    """The statement's names that ``source`` does not name (spelling variants and acronyms allowed)."""
    words = word_set(source)
    source_names = [n for s in sentence_texts(normalise_text(source)) for n in capitalised_names(s)]
    return [n for n in names_in(statement) if not name_in(n, words, source_names)]


def missing_facts(statement: str, source: str) -> MissingFacts:
    """The statement's numbers, dates and names that do not occur anywhere in ``source``."""
    missing = _missing_values(analyse(statement), keys_of(analyse(source)))
    return MissingFacts([text for _, text in missing], _missing_names(statement, source))
