"""Running a suite: its settings, the chat model behind the replay cache, the tasks, gates and reports."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tqdm import tqdm

from assistant.evaluate.baseline import compare_baseline, read_baseline
from assistant.evaluate.datasets import count_rows
from assistant.evaluate.gates import evaluate_gates
from assistant.evaluate.report import write_reports
from assistant.evaluate.results import (
    CacheInfo,
    DatasetInfo,
    LLMInfo,
    RunInfo,
    RunMetrics,
    RunResult,
    SuiteInfo,
)
from assistant.evaluate.suite import Suite, Tasks, load_suite
from assistant.evaluate.tasks.brief import run_brief
from assistant.evaluate.tasks.common import TaskResult, Tick
from assistant.evaluate.tasks.consistency import run_consistency
from assistant.evaluate.tasks.qa import run_qa
from assistant.evaluate.tasks.qa_boolean import run_qa_boolean
from assistant.evaluate.tasks.summarize import run_summarize, run_summarize_variant, variant_rows
from assistant.evaluate.tasks.typos import run_typos
from assistant.llm import ChatModel, ReplayCacheChat, get_chat_model
from assistant.service import Assistant
from assistant.settings import (
    CacheMode,
    ChunkSettings,
    EmbedSettings,
    LLMSettings,
    RetrieveSettings,
    Settings,
    SummarySettings,
)
from assistant.support import SupportScorer, support_scorer

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.embed import Embedder


def settings_for(
    suite: Suite, data_dir: Path, cache: CacheMode | None, base: Settings | None
) -> Settings:
    """The run's settings: a temp data dir, the suite's pinned LLM settings and its cache dir."""
    settings = base or Settings()
    # Chunking, retrieval and the embedding graph shape the prompts, hence the cache keys: a suite
    # runs with the defaults, whatever ASSISTANT_CHUNK__* / ASSISTANT_RETRIEVE__* / ASSISTANT_EMBED__*
    # say in the shell.
    settings = settings.model_copy(
        update={"chunk": ChunkSettings(), "retrieve": RetrieveSettings(), "embed": EmbedSettings()}
    )
    llm = LLMSettings(
        **{
            **settings.llm.model_dump(),
            **suite.llm,
            "cache": cache or settings.llm.cache,
            "cache_dir": suite.resolve(suite.cache_dir),
        }
    )
    summary = SummarySettings(**{**settings.summary.model_dump(), **suite.summary})
    return settings.model_copy(update={"data_dir": data_dir, "llm": llm, "summary": summary})


def _needs_llm(tasks: Tasks) -> bool:
    return any(t is not None for t in (tasks.summarize, tasks.qa, tasks.qa_boolean, tasks.brief))


def _chat_for(
    settings: Settings, chat: BaseChatModel | None, purpose: Literal["chat", "fuse"] = "chat"
) -> BaseChatModel:
    """The configured model, or ``chat`` wrapped in the suite's replay cache (unless the cache is off)."""
    mode = settings.llm.cache
    if chat is None:
        return get_chat_model(settings, purpose=purpose)
    if mode == "off":
        return chat
    return ReplayCacheChat(inner=chat, cache_dir=settings.llm_cache_dir, mode=mode)


def _scorer_for(settings: Settings, chat: BaseChatModel | None, logprobs: ChatModel | None) -> SupportScorer | None:
    """The support scorer behind the suite's replay cache: recorded with --record, replayed in CI.

    A test that scripts the chat model and gives no ``logprobs`` model runs without the model check.
    """
    if not settings.summary.support or (chat is not None and logprobs is None):
        return None
    if logprobs is None:
        return support_scorer(settings, reuse_windows=False)
    return SupportScorer(
        _chat_for(settings, logprobs),
        n_ctx=settings.llm.n_ctx,
        source_tokens=settings.support.source_tokens,
        reuse_windows=False,
    )


def _run_tasks(
    assistant: Assistant, suite: Suite, progress: bool, scorer: SupportScorer | None = None
) -> dict[str, TaskResult]:
    """Every task of the suite in a fixed order (model tasks first), one progress bar over all items."""
    t = suite.tasks
    active = [name for name in Tasks.model_fields if getattr(t, name)]
    total = sum(
        count_rows(suite, dataset)
        for name in active
        for dataset in getattr(getattr(t, name), "datasets", [getattr(t, name).dataset])
    )
    if t.summarize:
        total += sum(variant_rows(suite, t.summarize, v) for v in t.summarize.variants.values())
    done: dict[str, TaskResult] = {}
    with tqdm(
        desc="eval", unit="item", disable=not progress, total=total, dynamic_ncols=True
    ) as bar:

        def stage(name: str) -> Tick:
            bar.set_description(f"eval {name}")
            return lambda: bar.update(1)

        if t.summarize:
            done["summarize"] = run_summarize(assistant, suite, t.summarize, stage("summarize"))
            for name, variant in t.summarize.variants.items():
                done[f"summarize_{name}"] = run_summarize_variant(
                    assistant, suite, t.summarize, name, variant, stage(f"summarize_{name}")
                )
        if t.qa:
            done["qa"] = run_qa(assistant, suite, t.qa, stage("qa"))
        if t.qa_boolean:
            done["qa_boolean"] = run_qa_boolean(assistant, suite, t.qa_boolean, stage("qa_boolean"))
        if t.brief:
            done["brief"] = run_brief(assistant, suite, t.brief, stage("brief"))
        if t.consistency:
            if scorer is None and t.consistency.method == "support":
                scorer = support_scorer(assistant.settings, reuse_windows=False)
            done["consistency"] = run_consistency(suite, t.consistency, stage("consistency"), scorer)
        if t.typos:
            done["typos"] = run_typos(suite, t.typos, stage("typos"))
    return done


