"""Polarity: a negation or an antonym that makes two texts say opposite things about the same words."""

from __future__ import annotations

from functools import lru_cache

from assistant.verify.tokens import Tok, analyse, anchors, keys_of, same_anchor
from assistant.verify.words import stem

# fmt: off
_NEGATIONS = frozenset({"not", "no", "never", "nobody", "nothing", "none", "neither", "nor", "without", "cannot"})
# Pairs whose swap flips a claim ("rose" vs "fell"); compared after stemming.
_ANTONYM_PAIRS = [
    ("rise", "fall"), ("rise", "drop"), ("rise", "decline"), ("increase", "decrease"), ("increase", "fall"),
    ("increase", "decline"), ("increase", "drop"), ("increase", "cut"), ("grow", "shrink"), ("expand", "shrink"),
    ("gain", "loss"), ("gain", "lose"), ("win", "lose"), ("victory", "defeat"),
    ("confirm", "deny"), ("accept", "reject"), ("approve", "reject"), ("approve", "veto"), ("support", "oppose"),
    ("agree", "disagree"), ("allow", "ban"), ("allow", "forbid"), ("allow", "prohibit"), ("legal", "illegal"),
    ("guilty", "innocent"), ("convict", "acquit"), ("succeed", "fail"), ("success", "failure"), ("open", "close"),
    ("higher", "lower"), ("highest", "lowest"), ("more", "fewer"), ("more", "less"), ("most", "least"),
    ("largest", "smallest"), ("best", "worst"), ("above", "below"), ("before", "after"), ("majority", "minority"),
    ("profit", "loss"), ("alive", "dead"), ("survive", "die"), ("hire", "fire"), ("strengthen", "weaken"),
    ("include", "exclude"), ("arrive", "depart"), ("resign", "appoint"), ("up", "down"), ("boost", "cut"),
    ("raise", "lower"), ("raise", "cut"), ("start", "end"), ("begin", "end"), ("lift", "impose"),
    ("north", "south"), ("northern", "southern"), ("east", "west"), ("eastern", "western"),
    ("upper", "lower"), ("inner", "outer"), ("first", "last"), ("earlier", "later"), ("early", "late"),
    ("maximum", "minimum"), ("export", "import"), ("buy", "sell"), ("male", "female"),
]
# fmt: on

_NEGATION_IDIOMS = frozenset(
    {"more", "less", "fewer", "only", "just", "doubt", "matter", "later", "sooner"}
)
# "unable to revive", "failed to pay", "refused to sign" deny the verb that follows
_NEGATING_VERBS = frozenset({"unable", "fail", "fails", "failed", "refuse", "refuses", "refused"})


# Words a negation reaches across to its verb or noun ("did not even meet", "has not been paid").
_NEGATION_SKIP = frozenset({
    "be", "been", "being", "is", "are", "was", "were", "have", "has", "had", "do", "does", "did", "ever",
    "even", "yet", "really", "always", "a", "an", "the", "any", "to", "longer", "so", "too", "very", "much",
    "quite", "necessarily", "entirely", "fully", "immediately", "currently", "also", "get", "got",
    "will", "would", "can", "could", "should", "may", "might", "must", "shall",  # "neither will be"
})  # fmt: skip
# Common verbs spaCy lists as stop words: a negation can govern them ("did not say", "has not seen").
_STOP_VERBS = (
    "say",
    "see",
    "make",
    "go",
    "give",
    "take",
    "show",
    "move",
    "put",
    "call",
    "keep",
    "seem",
)


@lru_cache(maxsize=1)
def _stop_verb_keys() -> frozenset[str]:
    return frozenset(stem(w) for w in _STOP_VERBS)


def _negated_positions(toks: tuple[Tok, ...]) -> dict[int, int]:
    """Position of each negated word -> position of its cue ("did not meet": meet -> not)."""
    out: dict[int, int] = {}
    for i, t in enumerate(toks):
        nxt = toks[i + 1].text if i + 1 < len(toks) else ""
        if t.text in _NEGATIONS:
            if nxt in _NEGATION_IDIOMS:
                continue  # "no more than 44%" and "not only" assert, they do not deny
        elif not (t.text in _NEGATING_VERBS and nxt == "to"):
            continue
        for k in range(i + 1, min(i + 6, len(toks))):
            u = toks[k]
            if u.text in _NEGATION_SKIP:
                continue
            # the first other word decides: "hasn't been seen since April" negates "seen", not "April"
            if u.content or u.key in _stop_verb_keys():
                out[k] = i
            break
    return out


def _negation_flip(a: tuple[Tok, ...], b: tuple[Tok, ...]) -> str | None:
    """A word negated in ``a`` that ``b`` states plainly about the same neighbour words."""
    neg_a, neg_b = _negated_positions(a), _negated_positions(b)
    for k, cue in neg_a.items():
        around = anchors(a, cue, k)
        for m, u in enumerate(b):
            if u.key != a[k].key or m in neg_b:
                continue
            if same_anchor(around, anchors(b, m, m)):
                return f"'{a[cue].text} {a[k].text}' where the other text says '{u.text}'"
    return None


@lru_cache(maxsize=1)
def antonyms() -> dict[str, set[str]]:
    """Stem -> the stems of its antonyms (both directions)."""
    table: dict[str, set[str]] = {}
    for a, b in _ANTONYM_PAIRS:
        sa, sb = stem(a), stem(b)
        table.setdefault(sa, set()).add(sb)
        table.setdefault(sb, set()).add(sa)
    return table


def _antonym_flip(a: tuple[Tok, ...], b: tuple[Tok, ...]) -> tuple[str, str] | None:
    """A word of ``a`` whose antonym stands in ``b`` about the same neighbour words (and neither is negated)."""
    table = antonyms()
    neg_a, neg_b = _negated_positions(a), _negated_positions(b)
    a_keys, b_keys = keys_of(a), keys_of(b)
    for i, t in enumerate(a):
        for opp in table.get(t.key, ()):
            if opp not in b_keys or t.key in b_keys or opp in a_keys or i in neg_a:
                continue
            for m, u in enumerate(b):
                # "did not win" vs "lost" agree: a negated antonym is no flip
                if (
                    u.key == opp
                    and m not in neg_b
                    and same_anchor(anchors(a, i, i), anchors(b, m, m))
                ):
                    return t.text, u.text
    return None


def polarity_flip(a: str | tuple[Tok, ...], b: str | tuple[Tok, ...]) -> str | None:
    """Why ``a`` and ``b`` state opposite things (negation or antonym about the same words), else None."""
    ta = analyse(a) if isinstance(a, str) else a
    tb = analyse(b) if isinstance(b, str) else b
    neg = _negation_flip(ta, tb) or _negation_flip(tb, ta)
    ant = _antonym_flip(ta, tb)
    if neg and ant:
        return None  # two flips cancel: "did not win" vs "lost"
    if ant:
        return f"'{ant[0]}' where the other text says '{ant[1]}'"
    return neg
