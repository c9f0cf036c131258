"""How a support score joins the code's verdict on a sentence or a claim.

Code conflicts stay decisive: a sentence the code found unsupported or a claim it found
contradicted keeps that verdict, with the score shown beside it. A score below the calibrated
threshold turns a code "supported" into "unsupported" (sentences) or "unverified" (claims),
naming the suspect words. The score alone never makes anything supported.
"""

from __future__ import annotations

from assistant.support.scorer import SupportResult, SupportScorer
from assistant.types import ClaimResult, Passage, SentenceResult


def _note(result: SupportResult) -> str:
    return f"model check: {result.reason}"


def with_support(sentence: SentenceResult, support: SupportResult) -> SentenceResult:
    """A summary or answer sentence with its support score, suspect spans and (maybe) a new verdict."""
    update: dict = {
        "support": support.probability,
        "suspect_spans": support.suspect_spans,
    }
    if sentence.verdict == "supported" and support.supported is False:
        update["verdict"] = "unsupported"
    update["reason"] = f"{sentence.reason}; {_note(support)}" if sentence.reason else _note(support)
    return sentence.model_copy(update=update)


def support_sentences(
    sentences: list[SentenceResult], source: str, scorer: SupportScorer
) -> list[SentenceResult]:
    """Score every sentence against one source (read once) and join the scores to the verdicts."""
    results = scorer.score_many(source, [s.text for s in sentences])
    return [with_support(s, r) for s, r in zip(sentences, results)]


def support_cited(
    sentences: list[SentenceResult], passages: dict[str, Passage], scorer: SupportScorer
) -> list[SentenceResult]:
    """Each sentence scored against the passages it cites (answers, abstractive summaries).

    Sentences citing the same passages are scored together, so those passages are read once.
    Sentences that address the assistant are withheld from the source: they would make their
    own words likely.
    """
    from assistant.injection import model_view

    groups: dict[tuple[str, ...], list[int]] = {}
    for i, s in enumerate(sentences):
        ids = tuple(dict.fromkeys(c.passage_id for c in s.citations if c.passage_id in passages))
        if ids:
            groups.setdefault(ids, []).append(i)
    out = list(sentences)
    for ids, which in groups.items():
        source = "\n\n".join(model_view(passages[pid].text) for pid in ids)
        for i, result in zip(which, support_sentences([out[i] for i in which], source, scorer)):
            out[i] = result
    return out


def claim_with_support(claim: ClaimResult, support: SupportResult, offset: int) -> ClaimResult:
    """A claim with its support score against its best evidence; ``offset`` maps spans into the article."""
    spans = [
        s.model_copy(update={"start": s.start + offset, "end": s.end + offset})
        for s in support.suspect_spans
    ]
    update: dict = {"support": support.probability, "suspect_spans": spans}
    if claim.verdict == "supported" and support.supported is False:
        update["verdict"] = "unverified"
    update["reason"] = f"{claim.reason}; {_note(support)}"
    return claim.model_copy(update=update)
