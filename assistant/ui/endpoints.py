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

import re

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
