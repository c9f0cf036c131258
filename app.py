"""Web app entry point: `python app.py` serves the editors' assistant (127.0.0.1:7860 unless configured)."""

from __future__ import annotations

import logging
import sys
import threading

from assistant.auth import load_users
from assistant.errors import AssistantError
from assistant.redact import install_log_redaction
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.ui import CSS, create_app, max_upload_bytes


def _warm_up(assistant: Assistant) -> None:
    try:
        assistant.warm_up()
    except AssistantError as exc:  # e.g. no local model yet: the page says so when it is used
        logging.getLogger("app").warning("warm-up skipped: %s", exc.user_message())


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    install_log_redaction()  # httpx logs request URLs, which may carry user:password@
    settings = Settings()
    try:
        # user:password:role lines (roles are enforced by the service layer once the UI passes
        # the signed-in user; Gradio itself only needs the name and password).
        users = load_users(settings)
        auth = [(u.name, u.password) for u in users.values()] if users else None
        assistant = Assistant(settings)
        demo = create_app(assistant)
    except AssistantError as exc:
        sys.exit(f"error: {exc.user_message()}")
    # Models load in the background while the page is served; the first request waits for them.
    threading.Thread(target=_warm_up, args=(assistant,), daemon=True).start()
    demo.launch(
        server_name=settings.app.host,
        server_port=settings.app.port,
        auth=auth,
        auth_message="Sign in with your newsroom account." if auth else None,
        max_file_size=max_upload_bytes(settings),
        show_error=False,
        css=CSS,
    )


if __name__ == "__main__":
    main()
