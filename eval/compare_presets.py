"""The support scorer on two model presets, on the same recorded fit pairs: grouped CV and LODO.

Record the smaller model's scores first (its own cache folder; the chat preset picks the model):

    ASSISTANT_LLM__PRESET=0.5b python -m eval.support record \
        --data $EVAL_DATA/consistency-summedits-dev.jsonl --split evaluation --every 3 --cache-dir /tmp/c05
    python -m eval.compare_presets --cache 0.5b=/tmp/c05      # 1.5b replays eval/cache

Prints, per preset, ROC AUC and balanced accuracy of a few feature sets (the shipped one first)
on the pairs every preset has recorded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.llm import get_chat_model
from assistant.settings import Settings
from assistant.support.data import load_pairs
from eval.support_fit import DEFAULT_FEATURES, ablation, score_features

REPO = Path(__file__).resolve().parent.parent
SETS = {
    "shipped set": DEFAULT_FEATURES,
    "judge_clip": ("judge_clip",),
    "pmi_min": ("pmi_min",),
    "judge_clip + pmi_min": ("judge_clip", "pmi_min"),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m eval.compare_presets", description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", action="append", default=[], metavar="PRESET=DIR",
                    help="a preset's replay cache (repeatable; 1.5b=eval/cache is always included)")
    ap.add_argument("--every", type=int, default=3, help="SummEdits evaluation-split rows taken (as recorded)")
    ap.add_argument("--frank", action="store_true", help="FRANK's every other row too (if recorded for every preset)")
    args = ap.parse_args(argv)
    caches = {"1.5b": REPO / "eval" / "cache", **{c.split("=", 1)[0]: Path(c.split("=", 1)[1]) for c in args.cache}}
    data = Settings().eval_data_dir
    pairs = load_pairs(data / "consistency-summedits-dev.jsonl", split="evaluation")[:: args.every]
    if args.frank:
        pairs += load_pairs(data / "consistency-frank-dev.jsonl")[::2]
    rows = {}
    for preset, cache in caches.items():
        base = Settings()
        settings = base.model_copy(update={"llm": base.llm.model_copy(update={"preset": preset})})
        rows[preset] = score_features(pairs, get_chat_model(settings, cache="replay", cache_dir=cache), skip_missing=True)
    common = set.intersection(*({r.pair.id for r in rs} for rs in rows.values()))
    out = {}
    for preset, rs in rows.items():
        same = [r for r in rs if r.pair.id in common]
        table = ablation(same, SETS)
        out[preset] = {"pairs": len(same), **{
            name: {cv: {m: t[cv][m] for m in ("roc_auc", "balanced_accuracy")} for cv in ("grouped_cv", "leave_one_domain_out")}
            for name, t in table.items()
        }}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
