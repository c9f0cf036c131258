"""Claims against evidence from other articles: align, find conflicts, decide.

``check_claim`` lines the claim up with the evidence sentences (``align``), looks for a differing
number, date, name or polarity in the best-aligned ones (``find_conflicts``) and turns both into a
verdict with its reason (``decide``). Each step is a small function over typed records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from assistant.dates import display, timestamp
from assistant.types import CheckStep, ClaimResult, Evidence, ScoredPassage
from assistant.verify.names import (
    name_anchors,
    name_in,
    name_tokens,
    names_in,
    sentence_names,
    word_set,
)
from assistant.verify.polarity import antonyms, polarity_flip
from assistant.verify.sentences import sentence_texts
from assistant.verify.text import normalise_text
from assistant.verify.tokens import (
    Tok,
    analyse,
    anchors,
    keys_of,
    same_anchor,
    value_kind,
    values_of,
)
from assistant.verify.words import stem

# Tunable thresholds (picked on the dev sets; see eval/consistency_dev.py)
CLAIM_RELATED = 0.30  # the relevance floor: best-aligned overlap under which evidence is about something else (python -m eval.draftcheck: 98.6% of claims about an archived article pass it, 93% of the same claims with that article left out do not)
CLAIM_CONTEXT = 0.7  # overlap of the rest of the claim before a differing value is a conflict
CLAIM_SUPPORTED = 0.7  # weighted overlap (every name/number matched) needed for "supported"
CLAIM_MIN_WORDS = 3  # shared content words, at least, before evidence can support or contradict
CLAIM_MIN_WEIGHT = 4.0  # and their summed rarity weight ("people died in the fire" is about 4.7)
# Only the best few sentences are weighed for a verdict: further down they are about other things.
_TOP_ALIGNED = 5

_ATTRIBUTION = re.compile(
    r"\b(said|says|say|told|tells|claimed|claims|according to|announced|reported|confirmed|denied|"
    r"stated|added|insisted|warned|admitted|alleged|argued|wrote|tweeted|revealed|estimated)\b",
    re.IGNORECASE,
)
_QUOTE_RE = re.compile(r"[\"“”]|(?:^|\s)'[^']{3,}'")


def is_checkworthy(sentence: str) -> bool:
    """True when the sentence states something checkable: numbers, dates, quotes, attributions or names."""
    s = normalise_text(sentence)
    if len(s.split()) < 4:
        return False  # labels and bylines ("Outlook News Desk", "Updated on:")
    toks = analyse(s)
    if any(t.kind in ("num", "date") and t.content for t in toks):
        return True
    if _QUOTE_RE.search(sentence) or _ATTRIBUTION.search(s):
        return True
    return bool(names_in(s))  # NER runs only for an ambiguous capitalised first word


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim analysed once: its tokens, its numbers and dates, and its names."""

    text: str
    toks: tuple[Tok, ...]
    values: dict[str, str]
    names: list[str]

    @classmethod
    def of(cls, text: str) -> Claim:
        """Analyse ``text`` as a claim."""
        toks = analyse(text)
        return cls(text, toks, values_of(toks), names_in(text))


@dataclass(slots=True)
class EvidenceSentence:
    text: str
    toks: tuple[Tok, ...]
    keys: set[str]

    @property
    def names(self) -> list[str]:
        """The sentence's capitalised names."""
        return sentence_names(self.text)


@dataclass(slots=True)
class EvidencePassage:
    text: str
    sentences: list[EvidenceSentence]
    keys: set[str]

    # Names and raw words are needed only for the few passages a claim aligns with: computed on demand.
    @property
    def words(self) -> set[str]:
        """The passage's folded words, for name look-ups."""
        return word_set(self.text)

    @property
    def names(self) -> list[str]:
        """The names of all its sentences."""
        return [n for s in self.sentences for n in s.names]


