"""The eval harness: suites on temp jsonl files with a scripted chat model, gates, baselines, replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from assistant.cli import app
from assistant.embed import HashingEmbedder
from assistant.errors import BadInputError, ReplayMissError
from assistant.evaluate.gates import parse_gate
from assistant.evaluate.metrics import bootstrap_balanced_accuracy, normalise_answer
from assistant.evaluate.results import RunResult
from assistant.evaluate.run import run_suite
from assistant.evaluate.suite import load_suite
from assistant.testing import FakeChatModel
from tests.conftest import fake_support_scorer

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent / "assistant"

ARTICLES = {
    "kilmarnock": (
        "Gary Locke will be confirmed as Kilmarnock manager on Friday after eight weeks in charge. "
        "The club went unbeaten during his first six games. "
        "Locke, 39, paid tribute to his players on Thursday. "
        "Chairman Jim Mann said the board had been impressed by the results."
    ),
    "harbour": (
        "The harbour board voted on Tuesday to build 40 new floating berths. "
        "Work will start in March and cost 2.5 million pounds. "
        "Fishermen had asked for the berths for ten years. "
        "The mayor, Anna Berg, called the vote a turning point for the town."
    ),
}
REFERENCES = {
    "kilmarnock": "Gary Locke will be confirmed as Kilmarnock boss on Friday . The club went unbeaten in his first six games .",
    "harbour": "The harbour board voted to build 40 floating berths . Work starts in March and costs 2.5 million pounds .",
}


def first_sentences(text: str, n: int) -> list[str]:
    return [s if s.endswith(".") else s + "." for s in text.split(". ")[:n]]


def reply(sentences: list[str], passage: str = "P1") -> str:
    """An abstractive reply in the summarize prompt's JSON format, citing ``passage`` with each sentence as its quote."""
    return json.dumps(
        {"sentences": [{"text": s, "passage_ids": [passage], "quote": s} for s in sentences]}
    )


def fused(*lines: str) -> str:
    """An extract-then-fuse reply: line i shortens selected sentence i (the articles' first sentences here)."""
    return "\n".join(f"[{i}] {line}" for i, line in enumerate(lines, 1))


# Shortened first two sentences of each article, as a fuse reply writes them.
SHORT = {
    "kilmarnock": ("Gary Locke will be confirmed as Kilmarnock manager on Friday.", "The club went unbeaten in his first six games."),
    "harbour": ("The harbour board voted to build 40 new floating berths.", "Work will start in March and cost 2.5 million pounds."),
}


def good_replies() -> list[str]:
    return [fused(*SHORT[k]) for k in ARTICLES]


