"""`python -m eval.support record|fit|ablation|report`: record the model's token scores, fit and measure
the support weights. Research tooling beside the harness: the assistant only reads the weights file.

The dev sets are read from the eval data folder (``ASSISTANT_EVAL_DATA_DIR``, default
../shared/eval-data beside the checkout). ``fit`` writes only where ``--out`` says; the packaged
``assistant/support/weights.json`` is replaced only when it is named there.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from assistant.llm import ChatModel, get_chat_model, model_name
from assistant.settings import PROJECT_ROOT, CacheMode, Settings
from assistant.support.data import LabelledPair, load_pairs
from assistant.support.scorer import WEIGHTS_PATH, load_calibration
from eval.support_fit import ABLATIONS, evaluate, score_features
from eval.support_fit import ablation as run_ablation
from eval.support_fit import fit as fit_weights

app = typer.Typer(
    help="The support scorer: record the model's token scores, fit and measure the weights.",
    no_args_is_help=True,
)

SUMMEDITS = "consistency-summedits-dev.jsonl"
FRANK = "consistency-frank-dev.jsonl"
CACHE = PROJECT_ROOT / "eval" / "cache"


def _data(path: Path | None, name: str) -> Path:
    """``path`` if given, else the dev set ``name`` in the eval data folder."""
    return path if path is not None else Settings().eval_data_dir / name


def _model(cache_dir: Path, mode: CacheMode) -> ChatModel:
    """The configured model behind the replay cache in ``cache_dir`` (its hits and misses are counted)."""
    return get_chat_model(Settings(), cache=mode, cache_dir=cache_dir)


def _fit_pairs(summedits: Path, frank: Path) -> list[LabelledPair]:
    return load_pairs(summedits, split="evaluation") + load_pairs(frank)


def _progress(total: int, model):
    started = time.perf_counter()

    def tick(i: int, _pair) -> None:
        if (i + 1) % 50 == 0 or i + 1 == total:
            took = time.perf_counter() - started
            typer.echo(f"  {i + 1}/{total} pairs, {took:.0f}s (replayed {model.hits}, scored {model.misses})", err=True)

    return tick


_SUMMEDITS_HELP = "SummEdits dev jsonl (its split == evaluation rows are used); default: in the eval data folder"
_FRANK_HELP = "FRANK dev jsonl (all rows are used); default: in the eval data folder"


@app.command()
def record(
    data: Annotated[list[Path] | None, typer.Option(help="Labelled jsonl (repeatable; default: SummEdits dev)")] = None,
    split: Annotated[str | None, typer.Option(help="Only rows of this split (SummEdits: evaluation or test)")] = None,
    every: Annotated[int, typer.Option(help="Take every n-th row (a fixed subset)")] = 1,
    cache_dir: Annotated[Path, typer.Option(help="Replay cache to fill")] = CACHE,
) -> None:
    """Run the model over labelled pairs and record its token scores (pairs of one source together)."""
    model = _model(cache_dir, "auto")
    paths = data or [_data(None, SUMMEDITS)]
    pairs = [p for path in paths for p in load_pairs(path, split=split)[::every]]
    # The same calls as when fitting and reporting compute the features: what is recorded is what they replay.
    score_features(pairs, model, on_pair=_progress(len(pairs), model))
    typer.echo(f"{len(pairs)} pairs: {model.hits} already recorded, {model.misses} scored and recorded in {cache_dir}")


@app.command()
def fit(
    out: Annotated[Path, typer.Option(help="Weights file to write (the packaged one only when named here)")],
    summedits: Annotated[Path | None, typer.Option(help=_SUMMEDITS_HELP)] = None,
    frank: Annotated[Path | None, typer.Option(help=_FRANK_HELP)] = None,
    cache_dir: Annotated[Path, typer.Option(help="Replay cache holding the recorded token scores")] = CACHE,
    replay: Annotated[bool, typer.Option("--replay/--live", help="Only recorded scores (default), or run the model for missing ones")] = True,
) -> None:
    """Fit the support weights on SummEdits' evaluation split plus FRANK; prints grouped-CV figures."""
    summedits, frank = _data(summedits, SUMMEDITS), _data(frank, FRANK)
    pairs = _fit_pairs(summedits, frank)
    model = _model(cache_dir, "replay" if replay else "auto")
    rows = score_features(pairs, model, on_pair=_progress(len(pairs), model), skip_missing=replay)
    if len(rows) < len(pairs):
        typer.echo(f"fitting on the {len(rows)} of {len(pairs)} pairs whose scores are recorded in {cache_dir}")
    calibrated = fit_weights(rows, model_name(model), [summedits, frank])
    existing = json.loads(out.read_text()) if out.is_file() else {"models": {}}
    existing.setdefault("models", {})[calibrated.model] = calibrated.to_json()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {out} (model {calibrated.model}, {len(rows)} pairs, threshold {calibrated.threshold:.3f})")
    typer.echo(_table("grouped 5-fold CV on the fit data", calibrated.metrics["grouped_cv"]))
    typer.echo(_table("leave one domain out on the fit data", calibrated.metrics["leave_one_domain_out"]))


