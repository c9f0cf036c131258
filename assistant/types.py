"""Typed records passed between stages (ingest → store → retrieve → generate → verify)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# "outdated" (claims only): an older article supports the claim and a newer one contradicts it.
Verdict = Literal["supported", "unsupported", "contradicted", "unverified", "outdated"]


class Article(BaseModel):
    """One cleaned article; ``offsets[i]`` is the index in ``raw`` of ``text[i]``."""

    id: str
    title: str = ""
    url: str = ""
    published: str = ""
    source: str = ""
    raw: str
    text: str
    offsets: list[int] = Field(default_factory=list, repr=False)

    def to_raw(self, start: int, end: int) -> tuple[int, int]:
        """Map a [start, end) span of ``text`` to the same span in ``raw``."""
        if not self.offsets:
            return start, end
        if start >= len(self.offsets):
            return len(self.raw), len(self.raw)
        last = self.offsets[max(start, end - 1)] + 1 if end > start else self.offsets[start]
        return self.offsets[start], last


class Passage(BaseModel):
    """A chunk of an article; ``start``/``end`` are offsets into the article's raw text."""

    id: str
    article_id: str
    index: int
    text: str
    start: int
    end: int
    tokens: int
    title: str = ""
    url: str = ""
    published: str = Field("", description="its article's publication date (ISO 8601), '' when undated")
    # Set when the passage addresses the assistant ("ignore previous instructions", role tokens):
    # what was found, e.g. 'an order to ignore earlier instructions: "Ignore all previous instructions"'.
    injection: str = ""


class ScoredPassage(BaseModel):
    passage: Passage
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None  # cosine similarity
    lexical_score: float | None = None  # BM25


class SuspectSpan(BaseModel):
    """Words of a sentence that the source makes unlikely (from the support scorer)."""

    start: int = Field(description="character offset: in the sentence, or in the article for claims")
    end: int
    text: str
    pmi: float = Field(
        description="log p(words | source) - log p(words | no source); negative = the source argues against them"
    )
    expected: str = Field("", description="what the model, having read the source, found likeliest there")


class Citation(BaseModel):
    passage_id: str
    quote: str = ""
    injection: str = ""  # the cited passage addresses the assistant (see Passage.injection)


class SourceSentence(BaseModel):
    """An article sentence picked by the extractive selection, numbered as the fuse prompt shows it."""

    number: int = Field(description="1-based number in the fuse prompt and in the summary's citations")
    text: str
    start: int = Field(description="character offset of the sentence in the article's cleaned text")
    end: int
    position: int = Field(description="index of the sentence among the article's sentences (0 = first)")
    passage_id: str = Field(description="the passage that holds the sentence")
    score: float = Field(0.0, description="selection score (position, centrality, lead overlap, length)")


class SentenceResult(BaseModel):
    text: str
    citations: list[Citation] = Field(default_factory=list)
    verdict: Verdict = "unsupported"
    reason: str = ""
    support: float | None = Field(None, description="calibrated P(supported) from the support scorer, 0-1")
    suspect_spans: list[SuspectSpan] = Field(default_factory=list)
    sources: list[int] = Field(
        default_factory=list, description="numbers of the source sentences it rests on (extract-then-fuse)"
    )
    origin: Literal["model", "source"] = Field(
        "model", description="'source': the article's own sentence, shown instead of a model sentence"
    )
    rejected: str = Field("", description="the model's sentence that failed verification and was replaced")
    soft: bool = Field(
        False,
        description="the code's objection is an overlap finding (a name not found verbatim, few shared words), "
        "not a conflict: the model check's calibrated score decides",
    )


SummaryStrategy = Literal["extract_fuse", "abstractive", "extractive"]


class Summary(BaseModel):
    article_id: str
    model: str
    sentences: list[SentenceResult]
    extractive_fallback: bool = False
    # Non-empty when the summary rests on passages that address the assistant; says which.
    injection_warning: str = ""
    strategy: SummaryStrategy = "abstractive"
    sources: list[SourceSentence] = Field(
        default_factory=list, description="the extractive selection the sentences cite by number"
    )
    title: str = Field("", description="the summarised article's title, shown with its citations")
    published: str = Field("", description="the summarised article's publication date (ISO), '' if undated")


