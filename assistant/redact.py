"""Credentials never reach a message or a log line: ``user:password@`` and keys in URLs are masked."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from assistant.errors import AssistantError, EndpointError

MASK = "***"

# scheme://user:password@host or scheme://token@host (the userinfo part of any URL in a text)
_USERINFO = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.-]*://)(?P<userinfo>[^\s/@?#\"'<>]+)@", re.IGNORECASE)
# ?api_key=..., &token=..., key=... in a query string
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:api[_-]?key|apikey|key|token|access[_-]?token|secret|password|passwd|sig|signature|auth)=)"
    r"(?P<value>[^&#\s\"'<>]+)",
    re.IGNORECASE,
)
# Bearer tokens and OpenAI-style keys that end up in exception texts
_BEARER = re.compile(r"(?P<name>\bbearer\s+)(?P<value>[A-Za-z0-9._~+/=-]{6,})", re.IGNORECASE)
_KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")


def redact_url(url: str | None) -> str | None:
    """``url`` with its user, password and secret query parameters masked."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if _SECRET_PARAM.match(f"?{k}=x") else v) for k, v in pairs], safe="*"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    """Every credential in a free text (exception message, log line) masked."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    text = _SECRET_PARAM.sub(lambda m: f"{m.group('name')}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group('name')}{MASK}", text)
    return _KEY_LIKE.sub(f"sk-{MASK}", text)


def public_error(exc: BaseException, doing: str = "this request") -> str:
    """What a web user may read about a failure: never an internal address or a credential.

    The CLI shows the (redacted) endpoint, which helps the operator who runs it; web users
    get a plain sentence instead, and the details stay in the server log.
    """
    if isinstance(exc, EndpointError):
        return f"The model endpoint is unreachable; {doing} could not be completed. Ask the administrator to check the server log."
    if isinstance(exc, AssistantError):
        return redact_text(exc.user_message())
    return f"Something went wrong during {doing}. The details are in the server log."


class RedactingFilter(logging.Filter):
    """Masks credentials in every record that passes a handler (the message and its arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string is logging's problem, not ours
            return True
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(formatted)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of ``logger`` (default: the root logger), once."""
    logger = logger or logging.getLogger()
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
