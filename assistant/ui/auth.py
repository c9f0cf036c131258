"""Who uses the web app: sign-in (throttled per user and address, and per address), trusted proxies,
roles on the page, who may upload, upload limits.

The service layer refuses what a role may not do (``assistant.auth.require``), whatever a page
shows; this module tells it who is asking (the user Gradio signed in) and hides the controls a
role cannot use, so nobody is offered a button that can only fail.
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import gradio as gr
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.auth import (
    ACTIONS,
    Actor,
    Authenticator,
    LoginThrottle,
    allowed,
    anonymous_actor,
    load_users,
    require,
)
from assistant.errors import BadInputError, LoginThrottledError, PermissionDeniedError
from assistant.settings import Settings
from assistant.ui.common import log

# The address of the client whose POST /login is being handled: Gradio hands the auth callable
# only the name and password, so LoginGuard (which sees the request) puts the address here.
_LOGIN_CLIENT: ContextVar[str | None] = ContextVar("login_client", default=None)

AUTH_MESSAGE = "Sign in with your newsroom account."


class Access:
    """The app's logins (None: no auth file, one local user who may do everything) and who a request is."""

    def __init__(self, authenticator: Authenticator | None = None) -> None:
        self.authenticator = authenticator

    @classmethod
    def from_settings(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> Access:
        """Logins from ``ASSISTANT_APP__AUTH_FILE`` / ``ASSISTANT_APP_USERS`` (``user:password:role`` each)."""
        users = load_users(settings, environ)
        return cls(Authenticator(users) if users else None)

    @property
    def enabled(self) -> bool:
        return self.authenticator is not None

    def actor(self, request: gr.Request | None) -> Actor:
        """The signed-in user of ``request`` with their role; refused when logins are on and nobody is signed in."""
        if self.authenticator is None:
            return anonymous_actor()
        name = getattr(request, "username", None) if request is not None else None
        if not name:
            # Gradio only lets signed-in requests through; reaching here means a bypass: fail closed.
            raise PermissionDeniedError("this request is not signed in", "Sign in again.")
        return self.authenticator.actor(name, via="web")

    def act(self, request: gr.Request | None, action: str) -> Actor:
        """The signed-in user, checked for ``action`` before any work starts.

        A refusal is raised as ``gr.Error``: the page shows it as a toast and an API client
        (gradio_client, curl) gets an error, not a success carrying a message. The service layer
        checks the same user again, so a handler that forgot this call still cannot do harm.
        """
        try:
            actor = self.actor(request)
            require(actor, action)
        except PermissionDeniedError as exc:
            who = getattr(request, "username", None) or "?"
            log.warning("refused %s for %s: %s", action, who, exc)
            raise gr.Error(exc.user_message(), print_exception=False) from exc
        return actor

    def check_login(self, username: str, password: str) -> bool:
        """Gradio's ``auth`` callable: the password checked behind the throttle (per user and per address)."""
        assert self.authenticator is not None
        client = _LOGIN_CLIENT.get()
        try:
            return self.authenticator.login(username, password, client=client) is not None
        except LoginThrottledError:
            # The same "Incorrect credentials" as a wrong password: a different answer for a
            # throttled account would tell a guesser which user names exist.
            return False

    def launch_kwargs(self) -> dict[str, Any]:
        """``auth``, ``auth_message`` and the login and upload middleware for ``Blocks.launch``."""
        if self.authenticator is None:
            return {"auth": None, "auth_message": None, "middleware": []}
        guards = [
            Middleware(LoginGuard, throttle=self.authenticator.throttle),
            Middleware(UploadGuard, access=self),
        ]
        return {"auth": self.check_login, "auth_message": AUTH_MESSAGE, "middleware": guards}


FORWARDED_ALLOW_IPS = "FORWARDED_ALLOW_IPS"


def trust_forwarded_for(proxies: Sequence[str]) -> None:
    """Take ``X-Forwarded-For`` only from ``proxies`` (``settings.app.trusted_proxies``); none: from nobody.

    Gradio serves the app with uvicorn, whose proxy-headers middleware replaces the client
    address with the header's when the connection comes from an address in the
    ``FORWARDED_ALLOW_IPS`` variable, read when the server starts; its default is 127.0.0.1, so
    any process on this machine could choose the address the login throttle counts against.
    Called before ``launch``: the variable becomes exactly the configured proxies.
    """
    os.environ[FORWARDED_ALLOW_IPS] = ",".join(p.strip() for p in proxies if p.strip())


def client_address(scope: Scope) -> str | None:
    """The client's address: the connecting one, or a trusted proxy's X-Forwarded-For (uvicorn applies it)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def signed_in_user(scope: Scope) -> str | None:
    """The user name of the request's Gradio session cookie (None: not signed in).

    Gradio keeps its sessions on its app (``tokens``, one cookie per app id), the ``scope["app"]``
    Starlette sets before any middleware runs; the same lookup as its ``get_current_user``.
    """
    app = scope.get("app")
    tokens, cookie_id = getattr(app, "tokens", None), getattr(app, "cookie_id", None)
    if not isinstance(tokens, dict) or cookie_id is None:
        return None
    cookies = HTTPConnection(scope).cookies
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return tokens.get(token) if token else None


# Gradio's routes that write what a client sends to disk (its upload cache) before any handler runs.
_FILE_ROUTES = re.compile(r"/gradio_api/(?:upload|process_recording)/?$")


class UploadGuard:
    """ASGI middleware: Gradio's upload routes answer 401 to a request that is not signed in and 403
    to a role that may not upload (viewers): only editors and admins put files on the server."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        authenticator = self.access.authenticator
        if scope["type"] == "http" and _FILE_ROUTES.search(scope["path"]) and authenticator is not None:
            name = signed_in_user(scope)
            refusal: tuple[int, str] | None = None
            if name is None:
                refusal = (401, "Sign in to upload files.")
            else:
                try:
                    require(authenticator.actor(name, via="web"), "upload")
                except PermissionDeniedError as exc:
                    refusal = (403, exc.user_message())
            if refusal is not None:
                log.warning("upload refused for %s: %s", name or "a request not signed in", refusal[1])
                await JSONResponse({"detail": refusal[1]}, status_code=refusal[0])(scope, receive, send)
                return
        await self.app(scope, receive, send)


class LoginGuard:
    """ASGI middleware in front of Gradio's POST /login: refuses an address while it backs off, and
    tells the auth callable which address is signing in (so failures count against it too)."""

    def __init__(self, app: ASGIApp, throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope.get("method") == "POST"
            and scope["path"].rstrip("/").endswith("/login")
        ):
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        wait = self.throttle.wait(None, client)
        if wait > 0:
            seconds = math.ceil(wait)
            log.warning("sign-in from %s refused: throttled for %d s more", client, seconds)
            response = JSONResponse(
                {"detail": f"Too many failed sign-ins from your address; try again in {seconds} s."},
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
            await response(scope, receive, send)
            return
        token = _LOGIN_CLIENT.set(client)
        try:
            await self.app(scope, receive, send)
        finally:
            _LOGIN_CLIENT.reset(token)


class RoleGates:
    """Controls only some roles may use: hidden until the page knows the role, then shown to those allowed.

    Without logins everything is shown at once (the one local user may do everything).
    """

    def __init__(self, access: Access) -> None:
        self.access = access
        self._gated: list[tuple[str, gr.components.Component | gr.blocks.BlockContext]] = []

    @property
    def visible(self) -> bool:
        """What gated controls start as: hidden while a role is yet unknown (fail closed)."""
        return not self.access.enabled

    def add(self, action: str, block: Any) -> Any:
        """Show ``block`` (a component, row, column or tab) only to roles that may do ``action``."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        self._gated.append((action, block))
        return block

    @property
    def blocks(self) -> list[Any]:
        return [block for _, block in self._gated]

    def updates(self, actor: Actor) -> list[dict[str, Any]]:
        """One visibility update per gated block, in the order of ``blocks``."""
        return [gr.update(visible=allowed(actor.role, action)) for action, _ in self._gated]


def signed_in_text(actor: Actor) -> str:
    """The line at the top of the page: who is signed in, with which role, and how to leave."""
    return f"Signed in as **{md_escape(actor.name)}** ({actor.role}) · [Sign out](logout)"


def md_escape(text: str) -> str:
    """A user name made safe for Markdown (no HTML, no emphasis)."""
    return html.escape(text, quote=False).replace("*", "\\*").replace("_", "\\_")


def max_upload_bytes(settings: Settings) -> int:
    """The upload limit in bytes (Gradio's max_file_size)."""
    return int(settings.app.max_upload_mb * 1024 * 1024)


def check_upload_size(path: Path, max_mb: float) -> None:
    """Refuse files over the upload limit with a message naming the setting."""
    size = Path(path).stat().st_size
    if size > max_mb * 1024 * 1024:
        raise BadInputError(
            f"{Path(path).name} is {size / 1024 / 1024:.1f} MB, over the upload limit of {max_mb:g} MB",
            "Split the file, or raise ASSISTANT_APP__MAX_UPLOAD_MB.",
        )
