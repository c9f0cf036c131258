"""Roles, permission checks refused in the service layer, the login throttle, and the audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from assistant.audit import AuditLog
from assistant.auth import (
    ACTIONS,
    Actor,
    Authenticator,
    LoginThrottle,
    User,
    actions_for,
    allowed,
    load_users,
    parse_users,
    require,
)
from assistant.errors import (
    BadInputError,
    LoginThrottledError,
    NotFoundError,
    PermissionDeniedError,
)
from assistant.settings import AppSettings, Settings
from tests.conftest import EXAMPLES, ROOT

VIEWER = Actor("vera", "viewer")
EDITOR = Actor("ed", "editor")
ADMIN = Actor("ada", "admin")


# ---------------------------------------------------------------- the auth file


def test_parse_users_with_roles_default_role_and_colons_in_passwords():
    users = parse_users(
        [
            "# newsroom logins",
            "ada:pw1:admin",
            "ed : pw2 : Editor ",
            "vera:pw3",
            "colin:a:b:c",  # no role: the password is everything after the first ':'
            "max:ends-with:admin:viewer",  # the last field is the role
            "",
        ]
    )
    assert [(u.name, u.role, u.password) for u in users] == [
        ("ada", "admin", "pw1"),
        ("ed", "editor", "pw2"),
        ("vera", "viewer", "pw3"),
        ("colin", "viewer", "a:b:c"),
        ("max", "viewer", "ends-with:admin"),
    ]
    assert "pw1" not in repr(users[0])
    assert parse_users(["old:secret"], default_role="editor")[0].role == "editor"


@pytest.mark.parametrize("line", ["nopassword", ":pw:admin", "ann:", "ann::admin"])
def test_malformed_auth_lines_are_refused_with_help(line):
    with pytest.raises(BadInputError, match="user:password:role") as info:
        parse_users([line])
    assert "viewer, editor or admin" in info.value.help


def test_a_user_twice_is_refused():
    with pytest.raises(BadInputError, match="twice"):
        parse_users(["ann:a:admin", "ann:b:viewer"])


def test_load_users_from_file_and_environment(tmp_path):
    auth = tmp_path / "users.txt"
    auth.write_text("ada:pw1:admin\nvera:pw3\n")
    settings = Settings(app=AppSettings(auth_file=auth, default_role="viewer"))
    users = load_users(settings, environ={"ASSISTANT_APP_USERS": "ed:pw2:editor"})
    assert {n: u.role for n, u in users.items()} == {"ada": "admin", "vera": "viewer", "ed": "editor"}
    assert load_users(Settings(), environ={}) is None
    with pytest.raises(BadInputError, match="cannot read the auth file"):
        load_users(Settings(app=AppSettings(auth_file=tmp_path / "missing")), environ={})


# ---------------------------------------------------------------- permissions


def test_roles_are_ordered_as_the_issue_asks():
    assert actions_for("viewer") == ["search", "list", "ask", "summarize", "check"]
    assert set(actions_for("editor")) == set(actions_for("viewer")) | {"ingest", "upload", "accept_spelling"}
    assert set(actions_for("admin")) == set(ACTIONS)
    for action in ("delete", "evaluate", "edit_stylebook", "repair"):
        assert allowed("admin", action) and not allowed("editor", action) and not allowed("viewer", action)
    assert not allowed("admin", "launch-missiles")
    with pytest.raises(PermissionDeniedError, match="needs the admin role") as info:
        require(EDITOR, "delete")
    assert "auth file" in info.value.help


def test_the_service_refuses_what_a_role_may_not_do(assistant, tmp_path):
    with pytest.raises(PermissionDeniedError):
        assistant.ingest([EXAMPLES], actor=VIEWER)
    assert assistant.store.list_articles() == []
    assistant.ingest([EXAMPLES], actor=EDITOR)
    with pytest.raises(PermissionDeniedError):
        assistant.remove("harbour-vote", actor=VIEWER)
    with pytest.raises(PermissionDeniedError):
        assistant.remove("harbour-vote", actor=EDITOR)
    assert "harbour-vote" in {a.id for a in assistant.store.list_articles()}
    with pytest.raises(PermissionDeniedError):
        assistant.accept_spelling("Vandermolen", actor=VIEWER)
    assistant.accept_spelling("Vandermolen", actor=EDITOR)
    with pytest.raises(PermissionDeniedError):
        assistant.add_preferred_spelling("Halvorsen", ["Halvorson"], actor=EDITOR)
    with pytest.raises(PermissionDeniedError):
        assistant.record_evaluation("eval/suites/dev.yaml", actor=EDITOR)
    assistant.remove("harbour-vote", actor=ADMIN)
    with pytest.raises(NotFoundError):
        assistant.store.get_article("harbour-vote")
    entries = assistant.audit.entries()
    assert [(e.user, e.action) for e in entries] == [("ed", "ingest")] * 4 + [("ed", "accept_spelling"), ("ada", "delete")]
    assert entries[-1].target == "harbour-vote" and entries[-1].details["passages"] >= 1
    assert entries[0].details["status"] == "added" and entries[0].details["source"].startswith(str(EXAMPLES))


# ---------------------------------------------------------------- the login throttle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_backs_off_exponentially_and_resets_on_success():
    clock = Clock()
    throttle = LoginThrottle(free=3, base=1.0, cap=8.0, clock=clock)
    for _ in range(3):
        assert throttle.wait("ann", "10.0.0.1") == 0
        throttle.failed("ann", "10.0.0.1")
    waits = []
    for _ in range(5):
        waits.append(throttle.wait("ann", "10.0.0.1"))
        clock.now += waits[-1]
        throttle.failed("ann", "10.0.0.1")
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0]
    # The address is throttled for any user; the user is not throttled from elsewhere.
    assert throttle.wait("bob", "10.0.0.1") > 0 and throttle.wait(None, "10.0.0.1") > 0
    assert throttle.wait("ann", "10.9.9.9") == 0 and throttle.wait("bob", "10.9.9.9") == 0
    # A right password clears its own (user, address) pair, not the address's count.
    throttle.succeeded("ann", "10.0.0.1")
    assert throttle._by_kind["user"] == {} and throttle.wait("ann", "10.0.0.1") > 0
    clock.now += 7200  # forgotten after an hour
    assert throttle.wait("ann", "10.0.0.1") == 0 and throttle.wait("bob", "10.0.0.1") == 0


def test_guesses_from_other_addresses_cannot_lock_a_user_out():
    clock = Clock()
    auth = Authenticator({"ann": User("ann", "editor", "right")}, LoginThrottle(free=3, clock=clock))
    for i in range(40):  # a botnet: a few guesses from each of many addresses
        address = f"203.0.113.{i // 4}"
        try:
            assert auth.login("ann", f"guess-{i}", client=address) is None
        except LoginThrottledError:
            pass
    assert auth.login("ann", "right", client="198.51.100.7").role == "editor"
    # Without an address (library use) the user name alone is counted.
    for _ in range(3):
        assert auth.login("ann", "wrong") is None
    with pytest.raises(LoginThrottledError):
        auth.login("ann", "right")
    assert auth.login("ann", "right", client="198.51.100.7").role == "editor"


def test_signing_in_with_one_account_does_not_reset_an_address_guessing_another():
    clock = Clock()
    users = {"ann": User("ann", "editor", "right"), "mal": User("mal", "viewer", "mine")}
    auth = Authenticator(users, LoginThrottle(free=3, clock=clock))
    for i in range(3):
        assert auth.login("ann", f"guess-{i}", client="6.6.6.6") is None
    with pytest.raises(LoginThrottledError):
        auth.login("mal", "mine", client="6.6.6.6")
    clock.now += 1.0
    assert auth.login("mal", "mine", client="6.6.6.6").name == "mal"
    assert auth.login("ann", "guess-3", client="6.6.6.6") is None
    with pytest.raises(LoginThrottledError):  # still backing off: 2 s after the fourth guess
        auth.login("ann", "guess-4", client="6.6.6.6")


def test_fifty_wrong_passwords_in_a_burst_are_mostly_refused_unchecked():
    clock = Clock()
    auth = Authenticator({"ann": User("ann", "editor", "right")}, LoginThrottle(free=3, clock=clock))
    checked = refused = 0
    for _ in range(50):
        try:
            assert auth.login("ann", "wrong", client="10.0.0.1") is None
            checked += 1
        except LoginThrottledError as exc:
            refused += 1
            assert exc.retry_after > 0 and "Wait" in exc.help
    assert (checked, refused) == (3, 47)
    with pytest.raises(LoginThrottledError):
        auth.login("ann", "right", client="10.0.0.1")  # even the right password waits its turn
    clock.now += 1.0
    assert auth.login("ann", "right", client="10.0.0.1").role == "editor"
    assert auth.login("ann", "wrong", client="10.0.0.1") is None  # the success reset the count


def test_unknown_names_are_throttled_per_address():
    clock = Clock()
    auth = Authenticator({"ann": User("ann", "viewer", "pw")}, LoginThrottle(free=2, clock=clock))
    for name in ("x1", "x2"):
        assert auth.login(name, "guess", client="6.6.6.6") is None
    with pytest.raises(LoginThrottledError):
        auth.login("x3", "guess", client="6.6.6.6")
    # the guesses from that address under unknown names leave a real account alone elsewhere
    assert auth.login("ann", "pw", client="10.0.0.2").name == "ann"
    assert auth.login("ann", "nope", client="10.0.0.2") is None
    assert auth.actor("ann") == Actor("ann", "viewer", "web")
    with pytest.raises(PermissionDeniedError):
        auth.actor("mallory")


def test_throttle_memory_is_bounded():
    clock = Clock()
    throttle = LoginThrottle(max_entries=100, clock=clock)
    for i in range(1000):
        clock.now += 0.001
        throttle.failed(None, f"10.0.{i // 256}.{i % 256}")
    assert len(throttle._by_kind["client"]) <= 100


# ---------------------------------------------------------------- the audit log


def test_audit_entries_have_time_user_action_target(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    entry = log.record(EDITOR, "ingest", "harbour-vote", status="added", passages=3)
    line = json.loads((tmp_path / "audit.jsonl").read_text())
    assert {"time", "user", "action", "target"} <= set(line)
    assert line["user"] == "ed" and line["action"] == "ingest" and line["target"] == "harbour-vote"
    assert line["time"].endswith("+00:00") and line["details"] == {"status": "added", "passages": 3}
    assert log.entries() == [entry]


def test_audit_log_survives_a_torn_line(tmp_path):
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record(ADMIN, "delete", "a")
    with path.open("a") as fh:
        fh.write('{"time": "2026-01-01", "user": "x", "act')  # a crash mid-write
    log.record(ADMIN, "delete", "b")
    assert [e.target for e in log.entries()] == ["a", "b"]
    assert [e.target for e in log.entries(limit=1)] == ["b"]


def test_audit_tail_is_read_backwards_across_blocks(tmp_path):
    from assistant import audit

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for i in range(40):
        log.record(ADMIN, "delete", f"article-{i:02d}-" + "x" * i)  # lines of different lengths
    with path.open("a") as fh:
        fh.write('{"torn')  # a crash mid-write at the very end
    lines = path.read_bytes().split(b"\n")
    # Blocks shorter than a line, and of odd sizes, split lines anywhere: every line still comes back whole.
    for block in (7, 64, 1000, 1 << 16):
        assert list(audit._reversed_lines(path, block=block)) == lines[::-1]
    assert [e.target[:10] for e in log.entries(limit=3)] == ["article-37", "article-38", "article-39"]
    assert log.entries(limit=100) == log.entries()  # a limit beyond the file gives everything


def test_audit_log_is_safe_under_concurrent_threads_and_processes(tmp_path):
    path = tmp_path / "audit.jsonl"
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from assistant.audit import AuditLog
        from assistant.auth import Actor
        log = AuditLog(Path({str(path)!r}))
        for i in range(200):
            log.record(Actor("proc" + sys.argv[1], "editor"), "ingest", f"article-{{i}}", note="x" * 3000)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(n)], cwd=ROOT) for n in range(3)]
    log = AuditLog(path)

    def write(n: int) -> None:
        for i in range(200):
            log.record(Actor(f"thread{n}", "editor"), "ingest", f"article-{i}", note="y" * 3000)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(p.wait(timeout=300) == 0 for p in procs)
    lines = path.read_text().splitlines()
    assert len(lines) == 1200
    entries = [json.loads(line) for line in lines]  # every line whole
    for who in [f"proc{n}" for n in range(3)] + [f"thread{n}" for n in range(3)]:
        assert [e["target"] for e in entries if e["user"] == who] == [f"article-{i}" for i in range(200)]


def test_the_app_reads_role_columns_of_the_auth_file(tmp_path, monkeypatch):
    """app.py gives the page the users with their roles; a role column never becomes part of the password."""
    import types

    import app

    auth = tmp_path / "users.txt"
    auth.write_text("ana:correct-horse:admin\nben:a:b\n")
    monkeypatch.setenv("ASSISTANT_APP__AUTH_FILE", str(auth))
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    launched: dict = {}

    def fake_create_app(assistant, access):
        launched["access"] = access
        return types.SimpleNamespace(launch=lambda **kw: launched.update(kw))

    monkeypatch.setattr(app, "create_app", fake_create_app)
    monkeypatch.setattr(app, "_warm_up", lambda assistant: None)
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")  # uvicorn's default trust
    app.main()
    assert os.environ["FORWARDED_ALLOW_IPS"] == ""  # no proxies configured: X-Forwarded-For from nobody
    check = launched["auth"]
    assert check("ana", "correct-horse") and check("ben", "a:b") and not check("ana", "correct-horse:admin")
    access = launched["access"]
    assert access.authenticator.actor("ana").role == "admin" and access.authenticator.actor("ben").role == "viewer"
    assert [m.cls.__name__ for m in launched["app_kwargs"]["middleware"]] == ["LoginGuard", "UploadGuard", "ApiGuard", "RemoteFileGuard"]


def test_a_style_book_name_removed_meanwhile_is_not_removed_twice(assistant, monkeypatch):
    """Another editor removes the name between the check and the locked edit: 'not in the style
    book', no audit entry of a removal of nothing, the file as the other editor left it."""
    from assistant.stylebook import StyleBook

    assistant.accept_spelling("Vandermolen", actor=EDITOR)
    path = assistant.settings.stylebook_path
    load = StyleBook.load.__func__
    calls = []

    def load_then_removed_by_another(cls, p):
        book = load(cls, p)
        if not calls:  # the first look: then the other editor's removal lands
            calls.append(p)
            other = load(cls, p)
            other.remove("Vandermolen")
            other.save(p)
        return book

    monkeypatch.setattr(StyleBook, "load", classmethod(load_then_removed_by_another))
    with pytest.raises(BadInputError, match="not in the style book"):
        assistant.remove_spelling("Vandermolen", actor=ADMIN)
    assert load(StyleBook, path).to_data() == {"preferred": {}, "allow": []}
    assert [e for e in assistant.audit.entries() if e.action == "edit_stylebook"] == []
