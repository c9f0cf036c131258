"""Deterministic checks behind every verdict: citations, claims and summary consistency.

Nothing here calls a language model. Each verdict comes with a reason an editor can check by eye
("number '12' not in cited passage p3"). An LLM judge may add a signal elsewhere but never
overrules these functions.

One module per concern, from the bottom up: ``text`` (normalisation), ``words`` (word lists,
stems, rarity), ``tokens`` (matching units), ``sentences``, ``names``, ``polarity``, then the
three checks: ``citations``, ``claims``, ``consistency``. The public API is re-exported here.
"""

from __future__ import annotations

from assistant.verify.citations import (
    CITED_MIN_OVERLAP,
    QUOTE_MIN_SCORE,
    MissingFacts,
    best_sentence,
    missing_facts,
    quote_score,
    verify_citations,
)
from assistant.verify.claims import (
    CLAIM_CONTEXT,
    CLAIM_MIN_WEIGHT,
    CLAIM_MIN_WORDS,
    CLAIM_RELATED,
    CLAIM_SUPPORTED,
    check_claim,
    is_checkworthy,
)
from assistant.verify.consistency import (
    CONSISTENCY_THRESHOLD,
    DEFAULT_PARAMS,
    ConsistencyParams,
    consistency_score,
    is_consistent,
)
from assistant.verify.names import names_in, ner_names
from assistant.verify.polarity import polarity_flip
from assistant.verify.sentences import sentence_texts, split_sentences
from assistant.verify.text import normalise_text
from assistant.verify.tokens import Tok, analyse
from assistant.verify.words import frequencies, irregular

__all__ = [
    "CITED_MIN_OVERLAP",
    "CLAIM_CONTEXT",
    "CLAIM_MIN_WEIGHT",
    "CLAIM_MIN_WORDS",
    "CLAIM_RELATED",
    "CLAIM_SUPPORTED",
    "CONSISTENCY_THRESHOLD",
    "DEFAULT_PARAMS",
    "QUOTE_MIN_SCORE",
    "ConsistencyParams",
    "MissingFacts",
    "Tok",
    "analyse",
    "best_sentence",
    "check_claim",
    "consistency_score",
    "is_checkworthy",
    "is_consistent",
    "missing_facts",
    "names_in",
    "normalise_text",
    "polarity_flip",
    "quote_score",
    "sentence_texts",
    "split_sentences",
    "verify_citations",
    "warm_up",
]


def warm_up() -> None:
    """Load spaCy's lemma tables, the NER pipeline and wordfreq now, so the first check is not slow."""
    irregular()
    frequencies()
    ner_names("Warm up with Ada Lovelace in London.")
