"""Ingest: read files into Articles (boilerplate removed, offsets kept) and split them into Passages."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant.dates import dateline_date, parse_date
from assistant.errors import BadInputError
from assistant.injection import find_injection
from assistant.settings import ChunkSettings, IngestSettings
from assistant.tokens import get_encoding
from assistant.types import Article, Passage

# Page furniture that is not part of the story. Matched per line, only on short lines.
_MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_BOILERPLATE = [
    # "Updated on: 3 March", "Published 12:04 GMT" (not "Published figures show ...")
    re.compile(rf"^(updated|published|last updated|posted|first published)(\s+on)?\s*(:|\d|{_MONTH}\b).*$", re.IGNORECASE),
    re.compile(r"^(curated|written|edited|reported|compiled)\s+by\s*:?\s+\S.*$", re.IGNORECASE),
    # A byline is a short run of capitalised names ("By Jane Doe and Li Wei, Reuters"), not a sentence.
    re.compile(r"^By\s+[A-Z][\w.'’-]+(\s+(and\s+)?[A-Z][\w.'’-]+){0,4}(,[^.]*)?$"),
    re.compile(r"^.{0,60}\b(news desk|web desk|staff reporter|bureau|newsroom)$", re.IGNORECASE),
    re.compile(r"^(advertisement|sponsored content|share this( article)?|follow us( on \w+)?)\s*$", re.IGNORECASE),
    re.compile(r"^(also read|read more|read also)\s*:.*$", re.IGNORECASE),
]
_CAPTION = re.compile(r"(\(|\b)(photo|image|picture|file photo|credit|photograph)\s*:\s*[^.]{0,60}\)?\s*$", re.IGNORECASE)
_MAX_BOILERPLATE_LEN = 100


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    articles: list[Article] = field(default_factory=list)
    error: str | None = None


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80] or "article"


def _is_boilerplate(line: str, next_line: str | None, seen: set[str]) -> bool:
    stripped = line.strip()
    if not stripped:
        return False
    if stripped in seen and len(stripped) <= 60 and not stripped.endswith("."):
        return True  # repeated furniture such as a second "Updated on:" line
    if len(stripped) <= _MAX_BOILERPLATE_LEN and any(p.match(stripped) for p in _BOILERPLATE):
        return True
    if len(stripped) < 200 and _CAPTION.search(stripped):
        return True
    # A caption is often printed twice: bare, then with its credit ("... Photo: PTI").
    if next_line is not None and len(stripped) < 200:
        nxt = next_line.strip()
        if nxt != stripped and nxt.startswith(stripped) and _CAPTION.search(nxt):
            return True
    return False


_FRONT_KEY = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_DATELINE_LINES = 8  # a dateline is looked for among the first lines with text


def front_matter(raw: str) -> tuple[int, dict[str, str]]:
    """A Markdown front matter block (``---`` / ``key: value`` lines / ``---``) at the start of ``raw``:
    the offset where the story starts and its keys (lower-cased, quotes removed); (0, {}) if none."""
    if not raw.lstrip("\ufeff").startswith("---"):
        return 0, {}
    lines = raw.splitlines(keepends=True)
    if not lines or lines[0].strip().lstrip("\ufeff") != "---":
        return 0, {}
    pos = len(lines[0])
    keys: dict[str, str] = {}
    for line in lines[1:60]:
        body = line.strip()
        if body in ("---", "..."):
            return pos + len(line), keys
        m = _FRONT_KEY.match(line)
        if m:
            keys.setdefault(m[1].lower(), m[2].strip().strip("'\""))
        elif body and not body.startswith(("-", "#")) and not line[:1].isspace():
            return 0, {}  # not a front matter block: a story that opens with a rule
        pos += len(line)
    return 0, {}


def find_dateline(raw: str) -> str:
    """The date of a dateline ("Updated on: 07 Aug 2025, 9:16 pm") among the first lines; "" if none."""
    start, _ = front_matter(raw)
    seen = 0
    for line in raw[start:].splitlines():
        if not line.strip():
            continue
        found = dateline_date(line)
        if found:
            return found
        seen += 1
        if seen >= _DATELINE_LINES:
            break
    return ""


def strip_boilerplate(raw: str) -> tuple[str, list[int]]:
    """Drop page boilerplate; return the story text and, per character of it, its offset in ``raw``.

    A Markdown front matter block is not story text either (its date and title are read by
    ``make_article``); datelines are dropped here and their date kept by ``find_dateline``.
    """
    lines: list[tuple[int, str]] = []
    skip, _ = front_matter(raw)
    pos = 0
    for line in raw.splitlines(keepends=True):
        if pos >= skip:
            lines.append((pos, line))
        pos += len(line)
    out: list[str] = []
    offsets: list[int] = []
    seen: set[str] = set()
    for i, (start, line) in enumerate(lines):
        body = line.rstrip("\r\n")
        if not body.strip():
            continue
        nxt = next((ln for _, ln in lines[i + 1 :] if ln.strip()), None)
        if _is_boilerplate(body, nxt, seen):
            seen.add(body.strip())
            continue
        seen.add(body.strip())
        lead = len(body) - len(body.lstrip())
        text = body.strip()
        if out:
            # Every kept line is its own paragraph: news pages put one paragraph per line.
            out.append("\n\n")
            offsets.extend([start - 1] * 2)
        out.append(text)
        offsets.extend(range(start + lead, start + lead + len(text)))
    return "".join(out), offsets


def _guess_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200] if len(line) < 200 and not line.endswith(".") else fallback
    return fallback


def make_article(raw: str, article_id: str, title: str = "", url: str = "", published: str = "", source: str = "") -> Article:
    """Build an Article from raw text, removing boilerplate.

    ``published`` is the date the source states (JSON field, HTML meta, PDF metadata), parsed
    to ISO; without one, a Markdown front matter ``date:`` or a dateline in the first lines
    gives it. Nothing else does: no date is "undated", never a file's modification time.
    """
    if not raw.strip():
        raise BadInputError(f"article {article_id!r} has no text")
    text, offsets = strip_boilerplate(raw)
    if not text.strip():
        raise BadInputError(f"article {article_id!r} has only page boilerplate, no story text")
    _, front = front_matter(raw)
    published = parse_date(published) or parse_date(front.get("date") or front.get("published")) or find_dateline(raw)
    return Article(
        id=article_id,
        title=title or front.get("title", "") or _guess_title(text, article_id),
        url=url,
        published=published,
        source=source,
        raw=raw,
        text=text,
        offsets=offsets,
    )


# ---------------------------------------------------------------- file readers


def _read_bytes(path: Path, settings: IngestSettings) -> bytes:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadInputError(f"cannot read: {exc.strerror or exc}") from exc
    if size > settings.max_file_bytes:
        raise BadInputError(f"file is {size:,} bytes, over the limit of {settings.max_file_bytes:,} (ASSISTANT_INGEST__MAX_FILE_BYTES)")
    if size == 0:
        raise BadInputError("file is empty")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read: {exc.strerror or exc}") from exc


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise BadInputError("file looks binary (contains NUL bytes); give a text, HTML, JSON or PDF file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInputError(f"not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8") from exc


def html_to_text(html: str) -> tuple[str, str]:
    """Visible text of an HTML page (scripts, styles and navigation dropped) and its title."""
    from bs4 import BeautifulSoup  # lazy: only HTML input needs the parser

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer", "header", "aside", "form", "iframe", "svg"]):
        tag.decompose()
    title = ""
    if soup.title and soup.title.string:
        title = soup.title.string.strip()
    h1 = soup.find("h1")
    if h1 and h1.get_text(strip=True):
        title = h1.get_text(" ", strip=True)
    root = soup.find("article") or soup.body or soup
    blocks = []
    for el in root.find_all(["h1", "h2", "h3", "h4", "p", "li", "blockquote", "figcaption", "pre", "td"]):
        if el.find(["p", "li", "blockquote"]):
            continue  # its children are visited on their own
        text = " ".join(el.get_text(" ", strip=True).split())
        if text:
            blocks.append(text)
    if not blocks:
        blocks = [" ".join(line.split()) for line in root.get_text("\n").splitlines() if line.strip()]
    return "\n\n".join(blocks), title


_DATE_META = (
    ("property", "article:published_time"),
    ("name", "article:published_time"),
    ("property", "og:published_time"),
    ("itemprop", "datePublished"),
    ("name", "date"),
    ("name", "dc.date"),
    ("name", "pubdate"),
)


def _jsonld_dates(node: object) -> Iterator[object]:
    if isinstance(node, dict):
        if "datePublished" in node:
            yield node["datePublished"]
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from _jsonld_dates(value)
    elif isinstance(node, list):
        for item in node:
            yield from _jsonld_dates(item)


def html_date(html: str) -> str:
    """The publication date an HTML page states: ``<meta property="article:published_time">`` (and
    the like), JSON-LD ``datePublished``, then the first ``<time datetime>``; "" if none."""
    from bs4 import BeautifulSoup  # lazy: only HTML input needs the parser

    soup = BeautifulSoup(html, "html.parser")
    for attr, name in _DATE_META:
        for tag in soup.find_all("meta", attrs={attr: name}):
            found = parse_date(tag.get("content"))
            if found:
                return found
    for script in soup.find_all("script", attrs={"type": "application/ld+json"}):
        try:
            data = json.loads(script.string or script.get_text() or "")
        except (json.JSONDecodeError, RecursionError):
            continue
        for value in _jsonld_dates(data):
            found = parse_date(value)
            if found:
                return found
    for tag in soup.find_all("time"):
        found = parse_date(tag.get("datetime"))
        if found:
            return found
    return ""


def _pdf_date(reader) -> str:
    """A PDF's ``/CreationDate`` (pypdf parses ``D:20250807211600+05'30'``), timezone kept; "" if none."""
    try:
        meta = reader.metadata
        return parse_date(meta.creation_date) if meta is not None else ""
    except Exception:  # noqa: BLE001 - a malformed date in the metadata: undated, not a failed file
        return ""


