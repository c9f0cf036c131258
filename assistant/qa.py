"""Question answering over retrieved passages with inline [n] citations, verified in code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from assistant.injection import model_view, warning
from assistant.llm import model_name, stream_reply
from assistant.prompts import NO_ANSWER, render
from assistant.retrieve import Retriever, lexical_tokens
from assistant.settings import Settings
from assistant.types import Answer, AnswerCitation, Citation, Passage, ScoredPassage, SentenceResult

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.support import SupportScorer
from assistant.errors import BadInputError
from assistant.support.verdicts import support_cited
from assistant.tokens import count_tokens
from assistant.verify import best_sentence, split_sentences, verify_citations

# Below this cosine similarity, with no lexical match on the question's words, a passage is noise.
MIN_DENSE = 0.30
_MARK = re.compile(r"\[(\d+)\]")
# A marker with the space before it, so "committee [1]." reads "committee."; a space stays
# between words ("the vote [1]passed" -> "the vote passed").
_MARK_GAP = re.compile(r"(\s*)\[\d+\](?=(\w)?)")
# An uncited answer sentence this close (token_set_ratio) to a passage sentence gets that citation.
CITE_MIN_SCORE = 70


def shares_words(question: str, text: str) -> bool:
    """Whether ``text`` holds at least half the question's content words (and at least two)."""
    qwords = set(lexical_tokens(question))
    return len(qwords & set(lexical_tokens(text))) >= max(2, len(qwords) // 2)


def relevant(question: str, hits: list[ScoredPassage]) -> list[ScoredPassage]:
    """Keep hits that plausibly bear on the question (dense similarity or shared content words)."""
    return [h for h in hits if (h.dense_score or 0) >= MIN_DENSE or shares_words(question, h.passage.text)]


def _stem(word: str) -> str:
    """A light suffix strip so "protested" meets "protest" and "berths" meets "berth"."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _keys(text: str) -> set[str]:
    return {_stem(w) for w in lexical_tokens(text)}


def excerpt(question: str, passage: Passage, budget: int, skip: set[str] | None = None) -> str:
    """The passage sentences that bear most on the question, in order, within ``budget`` tokens.

    The local model reads prompts at ~65 tokens/s on two cores, so whole passages would put the
    first answer word 10+ seconds away; the sentences that bear on the question are what it needs.
    A question word counts more in a sentence the rarer it is in the passage: in "How much did the
    berth cost?" about a passage on the berth, "cost" picks the sentence, not "berth". Sentences in
    ``skip`` (already shown from an overlapping passage) are left out, and added to it.
    """
    qwords = _keys(question)
    spans = split_sentences(passage.text) or [(0, len(passage.text))]
    sentences = [passage.text[a:b].strip() for a, b in spans]
    shared = [qwords & _keys(s) for s in sentences]
    df = {w: sum(w in sh for sh in shared) for w in qwords}
    overlap = {i: sum(1.0 / df[w] for w in sh) for i, sh in enumerate(shared)}
    seen = skip if skip is not None else set()
    ranked = sorted((i for i in range(len(sentences)) if sentences[i] not in seen), key=lambda i: (-overlap[i], i))
    chosen: list[int] = []
    used = 0
    for i in ranked:
        if chosen and overlap[i] == 0:
            break  # sentences about something else only distract a small model
        cost = count_tokens(sentences[i])
        if chosen and used + cost > budget:
            continue
        chosen.append(i)
        used += cost
    seen.update(sentences[i] for i in chosen)
    return " … ".join(sentences[i] for i in sorted(chosen))


def best_quote(sentence: str, passage: Passage) -> str:
    """The passage sentence closest to ``sentence`` (what the citation rests on)."""
    return best_sentence(sentence, [passage])[1]


def _supporting_passage(sentence: str, passages: list[Passage]) -> int | None:
    """1-based number of the passage with a sentence that closely restates ``sentence``, if any."""
    score, _, passage = best_sentence(sentence, passages)
    return passages.index(passage) + 1 if passage is not None and score >= CITE_MIN_SCORE else None


# The model's refusal in other words ("The mayor of Tolland is not mentioned in the given
# passages."): an answer that only says the excerpts lack it is the refusal, not a claim to verify.
# Its free words hold one clause: no second sentence, citation, clause punctuation or joining word,
# so "The plan was approved, though its cost is not stated in the text." is an answer, checked.
_ONE_CLAUSE = r"(?:(?!\b(?:and|but|though|although|while|whereas|however|yet|except|because|since|so)\b)[^.\[,;:!?()—–\n])*"
_REFUSAL = re.compile(
    rf"^{_ONE_CLAUSE}\b(?:is|are|was|were)\s+not\s+(?:mentioned|stated|given|provided|specified)\s+in\s+the\s+"
    r"(?:given\s+|provided\s+)?(?:passages?|articles?|excerpts?|text)\s*\.?$"
    r"|^(?:the\s+)?(?:given\s+|provided\s+)?(?:passages?|articles?|excerpts?)\s+(?:do|does)\s+not\s+"
    rf"(?:mention|say|state|provide|specify|answer)\b{_ONE_CLAUSE}\.?$",
    re.IGNORECASE,
)


def build_answer(question: str, text: str, passages: list[Passage], model: str) -> Answer:
    """Map [n] markers to passages and verify each answer sentence against what it cites."""
    text = text.strip()
    if not text or NO_ANSWER.lower().rstrip(".") in text.lower() or _REFUSAL.match(text):
        return mark_injection(Answer(question=question, answer=NO_ANSWER, model=model, answered=False), passages)
    by_id = {p.id: p for p in passages}
    citations: dict[int, AnswerCitation] = {}
    verdicts: list[SentenceResult] = []
    for start, end in split_sentences(text):
        sentence = text[start:end].strip()
        numbers = [int(n) for n in _MARK.findall(sentence)]
        plain = _MARK_GAP.sub(lambda m: " " if m[1] and m[2] else "", sentence).strip()
        if not plain:
            continue
        if not numbers:
            # Small models often drop the [n] markers: code looks for the passage that says it.
            n = _supporting_passage(plain, passages)
            if n is not None:
                numbers = [n]
        cited: list[Citation] = []
        bogus = [n for n in numbers if not 1 <= n <= len(passages)]
        for n in numbers:
            if n in bogus:
                continue
            p = passages[n - 1]
            quote = best_quote(plain, p)
            cited.append(Citation(passage_id=p.id, quote=quote))
            citations.setdefault(n, AnswerCitation(n=n, passage_id=p.id, article_id=p.article_id, quote=quote))
        if bogus and not cited:
            cited = [Citation(passage_id=f"[{n}]", quote="") for n in bogus]
        verdict = verify_citations(plain, cited, by_id)
        if bogus and cited[0].passage_id in by_id:
            # The model numbered a passage it was not given: shown, but the real citations decide.
            marks = "".join(f"[{n}]" for n in bogus)
            verdict = verdict.model_copy(update={"reason": f"{verdict.reason}; ignored {marks} (no such passage)"})
        verdicts.append(verdict)
    answer = Answer(
        question=question,
        answer=text,
        citations=sorted(citations.values(), key=lambda c: c.n),
        verdicts=verdicts,
        model=model,
    )
    return mark_injection(answer, passages)


def mark_injection(answer: Answer, passages: list[Passage]) -> Answer:
    """Flag citations of passages that address the assistant; such a passage alone supports nothing.

    A sentence whose every citation is a marked passage becomes ``unverified``: text that
    tells the model what to say cannot also be the evidence that it is true.
    """
    marked = {p.id: p.injection for p in passages if p.injection}
    if not marked:
        return answer
    number = {p.id: i + 1 for i, p in enumerate(passages)}
    verdicts = []
    for v in answer.verdicts:
        cites = [c.model_copy(update={"injection": marked.get(c.passage_id, "")}) for c in v.citations]
        real = [c for c in cites if c.passage_id in number]
        if v.verdict == "supported" and real and all(c.injection for c in real):
            which = ", ".join(f"[{number[c.passage_id]}]" for c in real)
            v = v.model_copy(
                update={"verdict": "unverified", "reason": f"rests only on {which}, which addresses the assistant; not taken as support"}
            )
        verdicts.append(v.model_copy(update={"citations": cites}))
    citations = [c.model_copy(update={"injection": marked.get(c.passage_id, "")}) for c in answer.citations]
    cited = {f"[{c.n}] {c.passage_id}": c.injection for c in citations if c.injection}
    if cited:
        note = warning("This answer", cited)
    else:
        read = "; ".join(f"[{number[pid]}] {pid} ({phrase})" for pid, phrase in marked.items())
        note = (
            f"A passage read for this answer addresses the assistant instead of reporting news: {read}. "
            "That text was withheld from the model, and the answer does not cite it."
        )
    return answer.model_copy(update={"citations": citations, "verdicts": verdicts, "injection_warning": note})


def answer_stream(
    question: str, retriever: Retriever, chat: BaseChatModel, settings: Settings, k: int | None = None
) -> Iterator[str | Answer]:
    """Yield answer text as the model writes it, then the verified Answer."""
    if not question.strip():
        raise BadInputError("the question is empty")
    hits = relevant(question, retriever.search(question, k=k or settings.retrieve.k))[: settings.retrieve.answer_passages]
    if not hits:
        yield NO_ANSWER
        yield Answer(question=question, answer=NO_ANSWER, model="none (no relevant passages)", answered=False)
        return
    budget = max(40, settings.retrieve.answer_context_tokens // len(hits))
    shown: set[str] = set()  # overlapping passages share sentences: each is shown once
    excerpts = [(h.passage, excerpt(question, h.passage, budget, shown)) for h in hits]
    # A passage whose sentences were all shown already is left out, so [n] numbers only what the model reads.
    passages = [p for p, text in excerpts if text]
    # A sentence that addresses the assistant is withheld from the model (the passage stays citable).
    view = [{"id": p.id, "text": model_view(text), "title": p.title} for p, text in excerpts if text]
    messages = render("ask", question=question, passages=view)
    parts: list[str] = []
    for token in stream_reply(chat, messages):
        parts.append(token)
        yield token
    yield build_answer(question, "".join(parts), passages, model_name(chat))


def support_answer(answer: Answer, passages: dict[str, Passage], scorer: SupportScorer) -> Answer:
    """The model check of an answer (second stage): each cited sentence scored against its passages."""
    return answer.model_copy(update={"verdicts": support_cited(answer.verdicts, passages, scorer)})
