"""Extract-then-fuse: the model shortens and fuses sentences code picked; code checks each result.

The model sees only the selected sentences, numbered, and writes one highlight per line,
starting with the numbers of the sentences it used ("[1][3] ..."). Each line is checked as soon
as it is complete, against its cited sentences only: names, numbers, dates and quotes by code
(``verify_citations``), then, when a scorer is given, by the support scorer's calibrated
probability. A line that fails is replaced by its source sentence, labelled as such, so an
editor never reads an unchecked model sentence as the summary.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from assistant.errors import LLMError, ModelMissingError
from assistant.llm import stream_reply
from assistant.prompts import render
from assistant.support.verdicts import support_sentences
from assistant.types import Citation, Passage, SentenceResult, SourceSentence
from assistant.verify import analyse, missing_facts, verify_citations
from assistant.verify.tokens import keys_of, values_of

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage

    from assistant.support import SupportScorer

log = logging.getLogger(__name__)

# A source sentence this close (rapidfuzz token_set_ratio) to a summary line is taken as its source
# (an uncited fused line, an abstractive sentence's support); shared with summarize.py.
ALIGN_MIN_SCORE = 75
# A sentence this close to one already in the summary repeats it (small models loop).
DUPLICATE_SCORE = 85
# Share of a fused sentence's content words (rarity-weighted) that its cited sentences must hold:
# the model is told to shorten by deleting words, so new words are what an invented detail brings.
FUSE_MIN_OVERLAP = 0.8
# Generation budget per highlight: at most ~20 words (~30 tokens) plus its [n] prefix.
TOKENS_PER_SENTENCE = 48

# Words whose deletion can change what a sentence claims (negation, modality, attribution of a
# claim or denial, the precision of a quantity): a line that drops one of them is not a plain cut.
_MEANING_WORDS = frozenset(
    {
        "not", "no", "never", "nobody", "nothing", "none", "neither", "nor", "without", "cannot",
        "may", "might", "could", "would", "should", "must", "can", "will", "if", "unless", "whether",
        "allegedly", "alleged", "reportedly", "suspected", "accused", "deny", "denies", "denied",
        "denying", "claim", "claims", "claimed", "former", "ex", "plans", "planned", "proposed",
        "expected", "likely", "unlikely", "possible", "possibly", "about", "around", "nearly",
        "almost", "approximately", "some", "up", "more", "less", "than", "least", "most", "over",
        "under", "only", "just",
    }
)
_WORD = re.compile(r"[\w'’-]+")
# Inner phrases a plain cut may delete (see ``is_plain_cut``).
CUT_MAX_GAPS = 1

_NUMBERS = r"(?:\[\s*\d+(?:\s*[,;]\s*\d+)*\s*\]\s*)"
_LINE = re.compile(rf"^\s*(?:[-*•]\s*|\d+[.)]\s+)?({_NUMBERS}*)(.*?)\s*(?:({_NUMBERS}+)\s*[.]?)?\s*$")
_MARKER = re.compile(r"\[([^\]]*)\]")


@dataclass
class FusedLine:
    """One line of the model's reply: its text and the source numbers it names (valid or not)."""

    text: str
    numbers: list[int] = field(default_factory=list)


def parse_line(line: str) -> FusedLine | None:
    """``[1][3] text`` (or ``text [1]``, ``1. [2] text``) as text and numbers; None for an empty line."""
    m = _LINE.match(line)
    if not m:
        return None
    head, text, tail = m.group(1), m.group(2), m.group(3) or ""
    text = text.strip().strip("\"“”").strip()
    if not re.search(r"\w", text):
        return None
    numbers: list[int] = []
    for group in _MARKER.findall(head + tail):
        for part in re.split(r"[,;]", group):
            if part.strip().isdigit() and int(part) not in numbers:
                numbers.append(int(part))
    if text[-1:].isalnum():
        text += "."  # "text [1]." loses its full stop to the citation
    return FusedLine(text=text, numbers=numbers)


def fused_lines(pieces: Iterable[str]) -> Iterator[FusedLine]:
    """Parsed lines of a streamed reply, each as soon as its line break arrives."""
    buffer = ""
    for piece in pieces:
        buffer += piece
        while "\n" in buffer:
            line, buffer = buffer.split("\n", 1)
            parsed = parse_line(line)
            if parsed is not None:
                yield parsed
    parsed = parse_line(buffer)
    if parsed is not None:
        yield parsed


