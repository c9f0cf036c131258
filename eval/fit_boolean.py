"""Fit the yes/no answerer's two thresholds on a recorded fit run: `python -m eval.fit_boolean RESULTS`.

RESULTS is the results.json of a suite whose qa_boolean task ran on the fit rows only
(eval/suites/boolean-fit.yaml: chat-boolq-dev rows the dev suite never reports on). Its items
hold the three first-token log-probabilities of every question and control, so fitting needs
no model. The thresholds go to assistant/qa_boolean_weights.json, keyed by model name, with the
prompt's fingerprint and the rows used.

* relevance floor (the best dense similarity between the question and the passages it would
  read; a question one of whose passages holds half its content words passes whatever the
  floor): the value with the best balanced accuracy between answerable questions and their
  controls, over every fit row of the data file (``--relevance-data``, rows ``start::every`` of
  it: no model is needed, so all of them, not only the recorded ones). The archive is built as the
  qa_boolean task builds it.
* answer threshold (answer_margin = log p(Yes or No) − log p(Not)): the value with the best
  balanced accuracy between answerable questions (answered) and their controls (refused), on the
  recorded rows; what nothing was retrieved for, or what is below the floor, counts as refused
  whatever the threshold.
* polarity threshold (polarity_margin = log p(Yes) − log p(No)): the best balanced accuracy
  between gold-yes and gold-no questions that pass the floor.

A question (or control) a hard conflict answered "No" (``choice["conflict"]``; the model was not
asked) counts as answered, and as a "no", whatever the two thresholds, when it clears the floor
being fitted (else as refused, as the floor is checked first).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from pathlib import Path

from assistant.embed import GRAPHS
from assistant.evaluate.tasks.qa_boolean import as_question, store_corpus
from assistant.qa_boolean import WEIGHTS_PATH, _Excluding, prompt_fingerprint, question_relevance
from assistant.service import Assistant
from assistant.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BOOLQ = Settings().eval_data_dir / "chat-boolq-dev.jsonl"


def _candidates(values: list[float]) -> list[float]:
    v = sorted(set(values))
    mids = [(a + b) / 2 for a, b in itertools.pairwise(v)]
    return [v[0] - 1.0, *mids, v[-1] + 1.0] if v else [0.0]


def best_threshold(pos: list[float], neg: list[float], pos_fixed: tuple[int, int] = (0, 0), neg_fixed: tuple[int, int] = (0, 0)):
    """Threshold t maximising balanced accuracy of "value > t is positive".

    ``*_fixed`` = (right, wrong) counts decided whatever t is (nothing retrieved).
    """
    best = None
    for t in _candidates(pos + neg):
        tp = sum(x > t for x in pos) + pos_fixed[0]
        tn = sum(x <= t for x in neg) + neg_fixed[0]
        n_pos = len(pos) + sum(pos_fixed)
        n_neg = len(neg) + sum(neg_fixed)
        tpr = tp / n_pos if n_pos else 0.0  # nothing to fit on (no question passed the floor): t stays near 0
        tnr = tn / n_neg if n_neg else 0.0
        bacc = (tpr + tnr) / 2
        key = (round(bacc, 9), -abs(t))  # ties: the threshold nearest 0 (the model's own argmax)
        if best is None or key > best[0]:
            best = (key, t, bacc, tpr, tnr)
    return best[1], best[2], best[3], best[4]


Relevance = tuple[float, bool]  # (best dense similarity, a passage holds half the question's words)


def relevances(path: Path, start: int = 1, every: int = 2) -> list[tuple[str, Relevance, Relevance]]:
    """(row id, relevance with its passage stored, with it kept out) for rows ``start::every``.

    The archive holds every passage of ``path``, stored as the qa_boolean task stores them.
    """
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus = [{"id": r["id"], "article": r["passage"], "title": r.get("title", "")} for r in rows]
    with tempfile.TemporaryDirectory(prefix="fit-boolean-") as tmp:
        assistant = Assistant(Settings(data_dir=Path(tmp)))
        twins = store_corpus(assistant, corpus)
        settings, retriever = assistant.settings, assistant.retriever
        out = []
        for r in rows[start::every]:
            q = as_question(r["question"])
            kept_out = _Excluding(retriever, twins.get(r["id"], [r["id"]]))
            out.append((r["id"], question_relevance(q, retriever, settings), question_relevance(q, kept_out, settings)))
    return out


def fit_floor(rel: list[tuple[str, Relevance, Relevance]]) -> tuple[float, float, float]:
    """The floor with the best balanced accuracy of "answerable" (own passage stored) against controls:
    (floor, share of questions kept, share of controls refused). What shares the question's words
    is kept whatever the floor."""
    own = [d for _, (d, worded), _ in rel if not worded]
    ctl = [d for _, _, (d, worded) in rel if not worded]
    own_worded = sum(worded for _, (_, worded), _ in rel)
    ctl_worded = sum(worded for _, _, (_, worded) in rel)
    t, _bacc, kept, refused = best_threshold(own, ctl, pos_fixed=(own_worded, 0), neg_fixed=(0, ctl_worded))
    return t, kept, refused


def fit(results: Path, floor: float | None = None) -> dict:
    """The answer and polarity thresholds on a fit run's recorded items, given the relevance floor."""
    data = json.loads(results.read_text(encoding="utf-8"))
    items = [i for i in data["items"] if i["task"] == "qa_boolean"]
    if not items:
        raise SystemExit(f"{results} has no qa_boolean items")

    def clears_floor(choice: dict) -> bool:
        """The passages clear the floor being fitted (a question's words held, or its similarity)."""
        if floor is None:
            return True
        if "relevance" not in choice or "shares_words" not in choice:
            raise SystemExit(f"{results} was recorded before answers carried their relevance: run the fit suite again")
        return choice["shares_words"] or choice["relevance"] >= floor

    def asked(choice: dict | None) -> bool:
        """The model was asked and the passages clear the floor."""
        return bool(choice) and "answer_margin" in choice and clears_floor(choice)

    def conflict(choice: dict | None) -> bool:
        """A hard conflict answered "No" without the model (above the floor: it is checked first)."""
        return bool(choice) and "conflict" in choice and clears_floor(choice)

    q = [i for i in items if asked(i["output"]["choice"])]
    said_no = [i for i in items if conflict(i["output"]["choice"])]
    pos = [i["output"]["choice"]["answer_margin"] for i in q]
    pos_none = len(items) - len(q) - len(said_no)  # nothing retrieved or below the floor: refused whatever t is
    ctrl = [i["control"] for i in items if i.get("control")]
    neg = [c["choice"]["answer_margin"] for c in ctrl if asked(c["choice"])]
    ctrl_no = sum(conflict(c["choice"]) for c in ctrl)
    neg_none = len(ctrl) - len(neg) - ctrl_no
    t_ans, _bacc_ans, answered, refused = best_threshold(pos, neg, (len(said_no), pos_none), (neg_none, ctrl_no))
    yes = [i["output"]["choice"]["polarity_margin"] for i in q if i["input"]["gold"] == "yes"]
    no = [i["output"]["choice"]["polarity_margin"] for i in q if i["input"]["gold"] == "no"]
    conflict_right = sum(i["input"]["gold"] == "no" for i in said_no)  # a conflict's "No" is right on a no-question
    t_pol, _bacc_pol, yes_right, no_right = best_threshold(yes, no, (0, len(said_no) - conflict_right), (conflict_right, 0))
    return {
        "min_relevance": None if floor is None else round(floor, 4),
        "answer_threshold": round(t_ans, 4),
        "polarity_threshold": round(t_pol, 4),
        "prompts": prompt_fingerprint(),
        "fitted_on": {
            "results": str(results),
            "suite": data["suite"]["name"],
            "datasets": data["suite"]["datasets"],
            "rows": [i["id"] for i in items],
            "questions": len(items),
            "controls": len(ctrl),
            "in_sample": {
                "answered_questions": round(answered, 4),
                "controls_refused": round(refused, 4),
                "polarity_right_yes": round(yes_right, 4),
                "polarity_right_no": round(no_right, 4),
            },
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.fit_boolean", description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="results.json of the fit suite's run")
    parser.add_argument("--model", default="local/qwen2.5-coder-1.5b-instruct-q4_k_m")
    parser.add_argument("--out", type=Path, required=True,
                        help=f"weights file to write (the packaged one is {WEIGHTS_PATH.relative_to(REPO)})")
    parser.add_argument("--relevance-data", type=Path, default=BOOLQ,
                        help="chat-boolq jsonl whose rows start::every fit the relevance floor (no model needed)")
    parser.add_argument("--start", type=int, default=1, help="first fit row (the dev suite reports on the even rows)")
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--no-floor", action="store_true", help="fit the two thresholds only, without a relevance floor")
    args = parser.parse_args(argv)
    floor_fit = None
    if not args.no_floor:
        rel = relevances(args.relevance_data, args.start, args.every)
        floor, kept, refused = fit_floor(rel)
        floor_fit = {"rows": len(rel), "data": str(args.relevance_data), "start": args.start, "every": args.every,
                     "questions_kept": round(kept, 4), "controls_refused": round(refused, 4)}
    entry = fit(args.results, None if args.no_floor else floor)
    if floor_fit:
        entry["fitted_on"]["relevance_floor"] = floor_fit
    entry["model"] = args.model
    weights = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    if floor_fit:
        # a floor per embedder: its similarities differ from one MiniLM graph to another, and a store
        # keeps the graph it was built with; floors fitted earlier for the other graphs are kept
        embedder = GRAPHS[Settings().embed.graph]
        floor_fit["embedder"] = embedder
        entry["floors"] = {**weights.get(args.model, {}).get("floors", {}), embedder: entry["min_relevance"]}
    weights[args.model] = entry
    args.out.write_text(json.dumps(weights, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in entry.items() if k != "fitted_on"}, indent=2))
    print(json.dumps(entry["fitted_on"]["in_sample"], indent=2))


if __name__ == "__main__":
    main()
