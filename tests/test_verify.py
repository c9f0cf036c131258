"""The deterministic verifier: sentence splitting, citation checks, claim checks, summary consistency."""

from __future__ import annotations

import json

import pytest

from assistant.types import Citation, Passage, ScoredPassage
from assistant.verify import (
    check_claim,
    is_checkworthy,
    is_consistent,
    polarity_flip,
    split_sentences,
    verify_citations,
)
from tests.conftest import eval_file

FRANK = "consistency-frank-dev.jsonl"
CNNDM = "summaries-cnndm-dev.jsonl"


def passage(pid: str, article_id: str, text: str) -> Passage:
    return Passage(
        id=pid,
        article_id=article_id,
        index=0,
        text=text,
        start=0,
        end=len(text),
        tokens=len(text.split()),
    )


BUS = passage(
    "lyon:0",
    "lyon",
    "Police said 10 people were killed when a bus crashed near Lyon on Monday. "
    "The driver, Jean Dupont, survived. Officials said 2,000 residents were evacuated.",
)
SUMMIT = passage(
    "summit:0",
    "summit",
    "Russian President Vladimir Putin met Donald Trump in Alaska on Friday. "
    "The two leaders discussed the war in Ukraine for three hours, officials said.",
)
PRICES = passage(
    "prices:0",
    "prices",
    "Inflation rose to 5 per cent in March, the Office for National Statistics said.",
)
PASSAGES = {p.id: p for p in (BUS, SUMMIT, PRICES)}


def evidence(*passages: Passage) -> list[ScoredPassage]:
    return [ScoredPassage(passage=p, score=1.0 - i / 10) for i, p in enumerate(passages)]


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


# --- split_sentences -----------------------------------------------------------------------------


def test_split_sentences_keeps_abbreviations_and_initials_inside_sentences() -> None:
    text = "Mr. Smith flew to the U.S. on Monday. Dr. J. R. R. Tolkien wrote books. It cost $3.5m at 5 p.m. on Friday."
    assert sentences(text) == [
        "Mr. Smith flew to the U.S. on Monday.",
        "Dr. J. R. R. Tolkien wrote books.",
        "It cost $3.5m at 5 p.m. on Friday.",
    ]


def test_split_sentences_ends_after_a_dotted_acronym_when_a_new_sentence_starts() -> None:
    assert sentences("He moved to the U.S. The family followed.") == [
        "He moved to the U.S.",
        "The family followed.",
    ]


def test_split_sentences_handles_quotes() -> None:
    text = 'He said "It was great." Then he left. "We will win," she said. "It is over!" He walked out.'
    assert sentences(text) == [
        'He said "It was great."',
        "Then he left.",
        '"We will win," she said.',
        '"It is over!"',
        "He walked out.",
    ]


def test_split_sentences_spans_point_into_the_original_text_and_paragraphs_split() -> None:
    text = "  First line here.\n\nSecond paragraph, no full stop\nThird.Glued sentence after it."
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "First line here.",
        "Second paragraph, no full stop",
        "Third.",
        "Glued sentence after it.",
    ]


def test_split_sentences_on_lowercased_tokenised_model_output() -> None:
    text = "the u.s. has n't said . mr. smith , 31 , went home . ' it was bad , ' he said ."
    assert sentences(text) == [
        "the u.s. has n't said .",
        "mr. smith , 31 , went home .",
        "' it was bad , ' he said .",
    ]


# --- is_checkworthy ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentence",
    [
        "Prices rose 5 per cent last year.",
        "The meeting is on Monday afternoon.",
        '"We will fight on," she told reporters.',
        "The minister said the plan was fair.",
        "Vladimir Putin arrived late for the talks.",
        "Putin arrived late for the talks.",
    ],
)
def test_checkworthy_sentences(sentence: str) -> None:
    assert is_checkworthy(sentence)


@pytest.mark.parametrize(
    "sentence", ["It was a good day for everyone.", "Updated on:", "Outlook News Desk"]
)
def test_not_checkworthy(sentence: str) -> None:
    assert not is_checkworthy(sentence)


# --- verify_citations ----------------------------------------------------------------------------


def test_citation_with_a_real_quote_is_supported() -> None:
    r = verify_citations(
        "Ten people were killed in a bus crash near Lyon.",
        [Citation(passage_id="lyon:0", quote="10 people were killed when a bus crashed")],
        PASSAGES,
        article_id="lyon",
    )
    assert r.verdict == "supported", r.reason


