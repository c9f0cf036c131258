"""Name and typo checks with the real spaCy pipelines and lexicons (no mocks)."""

from __future__ import annotations

import json

import pytest

from assistant.evaluate.metrics import typo_metrics
from assistant.stylebook import StyleBook
from assistant.types import TypoFlag
from assistant.typos import CorpusNames, find_typos
from tests.conftest import SEED, eval_file


def _offsets_ok(text: str, flags: list[TypoFlag]) -> None:
    for f in flags:
        assert text[f.start : f.end] == f.text


def test_seed_article_flags_zeelenskyy_and_nothing_correct() -> None:
    text = eval_file(SEED.name).read_text(encoding="utf-8")
    flags = find_typos(text)
    _offsets_ok(text, flags)
    zel = [f for f in flags if f.text == "Zeelenskyy"]
    assert len(zel) == 1
    assert zel[0].suggestion in {"Zelenskyy", "Zelensky", "Zelenskiy"}
    assert zel[0].kind == "name"
    assert "Zeelenskyy" in zel[0].reason and zel[0].suggestion in zel[0].reason
    flagged = {f.text for f in flags}
    for name in ["Ushakov", "Witkoff", "Interfax", "Kremlin", "Volodymyr", "Putin", "Trump"]:
        assert name not in flagged


def test_doubled_word() -> None:
    text = "The minister said the the budget had had no effect on Bora Bora."
    flags = find_typos(text)
    _offsets_ok(text, flags)
    doubled = [f for f in flags if f.kind == "doubled"]
    assert [(f.text, f.suggestion) for f in doubled] == [("the the", "the")]


def test_codespell_misspelling() -> None:
    text = "The council will recieve the report on Tuesday."
    flags = find_typos(text)
    _offsets_ok(text, flags)
    assert [(f.text, f.suggestion, f.kind) for f in flags] == [("recieve", "receive", "word")]
    assert "codespell" in flags[0].reason


def test_style_book_variant_overrides_the_lexicons() -> None:
    # "Zelensky" is a correct spelling to the lexicons; the house style still wants "Zelenskyy".
    text = "Ukrainian President Volodymyr Zelensky's office said talks would go on."
    assert not [f for f in find_typos(text) if "Zelensky" in f.text]
    book = StyleBook({"Zelenskyy": ["Zelensky", "Zelenskiy"]})
    flags = find_typos(text, stylebook=book)
    _offsets_ok(text, flags)
    style = [f for f in flags if f.kind == "style"]
    assert [(f.text, f.suggestion) for f in style] == [("Zelensky", "Zelenskyy")]
    assert "style book" in style[0].reason


def test_allowlist_suppresses_a_flag() -> None:
    text = "Ukrainian president Volodymyr Zeelenskyy said the meeting went well."
    assert [f.text for f in find_typos(text)] == ["Zeelenskyy"]
    book = StyleBook(allow=["Zeelenskyy"])
    assert find_typos(text, stylebook=book) == []


def test_style_book_name_is_a_suggestion() -> None:
    # A name no lexicon knows, but the editors recorded it: its misspelling is caught.
    book = StyleBook(allow=["Qarlowski"])
    text = "Polish envoy Marta Qarlowksi said on Tuesday that talks would resume."
    flags = find_typos(text, stylebook=book)
    assert [(f.text, f.suggestion) for f in flags] == [("Qarlowksi", "Qarlowski")]


def test_corpus_spelling_signal() -> None:
    corpus_texts = [
        "Polish envoy Marta Qarlowski arrived in Brussels on Monday.",
        "Talks led by Qarlowski ended without agreement, officials said.",
        "The foreign ministry said Qarlowski would return next week.",
    ]
    draft = "Polish envoy Marta Qarlowksi said on Tuesday that talks would resume."
    assert find_typos(draft) == []  # no lexicon knows either spelling
    corpus = CorpusNames.from_texts(corpus_texts)
    flags = find_typos(draft, corpus=corpus)
    _offsets_ok(draft, flags)
    assert [(f.text, f.suggestion, f.kind) for f in flags] == [("Qarlowksi", "Qarlowski", "name")]
    assert "3 corpus articles" in flags[0].reason
    # The cached form gives the same answer.
    again = CorpusNames.from_json(json.loads(json.dumps(corpus.to_json())))
    assert find_typos(draft, corpus=again) == flags


def test_stored_article_is_not_its_own_corpus_witness() -> None:
    # The draft is in the corpus (a stored article being checked) and one other article
    # repeats its misspelling: still one witness against three for the right spelling.
    draft = "Polish envoy Marta Qarlowksi said on Tuesday that talks would resume."
    corpus = CorpusNames.from_texts(
        [
            draft,
            "An earlier note also named Qarlowksi.",
            "Polish envoy Marta Qarlowski arrived in Brussels on Monday.",
            "Talks led by Qarlowski ended without agreement, officials said.",
            "The foreign ministry said Qarlowski would return next week.",
        ]
    )
    assert corpus.contains(draft)
    flags = find_typos(draft, corpus=corpus)
    assert [(f.text, f.suggestion) for f in flags] == [("Qarlowksi", "Qarlowski")]


def test_same_name_spelt_two_ways_in_one_text() -> None:
    text = (
        "Nicole Keniheart starred alongside O'Toole. Keniheart later said the film "
        "changed her career. Critics praised Keniheatr and the director."
    )
    flags = find_typos(text)
    assert [(f.text, f.suggestion) for f in flags] == [("Keniheatr", "Keniheart")]
    assert "2 times in this text" in flags[0].reason


def test_possessives_hyphens_acronyms_urls_and_numbers_are_left_alone() -> None:
    text = (
        "Witkoff's plan, a Kremlin-backed deal and NATO's reply were posted at "
        "https://example.com/Zeelenskyy and tagged #Zeelenskyy on 12.08.2025 at 10:30, "
        "said Ushakov, citing Interfax and the UNHCR."
    )
    assert find_typos(text) == []
    hyphen = "The Zeelenskyy-led delegation arrived."
    assert [f.text for f in find_typos(hyphen)] == ["Zeelenskyy"]


def test_inflections_are_not_typos() -> None:
    text = (
        "The Cambridges' second child is due. The Duke of Cambridge and the Duchess of "
        "Cambridge were at Cambridge on Friday."
    )
    assert find_typos(text) == []


def test_typo_metrics_follows_the_readme() -> None:
    rows = [
        {"text": "a Zeelenskyy", "typo": "Zeelenskyy", "correct": "Zelenskyy", "offset": 2},
        {"text": "clean text", "typo": None, "correct": None, "offset": None},
    ]
    hit = TypoFlag(
        text="Zeelenskyy", start=2, end=12, suggestion="Zelenskyy", kind="name", reason="r"
    )
    fa = TypoFlag(text="text", start=6, end=10, suggestion="test", kind="word", reason="r")
    m = typo_metrics(rows, [[hit], [fa]])
    assert m["recall"] == 1.0 and m["precision"] == 0.5
    assert m["false_alarms_per_clean_doc"] == 1.0 and m["n"] == 2 and m["n_clean"] == 1
    wrong = hit.model_copy(update={"suggestion": "Zelensky"})
    assert typo_metrics(rows, [[wrong], []])["recall"] == 0.0


@pytest.mark.slow
def test_typos_dev_recall_and_false_alarms() -> None:
    from eval.typos_dev import run

    m = run(eval_file("typos-dev.jsonl"))
    assert m["n"] == 75 and m["n_clean"] == 25
    assert m["recall"] >= 0.90, m
    assert m["false_alarms_per_clean_doc"] <= 0.2, m
