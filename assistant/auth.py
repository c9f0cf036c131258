"""Who may do what: users with roles from the auth file, a permission check per action, a login throttle.

Roles are ordered, each including the one before: ``viewer`` (ask, summarize, check),
``editor`` (+ ingest, upload files, accept a spelling), ``admin`` (+ delete, edit the style book, run
evaluations, repair the store). The service layer calls ``require`` with the signed-in user,
so an action is refused on the server whatever the UI shows.
"""

from __future__ import annotations

import getpass
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from assistant.errors import BadInputError, LoginThrottledError, PermissionDeniedError
from assistant.settings import Settings

log = logging.getLogger(__name__)

Role = Literal["viewer", "editor", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)

# The least role each action needs.
ACTIONS: dict[str, Role] = {
    "search": "viewer",
    "list": "viewer",
    "ask": "viewer",
    "summarize": "viewer",
    "check": "viewer",
    "ingest": "editor",
    "upload": "editor",  # files sent to the web app (Gradio writes them to disk before any handler runs)
    "accept_spelling": "editor",
    "delete": "admin",
    "edit_stylebook": "admin",
    "evaluate": "admin",
    "repair": "admin",
}

USERS_ENV = "ASSISTANT_APP_USERS"


@dataclass(frozen=True)
class User:
    """One login from the auth file; the password never appears in a repr or log."""

    name: str
    role: Role
    password: str = field(repr=False)


@dataclass(frozen=True)
class Actor:
    """Who performs an action, for permission checks and the audit log."""

    name: str
    role: Role
    via: Literal["web", "cli", "api"] = "web"


