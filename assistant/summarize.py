"""Cited summaries: the model drafts sentences with passage ids and quotes; code verifies each one."""

from __future__ import annotations

import logging
import math
import re

from assistant.errors import LLMError, StructuredOutputError
from assistant.injection import find_injection, model_view, warning
from assistant.llm import complete_json, model_name
from assistant.prompts import DraftOutput, DraftSentence, render
from assistant.settings import Settings
from assistant.types import Article, Citation, Passage, SentenceResult, Summary
from assistant.verify import (
    QUOTE_MIN_SCORE,
    best_sentence,
    quote_score,
    split_sentences,
    verify_citations,
)

# A passage sentence this close to a summary sentence (rapidfuzz token_set_ratio) is its support.
ALIGN_MIN_SCORE = 75
# Summary sentences this close to an earlier one are repeats (small models loop).
DUPLICATE_SCORE = 85

log = logging.getLogger(__name__)
# Room kept in the context window for the instructions and the reply's JSON.
_PROMPT_OVERHEAD = 450


def _alias(index: int) -> str:
    # Small models copy short ids far more reliably than "article-slug#p3-1a2b3c4d".
    return f"P{index + 1}"


def _resolve_id(raw: str, aliases: dict[str, str], passages: dict[str, Passage]) -> str:
    key = raw.strip().strip("[]#").strip()
    if key in passages:
        return key
    if key.upper() in aliases:
        return aliases[key.upper()]
    if re.fullmatch(r"\d+", key) and f"P{key}" in aliases:
        return aliases[f"P{key}"]
    return key  # unknown: kept as given so the verifier reports it


def section_budget(settings: Settings) -> int:
    """Passage tokens that fit in one summarize prompt."""
    return max(200, settings.llm.n_ctx - settings.llm.max_tokens - _PROMPT_OVERHEAD)


def _sections(passages: list[Passage], budget: int) -> list[list[Passage]]:
    sections: list[list[Passage]] = [[]]
    used = 0
    for p in passages:
        if sections[-1] and used + p.tokens > budget:
            sections.append([])
            used = 0
        sections[-1].append(p)
        used += p.tokens
    return sections


def _draft(chat, passages: list[Passage], aliases_of: dict[str, str], n: int, retries: int) -> list[DraftSentence]:
    # A sentence that addresses the assistant is withheld from the model (its passage stays citable).
    view = [{"id": aliases_of[p.id], "text": model_view(p.text)} for p in passages]
    messages = render("summarize", passages=view, n_sentences=n)
    out = complete_json(chat, messages, DraftOutput, retries=retries)
    return out.sentences[: max(n, 1)]


def _merge(chat, sections: list[list[DraftSentence]], n: int, retries: int) -> list[DraftSentence]:
    view = [[s.model_dump() for s in section] for section in sections]
    out = complete_json(chat, render("summarize_merge", sections=view, n_sentences=n), DraftOutput, retries=retries)
    return out.sentences[: max(n, 1)]


def extractive_sentences(article: Article, passages: list[Passage], n: int) -> list[SentenceResult]:
    """The article's first ``n`` story sentences, each citing the passage that holds it."""
    out: list[SentenceResult] = []
    for start, end in split_sentences(article.text):
        sentence = article.text[start:end].strip()
        # Skip headlines, labels and bullet fragments: a lead sentence has a verb-sized length and ends in punctuation.
        if len(sentence.split()) < 6 or sentence[-1] not in ".!?\"'”’":
            continue
        if find_injection(sentence):
            continue  # text addressed to the assistant is not news
        holder = next((p for p in passages if sentence in p.text), None)
        if holder is None:
            continue
        out.append(SentenceResult(text=sentence, citations=[Citation(passage_id=holder.id, quote=sentence)]))
        if len(out) == n:
            break
    return out


def repair_citations(sentence: SentenceResult, passages: list[Passage]) -> tuple[SentenceResult, str]:
    """Replace a quote the model did not copy verbatim by the passage sentence that matches the summary sentence.

    Small models paraphrase their "quotes". Code then looks for the sentence of the article that
    the summary sentence restates (the cited passage first, then the rest of the article); the
    verifier still checks names, numbers and wording against it. Returns the note to show.
    """
    by_id = {p.id: p for p in passages}
    broken = [
        c for c in sentence.citations
        if c.passage_id in by_id and c.quote.strip() and quote_score(c.quote, by_id[c.passage_id].text) < QUOTE_MIN_SCORE
    ]
    if not sentence.citations or (not broken and all(c.passage_id in by_id for c in sentence.citations)):
        return sentence, ""
    cited = [by_id[c.passage_id] for c in sentence.citations if c.passage_id in by_id]
    others = [p for p in passages if p not in cited]
    for pool, where in ((cited, "the cited passage"), (others, "another passage of the article")):
        score, quote, passage = best_sentence(sentence.text, pool)
        if passage is not None and score >= ALIGN_MIN_SCORE:
            fixed = sentence.model_copy(update={"citations": [Citation(passage_id=passage.id, quote=quote)]})
            return fixed, f"quote re-aligned by code to {where}"
    return sentence, ""


