"""Score ``is_consistent`` on consistency-frank-dev: balanced accuracy, per-class P/R, speed, cross-validated threshold."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.evaluate.calibration import GRID, calibrate_consistency
from assistant.evaluate.datasets import read_jsonl
from assistant.settings import Settings
from assistant.verify import CONSISTENCY_THRESHOLD

DEFAULT_DATA = Settings().eval_data_dir / "consistency-frank-dev.jsonl"


def run(
    path: Path = DEFAULT_DATA, threshold: float = CONSISTENCY_THRESHOLD, nested: bool = True
) -> dict:
    """Score every row; metrics at ``threshold`` plus the in-sample best and cross-validated thresholds."""
    return calibrate_consistency(read_jsonl(path), threshold, nested=nested)


def main() -> None:
    """Command-line entry: ``python -m eval.consistency_dev [--data PATH] [--threshold T] [--json]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threshold", type=float, default=CONSISTENCY_THRESHOLD)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    parser.add_argument(
        "--no-nested", action="store_true", help="skip the nested CV over the scoring knobs"
    )
    args = parser.parse_args()
    m = run(args.data, args.threshold, nested=not args.no_nested)
    if args.json:
        print(json.dumps(m, indent=2))
        return
    print(f"consistency-frank-dev: {args.data}")
    print(
        f"n={m['n']} (consistent {m['n_1']}, inconsistent {m['n_0']}), threshold {m['threshold']:.3f}"
    )
    print(f"balanced accuracy  {m['balanced_accuracy']:.3f}")
    print(f"  consistent (1)   precision {m['precision_1']:.3f}  recall {m['recall_1']:.3f}")
    print(f"  inconsistent (0) precision {m['precision_0']:.3f}  recall {m['recall_0']:.3f}")
    per = "  ".join(
        f"{k.removeprefix('balanced_accuracy_')} {v:.3f}"
        for k, v in m.items()
        if k.startswith("balanced_accuracy_")
    )
    print(f"  by dataset       {per}")
    print(
        f"in-sample best     {m['best_balanced_accuracy']:.3f} at threshold {m['best_threshold']:.3f}"
    )
    print(
        f"5-fold CV          {m['cv_balanced_accuracy']:.3f} ± {m['cv_sd']:.3f} (threshold re-picked on each training split, 10 shuffles)"
    )
    if "nested_cv_balanced_accuracy" in m:
        print(
            f"nested 5-fold CV   {m['nested_cv_balanced_accuracy']:.3f} ± {m['nested_cv_sd']:.3f} "
            f"(knobs from a {len(GRID)}-point grid and threshold both re-picked per training split)"
        )
    print(
        f"speed              {m['ms_per_item']:.1f} ms per item ({m['distinct_articles']} distinct articles, analysis cached per article)"
    )


if __name__ == "__main__":
    main()
