"""Cited summaries in three strategies; code verifies every sentence shown.

* ``extract_fuse`` (the local default): code selects sentences (``extract.py``) and shows them at
  once; the model shortens and fuses them into the requested number of sentences, each citing
  the selected sentences it used; each is checked against those (``fuse.py``) as it arrives.
* ``abstractive``: the model reads the whole article's passages and drafts JSON sentences with
  passage ids and quotes (sections merged for long articles); code verifies each.
* ``extractive``: the selected sentences as they stand, no model.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from assistant.dates import display
from assistant.embed import Embedder
from assistant.errors import BadInputError, LLMError, ModelMissingError, StructuredOutputError
from assistant.extract import select_sentences
from assistant.fuse import (
    ALIGN_MIN_SCORE,
    DUPLICATE_SCORE,
    TOKENS_PER_SENTENCE,
    check_line,
    fuse_messages,
    fused_lines,
    is_repeat,
    replacement,
    source_result,
    stream_text,
    with_model_check,
)
from assistant.injection import find_injection, model_view, warning
from assistant.llm import complete_json, model_name
from assistant.prompts import DraftOutput, DraftSentence, render
from assistant.settings import Settings
from assistant.support.verdicts import support_cited
from assistant.types import (
    Article,
    Citation,
    FusedSentence,
    Passage,
    Selection,
    SentenceResult,
    SourceSentence,
    Summary,
    SummaryStrategy,
)
from assistant.verify import (
    QUOTE_MIN_SCORE,
    best_sentence,
    quote_score,
    split_sentences,
    verify_citations,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.support import SupportScorer

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


def _draft(chat: BaseChatModel, passages: list[Passage], aliases_of: dict[str, str], n: int, retries: int) -> list[DraftSentence]:
    # A sentence that addresses the assistant is withheld from the model (its passage stays citable).
    view = [{"id": aliases_of[p.id], "text": model_view(p.text)} for p in passages]
    messages = render("summarize", passages=view, n_sentences=n)
    out = complete_json(chat, messages, DraftOutput, retries=retries)
    return out.sentences[: max(n, 1)]


def _merge(chat: BaseChatModel, sections: list[list[DraftSentence]], n: int, retries: int) -> list[DraftSentence]:
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
    kept: list[SentenceResult] = []
    for s in sentences:
        if all(fuzz.token_set_ratio(s.text, k.text) < DUPLICATE_SCORE for k in kept):
            kept.append(s)
    return kept


def abstractive_summary(article: Article, passages: list[Passage], chat: BaseChatModel, settings: Settings, sentences: int = 5) -> Summary:
    """The model reads the whole article and drafts cited sentences; fall back to a labelled extractive summary."""
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
    return Summary(
        article_id=article.id,
        model=name,
        sentences=verified,
        extractive_fallback=fallback,
        strategy="abstractive",
        injection_warning=injection_warning(verified),
    )


def model_checked(summary: Summary, by_id: dict[str, Passage], scorer: SupportScorer) -> Summary:
    """An abstractive summary with the support scorer's verdict on each sentence, against its cited passages."""
    try:
        return summary.model_copy(update={"sentences": support_cited(summary.sentences, by_id, scorer)})
    except (LLMError, ModelMissingError) as exc:  # the code's verdicts stand, and say so
        log.warning("support scorer failed: %s", exc)
        note = f"model check not run: {exc}"
        sentences = [s.model_copy(update={"reason": f"{s.reason}; {note}" if s.reason else note}) for s in summary.sentences]
        return summary.model_copy(update={"sentences": sentences})


def injection_warning(sentences: list[SentenceResult]) -> str:
    """The summary's warning when its sentences cite passages that address the assistant."""
    return warning("This summary", {c.passage_id: c.injection for s in sentences for c in s.citations if c.injection})


# --------------------------------------------------------------------------- strategies


def resolve_strategy(settings: Settings, strategy: str | None = None) -> SummaryStrategy:
    """The strategy to use: ``auto`` is extract_fuse on the local model, abstractive on an endpoint."""
    chosen = strategy or settings.summary.strategy
    if chosen == "auto":
        return "extract_fuse" if settings.llm.backend == "local" else "abstractive"
    if chosen not in ("extract_fuse", "abstractive", "extractive"):
        raise BadInputError(
            f"unknown summary strategy {chosen!r}", "Use auto, extract_fuse, abstractive or extractive."
        )
    return chosen  # type: ignore[return-value]


SummaryEvent = Selection | FusedSentence | Summary


def summarize_stream(
    article: Article,
    passages: list[Passage],
    chat: BaseChatModel,
    settings: Settings,
    sentences: int = 5,
    *,
    embedder: Embedder,
    scorer: SupportScorer | None = None,
    strategy: str | None = None,
) -> Iterator[SummaryEvent]:
    """A summary as it is made: the extractive ``Selection`` at once, each ``FusedSentence`` when checked, then the ``Summary``.

    ``chat`` writes the fused (or abstractive) sentences; ``scorer`` (a support scorer, or None)
    adds the model check of each fused sentence against its cited sentences. The ``Summary``
    carries the article's title and date, which its citations are shown with.
    """
    dated = {"title": article.title, "published": article.published}
    for event in _summary_events(article, passages, chat, settings, sentences, embedder, scorer, strategy):
        yield event.model_copy(update=dated) if isinstance(event, Summary) else event


