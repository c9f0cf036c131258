"""Fit the yes/no answerer's two thresholds on a recorded fit run: `python -m eval.fit_boolean RESULTS`.

RESULTS is the results.json of a suite whose qa_boolean task ran on the fit rows only
(eval/suites/boolean-fit.yaml: chat-boolq-dev rows the dev suite never reports on). Its items
hold the three first-token log-probabilities of every question and control, so fitting needs
no model. The thresholds go to assistant/qa_boolean_weights.json, keyed by model name, with the
prompt's fingerprint and the rows used.

* answer threshold (answer_margin = log p(Yes or No) − log p(Not)): the value with the best
  balanced accuracy between answerable questions (answered) and their controls (refused);
  questions and controls with nothing retrieved count as refused whatever the threshold.
* polarity threshold (polarity_margin = log p(Yes) − log p(No)): the best balanced accuracy
  between gold-yes and gold-no questions.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from assistant.qa_boolean import WEIGHTS_PATH, prompt_fingerprint


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
        bacc = (tp / n_pos + tn / n_neg) / 2
        key = (round(bacc, 9), -abs(t))  # ties: the threshold nearest 0 (the model's own argmax)
        if best is None or key > best[0]:
            best = (key, t, bacc, tp / n_pos, tn / n_neg)
    return best[1], best[2], best[3], best[4]


def fit(results: Path) -> dict:
    data = json.loads(results.read_text(encoding="utf-8"))
    items = [i for i in data["items"] if i["task"] == "qa_boolean"]
    if not items:
        raise SystemExit(f"{results} has no qa_boolean items")
    q = [i for i in items if i["output"]["choice"]]
    pos = [i["output"]["choice"]["answer_margin"] for i in q]
    pos_none = len(items) - len(q)  # nothing retrieved: refused whatever t is
    ctrl = [i["control"] for i in items if i.get("control")]
    neg = [c["choice"]["answer_margin"] for c in ctrl if c["choice"]]
    neg_none = len(ctrl) - len(neg)
    t_ans, _bacc_ans, answered, refused = best_threshold(pos, neg, (0, pos_none), (neg_none, 0))
    yes = [i["output"]["choice"]["polarity_margin"] for i in q if i["input"]["gold"] == "yes"]
    no = [i["output"]["choice"]["polarity_margin"] for i in q if i["input"]["gold"] == "no"]
    t_pol, _bacc_pol, yes_right, no_right = best_threshold(yes, no)
    return {
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
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    entry = fit(args.results)
    entry["model"] = args.model
    weights = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    weights[args.model] = entry
    args.out.write_text(json.dumps(weights, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in entry.items() if k != "fitted_on"}, indent=2))
    print(json.dumps(entry["fitted_on"]["in_sample"], indent=2))


if __name__ == "__main__":
    main()
