"""The fact-check of drafts against an archive, measured on FRANK: is a paragraph flagged?

The archive is FRANK's CNN/DM and BBC articles (`consistency-frank-dev.jsonl`), ingested into a
fresh store (real MiniLM, real Chroma). Each article gets a draft made of its labelled model
summaries, one paragraph each (re-cased from the article, since FRANK lower-cases them). The draft
is checked like `assistant check --file DRAFT`; a paragraph counts as flagged when any of its
claims is not `supported`. Faithful paragraphs (label 1) should pass, edited ones (label 0) be caught.

    python -m eval.draftcheck --replay                 # recorded model calls (eval/cache), as CI runs it
    python -m eval.draftcheck --record                 # run the local model and record its calls
    python -m eval.draftcheck --replay --fit PATH      # fit the claim threshold (grouped CV), write it to PATH
    python -m eval.draftcheck --no-model               # the code's verdicts alone
    python -m eval.draftcheck --live --paragraphs 6 --limit 12   # model-stage time of 6-paragraph drafts

Prints one JSON object: balanced accuracy of "paragraph flagged", faithful-flagged and
edited-caught rates (with the model stage and code-only), the out-of-fold figures of the fitted
threshold, the relevance floor's controls (the same claims with their own article left out of
the archive: "nothing in the archive on this" is right), and the check time per draft.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from assistant.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Settings().eval_data_dir / "consistency-frank-dev.jsonl"
CACHE = REPO / "eval" / "cache"


@dataclass
class Paragraph:
    row_id: str
    label: int
    text: str
    start: int = 0
    end: int = 0
    row: dict = field(default_factory=dict, repr=False)


@dataclass
class Draft:
    article_id: str
    article: str
    paragraphs: list[Paragraph] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.paragraphs) + "\n"


def truecase(summary: str, article: str) -> str:
    """``summary`` (lower-cased) with each word cased as the article mostly writes it mid-sentence."""
    seen: dict[str, Counter] = {}
    for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Za-z][\w'-]*)", article):
        seen.setdefault(m.group(1).lower(), Counter())[m.group(1)] += 1

    def cased(m: re.Match) -> str:
        word = m.group(0)
        forms = seen.get(word.lower())
        return forms.most_common(1)[0][0] if forms else word

    text = re.sub(r"[A-Za-z][\w'-]*", cased, summary)
    # sentence starts and a lone "i"
    text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return re.sub(r"\bi\b", "I", text)


def load_drafts(path: Path, limit: int | None = None) -> list[Draft]:
    """One draft per FRANK article: its labelled summaries as paragraphs, in the file's order."""
    from assistant.verify import normalise_text

    drafts: dict[str, Draft] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        article = normalise_text(row["article"])
        key = "frank-" + hashlib.sha256(article.encode()).hexdigest()[:10]
        draft = drafts.setdefault(key, Draft(key, article))
        text = truecase(normalise_text(row["summary"]), article)
        draft.paragraphs.append(Paragraph(str(row["id"]), int(row["label"]), text, row=row))
    out = list(drafts.values())[:limit] if limit else list(drafts.values())
    for d in out:
        at = 0
        for p in d.paragraphs:
            p.start, p.end = at, at + len(p.text)
            at = p.end + 2
    return out


def regroup(drafts: list[Draft], n: int) -> list[Draft]:
    """Drafts of ``n`` paragraphs each, taken in turn from different articles (like a desk's round-up)."""
    queue = [d.paragraphs[i] for i in range(max(len(d.paragraphs) for d in drafts)) for d in drafts if i < len(d.paragraphs)]
    out = []
    for k in range(0, len(queue), n):
        d = Draft(f"mixed-{k // n}", "", queue[k : k + n])
        at = 0
        for p in d.paragraphs:
            p.start, p.end = at, at + len(p.text)
            at = p.end + 2
        out.append(d)
    return out


