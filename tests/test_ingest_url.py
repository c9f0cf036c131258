"""`ingest URL`: saved pages served by a local HTTP server (http.server in a thread on 127.0.0.1)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from assistant import fetch
from assistant.errors import BadInputError
from assistant.service import Assistant
from assistant.settings import IngestSettings

PAGE = """<!doctype html>
<html><head>
<title>Harbour vote passes | The Gazette</title>
<meta property="article:published_time" content="2025-08-07T21:16:00+05:30">
</head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<article>
<h1>Harbour vote passes</h1>
<p>The harbour council approved the budget for the floating berth on Tuesday after a long debate about its cost.</p>
<p>The vote was 7 to 2. Mayor Okafor said the berth would open next spring and hold 14 boats.</p>
<p>Critics said the price had doubled since the plan was first presented to the council in 2023, and asked for an audit.</p>
</article>
<footer>Copyright The Gazette. All rights reserved. Subscribe to our newsletter.</footer>
</body></html>
"""
BIG = 50 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    sent: ClassVar[dict[str, int]] = {}

    def log_message(self, *args) -> None:  # quiet test output
        pass

    def _send(self, code: int, body: bytes = b"", ctype: str = "text/html; charset=utf-8", headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/news/harbour-vote.html":
            self._send(200, PAGE.encode())
        elif path == "/to-private":
            self._send(302, headers={"Location": "http://10.20.30.40/admin"})
        elif path == "/to-metadata":
            self._send(301, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path.startswith("/hop/"):
            n = int(path.rsplit("/", 1)[1])
            target = "/news/harbour-vote.html" if n == 0 else f"/hop/{n - 1}"
            self._send(302, headers={"Location": target})
        elif path == "/data.json":
            self._send(200, b'{"text": "not a page"}', ctype="application/json")
        elif path == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self._stream(path)
        elif path == "/big-streamed":  # no Content-Length: the client must stop reading by itself
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Connection", "close")
            self.end_headers()
            self._stream(path)
        else:
            self._send(404, b"not found")

    def _stream(self, key: str) -> None:
        chunk = b"<p>" + b"x" * 65530 + b"</p>"
        sent = 0
        try:
            while sent < BIG:
                self.wfile.write(chunk)
                sent += len(chunk)
                _Handler.sent[key] = sent
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


ALLOW = IngestSettings(allow_private_urls=True, max_file_bytes=1_000_000, url_timeout=10)


def test_page_is_ingested_with_title_date_body_and_url(server, settings, embedder):
    settings = settings.model_copy(update={"ingest": ALLOW})
    a = Assistant(settings, embedder=embedder)
    url = f"{server}/news/harbour-vote.html"
    report = a.ingest([url])
    assert not report.failed, report.files[0].error
    [article] = report.files[0].articles
    assert article.id == "harbour-vote"
    stored = a.store.get_article("harbour-vote")
    assert stored.title == "Harbour vote passes"
    assert stored.published == "2025-08-07T21:16:00+05:30"
    assert stored.url == url
    assert "floating berth" in stored.text and "Subscribe" not in stored.text and "Sport" not in stored.text
    info = {i.id: i for i in a.store.list_articles()}["harbour-vote"]
    assert info.source == url and info.url == url
    hit = a.retriever.search("floating berth boats", k=1)[0]
    assert hit.passage.url == url and hit.passage.published == "2025-08-07T21:16:00+05:30"
    # The same link again is the same article, unchanged.
    assert a.ingest([url]).articles == {"harbour-vote": "unchanged"}


def test_loopback_is_refused_when_the_setting_is_off(server):
    with pytest.raises(BadInputError, match="loopback"):
        fetch.fetch_article(f"{server}/news/harbour-vote.html", IngestSettings())
    with pytest.raises(BadInputError, match="loopback"):
        fetch.check_address("http://localhost:9/x", IngestSettings())
    with pytest.raises(BadInputError, match="only http and https"):
        fetch.check_address("file:///etc/passwd", IngestSettings())


@pytest.mark.parametrize("path,reason", [("/to-private", "private address"), ("/to-metadata", "link-local")])
def test_redirect_to_a_private_address_is_refused_when_the_setting_is_off(server, monkeypatch, path, reason):
    # The test server itself is on 127.0.0.1: count that one address as public, every other check stays.
    real = fetch._address_problem
    monkeypatch.setattr(fetch, "_address_problem", lambda ip: None if str(ip) == "127.0.0.1" else real(ip))
    with pytest.raises(BadInputError, match=reason):
        fetch.fetch_html(f"{server}{path}", IngestSettings(url_timeout=5))


def test_redirect_chains_of_five_are_followed_and_longer_ones_refused(server):
    html, final = fetch.fetch_html(f"{server}/hop/4", ALLOW)  # 5 redirects
    assert "Harbour vote passes" in html and final.endswith("/news/harbour-vote.html")
    with pytest.raises(BadInputError, match="more than 5 redirects"):
        fetch.fetch_html(f"{server}/hop/5", ALLOW)  # 6 redirects


@pytest.mark.parametrize("path", ["/big-declared", "/big-streamed"])
def test_a_50_mb_page_is_refused_without_reading_it_all(server, path):
    with pytest.raises(BadInputError, match="over the limit"):
        fetch.fetch_html(f"{server}{path}", ALLOW)
    # The server stopped well short of 50 MB: the client closed the connection.
    for _ in range(50):
        if _Handler.sent.get(path, 0) < BIG:
            break
        threading.Event().wait(0.1)
    assert _Handler.sent.get(path, 0) < BIG // 2


def test_non_html_content_type_is_refused(server):
    with pytest.raises(BadInputError, match="application/json"):
        fetch.fetch_html(f"{server}/data.json", ALLOW)


def test_cli_batch_reports_a_failed_link_by_url_and_ingests_the_rest(server, settings, embedder, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from assistant import cli

    settings = settings.model_copy(update={"ingest": ALLOW})
    a = Assistant(settings, embedder=embedder)
    monkeypatch.setattr(cli.State, "assistant", classmethod(lambda cls: a))
    note = tmp_path / "note.txt"
    note.write_text("Ferry strike\n\nFerry crews walked out on Monday over pay.\n")
    bad = f"{server}/data.json"
    out = CliRunner().invoke(cli.app, ["ingest", "--quiet", f"{server}/news/harbour-vote.html", bad, str(note), f"{server}/missing"])
    assert out.exit_code == 1
    assert f"FAILED {bad}: content type is application/json" in out.output
    assert f"FAILED {server}/missing: HTTP 404" in out.output
    assert "2 article(s) added" in out.output
    assert {i.id for i in a.store.list_articles()} == {"harbour-vote", "note"}


def test_cli_names_a_link_of_another_scheme_as_such_not_as_a_missing_file(settings, embedder, tmp_path, monkeypatch):
    """`ingest ftp://host/x` was read as the path 'ftp:/host/x' and failed as "no such file or folder"."""
    from typer.testing import CliRunner

    from assistant import cli

    a = Assistant(settings, embedder=embedder)
    monkeypatch.setattr(cli.State, "assistant", classmethod(lambda cls: a))
    note = tmp_path / "note.txt"
    note.write_text("Ferry strike\n\nFerry crews walked out on Monday over pay.\n")
    out = CliRunner().invoke(cli.app, ["ingest", "--quiet", "ftp://example.org/news.html", "FILE:///etc/hostname", str(note)])
    assert out.exit_code == 1
    assert "FAILED ftp://example.org/news.html: only http and https links can be ingested, not ftp" in out.output
    assert "FAILED FILE:///etc/hostname: only http and https links can be ingested" in out.output
    assert "no such file" not in out.output
    assert {i.id for i in a.store.list_articles()} == {"note"}


def test_library_url_box_ingests_a_link_and_needs_the_editor_role(server, settings, embedder):
    from assistant import ui
    from assistant.auth import Actor

    settings = settings.model_copy(update={"ingest": ALLOW})
    a = Assistant(settings, embedder=embedder)
    url = f"{server}/news/harbour-vote.html"
    refused = ui.ingest_link(a, url, actor=Actor(name="vera", role="viewer", via="web"))
    assert "may not ingest" in refused and not a.store.list_articles()
    report = ui.ingest_link(a, url, actor=Actor(name="ed", role="editor", via="web"))
    assert "1 article(s) added" in report and "Harbour vote passes" in report and "2025-08-07T21:16:00+05:30" in report
    failed = ui.ingest_link(a, f"{server}/data.json", actor=Actor(name="ed", role="editor", via="web"))
    assert "Failed link" in failed and "application/json" in failed
    assert "http://" in ui.ingest_link(a, "not a link", actor=Actor(name="ed", role="editor", via="web"))


def test_a_server_that_drips_bytes_is_cut_off_by_the_total_deadline(server, monkeypatch):
    clock = iter(range(0, 10_000, 30))  # every look at the clock: 30 s later
    monkeypatch.setattr(fetch, "_clock", lambda: next(clock))
    with pytest.raises(BadInputError, match="timed out"):
        fetch.fetch_html(f"{server}/hop/3", ALLOW)
