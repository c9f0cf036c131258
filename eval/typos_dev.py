"""Score the name/typo checker on typos-dev (recall, precision, false alarms per clean article)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from assistant.evaluate.datasets import read_jsonl
from assistant.evaluate.metrics import is_typo_hit, typo_metrics
from assistant.evaluate.tasks.typos import leave_one_out
from assistant.settings import Settings
from assistant.typos import CorpusNames, find_typos, parse, warm_up

DEFAULT_DATA = Settings().eval_data_dir / "typos-dev.jsonl"


def run(path: Path = DEFAULT_DATA, use_corpus: bool = True, verbose: bool = False) -> dict:
    """Check every row (corpus = the other dev articles) and return the metrics plus timing."""
    rows = read_jsonl(path)
    times: list[float] = []
    corpus = "leave-one-out" if use_corpus else "none"
    flags_per_row = list(leave_one_out([r["text"] for r in rows], corpus, times))
    if verbose:
        for row, flags in zip(rows, flags_per_row):
            _show(row, flags)
    metrics = typo_metrics(rows, flags_per_row)
    metrics["ms_per_article"] = sum(times) / max(1, len(rows))
    metrics["corpus"] = "the other dev articles (leave-one-out)" if use_corpus else "none"
    return metrics


def bench(n_articles: int = 1000, repeats: int = 5) -> dict:
    """Time find_typos on the longest dev article with a corpus of ``n_articles`` articles."""
    import random

    rows = read_jsonl(DEFAULT_DATA)
    texts = [r["text"] for r in rows]
    frank = DEFAULT_DATA.parent / "consistency-frank-dev.jsonl"
    if frank.exists():
        texts += list({r["article"]: None for r in read_jsonl(frank)})
    rng = random.Random(0)
    # The eval files hold under 200 distinct articles; the rest of the corpus is their text
    # with invented names mixed in, so the name index is as large as a real corpus's.
    pool = [
        "".join(rng.choice("aeioulnrstkmdbg") for _ in range(rng.randint(4, 10))).capitalize()
        for _ in range(30_000)
    ]
    corpus_texts = list(texts)
    while len(corpus_texts) < n_articles:
        words = rng.choice(texts).split()
        for k in range(0, len(words), 12):
            words[k] = rng.choice(pool)
        corpus_texts.append(" ".join(words))
    t0 = time.perf_counter()
    corpus = CorpusNames.from_texts(corpus_texts[:n_articles])
    build = time.perf_counter() - t0
    article = max((r["text"] for r in rows if not r.get("typo")), key=lambda t: len(t.split()))
    warm_up()
    find_typos(article, corpus=corpus)  # builds the corpus name index once
    times, parse_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        find_typos(article, corpus=corpus)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        parse(article)
        parse_times.append(time.perf_counter() - t0)
    return {
        "articles": n_articles,
        "names": len(corpus),
        "words": len(article.split()),
        "corpus_build_s": build,
        "median_ms": 1000 * sorted(times)[len(times) // 2],
        "spacy_ms": 1000 * sorted(parse_times)[len(parse_times) // 2],
    }


def _show(row: dict, flags: list) -> None:
    label = f"{row['typo']}->{row['correct']}" if row.get("typo") else "clean"
    print(f"--- {row['id'][:8]} {label}")
    for f in flags:
        hit = row.get("typo") and is_typo_hit(f, row["offset"], row["correct"])
        mark = "HIT " if hit else ("--  " if row.get("typo") else "FA  ")
        print(f"  {mark}{f.kind:7} {f.text!r} -> {f.suggestion!r} [{f.score}] {f.reason}")


def main() -> None:
    """Command-line entry: ``python -m eval.typos_dev [--no-corpus] [-v]``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--no-corpus", action="store_true", help="check each article alone")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every flag")
    parser.add_argument("--bench", action="store_true", help="also time a 1,000-article corpus")
    args = parser.parse_args()
    m = run(args.data, use_corpus=not args.no_corpus, verbose=args.verbose)
    print(f"typos-dev: {args.data}")
    print(f"corpus signal: {m['corpus']}")
    print(f"n = {m['n']} ({m['n_typo']} with a typo, {m['n_clean']} clean)")
    print(f"recall = {m['recall']:.3f} ({m['detected']}/{m['n_typo']})")
    print(f"precision = {m['precision']:.3f} ({m['detected']} of {m['flags']} flags)")
    print(
        f"false alarms per clean article = {m['false_alarms_per_clean_doc']:.2f} "
        f"({m['false_alarms_clean']} in {m['n_clean']})"
    )
    print(f"time per article = {m['ms_per_article']:.0f} ms (models loaded, corpus built)")
    print("floor (README): recall 0.78, 0.44 false alarms per clean article")
    if m["missed"]:
        print("missed:", ", ".join(x[:8] for x in m["missed"]))
    if args.bench:
        b = bench()
        print(
            f"bench: {b['words']}-word article, corpus of {b['articles']} articles "
            f"({b['names']} distinct capitalised words, built in {b['corpus_build_s']:.1f} s): "
            f"{b['median_ms']:.0f} ms per check (median), of which spaCy sm ~{b['spacy_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
