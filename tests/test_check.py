"""`assistant check`: claims against the sample corpus and name flags, with real Chroma, MiniLM and spaCy."""

from __future__ import annotations

import json

import pytest

from assistant.service import Assistant
from tests.conftest import EXAMPLES, SEED
from tests.test_cli import run

DRAFT = (
    "Harbour plan draft\n\n"
    "Vellmar city council approved a harbour renewal budget of 55 million euros on Tuesday.\n\n"
    "Councillor Tobias Okafor, who leads the opposition Labour group, voted against the plan.\n\n"
    "The floating berth has room for 14 boats and cost 380,000 euros.\n\n"
    "Mayor Ingrid Halvorsen said the money would rebuild the southern quay.\n\n"
    "A new tram line to the airport will open in 2031, the transport minister said.\n"
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Assistant:
    from assistant.settings import Settings

    a = Assistant(Settings(data_dir=tmp_path_factory.mktemp("corpus")))
    a.ingest([EXAMPLES])
    return a


def _claim(report, needle):
    return next(c for c in report.claims if needle in c.text)


def test_changed_number_is_contradicted_with_quote(corpus):
    report = corpus.check(text=DRAFT)
    claim = _claim(report, "55 million")
    assert claim.verdict == "contradicted"
    assert claim.evidence and claim.evidence[0].article_id == "budget-approved"
    assert "42 million euros" in claim.evidence[0].quote
    assert "55" in claim.reason and "42" in claim.reason
    assert DRAFT[claim.start : claim.end] == claim.text


def test_changed_name_is_contradicted(corpus):
    claim = _claim(corpus.check(text=DRAFT), "Labour group")
    assert claim.verdict == "contradicted"
    assert "Green" in claim.evidence[0].quote


def test_antonym_flip_is_contradicted(corpus):
    claim = _claim(corpus.check(text=DRAFT), "southern quay")
    assert claim.verdict == "contradicted"
    assert "northern" in claim.reason


def test_matching_claim_supported_and_unrelated_unverified(corpus):
    report = corpus.check(text=DRAFT)
    assert _claim(report, "14 boats").verdict == "supported"
    assert _claim(report, "tram line").verdict == "unverified"


def test_stored_article_is_not_its_own_evidence(corpus):
    report = corpus.check(article_id="harbour-vote")
    for claim in report.claims:
        assert all(e.article_id != "harbour-vote" for e in claim.evidence)
    # The sample article misspells the mayor's name; the corpus spells it right three times.
    flags = {t.text: t for t in report.typos}
    assert flags["Halvorrsen"].suggestion == "Halvorsen"
    article = corpus.store.get_article("harbour-vote")
    flag = flags["Halvorrsen"]
    assert article.raw[flag.start : flag.end] == "Halvorrsen"


def test_accepting_a_spelling_stops_the_flag(corpus):
    corpus.accept_spelling("Halvorrsen")
    try:
        assert "Halvorrsen" not in {t.text for t in corpus.check(article_id="harbour-vote").typos}
    finally:
        corpus.settings.stylebook_path.unlink()


def test_cli_check_seed_with_empty_corpus(tmp_path):
    out = json.loads(run("--data-dir", str(tmp_path / "empty"), "check", "--file", str(SEED), "--json").stdout)
    assert set(out) >= {"article_id", "claims", "typos"}
    flagged = {t["text"]: t for t in out["typos"]}
    assert flagged["Zeelenskyy"]["suggestion"] in {"Zelenskyy", "Zelensky", "Zelenskiy"}
    raw = SEED.read_text()
    t = flagged["Zeelenskyy"]
    assert raw[t["start"] : t["end"]] == "Zeelenskyy"
    for name in ["Ushakov", "Witkoff", "Interfax", "Kremlin", "Volodymyr", "Putin", "Trump"]:
        assert not any(name in f for f in flagged), name
    assert out["claims"] and all(c["verdict"] == "unverified" for c in out["claims"])
    for c in out["claims"]:
        assert raw[c["start"] : c["end"]] == c["text"]


def test_pasted_copy_of_stored_article_is_not_its_own_evidence(corpus):
    raw = corpus.store.get_article("budget-approved").raw
    report = corpus.check(text=raw)
    assert report.claims
    for claim in report.claims:
        assert all(e.article_id != "budget-approved" for e in claim.evidence)


def test_llm_judge_is_shown_but_never_overrules_a_mismatch(corpus):
    import json as _json

    from assistant.check import check_claims
    from assistant.testing import FakeChatModel

    article, _ = corpus.resolve_article(text="Harbour\n\nVellmar city council approved a harbour renewal budget of 55 million euros on Tuesday.")
    judge = FakeChatModel()
    judge.enqueue(_json.dumps({"verdict": "supported", "reason": "the budget was approved"}))
    (claim,) = check_claims(article, corpus.retriever, chat=judge)
    assert claim.verdict == "contradicted"
    assert claim.judge.startswith("supported: the budget was approved")
    assert "overruled" in claim.judge
    assert "<claim>" in judge.history[0][-1].content or "55 million" in judge.history[0][-1].content


def test_model_check_decides_in_both_directions_and_conflicts_veto(corpus):
    from tests.conftest import fake_support_scorer

    checker = Assistant(corpus.settings, embedder=corpus.embedder, support=fake_support_scorer())
    report = checker.check(text=DRAFT)
    which = checker.claims_to_score(report)
    # every claim with relevant evidence is scored, whatever the code's overlap rules said; a
    # conflict (contradicted) and a claim with nothing relevant are not
    assert which and all(report.claims[i].verdict != "contradicted" and report.claims[i].context for i in which)
    assert all(c.support is None for c in report.claims)  # the first stage is code only
    scored = dict(checker.support_claims(report))
    assert set(scored) == set(which)
    boats = next(c for c in scored.values() if "14 boats" in c.text)
    assert boats.verdict == "supported" and boats.support is not None and boats.support > 0.5
    assert boats.decided_by == "model" and "model check: support" in boats.reason
    assert [c.check for c in boats.checks if c.decisive] == ["model"]
    # Down: a claim whose wording the evidence does not back is unverified by the score.
    claim = report.claims[which[0]]
    odd = claim.model_copy(update={"text": claim.text.rstrip(".") + " in Zorblax."})
    report.claims[which[0]] = odd
    (_, vetoed), *_ = checker.support_claims(report, [which[0]])
    assert vetoed.verdict == "unverified" and vetoed.support < 0.5 and vetoed.decided_by == "model"
    span = next(s for s in vetoed.suspect_spans if s.text.startswith("Zorblax"))
    assert span.start - odd.start == odd.text.index("Zorblax")
    # Up: a faithful paraphrase the overlap rule leaves unverified is supported by the score.
    paraphrase = boats.model_copy(update={"verdict": "unverified", "decided_by": "code"})
    report.claims[which[0]] = paraphrase
    (_, up), *_ = checker.support_claims(report, [which[0]])
    assert up.verdict == "supported" and up.decided_by == "model"
    # A hard conflict stands whatever the score.
    budget = next(i for i, c in enumerate(report.claims) if "55 million" in c.text)
    assert report.claims[budget].verdict == "contradicted" and budget not in which


def test_claim_with_nothing_relevant_shows_no_quote(corpus):
    tram = _claim(corpus.check(text=DRAFT), "tram line")
    assert tram.verdict == "unverified" and tram.evidence == [] and tram.context == []
    assert tram.reason.startswith("nothing in the archive on this")
    assert [c.check for c in tram.checks] == ["relevance"] and tram.checks[0].outcome == "fail"


def test_evidence_shows_its_article_title_and_claims_share_windows(corpus):
    from assistant.check import claim_windows

    report = corpus.check(text=DRAFT)
    boats = _claim(report, "14 boats")
    title = corpus.store.get_article(boats.evidence[0].article_id).title
    assert title and boats.evidence[0].title == title
    # two claims whose evidence lies in one article read one window
    twice = report.model_copy(deep=True)
    twice.claims.append(boats.model_copy(update={"text": "The berth can take 14 boats."}))
    which = [len(twice.claims) - 1, twice.claims.index(boats)]
    passages = corpus.store.get_passages_by_id([e.passage_id for i in which for e in twice.claims[i].context])
    windows = claim_windows(twice.claims, which, passages)
    assert len(windows) == 1 and sorted(windows[0][1]) == sorted(which)
    assert "14 boats" in windows[0][0]


def test_cli_check_json_carries_support_and_suspect_spans(tmp_path):
    data = tmp_path / "data"
    run("--data-dir", str(data), "ingest", "--quiet", str(EXAMPLES))
    draft = tmp_path / "draft.txt"
    draft.write_text(DRAFT)
    out = json.loads(run("--data-dir", str(data), "check", "--file", str(draft), "--json", "--no-support").stdout)
    assert all(c["support"] is None and c["suspect_spans"] == [] for c in out["claims"])
