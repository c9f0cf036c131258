"""`python -m eval.probe_states extract|cv`: a probe on the 1.5B model's hidden states as a support signal.

Research tooling for issue 17 (never imported by the product). ``extract`` reads each labelled
pair in the support judge prompt (``prompts/support_judge.yaml``: the evidence window, the
statement, the yes/no question; the same window the support scorer reads) and keeps the residual
stream (llama.cpp's ``l_out-N`` tensors, seen through the ``cb_eval`` callback) at the prompt's
last token for a few layers. Pairs about one source share its KV prefix, so the source is read
once. ``cv`` fits a logistic probe (standardised, PCA-reduced) per layer and reports grouped
5-fold and leave-one-domain-out ROC AUC beside the packaged scorer's features on the same pairs.

    python -m eval.probe_states extract --out /tmp/states.npz          # SummEdits fit pairs + FRANK dev
    python -m eval.probe_states cv /tmp/states.npz
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time
from pathlib import Path

import numpy as np

from assistant.llm_llama import fill_batch
from assistant.settings import Settings
from assistant.support.data import by_source, load_pairs
from assistant.support.scorer import source_window

LAYERS = (7, 14, 20, 27)


class HiddenStates:
    """A llama.cpp context on the loaded weights that keeps each wanted layer's last-token state."""

    def __init__(self, llama, n_ctx: int, n_threads: int, layers=LAYERS) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaContext

        lib_dir = Path(llama_cpp.__file__).parent / "lib"
        self.ggml = ctypes.CDLL(str(lib_dir / "libggml-base.so"))
        self.ggml.ggml_get_name.restype = ctypes.c_char_p
        self.ggml.ggml_get_name.argtypes = [ctypes.c_void_p]
        self.ggml.ggml_get_data_f32.restype = ctypes.POINTER(ctypes.c_float)
        self.ggml.ggml_get_data_f32.argtypes = [ctypes.c_void_p]
        self.names = {f"l_out-{n}".encode(): n for n in layers}
        self.states: dict[int, np.ndarray] = {}

        def callback(t, ask, _ud):
            name = self.ggml.ggml_get_name(t)
            if name not in self.names:
                return False
            if ask:
                return True
            ne = ctypes.cast(t + 16, ctypes.POINTER(ctypes.c_int64))  # ggml_tensor: type, buffer, ne[4]
            dim, rows = int(ne[0]), int(ne[1])
            data = self.ggml.ggml_get_data_f32(t)
            last = np.ctypeslib.as_array(data, shape=(rows * dim,))[(rows - 1) * dim : rows * dim]
            self.states[self.names[name]] = last.astype(np.float32).copy()
            return True

        self._cb = llama_cpp.ggml_backend_sched_eval_callback(callback)  # kept alive with the context
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = params.n_ubatch = 512
        params.n_threads = params.n_threads_batch = n_threads
        params.flash_attn_type = 0
        params.cb_eval = self._cb
        params.cb_eval_user_data = None
        self.lib = llama_cpp
        self.ctx = LlamaContext(model=llama._model, params=params, verbose=False)
        self.batch = llama_cpp.llama_batch_init(512, 0, 1)
        self.tokens: list[int] = []

    def read(self, tokens: list[int]) -> dict[int, np.ndarray]:
        """The wanted layers' states at the last token of ``tokens`` (the shared prefix is kept)."""
        lcp = 0
        for a, b in zip(self.tokens, tokens):
            if a != b:
                break
            lcp += 1
        lcp = min(lcp, len(tokens) - 1)  # the last token is always read again
        lib = self.lib
        lib.llama_memory_seq_rm(lib.llama_get_memory(self.ctx.ctx), 0, lcp, -1)
        self.tokens = tokens[:lcp]
        for chunk in range(lcp, len(tokens), 512):
            part = tokens[chunk : chunk + 512]
            self.states = {}
            if lib.llama_decode(self.ctx.ctx, fill_batch(self.batch, part, chunk, {len(tokens) - 1})) != 0:
                raise RuntimeError("llama_decode failed")
            self.tokens.extend(part)
        return dict(self.states)


def _recorded(pairs):
    """The pairs whose token scores are in eval/cache, with the packaged scorer's features."""
    from assistant.llm import get_chat_model
    from eval.support import CACHE
    from eval.support_fit import score_features

    model = get_chat_model(Settings(), cache="replay", cache_dir=CACHE)
    return score_features(pairs, model, skip_missing=True)


def extract(out: Path, limit: int | None, recorded_only: bool = True, every_source: int = 1) -> None:
    from assistant.llm_llama import LlamaScorer, default_threads, load_llama
    from assistant.llm_scores import JUDGE_PROMPT
    from assistant.models import require_gguf

    settings = Settings()
    path = require_gguf(settings.llm.preset, settings.model_dir)
    llama, _ = load_llama(path, 4096, default_threads())
    scorer = LlamaScorer(path)
    states = HiddenStates(llama, 4096, default_threads())
    data = settings.eval_data_dir
    pairs = load_pairs(data / "consistency-summedits-dev.jsonl", split="evaluation") + load_pairs(
        data / "consistency-frank-dev.jsonl"
    )
    if recorded_only:  # the pairs the packaged weights were fitted on: their token scores are recorded
        pairs = [r.pair for r in _recorded(pairs)]
    if every_source > 1:  # a fixed subset of whole sources (every domain keeps some)
        keep = sorted({p.group for p in pairs})[::every_source]
        pairs = [p for p in pairs if p.group in set(keep)]
    pairs = by_source(pairs)[:limit] if limit else by_source(pairs)
    rows: dict[int, list[np.ndarray]] = {n: [] for n in LAYERS}
    meta = []
    started = time.perf_counter()
    for i, pair in enumerate(pairs):
        window = source_window(pair.source, [pair.text])
        tokens = scorer._prompt(llama, JUDGE_PROMPT, source=window, statement=pair.text)
        got = states.read(tokens)
        for n in LAYERS:
            rows[n].append(got[n])
        meta.append({"id": pair.id, "label": pair.label, "domain": pair.domain, "group": pair.group, "split": pair.split})
        if (i + 1) % 25 == 0:
            print(f"{i + 1}/{len(pairs)} pairs, {time.perf_counter() - started:.0f} s", flush=True)
    np.savez_compressed(out, meta=json.dumps(meta), **{f"l{n}": np.stack(v) for n, v in rows.items()})
    print(f"wrote {out}: {len(meta)} pairs, layers {LAYERS}, {time.perf_counter() - started:.0f} s")


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from assistant.stats import roc_auc

    return float(roc_auc(list(y), list(p)))


