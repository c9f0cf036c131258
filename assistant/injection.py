"""Article text that addresses the assistant ("ignore previous instructions", role tokens) is marked.

A marked passage stays searchable and citable, but what rests on it is labelled: the sentence
that addresses the assistant is withheld from the model, answers and summaries citing the
passage carry a warning, and it never makes a claim ``supported`` on its own. Detection is a
list of patterns, tuned to stay quiet on news prose ("officials say that ...", "you are
welcome"): it catches the common phrasings, not every possible attack, which is why the
prompts also present article text as data and code verifies every citation.
"""

from __future__ import annotations

import re

_AI = (
    r"(?:an?\s+|the\s+)?(?:helpful\s+|large\s+|friendly\s+|new\s+|unrestricted\s+|lenient\s+)*"
    r"(?:ai|a\.i\.|ai\s+model|language\s+model|chat\s*bot|llm|gpt|chatgpt|(?:ai\s+)?assistant|fact[- ]?checker)\b"
)
_PRIOR = r"(?:all\s+|any\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+|those\s+)?(?:previous|prior|above|earlier|preceding|foregoing|original|system|all)"
_ORDERS = r"(?:instructions?|prompts?|rules|directions|directives|guidelines|messages|context|commands)"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "an order to ignore earlier instructions",
        re.compile(rf"\b(?:ignore|disregard|forget|override)\s+{_PRIOR}\s+{_ORDERS}\b", re.IGNORECASE),
    ),
    (
        "an order to ignore earlier instructions",
        re.compile(r"\b(?:ignore|disregard|forget)\s+(?:all|everything)\s+(?:you\s+(?:were|have\s+been)\s+told|(?:that\s+)?(?:came\s+)?(?:above|before))", re.IGNORECASE),
    ),
    (
        "new instructions for the assistant",
        re.compile(rf"\b(?:new|updated|real|actual|hidden|secret)\s+{_ORDERS}\s*:", re.IGNORECASE),
    ),
    ("a role given to the assistant", re.compile(rf"\byou\s+are\s+(?:now\s+|no\s+longer\s+)?{_AI}", re.IGNORECASE)),
    (
        "a role given to the assistant",
        re.compile(r"\b(?:from\s+now\s+on|henceforth),?\s+you\s+(?:will\s+|must\s+|should\s+)?(?:only\s+)?(?:answer|respond|reply|say|act)\b", re.IGNORECASE),
    ),
    (
        "a role given to the assistant",
        re.compile(rf"\b(?:act|behave|respond|answer)\s+as\s+(?:if\s+you\s+were\s+)?{_AI}", re.IGNORECASE),
    ),
    (
        "an order to say something",
        # Imperative only: at a sentence start or after "please", not "officials say that".
        re.compile(
            r"(?:^|[.!?:;\"“]\s*|\bplease\s+)"
            r"(?:say|state|answer|reply|respond|write|tell\s+(?:the\s+)?(?:user|editor|reader)s?|claim|conclude|output)"
            r"\s+(?:only\s+)?(?:that|with|:)",
            re.IGNORECASE | re.MULTILINE,
        ),
    ),
    (
        "an order about the verdict",
        re.compile(
            r"\b(?:mark|rate|judge|label|classify)\s+(?:this|the|every|all|each)\s+(?:claims?\s+|statements?\s+)?(?:as\s+)?[\"“']?(?:supported|true|verified|correct)\b",
            re.IGNORECASE,
        ),
    ),
    ("a chat role marker", re.compile(r"(?:^|\n)[ \t]*#*[ \t]*(?:system|assistant|developer)[ \t]*(?:prompt|message)?[ \t]*:", re.IGNORECASE)),
    (
        "a chat-template control token",
        re.compile(r"<\|[a-z_]{2,20}\|>|‹\|[a-z_]{2,20}\|›|\[/?INST\]|<</?SYS>>|<\s*/?\s*(?:system|assistant)\s*>", re.IGNORECASE),
    ),
]

# What the model reads in place of a sentence that addresses the assistant.
WITHHELD = "[a sentence addressed to the assistant was withheld here]"

_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"'”’)\]]*|\n|$)")


def find_injection(text: str) -> str:
    """The first phrase in ``text`` that addresses the assistant, with what it is; "" when none."""
    best: tuple[int, str, str] | None = None
    for what, pattern in _PATTERNS:
        m = pattern.search(text)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), what, " ".join(m.group().split()).strip(".!?:;\"“ "))
    if best is None:
        return ""
    return f"{best[1]}: \"{best[2]}\""


def model_view(text: str) -> str:
    """``text`` with each sentence that addresses the assistant replaced by a placeholder.

    Text without such a sentence is returned unchanged, so prompts (and the replay-cache keys
    made from them) of ordinary articles do not change.
    """
    if not find_injection(text):
        return text
    out: list[str] = []
    last = 0
    for m in _SENTENCE.finditer(text):
        if not m.group().strip():
            continue
        out.append(text[last : m.start()])
        out.append(WITHHELD if find_injection(m.group()) else m.group())
        last = m.end()
    out.append(text[last:])
    view = "".join(out)
    # A pattern can span two sentences ("system:" on its own line): then withhold the lot.
    return view if not find_injection(view) else WITHHELD


def warning(subject: str, marks: dict[str, str]) -> str:
    """The notice shown with an answer or summary that rests on marked passages (``{label: phrase}``)."""
    if not marks:
        return ""
    listed = "; ".join(f"{label} ({phrase})" for label, phrase in marks.items())
    return (
        f"{subject} rests on text that addresses the assistant instead of reporting news: {listed}. "
        "That text was not followed and cannot support a statement on its own; read the source "
        "before using it."
    )
