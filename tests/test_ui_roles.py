"""Roles in the running web app: the server refuses what a role may not do (called directly with
gradio_client, whatever the page shows), only the named endpoints exist, the page hides what a
role cannot use, sign-ins are throttled per address, and the audit log names who changed what.

The app runs in this process on a free loopback port (real Gradio, real Chroma, the hashing
embedder and a fake chat model: no model is loaded).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import gradio as gr
import pytest
from gradio_client import Client

from assistant.auth import Authenticator, LoginThrottle, User
from assistant.embed import HashingEmbedder
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.testing import FakeChatModel
from assistant.ui import PUBLIC_ENDPOINTS, Access, create_app, launch_options, public_endpoints
from assistant.ui.endpoints import check_endpoints
from tests.conftest import EXAMPLES, free_port

USERS = {
    "vera": User("vera", "viewer", "v-pass"),
    "ed": User("ed", "editor", "e-pass"),
    "ada": User("ada", "admin", "a-pass"),
}
LOGINS = {name: (name, user.password) for name, user in USERS.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(url, assistant): the app with three logins on 127.0.0.1:<free port>, the sample corpus stored."""
    data = tmp_path_factory.mktemp("roles") / "data"
    settings = Settings(data_dir=data)
    assistant = Assistant(settings, embedder=HashingEmbedder(), chat=FakeChatModel())
    report = assistant.ingest([EXAMPLES])
    assert not report.failed, report.summary()
    # A short back-off so the throttle test does not wait long; the logic is the real one.
    access = Access(Authenticator(USERS, LoginThrottle(free=3, base=30.0)))
    demo = create_app(assistant, access)
    port = free_port()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        demo.launch(
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
            **launch_options(demo, access, settings),
        )
        try:
            yield f"http://127.0.0.1:{port}/", assistant
        finally:
            demo.close()


def client(url: str, who: str) -> Client:
    return Client(url, auth=LOGINS[who], verbose=False, download_files=False)


def article_ids(assistant: Assistant) -> list[str]:
    return [a.id for a in assistant.store.list_articles()]


def test_a_viewer_calling_delete_directly_is_refused_by_the_server(served):
    url, assistant = served
    before = article_ids(assistant)
    target = before[0]
    viewer = client(url, "vera")
    with pytest.raises(Exception, match="vera \\(viewer\\) may not delete"):
        viewer.predict(target, api_name="/delete_article")
    with pytest.raises(Exception, match="may not ingest"):
        viewer.predict([], api_name="/ingest")
    with pytest.raises(Exception, match="may not ingest"):
        viewer.predict("http://127.0.0.1:9/page", api_name="/ingest_url")
    with pytest.raises(Exception, match="may not evaluate"):
        viewer.predict(api_name="/evaluate")
    with pytest.raises(Exception, match="may not edit stylebook"):
        viewer.predict("Zelenskyy", "Zelensky", api_name="/add_preferred_spelling")
    with pytest.raises(Exception, match="may not accept spelling"):
        viewer.predict("Halvorrsen", "", None, api_name="/accept_spelling")
    assert article_ids(assistant) == before
    assert not [e for e in assistant.audit.entries() if e.user == "vera"]
    # An editor may accept a spelling but not delete; the admin deletes, and the log says who.
    editor = client(url, "ed")
    editor.predict("Halvorrsen", "", None, api_name="/accept_spelling")
    with pytest.raises(Exception, match="ed \\(editor\\) may not delete"):
        editor.predict(target, api_name="/delete_article")
    assert target in article_ids(assistant)
    status, *_ = client(url, "ada").predict(target, api_name="/delete_article")
    assert status.startswith(f"Deleted {target}") and target not in article_ids(assistant)
    entries = [(e.user, e.action, e.target, e.via) for e in assistant.audit.entries()]
    assert ("ed", "accept_spelling", "Halvorrsen", "web") in entries
    assert ("ada", "delete", target, "web") in entries
    # What a viewer may do still works for a viewer.
    _, _, _, status = viewer.predict("The mayor Ingrid Halvorsen opened the quay.", None, api_name="/check")
    assert "claim(s)" in status