def _probe_oof(x: np.ndarray, y: np.ndarray, folds: np.ndarray, dims: int, l2: float) -> np.ndarray:
    """Out-of-fold probabilities of a standardised, PCA-reduced logistic probe."""
    out = np.zeros(len(y))
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
        z_tr, z_te = (x[tr] - mu) / sd, (x[te] - mu) / sd
        _, _, vt = np.linalg.svd(z_tr - z_tr.mean(0), full_matrices=False)
        basis = vt[:dims].T
        a_tr, a_te = z_tr @ basis, z_te @ basis
        s = a_tr.std(0) + 1e-6
        a_tr, a_te = a_tr / s, a_te / s
        w = np.zeros(dims + 1)
        pos = y[tr].mean()
        cw = np.where(y[tr] == 1, 0.5 / pos, 0.5 / (1 - pos))  # balanced classes
        xa = np.hstack([a_tr, np.ones((len(a_tr), 1))])
        for _ in range(300):  # Newton steps on L2-penalised weighted log-loss
            p = 1 / (1 + np.exp(-(xa @ w)))
            g = xa.T @ (cw * (p - y[tr])) + l2 * np.r_[w[:-1], 0]
            h = (xa * (cw * p * (1 - p))[:, None]).T @ xa + l2 * np.diag(np.r_[np.ones(dims), 0])
            step = np.linalg.solve(h, g)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        out[te] = 1 / (1 + np.exp(-(np.hstack([a_te, np.ones((len(a_te), 1))]) @ w)))
    return out


def _baseline(meta, y, grouped, lodo, summedits) -> None:
    """The packaged scorer's features (recorded token scores) with the same probe fitting, same folds."""
    from assistant.support.scorer import load_calibration

    data = Settings().eval_data_dir
    pairs = load_pairs(data / "consistency-summedits-dev.jsonl", split="evaluation") + load_pairs(
        data / "consistency-frank-dev.jsonl"
    )
    by_id = {r.pair.id: r.features for r in _recorded(pairs)}
    names = load_calibration("local/qwen2.5-coder-1.5b-instruct-q4_k_m").features
    if not all(m["id"] in by_id for m in meta):
        print("baseline: some pairs have no recorded scores")
        return
    x = np.array([[by_id[m["id"]][f] for f in names] for m in meta])
    res = {}
    for name, folds in (("grouped5", grouped), ("lodo", lodo)):
        p = _probe_oof(x, y, folds, len(names), l2=1.0)
        res[name] = round(_auc(y, p), 3)
        res[name + "_summedits"] = round(_auc(y[summedits], p[summedits]), 3)
    print(json.dumps({"layer": "packaged features", "features": names, **res}))
    return x


def cv(path: Path) -> None:
    got = np.load(path)
    meta = json.loads(str(got["meta"]))
    y = np.array([m["label"] for m in meta], dtype=float)
    domains = sorted({m["domain"] for m in meta})
    lodo = np.array([domains.index(m["domain"]) for m in meta])
    groups = sorted({m["group"] for m in meta})
    rng = np.random.default_rng(0)
    rng.shuffle(groups)
    fold_of = {g: i % 5 for i, g in enumerate(groups)}
    grouped = np.array([fold_of[m["group"]] for m in meta])
    summedits = np.array([m["split"] == "evaluation" for m in meta])
    print(f"{len(y)} pairs ({summedits.sum()} SummEdits fit, {(~summedits).sum()} FRANK), domains {len(domains)}")
    _baseline(meta, y, grouped, lodo, summedits)
    for key in [k for k in got.files if k.startswith("l")]:
        x = got[key]
        for dims in (8, 16, 32, 64):
            res = {}
            for name, folds in (("grouped5", grouped), ("lodo", lodo)):
                p = _probe_oof(x, y, folds, dims, l2=1.0)
                res[name] = round(_auc(y, p), 3)
                res[name + "_summedits"] = round(_auc(y[summedits], p[summedits]), 3)
            print(json.dumps({"layer": key, "pca": dims, **res}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m eval.probe_states", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("extract")
    ex.add_argument("--out", type=Path, required=True)
    ex.add_argument("--limit", type=int)
    ex.add_argument("--every-source", type=int, default=1, help="keep every n-th source (sorted by hash) with all its pairs")
    ex.add_argument("--all-pairs", action="store_true", help="every fit pair, not only those with recorded token scores")
    c = sub.add_parser("cv")
    c.add_argument("states", type=Path)
    args = parser.parse_args(argv)
    if args.cmd == "extract":
        extract(args.out, args.limit, not args.all_pairs, args.every_source)
    else:
        cv(args.states)


if __name__ == "__main__":
    main()
