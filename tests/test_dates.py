"""Publication dates: each source a date is read from, storage in Chroma, and how it is shown."""

from __future__ import annotations

import io
import json
from datetime import UTC

import pytest

from assistant.dates import parse_bound, parse_date, timestamp
from assistant.ingest import read_file, split_passages
from tests.conftest import SEED
from tests.test_ingest import _tiny_pdf

STORY = "The harbour council approved the budget on Tuesday.\n\nThe vote was 7 to 2.\n"


def test_json_and_jsonl_records_give_their_published_or_date_field(tmp_path):
    path = tmp_path / "wire.json"
    path.write_text(json.dumps([
        {"id": "a", "text": STORY, "published": "2025-08-07T21:16:00+05:30"},
        {"id": "b", "text": STORY, "date": "7 March 2024"},
        {"id": "c", "text": STORY},
    ]))
    a, b, c = read_file(path)
    assert a.published == "2025-08-07T21:16:00+05:30"  # the timezone is kept
    assert b.published == "2024-03-07"
    assert c.published == ""  # undated: never the file's modification time
    lines = tmp_path / "wire.jsonl"
    lines.write_text(json.dumps({"id": "d", "article": STORY, "date": "2024-12-01"}) + "\n")
    assert read_file(lines)[0].published == "2024-12-01"


def _page(head: str, body: str = "") -> str:
    return f"<html><head><title>Harbour vote</title>{head}</head><body>{body}<article><p>{STORY}</p></article></body></html>"


def test_html_meta_published_time(tmp_path):
    path = tmp_path / "meta.html"
    path.write_text(_page('<meta property="article:published_time" content="2025-08-07T15:46:00Z">'))
    assert read_file(path)[0].published == "2025-08-07T15:46:00+00:00"


def test_html_json_ld_date_published(tmp_path):
    ld = {"@context": "https://schema.org", "@graph": [{"@type": "NewsArticle", "headline": "Harbour vote", "datePublished": "2024-02-29T08:00:00-05:00"}]}
    path = tmp_path / "ld.html"
    path.write_text(_page(f'<script type="application/ld+json">{json.dumps(ld)}</script>'))
    article = read_file(path)[0]
    assert article.published == "2024-02-29T08:00:00-05:00"
    assert "datePublished" not in article.text  # the script is not story text


def test_html_time_datetime(tmp_path):
    path = tmp_path / "time.html"
    path.write_text(_page("", body='<p class="meta">Posted <time datetime="2023-11-05">5 Nov</time></p>'))
    assert read_file(path)[0].published == "2023-11-05"


def test_markdown_front_matter_date_and_title(tmp_path):
    path = tmp_path / "note.md"
    path.write_text("---\ntitle: \"Harbour vote passes\"\ndate: 2025-01-15 10:30\ntags:\n  - local\n---\n\n" + STORY)
    article = read_file(path)[0]
    assert article.published == "2025-01-15T10:30:00"
    assert article.title == "Harbour vote passes"
    assert "title:" not in article.text and article.text.startswith("The harbour council")
    # Offsets still point into the raw file.
    start = article.raw.index("The harbour council")
    assert article.offsets[0] == start


def test_pdf_creation_date(tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_tiny_pdf("Harbour budget approved by council"))))
    writer.add_metadata({"/CreationDate": "D:20250807211600+05'30'"})
    buf = io.BytesIO()
    writer.write(buf)
    path = tmp_path / "doc.pdf"
    path.write_bytes(buf.getvalue())
    article = read_file(path)[0]
    assert "Harbour budget approved" in article.text
    assert article.published == "2025-08-07T21:16:00+05:30"


def test_dateline_is_stripped_from_the_text_but_its_date_kept(tmp_path):
    path = tmp_path / "outlook.txt"
    path.write_text("Harbour vote passes\n\nOutlook News Desk\nUpdated on: 07 Aug 2025, 9:16 pm\n\n" + STORY)
    article = read_file(path)[0]
    assert article.published == "2025-08-07T21:16:00"
    assert "Updated on" not in article.text
    assert all("Updated" not in p.text and p.published == article.published for p in split_passages(article))


