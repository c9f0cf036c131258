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
        """Entries oldest first (the last ``limit`` when given); unreadable lines are skipped."""
        if not self.path.exists():
            return []
        out: list[AuditEntry] = []
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    out.append(
                        AuditEntry(
                            time=str(data["time"]),
                            user=str(data["user"]),
                            action=str(data["action"]),
                            target=str(data["target"]),
                            via=str(data.get("via", "")),
                            details=dict(data.get("details") or {}),
                        )
                    )
                except (ValueError, KeyError, TypeError):
                    log.warning("audit log %s: line %d is not a complete entry; skipped", self.path, number)
        return out[-limit:] if limit else out


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
