"""Publication dates: parsed from what a source states (never a file's modification time).

An article's date is kept as an ISO 8601 string (``2025-08-07``, ``2025-08-07T21:16:00`` or with
its UTC offset when the source gave one, ``2025-08-07T21:16:00+05:30``) and, in Chroma's
metadata, as ``published_ts``: whole epoch seconds, so ``where`` filters can compare it. A date
without a timezone is read as UTC for that number. No date at all is "undated".
"""

from __future__ import annotations

import re
import warnings
from datetime import UTC, date, datetime, timedelta

from dateutil import parser as _dparser
from dateutil.relativedelta import relativedelta

UNDATED = "undated"

_ISO_DAY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})\s*$")
_YEAR = re.compile(r"\b(1[89]\d{2}|2\d{3})\b")
_MONTH_NAME = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?![a-z])", re.IGNORECASE)
_NUMERIC_DAY = re.compile(r"\b\d{4}-\d{1,2}-\d{1,2}|\b\d{1,2}[/.]\d{1,2}[/.]\d{4}\b")
# "Updated on: 07 Aug 2025, 9:16 pm", "Published 12 March 2024 14:05 GMT", "Posted: 2025-08-07"
DATELINE = re.compile(
    r"^\s*(?:last\s+updated|first\s+published|updated|published|posted|date)(?:\s+on)?\s*[:\-–]?\s*(?P<date>.+?)\s*$",
    re.IGNORECASE,
)
# Relative forms for --since / --until: 7d, 2w, 3m, 1y (days, weeks, months, years ago).
_RELATIVE = re.compile(r"^\s*(\d{1,4})\s*([dwmy])\s*$", re.IGNORECASE)


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def parse_date(value: object) -> str:
    """An ISO string for a stated date ("2025-08-07", "Thu, 07 Aug 2025 21:16 +0530", a datetime, epoch
    seconds), keeping the timezone when given; "" when there is no recognisable full date."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return _iso(datetime.fromtimestamp(float(value), tz=UTC))
        except (OverflowError, OSError, ValueError):
            return ""
    text = " ".join(str(value).split())
    if not text or len(text) > 120:
        return ""
    m = _ISO_DAY.match(text)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3])).isoformat()
        except ValueError:
            return ""
    # A full date needs a year and a month (by name or in a numeric date): "Published 12:04 GMT"
    # must not become today at 12:04, which is what a fuzzy parser would make of it.
    if not _YEAR.search(text) or not (_MONTH_NAME.search(text) or _NUMERIC_DAY.search(text) or "T" in text):
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # UnknownTimezoneWarning for "IST" and the like: kept naive
        try:
            dt = _dparser.parse(text, fuzzy=True, default=datetime(2000, 1, 1))
        except (ValueError, OverflowError, TypeError):
            return ""
    if not (1800 <= dt.year <= 2999):
        return ""
    has_time = bool(re.search(r"\d{1,2}:\d{2}|\d\s*[ap]\.?m\b", text, re.IGNORECASE))
    if not has_time and dt.tzinfo is None:
        return dt.date().isoformat()
    return _iso(dt)


# Words a dateline may hold besides the date itself ("Updated on: Thu, 07 Aug 2025, 9:16 pm IST").
_DATELINE_NOISE = frozenset(
    ["on", "at", "the", "of", "by", "and", "updated", "published", "posted", "last", "first", "ist", "gmt", "utc", "bst", "cet", "cest", "eet", "et", "est", "edt", "ct", "cst", "cdt", "pt", "pst", "pdt", "aest", "jst", "hrs", "hours", "am", "pm", "a.m.", "p.m.", "m", "t"]
)


def dateline_date(line: str) -> str:
    """The date of a dateline such as "Updated on: 07 Aug 2025, 9:16 pm"; "" if the line is not one.

    Stricter than ``parse_date``: besides the date, the line may hold only time-zone names and
    joining words, so a sentence that opens with "Published figures show a March 2024 rise" is
    not read as a date.
    """
    if len(line.strip()) > 100:
        return ""
    # "Published: 12:04 EST, 3 March 2014 | Updated: 14:05 EST, 4 March 2014": the first is the date.
    m = DATELINE.match(line.split("|")[0].strip())
    if not m:
        return ""
    found = parse_date(m["date"])
    if not found:
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            _, skipped = _dparser.parse(m["date"], fuzzy_with_tokens=True, default=datetime(2000, 1, 1))
        except (ValueError, OverflowError, TypeError):
            return ""
    words = re.findall(r"[a-z][a-z.]*", " ".join(skipped).lower())
    return "" if any(w.strip(".") not in _DATELINE_NOISE and w not in _DATELINE_NOISE for w in words) else found


def to_datetime(iso: str) -> datetime | None:
    """The ISO string back as an aware datetime (UTC when it has no offset); None for undated."""
    if not iso:
        return None
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def timestamp(iso: str) -> int | None:
    """Epoch seconds of an ISO date (UTC when it has no offset); None for undated."""
    dt = to_datetime(iso)
    return int(dt.timestamp()) if dt else None


def display(iso: str) -> str:
    """How a date is shown to an editor: the ISO string as stated, or "undated"."""
    return iso or UNDATED


def parse_bound(value: str | None, end: bool = False, now: datetime | None = None) -> int | None:
    """Epoch seconds of a --since (``end=False``) or --until (``end=True``) value; None if not given.

    ISO dates and datetimes ("2025-08-07", "2025-08-07T21:00+05:30") and relative forms ("7d",
    "2w", "3m", "1y": that long before now). A bare day as --until includes the whole day.
    Raises ValueError with a readable message for anything else.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    now = now or datetime.now(UTC)
    m = _RELATIVE.match(text)
    if m:
        n, unit = int(m[1]), m[2].lower()
        delta = {"d": relativedelta(days=n), "w": relativedelta(weeks=n), "m": relativedelta(months=n), "y": relativedelta(years=n)}[unit]
        return int((now - delta).timestamp())
    day = _ISO_DAY.match(text)
    if day:
        try:
            start = datetime(int(day[1]), int(day[2]), int(day[3]), tzinfo=UTC)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid date ({exc})") from None
        return int((start + timedelta(days=1)).timestamp()) - 1 if end else int(start.timestamp())
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date: give an ISO date such as 2025-08-07 (or 2025-08-07T21:00) "
            "or a relative one such as 7d, 2w, 3m, 1y"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def in_range(iso: str, since: int | None, until: int | None) -> bool:
    """Whether a date lies in [since, until]; an undated article is outside any range."""
    if since is None and until is None:
        return True
    ts = timestamp(iso)
    if ts is None:
        return False
    return (since is None or ts >= since) and (until is None or ts <= until)