def fuse_messages(sources: list[SourceSentence], n: int):
    """The fuse prompt for ``sources`` asking for ``n`` highlights."""
    view = [{"number": s.number, "text": s.text} for s in sources]
    return render("fuse", sentences=view, n_sentences=n)


def stream_text(chat: BaseChatModel, messages: list[BaseMessage], max_tokens: int) -> Iterator[str]:
    """The model's reply as it is generated (the local model, an endpoint or the replay cache)."""
    yield from stream_reply(chat, messages, max_tokens=max_tokens)


def _cited(line: FusedLine, sources: list[SourceSentence]) -> tuple[list[SourceSentence], list[int]]:
    """The source sentences a line cites, and the numbers it gave that name none."""
    valid = [n for n in line.numbers if 1 <= n <= len(sources)]
    bogus = [n for n in line.numbers if n not in valid]
    if not valid:
        # Small models sometimes drop the [n]: the sentence it restates is then its source.
        best = max(sources, key=lambda s: fuzz.token_set_ratio(line.text, s.text), default=None)
        if best is not None and fuzz.token_set_ratio(line.text, best.text) >= ALIGN_MIN_SCORE:
            valid = [best.number]
    return [sources[n - 1] for n in valid], bogus


def new_words(text: str, source: str) -> tuple[float, list[str]]:
    """Share of ``text``'s content words (by rarity weight) found in ``source``, and the words that are not."""
    source_keys = keys_of(analyse(source))
    content = [t for t in analyse(text) if t.content and t.kind == "word"]
    total = sum(t.weight for t in content)
    if not total:
        return 1.0, []
    found = sum(t.weight for t in content if t.key in source_keys)
    missing = list(dict.fromkeys(t.text for t in content if t.key not in source_keys))
    return found / total, missing


def _facts_missing(text: str, cited: list[SourceSentence]) -> int:
    found = missing_facts(text, " ".join(s.text for s in cited))
    return len(found.values) + len(found.names)


def complete_citations(text: str, cited: list[SourceSentence], sources: list[SourceSentence]) -> list[SourceSentence]:
    """Add the selected sentences that hold the line's names, numbers or dates its citations lack.

    The model names who "he" is, or takes a date from the next sentence, and cites only the
    sentence it shortened; the fact is in its input all the same. Code adds that sentence to the
    citations (at most two), so the check runs against everything the line rests on.
    """
    missing = _facts_missing(text, cited)
    for _ in range(2):
        if not missing:
            break
        options = [s for s in sources if s not in cited]
        best = min(options, key=lambda s: _facts_missing(text, [*cited, s]), default=None)
        if best is None or _facts_missing(text, [*cited, best]) >= missing:
            break
        cited = sorted([*cited, best], key=lambda s: s.number)
        missing = _facts_missing(text, cited)
    return cited


def check_line(
    line: FusedLine, sources: list[SourceSentence], passages: dict[str, Passage], article_id: str | None
) -> SentenceResult:
    """A fused line checked by code against the sentences it cites (not the rest of their passages)."""
    cited, bogus = _cited(line, sources)
    if not cited:
        return SentenceResult(text=line.text, verdict="unsupported", reason="cites none of the selected sentences")
    given = [s.number for s in cited]
    cited = complete_citations(line.text, cited, sources)
    # The cited sentences stand in for their passages: a fact from elsewhere in the passage fails.
    label = "sentence " + "".join(f"[{s.number}]" for s in cited)
    view = passages[cited[0].passage_id].model_copy(update={"id": label, "text": " ".join(s.text for s in cited)})
    checked = verify_citations(
        line.text, [Citation(passage_id=label, quote=s.text) for s in cited], {label: view}, article_id=article_id
    )
    reason = checked.reason.replace("cited passage sentence", "cited sentence")
    added = [s.number for s in cited if s.number not in given]
    if added:
        reason += "; citation " + "".join(f"[{n}]" for n in added) + " added by code (it holds a name, number or date)"
    if checked.verdict == "supported":
        share, missing = new_words(line.text, view.text)
        if share < FUSE_MIN_OVERLAP:
            words = ", ".join(f"'{w}'" for w in missing[:4])
            checked = checked.model_copy(update={"verdict": "unsupported"})
            reason = f"words not in cited {label}: {words} ({1 - share:.0%} of its content)"
    if bogus:
        reason += "; ignored " + "".join(f"[{n}]" for n in bogus) + " (no such sentence)"
    citations = [Citation(passage_id=s.passage_id, quote=s.text) for s in cited]
    return checked.model_copy(update={"reason": reason, "citations": citations, "sources": [s.number for s in cited]})


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group().lower().strip("'’-"), m.start(), m.end()) for m in _WORD.finditer(text)]


