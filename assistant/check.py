"""Fact-check one article: claim verdicts against the rest of the corpus, and typo / name flags."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import AssistantError
from assistant.files import replace_text
from assistant.injection import WITHHELD, find_injection, model_view
from assistant.llm import complete_json
from assistant.prompts import JudgeOutput, render
from assistant.redact import redact_text
from assistant.retrieve import Retriever
from assistant.store import Store
from assistant.stylebook import StyleBook
from assistant.support.verdicts import claim_threshold, decide_claim
from assistant.tokens import count_tokens
from assistant.types import (
    Article,
    CheckReport,
    CheckStep,
    ClaimResult,
    Evidence,
    Passage,
    ScoredPassage,
    TypoFlag,
)
from assistant.typos import CorpusNames, find_typos
from assistant.verify import check_claim, is_checkworthy, split_sentences
from assistant.verify.claims import evidence_passage, reason_of

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.support import SupportScorer

log = logging.getLogger(__name__)
EVIDENCE_K = 5


def check_claims(
    article: Article, retriever: Retriever | None, chat: BaseChatModel | None = None, exclude: Sequence[str] = ()
) -> list[ClaimResult]:
    """Verdicts for the check-worthy sentences of ``article``, with evidence from other articles only."""
    spans = [(s, e) for s, e in split_sentences(article.text) if is_checkworthy(article.text[s:e])]
    sentences = [article.text[s:e].strip() for s, e in spans]
    evidence = (
        retriever.search_many(sentences, k=EVIDENCE_K, exclude_articles=[article.id, *exclude]) if retriever else [[] for _ in sentences]
    )
    results = []
    for (start, end), sentence, hits in zip(spans, sentences, evidence):
        result = _not_resting_on_injection(sentence, check_claim(sentence, hits), hits)
        lead = len(article.text[start:end]) - len(article.text[start:end].lstrip())
        raw_start, raw_end = article.to_raw(start + lead, start + lead + len(sentence))
        result = result.model_copy(update={"text": sentence, "start": raw_start, "end": raw_end})
        if chat is not None and hits:
            result = _ask_judge(result, hits, chat)
        results.append(result)
    return results


def _not_resting_on_injection(claim: str, result: ClaimResult, hits: list[ScoredPassage]) -> ClaimResult:
    """A passage that addresses the assistant never makes a claim ``supported`` on its own.

    When every evidence item of a ``supported`` verdict comes from such a passage, the claim is
    checked again without those passages: other evidence may still support or contradict it;
    otherwise it is ``unverified``, with the reason. Marked evidence is flagged either way.
    """
    marked = {h.passage.id: h.passage.injection for h in hits if h.passage.injection}
    if not marked:
        return result
    if result.verdict == "supported" and result.evidence and all(e.passage_id in marked for e in result.evidence):
        again = check_claim(claim, [h for h in hits if h.passage.id not in marked])
        result = again if again.verdict in ("supported", "contradicted") else rests_on_marked(result)

    def flag(items: list[Evidence]) -> list[Evidence]:
        return [e.model_copy(update={"injection": marked.get(e.passage_id, "")}) for e in items]

    return result.model_copy(update={"evidence": flag(result.evidence), "context": flag(result.context)})


def _ask_judge(result: ClaimResult, hits, chat: BaseChatModel) -> ClaimResult:
    """Add the LLM judge's view; it is shown beside the code's verdict and never overrules a mismatch."""
    if find_injection(result.text):
        return result.model_copy(update={"judge": "not asked: the claim itself addresses the assistant"})
    shown = hits[:3]
    # Sentences that address the assistant are withheld from the judge, as from every prompt.
    evidence = [{"id": h.passage.id, "text": model_view(h.passage.text)} for h in shown]
    try:
        messages = render("judge", claim=result.text, evidence=evidence)
        out = complete_json(chat, messages, JudgeOutput, retries=1)
    except AssistantError as exc:
        return result.model_copy(update={"judge": f"judge unavailable: {redact_text(str(exc))}"})
    note = f"{out.verdict}: {out.reason}"
    if result.verdict == "contradicted" and out.verdict == "supported":
        note += " (overruled: the code found a mismatch)"
    if any(h.passage.injection for h in shown):
        note += " (some evidence addresses the assistant; that text was withheld from the judge)"
    return result.model_copy(update={"judge": note})


def check_typos(article: Article, corpus: CorpusNames | None, stylebook: StyleBook | None) -> list[TypoFlag]:
    """Typo and misspelt-name flags with offsets into the article's raw text."""
    flags = []
    for flag in find_typos(article.text, corpus=corpus, stylebook=stylebook):
        start, end = article.to_raw(flag.start, flag.end)
        flags.append(flag.model_copy(update={"start": start, "end": end}))
    return flags


