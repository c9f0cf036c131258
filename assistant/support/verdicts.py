"""How a support score joins the code's verdict on a sentence or a claim.

Code conflicts stay decisive: a sentence the code found unsupported or a claim it found
contradicted keeps that verdict, with the score shown beside it. Otherwise the calibrated score
decides in both directions: for summary and answer sentences a score below the threshold turns a
code "supported" into "unsupported" (naming the suspect words), and a score at or above it turns
an overlap finding ("soft": a name not found verbatim, few shared words) into "supported"; for a
fact-check's claims (``decide_claim``) the score decides every claim with relevant evidence. The
code's overlap rules are reasons beside the score, not vetoes.
"""

from __future__ import annotations

import json
from pathlib import Path

from assistant.injection import model_view
from assistant.llm_scores import prompt_fingerprint
from assistant.support.scorer import SupportResult, SupportScorer
from assistant.types import CheckStep, ClaimResult, Passage, SentenceResult
from assistant.verify.claims import reason_of


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
    elif sentence.verdict == "unsupported" and sentence.soft and support.supported is True:
        # an overlap finding is a reason beside the score, never a veto on its own
        update["verdict"] = "supported"
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


# Claim-level thresholds fitted on the dev drafts (`python -m eval.draftcheck --fit`), by scorer name:
# a paragraph is flagged when any of its claims is, so a claim's cut sits lower than a pair's.
CLAIM_THRESHOLDS = Path(__file__).resolve().parent / "claim_thresholds.json"


def claim_threshold(scorer: SupportScorer, path: Path = CLAIM_THRESHOLDS) -> float | None:
    """The fitted claim-level threshold for ``scorer``'s model, else its pair-level one (None: no weights)."""
    try:
        fitted = json.loads(Path(path).read_text(encoding="utf-8")).get(scorer.name)
    except (OSError, ValueError):
        fitted = None
    if fitted and fitted.get("prompts") == prompt_fingerprint():
        return float(fitted["threshold"])
    return scorer.calibrated.threshold if scorer.calibrated is not None else None


def decide_claim(claim: ClaimResult, support: SupportResult, offset: int, threshold: float | None = None) -> ClaimResult:
    """A claim's verdict once the model check has scored it against its evidence window.

    A hard conflict found by code (``contradicted``) stands whatever the score. Otherwise the
    calibrated probability decides ``supported`` (at or above ``threshold``) or ``unverified``, in
    both directions; the code's overlap findings (coverage, a name not found verbatim) stay as
    reasons beside it. ``offset`` maps suspect spans into the article.
    """
    spans = [s.model_copy(update={"start": s.start + offset, "end": s.end + offset}) for s in support.suspect_spans]
    update: dict = {"support": support.probability, "suspect_spans": spans}
    cut = support.threshold if threshold is None else threshold
    p = support.probability
    words = ", ".join(repr(s.text.strip()) for s in spans)
    if p is None or cut is None:
        step = CheckStep(check="model", outcome="note", detail=_note(support))
        checks = [*claim.checks, step]
    elif claim.verdict in ("contradicted", "outdated"):
        step = CheckStep(check="model", outcome="note", score=p, detail=f"model check: support {p:.2f} (the code's conflict stands)")
        checks = [*claim.checks, step]
    else:
        ok = p >= cut
        detail = f"model check: support {p:.2f} {'at or above' if ok else 'below'} the {cut:.2f} threshold"
        if words and not ok:
            detail += f"; unlikely given the evidence: {words}"
        step = CheckStep(check="model", outcome="pass" if ok else "fail", score=p, detail=detail, decisive=True)
        checks = [c.model_copy(update={"decisive": False}) for c in claim.checks] + [step]
        update.update(verdict="supported" if ok else "unverified", decided_by="model")
    update.update(checks=checks, reason=reason_of(checks))
    return claim.model_copy(update=update)
