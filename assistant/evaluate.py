"""The eval harness: a YAML suite of jsonl gold sets → metrics, gates, JSON / Markdown / JUnit reports.

A suite names its datasets (with a field mapping, so any gold set fits), the tasks to run on
them and the gates CI enforces. LLM calls go through the replay cache in the suite's cache dir:
``--record`` fills it with the real model, ``--replay`` runs from it alone (a miss is an error),
so CI needs no model and scores the same run after run. Only latency differs between runs, and
it is kept apart from the metrics.
"""

from __future__ import annotations

import json
import math
import operator
import random
import re
import string
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import AssistantError, BadInputError, ModelMissingError, ReplayMissError
from assistant.settings import CacheMode, ChunkSettings, LLMSettings, RetrieveSettings, Settings

if TYPE_CHECKING:
    from assistant.service import Assistant

RESULTS_FORMAT = 1
ROUGE_KEYS = ("rouge1", "rouge2", "rougeLsum")
# Per-item scores where a larger value is worse; every other per-item score is better larger.
LOWER_IS_BETTER = frozenset({"false_flags"})
_EPS = 1e-9


# --------------------------------------------------------------------------- suite


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetSpec(_Strict):
    path: Path = Field(description="jsonl file, relative to the suite's root or absolute")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="task field -> field of the jsonl rows (dotted for nested); unmapped fields keep their name",
    )
    limit: int | None = Field(None, ge=1, description="Use only the first N rows (file order)")


class SummarizeTask(_Strict):
    dataset: str = Field(description="Dataset with id, article, reference")
    sentences: int = Field(3, ge=1, le=15, description="Summary length asked of the assistant")


class ConsistencyTask(_Strict):
    dataset: str = Field(description="Dataset with id, article, summary, label (1 = consistent)")
    bootstrap: int = Field(
        1000, ge=0, description="Bootstrap resamples for the balanced-accuracy interval"
    )
    seed: int = Field(0, description="Seed of the bootstrap")


class TyposTask(_Strict):
    dataset: str = Field(
        description="Dataset with id, text, typo, correct, offset (typo null = clean row)"
    )
    corpus: Literal["leave-one-out", "none"] = Field(
        "leave-one-out", description="Name evidence: the other rows of the dataset, or none"
    )


class QATask(_Strict):
    dataset: str = Field(
        description="Dataset with id, question, answer, article_id (the supporting article)"
    )
    corpus: str = Field(description="Dataset of articles (id, article) ingested before asking")
    k: int | None = Field(
        None, ge=1, description="Passages retrieved per question (default: settings)"
    )


class Tasks(_Strict):
    summarize: SummarizeTask | None = None
    consistency: ConsistencyTask | None = None
    typos: TyposTask | None = None
    qa: QATask | None = None


class Suite(_Strict):
    name: str
    description: str = ""
    root: Path = Field(
        Path("."), description="Folder relative paths start from, relative to the suite file"
    )
    cache_dir: Path = Field(
        Path("cache"), description="Replay cache of the LLM calls, relative to root"
    )
    llm: dict[str, Any] = Field(
        default_factory=dict, description="LLM settings pinned by the suite"
    )
    datasets: dict[str, DatasetSpec]
    tasks: Tasks
    gates: list[str] = Field(default_factory=list)
    source: Path | None = Field(None, exclude=True)

    @property
    def base(self) -> Path:
        """The folder relative paths of the suite start from."""
        folder = self.source.parent if self.source else Path.cwd()
        return (folder / self.root).resolve()

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else (self.base / path).resolve()

    def relative(self, path: Path) -> str:
        """``path`` as written relative to the suite root (never a temp or machine path when avoidable)."""
        try:
            return str(path.resolve().relative_to(self.base))
        except ValueError:
            return str(path)


_SUITE_HELP = "Give the path of a suite YAML (datasets, tasks, gates), e.g. `assistant eval eval/suites/dev.yaml`."
_FORMAT_HELP = "Fix the suite file; eval/suites/dev.yaml shows every key (datasets, tasks, gates)."


def load_suite(path: Path) -> Suite:
    """Read and validate a suite file; every problem is reported with the file name."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"no suite file {path}", _SUITE_HELP)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BadInputError(f"{path} is not valid YAML: {exc}", _FORMAT_HELP) from exc
    if not isinstance(data, dict):
        raise BadInputError(f"suite {path} is not a mapping of keys", _FORMAT_HELP)
    try:
        suite = Suite.model_validate({**data, "source": path.resolve()})
        LLMSettings(**suite.llm)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:8]
        )
        raise BadInputError(f"suite {path} is malformed: {problems}", _FORMAT_HELP) from None
    for task_name in Tasks.model_fields:
        task = getattr(suite.tasks, task_name)
        if task is None:
            continue
        for ref in (task.dataset, getattr(task, "corpus", None) if task_name == "qa" else None):
            if ref is not None and ref not in suite.datasets:
                raise BadInputError(
                    f"suite {path}: task {task_name} uses dataset {ref!r}, which is not under `datasets:`",
                    _FORMAT_HELP,
                )
    for gate in suite.gates:
        parse_gate(gate)
    return suite


# --------------------------------------------------------------------------- datasets


def _get(row: dict, dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def load_dataset(
    suite: Suite, name: str, needed: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[dict]:
    """Rows of dataset ``name`` with the task's field names (``id`` defaults to ``<name>-<line>``)."""
    spec = suite.datasets[name]
    path = suite.resolve(spec.path)
    if not path.is_file():
        raise BadInputError(
            f"dataset {name!r}: no file {path}",
            f"Fix `datasets.{name}.path` in {suite.source} (relative paths start at {suite.base}).",
        )
    rows: list[dict] = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputError(
                    f"dataset {name!r}: {path} line {line_no} is not JSON ({exc.msg})"
                ) from None
            row: dict[str, Any] = {"_line": line_no}
            for key in ("id", *needed, *optional):
                source = spec.fields.get(key, key)
                try:
                    row[key] = _get(raw, source)
                except KeyError:
                    if key in needed:
                        raise BadInputError(
                            f"dataset {name!r}: {path} line {line_no} has no field {source!r} (for {key!r})",
                            f"Map it under `datasets.{name}.fields` in the suite, e.g. `{key}: my_field`.",
                        ) from None
                    row[key] = None
            row["id"] = str(row["id"]) if row["id"] is not None else f"{name}-{line_no}"
            rows.append(row)
            if spec.limit and len(rows) >= spec.limit:
                break
    if not rows:
        raise BadInputError(
            f"dataset {name!r}: {path} has no rows", f"Check `datasets.{name}` in {suite.source}."
        )
    return rows