@app.command()
def ablation(
    summedits: Annotated[Path | None, typer.Option(help=_SUMMEDITS_HELP)] = None,
    frank: Annotated[Path | None, typer.Option(help=_FRANK_HELP)] = None,
    cache_dir: Annotated[Path, typer.Option(help="Replay cache holding the recorded token scores")] = CACHE,
) -> None:
    """Compare feature sets on the fit data (recorded pairs only): grouped CV and leave-one-domain-out."""
    pairs = _fit_pairs(_data(summedits, SUMMEDITS), _data(frank, FRANK))
    model = _model(cache_dir, "replay")
    rows = score_features(pairs, model, skip_missing=True)
    typer.echo(f"{len(rows)} of {len(pairs)} fit pairs recorded")
    lines = [
        "| features | grouped CV AUC | grouped CV bal. acc. | leave-one-domain-out AUC | LODO bal. acc. | LODO worst domain AUC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in run_ablation(rows, ABLATIONS).items():
        cv, lodo = m["grouped_cv"], m["leave_one_domain_out"]
        worst = min(lodo["domains"].items(), key=lambda kv: kv[1]["roc_auc"])
        lines.append(
            f"| {name} | {cv['roc_auc']:.3f} | {cv['balanced_accuracy']:.3f} | {lodo['roc_auc']:.3f} | "
            f"{lodo['balanced_accuracy']:.3f} | {worst[1]['roc_auc']:.3f} ({worst[0]}) |"
        )
    typer.echo("\n".join(lines))


@app.command()
def report(
    data: Annotated[Path | None, typer.Option(help="Labelled jsonl (default: SummEdits dev in the eval data folder)")] = None,
    split: Annotated[str | None, typer.Option(help="Only rows of this split (SummEdits: test)")] = "test",
    every: Annotated[int, typer.Option(help="Take every n-th row (a fixed subset)")] = 1,
    cache_dir: Annotated[Path, typer.Option(help="Replay cache")] = CACHE,
    weights: Annotated[Path, typer.Option(help="Weights file to measure (default: the packaged one)")] = WEIGHTS_PATH,
    replay: Annotated[bool, typer.Option("--replay/--live", help="Only recorded scores, or run the model for missing ones")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Measure the fitted weights on held-out rows: ROC AUC and balanced accuracy, per domain."""
    data = _data(data, SUMMEDITS)
    model = _model(cache_dir, "replay" if replay else "auto")
    calibrated = load_calibration(model_name(model), weights)
    if calibrated is None:
        raise typer.BadParameter(f"no fitted weights for {model_name(model)} in {weights}: run `python -m eval.support fit --out PATH` first")
    pairs = load_pairs(data, split=split)[::every]
    rows = score_features(pairs, model, on_pair=_progress(len(pairs), model), skip_missing=replay)
    if len(rows) < len(pairs):
        typer.echo(f"measured on the {len(rows)} of {len(pairs)} pairs whose scores are recorded", err=True)
    figures = evaluate(rows, calibrated)
    if as_json:
        typer.echo(json.dumps(figures, indent=2))
    else:
        typer.echo(_table(f"{data.name} split={split} ({len(rows)} pairs)", figures))


def _table(title: str, m: dict) -> str:
    lines = [title, "| domain | n | ROC AUC | balanced accuracy |", "|---|---:|---:|---:|"]
    for name, d in m["domains"].items():
        lines.append(f"| {name} | {d['n']} | {d['roc_auc']:.3f} | {d['balanced_accuracy']:.3f} |")
    lines.append(f"| **all** | {m['n']} | {m['roc_auc']:.3f} | {m['balanced_accuracy']:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    app()
