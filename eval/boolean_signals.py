"""Where the yes/no answerer's polarity signal is lost, measured on chat-boolq-dev (research tooling).

Two questions about ``log p(Yes) − log p(No)`` of the choice prompt (prompts/ask_boolean.yaml),
each answered by asking the local model for every row and comparing ROC AUC (gold yes against
gold no) with what a recorded qa_boolean run (``results.json``) read over the retrieved excerpts:

* ``prior``: the same question with no passages (the question's own lean, "contextual
  calibration"): does subtracting ``w`` times it from the margin help? ``w`` is chosen on the
  results' rows; pass the fit run first, then the dev run to see it on rows it never saw.
* ``own-passage``: the question's own passage, whole (headline and text): is the excerpt choice
  or the model the limit?

A change that reads BoolQ better must still answer news: ``news`` asks the product (the sample
articles stored, ``Assistant.ask``) the yes/no questions they answer, the chat bench's and the
floor test's (tests/data/news-yesno-sample.jsonl), and counts the answers that start right.

    python -m eval.boolean_signals prior RESULTS [RESULTS ...] --cache DIR
    python -m eval.boolean_signals own-passage RESULTS --cache DIR --limit 100
    python -m eval.boolean_signals news --cache DIR

Model calls go through the replay cache in ``--cache`` (recorded on first use, replayed after),
kept apart from eval/cache since the product never makes them.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from assistant.evaluate.tasks.qa_boolean import as_question
from assistant.llm import get_chat_model
from assistant.qa_boolean import choice_scores
from assistant.settings import Settings
from assistant.stats import roc_auc

BOOLQ = Settings().eval_data_dir / "chat-boolq-dev.jsonl"
ROOT = Path(__file__).resolve().parent.parent


def news(cache: Path) -> dict:
    """The product's yes/no answers to the questions the sample articles answer: right / asked."""
    from assistant.service import Assistant
    from eval.bench import QUESTIONS, answer_correct

    gold = {q: g[0][1:].lower() for q, g in QUESTIONS if isinstance(g, tuple) and g[0].startswith("^")}
    sample = ROOT / "tests" / "data" / "news-yesno-sample.jsonl"
    for line in sample.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            gold.setdefault(row["question"], row["answer"])
    with tempfile.TemporaryDirectory() as tmp:
        base = Settings()  # the environment's model settings, with this run's store and replay cache
        llm = base.llm.model_copy(update={"cache": "auto", "cache_dir": cache})
        assistant = Assistant(base.model_copy(update={"data_dir": Path(tmp), "llm": llm}))
        assistant.ingest([ROOT / "examples" / "articles"])
        answers = {q: assistant.ask(q).answer for q in gold}
    wrong = [f"{q} ({g}) -> {answers[q]}" for q, g in gold.items() if not answer_correct(answers[q], (f"^{g}",))]
    return {"asked": len(gold), "right": len(gold) - len(wrong), "gold_no": sum(g == "no" for g in gold.values()), "wrong": wrong}


def auc(scores: list[float], gold: list[bool]) -> float:
    """ROC AUC of ``scores`` for ``gold`` (``assistant.stats.roc_auc``: ties half, nan for an empty class)."""
    return roc_auc([int(g) for g in gold], scores)


def asked(results: Path) -> list[dict]:
    """Items of a qa_boolean run whose question the model was asked (margins recorded)."""
    items = json.loads(results.read_text(encoding="utf-8"))["items"]
    return [i for i in items if i["task"] == "qa_boolean" and (i["output"]["choice"] or {}).get("yes") is not None]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m eval.boolean_signals", description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["prior", "own-passage", "news"])
    ap.add_argument("results", type=Path, nargs="*", help="results.json of qa_boolean runs (the first fits w)")
    ap.add_argument("--cache", type=Path, required=True, help="replay cache for these calls")
    ap.add_argument("--data", type=Path, default=BOOLQ)
    ap.add_argument("--limit", type=int, default=None, help="first N asked items of each run")
    args = ap.parse_args(argv)
    if args.what == "news":
        print(json.dumps(news(args.cache), indent=2))
        return
    if not args.results:
        ap.error(f"{args.what} needs the results.json of a qa_boolean run")
    rows = {r["id"]: r for r in (json.loads(x) for x in args.data.read_text(encoding="utf-8").splitlines() if x.strip())}
    model = get_chat_model(Settings(), cache="auto", cache_dir=args.cache)

    def probe(item: dict) -> dict[str, float]:
        row = rows[item["id"]]
        passages = [] if args.what == "prior" else [f"{row.get('title', '')}\n\n{row['passage']}".strip()]
        return choice_scores(model, as_question(row["question"]), passages)

    w_fit = None
    for results in args.results:
        items = asked(results)[: args.limit]
        gold = [i["input"]["gold"] == "yes" for i in items]
        base = [i["output"]["choice"]["polarity_margin"] for i in items]
        new = [lp["yes"] - lp["no"] for lp in map(probe, items)]
        out = {"results": str(results), "n": len(items), "excerpts_auc": round(auc(base, gold), 3)}
        if args.what == "own-passage":
            out["own_passage_auc"] = round(auc(new, gold), 3)
        else:
            out["prior_alone_auc"] = round(auc(new, gold), 3)
            grid = [round(w, 2) for w in np.linspace(-1.5, 1.5, 31)]
            by_w = {w: auc([b - w * p for b, p in zip(base, new)], gold) for w in grid}
            w_fit = w_fit if w_fit is not None else max(grid, key=lambda w: (by_w[w], -abs(w)))
            out.update({"w": w_fit, "calibrated_auc": round(by_w[w_fit], 3)})
        print(json.dumps(out))


if __name__ == "__main__":
    main()
