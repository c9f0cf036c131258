"""The sentence splitter on news text: the gold passages and a few direct cases."""

from __future__ import annotations

import pytest

from assistant.verify import split_sentences
from eval.sentences_bench import DEFAULT_DATA, product_splitter, score

# Boundary F1 of the best maintained splitter measured on tests/data/news_sentences.jsonl
# (spaCy en_core_web_sm's parser, doc.sents; pySBD 0.3.4 scored 0.948), from
# `.venv/bin/python -m eval.sentences_bench`. The product's rules must do at least as well.
BEST_MAINTAINED_F1 = 0.953
BEST_MAINTAINED_EXACT = 0.936


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_gold_news_passages_split_at_least_as_well_as_the_best_maintained_splitter() -> None:
    from assistant.evaluate.datasets import read_jsonl

    rows = read_jsonl(DEFAULT_DATA)
    assert len(rows) >= 80
    m = score(product_splitter(), rows, repeats=1)
    wrong = [(row["id"], row["sentences"]) for row, _ in m["wrong"]]
    assert m["f1"] >= BEST_MAINTAINED_F1, (m["f1"], wrong)
    assert m["exact"] >= BEST_MAINTAINED_EXACT, (m["exact"], wrong)


def test_gold_passages_spans_are_exact_offsets() -> None:
    from assistant.evaluate.datasets import read_jsonl

    for row in read_jsonl(DEFAULT_DATA):
        text = row["text"]
        for a, b in split_sentences(text):
            assert text[a:b] == text[a:b].strip() and text[a:b]


def test_a_name_ending_in_a_period_ends_the_sentence() -> None:
    text = "Several carriers suspended flights this week, including El Al. Previously, the airlines had cut routes."
    assert sentences(text) == [
        "Several carriers suspended flights this week, including El Al.",
        "Previously, the airlines had cut routes.",
    ]
    assert sentences(
        "The order went to Boeing Co. Airbus had bid for it. Ford Motor Co. said no."
    ) == [
        "The order went to Boeing Co.",
        "Airbus had bid for it.",
        "Ford Motor Co. said no.",
    ]
    assert sentences(
        "The figures come from Lee et al. The authors warned the sample was small."
    ) == [
        "The figures come from Lee et al.",
        "The authors warned the sample was small.",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "The U.S. Army said two soldiers were wounded in the attack.",
        "Reporters gathered outside No. 10 Downing St. on Monday.",
        "The Cardinals beat the Cubs 5-2 in St. Louis on Saturday.",
        "Lt. Col. Alexander Vindman and Gen. Mark Milley testified.",
        "J.K. Rowling and George W. Bush met at 9 a.m. on Jan. 5.",
        "Apple Inc. Chief Executive Tim Cook spoke at the U.N. Security Council.",
        "The storm makes landfall at 4 a.m. Thursday, with winds of 2.5 times the norm.",
    ],
)
def test_abbreviations_inside_a_sentence_do_not_split_it(text: str) -> None:
    assert sentences(text) == [text]


def test_abbreviations_at_a_sentence_end_split_before_a_new_sentence() -> None:
    assert sentences("Polls close at 8 p.m. Results are expected before midnight.") == [
        "Polls close at 8 p.m.",
        "Results are expected before midnight.",
    ]
    assert sentences("The proposal was sent to the U.N. Diplomats expect a vote.") == [
        "The proposal was sent to the U.N.",
        "Diplomats expect a vote.",
    ]
    assert sentences("The fire started on Main St. Firefighters put it out.") == [
        "The fire started on Main St.",
        "Firefighters put it out.",
    ]


def test_pages_that_lost_their_paragraph_breaks_split_before_the_opening_quote() -> None:
    text = 'The club confirmed it on Friday."He is a leader," the manager said."We are delighted."'
    assert sentences(text) == [
        "The club confirmed it on Friday.",
        '"He is a leader," the manager said.',
        '"We are delighted."',
    ]
    assert sentences('Ministers want to "drive up standards".The opposition disagreed.') == [
        'Ministers want to "drive up standards".',
        "The opposition disagreed.",
    ]


def test_tokenised_lower_case_output_keeps_dotted_abbreviations_inside_sentences() -> None:
    text = (
        "police chased him back into d.c. that ended in a crash at 3 p.m. on friday . he was hurt ."
    )
    assert sentences(text) == [
        "police chased him back into d.c. that ended in a crash at 3 p.m. on friday .",
        "he was hurt .",
    ]