def build_archive(drafts: list[Draft], data_dir: Path):
    """A fresh store holding every draft's article (one JSON record each)."""
    from assistant.service import Assistant
    from assistant.settings import Settings

    settings = Settings(data_dir=data_dir)
    a = Assistant(settings)
    records = data_dir / "frank-articles.jsonl"
    data_dir.mkdir(parents=True, exist_ok=True)
    with records.open("w", encoding="utf-8") as f:
        for d in drafts:
            title = " ".join(d.article.split()[:8])
            f.write(json.dumps({"id": d.article_id, "title": title, "text": d.article}) + "\n")
    report = a.ingest([records])
    if report.failed:
        raise SystemExit(f"archive ingest failed: {report.failed[0].error}")
    return a


def flagged(report, paragraph: Paragraph) -> bool | None:
    """Whether any claim of the paragraph is not supported (None: no claim was checked in it)."""
    claims = [c for c in report.claims if paragraph.start <= c.start < paragraph.end]
    if not claims:
        return None
    return any(c.verdict != "supported" for c in claims)


def balanced(pairs: list[tuple[int, bool]]) -> dict:
    """Balanced accuracy of "flagged" against "edited" (label 0), with both rates."""
    faithful = [f for y, f in pairs if y == 1]
    edited = [f for y, f in pairs if y == 0]
    ff = sum(faithful) / len(faithful) if faithful else 0.0
    ec = sum(edited) / len(edited) if edited else 0.0
    return {
        "balanced_accuracy": round((ec + (1 - ff)) / 2, 3),
        "faithful_flagged": round(ff, 3),
        "edited_caught": round(ec, 3),
        "faithful": len(faithful),
        "edited": len(edited),
    }


def paragraph_scores(report, paragraph: Paragraph) -> tuple[float, bool] | None:
    """(lowest support of the paragraph's model-scored claims, any code conflict or no-evidence claim)."""
    claims = [c for c in report.claims if paragraph.start <= c.start < paragraph.end]
    if not claims:
        return None
    hard = any(c.verdict != "supported" and c.decided_by == "code" for c in claims)
    probs = [c.support for c in claims if c.decided_by == "model" and c.support is not None]
    return (min(probs) if probs else 1.0), hard


def fit_threshold(items: list[tuple[str, int, float, bool]]) -> float:
    """The claim cut with the best paragraph-level balanced accuracy (items: group, label, min support, hard)."""
    values = sorted({p for _, _, p, _ in items})
    # midway between neighbouring scores: a new paragraph just below the lowest faithful one is not flagged
    cuts = [0.0] + [(a + b) / 2 for a, b in pairwise(values)] + [values[-1] + 1e-6] if values else [0.5]
    best, best_cut = -1.0, 0.5
    for cut in cuts:
        ba = balanced([(y, hard or p < cut) for _, y, p, hard in items])["balanced_accuracy"]
        if ba > best:
            best, best_cut = ba, cut
    return round(best_cut, 4)


