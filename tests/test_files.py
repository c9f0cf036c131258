"""Files replaced whole (assistant/files.py), the one way the app rewrites its JSON, YAML, pickle and model files."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from assistant.files import replace_bytes, replace_text, replacing


def test_a_file_is_replaced_whole_with_the_mode_open_gives(tmp_path):
    path = tmp_path / "deep" / "book.yaml"  # the folder is made
    replace_text(path, "old: 1\n")
    replace_text(path, "new: ü\n", durable=True)
    assert path.read_text(encoding="utf-8") == "new: ü\n"
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)  # not mkstemp's 0600
    replace_bytes(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert os.listdir(path.parent) == ["book.yaml"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    path = tmp_path / "index.pkl"
    replace_bytes(path, b"old")
    with pytest.raises(ValueError), replacing(path, binary=True) as fh:
        fh.write(b"half of the new")
        raise ValueError("digest mismatch")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["index.pkl"]


def test_writers_in_threads_never_leave_a_mixed_file(tmp_path):
    path = tmp_path / "job.json"
    texts = [str(i) * 50_000 for i in range(8)]
    threads = [threading.Thread(target=replace_text, args=(path, t)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_text() in texts and os.listdir(tmp_path) == ["job.json"]