@lru_cache(maxsize=4096)
def evidence_passage(passage_id: str, text: str) -> EvidencePassage:
    """Analyse an evidence passage once (cached by id and text): sentences and their stems."""
    sents = []
    for s in sentence_texts(normalise_text(text)):
        toks = analyse(s)
        sents.append(EvidenceSentence(s, toks, keys_of(toks)))
    keys = set().union(*(s.keys for s in sents)) if sents else set()
    return EvidencePassage(text, sents, keys)


@dataclass(slots=True)
class Alignment:
    """One evidence sentence lined up with the claim: its overlap and where it stands."""

    rank: float  # overlap, with the retrieval score breaking near-ties
    overlap: float
    hit: ScoredPassage
    index: int  # of the sentence in ``passage``
    passage: EvidencePassage

    @property
    def sentence(self) -> EvidenceSentence:
        """The aligned evidence sentence."""
        return self.passage.sentences[self.index]


@dataclass(frozen=True, slots=True)
class Conflict:
    """What the evidence says differently: a value (number, date), a name, or the polarity."""

    kind: str
    reason: str


# ---------------------------------------------------------------------------
# Overlap
# ---------------------------------------------------------------------------


def _overlap(
    claim: tuple[Tok, ...], keys: set[str], skip: set[str] = frozenset()
) -> tuple[float, int, float]:
    """Weighted share of the claim's content found in ``keys`` (ignoring ``skip``), matched count and weight."""
    total = hit = 0.0
    n = 0
    seen: set[str] = set()
    for t in claim:
        if not t.content or t.key in skip or t.key in seen:
            continue  # each word once: "hour ... hours" is one match, not two
        seen.add(t.key)
        total += t.weight
        if t.key in keys:
            hit += t.weight
            n += 1
    return (hit / total if total else 0.0), n, hit


def _aligned(
    claim: tuple[Tok, ...], keys: set[str], share: float, skip: set[str] = frozenset()
) -> bool:
    """The claim (minus ``skip``) and an evidence sentence say the same thing about enough substance.

    A share alone is not enough: "We know where to look" matches any sentence with "know" and "look".
    """
    got, n, weight = _overlap(claim, keys, skip)
    return got >= share and n >= CLAIM_MIN_WORDS and weight >= CLAIM_MIN_WEIGHT


def _same_fact(
    claim: tuple[Tok, ...], s: EvidenceSentence, share: float, skip: set[str] = frozenset()
) -> bool:
    """The claim and an evidence sentence state the same fact, except for ``skip``.

    Either text may carry words the other lacks: a claim padded with a scene-setting clause still
    states the evidence sentence's fact, and so does a long evidence sentence stating the claim's.
    """
    if _aligned(claim, s.keys, share, skip):
        return True
    return _aligned(s.toks, keys_of(claim), share, skip)


# ---------------------------------------------------------------------------
# Align
# ---------------------------------------------------------------------------


def align(claim: Claim, evidence: list[ScoredPassage]) -> list[Alignment]:
    """Every evidence sentence with its overlap with the claim, best first."""
    top = max(sp.score for sp in evidence)
    out: list[Alignment] = []
    for sp in evidence:
        ep = evidence_passage(sp.passage.id, sp.passage.text)
        prior = (sp.score / top) if top > 0 else 0.0
        for j, s in enumerate(ep.sentences):
            ov = _overlap(claim.toks, s.keys)[0]
            # the retrieval score only breaks near-ties between sentences of similar overlap
            out.append(Alignment(ov + 0.05 * prior, ov, sp, j, ep))
    out.sort(key=lambda a: -a.rank)
    return out


