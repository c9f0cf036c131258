"""The page: a heading, who is signed in, and five tabs, each built by its own module."""

from __future__ import annotations

from typing import Any

import gradio as gr

from assistant.errors import AssistantError
from assistant.service import Assistant
from assistant.ui.auth import (
    Access,
    RoleGates,
    max_upload_bytes,
    signed_in_text,
    trust_forwarded_for,
)
from assistant.ui.brief import build_tab as brief_tab
from assistant.ui.brief import date_controls
from assistant.ui.chat import build_tab as chat_tab
from assistant.ui.common import CSS, log
from assistant.ui.endpoints import check_endpoints, guard_middleware, remote_file_middleware
from assistant.ui.evaluation import build_tab as evaluation_tab
from assistant.ui.factcheck import build_tab as factcheck_tab
from assistant.ui.library import build_tab as library_tab
from assistant.ui.summaries import build_tab as summaries_tab

INTRO = (
    "# Newsroom assistant\n"
    "Answers, summaries and fact-checks from your stored articles. Every sentence cites the passage "
    "it rests on; sentences the passages do not support are marked ⚠."
)


def create_app(assistant: Assistant | None = None, access: Access | None = None) -> gr.Blocks:
    """The Gradio Blocks app over ``assistant`` (a default Assistant from Settings when None).

    ``access`` holds the logins (None: no logins, the one local user may do everything). With
    logins, controls a role cannot use start hidden and the page shows them once it knows the
    signed-in user's role; every handler checks that role again on the server.
    """
    if assistant is None:
        assistant = Assistant()
    access = access or Access()
    gates = RoleGates(access)
    settings = assistant.settings
    max_mb = settings.app.max_upload_mb
    try:
        # Open the store and embedder now, not on the first (possibly concurrent) request.
        _ = assistant.retriever
    except AssistantError as exc:
        log.warning("the article store is not available yet: %s", exc.user_message())

    with gr.Blocks(title="Newsroom assistant", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        signed_in = gr.Markdown(visible=False, elem_id="signed-in")
        since, until = date_controls()
        with gr.Tabs():
            chat_tab(assistant, since, until)
            brief_tab(assistant, since, until)
            summary_article, summary_page = summaries_tab(assistant)
            factcheck_tab(assistant, max_mb, access, gates, since, until)
            refresh, library_outputs = library_tab(assistant, max_mb, summary_article, access, gates, summary_page)
            evaluation_tab(assistant, access, gates)

        def on_load(request: gr.Request):
            if not access.enabled:
                return gr.skip(), *gates.updates(access.actor(None))
            actor = access.actor(request)
            return gr.Markdown(signed_in_text(actor), visible=True), *gates.updates(actor)

        demo.load(on_load, None, [signed_in, *gates.blocks], api_name=False, queue=False)
        demo.load(refresh, None, library_outputs, api_name=False, concurrency_limit=None)

    demo.queue(default_concurrency_limit=settings.app.concurrency, max_size=64)
    check_endpoints(demo)
    return demo


def launch_options(demo: gr.Blocks, access: Access, settings: Any) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``: logins with their throttle and upload guard, the API guard,
    upload limit, styles. Sets which proxies' X-Forwarded-For the server takes (``trust_forwarded_for``)."""
    trust_forwarded_for(settings.app.trusted_proxies)
    login = access.launch_kwargs()
    middleware = [*login.pop("middleware"), guard_middleware(demo), remote_file_middleware()]
    return {
        **login,
        "app_kwargs": {"middleware": middleware},
        "max_file_size": max_upload_bytes(settings),
        "show_error": False,
        "ssr_mode": False,  # a Node front server would hide the client address from the login throttle
        "css": CSS,
    }
