"""`assistant support record|fit|report`: record token scores, fit the weights, measure them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from assistant.settings import PROJECT_ROOT, Settings
from assistant.support import logprob_model
from assistant.support.data import load_pairs
from assistant.support.fit import (
    ABLATIONS,
    CLOZE_ABLATIONS,
    add_stage1,
    evaluate,
    fit_second,
    score_features,
)
from assistant.support.fit import ablation as run_ablation
from assistant.support.fit import fit as fit_weights
from assistant.support.scorer import CLOZE_SUFFIX, WEIGHTS_PATH, load_calibration

app = typer.Typer(help="The support scorer: record the model's token scores, fit and measure the weights.")

EVAL_DATA = PROJECT_ROOT.parent / "shared" / "eval-data"
SUMMEDITS = EVAL_DATA / "consistency-summedits-dev.jsonl"
FRANK = EVAL_DATA / "consistency-frank-dev.jsonl"
CACHE = PROJECT_ROOT / "eval" / "cache"


def _model(cache_dir: Path, mode: str):
    return logprob_model(Settings(), cache_dir=cache_dir, mode=mode)


def _fit_pairs(summedits: Path, frank: Path):
    return load_pairs(summedits, split="evaluation") + load_pairs(frank)


def _with_stage1(rows, model_name: str, path: Path | None = None):
    """Rows carrying the fitted first stage's logit (the cloze stage's input); refuses without one."""
    first = load_calibration(model_name, path or WEIGHTS_PATH)
    if first is None:
        raise typer.BadParameter(f"fit the first stage for {model_name} first (`assistant support fit`)")
    return add_stage1(rows, first)


def _progress(total: int, model):
    started = time.perf_counter()

    def tick(i: int, _pair) -> None:
        if (i + 1) % 50 == 0 or i + 1 == total:
            took = time.perf_counter() - started
            typer.echo(f"  {i + 1}/{total} pairs, {took:.0f}s (replayed {model.hits}, scored {model.misses})", err=True)

    return tick


@app.command()
def record(
    data: Annotated[list[Path], typer.Option(help="Labelled jsonl (repeatable)")] = [SUMMEDITS],  # noqa: B006
    split: Annotated[str | None, typer.Option(help="Only rows of this split (SummEdits: evaluation or test)")] = None,
    every: Annotated[int, typer.Option(help="Take every n-th row (a fixed subset)")] = 1,
    cache_dir: Annotated[Path, typer.Option(help="Replay cache to fill")] = CACHE,
    cloze: Annotated[bool, typer.Option(help="Also record the cloze questions (two more prompts per pair)")] = False,
) -> None:
    """Run the model over labelled pairs and record its token scores (pairs of one source together)."""
    model = _model(cache_dir, "auto")
    pairs = [p for path in data for p in load_pairs(path, split=split)[::every]]
    # The same calls as when fitting and reporting compute the features: what is recorded is what they replay.
    score_features(pairs, model, on_pair=_progress(len(pairs), model), cloze=cloze)
    typer.echo(f"{len(pairs)} pairs: {model.hits} already recorded, {model.misses} scored and recorded in {cache_dir}")


@app.command()
def fit(
    summedits: Annotated[Path, typer.Option(help="SummEdits dev jsonl (its split == evaluation rows are used)")] = SUMMEDITS,
    frank: Annotated[Path, typer.Option(help="FRANK dev jsonl (all rows are used)")] = FRANK,
    cache_dir: Annotated[Path, typer.Option(help="Replay cache holding the recorded token scores")] = CACHE,
    out: Annotated[Path | None, typer.Option(help="Weights file to write (default: the packaged one)")] = None,
    replay: Annotated[bool, typer.Option("--replay/--live", help="Only recorded scores (default), or run the model for missing ones")] = True,
    cloze: Annotated[bool, typer.Option(help="Fit the cloze stage (on the pairs whose cloze questions are recorded)")] = False,
) -> None:
    """Fit the support weights on SummEdits' evaluation split plus FRANK; prints grouped-CV figures."""
    pairs = _fit_pairs(summedits, frank)
    model = _model(cache_dir, "replay" if replay else "auto")
    rows = score_features(pairs, model, on_pair=_progress(len(pairs), model), skip_missing=replay, cloze=cloze)
    if len(rows) < len(pairs):
        typer.echo(f"fitting on the {len(rows)} of {len(pairs)} pairs whose scores are recorded in {cache_dir}")
    path = out or WEIGHTS_PATH
    if cloze:
        calibrated = fit_second(_with_stage1(rows, model.name, path), model.name, [summedits, frank])
    else:
        calibrated = fit_weights(rows, model.name, [summedits, frank])
    existing = json.loads(path.read_text()) if path.is_file() else {"models": {}}
    existing.setdefault("models", {})[calibrated.model] = calibrated.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    typer.echo(f"wrote {path} (model {calibrated.model}, {len(rows)} pairs, threshold {calibrated.threshold:.3f})")
    typer.echo(_table("grouped 5-fold CV on the fit data", calibrated.metrics["grouped_cv"]))
    typer.echo(_table("leave one domain out on the fit data", calibrated.metrics["leave_one_domain_out"]))


