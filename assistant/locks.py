"""One writer at a time per data dir: a file lock shared by threads and processes."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from assistant.errors import StoreError


class WriterLock:
    """An exclusive ``flock`` on a file, re-entrant within a thread.

    ``flock`` locks belong to an open file description, so two threads (or two Store objects)
    of one process exclude each other as two processes do. The thread lock in front keeps a
    thread that already holds the lock from deadlocking on a second ``open``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._file: IO[str] | None = None

    @contextmanager
    def hold(self, timeout: float | None = None):
        """Hold the lock for the block; ``timeout`` seconds (None = wait forever) then StoreError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=-1 if timeout is None else timeout):
            raise self._timeout_error(timeout)
        try:
            if self._depth == 0:
                self._file = self._acquire_file(deadline, timeout)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._file is not None:
                    fcntl.flock(self._file, fcntl.LOCK_UN)
                    self._file.close()
                    self._file = None
        finally:
            self._thread_lock.release()

    def _acquire_file(self, deadline: float | None, timeout: float | None) -> IO[str]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for as long as the lock is
        try:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() > deadline:
                        raise self._timeout_error(timeout) from None
                    time.sleep(0.05)
            # Who holds it, for an operator looking at a stuck ingest (informational only).
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return handle
        except BaseException:
            handle.close()
            raise

    def _timeout_error(self, timeout: float | None) -> StoreError:
        return StoreError(
            f"another writer has held the store lock {self.path} for over {timeout:g} s",
            "Wait for the running ingest to finish (see `ps` for an `assistant ingest`), then try again.",
        )


_LOCKS: dict[str, WriterLock] = {}
_LOCKS_GUARD = threading.Lock()


def writer_lock(path: Path) -> WriterLock:
    """The process-wide WriterLock for ``path`` (every Store on one data dir shares it)."""
    key = os.path.abspath(path)
    with _LOCKS_GUARD:
        if key not in _LOCKS:
            _LOCKS[key] = WriterLock(Path(key))
        return _LOCKS[key]
