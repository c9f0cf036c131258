"""The real MiniLM embedder, both graphs: batching changes speed, never the vectors; the
dynamic-int8 graph (the default) is built from the wheel's and gives nearly its vectors."""

from __future__ import annotations

import hashlib

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


@pytest.fixture(scope="module")
def shipped() -> MiniLMEmbedder:
    return MiniLMEmbedder(graph="int8-weights")


def test_default_reads_one_text_a_pass_and_padding_in_batches_changes_nothing(shipped) -> None:
    # One text a pass is the default: no padding, 13-18% more tokens/s than batches of 8 here
    # (python -m eval.bench ingest, back to back). Batches of the float graph give the same vectors.
    assert shipped.batch_size == 1
    single = shipped.embed(TEXTS)
    batched = MiniLMEmbedder(batch_size=8, graph="int8-weights").embed(TEXTS)
    assert single.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(single, axis=1), 1.0, atol=1e-5)
    assert np.allclose(single, batched, atol=1e-4)
    # and the order of the input is kept (texts are sorted by length inside)
    assert np.allclose(shipped.embed(TEXTS[::-1]), single[::-1], atol=1e-6)


def test_dynamic_int8_is_the_default_one_text_a_pass_and_close_to_the_shipped_graph(one_at_a_time, shipped) -> None:
    from assistant.embed import DYNINT8_SHA256, GRAPHS, dynamic_int8_path

    assert one_at_a_time.graph == "dynamic-int8" and one_at_a_time.name == GRAPHS["dynamic-int8"] != shipped.name
    path = dynamic_int8_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == DYNINT8_SHA256
    # activations are quantized per call, so a text's vector must not depend on the texts beside it
    with pytest.raises(ValueError, match="one text a pass"):
        MiniLMEmbedder(batch_size=8)
    vectors = one_at_a_time.embed(TEXTS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(one_at_a_time.embed(TEXTS[::-1]), vectors[::-1], atol=1e-6)
    assert np.allclose(one_at_a_time.embed(TEXTS[:1]), vectors[:1], atol=1e-6)
    cosine = (vectors * shipped.embed(TEXTS)).sum(axis=1)
    assert cosine.min() > 0.98, cosine  # 0.995 on average over 457 BoolQ passages (README)


def test_the_graph_is_built_from_the_wheel_when_missing_and_checked(tmp_path) -> None:
    from assistant.embed import DYNINT8_SHA256, build_dynamic_int8

    built = build_dynamic_int8(tmp_path)
    assert built.parent == tmp_path and hashlib.sha256(built.read_bytes()).hexdigest() == DYNINT8_SHA256
    assert [p.name for p in tmp_path.iterdir()] == [built.name]  # no build leftovers
    built.write_bytes(b"damaged")  # a damaged file is rebuilt, never loaded
    assert hashlib.sha256(build_dynamic_int8(tmp_path).read_bytes()).hexdigest() == DYNINT8_SHA256


def test_similar_texts_are_closer_than_unrelated_ones(one_at_a_time) -> None:
    a, b, c = one_at_a_time.embed(
        ["The council rejected the harbour budget.", "Councillors voted down the port budget.", "Rain."]
    )
    assert a @ b > a @ c + 0.2


def test_a_store_keeps_the_graph_it_was_built_with(tmp_path, shipped, caplog) -> None:
    # An archive embedded with the shipped graph (before dynamic-int8 was the default) opens with
    # that graph: its vectors are only comparable with it. A new store gets the configured graph.
    from assistant.embed import HashingEmbedder
    from assistant.errors import StoreError
    from assistant.service import Assistant
    from assistant.settings import Settings
    from assistant.store import Store

    old = Settings(data_dir=tmp_path / "old")
    doc = tmp_path / "budget.txt"
    doc.write_text("Budget vote\n\nThe Tolland council rejected the harbour budget on Tuesday by 9 votes to 6.\n")
    assert not Assistant(old, embedder=shipped).ingest([doc]).failed

    # configured graph: dynamic-int8, in a model dir where it was never built (nor can be: the
    # store's own graph is all that is loaded, so opening an old archive never needs the new one)
    no_models = tmp_path / "no-models"
    later = Assistant(old.model_copy(update={"model_dir": no_models}))
    with caplog.at_level("WARNING", logger="assistant.store"):
        assert later.store.embedder.graph == "int8-weights"
    assert "keeps it" in caplog.text
    assert later.embedder is later.store.embedder and later.retriever.embedder is later.store.embedder
    hits = later.retriever.search("harbour budget vote", k=1)
    assert hits and "Tolland" in hits[0].passage.text
    assert not no_models.exists()

    # an embedder given explicitly is used as given: the other graph's is refused, not replaced
    with pytest.raises(StoreError, match="was built with embedder"):
        _ = Assistant(old, embedder=MiniLMEmbedder(graph="dynamic-int8")).store

    fresh = Assistant(Settings(data_dir=tmp_path / "new"))
    assert fresh.store.embedder.graph == "dynamic-int8"
    # another embedder altogether is still refused: nothing is mixed into the collection
    with pytest.raises(StoreError, match="was built with embedder"):
        Store(Settings(data_dir=tmp_path / "old"), HashingEmbedder())


@pytest.mark.parametrize("graph", ["dynamic-int8", "int8-weights"])
def test_texts_embedded_side_by_side_get_the_vectors_of_one_lane(graph) -> None:
    """``embed`` runs texts in parallel lanes, one core a pass: the vectors are those of one lane
    bit for bit (whatever the lane count, in the input's order), and every token is counted."""
    texts = TEXTS * 3 + ["A short one.", "Zelenskyy and Witkoff met in Kyiv."]
    one = MiniLMEmbedder(graph=graph, threads=1)
    lanes = MiniLMEmbedder(graph=graph, threads=3)
    expected = one.embed(texts)
    assert np.array_equal(lanes.embed(texts), expected)
    assert np.array_equal(lanes.embed(texts[::-1]), expected[::-1])
    assert lanes.tokens_seen == 2 * one.tokens_seen > 0
    assert np.array_equal(lanes.embed(texts[:1]), expected[:1])  # one text: no helper thread