def test_citation_with_a_fabricated_quote_is_unsupported() -> None:
    r = verify_citations(
        "Ten people were killed in a bus crash near Lyon.",
        [
            Citation(
                passage_id="lyon:0", quote="15 people died when a lorry overturned on the motorway"
            )
        ],
        PASSAGES,
    )
    assert r.verdict == "unsupported"
    assert r.reason.startswith("quote not found in passage lyon:0")


def test_citation_of_a_missing_passage_is_unsupported() -> None:
    r = verify_citations("Ten people died.", [Citation(passage_id="nope:3")], PASSAGES)
    assert r.verdict == "unsupported" and "'nope:3' does not exist" in r.reason


def test_citation_of_another_articles_passage_is_unsupported() -> None:
    r = verify_citations(
        "Putin met Trump in Alaska.", [Citation(passage_id="summit:0")], PASSAGES, article_id="lyon"
    )
    assert r.verdict == "unsupported" and "belongs to article 'summit'" in r.reason


def test_no_citation_is_unsupported() -> None:
    assert verify_citations("Ten people died near Lyon.", [], PASSAGES).verdict == "unsupported"


def test_number_mismatch_names_the_number_and_passage() -> None:
    r = verify_citations(
        "12 people were killed in a bus crash near Lyon.", [Citation(passage_id="lyon:0")], PASSAGES
    )
    assert r.verdict == "unsupported"
    assert r.reason == "number '12' not in cited passage lyon:0"


def test_name_mismatch_is_unsupported() -> None:
    r = verify_citations(
        "The driver, Pierre Dupont, survived the crash.", [Citation(passage_id="lyon:0")], PASSAGES
    )
    assert r.verdict == "unsupported" and "name 'Pierre Dupont'" in r.reason


def test_date_mismatch_is_unsupported() -> None:
    r = verify_citations(
        "Inflation rose to 5% in April.", [Citation(passage_id="prices:0")], PASSAGES
    )
    assert r.verdict == "unsupported" and "date 'april'" in r.reason


@pytest.mark.parametrize(
    "sentence",
    [
        "Ten people died near Lyon on Monday and 2000 residents were evacuated.",  # "10", "2,000"
        "Inflation hit five per cent in March.",  # "5 per cent"
        "Inflation hit 5% in March, the ONS said.",  # "5 per cent", acronym of a named body
    ],
)
def test_number_formats_and_acronyms_match(sentence: str) -> None:
    cited = [Citation(passage_id="lyon:0" if "Lyon" in sentence else "prices:0")]
    r = verify_citations(sentence, cited, PASSAGES)
    assert r.verdict == "supported", r.reason


def test_direct_speech_in_the_sentence_must_be_in_the_passage() -> None:
    r = verify_citations(
        'Officials said "the bus was travelling far too fast".',
        [Citation(passage_id="lyon:0")],
        PASSAGES,
    )
    assert r.verdict == "unsupported" and "quote not found" in r.reason


# --- check_claim ---------------------------------------------------------------------------------


def test_claim_supported_by_other_article() -> None:
    r = check_claim(
        "Ten people were killed when a bus crashed near Lyon on Monday, police said.",
        evidence(BUS, SUMMIT),
    )
    assert r.verdict == "supported", r.reason
    assert r.evidence[0].passage_id == "lyon:0" and r.evidence[0].article_id == "lyon"
    assert "Lyon" in r.evidence[0].quote
    assert (r.start, r.end) == (0, len(r.text))


def test_claim_contradicted_by_number() -> None:
    r = check_claim(
        "Police said 12 people were killed when a bus crashed near Lyon on Monday.", evidence(BUS)
    )
    assert r.verdict == "contradicted"
    assert "'12'" in r.reason and "'10'" in r.reason and "lyon:0" in r.reason


def test_claim_contradicted_by_name() -> None:
    r = check_claim("Vladimir Putin met Joe Biden in Alaska on Friday.", evidence(SUMMIT))
    assert r.verdict == "contradicted"
    assert "'Joe Biden'" in r.reason and "'Donald Trump'" in r.reason


