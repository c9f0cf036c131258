"""The web app's public API driven by a real client: every endpoint through ``gradio_client`` as
each role (viewer, editor, admin), uploads only for editors and admins, a login throttle nobody
can use to lock a user out from elsewhere, and X-Forwarded-For taken only from configured proxies.

Each app runs in this process on a free loopback port: real Gradio and uvicorn, real Chroma, the
hashing embedder, a scripted chat model and the support scorer on fake log-probabilities (the
real scorer's code, no model loaded).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from assistant.auth import ROLES, Authenticator, LoginThrottle, User, allowed
from assistant.embed import HashingEmbedder
from assistant.service import Assistant
from assistant.settings import AppSettings, IngestSettings, Settings
from assistant.testing import FakeChatModel
from assistant.ui import FLAG_COLUMNS, PUBLIC_ENDPOINTS, Access, create_app, launch_options
from assistant.ui.library import start_upload_job, upload_jobs
from tests.conftest import EXAMPLES, fake_support_scorer, free_port
from tests.test_evaluate import gold_sets, write_suite

USERS = {
    "vera": User("vera", "viewer", "v-pass"),
    "ed": User("ed", "editor", "e-pass"),
    "ada": User("ada", "admin", "a-pass"),
}
BY_ROLE = {user.role: user for user in USERS.values()}
# The action each public endpoint needs (what the handler and the service layer check).
ENDPOINT_ACTION = {
    "ask": "ask",
    "summarize": "summarize",
    "check": "check",
    "accept_spelling": "accept_spelling",
    "ingest": "ingest",
    "ingest_url": "ingest",
    "upload_job": "ingest",
    "delete_article": "delete",
    "add_preferred_spelling": "edit_stylebook",
    "evaluate": "evaluate",
}
PAGE = """<html><head><title>Quay repairs finished</title>
<meta property="article:published_time" content="2025-09-01T09:00:00Z"></head>
<body><article><h1>Quay repairs finished</h1>
<p>The northern quay of Vellmar harbour reopened on Monday after six weeks of repairs.</p>
<p>The harbour master said the floating berth for the fishing fleet would stay until spring.</p>
</article></body></html>"""


@contextmanager
def launched(assistant: Assistant, access: Access, settings: Settings) -> Iterator[str]:
    """The app on 127.0.0.1:<free port>, launched as app.py does; its URL."""
    demo = create_app(assistant, access)
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        # uvicorn's own default (trust 127.0.0.1): launch_options must replace it with the setting.
        mp.setenv("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
        demo.launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            **launch_options(demo, access, settings),
        )
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            demo.close()


@pytest.fixture(scope="module")
def web_page(tmp_path_factory) -> Iterator[str]:
    """An article page served by http.server on 127.0.0.1 (for ``ingest_url``)."""
    folder = tmp_path_factory.mktemp("site")
    (folder / "quay-repairs.html").write_text(PAGE, encoding="utf-8")
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/quay-repairs.html"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory, web_page):
    """(url, assistant, chat): the app with a viewer, an editor and an admin, the sample corpus stored."""
    root = tmp_path_factory.mktemp("api")
    settings = Settings(
        data_dir=root / "data",
        ingest=IngestSettings(allow_private_urls=True),  # the test page is on 127.0.0.1
    )
    chat = FakeChatModel()
    assistant = Assistant(settings, embedder=HashingEmbedder(), chat=chat, support=fake_support_scorer())
    report = assistant.ingest([EXAMPLES])
    assert not report.failed, report.summary()
    # The Evaluate tab runs the dev suite; here a tiny real suite in its place.
    gold_sets(root)
    suite = write_suite(root, ["typos.recall >= 0.5"], tasks={"typos": {"dataset": "typos"}})
    access = Access(Authenticator(USERS, LoginThrottle(free=3, base=30.0)))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("assistant.ui.evaluation.DEV_SUITE", suite)
        with launched(assistant, access, settings) as url:
            yield url, assistant, chat


def client(url: str, role: str) -> Client:
    user = BY_ROLE[role]
    return Client(url, auth=(user.name, user.password), verbose=False, download_files=False)


def text_of(message: dict) -> str:
    """A chat message's text (Gradio 6 sends content as a list of typed parts)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def refused(role: str, endpoint: str) -> bool:
    return not allowed(role, ENDPOINT_ACTION[endpoint])


