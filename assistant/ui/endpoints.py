"""The web app's API: the named endpoints it means to expose, and nothing else.

Gradio registers every event handler of the page. One declared ``api_name=False`` is left out
of the API docs but still gets a name (``false``, ``false_4`` …) that Gradio's name-based routes
(``/gradio_api/call/NAME``, ``/call/v2/NAME``, ``/run/NAME``, ``/api/NAME``) answer. The page
calls its handlers by number (``fn_index``) through the queue, and ``/run/predict`` for events
that skip the queue, so ``ApiGuard`` lets name-based routes reach the public endpoints and that
one page route only. A call by number can reach any handler of the page, as it must for the page
to work: that is why every handler, public or not, acts as the signed-in user, checks that user's
role, and the service layer checks it again.
"""

from __future__ import annotations

import json
import re
from typing import Any

import gradio as gr
from starlette.middleware import Middleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

# What API clients (gradio_client, curl) may call; tests/test_ui.py and the README list the same.
PUBLIC_ENDPOINTS = frozenset(
    {
        "ask",
        "summarize",
        "check",
        "accept_spelling",
        "ingest",
        "ingest_url",
        "upload_job",
        "delete_article",
        "add_preferred_spelling",
        "evaluate",
    }
)

_NAMED_ROUTE = re.compile(r"/gradio_api/(?P<route>call/v2|call|run|api)/(?P<name>[^/]+)")
# The page's own route for events outside the queue (it names the handler by fn_index).
_PAGE_ROUTE = ("run", "predict")


def public_endpoints(demo: gr.Blocks) -> set[str]:
    """Names of the handlers Gradio documents and serves by name (``api_visibility="public"``)."""
    return {
        str(fn.api_name)
        for fn in demo.fns.values()
        if fn.api_visibility == "public" and fn.fn is not None
    }


def check_endpoints(demo: gr.Blocks) -> None:
    """Refuse to build a page whose public API differs from PUBLIC_ENDPOINTS (a new handler must choose)."""
    exposed = public_endpoints(demo)
    if exposed != PUBLIC_ENDPOINTS:
        extra = ", ".join(sorted(exposed - PUBLIC_ENDPOINTS)) or "none"
        missing = ", ".join(sorted(PUBLIC_ENDPOINTS - exposed)) or "none"
        raise RuntimeError(
            f"the page's public API endpoints differ from PUBLIC_ENDPOINTS (unexpected: {extra}; missing: {missing}); "
            "give new handlers api_name=False or add them to PUBLIC_ENDPOINTS"
        )


class ApiGuard:
    """ASGI middleware: name-based API routes answer 404 for any name that is not a public endpoint."""

    def __init__(self, app: ASGIApp, demo: gr.Blocks) -> None:
        self.app = app
        self.demo = demo

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            match = _NAMED_ROUTE.search(scope["path"])
            if (
                match
                and (match.group("route"), match.group("name")) != _PAGE_ROUTE
                and match.group("name") not in public_endpoints(self.demo)
            ):
                listed = ", ".join(f"/{name}" for name in sorted(public_endpoints(self.demo)))
                response = JSONResponse(
                    {"detail": f"no API endpoint named {match.group('name')!r}; this app exposes {listed}"},
                    status_code=404,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def guard_middleware(demo: gr.Blocks) -> Middleware:
    return Middleware(ApiGuard, demo=demo)


# Routes that carry a handler's inputs (the page's queue, the name-based API, streamed inputs).
_INPUT_ROUTES = re.compile(r"/gradio_api/(?:queue/join|run/|call/|api/|stream/)")
_REMOTE = re.compile(r"^\s*(?:https?|ftp)://", re.IGNORECASE)
MAX_INPUT_BYTES = 64 * 1024 * 1024


def remote_files(value: Any) -> list[str]:
    """Paths of file inputs in ``value`` (Gradio FileData dicts) that are web addresses."""
    found: list[str] = []
    if isinstance(value, dict):
        path = value.get("path")
        if isinstance(path, str) and _REMOTE.match(path):
            found.append(path)
        for item in value.values():
            found += remote_files(item)
    elif isinstance(value, list):
        for item in value:
            found += remote_files(item)
    return found


class RemoteFileGuard:
    """ASGI middleware: a file input given as a web address is refused (400) before Gradio sees it.

    Gradio downloads a file input whose ``path`` is a URL into its cache before any handler runs,
    so any signed-in client (a viewer too, through ``check``) could make the server fetch and
    store pages. The app's files come only through ``/gradio_api/upload`` (editors and admins,
    ``UploadGuard``); links are ingested by ``ingest_url`` with its own checks.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http" and scope.get("method") == "POST" and _INPUT_ROUTES.search(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_INPUT_BYTES:
                await JSONResponse({"detail": "request too large"}, status_code=413)(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        try:
            remote = remote_files(json.loads(body)) if body else []
        except ValueError:
            remote = []  # not JSON: Gradio answers it
        if remote:
            response = JSONResponse(
                {"detail": f"file inputs are uploaded, not fetched: {remote[0][:200]} is a web address "
                 "(upload the file, or ingest a link with ingest_url)"},
                status_code=400,
            )
            await response(scope, receive, send)
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def remote_file_middleware() -> Middleware:
    return Middleware(RemoteFileGuard)