# --------------------------------------------------------------------------- gates

_GATE_RE = re.compile(r"^\s*([A-Za-z_]\w*\.[A-Za-z_]\w*)\s*(>=|<=|==|>|<)\s*(\S+)\s*$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Gate:
    """``task.metric OP threshold``; the threshold is a number or another ``task.metric``."""

    expr: str
    metric: str
    op: str
    threshold: float | str


@dataclass
class GateResult:
    gate: Gate
    value: float | None
    threshold: float | None
    passed: bool
    message: str


_GATE_HELP = "Write gates like `summarize.rougeLsum >= 0.30` (OP is one of >= <= > < ==)."


def parse_gate(text: str) -> Gate:
    m = _GATE_RE.match(text)
    if not m:
        raise BadInputError(
            f"gate {text!r} is not `task.metric OP value`",
            _GATE_HELP,
        )
    metric, op, rhs = m.groups()
    try:
        threshold: float | str = float(rhs)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z_]\w*\.[A-Za-z_]\w*", rhs):
            raise BadInputError(
                f"gate {text!r}: {rhs!r} is neither a number nor a task.metric", _GATE_HELP
            ) from None
        threshold = rhs
    return Gate(" ".join(text.split()), metric, op, threshold)


def _lookup(name: str, metrics: dict, latency: dict) -> float | None:
    task, key = name.split(".", 1)
    for table in (metrics, latency):
        value = table.get(task, {}).get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def evaluate_gates(gates: list[str], metrics: dict, latency: dict) -> list[GateResult]:
    """Check every gate; a metric the run did not produce fails its gate, naming what exists."""
    results = []
    for text in gates:
        gate = parse_gate(text)
        value = _lookup(gate.metric, metrics, latency)
        threshold = (
            gate.threshold
            if isinstance(gate.threshold, float)
            else _lookup(gate.threshold, metrics, latency)
        )
        missing = [
            n for n, v in ((gate.metric, value), (str(gate.threshold), threshold)) if v is None
        ]
        if missing:
            known = ", ".join(
                f"{t}.{k}"
                for t, table in metrics.items()
                for k, v in table.items()
                if isinstance(v, int | float)
            )
            results.append(
                GateResult(
                    gate,
                    value,
                    threshold,
                    False,
                    f"gate {gate.expr}: no metric {missing[0]} in this run (known: {known})",
                )
            )
            continue
        passed = _OPS[gate.op](value, threshold)
        rhs = (
            f"{threshold:.4f}"
            if isinstance(gate.threshold, float)
            else f"{gate.threshold} = {threshold:.4f}"
        )
        verdict = "passed" if passed else "FAILED"
        results.append(
            GateResult(
                gate,
                value,
                threshold,
                passed,
                f"gate {gate.expr} {verdict}: {gate.metric} = {value:.4f} (needs {gate.op} {rhs})",
            )
        )
    return results


# --------------------------------------------------------------------------- scoring helpers


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def latency_stats(ms: list[float]) -> dict[str, float]:
    return {
        "n": len(ms),
        "latency_p50_ms": round(_percentile(ms, 50), 1),
        "latency_p95_ms": round(_percentile(ms, 95), 1),
    }


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _sentences(text: str) -> list[str]:
    from assistant.verify import sentence_texts

    return [s.strip() for s in sentence_texts(text) if s.strip()]


def rouge_text(text: str | list[str]) -> str:
    """Spaces around punctuation normalised, one sentence per line (what ROUGE-Lsum splits on)."""
    from assistant.verify import normalise_text

    if isinstance(text, list):
        return "\n".join(normalise_text(str(s)).strip() for s in text if str(s).strip())
    return "\n".join(_sentences(normalise_text(text)))


@contextmanager
def _timer(sink: list[float]) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        sink.append((time.perf_counter() - t0) * 1000)


def binary_metrics(labels: list[int], predictions: list[int]) -> dict:
    """Balanced accuracy and per-class precision/recall (eval.consistency_dev's definition)."""
    from eval.consistency_dev import binary_metrics as _binary

    return _binary(labels, predictions)


def bootstrap_balanced_accuracy(
    labels: list[int], predictions: list[int], n: int, seed: int
) -> tuple[float, float] | tuple[None, None]:
    """95% percentile interval of balanced accuracy, resampling within each class (fixed seed)."""
    if n <= 0:
        return None, None
    rng = random.Random(seed)
    by_class = {c: [p for y, p in zip(labels, predictions) if y == c] for c in (0, 1)}
    values = []
    for _ in range(n):
        recalls = []
        for cls, preds in by_class.items():
            if not preds:
                continue
            sample = [preds[rng.randrange(len(preds))] for _ in preds]
            recalls.append(sum(1 for p in sample if p == cls) / len(sample))
        values.append(_mean(recalls))
    return _percentile(values, 2.5), _percentile(values, 97.5)