def test_unknown_word_marker_is_no_name() -> None:
    # Machine summaries write "UNK" / "[UNK]" where their vocabulary ran out: a gap, not a rival
    # name, so it cannot contradict the evidence's name (the claim is left to the score).
    from assistant.verify.names import names_in

    assert names_in("UNK UNK, 27, was arrested on Friday at the border near San Diego.") == ["San Diego"]
    assert names_in("UNK Ibrahim UNK was a deputy of Saddam Hussein.") == ["Ibrahim", "Saddam Hussein"]
    assert names_in("Items worth up to # [UNK] were put up for sale in Staffordshire.") == ["Staffordshire"]
    r = check_claim("UNK met Donald Trump in Alaska on Friday.", evidence(SUMMIT))
    assert r.verdict != "contradicted", r.reason
    assert check_claim("Joe Biden met Donald Trump in Alaska on Friday.", evidence(SUMMIT)).verdict == "contradicted"
    # a forename lost to UNK: NER's "UNK Putin" for the sentence's first word was a rival name
    assert names_in("UNK Putin met Donald Trump in Alaska on Friday.") == ["Putin", "Donald Trump", "Alaska"]
    r = check_claim("UNK Putin met Donald Trump in Alaska on Friday.", evidence(SUMMIT))
    assert r.verdict != "contradicted", r.reason


def test_claim_contradicted_by_place_and_day() -> None:
    assert (
        check_claim(
            "Police said 10 people were killed when a bus crashed near Marseille on Monday.",
            evidence(BUS),
        ).verdict
        == "contradicted"
    )
    assert (
        check_claim(
            "Police said 10 people were killed when a bus crashed near Lyon on Tuesday.",
            evidence(BUS),
        ).verdict
        == "contradicted"
    )


def test_claim_contradicted_by_negation() -> None:
    r = check_claim(
        "Vladimir Putin did not meet Donald Trump in Alaska on Friday.", evidence(SUMMIT)
    )
    assert r.verdict == "contradicted"
    assert "not meet" in r.reason and "met" in r.reason


def test_claim_contradicted_by_antonym() -> None:
    r = check_claim("Inflation fell to 5% in March, the ONS said.", evidence(PRICES))
    assert r.verdict == "contradicted" and "'fell'" in r.reason and "'rose'" in r.reason


VOTE = passage(
    "vote:0",
    "vote",
    "The harbour council approved the ferry terminal by 19 votes to 12 on Tuesday. "
    "The home side won the final 3-1 in extra time.",
)


def test_paired_numbers_are_compared_in_order() -> None:
    swapped = check_claim("The harbour council approved the ferry terminal by 12 votes to 19 on Tuesday.", evidence(VOTE))
    assert swapped.verdict == "contradicted"
    assert "'12 votes to 19'" in swapped.reason and "'19 votes to 12'" in swapped.reason
    score = check_claim("The home side won the final 1-3 in extra time.", evidence(VOTE))
    assert score.verdict == "contradicted" and "'1-3'" in score.reason
    same = check_claim("The harbour council approved the ferry terminal by 19 votes to 12 on Tuesday.", evidence(VOTE))
    assert same.verdict == "supported"


def test_numbers_counting_different_things_do_not_conflict() -> None:
    # two passages of FRANK's Kunis article (CNN/DM): the age and the sum both follow "Kunis"
    age = passage(
        "kunis:0", "kunis",
        "Mila Kunis is being sued by a Ukrainian wannabe singer who claims the Hollywood actress 'stole "
        "her pet chicken' as children. Kristina Karo alleges that she was a classmate of Ms Kunis, 31, "
        "who moved to the U.S. from Ukraine in 1991,  and that the pair were 'inseparable'  growing up. "
        "Karo, now living in Los Angeles, claims a seven-year-old Ms Kunis had been 'envious' of her pet "
        "hen, and that 25 years ago, she stole it from her.",
    )
    suit = passage(
        "kunis:3", "kunis",
        "Bad memories: The reason for the lawsuit 25 years after the 'theft' is that moving to LA, which "
        "is where Kunis also lives, has brought back memories of losing 'Doggie' for Karo and forced her "
        "back into therapy Not a bad egg: Mila Kunis, seen here with partner Ashton Kutcher in Los "
        "Angeles, is being accused of chicken theft despite growing up more than 100miles from Karo In "
        "her suit, Karo alleges that when 'Doggie' disappeared, Kunis confessed to the crime and told "
        "her 'Kristina, you can have any other chicken as a pet, you have a whole chicken farm' (stock "
        "image) Karo, whose song Give Me Green Card has more than 70,000 views on YouTube, is suing the "
        "actress Kunis for $5,000 for emotional distress and to cover her therapy bills.",
    )
    claim = "Kristina Karo alleges that she was a classmate of Ms Kunis, 31, who moved to the U.S."
    r = check_claim(claim, evidence(age, suit))
    assert r.verdict != "contradicted", r.reason
    # the same counted word still conflicts
    sum_claim = "Karo is suing the actress Kunis for $9,000 for emotional distress and to cover her therapy bills."
    assert check_claim(sum_claim, evidence(suit)).verdict == "contradicted"


