"""Reading files, removing boilerplate with an offset map, and splitting into passages."""

from __future__ import annotations

import itertools
import json

import pytest

from assistant.errors import BadInputError
from assistant.ingest import html_to_text, read_file, split_passages, strip_boilerplate
from assistant.settings import ChunkSettings, IngestSettings
from assistant.tokens import count_tokens
from tests.conftest import SEED


def test_seed_boilerplate_removed_and_offsets_map_back():
    raw = SEED.read_text()
    text, offsets = strip_boilerplate(raw)
    assert "Updated on:" not in text
    assert "Photo: PTI" not in text
    assert "Curated by" not in text
    assert "Outlook News Desk" not in text
    assert "Kremlin aide Yuri Ushakov" in text
    assert len(offsets) == len(text)
    # Every non-separator character maps to the same character in the raw text.
    for i, ch in enumerate(text):
        if ch != "\n":
            assert raw[offsets[i]] == ch


def test_passages_respect_token_budget_and_have_stable_ids():
    article = read_file(SEED)[0]
    chunk = ChunkSettings(max_tokens=80, overlap_tokens=20)
    passages = split_passages(article, chunk)
    assert len(passages) >= 5
    assert all(p.tokens <= 80 for p in passages)
    assert [p.index for p in passages] == list(range(len(passages)))
    assert len({p.id for p in passages}) == len(passages)
    again = split_passages(read_file(SEED)[0], chunk)
    assert [p.id for p in again] == [p.id for p in passages]
    # Every word of the cleaned article is in some passage.
    covered = " ".join(p.text for p in passages)
    assert all(word in covered for word in article.text.split())
    # Passage spans point into the raw file.
    for p in passages:
        first_line = p.text.split("\n")[0]
        assert first_line in article.raw[p.start : p.end]


def test_overlap_repeats_trailing_sentence():
    article = read_file(SEED)[0]
    passages = split_passages(article, ChunkSettings(max_tokens=60, overlap_tokens=40))
    shared = sum(1 for a, b in itertools.pairwise(passages) if a.text.split(". ")[-1][:30] in b.text)
    assert shared >= 1


def test_long_sentence_is_cut_under_budget():
    from assistant.ingest import make_article

    article = make_article("word " * 900 + "end.", "long")
    passages = split_passages(article, ChunkSettings(max_tokens=100, overlap_tokens=0))
    assert all(p.tokens <= 101 for p in passages)
    assert len(passages) >= 9


def test_html_drops_scripts_and_styles(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "<html><head><title>T</title><style>.x{color:red}</style><script>alert('x')</script></head>"
        "<body><nav>Home</nav><h1>Headline here</h1><p>First para.</p><p>Second <b>para</b>.</p></body></html>"
    )
    article = read_file(page)[0]
    assert article.title == "Headline here"
    assert "alert" not in article.text and "color" not in article.text and "Home" not in article.text
    assert "Second para ." in article.text or "Second para." in article.text
    text, _ = html_to_text("<p>a</p><script>bad()</script>")
    assert "bad" not in text


def test_json_and_jsonl_fields(tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"id": "a1", "title": "Title", "url": "http://x", "published": "2026-01-01", "article": "Body text here."}))
    many = tmp_path / "many.jsonl"
    many.write_text(json.dumps({"text": "First body."}) + "\n\n" + json.dumps({"id": "b2", "article": "Second body."}) + "\n")
    a = read_file(one)[0]
    assert (a.id, a.title, a.url, a.published) == ("a1", "Title", "http://x", "2026-01-01")
    ids = [x.id for x in read_file(many)]
    assert ids == ["many-0", "b2"]


def test_a_bad_record_is_named_by_its_line_or_its_place_counted_from_1(tmp_path):
    """A .jsonl's bad record was 'record 1' when it was on line 2 (its JSON errors say 'line 2')."""
    jsonl = tmp_path / "feed.jsonl"
    jsonl.write_text(json.dumps({"text": "First body."}) + "\n" + json.dumps({"title": "no body"}) + "\n")
    with pytest.raises(BadInputError, match=r"^line 2 has no 'article' or 'text' field"):
        read_file(jsonl)
    jsonl.write_text(json.dumps({"id": "a", "text": "One."}) + "\n\n" + json.dumps({"id": "a", "text": "Two."}) + "\n")
    with pytest.raises(BadInputError, match=r"^line 3 repeats the id 'a' of line 1$"):
        read_file(jsonl)
    listed = tmp_path / "feed.json"
    listed.write_text(json.dumps([{"id": "a", "text": "One."}, "just text"]))
    with pytest.raises(BadInputError, match=r"^record 2 is not a JSON object"):
        read_file(listed)
    # The ids of records without one are unchanged (0-based), so re-ingesting a feed stores nothing new.
    jsonl.write_text(json.dumps({"text": "One."}) + "\n" + json.dumps({"text": "Two."}) + "\n")
    assert [a.id for a in read_file(jsonl)] == ["feed-0", "feed-1"]


def test_pdf_text_is_extracted(tmp_path):
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(_tiny_pdf("Harbour budget approved by council"))
    article = read_file(pdf)[0]
    assert "Harbour budget approved" in article.text


@pytest.mark.parametrize(
    "name,content,reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.txt", b"   \n\n  ", "whitespace"),
        ("binary.txt", b"\x00\x01\x02binary", "binary"),
        ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), "UTF-8"),
        ("bad.json", b"{not json", "invalid JSON"),
        ("nofield.jsonl", b'{"title": "x"}\n', "no 'article' or 'text'"),
        ("fake.pdf", b"not a pdf at all", "not a PDF"),
        ("notes.docx", b"PK\x03\x04", "unsupported file type"),
    ],
)
def test_bad_files_raise_with_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadInputError, match=reason):
        read_file(path)


def test_oversize_file_is_refused(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("x" * 2000)
    with pytest.raises(BadInputError, match="over the limit"):
        read_file(path, IngestSettings(max_file_bytes=1000))


def test_token_count_uses_offline_tiktoken():
    assert count_tokens("hello world") == 2


def _tiny_pdf(text: str) -> bytes:
    """A one-page PDF with one line of text, written by hand (no PDF writer needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.mark.parametrize(
    "line",
    [
        "By Tuesday, the council had voted 7-2 to close the pier.",
        "Published figures show the budget grew by 4 per cent.",
        "Posted guards stood at every gate.",
        "Sponsored by the city, the festival drew 20,000 people.",
    ],
)
def test_story_lines_that_look_like_furniture_are_kept(line):
    text, _ = strip_boilerplate(f"Headline\n\n{line}\n\nAnother paragraph.\n")
    assert line in text


def test_furniture_lines_are_dropped():
    raw = "Headline\nBy Jane Doe and Li Wei, Reuters\nUpdated: 12 May 2026 10:04\nPublished on 3 March\nAdvertisement\nAlso read: Other story\nBody sentence here."
    text, _ = strip_boilerplate(raw)
    assert text == "Headline\n\nBody sentence here."


def test_repeated_sentence_is_kept_twice():
    raw = "Headline\n\nThe mayor resigned.\n\nQuote box\n\nThe mayor resigned.\n"
    assert strip_boilerplate(raw)[0].count("The mayor resigned.") == 2
