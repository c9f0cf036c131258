"""Logins and upload limits of the web app."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from assistant.errors import BadInputError
from assistant.settings import Settings

USERS_ENV = "ASSISTANT_APP_USERS"


def parse_users(lines: Iterable[str]) -> list[tuple[str, str]]:
    """``user:password`` entries (blank lines, ``#`` comments and surrounding spaces ignored); passwords may contain ':'."""
    users: list[tuple[str, str]] = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        user, password = user.strip(), password.strip()
        if not sep or not user or not password:
            raise BadInputError(
                f"login entry {number} is not of the form user:password",
                "Write one user:password per line in the auth file, or ASSISTANT_APP_USERS=u1:p1,u2:p2.",
            )
        users.append((user, password))
    return users


def load_auth(
    settings: Settings, environ: dict[str, str] | None = None
) -> list[tuple[str, str]] | None:
    """Logins from ``settings.app.auth_file`` and ``ASSISTANT_APP_USERS``; None means no login."""
    environ = os.environ if environ is None else environ
    users: list[tuple[str, str]] = []
    path = settings.app.auth_file
    if path is not None:
        try:
            users += parse_users(Path(path).read_text(encoding="utf-8").splitlines())
        except OSError as exc:
            raise BadInputError(
                f"cannot read the auth file {path}: {exc.strerror or exc}",
                "Fix ASSISTANT_APP__AUTH_FILE or remove it to run without login.",
            ) from exc
    if environ.get(USERS_ENV, "").strip():
        users += parse_users(environ[USERS_ENV].split(","))
    return users or None


def max_upload_bytes(settings: Settings) -> int:
    """The upload limit in bytes (Gradio's max_file_size)."""
    return int(settings.app.max_upload_mb * 1024 * 1024)


def check_upload_size(path: Path, max_mb: float) -> None:
    """Refuse files over the upload limit with a message naming the setting."""
    size = Path(path).stat().st_size
    if size > max_mb * 1024 * 1024:
        raise BadInputError(
            f"{Path(path).name} is {size / 1024 / 1024:.1f} MB, over the upload limit of {max_mb:g} MB",
            "Split the file, or raise ASSISTANT_APP__MAX_UPLOAD_MB.",
        )