def test_neutral_words_around_a_changed_number_keep_it_contradicted() -> None:
    plain = "Police said 12 people were killed when a bus crashed near Lyon on Monday."
    padded = (
        "In a grim statement issued late at night to reporters gathered outside the regional "
        "headquarters, police said 12 people were killed when a bus crashed near Lyon on Monday."
    )
    assert check_claim(plain, evidence(BUS)).verdict == "contradicted"
    r = check_claim(padded, evidence(BUS))
    assert r.verdict == "contradicted" and "'12'" in r.reason and "'10'" in r.reason
    # the same padding around the evidence's own number stays supported
    assert check_claim(padded.replace("12", "10"), evidence(BUS)).verdict != "contradicted"


def test_unrelated_claim_is_unverified() -> None:
    r = check_claim(
        "The football club signed a new striker for a record fee.", evidence(BUS, SUMMIT, PRICES)
    )
    assert r.verdict == "unverified"


def test_claim_without_evidence_is_unverified() -> None:
    assert check_claim("Ten people died near Lyon.", []).verdict == "unverified"


def test_negation_in_another_clause_is_not_a_contradiction() -> None:
    other = passage("o:0", "o", "Trump met Putin in Alaska, but they did not agree on a ceasefire.")
    assert check_claim("Trump met Putin in Alaska.", evidence(other)).verdict == "supported"


def test_double_flip_is_agreement() -> None:
    assert polarity_flip("The team did not win the final.", "The team lost the final.") is None
    assert polarity_flip("The Senate approved the bill.", "The bill was rejected by the Senate.")


def test_conflicting_sources_are_reported_with_the_agreeing_one() -> None:
    old = passage("old:0", "old", "10 people died in the fire, police said.")
    new = passage("new:0", "new", "Twelve people died in the fire.")
    r = check_claim("12 people died in the fire.", evidence(old, new))
    assert r.verdict == "contradicted"
    assert "new:0 agrees" in r.reason
    assert [e.passage_id for e in r.evidence] == ["old:0", "new:0"]


# --- is_consistent -------------------------------------------------------------------------------

ARTICLE = (
    "Lewis Hamilton took pole position for the Chinese Grand Prix on Saturday. "
    "The Mercedes driver was four-hundredths of a second ahead of his team-mate Nico Rosberg. "
    "Sebastian Vettel, who won in Malaysia, will start third."
)


def test_faithful_summary_is_consistent() -> None:
    ok, reason = is_consistent(
        "hamilton took pole for the chinese grand prix . vettel will start third .", ARTICLE
    )
    assert ok, reason


def test_summary_with_an_invented_fact_is_inconsistent() -> None:
    ok, reason = is_consistent(
        "hamilton took pole for the chinese grand prix after a crash in qualifying .", ARTICLE
    )
    assert not ok and "crash" in reason


def test_summary_with_a_negation_flip_is_inconsistent() -> None:
    ok, reason = is_consistent(
        "Sebastian Vettel, who did not win in Malaysia, will start third.", ARTICLE
    )
    assert not ok and "not win" in reason


def test_frank_dev_balanced_accuracy() -> None:
    from eval.consistency_dev import run

    m = run(eval_file(FRANK), nested=False)
    assert m["n"] == 200
    assert m["balanced_accuracy"] >= 0.70, m
    assert m["cv_balanced_accuracy"] >= 0.70, m