def support_gap(claim: Claim, a: Alignment) -> str | None:
    """Why this evidence sentence does not support the claim, or None when it does."""
    sentences = a.passage.sentences
    window = set().union(*(x.keys for x in sentences[max(0, a.index - 1) : a.index + 2]))
    missing = [text for key, text in claim.values.items() if key not in window]
    missing += [n for n in claim.names if not name_in(n, a.passage.words, a.passage.names)]
    passage_id = a.hit.passage.id
    if missing:
        return (
            ", ".join(f"'{x}'" for x in missing)
            + f" not found in the best evidence (passage {passage_id})"
        )
    if not _aligned(claim.toks, a.sentence.keys, CLAIM_SUPPORTED):
        return f"best evidence covers only {a.overlap:.0%} of the claim (passage {passage_id})"
    return None


# ---------------------------------------------------------------------------
# Find conflicts
# ---------------------------------------------------------------------------


def _value_anchors(toks: tuple[Tok, ...], key: str) -> tuple[str | None, str | None]:
    """The content words either side of a number or date ("12 people" -> "person")."""
    at = next((i for i, t in enumerate(toks) if t.key == key and t.kind != "word"), None)
    return (None, None) if at is None else anchors(toks, at, at)


def _value_conflict(claim: Claim, s: EvidenceSentence, ep: EvidencePassage) -> Conflict | None:
    """Same kind of number or date, another value, by the same words, the rest of the claim aligned.

    A giant caption sentence full of numbers is no rival: the counted word must match.
    """
    c_keys = keys_of(claim.toks)
    s_values = values_of(s.toks)
    for key, text in claim.values.items():
        if key in ep.keys:
            continue
        where = _value_anchors(claim.toks, key)
        for okey, otext in s_values.items():
            if okey in c_keys or value_kind(okey) != value_kind(key):
                continue
            other = _value_anchors(s.toks, okey)
            # side by side: the counted word follows the number ("6 train" is not "two friends");
            # two different counted words are two quantities ("Kunis, 31, who moved" is not "Kunis
            # for $5,000 for emotional distress"), whatever word comes before them
            if where[1] and other[1] and where[1] != other[1]:
                continue
            if not ((where[1] and where[1] == other[1]) or (where[0] and where[0] == other[0])):
                continue
            if _same_fact(claim.toks, s, CLAIM_CONTEXT, skip={key, okey}):
                kind = "date" if value_kind(key) in ("month", "weekday") else "number"
                return Conflict("value", f"{kind} '{text}' where the evidence says '{otext}'")
    return None


# "19 votes to 12", "won 3-1", "by 5 to 4": two numbers whose order carries the fact.
_PAIR_RE = re.compile(
    r"(?<![\w.,])(\d[\d,]*(?:\.\d+)?)(?:(\s*[-–—]\s*)|\s+((?:[A-Za-z]+\s+){0,2}?)(?:to|against|versus|vs\.?)\s+)(\d[\d,]*(?:\.\d+)?)(?![\w,]*\d)"
)


def ordered_pairs(text: str) -> dict[tuple[str, str], str]:
    """(first, second) number pairs joined by "to", "against", "versus" or a dash, with their wording."""
    out = {}
    for m in _PAIR_RE.finditer(normalise_text(text)):
        a, b = (x.replace(",", "") for x in (m.group(1), m.group(4)))
        if float(a) != float(b):
            out[(str(float(a)), str(float(b)))] = m.group(0).strip()
    return out


def _order_conflict(claim: Claim, s: EvidenceSentence) -> Conflict | None:
    """The same two numbers in the other order ("12 votes to 19" against "19 votes to 12")."""
    theirs = ordered_pairs(s.text)
    for (a, b), text in ordered_pairs(claim.text).items():
        if (b, a) in theirs and (a, b) not in theirs and _same_fact(claim.toks, s, CLAIM_CONTEXT):
            return Conflict("value", f"'{text}' where the evidence says '{theirs[(b, a)]}'")
    return None


