"""The Chat tab: a streamed answer with [n] citations, unsupported sentences marked, the cited sources."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import gradio as gr

from assistant.errors import AssistantError
from assistant.types import Answer, Passage
from assistant.ui.brief import date_range
from assistant.ui.common import (
    HTML_CSS,
    esc,
    friendly_error,
    injected_passage_html,
    injection_html,
    log,
    mark_quote_html,
    notify,
)
from assistant.verify import split_sentences

if TYPE_CHECKING:
    from assistant.service import Assistant

NOT_ANSWERED = "The stored articles do not answer this question."
NO_SOURCES = '<p class="muted">Sources cited by the answer appear here.</p>'
_MARKER = re.compile(r"\[(\d+)\]")


def sources_html(
    answer: Answer, passages: dict[str, Passage], titles: dict[str, str] | None = None
) -> str:
    """The Sources panel: each cited passage with its number, article title and the quoted span marked;
    passages that address the assistant carry a warning, and the panel opens with the answer's."""
    titles = titles or {}
    if not answer.answered:
        return f'<p class="muted">{esc(NOT_ANSWERED)}</p>'
    if not answer.citations:
        return '<p class="muted">The answer cites no passages.</p>'
    items = []
    for c in answer.citations:
        passage = passages.get(c.passage_id)
        title = (passage.title if passage else "") or titles.get(c.article_id) or c.article_id
        body = (
            mark_quote_html(passage.text, c.quote)
            if passage
            else f'<span class="muted">passage {esc(c.passage_id)} is no longer stored</span>'
        )
        found = c.injection or (passage.injection if passage else "")
        published = c.published or (passage.published if passage else "")
        items.append(
            f'<div class="src{" injected" if found else ""}" data-n="{c.n}">'
            f'<div class="src-head"><span class="src-n">[{c.n}]</span>{esc(title)}'
            f'<span class="src-date muted"> · {esc(published or "undated")}</span></div>'
            f'<div class="src-id">{esc(c.passage_id)}</div>'
            f'{injected_passage_html(found) if found else ""}'
            f'<div class="src-text">{body}</div></div>'
        )
    return injection_html(answer.injection_warning) + "".join(items)


MODEL_CHECK_RUNNING = '<p class="muted" id="model-check">Model check (second stage) of the answer running…</p>'


def model_check_html(answer: Answer) -> str:
    """One line per answer sentence the model check scored: its support and the words it doubts."""
    scored = [v for v in answer.verdicts if v.support is not None]
    if not scored:
        return '<p class="muted" id="model-check">Model check: not available for this answer.</p>'
    items = []
    for v in scored:
        words = ", ".join(f"“{esc(s.text.strip())}”" for s in v.suspect_spans)
        doubt = f" — unlikely: {words}" if words else ""
        items.append(f"<li>{esc(f'{v.support:.2f}')} {esc(v.text[:80])}{doubt}</li>")
    return f'<div id="model-check"><b>Model check (support per sentence)</b><ul>{"".join(items)}</ul></div>'


def _norm(sentence: str) -> str:
    return " ".join(re.findall(r"\w+", _MARKER.sub(" ", sentence).lower()))


def answer_text(answer: Answer) -> str:
    """The answer as plain text with its [n] citations; unverified sentences get ⚠ and the reason."""
    if not answer.answered:
        return NOT_ANSWERED
    text = _answer_body(answer)
    if answer.as_of:
        text += f"\nAs of {answer.as_of[:10]} (the newest article cited)."
    return f"{text}\n⚠ {answer.injection_warning}" if answer.injection_warning else text


def _answer_body(answer: Answer) -> str:
    text = answer.answer.strip()
    if not answer.verdicts:
        return f"⚠ {text} (unverified: no sentence of the answer cites a passage)"
    flagged = [v for v in answer.verdicts if v.verdict != "supported"]
    if not flagged:
        return text
    # The verifier loads spaCy and wordfreq: imported here, on first use, so the app starts fast.

    pending = {id(v): v for v in flagged}
    out: list[str] = []
    last = 0
    for start, end in split_sentences(text):
        key = _norm(text[start:end])
        match = next((v for v in pending.values() if key and _norm(v.text) == key), None)
        if match is None:
            continue
        del pending[id(match)]
        out.append(text[last:start])
        out.append(f"⚠ {text[start:end].strip()} ({_verdict_note(match.verdict, match.reason)})")
        last = end
    out.append(text[last:])
    lines = ["".join(out).strip()]
    # A flagged sentence that could not be placed in the text is still shown, never dropped.
    lines += [f"⚠ “{v.text}” ({_verdict_note(v.verdict, v.reason)})" for v in pending.values()]
    return "\n".join(lines)


