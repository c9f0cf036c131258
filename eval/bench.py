"""Benchmarks that print figures: `python -m eval.bench ingest` (more subcommands join as features land)."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "eval-data" / "summaries-cnndm-dev.jsonl"


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_ingest(n_articles: int, search_passages: int, queries: int) -> dict:
    """Ingest real CNN/DM articles with MiniLM into Chroma; then search at ``search_passages`` passages."""
    from assistant.embed import MiniLMEmbedder
    from assistant.ingest import make_article
    from assistant.service import Assistant
    from assistant.settings import Settings

    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    articles = []
    for n in range(n_articles):
        row = rows[n % len(rows)]
        copy = n // len(rows)
        # Copies get their own id and a distinct first line so nothing is deduplicated.
        articles.append(make_article(f"Copy {copy} of {row['id']}\n\n{row['article']}", f"{row['id']}-{copy}"))

    class TimedEmbedder(MiniLMEmbedder):
        seconds = 0.0
        texts = 0

        def embed(self, texts):
            t0 = time.perf_counter()
            out = super().embed(texts)
            TimedEmbedder.seconds += time.perf_counter() - t0
            TimedEmbedder.texts += len(texts)
            return out

    embedder = TimedEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(Settings(data_dir=Path(tmp)), embedder=embedder)
        store = assistant.store
        t0 = time.perf_counter()
        tiktoken_tokens = 0
        for article in articles:
            _, passages = store.upsert_article(article)
            tiktoken_tokens += sum(p.tokens for p in passages)
        total = time.perf_counter() - t0
        n_passages = store.count()
        result = {
            "articles": len(articles),
            "passages": n_passages,
            "tiktoken_tokens": tiktoken_tokens,
            "minilm_tokens": embedder.tokens_seen,
            "embed_seconds": round(embedder.seconds, 2),
            "embed_tokens_per_s": round(embedder.tokens_seen / embedder.seconds),
            "embed_passages_per_s": round(TimedEmbedder.texts / embedder.seconds, 1),
            "ingest_seconds": round(total, 2),
            "ingest_tokens_per_s": round(tiktoken_tokens / total),
            "ingest_passages_per_s": round(n_passages / total, 1),
        }

        # Fill the store to the search size by replicating stored passages with jittered vectors:
        # embedding 10,000 passages for real takes ~10 minutes here and measures nothing new.
        got = store.passages.get(include=["embeddings", "documents", "metadatas"])
        base_vecs = np.asarray(got["embeddings"], dtype=np.float32)
        rng = np.random.default_rng(0)
        added, copy = n_passages, 0
        while added < search_passages:
            copy += 1
            take = min(len(got["ids"]), search_passages - added)
            vecs = base_vecs[:take] + rng.normal(0, 0.02, size=(take, base_vecs.shape[1])).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            metas = [dict(m, article_id=f"{m['article_id']}-r{copy}") for m in got["metadatas"][:take]]
            for s in range(0, take, 1000):
                store.passages.add(
                    ids=[f"{i}-r{copy}" for i in got["ids"][s : s + 1000][: take - s]],
                    embeddings=vecs[s : s + 1000],
                    documents=[f"{d} (r{copy})" for d in got["documents"][s : s + 1000][: take - s]],
                    metadatas=metas[s : s + 1000],
                )
            added += take
        store.revision += 1
        retriever = assistant.retriever
        query_texts = [r["reference"].split("\n")[0][:200] for r in rows]
        retriever.search(query_texts[0])  # builds the BM25 index once, as a long-running app does
        latencies = []
        for i in range(queries):
            t = time.perf_counter()
            retriever.search(query_texts[i % len(query_texts)], k=5)
            latencies.append((time.perf_counter() - t) * 1000)
        result.update(
            search_passages=store.count(),
            search_queries=queries,
            search_p50_ms=round(statistics.median(latencies), 1),
            search_p95_ms=round(_percentile(latencies, 95), 1),
        )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.bench", description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    ing = sub.add_parser("ingest", help="embedding and ingest throughput, search latency")
    ing.add_argument("--articles", type=int, default=300)
    ing.add_argument("--search-passages", type=int, default=10_000)
    ing.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    if args.what == "ingest":
        result = bench_ingest(args.articles, args.search_passages, args.queries)
    for key, value in result.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
