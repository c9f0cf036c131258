"""Background jobs of the web app (a large upload): one runs at a time per process, in a thread, and
its progress is written to ``DATA_DIR/jobs/<id>.json`` so a reloaded page, or another replica over
the same data folder, reads the same record.

A job's work is a function that reports progress through ``JobRecord`` fields and ``JobRunner.save``;
what it stored before a failure stays stored (the store writes article by article), the record says
where it stopped and why.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from assistant.files import replace_text

KEEP_JOBS = 20  # records kept in DATA_DIR/jobs; older ones are removed when a job starts
SAVE_EVERY_S = 0.5  # progress is written at most this often (and always at the end)
STALE_S = 900.0  # a running job of another host that saved nothing for this long reads as interrupted
_RUNNING_HERE: set[str] = set()  # ids of the jobs this process runs now (any runner)


@dataclass
class JobRecord:
    """One job's progress: counts done of total, the failed inputs with their reasons, and its state."""

    id: str
    user: str
    kind: str = "upload"
    state: str = "running"  # running | finished | failed | interrupted (its process is gone)
    files_total: int = 0
    files_done: int = 0
    records_total: int = 0
    records_done: int = 0
    added: int = 0
    replaced: int = 0
    unchanged: int = 0
    errors: list[list[str]] = field(default_factory=list)  # [input name, reason]
    message: str = ""  # why a failed job stopped, or the final summary
    started: float = 0.0
    updated_at: float = 0.0
    host: str = ""
    pid: int = 0

    @property
    def done(self) -> bool:
        return self.state != "running"


class JobBusyError(RuntimeError):
    """Another job of this process is still running."""

    def __init__(self, running: JobRecord) -> None:
        super().__init__(f"job {running.id} is still running")
        self.running = running


class JobRunner:
    """Jobs of one data folder: starts one at a time in a thread, saves and reads their records."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()
        self._running: JobRecord | None = None
        self._thread: threading.Thread | None = None
        self._saved_at = 0.0

    def start(self, user: str, work: Callable[[JobRecord, JobRunner], str], **fields: Any) -> JobRecord:
        """Start ``work(record, runner)`` in a thread; its return value is the final message.

        Raises ``JobBusyError`` while this process runs another job. An exception in ``work``
        marks the record failed with its reason (what was stored before stays stored).
        """
        with self._lock:
            if self._running is not None and not self._running.done:
                raise JobBusyError(self._running)
            now = time.time()
            record = JobRecord(
                id=time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f"{int(now * 1000) % 1000:03d}-" + uuid.uuid4().hex[:6],
                user=user,
                started=now,
                host=socket.gethostname(),
                pid=os.getpid(),
                **fields,
            )
            self._running = record
            _RUNNING_HERE.add(record.id)  # before its first save: get() must not take it for a dead process's
            self._prune()
            self.save(record, force=True)
            self._thread = threading.Thread(target=self._run, args=(record, work), name=f"job-{record.id}", daemon=True)
            self._thread.start()
            return record

    def _run(self, record: JobRecord, work: Callable[[JobRecord, JobRunner], str]) -> None:
        try:
            record.message = work(record, self) or ""
            record.state = "finished"
        except Exception as exc:  # noqa: BLE001 - a job's failure is its record, never a dead thread
            record.message = f"{type(exc).__name__}: {exc}"
            record.state = "failed"
        finally:
            self.save(record, force=True)
            _RUNNING_HERE.discard(record.id)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for this process's current job; True when none is running."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def save(self, record: JobRecord, force: bool = False) -> None:
        """Write the record to ``<folder>/<id>.json`` (atomically), at most every SAVE_EVERY_S unless ``force``."""
        now = time.time()
        if not force and now - self._saved_at < SAVE_EVERY_S:
            return
        self._saved_at = now
        record.updated_at = now
        replace_text(self.folder / f"{record.id}.json", json.dumps(asdict(record)))

    def get(self, job_id: str) -> JobRecord | None:
        """The saved record of ``job_id`` (None when there is none); a running job whose process is gone reads as interrupted."""
        try:
            data = json.loads((self.folder / f"{job_id}.json").read_text())
        except (OSError, ValueError):
            return None
        known = {f for f in JobRecord.__dataclass_fields__}
        record = JobRecord(**{k: v for k, v in data.items() if k in known})
        if record.state == "running" and record.id not in _RUNNING_HERE and _gone(record):
            record.state = "interrupted"
            record.message = record.message or "the process running it stopped before it finished"
        return record

    def latest(self) -> JobRecord | None:
        """The newest job's record (by start time, from the folder: any process's jobs)."""
        records = [r for r in (self.get(p.stem) for p in self.folder.glob("*.json")) if r is not None]
        return max(records, key=lambda r: (r.started, r.id), default=None)

    def _prune(self) -> None:
        """Remove all but the newest KEEP_JOBS - 1 records (ids begin with their start time)."""
        for old in sorted(self.folder.glob("*.json"), reverse=True)[KEEP_JOBS - 1 :]:
            old.unlink(missing_ok=True)


def _gone(record: JobRecord) -> bool:
    """True when the record's process has stopped: on this host, no such process or this one (the
    job is not among this process's running ones); elsewhere, no progress saved for STALE_S."""
    if record.host != socket.gethostname():
        return time.time() - record.updated_at > STALE_S
    if record.pid == os.getpid():
        return True  # a restarted process that got the same pid
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
