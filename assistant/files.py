"""Files replaced whole: a reader (another thread, process or replica) sees the old content or the new, never half."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    """The process's umask: read from /proc (os.umask can only read it by setting it, which would
    race with other threads creating files); set-and-restore once at import where /proc lacks it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_MODE = 0o666 & ~_umask()  # what a plain open() gives a new file


@contextmanager
def replacing(path: Path, binary: bool = False, durable: bool = False) -> Iterator[IO[Any]]:
    """A new file to write ``path``'s content into; when the block ends it takes ``path``'s place.

    The new file is a uniquely named sibling (no two writers, threads or processes, share one),
    made with the permissions a plain ``open`` would give. If the block raises, ``path`` is left
    as it was and the new file is removed. ``durable`` also flushes it to the disk before the
    swap, for files an editor's work lives in (a power loss then keeps the old or the new).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _MODE)  # mkstemp makes it 0600
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def replace_text(path: Path, text: str, durable: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` by replacing it whole (see ``replacing``)."""
    with replacing(path, durable=durable) as fh:
        fh.write(text)


def replace_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by replacing it whole (see ``replacing``)."""
    with replacing(path, binary=True) as fh:
        fh.write(data)