def _verdict_note(verdict: str, reason: str) -> str:
    return f"{verdict}: {reason}" if reason else verdict


def chat_html(text: str) -> str:
    """Chat bubble content: the Chatbot renders HTML (render_markdown=False), so escape and keep line breaks."""
    return esc(text).replace("\n", "<br>")


# ---------------------------------------------------------------- chat


def chat_stream(
    assistant: Assistant, question: str, history: list[dict] | None, since: str | None = None, until: str | None = None
) -> Iterator[tuple[list[dict], str]]:
    """Stream an answer into the chat history; yields (messages, sources HTML), the last one verified.

    ``since`` / ``until``: the page's date range (ISO or 7d, 3m, 1y), limiting the articles it answers from."""
    messages = list(history or [])
    question = (question or "").strip()
    if not question:
        yield messages, NO_SOURCES
        return
    messages.append({"role": "user", "content": chat_html(question)})
    messages.append({"role": "assistant", "content": "…"})
    yield messages, '<p class="muted">Searching the stored articles…</p>'
    text = ""
    try:
        lo, hi = date_range(since, until)
        for item in assistant.ask_stream(question, since=lo, until=hi):
            if isinstance(item, Answer):
                messages[-1] = {"role": "assistant", "content": chat_html(answer_text(item))}
                sources = answer_sources(assistant, item)
                scorer = assistant.model_check() if item.answered and item.verdicts else None
                if scorer is None:
                    yield messages, sources
                    return
                yield messages, MODEL_CHECK_RUNNING + sources
                checked = assistant.support_answer(item, scorer)
                messages[-1] = {"role": "assistant", "content": chat_html(answer_text(checked))}
                yield messages, model_check_html(checked) + sources
                return
            text += str(item)
            messages[-1] = {"role": "assistant", "content": chat_html(text)}
            yield messages, '<p class="muted">Writing the answer…</p>'
    except Exception as exc:  # noqa: BLE001 - the UI shows every failure as a message
        message = friendly_error(exc, "the answer")
        notify(message)
        messages[-1] = {"role": "assistant", "content": chat_html(f"⚠ {message}")}
        yield messages, NO_SOURCES
        return
    # The stream ended without a verified Answer: show what came, marked as unverified.
    messages[-1] = {
        "role": "assistant",
        "content": chat_html(f"⚠ {text} (unverified: the answer was not checked)"),
    }
    yield messages, NO_SOURCES


def answer_sources(assistant: Assistant, answer: Answer) -> str:
    """Sources HTML for an answer, looking the cited passages up in the store."""
    try:
        passages = assistant.store.get_passages_by_id(
            sorted({c.passage_id for c in answer.citations})
        )
    except AssistantError as exc:
        log.warning("could not load cited passages: %s", exc)
        passages = {}
    return sources_html(answer, passages)


def build_tab(assistant: Assistant, since: gr.Textbox | None = None, until: gr.Textbox | None = None) -> None:
    """The Chat tab: question box, chat history, and the sources panel; ``since`` / ``until`` are the
    page's date-range control."""

    def on_ask(question: str, history: list[dict], lo: str = "", hi: str = ""):
        for messages, sources in chat_stream(assistant, question, history, lo, hi):
            yield messages, sources, messages, ""

    with gr.Tab("Chat", id="chat"):
        history = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat",
                    height=460,
                    render_markdown=False,
                    sanitize_html=True,
                    allow_tags=False,
                    feedback_options=None,
                    buttons=["copy"],
                    placeholder="Ask a question about the stored articles. Answers cite passages as [n].",
                    elem_id="chatbot",
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Ask about the stored articles, e.g. What did the mayor promise?",
                        show_label=False,
                        container=False,
                        scale=8,
                        elem_id="question",
                    )
                    ask_btn = gr.Button(
                        "Ask", variant="primary", scale=1, min_width=80, elem_id="ask"
                    )
                    clear_btn = gr.Button("Clear", scale=1, min_width=80)
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(NO_SOURCES, css_template=HTML_CSS, elem_id="sources")
        ask_inputs = [question, history] + ([since, until] if since is not None and until is not None else [])
        ask_outputs = [chatbot, sources, history, question]
        ask_btn.click(on_ask, ask_inputs, ask_outputs, api_name="ask")
        question.submit(on_ask, ask_inputs, ask_outputs, api_name=False)
        clear_btn.click(
            lambda: ([], NO_SOURCES, []),
            None,
            [chatbot, sources, history],
            api_name=False,
            queue=False,
        )
        # The chat's own trash icon must forget the session history too.
        chatbot.clear(lambda: (NO_SOURCES, []), None, [sources, history], api_name=False)