def _dedupe(sentences: list[SentenceResult]) -> list[SentenceResult]:
    from rapidfuzz import fuzz

    kept: list[SentenceResult] = []
    for s in sentences:
        if all(fuzz.token_set_ratio(s.text, k.text) < DUPLICATE_SCORE for k in kept):
            kept.append(s)
    return kept


def summarize_article(article: Article, passages: list[Passage], chat, settings: Settings, sentences: int = 5) -> Summary:
    """Summarise ``article`` in about ``sentences`` cited sentences; fall back to a labelled extractive summary."""
    by_id = {p.id: p for p in passages}
    aliases_of = {p.id: _alias(i) for i, p in enumerate(passages)}
    aliases = {a: pid for pid, a in aliases_of.items()}
    retries = settings.llm.retries
    fallback = False
    name = model_name(chat)
    try:
        budget = section_budget(settings)
        sections = _sections(passages, budget)
        if len(sections) == 1:
            drafts = _draft(chat, passages, aliases_of, sentences, retries)
        else:
            per = max(2, math.ceil(sentences / len(sections)) + 1)
            partial = [_draft(chat, s, aliases_of, per, retries) for s in sections]
            drafts = _merge(chat, partial, sentences, retries)
        results = [
            SentenceResult(
                text=d.text.strip(),
                citations=[Citation(passage_id=_resolve_id(pid, aliases, by_id), quote=d.quote) for pid in d.passage_ids],
            )
            for d in drafts
            if d.text.strip()
        ]
        if not results:
            raise StructuredOutputError("the model returned no sentences", attempts=[])
    except LLMError as exc:  # unparseable output, or a call that failed (e.g. context overflow)
        log.warning("summary of %s falls back to extractive: %s", article.id, exc)
        results = extractive_sentences(article, passages, sentences)
        fallback, name = True, f"extractive-fallback (model {name} gave no valid output)"
    verified = []
    for r in _dedupe(results):
        fixed, note = repair_citations(r, passages)
        checked = verify_citations(fixed.text, fixed.citations, by_id, article_id=article.id)
        if note:
            checked = checked.model_copy(update={"reason": f"{checked.reason} ({note})"})
        verified.append(_mark_injection(checked, by_id))
    marked = {
        c.passage_id: c.injection for s in verified for c in s.citations if c.injection
    }
    return Summary(
        article_id=article.id,
        model=name,
        sentences=verified,
        extractive_fallback=fallback,
        injection_warning=warning("This summary", marked),
    )


def _mark_injection(sentence: SentenceResult, by_id: dict[str, Passage]) -> SentenceResult:
    """Flag citations of passages that address the assistant; such passages alone support nothing."""
    cites = [
        c.model_copy(update={"injection": by_id[c.passage_id].injection}) if c.passage_id in by_id else c
        for c in sentence.citations
    ]
    if not any(c.injection for c in cites):
        return sentence
    update: dict = {"citations": cites}
    real = [c for c in cites if c.passage_id in by_id]
    if sentence.verdict == "supported" and real and all(c.injection for c in real):
        update |= {
            "verdict": "unverified",
            "reason": f"rests only on {', '.join(c.passage_id for c in real)}, which addresses the assistant; not taken as support",
        }
    return sentence.model_copy(update=update)


def render_text(summary: Summary) -> str:
    """Plain-text summary with footnotes listing each cited passage."""
    lines = []
    if summary.extractive_fallback:
        lines.append("[extractive fallback: the model did not produce a valid summary]")
    if summary.injection_warning:
        lines.append(f"⚠ {summary.injection_warning}")
    notes: dict[str, int] = {}
    quotes: dict[int, str] = {}
    for s in summary.sentences:
        marks = []
        for c in s.citations:
            n = notes.setdefault(c.passage_id, len(notes) + 1)
            quotes.setdefault(n, c.quote)
            marks.append(f"[{n}]")
        flag = "" if s.verdict == "supported" else f"  ⚠ {s.verdict.upper()}: {s.reason}"
        lines.append(f"- {s.text} {''.join(marks)}{flag}")
    if notes:
        lines.append("")
        marks = {c.passage_id: c.injection for s in summary.sentences for c in s.citations if c.injection}
        for pid, n in notes.items():
            flag = f"  ⚠ addresses the assistant: {marks[pid]}" if pid in marks else ""
            lines.append(f"[{n}] {pid}: \"{quotes[n]}\"{flag}")
    lines.append(f"\nmodel: {summary.model}")
    return "\n".join(lines)