def cli_actor() -> Actor:
    """The person at the terminal: the OS user. The CLI needs the data dir's files anyway, so it acts as admin."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        name = f"uid-{os.getuid()}"
    return Actor(name=name, role="admin", via="cli")


def anonymous_actor() -> Actor:
    """The web user when no auth file is set: the app is a single-user tool on 127.0.0.1 then."""
    return Actor(name="anonymous", role="admin", via="web")


def rank(role: str) -> int:
    if role not in ROLES:
        raise BadInputError(f"unknown role {role!r}", f"Use one of: {', '.join(ROLES)}.")
    return ROLES.index(role)  # type: ignore[arg-type]


def allowed(role: str, action: str) -> bool:
    """Whether ``role`` may do ``action`` (an unknown action is never allowed)."""
    need = ACTIONS.get(action)
    return need is not None and rank(role) >= rank(need)


def actions_for(role: str) -> list[str]:
    """Every action ``role`` may do (what the UI shows)."""
    return [a for a in ACTIONS if allowed(role, a)]


def require(actor: Actor, action: str) -> None:
    """Raise PermissionDeniedError unless ``actor`` may do ``action``."""
    if action not in ACTIONS:
        raise PermissionDeniedError(f"unknown action {action!r}")
    if not allowed(actor.role, action):
        raise PermissionDeniedError(
            f"{actor.name} ({actor.role}) may not {action.replace('_', ' ')}: it needs the {ACTIONS[action]} role"
        )


# ---------------------------------------------------------------- the auth file


def parse_users(lines: Iterable[str], default_role: Role = "viewer", where: str = "the auth file") -> list[User]:
    """``user:password:role`` lines (``#`` comments and blank lines skipped).

    The role is the last ``:``-field when it names a role; otherwise the line gets
    ``default_role`` and everything after the first ``:`` is the password (passwords may
    contain ``:``; one that ends in ``:viewer``, ``:editor`` or ``:admin`` needs its role written).
    """
    users: list[User] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, rest = line.partition(":")
        name = name.strip()
        role: str = default_role
        password, rsep, last = rest.rpartition(":")
        if rsep and last.strip().lower() in ROLES:
            role = last.strip().lower()
        else:
            password = rest
            if rest.count(":"):
                log.warning(
                    "%s, entry %d: no role after its last ':' (roles: %s); it gets the default role %s",
                    where, number, ", ".join(ROLES), default_role,
                )
        password = password.strip()
        if not sep or not name or not password:
            raise BadInputError(
                f"login entry {number} of {where} is not of the form user:password:role",
                "Write one user:password:role per line (role: viewer, editor or admin).",
            )
        if name in seen:
            raise BadInputError(
                f"user {name!r} appears twice in {where} (entry {number})",
                "Keep one line per user.",
            )
        seen.add(name)
        users.append(User(name=name, role=role, password=password))  # type: ignore[arg-type]
    return users


def load_users(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, User] | None:
    """Logins from ``settings.app.auth_file`` and ``ASSISTANT_APP_USERS`` (comma-separated); None = no login."""
    environ = os.environ if environ is None else environ
    default: Role = settings.app.default_role
    users: list[User] = []
    path = settings.app.auth_file
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise BadInputError(
                f"cannot read the auth file {path}: {exc.strerror or exc}",
                "Fix ASSISTANT_APP__AUTH_FILE or remove it to run without login.",
            ) from exc
        users += parse_users(text.splitlines(), default, where=str(path))
    if environ.get(USERS_ENV, "").strip():
        users += parse_users(environ[USERS_ENV].split(","), default, where=USERS_ENV)
    if not users:
        return None
    by_name: dict[str, User] = {}
    for user in users:
        if user.name in by_name:
            raise BadInputError(f"user {user.name!r} is defined in both the auth file and {USERS_ENV}")
        by_name[user.name] = user
    return by_name


# ---------------------------------------------------------------- failed logins


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


class LoginThrottle:
    """Exponential back-off after failed logins, per (user, client address) and per address (in memory).

    After ``free`` failures the next attempt waits ``base`` seconds, then twice as long after
    each further failure, up to ``cap``. Attempts made while waiting are refused without
    checking the password and do not lengthen the wait. Failures count against the pair of
    user name and address, and against the address: guesses sent from elsewhere slow down
    only their own addresses, so nobody can lock a user out of the app from another address.
    A call that knows no address (library use) counts against the user name alone. A good
    password clears its own pair only: signing in with one account does not reset the
    address's count of guesses at others. Entries are forgotten ``forget`` seconds after the
    last failure; at most ``max_entries`` per kind are kept (oldest dropped).
    """

    def __init__(
        self,
        free: int = 3,
        base: float = 1.0,
        cap: float = 300.0,
        forget: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.base, self.cap, self.forget, self.max_entries = free, base, cap, forget, max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._by_kind: dict[str, dict[str, _Failures]] = {"user": {}, "client": {}}

    def _delay(self, count: int) -> float:
        if count < self.free:
            return 0.0
        return min(self.cap, self.base * 2 ** (count - self.free))

    def _keys(self, user: str | None, client: str | None) -> list[tuple[str, str]]:
        keys = []
        if user:
            # The user's entry is the pair (user, address); "" stands for an unknown address.
            keys.append(("user", f"{user.lower()}\0{client or ''}"))
        if client:
            keys.append(("client", client))
        return keys

    def wait(self, user: str | None, client: str | None) -> float:
        """Seconds until the next attempt for this user from this client is allowed (0 = now)."""
        now = self.clock()
        with self._lock:
            waits = [0.0]
            for kind, key in self._keys(user, client):
                entry = self._by_kind[kind].get(key)
                if entry is not None:
                    waits.append(entry.last + self._delay(entry.count) - now)
            return max(waits)

    def failed(self, user: str | None, client: str | None) -> None:
        now = self.clock()
        with self._lock:
            for kind, key in self._keys(user, client):
                table = self._by_kind[kind]
                entry = table.setdefault(key, _Failures())
                if now - entry.last > self.forget:
                    entry.count = 0
                entry.count += 1
                entry.last = now
                self._prune(table, now)

    def succeeded(self, user: str | None, client: str | None) -> None:
        """A right password: forget the failures of this user from this address (the address's own count stays)."""
        if not user:
            return
        with self._lock:
            kind, key = self._keys(user, client)[0]
            self._by_kind[kind].pop(key, None)

    def _prune(self, table: dict[str, _Failures], now: float) -> None:
        if len(table) <= self.max_entries:
            return
        for key in [k for k, e in table.items() if now - e.last > self.forget]:
            del table[key]
        while len(table) > self.max_entries:
            del table[min(table, key=lambda k: table[k].last)]


class Authenticator:
    """Checks logins against the users, with the throttle in front (what the web app calls)."""

    def __init__(self, users: Mapping[str, User], throttle: LoginThrottle | None = None) -> None:
        self.users = dict(users)
        self.throttle = throttle or LoginThrottle()

    def login(self, name: str, password: str, client: str | None = None) -> User | None:
        """The user when the password is right; None when wrong; LoginThrottledError while backing off."""
        user = self.users.get(name)
        # Only real accounts are tracked by name; unknown names still count against the client.
        tracked = name if user is not None else None
        wait = self.throttle.wait(tracked, client)
        if wait > 0:
            log.warning("login refused for %r from %s: throttled for %.0f s more", name, client or "?", wait)
            raise LoginThrottledError("too many failed logins; try again later", retry_after=wait)
        # Compared in constant time, and a missing user costs the same as a wrong password.
        expected = user.password if user is not None else "\0invalid\0"
        ok = hmac.compare_digest(expected.encode(), str(password).encode()) and user is not None
        if ok:
            self.throttle.succeeded(tracked, client)
            return user
        self.throttle.failed(tracked, client)
        log.warning("failed login for %r from %s", name, client or "?")
        return None

    def actor(self, name: str, via: Literal["web", "cli", "api"] = "web") -> Actor:
        """The Actor for a signed-in user name (PermissionDeniedError for a name not in the file)."""
        user = self.users.get(name)
        if user is None:
            raise PermissionDeniedError(f"{name!r} is not a user of this app")
        return Actor(name=user.name, role=user.role, via=via)


def process_actor() -> Actor:
    """Who acts when a caller names no one (library use, the eval harness): the OS user of this process."""
    actor = cli_actor()
    return Actor(name=actor.name, role="admin", via="api")