def _pdf_text(data: bytes) -> str:
    return _read_pdf(data)[0]


def _read_pdf(data: bytes) -> tuple[str, str]:
    try:
        from pypdf import PdfReader  # lazy: only PDF input needs it
    except ImportError as exc:  # pragma: no cover
        raise BadInputError("PDF support needs pypdf: `pip install pypdf`") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n\n".join((page.extract_text() or "") for page in reader.pages), _pdf_date(reader)
    except Exception as exc:  # pypdf raises many types for broken files
        raise BadInputError(f"cannot read PDF: {exc}") from exc


def _records_to_articles(
    records: Iterable[tuple[int, object]], stem: str, source: str, unit: str = "record"
) -> list[Article]:
    """Articles of JSON records; ``n`` (0-based) names an id-less record's article, and its error
    says ``unit`` n + 1 ("line 2" of a .jsonl, as its JSON errors do; "record 2" of a list)."""
    articles = []
    first_of: dict[str, int] = {}
    for n, rec in records:
        where = f"{unit} {n + 1}"
        if not isinstance(rec, dict):
            raise BadInputError(f"{where} is not a JSON object")
        body = rec.get("article") or rec.get("text")
        if not isinstance(body, str) or not body.strip():
            raise BadInputError(f"{where} has no 'article' or 'text' field with text")
        rid = str(rec.get("id") or f"{stem}-{n}")
        if rid in first_of:
            raise BadInputError(
                f"{where} repeats the id {rid!r} of {unit} {first_of[rid] + 1}",
                "Give every record of the file its own id (or none: then the file name and record number are used).",
            )
        first_of[rid] = n
        articles.append(
            make_article(
                body,
                slugify(rid) if rec.get("id") is None else rid,
                title=str(rec.get("title") or ""),
                url=str(rec.get("url") or ""),
                published=parse_date(rec.get("published") or rec.get("date")),
                source=source,
            )
        )
    return articles