def ids(assistant: Assistant) -> set[str]:
    return {a.id for a in assistant.store.list_articles()}


def audited(assistant: Assistant, user: str) -> list[tuple[str, str]]:
    return [(e.action, e.target) for e in assistant.audit.entries() if e.user == user]


def test_the_matrix_covers_every_public_endpoint_and_role():
    assert set(ENDPOINT_ACTION) == set(PUBLIC_ENDPOINTS)
    assert set(BY_ROLE) == set(ROLES)


def test_ask_as_each_role(served):
    url, _, chat = served
    for role in ROLES:
        chat.enqueue("About 200 fishermen gathered outside Vellmar town hall on Monday [1].")
        messages, sources, question = client(url, role).predict(
            "How many fishermen gathered outside the town hall?", api_name="/ask"
        )
        assert text_of(messages[-1]).startswith("About 200 fishermen gathered"), (role, messages)
        assert '<span class="src-n">[1]</span>' in sources and "Model check" in sources
        assert question == ""


def test_summarize_a_stored_article_by_id_as_each_role(served):
    """The picker's choices are filled by the page; an API client names the id itself."""
    url, _, chat = served
    for role in ROLES:
        chat.enqueue("[1] The harbour council approved the budget.\n[2] The vote was seven to two.")
        html, status = client(url, role).predict("budget-approved", "", 2, api_name="/summarize")
        assert "is not in the list of choices" not in status
        assert status.startswith("2 sentence(s)"), (role, status)
        assert '<ol class="sentences">' in html and "Cited sentences" in html
    # An id the store does not hold is answered by the store, not by the picker.
    html, status = client(url, "viewer").predict("no-such-article", "", 2, api_name="/summarize")
    assert html == "" and "no article with id 'no-such-article'" in status


def test_check_as_each_role(served):
    url, _, _ = served
    for role in ROLES:
        text, highlighted, flags, status = client(url, role).predict(
            "Mayor Ingrid Halvorsen met a delegation of six fishermen.", None, api_name="/check"
        )
        assert "claim(s)" in status and "spelling flag(s)" in status, (role, status)
        assert text.startswith("Mayor Ingrid") and flags["headers"] == FLAG_COLUMNS
        assert "".join(segment["token"] for segment in highlighted["value"]) == text


def test_accept_spelling_as_each_role(served):
    url, assistant, _ = served
    for role in ROLES:
        name = f"Vandermoolen{role}"
        call = partial(client(url, role).predict, name, f"{name} spoke.", None, api_name="/accept_spelling")
        if refused(role, "accept_spelling"):
            with pytest.raises(Exception, match=rf"\({role}\) may not accept spelling"):
                call()
            assert ("accept_spelling", name) not in audited(assistant, BY_ROLE[role].name)
        else:
            *_, status = call()
            assert "⚠" not in status, (role, status)
            assert ("accept_spelling", name) in audited(assistant, BY_ROLE[role].name)


def test_ingest_uploads_as_each_role(served, tmp_path):
    url, assistant, _ = served
    for role in ROLES:
        article = tmp_path / f"ferry-{role}.txt"
        article.write_text(f"Ferry news for the {role}\n\nThe ferry to Ostrand resumed service on Friday.\n")
        call = partial(client(url, role).predict, [handle_file(str(article))], api_name="/ingest")
        if refused(role, "ingest"):
            # The client uploads the file first: the server refuses that already (403).
            with pytest.raises(httpx.HTTPStatusError) as raised:
                call()
            assert raised.value.response.status_code == 403
            assert f"ferry-{role}" not in ids(assistant)
        else:
            report, *_ = call()
            assert report.startswith("1 file(s): 1 article(s) added"), (role, report)
            assert f"ferry-{role}" in ids(assistant)
            assert ("ingest", f"ferry-{role}") in audited(assistant, BY_ROLE[role].name)