def _name_conflict(
    claim: Claim, s: EvidenceSentence, known_words: set[str], known_names: list[str]
) -> Conflict | None:
    """A claim name absent from every evidence passage where the aligned sentence names someone else."""
    claim_words = word_set(claim.text)
    for name in claim.names:
        if name_in(name, known_words, known_names):
            continue
        # Rivals: a variant of this name ("Jean Dupont" for "John Dupont") first, then names the claim does not
        # mention at all ("Donald Trump" for "Joe Biden", but not "President Putin" when the claim names Putin).
        # A rival must stand where the claim's name stands (same neighbour words), so "his blog, That Dad
        # Blog" is not set against "bikini model Alexis Randock" in a sentence that merely shares words.
        own = set(name_tokens(name))
        where = name_anchors(claim.toks, name)
        others = []
        for n in s.names:
            tokens = set(name_tokens(n))
            if name_in(n, claim_words, claim.names):
                continue
            if tokens & own:
                others.insert(0, n)
            elif not tokens & claim_words and same_anchor(where, name_anchors(s.toks, n)):
                others.append(n)
        if not others:
            continue
        # the rest of the claim, matched names included, must line up with the rival's sentence
        # (only the differing words are skipped: "john"/"jean", not "dupont")
        skip = {stem(w) for w in own ^ set(name_tokens(others[0]))}
        if _same_fact(claim.toks, s, CLAIM_CONTEXT, skip=skip):
            return Conflict("name", f"name '{name}' where the evidence says '{others[0]}'")
    return None


def _polarity_conflict(claim: Claim, s: EvidenceSentence) -> Conflict | None:
    """A negation or an antonym about the same words ("did not meet" vs "met", "rose" vs "fell")."""
    flip = polarity_flip(claim.toks, s.toks)
    # the flipped word itself is no context
    skip = (keys_of(claim.toks) | s.keys) & antonyms().keys()
    if flip and _same_fact(claim.toks, s, CLAIM_CONTEXT, skip=skip):
        return Conflict("polarity", flip.replace("the other text", "the evidence"))
    return None


def find_conflicts(
    claim: Claim, aligned: list[Alignment], alignments: list[Alignment]
) -> list[Conflict | None]:
    """For each aligned sentence, the first conflict it has with the claim (order of a number pair,
    value, name, then polarity)."""
    # A name counts as missing only when no evidence passage has it (another may spell it out).
    passages = {id(a.passage): a.passage for a in alignments}.values()
    known_words = set().union(*(ep.words for ep in passages))
    known_names = [n for ep in passages for n in ep.names]
    return [
        _order_conflict(claim, a.sentence)
        or _value_conflict(claim, a.sentence, a.passage)
        or _name_conflict(claim, a.sentence, known_words, known_names)
        or _polarity_conflict(claim, a.sentence)
        for a in aligned
    ]


# ---------------------------------------------------------------------------
# Decide
# ---------------------------------------------------------------------------

# Aligned sentences whose text, with a neighbour either side, the model check reads.
CONTEXT_SENTENCES = 2
NOTHING_RELEVANT = "nothing in the archive on this"


def _evidence(a: Alignment, quote: str | None = None) -> Evidence:
    p = a.hit.passage
    return Evidence(
        passage_id=p.id, article_id=p.article_id, quote=a.sentence.text if quote is None else quote, title=p.title,
        published=p.published,
    )


def context_of(aligned: list[Alignment], n: int = CONTEXT_SENTENCES) -> list[Evidence]:
    """The best ``n`` aligned sentences with a neighbour either side, one record per sentence, in passage order."""
    ranges: dict[str, tuple[Alignment, set[int]]] = {}
    for a in aligned[:n]:
        lo, hi = max(0, a.index - 1), min(len(a.passage.sentences), a.index + 2)
        ranges.setdefault(a.hit.passage.id, (a, set()))[1].update(range(lo, hi))
    return [_evidence(a, a.passage.sentences[j].text) for a, idx in ranges.values() for j in sorted(idx)]


