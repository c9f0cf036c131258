"""Large web uploads run as background jobs whose progress is saved in DATA_DIR/jobs (issue 21 item 6)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from assistant import ui
from assistant.jobs import JobBusyError, JobRunner
from assistant.service import Assistant
from assistant.settings import AppSettings
from tests.conftest import CountingEmbedder


def _records(path, n: int, start: int = 0):
    lines = [
        json.dumps({"id": f"r{i}", "title": f"Story {i}", "text": f"The ferry number {i} sailed on time from the harbour."})
        for i in range(start, start + n)
    ]
    path.write_text("\n".join(lines))
    return path


def _wait(runner: JobRunner, timeout: float = 60) -> None:
    assert runner.wait(timeout), "the job did not finish"


def test_a_job_records_progress_and_a_new_runner_reads_it_from_the_folder(tmp_path):
    runner = JobRunner(tmp_path / "jobs")
    step = threading.Event()
    go_on = threading.Event()

    def work(record, jobs):
        for _ in range(3):
            record.records_done += 1
            jobs.save(record, force=True)
        step.set()
        assert go_on.wait(30)
        record.records_done += 2
        return "5 stored"

    record = runner.start("ed", work, records_total=5, files_total=1)
    assert step.wait(30)
    # While it runs, a second job is refused and any runner over the folder sees the progress.
    with pytest.raises(JobBusyError) as busy:
        runner.start("ada", lambda r, j: "")
    assert busy.value.running.id == record.id
    seen = JobRunner(tmp_path / "jobs").latest()
    assert (seen.id, seen.state, seen.records_done, seen.records_total, seen.user) == (record.id, "running", 3, 5, "ed")
    go_on.set()
    _wait(runner)
    again = JobRunner(tmp_path / "jobs").get(record.id)
    assert (again.state, again.records_done, again.message) == ("finished", 5, "5 stored")
    assert again.updated_at >= again.started > 0
    # Finished: the next job may start, and it is the latest.
    second = runner.start("ada", lambda r, j: "done")
    _wait(runner)
    assert JobRunner(tmp_path / "jobs").latest().id == second.id


def test_a_failing_job_is_recorded_as_failed_with_its_reason(tmp_path):
    runner = JobRunner(tmp_path / "jobs")

    def work(record, jobs):
        record.records_done = 2
        raise OSError("disk full")

    record = runner.start("ed", work, records_total=4)
    _wait(runner)
    saved = JobRunner(tmp_path / "jobs").get(record.id)
    assert saved.state == "failed" and saved.records_done == 2 and "disk full" in saved.message
    text = ui.library.job_text(saved)
    assert "failed" in text and "disk full" in text and "2 of 4 articles" in text and "stay stored" in text


def test_a_running_job_of_a_stopped_process_reads_as_interrupted(tmp_path):
    folder = tmp_path / "jobs"
    folder.mkdir()
    now = time.time()

    def saved(job_id, **fields):
        record = {"id": job_id, "user": "ed", "state": "running", "records_done": 7, "records_total": 9,
                  "started": now, "updated_at": now, "host": socket.gethostname(), **fields}
        (folder / f"{job_id}.json").write_text(json.dumps(record))
        return JobRunner(folder).get(job_id)

    assert saved("a", pid=2**22 + 12345).state == "interrupted"  # no such process (above pid_max)
    assert saved("b", pid=os.getpid()).state == "interrupted"  # this process, but not a job it runs
    assert saved("c", pid=os.getppid()).state == "running"  # a live process of this host
    other = saved("d", host="replica-2", pid=1)
    assert other.state == "running" and other.records_done == 7  # another host, recent progress
    assert saved("e", host="replica-2", pid=1, updated_at=now - 3600).state == "interrupted"
    text = ui.library.job_text(saved("f", pid=2**22 + 1))
    assert "interrupted" in text and "7 of 9 articles" in text


def test_a_large_library_upload_returns_at_once_and_its_job_stores_every_record(settings, tmp_path):
    embedder = CountingEmbedder()
    slow = threading.Event()

    class Gated(CountingEmbedder):
        def embed(self, texts):
            assert slow.wait(30)  # the handler returns before any vector is made
            return embedder.embed(texts)

    a = Assistant(settings.model_copy(update={"app": AppSettings(background_upload_records=10)}), embedder=Gated())
    started = time.monotonic()
    report = ui.ingest_uploads(a, [str(_records(tmp_path / "big.jsonl", 25)), str(tmp_path / "missing.txt")], max_mb=10)
    assert time.monotonic() - started < 5
    assert "Upload job" in report and "started" in report and "25 articles" in report
    assert embedder.calls == [] and a.store.list_articles() == []
    # A second large upload while it runs is refused, naming the running job.
    refused = ui.ingest_uploads(a, [str(_records(tmp_path / "more.jsonl", 12, start=100))])
    assert "Upload refused" in refused and "still running" in refused
    slow.set()
    runner = ui.library.upload_jobs(a)
    _wait(runner)
    record = JobRunner(settings.data_dir / "jobs").latest()  # as a reloaded page reads it
    assert record.state == "finished" and record.records_done == 25 and record.added == 25
    assert record.files_done == 1 and record.files_total == 1
    assert record.errors and record.errors[0][0] == "missing.txt"  # refused before reading
    assert len(a.store.list_articles()) == 25 and sum(embedder.calls) >= 25
    assert not list((settings.data_dir / "jobs").glob("upload-*"))  # the copies are removed
    text = ui.library.job_text(record)
    assert "finished" in text and "25 of 25 articles" in text and "missing.txt" in text
    # A small upload is still answered in the request.
    small = ui.ingest_uploads(a, [str(_records(tmp_path / "small.jsonl", 3, start=200))])
    assert "3 article(s) added" in small


def test_an_upload_job_that_breaks_midway_keeps_what_it_stored_and_says_where_it_stopped(settings, tmp_path):
    class Breaks(CountingEmbedder):
        def embed(self, texts):
            if len(self.calls) >= 4:
                raise RuntimeError("embedder crashed")
            return super().embed(texts)

    a = Assistant(settings.model_copy(update={"app": AppSettings(background_upload_records=0)}), embedder=Breaks())
    files = [str(_records(tmp_path / f"part{k}.jsonl", 3, start=10 * k)) for k in range(3)]
    assert "started" in ui.ingest_uploads(a, files)
    _wait(ui.library.upload_jobs(a))
    record = JobRunner(settings.data_dir / "jobs").latest()
    stored = len(a.store.list_articles())
    assert record.state == "finished" and record.records_done == stored and 0 < stored < 9
    assert [name for name, _ in record.errors] == ["part1.jsonl", "part2.jsonl"]
    assert all("embedder crashed" in reason for _, reason in record.errors)
    assert "2 input(s) failed" in ui.library.job_text(record)
