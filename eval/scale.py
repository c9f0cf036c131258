"""`python -m eval.bench scale --passages N`: search, catch-up, start-up, RSS and disk at archive size.

The store is built from the distinct texts of the eval data (CNN/DM, FRANK and SummEdits
articles, BoolQ passages), split with the project's splitter and embedded once with the real
MiniLM embedder of the configured graph (cached in ``.build/scale/<graph>/base.npz``). Copies of those articles fill the store
to N passages; a copy's vectors are the original's plus Gaussian noise (sigma 0.02 per
dimension, renormalised): a stand-in, because embedding 100,000 passages for real takes hours
on 2 cores. Copies repeat their original's text (with their own article id), so BM25 sees
realistic term statistics but many exact duplicates. Built stores are kept under
``.build/scale/<graph>/N`` between runs.

Measured against it, each in its own process as in production:
* start-up, cold (first start on the data dir: BM25 built from every passage, corpus names
  counted from every article) and warm (as every later start: both loaded from their files in
  the data dir and caught up by the change records): interpreter start to the first hybrid
  search answered (imports, MiniLM, Chroma, the catalog, BM25), then to the corpus spellings
  loaded as well (what the first fact-check needs). No chat model is loaded: its load time is
  the GGUF's (see the README's model figures) and comes on top;
* a reader (the app's code path, no chat model): 200 hybrid searches (query embedding
  included), BM25-only and dense-only timings; its RSS. With ``--with-model`` the reader, after
  its first search, loads the local chat model as the app does (``Assistant.warm_up``, which the
  app runs at start-up) and answers two real questions (a yes/no one and an open one), then
  reports its RSS and peak RSS (VmHWM) with the model in memory; its searches then run beside
  the model, as in the app;
* a writer process ingesting one more article with the real embedder (timed), after which the
  reader's next search is timed: the catch-up (delta applied to catalog, BM25, and Chroma's
  vector index reopened).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from assistant.embed import GRAPHS
from assistant.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Settings().eval_data_dir
# one tree per MiniLM graph: a store keeps the graph its vectors came from
GRAPH = Settings().embed.graph
BUILD = ROOT / ".build" / "scale" / GRAPH
NOISE = 0.02


def _base_texts() -> list[tuple[str, str]]:
    """(id, raw text) of every distinct article or passage in the eval data."""
    from assistant.evaluate.datasets import read_jsonl

    seen: set[str] = set()
    out: list[tuple[str, str]] = []

    def add(prefix: str, key: str, title: str, body: str) -> None:
        body = body.strip()
        if len(body) < 200 or body in seen:
            return
        seen.add(body)
        out.append((f"{prefix}-{len(out):05d}", f"{title.strip() or key}\n\n{body}"))

    for row in read_jsonl(DATA / "summaries-cnndm-dev.jsonl"):
        add("cnn", row["id"], row["article"].split(".")[0][:80], row["article"])
    for name in ("consistency-frank-dev.jsonl", "consistency-summedits-dev.jsonl"):
        for row in read_jsonl(DATA / name):
            add("doc", row["id"], row["article"].split(".")[0][:80], row["article"])
    for row in read_jsonl(DATA / "chat-boolq-dev.jsonl"):
        add("wiki", row["id"], row["title"], row["passage"])
    return out


def _queries() -> list[str]:
    from assistant.evaluate.datasets import read_jsonl

    qs = [r["question"] for r in read_jsonl(DATA / "chat-boolq-dev.jsonl")]
    qs += [r["reference"].split("\n")[0][:200] for r in read_jsonl(DATA / "summaries-cnndm-dev.jsonl")]
    return qs


def base_corpus() -> dict:
    """The base articles, their passages and real MiniLM vectors (built once, cached)."""
    from assistant.embed import MiniLMEmbedder
    from assistant.ingest import make_article, split_passages

    cache = BUILD / "base.npz"
    texts = _base_texts()
    articles = [make_article(raw, aid) for aid, raw in texts]
    passages = [split_passages(a) for a in articles]
    flat = [p for ps in passages for p in ps]
    if cache.exists():
        got = np.load(cache)
        if len(got["vectors"]) == len(flat):
            return {"articles": articles, "passages": passages, "vectors": got["vectors"], **json.loads(str(got["meta"]))}
    embedder = MiniLMEmbedder(graph=GRAPH)
    embedder.embed(["warm up"])
    embedder.tokens_seen = 0
    t = time.perf_counter()
    vectors = embedder.embed([p.text for p in flat])
    seconds = time.perf_counter() - t
    meta = {
        "base_embed_seconds": round(seconds, 1),
        "base_embed_tokens_per_s": round(embedder.tokens_seen / seconds),
        "base_passages": len(flat),
    }
    BUILD.mkdir(parents=True, exist_ok=True)
    np.savez(cache, vectors=vectors, meta=json.dumps(meta))
    return {"articles": articles, "passages": passages, "vectors": vectors, **meta}


class _NamedVectors:
    """Stands for MiniLM in the builder (the store checks the name; vectors are given)."""

    name = GRAPHS[GRAPH]
    dim = 384

    def embed(self, texts):  # pragma: no cover - never called by the builder
        raise RuntimeError("the scale builder writes its vectors directly")


def build_store(n_passages: int, data_dir: Path) -> dict:
    """A data dir holding at least ``n_passages`` live passages (kept between runs)."""
    from assistant.settings import Settings
    from assistant.store import Store, _date_meta, _passage_meta, source_key, text_sha

    marker = data_dir / "scale.json"
    if marker.exists():
        return json.loads(marker.read_text())
    base = base_corpus()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    store = Store(Settings(data_dir=data_dir), _NamedVectors())
    rng = np.random.default_rng(0)
    offsets = np.cumsum([0] + [len(ps) for ps in base["passages"]])
    vectors = base["vectors"]
    t0 = time.perf_counter()
    done = articles = copy = 0
    batch: dict[str, list] = {"ids": [], "embeddings": [], "documents": [], "metadatas": []}
    records: dict[str, list] = {"ids": [], "embeddings": [], "documents": [], "metadatas": []}

    def flush() -> None:
        if batch["ids"]:
            store.passages.add(**batch)
            store.articles.add(**records)
        for d in (batch, records):
            for v in d.values():
                v.clear()

    gen = "scale0"
    while done < n_passages:
        for k, (article, passages) in enumerate(zip(base["articles"], base["passages"])):
            if done >= n_passages:
                break
            aid = f"{article.id}-c{copy}"
            vecs = vectors[offsets[k] : offsets[k + 1]]
            if copy:
                vecs = vecs + rng.normal(0, NOISE, size=vecs.shape).astype(np.float32)
                vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            for p, v in zip(passages, vecs):
                q = p.model_copy(update={"id": aid + p.id[len(article.id) :], "article_id": aid})
                batch["ids"].append(f"{q.id}@{gen}")
                batch["embeddings"].append(v)
                batch["documents"].append(q.text)
                batch["metadatas"].append(_passage_meta(q, gen))
            copied = article.model_copy(update={"id": aid})
            centroid = vecs.mean(axis=0)
            records["ids"].append(aid)
            records["embeddings"].append(centroid / (np.linalg.norm(centroid) or 1.0))
            records["documents"].append(article.raw)
            records["metadatas"].append(
                {
                    "title": article.title, "url": "", "published": "", "source": source_key(""),
                    "content_hash": store.content_hash(copied), "text_sha": text_sha(article.text) + str(copy),
                    "passages": len(passages), "ingested_at": time.time(), "gen": gen, **_date_meta(""),
                }
            )
            done += len(passages)
            articles += 1
            if len(batch["ids"]) >= 2000:
                flush()
        copy += 1
    flush()
    store.mark_changed()
    meta = {
        "passages": store.count(),
        "articles": articles,
        "build_seconds": round(time.perf_counter() - t0, 1),
        "base_passages": base["base_passages"],
        "base_embed_tokens_per_s": base["base_embed_tokens_per_s"],
    }
    marker.write_text(json.dumps(meta))
    return meta


def _rss_mb(field: str = "VmRSS", source: str = "status") -> float:
    """A memory figure of this process in MB: ``VmRSS``, its peak ``VmHWM``, ``RssFile`` (mapped
    files, e.g. the GGUF: counted once per mapping) from /proc/self/status; ``Pss`` (shared pages
    counted once, split between the processes mapping them) from ``source="smaps_rollup"``."""
    for line in Path(f"/proc/self/{source}").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


# Two real questions on the eval data the store holds: a yes/no one (BoolQ, the calibrated
# first-token choice) and an open one (free text from the chat model's own context).
MODEL_QUESTIONS = (
    "Can you pass the ball more than once in american football?",
    "Who did Aston Villa take on in the FA Cup semi-final?",
)


def load_chat_model(a) -> dict:
    """Load the chat model as the app does at start-up, answer MODEL_QUESTIONS; memory figures."""
    before = _rss_mb()
    t = time.perf_counter()
    a.warm_up()  # what app.py runs at start-up: embedder, lexicons, chat and fuse models, prompt prefill
    warm = time.perf_counter() - t
    t = time.perf_counter()
    answered = [a.ask(q).answered for q in MODEL_QUESTIONS]
    return {
        "reader_rss_mb_before_model": before,
        "model_preset": a.settings.llm.preset,
        "model_warm_up_s": round(warm, 1),
        "model_asks_s": round(time.perf_counter() - t, 1),
        "model_asks_answered": sum(answered),
        "reader_rss_mb_with_model": _rss_mb(),
        "reader_hwm_mb_with_model": _rss_mb("VmHWM"),
        "reader_rss_file_mb_with_model": _rss_mb("RssFile"),
        "reader_pss_mb_with_model": _rss_mb("Pss", "smaps_rollup"),
    }


def _pct(xs: list[float], q: float) -> float:
    from assistant.evaluate.metrics import percentile

    return round(percentile(xs, q), 1)


def _start(data_dir: Path, launched: float, host: str | None, port: int):
    """Start the app's read path as the web app does at its first request (no chat model)."""
    from assistant.service import Assistant
    from assistant.settings import ChromaSettings, Settings

    a = Assistant(Settings(data_dir=data_dir, chroma=ChromaSettings(host=host, port=port)))
    a.retriever.search(_queries()[0])
    first_search = time.time() - launched
    a.corpus_names()
    return a, {
        "first_search_s": round(first_search, 2),
        "with_spellings_s": round(time.time() - launched, 2),
        "bm25_built": a.retriever.rebuilds > 0,
    }


