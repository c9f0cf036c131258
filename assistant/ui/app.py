"""The page: a heading and five tabs, each built by its own module."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from assistant.errors import AssistantError
from assistant.ui.chat import build_tab as chat_tab
from assistant.ui.common import log
from assistant.ui.evaluation import build_tab as evaluation_tab
from assistant.ui.factcheck import build_tab as factcheck_tab
from assistant.ui.library import build_tab as library_tab
from assistant.ui.summaries import build_tab as summaries_tab

if TYPE_CHECKING:
    from assistant.service import Assistant

INTRO = (
    "# Newsroom assistant\n"
    "Answers, summaries and fact-checks from your stored articles. Every sentence cites the passage "
    "it rests on; sentences the passages do not support are marked ⚠."
)


def create_app(assistant: Assistant | None = None) -> gr.Blocks:
    """The Gradio Blocks app over ``assistant`` (a default Assistant from Settings when None)."""
    if assistant is None:
        from assistant.service import Assistant

        assistant = Assistant()
    settings = assistant.settings
    max_mb = settings.app.max_upload_mb
    try:
        # Open the store and embedder now, not on the first (possibly concurrent) request.
        _ = assistant.retriever
    except AssistantError as exc:
        log.warning("the article store is not available yet: %s", exc.user_message())

    with gr.Blocks(title="Newsroom assistant", analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Tabs():
            chat_tab(assistant)
            summary_article = summaries_tab(assistant)
            factcheck_tab(assistant, max_mb)
            refresh, library_outputs = library_tab(assistant, max_mb, summary_article)
            evaluation_tab(assistant)
        demo.load(refresh, None, library_outputs, api_name=False, concurrency_limit=None)

    demo.queue(default_concurrency_limit=settings.app.concurrency, max_size=64)
    return demo