def _result(
    claim: Claim,
    verdict: str,
    reason: str,
    *found: Alignment,
    checks: list[CheckStep] | None = None,
    relevance: float | None = None,
    context: list[Evidence] | None = None,
) -> ClaimResult:
    return ClaimResult(
        text=claim.text,
        start=0,
        end=len(claim.text),
        verdict=verdict,
        evidence=[_evidence(a) for a in found],
        reason=reason,
        checks=checks or [],
        relevance=None if relevance is None else round(relevance, 3),
        context=context or [],
    )


def decide(claim: Claim, aligned: list[Alignment], conflicts: list[Conflict | None]) -> ClaimResult:
    """The code's verdict from the aligned sentences and their conflicts, with every check behind it.

    A conflict (number, date, name, polarity, the order of a pair) decides ``contradicted``. Otherwise
    the overlap rules give the code-only verdict (``supported`` when names, numbers and most of the
    wording are found, else ``unverified``); when the model check runs, its calibrated score replaces
    that verdict and these findings stay as reasons (``support.verdicts.decide_claim``).
    """
    # the first conflict-free sentence with no gap backs the claim (gaps are computed only until then)
    backing = next((a for a, c in zip(aligned, conflicts) if c is None and support_gap(claim, a) is None), None)
    relevance = aligned[0].overlap
    context = context_of(aligned)
    relevant = CheckStep(
        check="relevance", outcome="pass", score=round(relevance, 3), passage_id=aligned[0].hit.passage.id,
        detail=f"the best evidence sentence covers {relevance:.0%} of the claim",
    )
    newest, superseded = _weigh_by_date(backing, aligned, conflicts)
    if newest is not None:
        assert backing is not None
        a, found = newest
        checks = [relevant, _dated_step(found, a, backing, "fail")]
        return _result(claim, "outdated", checks[-1].detail, a, backing, checks=checks, relevance=relevance, context=context)
    if superseded is not None:
        conflicts = [None] * len(conflicts)  # every source that differs is older than the one that agrees
    # A differing number, date or polarity wins even when another source agrees: the editor must see the
    # discrepancy. A different name yields to a source naming the claim's own: it is often a synonym
    # ("Tyneside" for "Newcastle").
    for a, found in zip(aligned, conflicts):
        if found is None or (found.kind == "name" and backing):
            continue
        pid = a.hit.passage.id
        also = f"; passage {backing.hit.passage.id} agrees with the claim" if backing else ""
        checks = [
            relevant,
            CheckStep(check="conflict", outcome="fail", detail=f"{found.reason} in passage {pid}{also}", passage_id=pid, decisive=True),
        ]
        return _result(
            claim, "contradicted", checks[-1].detail, a, *([backing] if backing else []),
            checks=checks, relevance=relevance, context=context,
        )
    no_conflict = CheckStep(
        check="conflict", outcome="pass",
        detail=f"no differing number, date, name or polarity in the {len(aligned)} aligned sentence(s)",
    )
    if backing:
        ov = _overlap(claim.toks, backing.sentence.keys)[0]
        pid = backing.hit.passage.id
        checks = [
            relevant, superseded or no_conflict,
            CheckStep(check="facts", outcome="pass", detail=f"names and numbers found in passage {pid}", passage_id=pid),
            CheckStep(check="wording", outcome="pass", score=round(ov, 3), passage_id=pid, decisive=True,
                      detail=f"names, numbers and {ov:.0%} of the wording match passage {pid}"),
        ]
        older = [a for a in aligned if superseded is not None and a.hit.passage.id == superseded.passage_id][:1]
        return _result(claim, "supported", reason_of(checks), backing, *older, checks=checks, relevance=relevance, context=context)
    first = aligned[0]
    gap = support_gap(claim, first) or "no supporting evidence"
    kind = "facts" if "not found in" in gap else "wording"
    checks = [
        relevant, no_conflict,
        CheckStep(check=kind, outcome="fail", detail=gap, passage_id=first.hit.passage.id, decisive=True,
                  score=round(first.overlap, 3) if kind == "wording" else None),
    ]
    return _result(claim, "unverified", gap, first, checks=checks, relevance=relevance, context=context)