def is_plain_cut(text: str, cited: list[SourceSentence]) -> bool:
    """Whether ``text`` is its one cited sentence with set-off parts deleted, every meaning word kept.

    Allowed cuts: the tail; an opening phrase set off by a comma or colon ("On Tuesday, ...");
    one inner phrase set off by commas, dashes or brackets. Such a line brings no word, name or
    number from elsewhere and joins no words the source did not join, so it cannot swap an
    entity, invent a detail or fuse two facts wrongly. A cut that drops a negation, a modal, a
    denial or a quantity's precision ("not", "may", "denied", "up to") is not plain.
    """
    if len(cited) != 1:
        return False
    source = cited[0].text
    line, words = _words(text), _words(source)
    if not line:
        return False
    kept: list[int] = []
    at = 0
    for w, _, _ in line:  # the line's words, in order, inside the source's
        while at < len(words) and words[at][0] != w:
            at += 1
        if at == len(words):
            return False
        kept.append(at)
        at += 1
    gaps = [(a + 1, b) for a, b in itertools.pairwise(kept) if b > a + 1]
    if len(gaps) > CUT_MAX_GAPS:
        return False
    if kept[0] > 0 and not _set_off(source[: words[kept[0]][1]].rstrip(), ",:;"):
        return False  # "The last time Frank spoke ..." is not "Frank spoke ..."
    for first, last in gaps:
        before = source[: words[first][1]].rstrip()
        after = source[: words[last][1]].rstrip()
        if not (_set_off(before, ",([—–-") and _set_off(after, ",)]—–-")):
            return False  # "the bridge opened in [1962, carries] 14,000" joins what the source did not
    dropped = {words[i][0] for i in range(len(words)) if i not in set(kept)}
    return not (dropped & _MEANING_WORDS or any(w.endswith("n't") for w in dropped))


def _set_off(text_before: str, marks: str) -> bool:
    """Whether the text up to a cut ends with one of ``marks`` (punctuation that sets a phrase off)."""
    return bool(text_before) and text_before[-1] in marks


def with_model_check(result: SentenceResult, sources: list[SourceSentence], scorer: SupportScorer) -> SentenceResult:
    """The support scorer's verdict on a code-checked sentence, against its cited sentences only.

    A plain cut of one sentence is verified by code alone (see ``is_plain_cut``): no model call.
    """
    cited = [s for s in sources if s.number in result.sources]
    if not cited:
        return result
    if is_plain_cut(result.text, cited):
        return result.model_copy(
            update={"reason": f"{result.reason}; no model check needed: the line only deletes words from it"}
        )
    source = " ".join(s.text for s in cited)
    try:
        return support_sentences([result], source, scorer)[0]
    except (LLMError, ModelMissingError) as exc:
        # The code's verdict stands; the editor is told the model check did not run.
        log.warning("support scorer failed: %s", exc)
        return result.model_copy(update={"reason": f"{result.reason}; model check not run: {exc}"})


def source_result(
    source: SourceSentence, passages: dict[str, Passage], article_id: str | None, why: str, rejected: str = ""
) -> SentenceResult:
    """The article's own sentence as a summary sentence, labelled with why it is shown."""
    checked = verify_citations(
        source.text, [Citation(passage_id=source.passage_id, quote=source.text)], passages, article_id=article_id
    )
    return checked.model_copy(
        update={
            "reason": f"the article's sentence [{source.number}], {why}",
            "sources": [source.number],
            "origin": "source",
            "rejected": rejected,
        }
    )


def is_repeat(text: str, kept: list[SentenceResult]) -> bool:
    """Whether ``text`` restates a sentence already in the summary.

    The same words with a number or date the kept sentence lacks are another fact, not a repeat
    (a brief's "will cost 3.1 million euros" after "will cost 2.4 million euros": a correction).
    """
    close = [k for k in kept if fuzz.token_set_ratio(text, k.text) >= DUPLICATE_SCORE]
    if not close:
        return False
    values = set(values_of(analyse(text)))
    return any(values <= set(values_of(analyse(k.text))) for k in close)


def replacement(
    result: SentenceResult, sources: list[SourceSentence], used: set[int]
) -> SourceSentence | None:
    """The source sentence to show instead of a failed fused sentence: its closest cited one not yet used."""
    pool = [s for s in sources if s.number in result.sources and s.number not in used]
    if not pool:
        pool = [s for s in sources if s.number not in used]
    return max(pool, key=lambda s: fuzz.token_set_ratio(result.text, s.text), default=None)