def cold_start(data_dir: Path, launched: float, host: str | None, port: int) -> None:
    """Start without the saved BM25 index and corpus names (the first start on a new data dir)."""
    for name in ("bm25-index.pkl", "corpus-names.json"):
        (data_dir / name).unlink(missing_ok=True)
    _, out = _start(data_dir, launched, host, port)
    out["rss_mb"] = _rss_mb()
    print(json.dumps(out), flush=True)  # the process then waits for the BM25 file to be written


def reader(
    data_dir: Path, n_queries: int, launched: float, host: str | None, port: int, with_model: bool = False
) -> None:
    """The app's read path in this process; prints JSON, waits for a line on stdin, times the catch-up."""
    from assistant.retrieve import LexicalIndex

    queries = _queries()
    a, started = _start(data_dir, launched, host, port)
    first_search, with_spellings = started["first_search_s"], started["with_spellings_s"]
    model = load_chat_model(a) if with_model else {}
    hybrid, lexical, dense = [], [], []
    retriever = a.retriever
    n = max(retriever.settings.candidates, retriever.settings.k)
    for i in range(n_queries):
        q = queries[(i + 1) % len(queries)]
        t = time.perf_counter()
        retriever.search(q, k=5)
        hybrid.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        index = retriever._lexical()
        scores = index.bm25.scores(q)
        np.argsort(-scores)[:n]
        lexical.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        a.store.query_many(a.embedder.embed([q]), n)
        dense.append((time.perf_counter() - t) * 1000)
    out = {
        "startup_to_first_search_s": first_search,
        "startup_with_spellings_s": with_spellings,
        "startup_loaded_saved_bm25": not started["bm25_built"],
        "hybrid_p50_ms": _pct(hybrid, 50),
        "hybrid_p95_ms": _pct(hybrid, 95),
        "bm25_p95_ms": _pct(lexical, 95),
        "dense_p95_ms": _pct(dense, 95),
        "reader_rss_mb": _rss_mb(),
        **model,
    }
    print(json.dumps(out), flush=True)
    sys.stdin.readline()  # another process has written one article
    rebuilds = retriever.rebuilds
    t = time.perf_counter()
    hits = retriever.search("Harbour authority fines the ferry operator over the Kalmar crossing", k=5)
    catch_up = time.perf_counter() - t
    a.store.wait_for_reload(600)  # the embedded store reloads its vector index in the background
    vectors_ready = time.perf_counter() - t
    dense_hit = any(
        h.passage.article_id == "scale-extra" and h.dense_rank is not None
        for h in retriever.search("Harbour authority fines the ferry operator over the Kalmar crossing", k=5)
    )
    t = time.perf_counter()
    a.corpus_names()
    names = time.perf_counter() - t
    serving = {"rss": _rss_mb(), "hwm": _rss_mb("VmHWM")}  # before the comparison's second BM25 index
    t = time.perf_counter()
    LexicalIndex.build(a.store.seq, a.store.all_passages())
    rebuild = time.perf_counter() - t
    print(
        json.dumps(
            {
                "catch_up_next_search_s": round(catch_up, 3),
                "catch_up_vector_index_s": round(vectors_ready, 3),
                "new_article_found_by_vector_after": dense_hit,
                "catch_up_spellings_s": round(names, 3),
                "catch_up_was_delta": retriever.rebuilds == rebuilds,
                "found_new_article": any(h.passage.article_id == "scale-extra" for h in hits),
                "full_bm25_rebuild_s_for_comparison": round(rebuild, 2),
                "reader_rss_mb_after_catch_up": serving["rss"],
                "reader_hwm_mb_after_catch_up": serving["hwm"],
                "reader_rss_mb_after": _rss_mb(),
                "reader_hwm_mb_after": _rss_mb("VmHWM"),
            }
        ),
        flush=True,
    )