_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "“”‘’"})


def normalise_answer(text: str) -> str:
    """Lower-case, no punctuation or articles, single spaces (SQuAD-style)."""
    return " ".join(_ARTICLES_RE.sub(" ", str(text).lower().translate(_PUNCT)).split())


# --------------------------------------------------------------------------- tasks


@dataclass
class TaskResult:
    items: list[dict] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)


Tick = Callable[[], None]


def _item(task: str, dataset: str, row: dict, **extra: Any) -> dict:
    return {"task": task, "id": row["id"], "dataset": dataset, "line": row["_line"], **extra}


def _llm_call(task: str, item_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ReplayMissError as exc:
        raise ReplayMissError(
            f"{task} item {item_id}: {exc}",
            "Record the suite's model calls with `assistant eval SUITE --record` (runs the local "
            "model), commit the cache folder, or run without --replay.",
        ) from exc


def run_summarize(
    assistant: Assistant, suite: Suite, task: SummarizeTask, tick: Tick
) -> TaskResult:
    """System summaries (pasted text) and Lead-3 on the same items, both scored with ROUGE."""
    from rouge_score import rouge_scorer

    rows = load_dataset(suite, task.dataset, ("article", "reference"))
    scorer = rouge_scorer.RougeScorer(list(ROUGE_KEYS), use_stemmer=True)
    out = TaskResult()
    n_cit = n_cit_ok = n_sent = n_sup = n_fallback = n_error = 0
    for row in rows:
        article_text = str(row["article"])
        reference = rouge_text(row["reference"])
        lead3 = _sentences(article_text)[:3]
        lead_scores = scorer.score(reference, rouge_text(lead3))
        item = _item(
            "summarize",
            task.dataset,
            row,
            input={"reference": reference, "article_chars": len(article_text)},
        )
        item["lead3"] = {
            "sentences": lead3,
            "scores": {k: round(lead_scores[k].fmeasure, 6) for k in ROUGE_KEYS},
        }
        try:
            with _timer(out.latency_ms):
                summary = _llm_call(
                    "summarize",
                    row["id"],
                    assistant.summarize,
                    text=article_text,
                    sentences=task.sentences,
                )
        except (ReplayMissError, ModelMissingError):
            raise
        except AssistantError as exc:
            n_error += 1
            item.update(
                output={"error": str(exc)},
                scores={
                    **{k: 0.0 for k in ROUGE_KEYS},
                    "support_rate": 0.0,
                    "citation_validity": 0.0,
                },
            )
            out.items.append(item)
            tick()
            continue
        # The same split the assistant made: citations are checked against these passage ids.
        passage_ids = {p.id for p in assistant.resolve_article(text=article_text)[1]}
        texts = [s.text for s in summary.sentences]
        sys_scores = scorer.score(reference, rouge_text(texts)) if texts else None
        citations = [c for s in summary.sentences for c in s.citations]
        valid = sum(1 for c in citations if c.passage_id in passage_ids)
        supported = sum(1 for s in summary.sentences if s.verdict == "supported")
        n_cit += len(citations)
        n_cit_ok += valid
        n_sent += len(summary.sentences)
        n_sup += supported
        n_fallback += int(summary.extractive_fallback)
        item["output"] = {
            "model": summary.model,
            "extractive_fallback": summary.extractive_fallback,
            "sentences": [
                {
                    "text": s.text,
                    "verdict": s.verdict,
                    "reason": s.reason,
                    "citations": [
                        c.model_dump() | {"valid": c.passage_id in passage_ids} for c in s.citations
                    ],
                }
                for s in summary.sentences
            ],
        }
        item["scores"] = {
            **{k: round(sys_scores[k].fmeasure, 6) if sys_scores else 0.0 for k in ROUGE_KEYS},
            "support_rate": round(supported / len(texts), 6) if texts else 0.0,
            "citation_validity": round(valid / len(citations), 6) if citations else 0.0,
        }
        item["latency_ms"] = round(out.latency_ms[-1], 1)
        out.items.append(item)
        tick()
    n = len(out.items)
    out.metrics = {
        "n": n,
        "sentences_requested": task.sentences,
        **{k: round(_mean([i["scores"][k] for i in out.items]), 6) for k in ROUGE_KEYS},
        **{
            f"lead3_{k}": round(_mean([i["lead3"]["scores"][k] for i in out.items]), 6)
            for k in ROUGE_KEYS
        },
        "citation_validity": round(n_cit_ok / n_cit, 6) if n_cit else 0.0,
        "citations": n_cit,
        "support_rate": round(n_sup / n_sent, 6) if n_sent else 0.0,
        "sentences": n_sent,
        "extractive_fallback_rate": round(n_fallback / n, 6) if n else 0.0,
        "errors": n_error,
    }
    return out


def run_consistency(suite: Suite, task: ConsistencyTask, tick: Tick) -> TaskResult:
    """is_consistent against human labels: balanced accuracy (bootstrap 95% CI), per-class P/R."""
    from assistant.verify import is_consistent, warm_up

    rows = load_dataset(suite, task.dataset, ("article", "summary", "label"))
    warm_up()  # spaCy tables and word frequencies, so latency is per item
    out = TaskResult()
    labels, predictions = [], []
    for row in rows:
        label = int(row["label"])
        with _timer(out.latency_ms):
            consistent, reason = is_consistent(str(row["summary"]), str(row["article"]))
        prediction = int(consistent)
        labels.append(label)
        predictions.append(prediction)
        item = _item(
            "consistency", task.dataset, row, input={"label": label, "summary": str(row["summary"])}
        )
        item["output"] = {"predicted": prediction, "reason": reason}
        item["scores"] = {"correct": float(prediction == label)}
        item["latency_ms"] = round(out.latency_ms[-1], 1)
        out.items.append(item)
        tick()
    m = binary_metrics(labels, predictions)
    lo, hi = bootstrap_balanced_accuracy(labels, predictions, task.bootstrap, task.seed)
    out.metrics = {
        "n": m["n"],
        "n_consistent": m["n_1"],
        "n_inconsistent": m["n_0"],
        "balanced_accuracy": round(m["balanced_accuracy"], 6),
        "balanced_accuracy_ci_low": None if lo is None else round(lo, 6),
        "balanced_accuracy_ci_high": None if hi is None else round(hi, 6),
        "bootstrap": task.bootstrap,
        "bootstrap_seed": task.seed,
        "precision_consistent": round(m["precision_1"], 6),
        "recall_consistent": round(m["recall_1"], 6),
        "precision_inconsistent": round(m["precision_0"], 6),
        "recall_inconsistent": round(m["recall_0"], 6),
    }
    return out


def run_typos(suite: Suite, task: TyposTask, tick: Tick) -> TaskResult:
    """find_typos per row (corpus = the other rows, as eval/typos_dev.py does), README metrics."""
    from assistant.typos import CorpusNames, find_typos, typo_metrics, warm_up

    rows = load_dataset(suite, task.dataset, ("text",), optional=("typo", "correct", "offset"))
    texts = [str(r["text"]) for r in rows]
    warm_up()
    out = TaskResult()
    flags_per_row = []
    for i, row in enumerate(rows):
        # Leave-one-out: the row's own text is never its corpus evidence.
        corpus = (
            CorpusNames.from_texts(texts[:i] + texts[i + 1 :])
            if task.corpus == "leave-one-out"
            else None
        )
        with _timer(out.latency_ms):
            flags = find_typos(texts[i], corpus=corpus)
        flags_per_row.append(flags)
        has_typo = bool(row.get("typo"))
        hit = [
            f
            for f in flags
            if has_typo and f.start <= int(row["offset"]) < f.end and f.suggestion == row["correct"]
        ]
        item = _item(
            "typos",
            task.dataset,
            row,
            input={
                "typo": row.get("typo"),
                "correct": row.get("correct"),
                "offset": row.get("offset"),
            },
        )
        item["output"] = {
            "flags": [
                f.model_dump(include={"text", "start", "end", "suggestion", "kind", "reason"})
                for f in flags
            ]
        }
        item["scores"] = {"false_flags": float(len(flags) - min(1, len(hit)))}
        if has_typo:
            item["scores"]["detected"] = float(bool(hit))
        item["latency_ms"] = round(out.latency_ms[-1], 1)
        out.items.append(item)
        tick()
    metric_rows = [
        {
            "id": r["id"],
            "text": r["text"],
            "typo": r.get("typo"),
            "correct": r.get("correct"),
            "offset": r.get("offset"),
        }
        for r in rows
    ]
    m = typo_metrics(metric_rows, flags_per_row)
    out.metrics = {
        "n": m["n"],
        "n_typo": m["n_typo"],
        "n_clean": m["n_clean"],
        "detected": m["detected"],
        "recall": round(m["recall"], 6),
        "precision": round(m["precision"], 6),
        "flags": m["flags"],
        "false_alarms_clean": m["false_alarms_clean"],
        "false_alarms_per_clean_doc": round(m["false_alarms_per_clean_doc"], 6),
        "corpus": task.corpus,
    }
    return out


def run_qa(assistant: Assistant, suite: Suite, task: QATask, tick: Tick) -> TaskResult:
    """Ingest the corpus, ask each question: gold answer contained (normalised), citation on the gold article."""
    from assistant.ingest import make_article

    corpus = load_dataset(suite, task.corpus, ("article",))
    rows = load_dataset(suite, task.dataset, ("question", "answer", "article_id"))
    for row in corpus:
        assistant.store.upsert_article(make_article(str(row["article"]), row["id"]))
    out = TaskResult()
    for row in rows:
        with _timer(out.latency_ms):
            answer = _llm_call("qa", row["id"], assistant.ask, str(row["question"]), k=task.k)
        gold = normalise_answer(row["answer"])
        contains = bool(gold) and f" {gold} " in f" {normalise_answer(answer.answer)} "
        cited_articles = sorted({c.article_id for c in answer.citations})
        supported = sum(1 for v in answer.verdicts if v.verdict == "supported")
        item = _item(
            "qa",
            task.dataset,
            row,
            input={
                "question": row["question"],
                "answer": row["answer"],
                "article_id": str(row["article_id"]),
            },
        )
        item["output"] = {
            "answer": answer.answer,
            "answered": answer.answered,
            "cited_articles": cited_articles,
            "citations": [c.model_dump() for c in answer.citations],
        }
        item["scores"] = {
            "contains_answer": float(contains),
            "citation_hit": float(str(row["article_id"]) in cited_articles),
            "support_rate": round(supported / len(answer.verdicts), 6) if answer.verdicts else 0.0,
        }
        item["latency_ms"] = round(out.latency_ms[-1], 1)
        out.items.append(item)
        tick()
    n = len(out.items)
    out.metrics = {
        "n": n,
        "answer_accuracy": round(_mean([i["scores"]["contains_answer"] for i in out.items]), 6),
        "citation_hit_rate": round(_mean([i["scores"]["citation_hit"] for i in out.items]), 6),
        "answered_rate": round(_mean([float(i["output"]["answered"]) for i in out.items]), 6),
        "support_rate": round(_mean([i["scores"]["support_rate"] for i in out.items]), 6),
    }
    return out


# --------------------------------------------------------------------------- baseline


def compare_baseline(baseline: dict, items: list[dict], metrics: dict) -> dict:
    """Items whose per-item scores got worse than in ``baseline`` (a results.json), worst first."""
    old = {(i["task"], i["id"]): i for i in baseline.get("items", [])}
    regressions, improved, compared = [], 0, 0
    for item in items:
        before = old.get((item["task"], item["id"]))
        if before is None:
            continue
        compared += 1
        better = False
        for key, value in item.get("scores", {}).items():
            prev = before.get("scores", {}).get(key)
            if not isinstance(prev, int | float) or not isinstance(value, int | float):
                continue
            delta = value - prev
            worse = delta > _EPS if key in LOWER_IS_BETTER else delta < -_EPS
            if worse:
                regressions.append(
                    {
                        "task": item["task"],
                        "id": item["id"],
                        "score": key,
                        "baseline": prev,
                        "current": value,
                        "delta": round(delta, 6),
                    }
                )
            elif abs(delta) > _EPS:
                better = True
        improved += better
    regressions.sort(key=lambda r: (-abs(r["delta"]), r["task"], r["id"], r["score"]))
    metric_deltas = {}
    for task, table in metrics.items():
        for key, value in table.items():
            prev = baseline.get("metrics", {}).get(task, {}).get(key)
            if (
                isinstance(value, int | float)
                and isinstance(prev, int | float)
                and abs(value - prev) > _EPS
            ):
                metric_deltas[f"{task}.{key}"] = {
                    "baseline": prev,
                    "current": value,
                    "delta": round(value - prev, 6),
                }
    current_keys = {(i["task"], i["id"]) for i in items}
    return {
        "compared_items": compared,
        "regressed_items": len({(r["task"], r["id"]) for r in regressions}),
        "improved_items": improved,
        "new_items": len(current_keys - set(old)),
        "missing_items": len(set(old) - current_keys),
        "regressions": regressions,
        "metric_deltas": metric_deltas,
    }


# --------------------------------------------------------------------------- run


@dataclass
class RunResult:
    suite: Suite
    results: dict
    gates: list[GateResult]
    out_dir: Path

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]