def read_file(path: Path, settings: IngestSettings | None = None) -> list[Article]:
    """Read one file into Articles; raise BadInputError saying what is wrong with it."""
    settings = settings or IngestSettings()
    suffix = path.suffix.lower()
    if suffix not in settings.extensions:
        raise BadInputError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(settings.extensions)}")
    data = _read_bytes(path, settings)
    stem = slugify(path.stem)
    # The resolved path: the same file named relatively or absolutely is one source, one article.
    source = os.path.realpath(path)
    if suffix == ".pdf":
        if not data.startswith(b"%PDF"):
            raise BadInputError("not a PDF file (no %PDF header)")
        text, published = _read_pdf(data)
        return [make_article(text, stem, published=published, source=source)]
    text = _decode(data)
    if not text.strip():
        raise BadInputError("file has only whitespace")
    if suffix in (".html", ".htm"):
        body, title = html_to_text(text)
        return [make_article(body, stem, title=title, published=html_date(text), source=source)]
    if suffix == ".json":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"invalid JSON at line {exc.lineno}: {exc.msg}") from exc
        items = obj if isinstance(obj, list) else [obj]
        return _records_to_articles(enumerate(items), stem, source)
    if suffix == ".jsonl":
        records = []
        for n, line in enumerate(text.splitlines()):
            if not line.strip():
                continue
            try:
                records.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise BadInputError(f"invalid JSON on line {n + 1}: {exc.msg}") from exc
        return _records_to_articles(records, stem, source, unit="line")
    return [make_article(text, stem, source=source)]


