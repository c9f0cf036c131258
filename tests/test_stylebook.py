"""The editors' style book: load/save, variants, allowlist, and refusing malformed files."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import BadInputError
from assistant.stylebook import StyleBook


def test_missing_file_is_an_empty_book(tmp_path: Path) -> None:
    book = StyleBook.load(tmp_path / "nope.yaml")
    assert len(book) == 0
    assert book.variant_of("Zelensky") is None
    assert not book.is_allowed("Witkoff")


def test_round_trip_and_lookups(tmp_path: Path) -> None:
    path = tmp_path / "data" / "stylebook.yaml"
    book = StyleBook()
    book.add_preferred("Zelenskyy", ["Zelensky", "Zelenskiy"])
    book.add_allowed("Witkoff")
    book.save(path)

    again = StyleBook.load(path)
    assert again.variant_of("Zelensky") == "Zelenskyy"
    assert again.variant_of("ZELENSKIY") == "Zelenskyy"  # variants match case-insensitively
    assert again.variant_of("Zelenskyy") is None
    assert again.is_allowed("Witkoff")
    assert again.is_allowed("Zelenskyy")  # the house spelling is accepted too
    assert not again.is_allowed("Zelensky")
    assert [p.name for p in path.parent.iterdir()] == ["stylebook.yaml"]  # no temp file left


def test_loads_the_documented_shape(tmp_path: Path) -> None:
    path = tmp_path / "stylebook.yaml"
    path.write_text("preferred:\n  Zelenskyy: [Zelensky, Zelenskiy]\nallow: [Witkoff]\n")
    book = StyleBook.load(path)
    assert book.variant_of("Zelenskiy") == "Zelenskyy"
    assert book.is_allowed("witkoff")


def test_allowing_a_variant_stops_it_being_corrected() -> None:
    book = StyleBook({"Zelenskyy": ["Zelensky", "Zelenskiy"]})
    book.add_allowed("Zelensky")
    assert book.variant_of("Zelensky") is None
    assert book.variant_of("Zelenskiy") == "Zelenskyy"
    assert book.is_allowed("Zelensky")


def test_newest_preferred_decision_wins() -> None:
    book = StyleBook({"Zelensky": ["Zelenskiy"]}, allow=["Zelenskyy"])
    book.add_preferred("Zelenskyy", ["Zelensky"])
    # The former house spelling becomes a variant and brings its own variants along.
    assert book.variant_of("Zelensky") == "Zelenskyy"
    assert book.variant_of("Zelenskiy") == "Zelenskyy"
    assert "Zelensky" not in book.preferred
    book.add_preferred("Zelenskyy", ["Zelenskyi"])
    assert book.variant_of("Zelenskyi") == book.variant_of("Zelensky") == "Zelenskyy"


def test_malformed_yaml_is_refused_and_the_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "stylebook.yaml"
    bad = "preferred:\n  Zelenskyy: [Zelensky, Zelenskiy\nallow: [Witkoff]\n"
    path.write_text(bad)
    with pytest.raises(BadInputError) as info:
        StyleBook.load(path)
    assert "stylebook.yaml" in str(info.value) and "line" in str(info.value)
    assert info.value.help  # tells the editor what to do
    assert path.read_text() == bad


@pytest.mark.parametrize(
    "content",
    [
        "- just\n- a list\n",
        "preferred: [Zelenskyy]\n",
        "preferred:\n  Zelenskyy: {a: b}\n",
        "allow: {Witkoff: yes}\n",
        "prefered:\n  Zelenskyy: [Zelensky]\n",
    ],
)
def test_wrong_shape_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "stylebook.yaml"
    path.write_text(content)
    with pytest.raises(BadInputError):
        StyleBook.load(path)
    assert path.read_text() == content


def test_remove_takes_out_an_accepted_name_a_house_spelling_or_a_variant() -> None:
    book = StyleBook(preferred={"Zelenskyy": ["Zelensky", "Zelenskiy"], "Halvorsen": ["Halvorson"]}, allow=["Witkoff"])
    assert book.remove("witkoff") == ["accepted name 'Witkoff'"]
    assert not book.is_allowed("Witkoff")
    assert book.remove("Zelenskiy") == ["variant 'Zelenskiy' of 'Zelenskyy'"]
    assert book.variant_of("Zelenskiy") is None and book.variant_of("Zelensky") == "Zelenskyy"
    assert book.remove("Halvorsen") == ["house spelling 'Halvorsen' with its variants Halvorson"]
    assert book.variant_of("Halvorson") is None and not book.is_allowed("Halvorsen")
    assert book.remove("Nobody") == []
    assert book.to_data() == {"preferred": {"Zelenskyy": ["Zelensky"]}, "allow": []}


def test_empty_names_are_refused() -> None:
    with pytest.raises(BadInputError):
        StyleBook().add_allowed("  ")


def test_concurrent_accepts_lose_no_name(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from assistant.stylebook import StyleBook, editing

    path = tmp_path / "stylebook.yaml"

    def accept(name: str) -> None:
        with editing(path) as book:
            book.add_allowed(name)

    names = [f"Name{i}" for i in range(20)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(accept, names))
    book = StyleBook.load(path)
    assert all(book.is_allowed(n) for n in names)
