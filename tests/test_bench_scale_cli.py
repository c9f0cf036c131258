"""`python -m eval.bench scale` options and the scale bench's worker arguments (no store, no model)."""

from __future__ import annotations

import pytest

import eval.scale
from eval.bench import main
from eval.scale import parse_worker_args


@pytest.fixture()
def calls(monkeypatch) -> list[tuple]:
    got: list[tuple] = []

    def fake_bench_scale(n, queries, server=False, with_model=False) -> dict:
        got.append((n, queries, server, with_model))
        return {"passages": n}

    monkeypatch.setattr(eval.scale, "bench_scale", fake_bench_scale)
    return got


def test_scale_loads_no_chat_model_by_default(calls, capsys) -> None:
    main(["scale", "--passages", "100", "200"])
    assert calls == [(100, 200, False, False), (200, 200, False, False)]
    assert capsys.readouterr().out.splitlines() == ['{"passages": 100}', '{"passages": 200}']


def test_with_model_reaches_the_bench(calls) -> None:
    main(["scale", "--passages", "100000", "--with-model", "--queries", "20"])
    assert calls == [(100000, 20, False, True)]


def test_worker_arguments_with_model_and_server() -> None:
    argv = ["reader", "/d", "200", "1.5", "--with-model", "--host", "127.0.0.1", "--port", "8123"]
    assert parse_worker_args(argv) == (["reader", "/d", "200", "1.5"], "127.0.0.1", 8123, True)
    assert parse_worker_args(["writer", "/d", "--remove"]) == (
        ["writer", "/d", "--remove"],
        None,
        8000,
        False,
    )
    with pytest.raises(SystemExit):
        parse_worker_args(["reader", "/d", "200", "1.5", "--host", "127.0.0.1"])