def check_article(
    article: Article,
    retriever: Retriever | None = None,
    corpus: CorpusNames | None = None,
    stylebook: StyleBook | None = None,
    chat: BaseChatModel | None = None,
    exclude: Sequence[str] = (),
) -> CheckReport:
    """Both checks on one article; ``exclude`` names stored copies of it that are not evidence.

    The typo check (spaCy) runs in a second thread while the claims are embedded and searched
    (onnxruntime and Chroma release the GIL): an 811-word draft against 1,000 articles p50
    0.48 -> 0.405 s on 2 cores, alternated in one process (``python -m eval.bench check``)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="typos") as pool:
        typos = pool.submit(check_typos, article, corpus, stylebook)
        claims = check_claims(article, retriever, chat=chat, exclude=exclude)
        return CheckReport(article_id=article.id, claims=claims, typos=typos.result())


def load_corpus_names(store: Store, cache: Path) -> CorpusNames:
    """Name counts over the stored articles, kept in the ``cache`` file: reused while the corpus is
    unchanged, brought up to date from the store's change records after writes (only the changed
    articles are recounted), counted again from all articles when those records are gone."""
    key, seq = str(store.passages.id), store.seq
    infos = store.list_articles()
    fingerprint = hashlib.sha256(json.dumps([(i.id, i.ingested_at) for i in infos]).encode()).hexdigest()[:16]
    names: CorpusNames | None = None
    if cache.exists():
        try:
            data = json.loads(cache.read_text())
            if data.get("fingerprint") == fingerprint:
                return CorpusNames.from_json(data["names"])
            if data.get("store") == key and isinstance(data.get("seq"), int):
                seq, changed = store.changed_since(data["seq"])
                saved = CorpusNames.from_json(data["names"])
                if changed is not None and saved.articles is not None:
                    names = saved
                    for article_id in changed:
                        names.remove_article(article_id)
                    for article in store.articles_by_id(sorted(changed)):
                        names.add_article(article.id, article.text)
        except (OSError, ValueError, KeyError):
            log.warning("ignoring unreadable corpus-name cache %s", cache)
    if names is None:
        names = CorpusNames.from_articles((a.id, a.text) for a in store.all_articles())
    try:
        replace_text(cache, json.dumps({"fingerprint": fingerprint, "store": key, "seq": seq, "names": names.to_json()}))
    except OSError:
        log.warning("could not write corpus-name cache %s", cache)
    return names


# Longest evidence window (tiktoken count) the model check reads for a group of claims: the aligned
# sentences with their neighbours. Claims whose evidence fits one window share it (read once).
WINDOW_TOKENS = 400


def claims_to_score(report: CheckReport) -> list[int]:
    """Claims the model check scores: every one with relevant evidence that the code did not find
    contradicted (or outdated: contradicted by a newer source)."""
    return [
        i
        for i, c in enumerate(report.claims)
        if c.verdict not in ("contradicted", "outdated") and c.context and not any(x.check == "injection" and x.decisive for x in c.checks)
    ]


def claim_windows(
    claims: Sequence[ClaimResult], which: Sequence[int], passages: dict[str, Passage], budget: int = WINDOW_TOKENS
) -> list[tuple[str, list[int]]]:
    """(evidence window, claim indices) groups: claims with evidence in the same article share a window.

    A window is the union of its claims' context sentences, in passage order; a claim whose
    sentences would take the window over ``budget`` tokens starts a new one.
    """
    def order(e: Evidence) -> tuple[str, int]:
        p = passages.get(e.passage_id)
        sents = [x.text for x in evidence_passage(p.id, p.text).sentences] if p else []
        return (e.passage_id, sents.index(e.quote) if e.quote in sents else len(sents))

    def text(pieces: list[Evidence]) -> str:
        by_passage: dict[str, list[str]] = {}
        for e in sorted(pieces, key=order):
            # sentences that address the assistant are withheld: they would make their own words likely
            by_passage.setdefault(e.passage_id, []).append(model_view(e.quote))
        return "\n\n".join(" ".join(v) for v in by_passage.values())

    groups: list[tuple[str, list[Evidence], list[int]]] = []
    for i in which:
        ctx = claims[i].context
        article = ctx[0].article_id
        current = next((g for g in reversed(groups) if g[0] == article), None)
        if current is not None:
            merged = current[1] + [e for e in ctx if (e.passage_id, e.quote) not in {(x.passage_id, x.quote) for x in current[1]}]
            if count_tokens(text(merged)) <= budget:
                current[1][:] = merged
                current[2].append(i)
                continue
        groups.append((article, list(ctx), [i]))
    return [(text(pieces), idx) for _, pieces, idx in groups]


def model_check_claims(
    claims: Sequence[ClaimResult],
    which: Sequence[int],
    passages: dict[str, Passage],
    scorer: SupportScorer,
    threshold: float | None = None,
) -> Iterator[tuple[int, ClaimResult]]:
    """The second stage: each chosen claim scored against its evidence window; the calibrated score decides.

    Claims sharing a window are scored one after the other, so the window is read once (its KV state
    is kept) and each claim costs only its own tokens. Results come one claim at a time.
    """
    cut = claim_threshold(scorer) if threshold is None else threshold
    for window, idx in claim_windows(claims, which, passages):
        for i in idx:
            claim = claims[i]
            if not window.strip() or window.strip() == WITHHELD:
                yield i, rests_on_marked(claim)
                continue
            yield i, decide_claim(claim, scorer.score(window, claim.text), offset=claim.start, threshold=cut)


def rests_on_marked(claim: ClaimResult) -> ClaimResult:
    """A claim whose only evidence addresses the assistant is ``unverified``: such text is never support."""
    which = ", ".join(sorted({e.passage_id for e in claim.context or claim.evidence}))
    check = CheckStep(
        check="injection", outcome="fail", decisive=True,
        detail=f"supported only by {which}, which addresses the assistant; not taken as support",
    )
    checks = [c.model_copy(update={"decisive": False}) for c in claim.checks] + [check]
    return claim.model_copy(update={"verdict": "unverified", "checks": checks, "reason": reason_of(checks)})


def render_text(report: CheckReport) -> str:
    """Readable report: claims with verdicts and evidence, then typos with suggestions."""
    icon = {"supported": "✓", "contradicted": "✗", "unverified": "?", "unsupported": "⚠", "outdated": "⌛"}
    lines = [f"Fact-check of {report.article_id}", "", f"Claims ({len(report.claims)}):"]
    for c in report.claims:
        lines.append(f"  {icon.get(c.verdict, '-')} {c.verdict.upper():<12} [{c.start}-{c.end}] {c.text}")
        lines.append(f"      reason: {c.reason}")
        for e in c.evidence:
            flag = f"  ⚠ addresses the assistant: {e.injection}" if e.injection else ""
            title = f"{e.title}, " if e.title else ""
            lines.append(f"      evidence ({title}{e.passage_id}): \"{e.quote}\"{flag}")
        if c.judge:
            lines.append(f"      LLM judge: {c.judge}")
        if c.support is not None and c.decided_by != "model":
            words = ", ".join(repr(s.text.strip()) for s in c.suspect_spans)
            lines.append(f"      model check: support {c.support:.2f}" + (f"; unlikely: {words}" if words else ""))
    lines += ["", f"Typos and names ({len(report.typos)}):"]
    for t in report.typos:
        lines.append(f"  {t.text!r} → {t.suggestion!r}  [{t.start}-{t.end}] ({t.kind}) {t.reason}")
    if not report.typos:
        lines.append("  none found")
    return "\n".join(lines)