def md_rows(report: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``report`` (rule rows left out)."""
    return [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in report.splitlines()
        if line.startswith("|") and not set(line) <= set("|-: ")
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return gold_sets(tmp_path)


def gold_sets(tmp_path: Path) -> Path:
    """Gold sets in the shapes users bring: the summaries use their own field names."""
    folder = tmp_path / "gold"
    folder.mkdir()
    write_jsonl(
        folder / "news.jsonl",
        [
            {"doc_id": k, "meta": {"body": v}, "highlights": REFERENCES[k]}
            for k, v in ARTICLES.items()
        ],
    )
    art = ARTICLES["harbour"]
    write_jsonl(
        folder / "consistency.jsonl",
        [
            {
                "id": "c1",
                "article": art,
                "summary": "The harbour board voted to build 40 new floating berths.",
                "label": 1,
            },
            {
                "id": "c2",
                "article": art,
                "summary": "Work will start in March and cost 2.5 million pounds.",
                "label": 1,
            },
            {
                "id": "c3",
                "article": art,
                "summary": "The harbour board voted to build 90 new floating berths.",
                "label": 0,
            },
            {
                "id": "c4",
                "article": art,
                "summary": "The mayor, Peter Olsen, said the work will cost 7 million pounds.",
                "label": 0,
            },
        ],
    )
    clean = ARTICLES["kilmarnock"]
    typo_text = clean.replace("Chairman Jim Mann said", "Kilmarnokc chairman Jim Mann said")
    write_jsonl(
        folder / "typos.jsonl",
        [
            {
                "id": "t1",
                "text": typo_text,
                "typo": "Kilmarnokc",
                "correct": "Kilmarnock",
                "offset": typo_text.index("Kilmarnokc"),
            },
            {"id": "t2", "text": clean, "typo": None, "correct": None, "offset": None},
            {
                "id": "t3",
                "text": ARTICLES["harbour"],
                "typo": None,
                "correct": None,
                "offset": None,
            },
        ],
    )
    return folder


def write_suite(tmp_path: Path, gates: list[str], tasks: dict | None = None, **extra) -> Path:
    suite = {
        "name": "tiny",
        "description": "A tiny suite for the tests.",
        "root": "gold",
        "cache_dir": "cache",
        "datasets": {
            "news": {
                "path": "news.jsonl",
                "fields": {"id": "doc_id", "article": "meta.body", "reference": "highlights"},
            },
            "labels": {"path": "consistency.jsonl"},
            "typos": {"path": "typos.jsonl"},
        },
        "tasks": tasks if tasks is not None else {"summarize": {"dataset": "news", "sentences": 2}},
        "gates": gates,
        **extra,
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def run(suite: Path, out: Path, replies: list[str] | None = None, **kwargs):
    chat = FakeChatModel().enqueue(*(replies or []))
    return run_suite(suite, out, chat=chat, progress=False, **kwargs)


def test_reports_lead3_row_and_field_mapping(tmp_path, data):
    suite = write_suite(tmp_path, ["summarize.rougeLsum >= 0.3", "summarize.support_rate >= 0.9"])
    result = run(suite, tmp_path / "out", good_replies(), cache="off")
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {
        "results.json",
        "report.md",
        "junit.xml",
        "report.png",
    }
    results = json.loads((out / "results.json").read_text())
    items = [i for i in results["items"] if i["task"] == "summarize"]
    # ids and articles came through the mapping (doc_id, nested meta.body, highlights).
    assert [i["id"] for i in items] == list(ARTICLES)
    assert all(
        i["scores"]["rougeLsum"] > 0.3 and i["lead3"]["scores"]["rougeLsum"] > 0.3 for i in items
    )
    first = items[0]["output"]["sentences"][0]
    assert first["verdict"] == "supported" and first["origin"] == "model" and first["sources"] == [1]
    assert first["citations"][0]["valid"] is True
    m = results["metrics"]["summarize"]
    assert (
        m["citation_validity"] == 1.0
        and m["support_rate"] == 1.0
        and m["extractive_fallback_rate"] == 0.0
        and m["replaced_rate"] == 0.0
        and m["strategy"] == "extract_fuse"
    )
    assert m["lead3_rouge1"] > 0.3 and m["lead3_rougeLsum"] > 0.3
    assert 0 < m["lead1_rougeLsum"] < m["lead3_rougeLsum"]
    assert set(results["latency"]["summarize"]) == {"n", "latency_p50_ms", "latency_p95_ms"}
    report = (out / "report.md").read_text()
    rows = md_rows(report)
    assert ["metric", "system", "Lead-1", "Lead-3"] in rows
    lsum = next(r for r in rows if r[0] == "ROUGE-Lsum")
    assert lsum[1:] == [f"{m['rougeLsum']:.3f}", f"{m['lead1_rougeLsum']:.3f}", f"{m['lead3_rougeLsum']:.3f}"]
    assert "![metrics](report.png)" in report
    assert "## Worst items" in report
    junit = (out / "junit.xml").read_text()
    assert junit.count("<testcase ") == 2 and "<failure" not in junit
    assert not result.failed
    # results.json is the typed record itself: it reads back into an equal RunResult.
    assert RunResult.read(out) == result


def test_invalid_citation_and_unsupported_sentence_are_counted(tmp_path, data):
    # The abstractive strategy: the model cites passages itself, so a citation can be invalid.
    bad = json.dumps(
        {
            "sentences": [
                {
                    "text": first_sentences(ARTICLES["kilmarnock"], 1)[0],
                    "passage_ids": ["P1"],
                    "quote": "Gary Locke will be confirmed",
                },
                {
                    "text": "Locke signed a ten-year deal worth 9 million pounds.",
                    "passage_ids": ["P7"],
                    "quote": "ten-year deal",
                },
            ]
        }
    )
    suite = write_suite(tmp_path, [], tasks={"summarize": {"dataset": "news", "sentences": 2, "strategy": "abstractive"}})
    abstractive = reply(first_sentences(ARTICLES["harbour"], 2))
    result = run(suite, tmp_path / "out", [bad, abstractive], cache="off")
    m = result.metrics.summarize
    assert m.strategy == "abstractive" and m.replaced_rate == 0.0
    assert m.citations == 4 and m.citation_validity == 0.75
    assert m.support_rate == pytest.approx(3 / 4)
    first = result.items[0]
    assert first.scores.citation_validity == 0.5
    assert [c.valid for s in first.output.sentences for c in s.citations] == [True, False]


def test_failing_gate_names_gate_and_value_in_junit(tmp_path, data):
    suite = write_suite(tmp_path, ["summarize.rougeLsum >= 0.3", "summarize.rouge2 >= 0.99"])
    result = run(suite, tmp_path / "out", good_replies(), cache="off")
    assert [g.gate for g in result.failed] == ["summarize.rouge2 >= 0.99"]
    junit = (tmp_path / "out" / "junit.xml").read_text()
    assert junit.count("<testcase ") == 2 and junit.count("<failure ") == 1
    value = result.metrics.summarize.rouge2
    assert f"summarize.rouge2 &gt;= 0.99 FAILED: summarize.rouge2 = {value:.4f}" in junit
    assert "**FAIL**" in (tmp_path / "out" / "report.md").read_text()


def test_cli_exit_code_names_failing_gate(tmp_path, data):
    # Consistency and typos need no chat model, so the real command runs them as CI would.
    tasks = {"consistency": {"dataset": "labels", "method": "words"}, "typos": {"dataset": "typos"}}
    ok = write_suite(
        tmp_path, ["consistency.balanced_accuracy >= 0.75", "typos.recall >= 1.0"], tasks=tasks
    )
    runner = CliRunner()
    passed = runner.invoke(
        app, ["eval", str(ok), "--replay", "--quiet", "--out", str(tmp_path / "ok")]
    )
    assert passed.exit_code == 0, passed.output
    results = json.loads((tmp_path / "ok" / "results.json").read_text())
    assert results["metrics"]["typos"]["detected"] == 1
    assert results["metrics"]["consistency"]["n"] == 4

    bad = write_suite(
        tmp_path,
        ["consistency.balanced_accuracy >= 0.75", "typos.false_alarms_per_clean_doc <= -1"],
        tasks=tasks,
    )
    failed = runner.invoke(
        app, ["eval", str(bad), "--replay", "--quiet", "--out", str(tmp_path / "bad")]
    )
    assert failed.exit_code == 1
    assert "FAILED gates: typos.false_alarms_per_clean_doc <= -1 (value " in failed.stderr
    assert "consistency.balanced_accuracy" not in failed.stderr


def test_gate_on_missing_metric_fails_and_bad_gate_is_rejected(tmp_path, data):
    suite = write_suite(tmp_path, ["summarize.rouge9 >= 0.1"])
    result = run(suite, tmp_path / "out", good_replies(), cache="off")
    assert result.failed and "no metric summarize.rouge9" in result.failed[0].message
    assert "<error " in (tmp_path / "out" / "junit.xml").read_text()
    with pytest.raises(BadInputError, match="task.metric OP value"):
        parse_gate("rougeLsum at least 0.3")
    with pytest.raises(BadInputError, match="gate"):
        load_suite(write_suite(tmp_path, ["summarize.rougeLsum => 0.3"]))


def test_gate_against_another_metric(tmp_path, data):
    suite = write_suite(tmp_path, ["summarize.rouge1 >= summarize.lead3_rouge1"])
    result = run(suite, tmp_path / "out", good_replies(), cache="off")
    m = result.metrics.summarize
    assert bool(result.failed) == (m.rouge1 < m.lead3_rouge1)
    assert "summarize.lead3_rouge1 =" in result.gates[0].message


def test_baseline_lists_items_that_got_worse(tmp_path, data):
    suite = write_suite(tmp_path, [])
    run(suite, tmp_path / "before", good_replies(), cache="off")
    # The model names the chairman where sentence [1] is about Locke: replaced by sentence [1] itself.
    worse = [
        fused("Chairman Jim Mann said the board had been impressed by the results."),
        good_replies()[1],
    ]
    result = run(
        suite, tmp_path / "after", worse, cache="off", baseline=tmp_path / "before" / "results.json"
    )
    b = result.baseline
    assert b.compared_items == 2 and b.regressed_items == 1
    regressed = {(r.id, r.score) for r in b.regressions}
    assert ("kilmarnock", "rougeLsum") in regressed and not any(
        i == "harbour" for i, _ in regressed
    )
    assert all(r.delta < 0 for r in b.regressions)
    assert "summarize.rougeLsum" in b.metric_deltas
    report = (tmp_path / "after" / "report.md").read_text()
    assert (
        "## Compared with baseline" in report
        and ["summarize", "`kilmarnock`", "rougeLsum"] in [r[:3] for r in md_rows(report)]
    )


def test_record_then_replay_gives_identical_metrics_and_miss_is_clear(tmp_path, data):
    suite = write_suite(tmp_path, ["summarize.rougeLsum >= 0.3"])
    recorded = run(suite, tmp_path / "rec", good_replies(), cache="record")
    cache = tmp_path / "gold" / "cache"
    assert len(list(cache.rglob("*.json"))) == 2
    assert recorded.run.cache.model_dump() == {
        "mode": "record",
        "dir": "cache",
        "hits": 0,
        "misses": 2,
    }
    # An empty fake proves nothing reaches the model in replay mode.
    replayed = run(suite, tmp_path / "rep", [], cache="replay")
    assert replayed.metrics == recorded.metrics
    assert replayed.run.cache.hits == 2
    strip = lambda items: [i.model_dump(exclude={"latency_ms"}) for i in items]
    assert strip(replayed.items) == strip(recorded.items)

    rows = (tmp_path / "gold" / "news.jsonl").read_text().splitlines()
    changed = json.loads(rows[1])
    # The fuse prompt holds only the selected sentences: a late paragraph leaves it (and the key) as it was...
    changed["meta"]["body"] += " A late paragraph about something else entirely."
    (tmp_path / "gold" / "news.jsonl").write_text(rows[0] + "\n" + json.dumps(changed) + "\n")
    assert run(suite, tmp_path / "late", [], cache="replay").metrics == recorded.metrics
    # ...an edit to a selected sentence changes it.
    changed["meta"]["body"] = changed["meta"]["body"].replace("40 new", "41 new")
    (tmp_path / "gold" / "news.jsonl").write_text(rows[0] + "\n" + json.dumps(changed) + "\n")
    with pytest.raises(ReplayMissError, match="summarize item harbour") as err:
        run(suite, tmp_path / "miss", [], cache="replay")
    assert "--record" in err.value.help


def test_dataset_errors_name_the_field_and_the_fix(tmp_path, data):
    suite = write_suite(
        tmp_path, [], datasets={"news": {"path": "news.jsonl", "fields": {"article": "text"}}}
    )
    with pytest.raises(BadInputError, match="no field 'text'") as err:
        run(suite, tmp_path / "out", [], cache="off")
    assert "datasets.news.fields" in err.value.help
    missing = write_suite(tmp_path, [], datasets={"news": {"path": "nope.jsonl"}})
    with pytest.raises(BadInputError, match="nope.jsonl"):
        run(missing, tmp_path / "out", [], cache="off")
    with pytest.raises(BadInputError, match="labels"):
        load_suite(
            write_suite(
                tmp_path,
                [],
                tasks={"consistency": {"dataset": "labels", "method": "words"}},
                datasets={"news": {"path": "news.jsonl"}},
            )
        )


def test_limit_takes_the_first_rows(tmp_path, data):
    suite = write_suite(
        tmp_path,
        [],
        datasets={
            "news": {
                "path": "news.jsonl",
                "fields": {"id": "doc_id", "article": "meta.body", "reference": "highlights"},
                "limit": 1,
            }
        },
    )
    result = run(suite, tmp_path / "out", good_replies()[:1], cache="off")
    assert [i.id for i in result.items] == ["kilmarnock"]


def test_qa_answer_and_citation(tmp_path, data):
    write_jsonl(
        tmp_path / "gold" / "questions.jsonl",
        [
            {
                "qid": "q1",
                "question": "How many floating berths did the harbour board vote to build?",
                "gold": "40",
                "doc": "harbour",
            },
            {
                "qid": "q2",
                "question": "Who will be confirmed as Kilmarnock manager?",
                "gold": "Gary Locke",
                "doc": "kilmarnock",
            },
        ],
    )
    suite = write_suite(
        tmp_path,
        ["qa.answer_accuracy >= 0.5", "qa.citation_hit_rate >= 1.0"],
        tasks={"qa": {"dataset": "questions", "corpus": "news", "k": 2}},
        datasets={
            "news": {"path": "news.jsonl", "fields": {"id": "doc_id", "article": "meta.body"}},
            "questions": {
                "path": "questions.jsonl",
                "fields": {"id": "qid", "answer": "gold", "article_id": "doc"},
            },
        },
    )
    replies = [
        "The harbour board voted to build 40 new floating berths [1].",
        "The club went unbeaten during his first six games [1].",
    ]
    result = run_suite(
        suite,
        tmp_path / "out",
        chat=FakeChatModel().enqueue(*replies),
        embedder=HashingEmbedder(),
        cache="off",
        progress=False,
    )
    items = {i.id: i for i in result.items}
    assert items["q1"].scores.contains_answer == 1.0 and items["q1"].scores.citation_hit == 1.0
    assert items["q2"].scores.contains_answer == 0.0
    assert items["q2"].output.cited_articles == ["kilmarnock"]
    assert result.metrics.qa.answer_accuracy == 0.5
    assert not result.failed


def test_helpers():
    assert normalise_answer("The U.S. Senate!") == "u s senate"
    labels = [1] * 10 + [0] * 10
    preds = [1] * 8 + [0] * 2 + [0] * 6 + [1] * 4
    lo, hi = bootstrap_balanced_accuracy(labels, preds, 500, seed=0)
    assert (lo, hi) == bootstrap_balanced_accuracy(labels, preds, 500, seed=0)
    assert lo < 0.7 < hi


@pytest.mark.slow
def test_dev_suite_replays_offline_with_identical_metrics(tmp_path):
    """The committed dev cache replays without a model; two runs give the same numbers."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_", "HF_"))
    }
    # No model file is reachable: a replay that tried to load one would fail.
    env["ASSISTANT_MODEL_DIR"] = str(tmp_path / "no-models")
    env["ASSISTANT_DATA_DIR"] = str(tmp_path / "data")  # the run's audit line, not in ./data
    metrics = []
    for n in (1, 2):
        out = tmp_path / f"run{n}"
        proc = subprocess.run(
            [str(BIN), "eval", "eval/suites/dev.yaml", "--replay", "--quiet", "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=env,
            timeout=1200,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert all((out / name).is_file() for name in ("results.json", "report.md", "junit.xml"))
        results = json.loads((out / "results.json").read_text())
        assert results["run"]["cache"]["misses"] == 0
        metrics.append(results["metrics"])
    assert metrics[0] == metrics[1]


def test_consistency_with_the_support_scorer_reports_auc_domains_and_words_beside(tmp_path, data):
    rows = [json.loads(line) for line in (tmp_path / "gold" / "consistency.jsonl").read_text().splitlines()]
    write_jsonl(
        tmp_path / "gold" / "edits.jsonl",
        [{**r, "id": f"e{i}", "domain": "news" if i % 2 else "memo", "split": "test"} for i, r in enumerate(rows)]
        + [{**rows[0], "id": "fit-row", "domain": "news", "split": "evaluation"}],
    )
    suite = write_suite(
        tmp_path,
        [
            "consistency.datasets.edits.roc_auc >= 0.7",
            "consistency.min_domain_roc_auc >= 0.5",
            "consistency.datasets.labels.balanced_accuracy >= 0.5",
        ],
        tasks={"consistency": {"datasets": ["labels", "edits"], "fit_sets": ["labels"], "bootstrap": 50}},
        datasets={
            "labels": {"path": "consistency.jsonl"},
            "edits": {"path": "edits.jsonl", "where": {"split": "test"}},
        },
    )
    result = run_suite(suite, tmp_path / "out", scorer=fake_support_scorer(), progress=False, cache="off")
    c = result.metrics.consistency
    assert c.method == "support" and c.n == 8  # the evaluation-split row is left out by `where`
    assert set(c.datasets) == {"labels", "edits"}
    assert c.datasets["labels"].in_fit_set and not c.datasets["edits"].in_fit_set
    assert set(c.datasets["edits"].domains) == {"news", "memo"}
    assert c.words_roc_auc is not None and c.roc_auc is not None
    items = [i for i in result.items if i.task == "consistency"]
    c3 = next(i for i in items if i.id == "c3")  # "90 new floating berths": 90 is not in the article
    assert c3.output.predicted == 0 and c3.output.suspects == ["90"]
    assert c3.output.probability is not None and c3.output.probability < 0.5
    assert not result.failed, [g.message for g in result.gates]
    report = (tmp_path / "out" / "report.md").read_text()
    assert "calibrated support scorer" in report and "edits / news" in report and "in-sample" in report


def test_support_method_without_weights_is_a_clear_error(tmp_path, data):
    from assistant.support import SupportScorer
    from assistant.testing import FakeScoringModel

    suite = write_suite(tmp_path, [], tasks={"consistency": {"dataset": "labels"}})
    with pytest.raises(BadInputError, match="support weights") as err:
        run_suite(suite, tmp_path / "out", scorer=SupportScorer(FakeScoringModel(), None), progress=False)
    assert "python -m eval.support fit" in err.value.help


def test_every_takes_a_fixed_subset(tmp_path, data):
    suite = write_suite(
        tmp_path, [], tasks={"consistency": {"dataset": "labels", "method": "words"}},
        datasets={"labels": {"path": "consistency.jsonl", "every": 2}},
    )
    result = run_suite(suite, tmp_path / "out", progress=False)
    assert [i.id for i in result.items] == ["c1", "c3"]


def test_eval_data_paths_follow_the_one_setting(tmp_path, monkeypatch) -> None:
    """`$EVAL_DATA/x.jsonl` in a suite is read from Settings.eval_data_dir (ASSISTANT_EVAL_DATA_DIR)."""
    from assistant.settings import Settings

    suite = load_suite(ROOT / "eval" / "suites" / "dev.yaml")
    assert suite.resolve(suite.datasets["typos"].path) == Settings().eval_data_dir.resolve() / "typos-dev.jsonl"
    monkeypatch.setenv("ASSISTANT_EVAL_DATA_DIR", str(tmp_path))
    moved = suite.model_copy(update={"eval_data": Settings().eval_data_dir})
    assert moved.resolve(moved.datasets["typos"].path) == tmp_path.resolve() / "typos-dev.jsonl"
    assert moved.resolve(Path("eval/cache")) == ROOT / "eval" / "cache"  # other paths keep the suite root


def test_a_suite_runs_with_the_default_chunking_retrieval_and_embedding_graph(tmp_path, monkeypatch) -> None:
    """They shape the prompts (the replay cache's keys): the shell's ASSISTANT_* do not reach a suite."""
    from assistant.evaluate.run import settings_for
    from assistant.settings import Settings

    monkeypatch.setenv("ASSISTANT_EMBED__GRAPH", "int8-weights")
    monkeypatch.setenv("ASSISTANT_RETRIEVE__K", "9")
    shell = Settings()
    assert shell.embed.graph == "int8-weights"
    run = settings_for(load_suite(ROOT / "eval" / "suites" / "dev.yaml"), tmp_path, "replay", shell)
    assert run.embed.graph == "dynamic-int8" and run.retrieve.k != 9