def _suite_info(suite: Suite) -> SuiteInfo:
    return SuiteInfo(
        name=suite.name,
        description=suite.description,
        file=suite.relative(suite.source) if suite.source else None,
        datasets={
            name: DatasetInfo(path=str(spec.path), limit=spec.limit, fields=spec.fields)
            for name, spec in suite.datasets.items()
        },
    )


def _cache_counts(assistant: Assistant) -> dict[str, int]:
    """Replay-cache hits and misses over the run's chat, fuse and support-scorer calls."""
    wrappers = [assistant._chat, assistant._fuse_chat]
    if assistant._support is not None:
        wrappers.append(assistant._support.model)
    unique = {id(w): w for w in wrappers}.values()  # one model may serve several of them
    caches = [w for w in unique if isinstance(w, ReplayCacheChat)]
    if not caches:
        return {}
    return {"hits": sum(w.hits for w in caches), "misses": sum(w.misses for w in caches)}


def _run_info(
    suite: Suite, llm: LLMSettings, assistant: Assistant | None, started: datetime
) -> RunInfo:
    seconds = round((datetime.now(UTC) - started).total_seconds(), 1)
    if assistant is None:  # no task needed the model
        return RunInfo(
            started_at=started.isoformat(timespec="seconds"), seconds=seconds, llm=None, cache=None
        )
    counts = _cache_counts(assistant)
    return RunInfo(
        started_at=started.isoformat(timespec="seconds"),
        seconds=seconds,
        llm=LLMInfo(
            backend=llm.backend,
            preset=llm.preset,
            model=llm.model if llm.backend == "openai" else None,
            temperature=llm.temperature,
            max_tokens=llm.max_tokens,
            n_ctx=llm.n_ctx,
        ),
        cache=CacheInfo(
            mode=llm.cache, dir=suite.relative(suite.resolve(suite.cache_dir)), **counts
        ),
    )


def run_suite(
    suite: Suite | Path,
    out_dir: Path,
    cache: CacheMode | None = None,
    baseline: Path | None = None,
    settings: Settings | None = None,
    chat: BaseChatModel | None = None,
    embedder: Embedder | None = None,
    progress: bool = True,
    logprobs: ChatModel | None = None,
    scorer: SupportScorer | None = None,
) -> RunResult:
    """Run every task of ``suite``, write results.json, report.md (+ PNG) and junit.xml to ``out_dir``.

    ``cache`` is the replay-cache mode (default: the settings'); ``chat``/``embedder`` replace the
    configured ones and ``logprobs`` is the model that scores tokens (tests pass fakes; a given
    model is still wrapped in the suite's replay cache; the chat model serves both chat and
    fusion, the ``logprobs`` model the support scorer and yes/no choices). A given ``scorer`` is
    used as it is, for the consistency task and for fused summary sentences.
    """
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    baseline_data = read_baseline(baseline) if baseline is not None else None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    # A store's background writers (Chroma) may still be closing files when the run ends: a
    # leftover in the temp folder must not fail a finished run.
    with tempfile.TemporaryDirectory(prefix="assistant-eval-", ignore_cleanup_errors=True) as tmp:
        run_settings = settings_for(suite, Path(tmp), cache, settings)
        suite = suite.model_copy(update={"eval_data": run_settings.eval_data_dir})
        assistant = None
        if _needs_llm(suite.tasks):
            wrapped = _chat_for(run_settings, chat)
            fuse_scorer = scorer or _scorer_for(run_settings, chat, logprobs)
            if fuse_scorer is None:  # summaries carry the code's verdicts only
                no_check = run_settings.summary.model_copy(update={"support": False})
                run_settings = run_settings.model_copy(update={"summary": no_check})
            assistant = Assistant(
                run_settings,
                embedder=embedder,
                chat=wrapped,
                fuse_chat=wrapped if chat is not None else _chat_for(run_settings, None, "fuse"),
                support=fuse_scorer,
            )
        done = _run_tasks(assistant or Assistant(run_settings, embedder=embedder), suite, progress, scorer)
    metrics = RunMetrics(
        **{name: r.metrics for name, r in done.items() if not name.startswith("summarize_")},
        summarize_variants={
            name.removeprefix("summarize_"): r.metrics
            for name, r in done.items()
            if name.startswith("summarize_")
        },
    )
    latency = {name: r.latency for name, r in done.items()}
    tables = metrics.tables()
    result = RunResult(
        suite=_suite_info(suite),
        run=_run_info(suite, run_settings.llm, assistant, started),
        metrics=metrics,
        latency=latency,
        gates=evaluate_gates(suite.gates, tables, {n: s.model_dump() for n, s in latency.items()}),
        items=[i for r in done.values() for i in r.items],
        out_dir=out_dir,
    )
    if baseline_data is not None:
        items = [i.model_dump() for i in result.items]
        result.baseline = compare_baseline(baseline_data, items, tables, file=str(baseline))
    write_reports(result)
    return result
