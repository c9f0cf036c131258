"""Articles from a URL: a guarded fetch (httpx) and title / date / body extraction (trafilatura).

The guard, for a server that editors point at any link:

* http and https only; at most ``MAX_REDIRECTS`` redirects, followed here one hop at a time so
  that every hop's address is checked before it is contacted;
* every address the host resolves to must be public: loopback, private, link-local (cloud
  metadata at 169.254.169.254), multicast, reserved and unspecified addresses are refused unless
  ``ingest.allow_private_urls`` (``ASSISTANT_INGEST__ALLOW_PRIVATE_URLS``) is set;
* connect / read timeouts, and the whole fetch within ``TOTAL_TIMEOUTS`` times the timeout (a
  server that drips bytes cannot hold it open); only ``text/html`` (or XHTML) is read; the body is read in chunks and
  the fetch stops at ``ingest.max_file_bytes`` (a declared larger ``Content-Length`` is refused
  before any of the body is read).

Known limit: the address is resolved for the check and again by the HTTP client when it
connects, so a DNS server that answers differently within that moment (DNS rebinding) is not
caught; the redirect and content checks still apply.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from urllib.parse import urljoin, urlsplit

from assistant.dates import parse_date
from assistant.errors import BadInputError
from assistant.ingest import html_date, make_article, slugify
from assistant.settings import IngestSettings
from assistant.types import Article

MAX_REDIRECTS = 5
TOTAL_TIMEOUTS = 4  # the whole fetch (every hop and the body) within this many ``url_timeout``s
_clock = time.monotonic  # patched by the tests
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_USER_AGENT = "newsroom-assistant/0.1 (article ingest)"


def _address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address must not be fetched from (None when it is a public address)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, what in (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_private, "a private address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    ):
        if test:
            return what
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BadInputError(f"cannot resolve host {host!r}: {exc.strerror or exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_address(url: str, settings: IngestSettings) -> None:
    """Refuse a URL that is not http(s) or whose host resolves to a non-public address (unless allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise BadInputError(f"only http and https links can be ingested, not {parts.scheme or 'this'}: {url}")
    host = parts.hostname
    if not host:
        raise BadInputError(f"the link has no host name: {url}")
    if settings.allow_private_urls:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise BadInputError(f"bad port in {url}: {exc}") from exc
    for address in _resolve(host, port):
        problem = _address_problem(ipaddress.ip_address(address.split("%")[0]))
        if problem:
            raise BadInputError(
                f"refused: {host} resolves to {address}, {problem} (only public pages are fetched; "
                "ASSISTANT_INGEST__ALLOW_PRIVATE_URLS=true allows local and internal servers)"
            )


def fetch_html(url: str, settings: IngestSettings | None = None) -> tuple[str, str]:
    """The HTML of a page and its final URL (after redirects), fetched under the guard above."""
    import httpx  # lazy: only a web link needs the HTTP client

    settings = settings or IngestSettings()
    cap = settings.max_file_bytes
    timeout = httpx.Timeout(settings.url_timeout, connect=min(settings.url_timeout, 10.0))
    headers = {"User-Agent": _USER_AGENT, "Accept": "text/html,application/xhtml+xml"}
    current = url
    deadline = _clock() + settings.url_timeout * TOTAL_TIMEOUTS

    def check_deadline() -> None:
        if _clock() > deadline:
            raise BadInputError(f"timed out fetching {current} (over {settings.url_timeout * TOTAL_TIMEOUTS:g} s in all)")

    try:
        with httpx.Client(follow_redirects=False, timeout=timeout, headers=headers, trust_env=False) as client:
            for hop in range(MAX_REDIRECTS + 1):
                check_deadline()
                check_address(current, settings)
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        if not location:
                            raise BadInputError(f"HTTP {response.status_code} redirect without a Location, at {current}")
                        if hop == MAX_REDIRECTS:
                            raise BadInputError(f"more than {MAX_REDIRECTS} redirects (last at {current})")
                        current = urljoin(current, location)
                        continue
                    if response.status_code != 200:
                        raise BadInputError(f"HTTP {response.status_code} {response.reason_phrase} at {current}")
                    ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if ctype not in _HTML_TYPES:
                        raise BadInputError(f"content type is {ctype or 'not given'}, not an HTML page (text/html)")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > cap:
                        raise BadInputError(
                            f"page is {int(declared):,} bytes, over the limit of {cap:,} (ASSISTANT_INGEST__MAX_FILE_BYTES); not read"
                        )
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        check_deadline()
                        body.extend(chunk)
                        if len(body) > cap:
                            raise BadInputError(
                                f"page is over the limit of {cap:,} bytes (ASSISTANT_INGEST__MAX_FILE_BYTES); stopped reading"
                            )
                    encoding = response.charset_encoding or "utf-8"
                    try:
                        return bytes(body).decode(encoding, errors="replace"), current
                    except LookupError:
                        return bytes(body).decode("utf-8", errors="replace"), current
    except httpx.TimeoutException as exc:
        raise BadInputError(f"timed out fetching {current} ({type(exc).__name__})") from exc
    except httpx.HTTPError as exc:
        raise BadInputError(f"cannot fetch {current}: {type(exc).__name__}: {exc}") from exc
    raise BadInputError(f"more than {MAX_REDIRECTS} redirects")  # pragma: no cover (the loop raises first)


def _article_id(url: str) -> str:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    last = segments[-1].rsplit(".", 1)[0] if segments else ""
    return slugify(last or parts.hostname or "page")


def html_to_article(html: str, url: str) -> Article:
    """Title, date and body of a fetched page (trafilatura), as an Article that keeps its URL."""
    import trafilatura  # lazy: trafilatura (lxml, jusText, dateparser) takes ~1 s to import

    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        # The date a page states (meta, JSON-LD, <time>), not one guessed from its text.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    text = (getattr(doc, "text", "") or "").strip() if doc is not None else ""
    if not text:
        raise BadInputError(f"no article text found on the page {url}")
    title = (getattr(doc, "title", "") or "").strip()
    published = html_date(html) or parse_date(getattr(doc, "date", "") or "")
    return make_article(text, _article_id(url), title=title, url=url, published=published, source=url)


def fetch_article(url: str, settings: IngestSettings | None = None) -> Article:
    """Fetch a web page and extract its article; BadInputError says why it cannot be ingested."""
    html, final = fetch_html(url.strip(), settings)
    article = html_to_article(html, final)
    # The link as the editor gave it is the article's source (its id stays stable across redirects).
    return article.model_copy(update={"source": url.strip(), "url": final})
