"""Topic briefs: a dated timeline and a short overview across articles, every line checked.

Selection by code, fusion by the model, as the extract-then-fuse summaries do (``summarize``):

1. retrieve passages about the query across articles (within ``since`` / ``until``), keep the
   relevant ones and drop near-copies (the same wire story stored twice);
2. code picks each article's sentence that best states what the query is about (similarity to
   the query over the embedder's vectors, the lead sentence preferred), drops repeats, and numbers
   them oldest first;
3. the model shortens them into timeline lines, then fuses them into a 3-5 sentence overview
   (``prompts/fuse.yaml``: it sees only the numbered sentences, never a date or an id); every line
   is checked against the sentences it cites exactly like a summary line (names, numbers, dates
   and new words by code, then the model check), and a line that fails is shown as the source
   sentence, labelled. Dates come from the cited articles, never from the model: each timeline
   line carries the newest date among the sentences it cites, and lines are ordered by it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz import fuzz

from assistant.dates import display, timestamp
from assistant.embed import Embedder
from assistant.injection import find_injection
from assistant.llm import model_name
from assistant.qa import relevant
from assistant.summarize import _extract_fuse, injection_warning, sentence_line
from assistant.types import (
    Article,
    Brief,
    BriefSource,
    Passage,
    ScoredPassage,
    SentenceResult,
    Summary,
    TimelineEntry,
)
from assistant.verify import split_sentences

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.support import SupportScorer

# Passages retrieved for a brief (before relevance and near-copy filtering).
BRIEF_PASSAGES = 12
# Events on the timeline at most (one per article): the fuse prompt stays a few hundred tokens.
MAX_EVENTS = 6
# Overview length (the issue asks for 3-5 sentences).
OVERVIEW_SENTENCES = 4
# Two passages this alike (rapidfuzz ratio: edits, not shared words, so a correction that repeats
# most of the first story's words is not a copy of it) are copies of one story: the first kept.
NEAR_DUPLICATE = 90
# Two picked sentences this alike (rapidfuzz ratio) state one event.
REPEAT_SENTENCE = 85
# A passage's first sentence states its news: it gets this much on top of its similarity.
LEAD_BONUS = 0.05
MIN_WORDS, MAX_WORDS = 6, 70


def drop_near_duplicates(hits: Sequence[ScoredPassage], threshold: int = NEAR_DUPLICATE) -> tuple[list[ScoredPassage], int]:
    """The hits without near-copies of a better-ranked one, and how many were dropped."""
    kept: list[ScoredPassage] = []
    for h in hits:
        if all(fuzz.ratio(h.passage.text, k.passage.text) < threshold for k in kept):
            kept.append(h)
    return kept, len(hits) - len(kept)


def _candidates(p: Passage) -> list[tuple[int, int, int, str]]:
    """(position, start, end, text) of the passage's sentences that read as statements."""
    out = []
    for i, (a, b) in enumerate(split_sentences(p.text)):
        text = p.text[a:b].strip()
        words = len(text.split())
        if MIN_WORDS <= words <= MAX_WORDS and text[-1:] in ".!?\"'”’)" and not find_injection(text):
            out.append((i, a, b, text))
    return out


def select_events(query: str, passages: Sequence[Passage], embedder: Embedder, n: int = MAX_EVENTS) -> list[BriefSource]:
    """Each article's sentence that best states what ``query`` is about, at most ``n``, numbered oldest first.

    The ``n`` articles kept are those whose best sentence is closest to the query; undated ones go last.
    """
    cands = [(p, c) for p in passages for c in _candidates(p)]
    if not cands:
        return []
    vectors = embedder.embed([query] + [c[3] for _, c in cands])
    q, rest = vectors[0], vectors[1:]
    norms = np.linalg.norm(rest, axis=1) * (np.linalg.norm(q) or 1.0)
    sims = (rest @ q) / np.where(norms == 0, 1.0, norms)
    best: dict[str, tuple[float, Passage, tuple[int, int, int, str]]] = {}
    for (p, c), sim in zip(cands, sims):
        score = float(sim) + (LEAD_BONUS if p.index == 0 and c[0] == 0 else 0.0)
        if p.article_id not in best or score > best[p.article_id][0]:
            best[p.article_id] = (score, p, c)
    picked: list[tuple[float, Passage, tuple[int, int, int, str]]] = []
    for item in sorted(best.values(), key=lambda x: -x[0]):
        if all(fuzz.ratio(item[2][3], k[2][3]) < REPEAT_SENTENCE for k in picked):
            picked.append(item)
        if len(picked) == n:
            break
    far = float("inf")
    picked.sort(key=lambda x: (timestamp(x[1].published) or far, x[1].article_id, x[2][0]))
    return [
        BriefSource(
            number=i + 1, text=c[3], start=c[1], end=c[2], position=c[0], passage_id=p.id, score=round(score, 4),
            article_id=p.article_id, title=p.title, published=p.published,
        )
        for i, (score, p, c) in enumerate(picked)
    ]