class Selection(BaseModel):
    """The extractive selection of a summary in progress: ready before any model call, shown at once."""

    article_id: str
    strategy: SummaryStrategy
    sources: list[SourceSentence]


class FusedSentence(BaseModel):
    """One finished, verified sentence of a summary in progress (streamed before the whole summary)."""

    index: int = Field(description="0-based place in the summary")
    sentence: SentenceResult


class Evidence(BaseModel):
    passage_id: str
    article_id: str
    quote: str
    injection: str = ""  # the evidence passage addresses the assistant (see Passage.injection)
    title: str = Field("", description="title of the evidence passage's article")
    published: str = Field("", description="publication date (ISO 8601) of the evidence's article, '' when undated")


CheckName = Literal["relevance", "conflict", "wording", "facts", "injection", "model"]


class CheckStep(BaseModel):
    """One check behind a claim's verdict: which check, its outcome, its score and the evidence it read.

    ``decisive`` marks the check that set the verdict; the others are shown beside it as reasons.
    """

    check: CheckName
    outcome: Literal["pass", "fail", "note"]
    detail: str
    score: float | None = None
    passage_id: str = ""
    decisive: bool = False


class ClaimResult(BaseModel):
    text: str
    start: int
    end: int
    verdict: Verdict
    evidence: list[Evidence] = Field(default_factory=list)
    reason: str = ""
    judge: str | None = None
    support: float | None = Field(None, description="calibrated P(supported by the best evidence), 0-1")
    suspect_spans: list[SuspectSpan] = Field(default_factory=list)
    checks: list[CheckStep] = Field(default_factory=list, description="every check run on the claim, in order")
    relevance: float | None = Field(None, description="share of the claim's content the best evidence sentence covers")
    context: list[Evidence] = Field(
        default_factory=list,
        description="the aligned evidence sentences with their neighbours: what the model check reads",
    )
    decided_by: Literal["code", "model"] = Field(
        "code", description="'model': the calibrated support score set the verdict; 'code': a code rule did"
    )


class TypoFlag(BaseModel):
    text: str
    start: int
    end: int
    suggestion: str
    kind: Literal["name", "word", "doubled", "style"]
    reason: str
    score: float = 1.0


class CheckReport(BaseModel):
    article_id: str
    claims: list[ClaimResult] = Field(default_factory=list)
    typos: list[TypoFlag] = Field(default_factory=list)


class AnswerCitation(BaseModel):
    n: int
    passage_id: str
    article_id: str
    quote: str = ""
    injection: str = ""  # the cited passage addresses the assistant (see Passage.injection)
    title: str = Field("", description="title of the cited passage's article")
    published: str = Field("", description="publication date (ISO 8601) of the cited article, '' when undated")


class Answer(BaseModel):
    """An answer with inline [n] citations; ``answered`` is False when the articles do not answer."""

    question: str
    answer: str
    citations: list[AnswerCitation] = Field(default_factory=list)
    verdicts: list[SentenceResult] = Field(default_factory=list)
    model: str = ""
    answered: bool = True
    # Non-empty when the answer rests on passages that address the assistant; says which.
    injection_warning: str = ""
    as_of: str = Field(
        "", description="for a question about the latest or current state: the newest cited article's date (ISO 8601)"
    )


class BriefSource(SourceSentence):
    """A sentence code picked for a topic brief, with its article and date (``start``/``end``/``position``
    are in the passage's text)."""

    article_id: str
    title: str = ""
    published: str = Field("", description="its article's publication date (ISO 8601), '' when undated")


class TimelineEntry(BaseModel):
    """One line of a brief's timeline: an event, its date (the newest date among the sentences it cites)."""

    published: str
    sentence: SentenceResult


class Brief(BaseModel):
    """A dated, cited topic brief across articles: a timeline (oldest first) and a short overview.

    Every line is checked like a summary sentence against the selected sentences it cites; a line
    that fails is shown as the source sentence, labelled (``origin == "source"``).
    """

    query: str
    model: str
    timeline: list[TimelineEntry] = Field(default_factory=list)
    overview: list[SentenceResult] = Field(default_factory=list)
    sources: list[BriefSource] = Field(default_factory=list, description="the selection the lines cite by number")
    duplicates_dropped: int = Field(0, description="retrieved passages left out as near-copies of another")
    injection_warning: str = ""