def iter_files(paths: Iterable[Path], settings: IngestSettings | None = None) -> Iterator[Path]:
    """Expand folders into the supported files they contain (sorted, recursive).

    A folder with no supported file is yielded itself, so the caller reports it as a failed
    input rather than silently ingesting nothing.
    """
    settings = settings or IngestSettings()
    for path in paths:
        if path.is_dir():
            found = False
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in settings.extensions and not child.name.startswith("."):
                    found = True
                    yield child
            if not found:
                yield path
        else:
            yield path


def is_url(value: object) -> bool:
    """Whether a command-line input names a web page rather than a file."""
    text = str(value).strip().lower()
    return text.startswith(("http://", "https://"))


_LINK = re.compile(r"^\s*[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def is_link(value: object) -> bool:
    """Whether a command-line input is written as a link of any scheme (``ftp://…`` too): it goes to
    ``assistant.fetch``, which says which schemes it fetches, instead of being read as a path."""
    return bool(_LINK.match(str(value)))  # http:// and https:// among them


def expand_inputs(items: Iterable[Path | str], settings: IngestSettings | None = None) -> Iterator[Path | str]:
    """``iter_files`` for a mix of paths and web links: a link (``http://``, ``https://``, or another
    scheme that fetching then refuses) is yielded as its string, in order, for ``assistant.fetch``;
    anything else is a path."""
    for item in items:
        if isinstance(item, str) and is_link(item):
            yield item.strip()
        else:
            yield from iter_files([Path(item)], settings)


def empty_folder_error(path: Path, settings: IngestSettings | None = None) -> BadInputError:
    """The error for a folder that holds nothing ingestable."""
    settings = settings or IngestSettings()
    return BadInputError(
        f"folder has no file to ingest (looked for {', '.join(settings.extensions)}, in subfolders too)",
        "Give a folder that holds articles in one of these formats, or the files themselves.",
    )


# ---------------------------------------------------------------- splitting

_SENT_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def _units(text: str) -> list[tuple[int, int, bool]]:
    """Sentence-sized spans of ``text``: (start, end, starts_paragraph)."""
    units = []
    for para in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]+)*", text):
        pstart = para.start()
        last = 0
        first = True
        body = para.group()
        for m in _SENT_END.finditer(body):
            units.append((pstart + last, pstart + m.start() + len(m.group().rstrip()), first))
            last = m.end()
            first = False
        if last < len(body):
            units.append((pstart + last, pstart + len(body), first))
    return units


def split_passages(article: Article, chunk: ChunkSettings | None = None) -> list[Passage]:
    """Split an article into paragraph-aware passages of about ``chunk.max_tokens`` tokens."""
    chunk = chunk or ChunkSettings()
    enc = get_encoding(chunk.encoding)
    text = article.text

    def ntok(s: str) -> int:
        return len(enc.encode(s, disallowed_special=()))

    # Sentences longer than a passage are cut at word boundaries.
    units: list[tuple[int, int, bool, int]] = []
    for start, end, para in _units(text):
        n = ntok(text[start:end])
        if n <= chunk.max_tokens:
            units.append((start, end, para, n))
            continue
        words = list(re.finditer(r"\S+", text[start:end]))
        piece_start, count = start + words[0].start(), 0
        prev_end = words[0].end()
        for w in words:
            wt = ntok(w.group()) + 1
            if count + wt > chunk.max_tokens and count:
                units.append((piece_start, start + prev_end, para, count))
                para, piece_start, count = False, start + w.start(), 0
            count += wt
            prev_end = w.end()
        units.append((piece_start, start + prev_end, para, count))

    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        j, total = i, 0
        while j < len(units) and (total + units[j][3] <= chunk.max_tokens or j == i):
            # Prefer to end at a paragraph break once the passage is reasonably full.
            if j > i and units[j][2] and total >= chunk.max_tokens * 0.6:
                break
            total += units[j][3]
            j += 1
        spans.append((units[i][0], units[j - 1][1]))
        if j >= len(units):
            break
        # Overlap: repeat the trailing sentences that fit in ``overlap_tokens``.
        back, carried = j, 0
        while back - 1 > i and carried + units[back - 1][3] <= chunk.overlap_tokens:
            back -= 1
            carried += units[back][3]
        i = back if back > i else j

    passages = []
    for index, (start, end) in enumerate(spans):
        body = text[start:end]
        digest = hashlib.sha1(body.encode()).hexdigest()[:8]
        raw_start, raw_end = article.to_raw(start, end)
        passages.append(
            Passage(
                id=f"{article.id}#p{index}-{digest}",
                article_id=article.id,
                index=index,
                text=body,
                start=raw_start,
                end=raw_end,
                tokens=ntok(body),
                title=article.title,
                url=article.url,
                published=article.published,
                injection=find_injection(body),
            )
        )
    return passages