def test_upload_job_progress_as_each_role(served, tmp_path):
    url, assistant, _ = served
    lines = [json.dumps({"id": f"job-{i}", "title": f"Quay story {i}", "text": f"The quay crane {i} was repaired."}) for i in range(3)]
    (tmp_path / "batch.jsonl").write_text("\n".join(lines))
    start_upload_job(assistant, [tmp_path / "batch.jsonl"], records=3)
    assert upload_jobs(assistant).wait(60)
    newest = upload_jobs(assistant).latest()
    for role in ROLES:
        call = partial(client(url, role).predict, api_name="/upload_job")
        if refused(role, "ingest"):
            with pytest.raises(AppError, match="may not"):
                call("")
            continue
        for job_id in ("", newest.id):  # blank: the newest job
            record = call(job_id)
            assert record["id"] == newest.id and record["state"] == "finished" and record["done"] is True
            assert record["records_done"] == record["records_total"] == 3 and record["added"] == 3
        with pytest.raises(AppError, match="not an upload job id"):
            call("../../audit")
        with pytest.raises(AppError, match="no upload job"):
            call("20200101-000000000-abcdef")


def test_ingest_url_as_each_role(served, web_page):
    url, assistant, _ = served
    for role in ROLES:
        call = partial(client(url, role).predict, web_page, api_name="/ingest_url")
        if refused(role, "ingest_url"):
            with pytest.raises(Exception, match=rf"\({role}\) may not ingest"):
                call()
        else:
            report, *_ = call()
            assert "quay-repairs: Quay repairs finished (2025-09-01" in report, (role, report)
    assert [t for a, t in audited(assistant, "vera") if a == "ingest"] == []
    assert "quay-repairs" in ids(assistant)


def test_delete_article_as_each_role(served, tmp_path):
    url, assistant, _ = served
    article = tmp_path / "to-delete.txt"
    article.write_text("Short notice\n\nThe fish market opens an hour later on Sundays.\n")
    assistant.ingest([article])
    for role in ROLES:
        call = partial(client(url, role).predict, "to-delete", api_name="/delete_article")
        if refused(role, "delete_article"):
            with pytest.raises(Exception, match=rf"\({role}\) may not delete"):
                call()
            assert "to-delete" in ids(assistant)
        else:
            status, *_ = call()
            assert status.startswith("Deleted to-delete"), (role, status)
            assert "to-delete" not in ids(assistant)
            assert ("delete", "to-delete") in audited(assistant, BY_ROLE[role].name)


def test_add_preferred_spelling_as_each_role(served):
    url, assistant, _ = served
    for role in ROLES:
        name = f"Zelenskyy{role}"
        call = partial(client(url, role).predict, name, "Zelensky", api_name="/add_preferred_spelling")
        if refused(role, "add_preferred_spelling"):
            with pytest.raises(Exception, match=rf"\({role}\) may not edit stylebook"):
                call()
        else:
            status, _ = call()
            assert f"“{name}” is preferred over Zelensky" in status, (role, status)
        assert (("edit_stylebook", name) in audited(assistant, BY_ROLE[role].name)) != refused(
            role, "add_preferred_spelling"
        )


def test_evaluate_as_each_role(served):
    url, assistant, _ = served
    for role in ROLES:
        call = partial(client(url, role).predict, api_name="/evaluate")
        if refused(role, "evaluate"):
            with pytest.raises(Exception, match=rf"\({role}\) may not evaluate"):
                call()
        else:
            status, table, _plot = call()
            assert status.startswith("Evaluation of tiny.yaml finished"), (role, status)
            assert ["gate typos.recall >= 0.5", "passed"] in table["data"]
    assert [a for a, _ in audited(assistant, "vera")].count("evaluate") == 0


# ---------------------------------------------------------------- uploads


def upload(url: str, cookies: dict[str, str] | None) -> httpx.Response:
    files = {"files": ("note.txt", b"A note that should not land on a viewer's say-so.\n", "text/plain")}
    return httpx.post(url + "gradio_api/upload", files=files, cookies=cookies, timeout=30)