@app.command()
def ablation(
    summedits: Annotated[Path, typer.Option(help="SummEdits dev jsonl (its split == evaluation rows are used)")] = SUMMEDITS,
    frank: Annotated[Path, typer.Option(help="FRANK dev jsonl (all rows are used)")] = FRANK,
    cache_dir: Annotated[Path, typer.Option(help="Replay cache holding the recorded token scores")] = CACHE,
    cloze: Annotated[bool, typer.Option(help="Compare the cloze signal, on the pairs whose cloze questions are recorded")] = False,
) -> None:
    """Compare feature sets on the fit data (recorded pairs only): grouped CV and leave-one-domain-out."""
    pairs = _fit_pairs(summedits, frank)
    model = _model(cache_dir, "replay")
    rows = score_features(pairs, model, skip_missing=True, cloze=cloze)
    if cloze:
        rows = _with_stage1(rows, model.name)
    typer.echo(f"{len(rows)} of {len(pairs)} fit pairs recorded{' with cloze questions' if cloze else ''}")
    lines = [
        "| features | grouped CV AUC | grouped CV bal. acc. | leave-one-domain-out AUC | LODO bal. acc. | LODO worst domain AUC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in run_ablation(rows, CLOZE_ABLATIONS if cloze else ABLATIONS).items():
        cv, lodo = m["grouped_cv"], m["leave_one_domain_out"]
        worst = min(lodo["domains"].items(), key=lambda kv: kv[1]["roc_auc"])
        lines.append(
            f"| {name} | {cv['roc_auc']:.3f} | {cv['balanced_accuracy']:.3f} | {lodo['roc_auc']:.3f} | "
            f"{lodo['balanced_accuracy']:.3f} | {worst[1]['roc_auc']:.3f} ({worst[0]}) |"
        )
    typer.echo("\n".join(lines))


@app.command()
def report(
    data: Annotated[Path, typer.Option(help="Labelled jsonl")] = SUMMEDITS,
    split: Annotated[str | None, typer.Option(help="Only rows of this split (SummEdits: test)")] = "test",
    every: Annotated[int, typer.Option(help="Take every n-th row (a fixed subset)")] = 1,
    cache_dir: Annotated[Path, typer.Option(help="Replay cache")] = CACHE,
    replay: Annotated[bool, typer.Option("--replay/--live", help="Only recorded scores, or run the model for missing ones")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    cloze: Annotated[bool, typer.Option(help="Measure the cloze stage (asks or replays the cloze questions)")] = False,
) -> None:
    """Measure the fitted weights on held-out rows: ROC AUC and balanced accuracy, per domain."""
    model = _model(cache_dir, "replay" if replay else "auto")
    calibrated = load_calibration(model.name)
    second = load_calibration(model.name + CLOZE_SUFFIX) if cloze else None
    if calibrated is None or (cloze and second is None):
        raise typer.BadParameter(
            f"no fitted weights for {model.name}: run `assistant support fit{' --cloze' if cloze else ''}` first"
        )
    pairs = load_pairs(data, split=split)[::every]
    rows = score_features(pairs, model, on_pair=_progress(len(pairs), model), skip_missing=replay, cloze=cloze)
    if second is not None:
        rows = add_stage1(rows, calibrated)
        calibrated = second
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