def grouped_cv(items: list[tuple[str, int, float, bool]], folds: int = 5) -> dict:
    """Out-of-fold paragraph figures of the fitted cut, every draft's paragraphs in one fold."""
    groups = sorted({g for g, *_ in items}, key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    fold_of = {g: i % folds for i, g in enumerate(groups)}
    pairs = []
    for k in range(folds):
        train = [x for x in items if fold_of[x[0]] != k]
        cut = fit_threshold(train)
        pairs += [(y, hard or p < cut) for g, y, p, hard in items if fold_of[g] == k]
    return balanced(pairs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--limit", type=int, default=None, help="first N drafts (articles)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--replay", action="store_true", help="recorded model calls only (a miss is an error)")
    mode.add_argument("--record", action="store_true", help="run the local model and record its calls")
    mode.add_argument("--no-model", action="store_true", help="the code's verdicts only")
    mode.add_argument("--live", action="store_true", help="run the model without the replay cache (for timing)")
    ap.add_argument("--fit", type=Path, default=None, metavar="PATH",
                    help="fit the claim threshold and write it for the scorer's model into PATH "
                    "(the shipped one is assistant/support/claim_thresholds.json)")
    ap.add_argument("--threshold", type=float, default=None, help="claim threshold to apply (default: the fitted one)")
    ap.add_argument("--no-controls", action="store_true", help="skip the relevance controls (own article left out)")
    ap.add_argument("--cache", type=Path, default=CACHE)
    ap.add_argument("--paragraphs", type=int, default=None, metavar="N",
                    help="check drafts of N paragraphs about different articles instead of one draft per article")
    ap.add_argument("--pairs", action="store_true",
                    help="also the support scorer's pair-level figure (summary against its whole article) on the "
                    "paragraphs whose pair is recorded, beside the draft figure on the same paragraphs")
    ap.add_argument("--gate", type=float, default=None, help="exit 1 when balanced accuracy is below this")
    ap.add_argument("--dump", type=Path, default=None, metavar="PATH",
                    help="write one JSON line per paragraph (label, flagged, its claims' verdicts and checks) to PATH")
    args = ap.parse_args(argv)

    if not args.data.is_file():
        print(f"{args.data} not found: the dev sets live in the eval data folder (ASSISTANT_EVAL_DATA_DIR)", file=sys.stderr)
        return 2
    from assistant.check import check_article, claims_to_score, model_check_claims
    from assistant.support.verdicts import claim_threshold

    drafts = load_drafts(args.data, args.limit)
    with tempfile.TemporaryDirectory(prefix="draftcheck-") as tmp:
        a = build_archive(drafts, Path(tmp) / "data")
        if args.paragraphs:
            drafts = regroup(drafts, args.paragraphs)
            args.no_controls = True  # a mixed draft has no one article to leave out
        scorer = None
        if not args.no_model:
            from assistant.support import support_scorer

            mode = "replay" if args.replay else "record" if args.record else "off" if args.live else "auto"
            scorer = support_scorer(a.settings, cache_dir=args.cache, mode=mode)
        cut = args.threshold if args.threshold is not None else (claim_threshold(scorer) if scorer else None)
        corpus, book = a.corpus_names(), a.stylebook()
        code_pairs, model_pairs, items = [], [], []
        code_times, model_times, claims_n, scored_n = [], [], 0, 0
        flags: dict[str, bool] = {}
        controls = Counter()
        dump = args.dump.open("w", encoding="utf-8") if args.dump else None
        for n, d in enumerate(drafts, 1):
            article, _ = a.resolve_article(text=d.text)
            t0 = time.perf_counter()
            report = check_article(article, retriever=a.retriever, corpus=corpus, stylebook=book)
            code_times.append(time.perf_counter() - t0)
            claims_n += len(report.claims)
            for p in d.paragraphs:
                f = flagged(report, p)
                if f is not None:
                    code_pairs.append((p.label, f))
            if scorer is not None:
                t0 = time.perf_counter()
                which = claims_to_score(report)
                ids = [e.passage_id for i in which for e in report.claims[i].context]
                passages = a.store.get_passages_by_id(ids)
                for i, claim in model_check_claims(report.claims, which, passages, scorer, threshold=cut):
                    report.claims[i] = claim
                model_times.append(time.perf_counter() - t0)
                scored_n += len(which)
                for p in d.paragraphs:
                    f = flagged(report, p)
                    if f is not None:
                        model_pairs.append((p.label, f))
                        flags[p.row_id] = f
                    s = paragraph_scores(report, p)
                    if s is not None:
                        items.append((d.article_id, p.label, *s))
            if dump is not None:
                for p in d.paragraphs:
                    claims = [c for c in report.claims if p.start <= c.start < p.end]
                    dump.write(json.dumps({
                        "draft": d.article_id, "row": p.row_id, "label": p.label, "flagged": flagged(report, p),
                        "text": p.text,
                        "claims": [c.model_dump(mode="json", include={"text", "verdict", "reason", "support", "decided_by",
                                                                      "relevance", "checks"}) for c in claims],
                    }) + "\n")
            if not args.no_controls:
                # the same claims with their own article left out: nothing relevant should be found
                alone = check_article(article, retriever=a.retriever, exclude=[d.article_id])
                for c in alone.claims:
                    controls["control_claims"] += 1
                    controls["control_nothing_relevant"] += not c.context
                for c in report.claims:
                    controls["own_claims"] += 1
                    controls["own_relevant"] += bool(c.context) or c.verdict == "contradicted"
            print(f"\r{n}/{len(drafts)} drafts", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        if dump is not None:
            dump.close()

    out: dict = {
        "drafts": len(drafts),
        "paragraphs": sum(len(d.paragraphs) for d in drafts),
        "claims": claims_n,
        "code_only": balanced(code_pairs),
        "code_seconds_p50": round(statistics.median(code_times), 3),
    }
    if scorer is not None:
        out["model"] = {**balanced(model_pairs), "threshold": cut, "claims_scored": scored_n}
        out["model_seconds_p50"] = round(statistics.median(model_times), 2)
        out["model_seconds_p90"] = round(sorted(model_times)[int(0.9 * (len(model_times) - 1))], 2)
        out["fitted_out_of_fold"] = grouped_cv(items)
        if args.fit:
            fitted = fit_threshold(items)
            out["fitted_threshold"] = fitted
            _write_threshold(args.fit, scorer.name, fitted, items, args.data, out["fitted_out_of_fold"])
    if args.pairs and scorer is not None:
        out["pair_level"] = pair_level(drafts, scorer, args.cache, flags)
    if not args.no_controls and controls["control_claims"]:
        out["relevance"] = {
            "own_article_relevant": round(controls["own_relevant"] / max(1, controls["own_claims"]), 3),
            "controls_nothing_relevant": round(controls["control_nothing_relevant"] / controls["control_claims"], 3),
            **dict(controls),
        }
    print(json.dumps(out, indent=2))
    headline = out.get("model", out["code_only"])["balanced_accuracy"]
    if args.gate is not None and headline < args.gate:
        print(f"gate failed: balanced accuracy {headline} < {args.gate}", file=sys.stderr)
        return 1
    return 0


def pair_level(drafts: list[Draft], scorer, cache: Path, flags: dict[str, bool]) -> dict:
    """The support scorer on each paragraph's (article, summary) pair, where recorded, beside the draft check.

    Pairs are scored as the consistency task scores them (replayed; a pair not recorded is left out).
    """
    from assistant.llm import ReplayCacheChat
    from assistant.support.data import pair_from_row
    from eval.support_fit import score_features

    inner = scorer.model.inner if isinstance(scorer.model, ReplayCacheChat) else scorer.model
    model = ReplayCacheChat(inner=inner, cache_dir=cache, mode="replay")
    pairs = [pair_from_row(p.row, default_domain="frank") for d in drafts for p in d.paragraphs if p.row_id in flags]
    rows = score_features(pairs, model, skip_missing=True)
    cal = scorer.calibrated
    got = [(r.pair.label, cal.probability(r.features) < cal.threshold) for r in rows]
    same = [(r.pair.label, flags[r.pair.id]) for r in rows]
    return {"pairs": len(rows), "pair_scorer": balanced(got), "draft_check_same_rows": balanced(same),
            "note": "pairs recorded for the consistency task are FRANK's every other row, the rows the weights were fitted on: in-sample"}


def _write_threshold(path: Path, model: str, cut: float, items: list, data: Path, oof: dict) -> None:
    from assistant.llm_scores import prompt_fingerprint
    from assistant.support.calibrate import data_fingerprint

    current = json.loads(path.read_text()) if path.is_file() else {}
    current[model] = {
        "threshold": cut,
        "prompts": prompt_fingerprint(),
        "data": data_fingerprint([data]),
        "paragraphs": len(items),
        "fitted_by": "python -m eval.draftcheck --replay --fit PATH",
        "out_of_fold": oof,
    }
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    print(f"claim threshold {cut} for {model} written to {path}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