@pytest.mark.parametrize(
    "line,expected",
    [
        ("Updated on: Thu, 07 Aug 2025, 9:16 pm IST", "2025-08-07T21:16:00"),
        ("Last updated: August 7, 2025 at 10:02 a.m. ET", "2025-08-07T10:02:00"),
        ("Published 12 March 2024 14:05 GMT", "2024-03-12T14:05:00+00:00"),
        ("Posted: 2025-08-07", "2025-08-07"),
        ("Published: 12:04 EST, 3 March 2014 | Updated: 14:05 EST, 4 March 2014", "2014-03-03T12:04:00"),
        ("Published figures show a March 2024 rise in rents", ""),  # a sentence, not a dateline
        ("Posted by the mayor in March 2024", ""),
        ("Updated on:", ""),
    ],
)
def test_dateline_forms(line, expected):
    from assistant.dates import dateline_date

    assert dateline_date(line) == expected


def test_seed_article_dateline_has_no_date_so_it_is_undated():
    # Its two "Updated on:" lines are empty in the saved copy: nothing is guessed.
    assert read_file(SEED)[0].published == ""


def test_parse_date_refuses_partial_dates_and_keeps_zones():
    assert parse_date("Published 12:04 GMT") == ""  # no day: not today at 12:04
    assert parse_date("yesterday") == ""
    assert parse_date("Thu, 07 Aug 2025 21:16:00 +0530") == "2025-08-07T21:16:00+05:30"
    assert timestamp("2025-08-07") == 1754524800
    assert timestamp("") is None


def test_bounds_iso_whole_day_and_relative():
    from datetime import datetime

    now = datetime(2025, 8, 10, tzinfo=UTC)
    assert parse_bound("2025-08-07") == timestamp("2025-08-07")
    assert parse_bound("2025-08-07", end=True) == timestamp("2025-08-08") - 1
    assert parse_bound("7d", now=now) == timestamp("2025-08-03")
    assert parse_bound("3m", now=now) == timestamp("2025-05-10")
    assert parse_bound("1y", now=now) == timestamp("2024-08-10")
    for bad in ("last week", "2025-13-01", "7x"):
        try:
            parse_bound(bad)
        except ValueError as exc:
            assert "date" in str(exc)
        else:
            raise AssertionError(bad)


def test_dates_are_stored_in_chroma_and_old_passages_stay_readable(assistant, tmp_path):
    path = tmp_path / "dated.json"
    path.write_text(json.dumps([
        {"id": "dated", "title": "Harbour vote", "text": STORY, "published": "2025-08-07T21:16:00+05:30"},
        {"id": "plain", "title": "Ferry strike", "text": "The ferry crews went on strike on Monday.\n"},
    ]))
    assert not assistant.ingest([path]).failed
    store = assistant.store
    got = store.passages.get(where={"published_ts": {"$gte": timestamp("2025-08-07")}}, include=["metadatas"])
    assert {m["article_id"] for m in got["metadatas"]} == {"dated"}
    assert got["metadatas"][0]["published"] == "2025-08-07T21:16:00+05:30"
    art = store.articles.get(ids=["dated"], include=["metadatas"])["metadatas"][0]
    assert art["published_ts"] == timestamp("2025-08-07T21:16:00+05:30")
    infos = {i.id: i for i in store.list_articles()}
    assert infos["dated"].published == "2025-08-07T21:16:00+05:30" and infos["plain"].published == ""
    # A passage stored before dates existed (no "published" keys) is read as undated.
    from assistant.store_records import _to_passage

    rec = store.passages.get(where={"article_id": "dated"}, include=["documents", "metadatas"])
    legacy = {k: v for k, v in rec["metadatas"][0].items() if k not in ("published", "published_ts")}
    assert _to_passage(rec["ids"][0], rec["documents"][0], legacy).published == ""
    hit = assistant.retriever.search("harbour budget vote", k=1)[0]
    assert hit.passage.article_id == "dated" and hit.passage.published == "2025-08-07T21:16:00+05:30"