EXTRA = (
    "Harbour authority fines ferry operator\n\n"
    "The harbour authority fined the operator of the Kalmar crossing on Tuesday after two ferries "
    "left port with faulty lifeboat davits, inspectors said. "
    "The operator said it would appeal and that the crossings had been safe throughout.\n\n"
    + "Passengers on the morning sailing were told of the delay only after boarding. " * 6
)


def writer(data_dir: Path, remove: bool, host: str | None, port: int) -> None:
    """Ingest (or remove) one article with the real embedder; prints the time it took."""
    from assistant.ingest import make_article
    from assistant.service import Assistant
    from assistant.settings import ChromaSettings, Settings

    a = Assistant(Settings(data_dir=data_dir, chroma=ChromaSettings(host=host, port=port)))
    if remove:
        a.store.remove("scale-extra")
        return
    a.embedder.embed(["warm up"])
    a.store.sync()
    t = time.perf_counter()
    a.store.put_article(make_article(EXTRA, "scale-extra"))
    print(json.dumps({"ingest_one_article_s": round(time.perf_counter() - t, 3)}), flush=True)


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eval.scale", *args], cwd=ROOT, capture_output=True, text=True, check=True, **kw)


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_scale(n_passages: int, queries: int, server: bool = False, with_model: bool = False) -> dict:
    """One size: build (or reuse) the store, then run a reader and a writer process against it.

    ``with_model``: the reader also loads the local chat model (``load_chat_model``)."""
    data_dir = BUILD / str(n_passages)
    meta = build_store(n_passages, data_dir)
    server_proc = None
    host_args: list[str] = []
    if server:
        from tests.conftest import free_port

        port = free_port()
        chroma = Path(sys.executable).parent / "chroma"
        server_proc = subprocess.Popen(
            [str(chroma), "run", "--path", str(data_dir / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_heartbeat(port)
        host_args = ["--host", "127.0.0.1", "--port", str(port)]
    try:
        launched = time.time()
        cold = json.loads(
            _run(["cold", str(data_dir), "0", str(launched), *host_args]).stdout.strip().splitlines()[-1]
        )
        launched = time.time()
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "eval.scale", "reader", str(data_dir), str(queries), str(launched),
                *(["--with-model"] if with_model else []), *host_args,
            ],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        result: dict = {"passages": meta["passages"], "articles": meta["articles"], "chroma": "server" if server else "embedded"}
        result.update({f"cold_startup_{k}": v for k, v in cold.items()})
        result.update(json.loads(proc.stdout.readline()))
        result.update(json.loads(_run(["writer", str(data_dir), *host_args]).stdout.strip().splitlines()[-1]))
        proc.stdin.write("go\n")
        proc.stdin.flush()
        result.update(json.loads(proc.stdout.readline()))
        proc.wait(timeout=600)
        _run(["writer", str(data_dir), "--remove", *host_args])
    finally:
        if server_proc is not None:
            server_proc.terminate()
            server_proc.wait(timeout=60)
    result.update(
        disk_mb=round(_du(data_dir) / 2**20, 1),
        store_build_s=meta["build_seconds"],
        vectors=f"stand-in: {meta['base_passages']} real MiniLM vectors + noise sigma {NOISE}",
        load_avg=os.getloadavg()[0],
    )
    return result


def _wait_heartbeat(port: int) -> None:
    import urllib.request

    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError("chroma run did not start") from None
            time.sleep(0.3)


def parse_worker_args(argv: list[str]) -> tuple[list[str], str | None, int, bool]:
    """A worker's positional arguments, then ``--host H --port P`` and ``--with-model`` if given."""
    with_model = "--with-model" in argv
    argv = [a for a in argv if a != "--with-model"]
    host, port = None, 8000
    if "--host" in argv:
        i = argv.index("--host")
        if argv[i + 2 : i + 3] != ["--port"] or len(argv) < i + 4:
            raise SystemExit("usage: ... --host HOST --port PORT")
        host, port = argv[i + 1], int(argv[i + 3])
        argv = argv[:i]
    return argv, host, port, with_model


def main(argv: list[str] | None = None) -> None:
    """Worker processes started by ``bench_scale`` (cold, reader, writer)."""
    argv, host, port, with_model = parse_worker_args(sys.argv[1:] if argv is None else argv)
    if argv[0] == "cold":
        cold_start(Path(argv[1]), float(argv[3]), host, port)
    elif argv[0] == "reader":
        reader(Path(argv[1]), int(argv[2]), float(argv[3]), host, port, with_model=with_model)
    elif argv[0] == "writer":
        writer(Path(argv[1]), "--remove" in argv, host, port)


if __name__ == "__main__":
    main()
