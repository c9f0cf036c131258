"""The brief eval task on fakes: citation validity, support, dates in order, the date range; record then replay."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from assistant.embed import HashingEmbedder
from assistant.errors import ReplayMissError
from assistant.evaluate.run import run_suite
from assistant.testing import FakeChatModel

DATA = Path(__file__).parent / "data"


def _suite(tmp_path: Path) -> Path:
    suite = {
        "name": "tiny-brief",
        "root": str(DATA),
        "cache_dir": str(tmp_path / "cache"),
        "datasets": {
            "story": {"path": "dated-story.jsonl", "fields": {"article": "text"}},
            "queries": {"path": "dated-story-briefs.jsonl"},
        },
        "tasks": {"brief": {"dataset": "queries", "corpus": "story"}},
        "gates": ["brief.citation_validity >= 1.0", "brief.dates_in_order >= 1.0", "brief.in_range >= 1.0"],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def test_brief_task_scores_and_replays(tmp_path: Path):
    # The same reply to every prompt (a deterministic model: equal prompts, equal replies, as the
    # replay cache assumes); its made-up line fails its check, and so does line [1] where sentence
    # [1] is another story's.
    reply = "[1] Kessbrook council closed the Marlow footbridge to pedestrians on Monday.\n[2] The bridge will reopen in 2031."
    chat = FakeChatModel().enqueue(*[reply] * 6)
    result = run_suite(_suite(tmp_path), tmp_path / "out", chat=chat, embedder=HashingEmbedder(), cache="record", progress=False)
    m = result.metrics.brief
    assert m.n == 3 and m.lines > 0
    assert m.citation_validity == 1.0 and m.dates_in_order == 1.0 and m.dated_lines == 1.0 and m.in_range == 1.0
    assert 0 < m.replaced_rate < 1 and m.support_rate == 1.0  # what failed shows the article's sentence
    assert all(g.passed for g in result.gates)
    items = {i.id: i for i in result.items}
    since = items["marlow-cost-since"].output
    assert all(s.published >= "2025-03-10" for s in since.sources)
    until = items["kess-ferry-until"].output
    assert all(s.published[:10] <= "2025-06-30" for s in until.sources)
    # replayed from the cache: the same briefs without a model
    again = run_suite(_suite(tmp_path), tmp_path / "out2", chat=FakeChatModel(), embedder=HashingEmbedder(), cache="replay", progress=False)
    assert again.metrics.brief == m
    # a brief whose prompt was never recorded is a replay miss, named
    other = yaml.safe_load(_suite(tmp_path).read_text())
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"id": "new", "query": "contractor for the Marlow footbridge", "since": "2025-06-01"}\n')
    other["datasets"]["queries"]["path"] = str(extra)
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(other))
    with pytest.raises(ReplayMissError, match="brief item new"):
        run_suite(path, tmp_path / "out3", chat=FakeChatModel(), embedder=HashingEmbedder(), cache="replay", progress=False)