def _line_date(s: SentenceResult, sources: Sequence[BriefSource]) -> str:
    """The newest date among the sentences a line cites ("" when none is dated)."""
    dated = [(timestamp(x.published), x.published) for x in sources if x.number in s.sources and x.published]
    return max(dated)[1] if dated else ""


def timeline_of(lines: Sequence[SentenceResult], sources: Sequence[BriefSource]) -> list[TimelineEntry]:
    """Timeline entries ordered by date, oldest first (then by the first sentence cited); undated last."""
    far = float("inf")
    entries = [TimelineEntry(published=_line_date(s, sources), sentence=s) for s in lines]
    return sorted(entries, key=lambda e: (timestamp(e.published) or far, min(e.sentence.sources, default=0)))


def dates_in_order(brief: Brief) -> bool:
    """Whether every timeline line's cited sentences are no newer than the next line's (undated last)."""
    by_number = {s.number: s for s in brief.sources}
    spans = []
    for e in brief.timeline:
        stamps = [timestamp(by_number[n].published) for n in e.sentence.sources if n in by_number]
        if not stamps or any(t is None for t in stamps):
            spans.append(None)
            continue
        spans.append((min(stamps), max(stamps)))
    seen_undated = False
    for prev, cur in itertools.pairwise(spans):
        if cur is None:
            seen_undated = True
            continue
        if seen_undated or (prev is not None and prev[1] > cur[0]):
            return False
    return True


def make_brief(
    query: str,
    hits: Sequence[ScoredPassage],
    chat: BaseChatModel,
    embedder: Embedder,
    scorer: SupportScorer | None = None,
    events: int = MAX_EVENTS,
    overview: int = OVERVIEW_SENTENCES,
) -> Brief:
    """A brief from retrieved ``hits``: near-copies dropped, events selected by code, lines fused and checked."""
    kept, dropped = drop_near_duplicates(relevant(query, list(hits)))
    passages = [h.passage for h in kept]
    sources = select_events(query, passages, embedder, events)
    if not sources:
        return Brief(query=query, model=f"none ({'no relevant passages' if not kept else 'no sentences to use'})",
                     duplicates_dropped=dropped)
    by_id = {p.id: p for p in passages}
    # The fuse machinery of summaries, over sentences from several articles (not one article's).
    topic = Article(id=f"brief: {query}", raw="", text="")

    def fused(n: int) -> Summary:
        out = None
        for event in _extract_fuse(topic, list(sources), by_id, chat, n, scorer, one_article=False):
            out = event if isinstance(event, Summary) else out
        assert out is not None
        return out

    timeline = fused(len(sources))
    summary = fused(min(overview, max(1, len(sources))))
    model = model_name(chat) if not (timeline.extractive_fallback and summary.extractive_fallback) else timeline.model
    return Brief(
        query=query,
        model=model,
        timeline=timeline_of(timeline.sentences, sources),
        overview=summary.sentences,
        sources=sources,
        duplicates_dropped=dropped,
        injection_warning=injection_warning([*timeline.sentences, *summary.sentences]).replace("This summary", "This brief"),
    )


def render_text(brief: Brief) -> str:
    """The brief as text: the dated timeline, the overview, then the cited sentences with title and date."""
    by_number = {s.number: s for s in brief.sources}
    dates = [s.published for s in brief.sources if s.published]
    span = f", {display(min(dates, key=timestamp))[:10]} to {display(max(dates, key=timestamp))[:10]}" if dates else ""
    articles = len({s.article_id for s in brief.sources})
    lines = [f"Brief: {brief.query} ({articles} article(s){span})"]
    if brief.injection_warning:
        lines.append(f"⚠ {brief.injection_warning}")
    if not brief.sources:
        lines += ["", "Nothing in the archive on this.", f"\nmodel: {brief.model}"]
        return "\n".join(lines)
    lines += ["", "Timeline (oldest first):"]
    lines += [f"{display(e.published)[:10]:<10} {sentence_line(e.sentence)}" for e in brief.timeline]
    lines += ["", "Overview:"]
    lines += [sentence_line(s) for s in brief.overview]
    replaced = [s for s in (*(e.sentence for e in brief.timeline), *brief.overview) if s.origin == "source" and s.rejected]
    if replaced:
        lines += ["", "Replaced model sentences:"]
        lines += [f'- "{s.rejected}": {s.reason}' for s in replaced]
    lines += ["", "Sources:"]
    for n, s in sorted(by_number.items()):
        lines.append(f'[{n}] {s.passage_id} ({s.title + ", " if s.title else ""}{display(s.published)}): "{s.text}"')
    if brief.duplicates_dropped:
        lines.append(f"({brief.duplicates_dropped} near-duplicate passage(s) left out)")
    lines.append(f"\nmodel: {brief.model}")
    return "\n".join(lines)
