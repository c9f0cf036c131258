"""Append-only audit log of state changes: one JSON object per line in ``DATA/audit.jsonl``.

Each line has ``time`` (UTC, ISO 8601), ``user``, ``action``, ``target`` and, when useful,
``via`` (web, cli) and ``details``. Writers in several threads and processes append under an
exclusive lock, one ``write`` per line; a line torn by a crash is skipped when reading and
never glued to the next one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assistant.auth import Actor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditEntry:
    time: str
    user: str
    action: str
    target: str
    via: str = ""
    details: dict[str, Any] = field(default_factory=dict)


class AuditLog:
    """The audit file of one data dir."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def record(self, actor: Actor, action: str, target: str, **details: Any) -> AuditEntry:
        """Append one entry (and flush it to disk) and return it."""
        entry = AuditEntry(
            time=datetime.now(UTC).isoformat(timespec="milliseconds"),
            user=actor.name,
            action=action,
            target=str(target),
            via=actor.via,
            details={k: v for k, v in details.items() if v is not None},
        )
        line = json.dumps(asdict(entry), ensure_ascii=False, default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if not _ends_with_newline(self.path):
                    os.write(fd, b"\n")  # a crash tore the last line: keep ours whole
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return entry

    def entries(self, limit: int | None = None) -> list[AuditEntry]:
        """Entries oldest first (the last ``limit`` when given); unreadable lines are skipped.

        With a limit the file is read backwards from its end, so showing the latest changes
        (the web app does on every page load) costs the same however long the log has grown.
        """
        if not self.path.exists():
            return []
        if limit:
            newest: list[AuditEntry] = []
            for line in _reversed_lines(self.path):
                entry = self._parse(line.decode("utf-8", errors="replace"), "near the end")
                if entry is not None:
                    newest.append(entry)
                    if len(newest) == limit:
                        break
            return newest[::-1]
        out: list[AuditEntry] = []
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                entry = self._parse(line, str(number))
                if entry is not None:
                    out.append(entry)
        return out

    def _parse(self, line: str, where: str) -> AuditEntry | None:
        if not line.strip():
            return None
        try:
            data = json.loads(line)
            return AuditEntry(
                time=str(data["time"]),
                user=str(data["user"]),
                action=str(data["action"]),
                target=str(data["target"]),
                via=str(data.get("via", "")),
                details=dict(data.get("details") or {}),
            )
        except (ValueError, KeyError, TypeError):
            log.warning("audit log %s: line %s is not a complete entry; skipped", self.path, where)
            return None


def _reversed_lines(path: Path, block: int = 65536) -> Iterator[bytes]:
    """The lines of ``path`` from the last to the first, read in blocks from the end."""
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        pos = fh.tell()
        rest = b""
        while pos > 0:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            lines = (fh.read(step) + rest).split(b"\n")
            rest = lines.pop(0)  # may continue in the block before
            yield from reversed(lines)
        yield rest


def _ends_with_newline(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return True
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"
    except OSError:
        return True
