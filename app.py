"""Web app entry point: `python app.py` serves the editors' assistant (127.0.0.1:7860 unless configured)."""

from __future__ import annotations

import logging
import sys

from assistant.errors import AssistantError
from assistant.service import Assistant
from assistant.settings import Settings
from assistant.ui import CSS, create_app, load_auth, max_upload_bytes


def main() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    try:
        auth = load_auth(settings)
        demo = create_app(Assistant(settings))
    except AssistantError as exc:
        sys.exit(f"error: {exc.user_message()}")
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