def _count_rows(suite: Suite, name: str) -> int:
    spec = suite.datasets[name]
    path = suite.resolve(spec.path)
    if not path.is_file():
        return 0  # reported properly when the task loads it
    with path.open(encoding="utf-8") as fh:
        n = sum(1 for line in fh if line.strip())
    return min(n, spec.limit) if spec.limit else n


def _settings_for(
    suite: Suite, data_dir: Path, cache: CacheMode | None, base: Settings | None
) -> Settings:
    """The run's settings: a temp data dir, the suite's pinned LLM settings and its cache dir."""
    settings = base or Settings()
    # Chunking and retrieval shape the prompts, hence the cache keys: a suite runs with the
    # defaults, whatever ASSISTANT_CHUNK__* / ASSISTANT_RETRIEVE__* say in the shell.
    settings = settings.model_copy(update={"chunk": ChunkSettings(), "retrieve": RetrieveSettings()})
    llm = LLMSettings(
        **{
            **settings.llm.model_dump(),
            **suite.llm,
            "cache": cache or settings.llm.cache,
            "cache_dir": suite.resolve(suite.cache_dir),
        }
    )
    return settings.model_copy(update={"data_dir": data_dir, "llm": llm})


def run_suite(
    suite: Suite | Path,
    out_dir: Path,
    cache: CacheMode | None = None,
    baseline: Path | None = None,
    settings: Settings | None = None,
    chat=None,
    embedder=None,
    progress: bool = True,
) -> RunResult:
    """Run every task of ``suite``, write results.json, report.md (+ PNG) and junit.xml to ``out_dir``.

    ``cache`` is the replay-cache mode (default: the settings'); ``chat``/``embedder`` replace the
    configured ones (tests pass fakes; a given chat is still wrapped in the suite's replay cache).
    """
    from tqdm import tqdm

    from assistant.llm import ReplayCacheChat, get_chat_model
    from assistant.service import Assistant

    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    baseline_data = None
    if baseline is not None:
        try:
            baseline_data = json.loads(Path(baseline).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BadInputError(
                f"cannot read baseline {baseline}: {exc}",
                "Give the results.json of an earlier `assistant eval` run, e.g. eval/baselines/dev.json.",
            ) from None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    t = suite.tasks
    total = sum(
        _count_rows(suite, getattr(t, name).dataset)
        for name in Tasks.model_fields
        if getattr(t, name)
    )

    results_by_task: dict[str, TaskResult] = {}
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        run_settings = _settings_for(suite, Path(tmp), cache, settings)
        wrapped = None
        needs_llm = t.summarize is not None or t.qa is not None
        if needs_llm:
            mode = run_settings.llm.cache
            if chat is None:
                wrapped = get_chat_model(run_settings)
            elif mode != "off":
                wrapped = ReplayCacheChat(
                    inner=chat, cache_dir=run_settings.llm_cache_dir, mode=mode
                )
            else:
                wrapped = chat
        assistant = Assistant(run_settings, embedder=embedder, chat=wrapped)
        bar = tqdm(desc="eval", unit="item", disable=not progress, total=total, dynamic_ncols=True)
        try:

            def stage(name: str) -> Tick:
                bar.set_description(f"eval {name}")
                return lambda: bar.update(1)

            if t.summarize:
                results_by_task["summarize"] = run_summarize(
                    assistant, suite, t.summarize, stage("summarize")
                )
            if t.qa:
                results_by_task["qa"] = run_qa(assistant, suite, t.qa, stage("qa"))
            if t.consistency:
                results_by_task["consistency"] = run_consistency(
                    suite, t.consistency, stage("consistency")
                )
            if t.typos:
                results_by_task["typos"] = run_typos(suite, t.typos, stage("typos"))
        finally:
            bar.close()
        cache_stats = None
        if isinstance(wrapped, ReplayCacheChat):
            cache_stats = {"hits": wrapped.hits, "misses": wrapped.misses}

    metrics = {name: r.metrics for name, r in results_by_task.items()}
    latency = {name: latency_stats(r.latency_ms) for name, r in results_by_task.items()}
    items = [i for r in results_by_task.values() for i in r.items]
    gates = evaluate_gates(suite.gates, metrics, latency)
    llm = run_settings.llm
    results = {
        "format": RESULTS_FORMAT,
        "suite": {
            "name": suite.name,
            "description": suite.description,
            "file": suite.relative(suite.source) if suite.source else None,
            "datasets": {
                name: {"path": str(spec.path), "limit": spec.limit, "fields": spec.fields}
                for name, spec in suite.datasets.items()
            },
        },
        "run": {
            "started_at": started.isoformat(timespec="seconds"),
            "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
            "llm": {
                "backend": llm.backend,
                "preset": llm.preset,
                "model": llm.model if llm.backend == "openai" else None,
                "temperature": llm.temperature,
                "max_tokens": llm.max_tokens,
                "n_ctx": llm.n_ctx,
            }
            if needs_llm
            else None,
            "cache": {
                "mode": llm.cache,
                "dir": suite.relative(suite.resolve(suite.cache_dir)),
                **(cache_stats or {}),
            }
            if needs_llm
            else None,
        },
        "metrics": metrics,
        "latency": latency,
        "gates": [
            {
                "gate": g.gate.expr,
                "metric": g.gate.metric,
                "value": g.value,
                "threshold": g.threshold,
                "passed": g.passed,
                "message": g.message,
            }
            for g in gates
        ],
        "items": items,
    }
    if baseline_data is not None:
        results["baseline"] = {
            "file": str(baseline),
            **compare_baseline(baseline_data, items, metrics),
        }
    run = RunResult(suite, results, gates, out_dir)
    write_reports(run)
    return run


# --------------------------------------------------------------------------- reports


def write_reports(run: RunResult) -> None:
    """results.json, report.md with report.png, junit.xml."""
    out = run.out_dir
    (out / "results.json").write_text(
        json.dumps(run.results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    plot = write_plot(run.results, out / "report.png")
    (out / "report.md").write_text(
        render_markdown(run.results, plot.name if plot else None), encoding="utf-8"
    )
    (out / "junit.xml").write_text(render_junit(run.results), encoding="utf-8")


def _f(value: Any, digits: int = 3) -> str:
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.{digits}f}"
    return "—" if value is None else str(value)


def _short(text: str, n: int = 90) -> str:
    text = " ".join(str(text).split())
    return (text if len(text) <= n else text[: n - 1] + "…").replace("|", "\\|")


def render_markdown(results: dict, plot: str | None) -> str:
    """The human report: headline tables, gates, baseline regressions, worst items, the plot."""
    suite, m, lat = results["suite"], results["metrics"], results["latency"]
    failed = [g for g in results["gates"] if not g["passed"]]
    lines = [f"# Eval report: {suite['name']}", ""]
    if suite.get("description"):
        lines += [suite["description"].strip(), ""]
    status = (
        f"**{len(failed)} of {len(results['gates'])} gates failed**"
        if failed
        else f"all {len(results['gates'])} gates passed"
    )
    lines += [f"Suite `{suite['file']}`, {status}."]
    cache = results["run"].get("cache")
    if cache:
        stats = (
            f", {cache.get('hits', 0)} hits / {cache.get('misses', 0)} misses"
            if "hits" in cache
            else ""
        )
        lines += [f"LLM calls: cache mode `{cache['mode']}` in `{cache['dir']}`{stats}."]
    lines.append("")

    if "summarize" in m:
        s = m["summarize"]
        ds = (
            next(i for i in results["items"] if i["task"] == "summarize")["dataset"]
            if s["n"]
            else "?"
        )
        limit = suite["datasets"].get(ds, {}).get("limit")
        subset = (
            f" (the first {limit} rows of the file: a subset, see the suite description)"
            if limit
            else ""
        )
        lines += [
            f"## Summaries: {s['n']} items of `{ds}`{subset}",
            "",
            (
                f"System = `Assistant.summarize(text=article, sentences={s['sentences_requested']})`; "
                "Lead-3 = the article's first three sentences. ROUGE F1 with stemming, "
                "spaces around punctuation normalised, sentences newline-joined for Lsum."
            ),
            "",
            "| metric | system | Lead-3 |",
            "|---|---:|---:|",
            *[
                f"| {label} | {_f(s[k])} | {_f(s['lead3_' + k])} |"
                for k, label in (
                    ("rouge1", "ROUGE-1"),
                    ("rouge2", "ROUGE-2"),
                    ("rougeLsum", "ROUGE-Lsum"),
                )
            ],
            f"| citation validity ({s['citations']} citations) | {_f(s['citation_validity'])} | — |",
            f"| sentence support rate ({s['sentences']} sentences) | {_f(s['support_rate'])} | — |",
            f"| extractive-fallback rate | {_f(s['extractive_fallback_rate'])} | — |",
            f"| errors | {s['errors']} | — |",
            "",
        ]
    if "consistency" in m:
        c = m["consistency"]
        lines += [
            f"## Consistency detection: {c['n']} items ({c['n_consistent']} consistent, {c['n_inconsistent']} not)",
            "",
            "| metric | value |",
            "|---|---:|",
            (
                f"| balanced accuracy | {_f(c['balanced_accuracy'])} (95% CI {_f(c['balanced_accuracy_ci_low'])}"
                f"–{_f(c['balanced_accuracy_ci_high'])}, stratified bootstrap ×{c['bootstrap']}, "
                f"seed {c['bootstrap_seed']}) |"
            ),
            f"| consistent: precision / recall | {_f(c['precision_consistent'])} / {_f(c['recall_consistent'])} |",
            f"| inconsistent: precision / recall | {_f(c['precision_inconsistent'])} / {_f(c['recall_inconsistent'])} |",
            "",
        ]
    if "typos" in m:
        ty = m["typos"]
        lines += [
            f"## Typos: {ty['n']} items ({ty['n_typo']} with a typo, {ty['n_clean']} clean; corpus: {ty['corpus']})",
            "",
            "| metric | value |",
            "|---|---:|",
            f"| recall | {_f(ty['recall'])} ({ty['detected']}/{ty['n_typo']}) |",
            f"| precision | {_f(ty['precision'])} ({ty['detected']} of {ty['flags']} flags) |",
            f"| false alarms per clean document | {_f(ty['false_alarms_per_clean_doc'], 2)} ({ty['false_alarms_clean']} in {ty['n_clean']}) |",
            "",
        ]
    if "qa" in m:
        q = m["qa"]
        lines += [
            f"## Questions: {q['n']} items",
            "",
            "| metric | value |",
            "|---|---:|",
            f"| answer contains the gold answer | {_f(q['answer_accuracy'])} |",
            f"| a citation hits the supporting article | {_f(q['citation_hit_rate'])} |",
            f"| answered | {_f(q['answered_rate'])} |",
            f"| sentence support rate | {_f(q['support_rate'])} |",
            "",
        ]
    if lat:
        mode = (cache or {}).get("mode")
        note = (
            " (LLM calls replayed from the cache: model time is not included)"
            if mode == "replay"
            else ""
        )
        lines += [
            "## Latency per item" + note,
            "",
            "| task | n | p50 ms | p95 ms |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {t} | {v['n']} | {v['latency_p50_ms']:.1f} | {v['latency_p95_ms']:.1f} |"
            for t, v in lat.items()
        ]
        lines.append("")

    lines += ["## Gates", "", "| gate | value | result |", "|---|---:|---|"]
    for g in results["gates"]:
        lines.append(
            f"| `{g['gate']}` | {_f(g['value'], 4)} | {'pass' if g['passed'] else '**FAIL**'} |"
        )
    if not results["gates"]:
        lines.append("| (none) | | |")
    lines.append("")

    if "baseline" in results:
        b = results["baseline"]
        lines += [
            f"## Compared with baseline `{b['file']}`",
            "",
            (
                f"{b['compared_items']} items compared: {b['regressed_items']} got worse, "
                f"{b['improved_items']} got better ({b['new_items']} new, {b['missing_items']} missing)."
            ),
            "",
        ]
        if b["regressions"]:
            lines += [
                "| task | item | score | baseline | now | delta |",
                "|---|---|---|---:|---:|---:|",
            ]
            lines += [
                f"| {r['task']} | `{r['id']}` | {r['score']} | {_f(r['baseline'])} | {_f(r['current'])} | {r['delta']:+.3f} |"
                for r in b["regressions"][:50]
            ]
            if len(b["regressions"]) > 50:
                lines.append(f"\n…and {len(b['regressions']) - 50} more in results.json.")
            lines.append("")
        if b["metric_deltas"]:
            lines += ["| metric | baseline | now | delta |", "|---|---:|---:|---:|"]
            lines += [
                f"| {k} | {_f(v['baseline'])} | {_f(v['current'])} | {v['delta']:+.3f} |"
                for k, v in b["metric_deltas"].items()
            ]
            lines.append("")

    lines += _worst_items(results["items"])
    if plot:
        lines += ["## Plot", "", f"![metrics]({plot})", ""]
    return "\n".join(lines)


def _worst_items(items: list[dict], n: int = 5) -> list[str]:
    lines = ["## Worst items", ""]
    summ = [i for i in items if i["task"] == "summarize"]
    if summ:
        worst = sorted(summ, key=lambda i: (i["scores"]["rougeLsum"], i["id"]))[:n]
        lines += [
            "Summaries with the lowest ROUGE-Lsum:",
            "",
            "| item | ROUGE-Lsum | Lead-3 | support | first sentence / problem |",
            "|---|---:|---:|---:|---|",
        ]
        for i in worst:
            out = i["output"]
            first = out.get("error") or next(
                (s["text"] for s in out.get("sentences", [])), "(empty)"
            )
            bad = next(
                (s["reason"] for s in out.get("sentences", []) if s["verdict"] != "supported"), ""
            )
            lines.append(
                f"| `{i['id'][:16]}` | {_f(i['scores']['rougeLsum'])} | {_f(i['lead3']['scores']['rougeLsum'])} | "
                f"{_f(i['scores']['support_rate'])} | {_short(first)}{' — ' + _short(bad, 70) if bad else ''} |"
            )
        lines.append("")
    cons = [i for i in items if i["task"] == "consistency" and not i["scores"]["correct"]]
    if cons:
        lines += [
            f"Consistency mistakes ({len(cons)}; first {min(n, len(cons))}):",
            "",
            "| item | label | predicted | reason |",
            "|---|---:|---:|---|",
        ]
        lines += [
            f"| `{i['id'][:16]}` | {i['input']['label']} | {i['output']['predicted']} | {_short(i['output']['reason'])} |"
            for i in cons[:n]
        ]
        lines.append("")
    typos = [i for i in items if i["task"] == "typos"]
    missed = [i for i in typos if i["scores"].get("detected") == 0.0]
    alarms = sorted(
        [i for i in typos if i["scores"]["false_flags"] > 0],
        key=lambda i: (-i["scores"]["false_flags"], i["id"]),
    )
    if missed:
        lines += [
            f"Missed typos ({len(missed)}):",
            "",
            "| item | typo → correct | flags raised |",
            "|---|---|---|",
        ]
        for i in missed[:n]:
            flags = (
                ", ".join(f"{f['text']}→{f['suggestion']}" for f in i["output"]["flags"]) or "none"
            )
            lines.append(
                f"| `{i['id'][:16]}` | {i['input']['typo']} → {i['input']['correct']} | {_short(flags, 60)} |"
            )
        lines.append("")
    if alarms:
        lines += [
            f"Most false flags ({len(alarms)} items with any):",
            "",
            "| item | false flags | flags |",
            "|---|---:|---|",
        ]
        for i in alarms[:n]:
            flags = ", ".join(
                f"{f['text']}→{f['suggestion']} ({f['kind']})" for f in i["output"]["flags"]
            )
            lines.append(
                f"| `{i['id'][:16]}` | {int(i['scores']['false_flags'])} | {_short(flags, 80)} |"
            )
        lines.append("")
    qa = [i for i in items if i["task"] == "qa" and not i["scores"]["contains_answer"]]
    if qa:
        lines += [
            f"Questions without the gold answer ({len(qa)}):",
            "",
            "| item | question | gold | answer |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| `{i['id'][:16]}` | {_short(i['input']['question'], 50)} | {_short(i['input']['answer'], 30)} | {_short(i['output']['answer'], 60)} |"
            for i in qa[:n]
        ]
        lines.append("")
    return lines if len(lines) > 2 else []


def write_plot(results: dict, path: Path) -> Path | None:
    """One PNG: ROUGE of the system beside Lead-3, and the headline check metrics with their CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = results["metrics"]
    checks: list[tuple[str, float, tuple[float, float] | None]] = []
    if "summarize" in m:
        checks += [
            ("citation\nvalidity", m["summarize"]["citation_validity"], None),
            ("sentence\nsupport", m["summarize"]["support_rate"], None),
        ]
    if "consistency" in m:
        c = m["consistency"]
        checks.append(
            (
                "consistency\nbal. acc.",
                c["balanced_accuracy"],
                (c["balanced_accuracy_ci_low"], c["balanced_accuracy_ci_high"]),
            )
        )
    if "typos" in m:
        checks += [
            ("typo\nrecall", m["typos"]["recall"], None),
            ("typo\nprecision", m["typos"]["precision"], None),
        ]
    if "qa" in m:
        checks += [
            ("QA answer\naccuracy", m["qa"]["answer_accuracy"], None),
            ("QA citation\nhit", m["qa"]["citation_hit_rate"], None),
        ]
    panels = (["summarize"] if "summarize" in m else []) + (["checks"] if checks else [])
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "summarize":
            s = m["summarize"]
            xs = range(len(ROUGE_KEYS))
            ax.bar([x - 0.2 for x in xs], [s[k] for k in ROUGE_KEYS], 0.4, label="system")
            ax.bar(
                [x + 0.2 for x in xs], [s["lead3_" + k] for k in ROUGE_KEYS], 0.4, label="Lead-3"
            )
            ax.set_xticks(list(xs), ["ROUGE-1", "ROUGE-2", "ROUGE-Lsum"])
            ax.set_title(f"Summaries (n={s['n']}), ROUGE F1")
            ax.legend()
        else:
            labels = [c[0] for c in checks]
            values = [c[1] for c in checks]
            ax.bar(range(len(values)), values, color="tab:green")
            for x, (_, v, ci) in enumerate(checks):
                if ci and None not in ci:
                    ax.errorbar(x, v, yerr=[[v - ci[0]], [ci[1] - v]], capsize=4, color="black")
            for x, v in enumerate(values):
                ax.text(x, 0.03, f"{v:.2f}", ha="center", fontsize=9, color="white")
            ax.set_xticks(range(len(values)), labels, fontsize=8)
            ax.set_title("Checks")
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"{results['suite']['name']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def render_junit(results: dict) -> str:
    """One testcase per gate; a failure names the gate and the measured value."""
    from xml.etree import ElementTree as ET

    gates = results["gates"]
    name = f"eval.{results['suite']['name']}"
    missing = [g for g in gates if g["value"] is None or g["threshold"] is None]
    failures = [g for g in gates if not g["passed"] and g not in missing]
    root = ET.Element(
        "testsuites",
        name=name,
        tests=str(len(gates)),
        failures=str(len(failures)),
        errors=str(len(missing)),
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        name=name,
        tests=str(len(gates)),
        failures=str(len(failures)),
        errors=str(len(missing)),
        time=str(results["run"]["seconds"]),
    )
    for g in gates:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.gates", name=g["gate"], time="0")
        if g in missing:
            ET.SubElement(case, "error", message=g["message"], type="MissingMetric").text = g[
                "message"
            ]
        elif not g["passed"]:
            ET.SubElement(case, "failure", message=g["message"], type="GateFailed").text = g[
                "message"
            ]
        else:
            ET.SubElement(case, "system-out").text = g["message"]
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