def test_only_the_intended_endpoints_exist(served):
    url, _ = served
    admin = client(url, "ada")
    listed = set(admin.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert listed == {f"/{name}" for name in PUBLIC_ENDPOINTS}
    cookies = login(url, "ada", "a-pass")
    # Handlers declared api_name=False are named false, false_1, …: none answers by name.
    refused = ("call/false_4", "call/false", "run/false_1", "call/v2/false_2", "api/false_3", "call/predict")
    for path in (f"gradio_api/{route}" for route in refused):
        status, body = post(url + path, {"data": []}, cookies)
        assert status == 404 and "no API endpoint named" in body, (path, status, body)
    # A public name still gets through the guard to Gradio.
    status, body = post(url + "gradio_api/call/check", {"data": ["The quay opened.", None]}, cookies)
    assert status == 200 and "event_id" in body


def test_a_viewer_calling_the_delete_handler_by_number_like_the_page_is_refused(served):
    """The page calls handlers by fn_index through the queue; that route reaches every handler."""
    url, assistant = served
    target = article_ids(assistant)[-1]
    cookies = login(url, "vera", "v-pass")
    config = json.loads(get(url + "config", cookies))
    fn_index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == "delete_article")
    session = "roles-test-session"
    status, body = post(
        url + "gradio_api/queue/join",
        {"data": [target], "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None},
        cookies,
    )
    assert status == 200, body
    done = None
    with _opener(cookies).open(url + f"gradio_api/queue/data?session_hash={session}", timeout=120) as stream:
        for raw in stream:
            line = raw.decode().strip()
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed":
                    done = message
                    break
    assert done is not None and done["success"] is False, done
    assert "vera (viewer) may not delete" in json.dumps(done["output"]), done
    assert target in article_ids(assistant)


def test_a_new_handler_must_choose_public_or_not():
    with gr.Blocks() as demo:
        box = gr.Textbox()
        gr.Button().click(lambda s: s, box, box, api_name="ask")
        gr.Button().click(lambda s: s, box, box)  # named after the function: an accidental endpoint
    with pytest.raises(RuntimeError, match="unexpected: lambda.*missing: accept_spelling"):
        check_endpoints(demo)
    assert public_endpoints(demo) == {"ask", "lambda"}


def test_the_page_learns_the_role_and_shows_only_its_controls(served):
    url, _ = served
    demo_config = json.loads(get(url + "config", login(url, "vera", "v-pass")))
    # Gated controls start hidden on the page of a server with logins (fail closed).
    by_id = {c.get("props", {}).get("elem_id"): c for c in demo_config["components"]}
    for elem in ("ingest-box", "delete-box", "stylebook-box", "accept-box", "check-file"):
        assert by_id[elem]["props"]["visible"] is False, elem


def test_failed_sign_ins_are_throttled_per_address(served):
    url, _ = served
    # Runs last: the address is throttled afterwards. The throttle is shared with the other tests' logins: use a name no test signs in with.
    statuses = [login_status(url, "nobody", f"guess-{i}") for i in range(5)]
    assert statuses[:3] == [400, 400, 400]  # wrong password
    assert statuses[3:] == [429, 429]  # the address backs off; the password is not even checked
    # The refusal says how long to wait.
    request = urllib.request.Request(url + "login", data=urllib.parse.urlencode({"username": "vera", "password": "v-pass"}).encode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 429 and int(refused.value.headers["Retry-After"]) > 0


# ---------------------------------------------------------------- plain HTTP helpers


def login_status(url: str, user: str, password: str) -> int:
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url + "login", data=data), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def login(url: str, user: str, password: str) -> CookieJar:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    data = urllib.parse.urlencode({"username": user, "password": password}).encode()
    opener.open(urllib.request.Request(url + "login", data=data), timeout=30).read()
    return jar


def _opener(cookies: CookieJar):
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))


def post(url: str, payload: dict, cookies: CookieJar) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with _opener(cookies).open(request, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def get(url: str, cookies: CookieJar) -> str:
    with _opener(cookies).open(url, timeout=30) as r:
        return r.read().decode()