def _summary_events(
    article: Article, passages: list[Passage], chat: BaseChatModel, settings: Settings, sentences: int,
    embedder: Embedder, scorer: SupportScorer | None, strategy: str | None,
) -> Iterator[SummaryEvent]:
    chosen = resolve_strategy(settings, strategy)
    if chosen == "abstractive":
        summary = abstractive_summary(article, passages, chat, settings, sentences)
        yield model_checked(summary, {p.id: p for p in passages}, scorer) if scorer is not None else summary
        return
    sources = select_sentences(article, passages, sentences, embedder)
    yield Selection(article_id=article.id, strategy=chosen, sources=sources)
    by_id = {p.id: p for p in passages}
    if chosen == "extractive":
        picked = [source_result(s, by_id, article.id, "picked by code (extractive summary)") for s in sources]
        yield Summary(
            article_id=article.id, model="extractive (no model)", sentences=picked, strategy="extractive", sources=sources
        )
        return
    if not sources:  # nothing in the article reads as a sentence: no model call on an empty prompt
        yield Summary(
            article_id=article.id,
            model="no sentences to summarise (nothing in the article reads as a sentence of 6 or more words)",
            sentences=[],
            strategy=chosen,
        )
        return
    yield from _extract_fuse(article, sources, by_id, chat, sentences, scorer)


def _extract_fuse(
    article: Article, sources: list[SourceSentence], by_id: dict[str, Passage], chat: BaseChatModel, n: int, scorer: SupportScorer | None,
    *, one_article: bool = True,
) -> Iterator[FusedSentence | Summary]:
    # one_article=False: the sources come from several articles (a topic brief, ``assistant.brief``)
    owner = article.id if one_article else None
    name = model_name(chat)
    kept: list[SentenceResult] = []
    used: set[int] = set()
    lines = 0

    def keep(result: SentenceResult) -> FusedSentence | None:
        if is_repeat(result.text, kept):
            return None
        used.update(result.sources)
        kept.append(result)
        return FusedSentence(index=len(kept) - 1, sentence=result)

    try:
        reply = stream_text(chat, fuse_messages(sources, n), max_tokens=TOKENS_PER_SENTENCE * n + 32)
        for line in fused_lines(reply):
            lines += 1
            if len(kept) >= n:
                continue  # the rest of the reply is read (the replay cache records whole replies) but not used
            if is_repeat(line.text, kept):
                continue  # small models loop: a repeat is dropped, and the gap filled below
            result = _mark_injection(check_line(line, sources, by_id, owner), by_id)
            if result.verdict == "supported" and scorer is not None:
                result = with_model_check(result, sources, scorer)
            if result.verdict != "supported":
                source = replacement(result, sources, used)
                if source is None:
                    continue
                why = f"shown instead of the fused sentence, which failed verification ({result.reason})"
                result = source_result(source, by_id, owner, why, rejected=line.text)
            event = keep(result)
            if event is not None:
                yield event
    except LLMError as exc:  # the call failed (no model, overflow, endpoint down): the selection stands
        log.warning("extract-then-fuse of %s falls back to the selection: %s", article.id, exc)
        kept, lines = [], 0
    fallback = lines == 0
    for source in sources:
        if len(kept) >= n:
            break
        if source.number in used:
            continue
        why = (
            f"extractive fallback: the model ({name}) gave no usable sentences"
            if fallback
            else "added because the model wrote fewer sentences than asked"
        )
        event = keep(source_result(source, by_id, owner, why))
        if event is not None:
            yield event
    if fallback:
        name = f"extractive-fallback (model {name} gave no usable output)"
    yield Summary(
        article_id=article.id,
        model=name,
        sentences=kept,
        extractive_fallback=fallback,
        strategy="extract_fuse",
        sources=sources,
        injection_warning=injection_warning(kept),
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
    """Plain-text summary with footnotes: the cited source sentences (extract-then-fuse) or passages."""
    lines = []
    if summary.extractive_fallback:
        lines.append("[extractive fallback: the model did not produce a valid summary]")
    if summary.injection_warning:
        lines.append(f"⚠ {summary.injection_warning}")
    if summary.sources:
        return "\n".join(lines + _sentence_lines(summary))
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
        label = source_label(summary)
        for pid, n in notes.items():
            flag = f"  ⚠ addresses the assistant: {marks[pid]}" if pid in marks else ""
            lines.append(f"[{n}] {pid} {label}: \"{quotes[n]}\"{flag}")
    lines.append(f"\nmodel: {summary.model}")
    return "\n".join(lines)


def sentence_line(s: SentenceResult) -> str:
    """One summary sentence as a text line: its [n] source numbers, and a label when it is the article's own."""
    marks = "".join(f"[{n}]" for n in s.sources)
    label = "  [article's sentence]" if s.origin == "source" else ""
    flag = "" if s.verdict == "supported" else f"  ⚠ {s.verdict.upper()}: {s.reason}"
    return f"- {s.text} {marks}{label}{flag}"


def _sentence_lines(summary: Summary) -> list[str]:
    return [sentence_line(s) for s in summary.sentences] + summary_footer(summary)


def source_label(summary: Summary) -> str:
    """The "(Title, 2025-08-07)" every citation of a summary is shown with (its one article's)."""
    return f"({summary.title + ', ' if summary.title else ''}{display(summary.published)})"


def summary_footer(summary: Summary) -> list[str]:
    """What follows the sentences of an extract-then-fuse summary: replacements, cited sentences, model."""
    lines: list[str] = []
    replaced = [s for s in summary.sentences if s.origin == "source" and s.rejected]
    if replaced:
        lines += ["", "Replaced model sentences:"]
        lines += [f'- "{s.rejected}": {s.reason}' for s in replaced]
    cited = sorted({n for s in summary.sentences for n in s.sources})
    by_number = {x.number: x for x in summary.sources}
    lines.append("")
    label = source_label(summary)
    lines += [f'[{n}] {by_number[n].passage_id} {label}: "{by_number[n].text}"' for n in cited if n in by_number]
    lines.append(f"\nmodel: {summary.model} ({summary.strategy})")
    return lines
