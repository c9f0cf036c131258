"""Credentials in endpoint URLs never reach a message, a log line, a settings repr or the CLI output."""

from __future__ import annotations

import io
import logging
import os
import subprocess

import pytest

from assistant.errors import BadInputError, EndpointError
from assistant.llm_openai import openai_chat
from assistant.redact import (
    RedactingFilter,
    install_log_redaction,
    public_error,
    redact_text,
    redact_url,
)
from assistant.settings import Settings
from tests.conftest import free_port
from tests.test_cli import BIN

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"http://editor:{SECRET}@10.0.0.5:8080/v1", "http://***@10.0.0.5:8080/v1"),
        (f"https://{SECRET}@api.example.com/v1", "https://***@api.example.com/v1"),
        (f"http://host/v1?api_key={SECRET}&model=qwen", "http://host/v1?api_key=***&model=qwen"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        (None, None),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_text_masks_urls_keys_and_bearer_tokens_in_free_text():
    text = (
        f"cannot reach http://u:{SECRET}@h:1/v1 (also https://x.org/a?token={SECRET}); "
        f"headers Authorization: Bearer {SECRET}; key sk-{SECRET}abcdef"
    )
    out = redact_text(text)
    assert SECRET not in out
    assert "http://***@h:1/v1" in out and "token=***" in out and "Bearer ***" in out


def test_settings_repr_masks_the_endpoint_and_hides_the_key():
    settings = Settings(llm={"backend": "openai", "base_url": f"http://u:{SECRET}@h/v1", "api_key": SECRET})
    for text in (repr(settings), str(settings), repr(settings.llm)):
        assert SECRET not in text
    assert "http://***@h/v1" in repr(settings.llm)
    assert settings.llm.api_key.get_secret_value() == SECRET


def test_unreachable_endpoint_error_is_masked_and_web_users_see_no_address():
    port = free_port()  # nothing listens there
    chat = openai_chat(f"http://editor:{SECRET}@127.0.0.1:{port}/v1", SECRET, "qwen", max_retries=0)
    with pytest.raises(EndpointError) as info:
        chat.invoke("hello")
    message = info.value.user_message()
    assert SECRET not in message and f"http://***@127.0.0.1:{port}/v1" in message
    shown = public_error(info.value, "the summary")
    assert shown.startswith("The model endpoint is unreachable") and "127.0.0.1" not in shown and SECRET not in shown
    # Other errors keep their own help text.
    assert "Check the file" in public_error(BadInputError("bad file"))
    assert "server log" in public_error(RuntimeError(f"http://u:{SECRET}@x"))


def test_log_filter_masks_messages_arguments_and_tracebacks():
    stream = io.StringIO()
    logger = logging.getLogger("test-redact")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    try:
        install_log_redaction(logger)
        install_log_redaction(logger)  # idempotent
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
        logger.warning("HTTP Request: POST %s", f"http://u:{SECRET}@h/v1/chat/completions?api_key={SECRET}")
        try:
            raise ConnectionError(f"refused by http://u:{SECRET}@h/v1")
        except ConnectionError:
            logger.exception("call failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert SECRET not in out
    assert "http://***@h/v1/chat/completions" in out and "refused by http://***@h/v1" in out


def test_cli_never_prints_the_credentials_of_the_endpoint(tmp_path):
    draft = tmp_path / "draft.txt"
    draft.write_text("Harbour news\n\nThe Vellmar council approved the harbour budget on Monday after a long debate.")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    env.update(
        ASSISTANT_LLM__BACKEND="openai",
        ASSISTANT_LLM__BASE_URL=f"http://editor:{SECRET}@127.0.0.1:{free_port()}/v1",
        ASSISTANT_LLM__API_KEY=SECRET,
        ASSISTANT_LLM__RETRIES="0",
    )
    proc = subprocess.run(
        [str(BIN), "--data-dir", str(tmp_path / "d"), "summarize", "--file", str(draft), "--sentences", "1"],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    assert "cannot reach the chat endpoint http://***@127.0.0.1" in proc.stderr  # the operator still learns where
    assert "extractive" in proc.stdout