def test_uploads_need_the_editor_role(served):
    url, _, _ = served
    assert upload(url, None).status_code == 401
    cookies = {role: client(url, role).cookies for role in ROLES}
    response = upload(url, cookies["viewer"])
    assert response.status_code == 403 and "needs the editor role" in response.json()["detail"]
    for role in ("editor", "admin"):
        response = upload(url, cookies[role])
        assert response.status_code == 200, (role, response.text)
        assert Path(response.json()[0]).read_bytes().startswith(b"A note")
    # The route that stores audio recordings writes files too.
    response = httpx.post(url + "gradio_api/process_recording", cookies=cookies["viewer"], timeout=30)
    assert response.status_code == 403


def test_a_file_input_given_as_a_web_address_is_refused_before_gradio_fetches_it(served, web_page):
    """Gradio would download a FileData whose path is a URL into its cache: no role may have the
    server fetch and store a page that way (links go through ingest_url and its checks)."""
    url, _, _ = served
    for role in ROLES:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            client(url, role).predict("Some text.", handle_file(web_page), api_name="/check")
        assert refused.value.response.status_code == 400
        assert "file inputs are uploaded, not fetched" in refused.value.response.json()["detail"]
    # The page's own route (by number, through the queue) is refused the same way.
    cookies = client(url, "viewer").cookies
    config = httpx.get(url + "config", cookies=cookies, timeout=30).json()
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "check")
    remote = {"path": web_page, "meta": {"_type": "gradio.FileData"}}
    body = {"data": ["Some text.", remote], "fn_index": fn_index, "session_hash": "remote-file", "event_data": None}
    response = httpx.post(url + "gradio_api/queue/join", json=body, cookies=cookies, timeout=30)
    assert response.status_code == 400 and web_page in response.json()["detail"]
    # A file that was uploaded (a path in Gradio's cache) still goes through, for an editor.
    uploaded = upload(url, client(url, "editor").cookies).json()[0]
    editor = client(url, "editor")
    text, *_, status = editor.predict("", {"path": uploaded, "meta": {"_type": "gradio.FileData"}}, api_name="/check")
    assert text.startswith("A note") and "claim(s)" in status


# ---------------------------------------------------------------- sign-in throttle and proxies


def login_status(url: str, user: str, password: str, forwarded_for: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    request = urllib.request.Request(url + "login", data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def small_app(tmp_path: Path, proxies: tuple[str, ...] = ()):
    settings = Settings(data_dir=tmp_path / "data", app=AppSettings(trusted_proxies=proxies))
    assistant = Assistant(settings, embedder=HashingEmbedder(), chat=FakeChatModel())
    access = Access(Authenticator(USERS, LoginThrottle(free=3, base=30.0)))
    return launched(assistant, access, settings)


def test_wrong_passwords_from_elsewhere_do_not_lock_a_user_out(tmp_path):
    # Behind a trusted proxy on 127.0.0.1, each request names its client in X-Forwarded-For.
    with small_app(tmp_path, proxies=("127.0.0.1",)) as url:
        for i in range(5):
            address = f"203.0.113.{i % 2}"
            status = login_status(url, "ada", f"guess-{i}", forwarded_for=address)
            assert status in (400, 429)
        assert login_status(url, "ada", "guess", forwarded_for="203.0.113.0") == 429
        # Ada, elsewhere, signs in at once with her password.
        assert login_status(url, "ada", "a-pass", forwarded_for="198.51.100.2") == 200
        # The guessing address stays throttled for every user, even with a right password.
        assert login_status(url, "ed", "e-pass", forwarded_for="203.0.113.0") == 429


def test_forwarded_for_is_ignored_unless_the_peer_is_a_configured_proxy(tmp_path):
    with small_app(tmp_path) as url:
        # A client on this machine choosing a new X-Forwarded-For for each guess is still
        # counted as itself (the socket peer, 127.0.0.1).
        statuses = [
            login_status(url, "nobody", f"guess-{i}", forwarded_for=f"198.51.100.{i}") for i in range(5)
        ]
        assert statuses == [400, 400, 400, 429, 429]
        assert login_status(url, "vera", "v-pass", forwarded_for="192.0.2.9") == 429
