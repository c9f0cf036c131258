"""The real MiniLM embedder (int8 ONNX from its wheel): batching changes speed, never the vectors."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.embed import MiniLMEmbedder

TEXTS = [
    "Ukraine's president Volodymyr Zelenskyy met the envoy in Kyiv on Tuesday.",
    "Rain.",
    "The Tolland council rejected the 12 million euro harbour budget on Tuesday by 9 votes to 6, "
    "and the mayor said the ferry terminal would be redesigned before the next vote in March. " * 3,
    "Aston Villa play Arsenal in the FA Cup semi-final at Wembley.",
]


@pytest.fixture(scope="module")
def one_at_a_time() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_default_reads_one_text_a_pass_and_padding_in_batches_changes_nothing(one_at_a_time) -> None:
    # One text a pass is the default: no padding, 13-18% more tokens/s than batches of 8 here
    # (python -m eval.bench ingest, back to back). Batches must give the same vectors.
    assert one_at_a_time.batch_size == 1
    single = one_at_a_time.embed(TEXTS)
    batched = MiniLMEmbedder(batch_size=8).embed(TEXTS)
    assert single.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(single, axis=1), 1.0, atol=1e-5)
    assert np.allclose(single, batched, atol=1e-4)
    # and the order of the input is kept (texts are sorted by length inside)
    assert np.allclose(one_at_a_time.embed(TEXTS[::-1]), single[::-1], atol=1e-6)


def test_similar_texts_are_closer_than_unrelated_ones(one_at_a_time) -> None:
    a, b, c = one_at_a_time.embed(
        ["The council rejected the harbour budget.", "Councillors voted down the port budget.", "Rain."]
    )
    assert a @ b > a @ c + 0.2