def test_spelled_out_numbers_match_their_digits() -> None:
    died = passage("f:0", "f", "Police said 25 people died in the fire on Monday.")
    r = check_claim("Twenty-five people died in the fire on Monday.", evidence(died))
    assert r.verdict == "supported", r.reason
    r = check_claim("Thirty-five people died in the fire on Monday.", evidence(died))
    assert r.verdict == "contradicted" and "'35' where the evidence says '25'" in r.reason
    homes = passage("h:0", "h", "The council in Leeds approved 340 new homes on Tuesday.")
    claim = "The council approved three hundred and forty new homes in Leeds."
    assert check_claim(claim, evidence(homes)).verdict == "supported"
    # "hundreds of" is a vague quantity, not the number 100: it never conflicts with a figure.
    crowd = passage("c:0", "c", "About 300 protesters gathered outside the town hall in Vellmar.")
    claim = "Hundreds of protesters gathered outside the town hall in Vellmar."
    assert check_claim(claim, evidence(crowd)).verdict != "contradicted"


def test_name_variants() -> None:
    assert (
        check_claim("The driver, John Dupont, survived.", evidence(BUS)).verdict == "contradicted"
    )
    short = passage(
        "s:0",
        "s",
        "Police issued a warrant for karate instructor Alexander Soumbadze, 26, on Monday.",
    )
    r = check_claim("Police issued a warrant for Alex Soumbadze, 26, on Monday.", evidence(short))
    assert r.verdict == "supported", r.reason


@pytest.mark.parametrize(
    ("claim", "text"),
    [
        (
            "The nation did not have the funds to repay the debt.",
            "The nation no longer has the funds to repay the debt.",
        ),
        (
            "Mr Yeaman could not be revived by paramedics.",
            "Paramedics were unable to revive Mr Yeaman at the scene.",
        ),
    ],
)
def test_negation_forms_agree(claim: str, text: str) -> None:
    assert check_claim(claim, evidence(passage("n:0", "n", text))).verdict != "contradicted"


def _cnndm_rows() -> list[dict]:
    return [json.loads(line) for line in eval_file(CNNDM).read_text().splitlines() if line.strip()]


def _chunks(row: dict, article_id: str) -> list[Passage]:
    words = row["article"].split()
    return [
        passage(f"{row['id']}:{k}", article_id, " ".join(words[k : k + 170]))
        for k in range(0, len(words), 150)
    ]


def _top5(claim: str, pool: list[tuple[Passage, set[str]]]) -> list[ScoredPassage]:
    from assistant.verify import analyse

    keys = {t.key for t in analyse(claim) if t.content}
    ranked = sorted(pool, key=lambda x: -len(keys & x[1]))[:5]
    return [ScoredPassage(passage=p, score=1.0) for p, _ in ranked]


def test_no_false_contradictions_from_unrelated_articles() -> None:
    """Claims of each CNN/DM article against the other articles' passages: other stories never contradict."""
    from assistant.verify import analyse

    rows = _cnndm_rows()[:25]
    pool = [
        (p, {t.key for t in analyse(p.text) if t.content})
        for r in rows
        for p in _chunks(r, r["id"])
    ]
    verdicts = []
    for r in rows:
        text = r["article"]
        others = [x for x in pool if x[0].article_id != r["id"]]
        for a, b in split_sentences(text):
            if is_checkworthy(text[a:b]):
                verdicts.append((check_claim(text[a:b], _top5(text[a:b], others)), text[a:b]))
    contradicted = [(c, r.reason) for r, c in verdicts if r.verdict == "contradicted"]
    assert len(verdicts) > 300
    assert not contradicted, contradicted


def test_reference_highlights_are_not_contradicted_by_their_own_article() -> None:
    """Human highlights checked against their article (as if another source): supported or unverified."""
    from assistant.verify import analyse

    counts = {"supported": 0, "unverified": 0, "contradicted": 0}
    wrong = []
    for r in _cnndm_rows():
        pool = [(p, {t.key for t in analyse(p.text) if t.content}) for p in _chunks(r, "other")]
        ref = r["reference"]
        for a, b in split_sentences(ref):
            res = check_claim(ref[a:b], _top5(ref[a:b], pool))
            counts[res.verdict] += 1
            if res.verdict == "contradicted":
                wrong.append((ref[a:b], res.reason))
    assert not wrong, wrong
    assert counts["supported"] > counts["unverified"] / 2, counts
