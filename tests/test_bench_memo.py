"""The check bench's vector memo: it spares re-embedding the corpus copies, never the timed checks."""

from __future__ import annotations

from assistant.embed import HashingEmbedder
from eval.bench import MemoEmbedder


class Counting(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed(self, texts):
        self.seen.extend(texts)
        return super().embed(texts)


def test_memo_serves_repeats_until_forgotten_then_every_text_is_embedded():
    inner = Counting()
    memo = MemoEmbedder(inner)
    first = memo.embed(["a passage", "a passage", "another"])
    assert inner.seen == ["a passage", "another"]
    assert (memo.embed(["another"])[0] == first[2]).all() and inner.seen == ["a passage", "another"]
    memo.forget()  # what bench_check does before it times the checks
    memo.embed(["a claim", "a claim"])
    memo.embed(["a claim"])
    assert inner.seen[2:] == ["a claim", "a claim", "a claim"]