def _weigh_by_date(
    backing: Alignment | None, aligned: list[Alignment], conflicts: list[Conflict | None]
) -> tuple[tuple[Alignment, Conflict] | None, CheckStep | None]:
    """Newer evidence outranks older when a source that backs the claim and one that conflicts disagree.

    Returns the newest conflicting sentence when it was published after the backing one (the claim
    is ``outdated``), or, when every conflicting sentence is older than the backing one, a note
    saying so (the claim is judged on the newer source). Undated sources, or sources of the same
    date, are not weighed: the conflict decides as before.
    """
    clashes = [(a, c) for a, c in zip(aligned, conflicts) if c is not None]
    when = timestamp(backing.hit.passage.published) if backing is not None else None
    stamps = [timestamp(a.hit.passage.published) for a, _ in clashes]
    if backing is None or when is None or not clashes or any(t is None for t in stamps):
        return None, None
    newer = [(t, a, c) for t, (a, c) in zip(stamps, clashes) if t > when]
    if newer:
        _, a, found = max(newer, key=lambda x: x[0])
        return (a, found), None
    if all(t < when for t in stamps):
        a, found = max(zip(stamps, clashes), key=lambda x: x[0])[1]
        return None, _dated_step(found, a, backing, "note")
    return None, None


def _dated_step(found: Conflict, newer_or_older: Alignment, backing: Alignment, outcome: str) -> CheckStep:
    """The conflict check of a claim weighed by date: what differs, where, and both sources' dates."""
    a, b = newer_or_older.hit.passage, backing.hit.passage
    when, then = display(a.published), display(b.published)
    if outcome == "fail":
        detail = (
            f"outdated: {found.reason} in the newer passage {a.id} ({when}); "
            f"the older passage {b.id} ({then}) supports the claim"
        )
    else:
        detail = (
            f"the older passage {a.id} ({when}) differs ({found.reason}); "
            f"the newer passage {b.id} ({then}) agrees with the claim"
        )
    return CheckStep(check="conflict", outcome=outcome, detail=detail, passage_id=a.id, decisive=outcome == "fail")


def reason_of(checks: list[CheckStep]) -> str:
    """The reason shown for a verdict: the deciding check first, then the other failed checks and notes."""
    first = [c.detail for c in checks if c.decisive]
    rest = [c.detail for c in checks if not c.decisive and c.outcome != "pass"]
    return "; ".join(dict.fromkeys(first + rest))


def nothing_relevant(claim: Claim, relevance: float = 0.0, why: str = "") -> ClaimResult:
    """The verdict for a claim with no evidence about it: ``unverified``, with no quote shown."""
    detail = NOTHING_RELEVANT + (f" ({why})" if why else "")
    check = CheckStep(check="relevance", outcome="fail", detail=detail, score=round(relevance, 3), decisive=True)
    return _result(claim, "unverified", detail, checks=[check], relevance=relevance)


def check_claim(claim: str, evidence: list[ScoredPassage]) -> ClaimResult:
    """Judge a claim against evidence passages from other articles: supported, contradicted or unverified."""
    c = Claim.of(claim)
    if not any(t.content for t in c.toks):
        check = CheckStep(check="relevance", outcome="fail", detail="nothing checkable in the claim", decisive=True)
        return _result(c, "unverified", check.detail, checks=[check])
    alignments = align(c, evidence) if evidence else []
    if not alignments:
        return nothing_relevant(c)
    aligned = [a for a in alignments[:_TOP_ALIGNED] if a.overlap >= CLAIM_RELATED]
    if not aligned:
        best = alignments[0].overlap
        return nothing_relevant(c, best, f"the closest sentence covers {best:.0%} of the claim")
    return decide(c, aligned, find_conflicts(c, aligned, alignments))
