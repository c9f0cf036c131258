"""Web app entry point: `python app.py` serves the editors' assistant (127.0.0.1:7860 unless configured)."""

from __future__ import annotations

import logging
import sys
import threading

from assistant.errors import AssistantError
from assistant.redact import install_log_redaction
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.ui import Access, create_app, launch_options


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
        # user:password:role lines: the page shows each role its controls, the handlers and the
        # service layer refuse the rest; failed sign-ins are throttled per user and per address.
        access = Access.from_settings(settings)
        assistant = Assistant(settings)
        demo = create_app(assistant, access)
    except AssistantError as exc:
        sys.exit(f"error: {exc.user_message()}")
    # Models load in the background while the page is served; the first request waits for them.
    if settings.app.warm_up:
        threading.Thread(target=_warm_up, args=(assistant,), daemon=True).start()
    demo.launch(
        server_name=settings.app.host,
        server_port=settings.app.port,
        **launch_options(demo, access, settings),
    )


if __name__ == "__main__":
    main()
