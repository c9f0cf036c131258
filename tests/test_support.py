"""The support scorer: token scores, features, calibration, suspects, replay cache (fakes only)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from assistant.errors import BadInputError, ReplayMissError
from assistant.evaluate.metrics import best_threshold, binary_metrics, roc_auc
from assistant.llm import ReplayCacheChat
from assistant.llm_llama import _char_spans
from assistant.llm_scores import TokenScores
from assistant.support.calibrate import Calibrated, balanced_weights, fit_logistic, load, save
from assistant.support.features import all_features, token_features, words
from assistant.support.scorer import SupportScorer, evidence_sentence, fit_source, suspects
from assistant.testing import FakeScoringModel

SOURCE = (
    "The council approved the harbour plan on Tuesday. Mayor Ana Ruiz said the berths would open in May. "
    "The plan costs 12 million euros."
)


def test_char_spans_follow_utf8_pieces() -> None:
    text = "Åsa paid €5"
    pieces = [b"\xc3", b"\x85sa", b" paid", b" \xe2\x82", b"\xac5"]
    spans = _char_spans(pieces, text)
    assert [text[a:b] for a, b in spans] == ["", "Åsa", " paid", " ", "€5"]


def test_words_group_tokens_and_skip_outside_span() -> None:
    scores = TokenScores(
        text="Ana Ruiz said",
        spans=[(0, 3), (3, 5), (5, 8), (8, 13)],
        cond=[-1, -1, -1, -1],
        uncond=[-2, -2, -2, -2],
        best=[-1, -1, -1, -1],
        expected=["a", "b", "c", "d"],
    )
    ws = words(scores)
    assert [scores.text[w.start : w.end] for w in ws] == ["Ana", "Ruiz", "said"]
    assert ws[1].tokens == (1, 2)
    assert [scores.text[w.start : w.end] for w in words(scores, 9, 13)] == ["said"]


def test_fake_model_makes_an_invented_word_the_suspect() -> None:
    model = FakeScoringModel()
    scores = model.score(SOURCE, "Mayor Ana Ruiz said the berths would open in Zurich.")
    found = suspects(scores)
    assert found and found[0].text == "Zurich."
    sentence = scores.text
    assert sentence[found[0].start : found[0].end] == "Zurich."
    feats = token_features(scores)
    faithful = token_features(model.score(SOURCE, "Mayor Ana Ruiz said the berths would open in May."))
    assert feats["pmi_min"] < faithful["pmi_min"]


def test_suspect_offsets_are_relative_to_the_span() -> None:
    scores = FakeScoringModel().score(SOURCE, "The plan costs 12 million euros. The berths open in Zurich.")
    start = scores.text.index("The berths")
    found = suspects(scores, start, len(scores.text))
    assert [s.text for s in found] == ["Zurich."]
    piece = scores.text[start:]
    assert piece[found[0].start : found[0].end] == "Zurich."


def test_roc_auc_and_best_threshold() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5  # ties count half
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == 0.0
    assert roc_auc([0, 1, 0, 1], [0.1, 0.4, 0.4, 0.9]) == 0.875
    assert np.isnan(roc_auc([1, 1], [0.1, 0.2]))
    threshold, bacc = best_threshold([0, 0, 1, 1, 0], [0.1, 0.3, 0.6, 0.9, 0.7])
    assert bacc == binary_metrics([0, 0, 1, 1, 0], [int(s >= threshold) for s in [0.1, 0.3, 0.6, 0.9, 0.7]])["balanced_accuracy"]
    assert bacc == pytest.approx(5 / 6) and 0.3 < threshold < 0.7


def test_logistic_fit_separates_and_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for _ in range(200):
        y = int(rng.random() < 0.3)
        rows.append({"a": rng.normal(2.0 if y else 0.0), "b": rng.normal()})
        labels.append(y)
    model = fit_logistic(rows, labels, ["a", "b"], weights=balanced_weights(labels))
    probs = [model.probability(r) for r in rows]
    assert roc_auc(labels, probs) > 0.85
    assert model.coef[0] > 1.0 > abs(model.coef[1])
    model.threshold = best_threshold(labels, probs)[0]
    save(model, tmp_path / "w.json")
    again = load(tmp_path / "w.json")
    assert again.probability(rows[0]) == pytest.approx(model.probability(rows[0]))
    (tmp_path / "bad.json").write_text(json.dumps({"format": 99}))
    with pytest.raises(BadInputError) as err:
        load(tmp_path / "bad.json")
    assert "python -m eval.support fit" in err.value.help


def test_balanced_weights_equalise_classes_and_groups() -> None:
    w = balanced_weights([1, 0, 0, 0], ["a", "a", "b", "b"])
    assert sum(w[:1]) == pytest.approx(sum(w[1:]))
    assert w[2] == pytest.approx(w[3])


def _calibrated() -> Calibrated:
    return Calibrated(
        features=["pmi_min"], mean=[-4.0], scale=[2.0], coef=[3.0], intercept=0.0, threshold=0.5, model="fake"
    )


def test_scorer_gives_probability_suspects_evidence_and_reason() -> None:
    scorer = SupportScorer(FakeScoringModel(), _calibrated())
    good = scorer.score(SOURCE, "Mayor Ana Ruiz said the berths would open in May.")
    bad = scorer.score(SOURCE, "Mayor Ana Ruiz said the berths would open in Zurich.")
    assert good.supported and not bad.supported
    assert good.probability > 0.9 and bad.probability < 0.5
    assert bad.suspect_spans[0].text == "Zurich."
    assert "'Zurich.' is unlikely given the source" in bad.reason
    assert bad.evidence == "Mayor Ana Ruiz said the berths would open in May."
    assert SOURCE[bad.evidence_start : bad.evidence_end] == bad.evidence


def test_scorer_without_weights_says_how_to_fit() -> None:
    result = SupportScorer(FakeScoringModel(), None).score(SOURCE, "The plan costs 12 million euros.")
    assert result.probability is None and result.supported is None
    assert "python -m eval.support fit" in result.reason


def test_evidence_sentence_and_fit_source() -> None:
    text, a, b = evidence_sentence(SOURCE, "the plan will cost 12 million euros")
    assert text == "The plan costs 12 million euros." and SOURCE[a:b] == text
    long = " ".join(f"Filler sentence number {i} about nothing." for i in range(300)) + " The mayor resigned."
    cut = fit_source(long, "The mayor resigned.", budget=50)
    assert "The mayor resigned." in cut and len(cut) < len(long) / 10
    assert fit_source(SOURCE, "x", budget=1000) == SOURCE


def test_replay_cache_records_then_replays_without_the_model(tmp_path) -> None:
    inner = FakeScoringModel()
    recorder = ReplayCacheChat(inner=inner, cache_dir=tmp_path, mode="record")
    first = recorder.score(SOURCE, "The plan costs 12 million euros.")
    judged = recorder.judge(SOURCE, "The plan costs 12 million euros.")
    assert len(inner.scored) == 2 and recorder.misses == 2
    replayer = ReplayCacheChat(inner=inner, cache_dir=tmp_path, mode="replay")
    assert replayer.score(SOURCE, "The plan costs 12 million euros.") == first
    assert replayer.judge(SOURCE, "The plan costs 12 million euros.") == judged
    assert len(inner.scored) == 2 and replayer.hits == 2
    with pytest.raises(ReplayMissError):
        replayer.score(SOURCE, "Another sentence.")
    # the source enters the key by its hash only: cache files stay small
    files = list(tmp_path.rglob("*.json"))
    assert files and all(SOURCE not in f.read_text() for f in files)


def test_all_features_add_code_signals_and_judge() -> None:
    scores = FakeScoringModel().score(SOURCE, "The plan costs 15 million euros, Ms Lindqvist said.")
    feats = all_features(scores, SOURCE, judge=-2.5)
    assert feats["missing_values"] == 1 and feats["missing_names"] == 1
    assert feats["judge"] == -2.5
    assert "judge" not in all_features(scores, SOURCE)


class _EchoClient:
    """A stand-in for openai.OpenAI whose completions echo fixed tokens and log-probabilities."""

    def __init__(self, tokens: list[str], values: list[float | None], generated: str) -> None:
        from types import SimpleNamespace as NS

        prompt = "".join(tokens) if not generated else "".join(tokens)[: -len(generated) or None]
        offsets = [sum(len(t) for t in tokens[:i]) for i in range(len(tokens))]
        top = [None if v is None else {t: v} for t, v in zip(tokens, values, strict=True)]
        logprobs = NS(tokens=tokens, token_logprobs=values, text_offset=offsets, top_logprobs=top)
        reply = NS(choices=[NS(text=prompt + generated, logprobs=logprobs)])
        self.completions = NS(create=lambda **_: reply)


def _echo_scorer(monkeypatch: pytest.MonkeyPatch, client: _EchoClient):
    from assistant.llm_openai import OpenAIScorer

    scorer = OpenAIScorer("http://127.0.0.1:9/v1", None, "m")
    monkeypatch.setattr(scorer, "_client", lambda: client)
    return scorer


def test_openai_echo_keeps_only_the_statement_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    # prompt "P: " then the statement "It rained." then one generated token " Yes"
    tokens = ["P", ":", " ", "It", " rained", ".", " Yes"]
    values = [None, -1.0, -0.5, -2.0, -3.0, -0.1, -0.2]
    scorer = _echo_scorer(monkeypatch, _EchoClient(tokens, values, " Yes"))
    spans, got, _, _ = scorer._echo("P: ", "It rained.")
    assert spans == [(0, 2), (2, 9), (9, 10)]
    assert got == [-2.0, -3.0, -0.1]


def test_openai_echo_shifted_by_one_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.errors import LLMError

    # llama-cpp-python's server for a model without BOS: the generated token is missing
    tokens = ["P", ":", " ", "It", " rained", "."]
    client = _EchoClient(tokens, [None, -1.0, -0.5, -2.0, -3.0, -0.1], "")
    client.completions.create().choices[0].text += " Yes"
    scorer = _echo_scorer(monkeypatch, client)
    with pytest.raises(LLMError, match="shifted by one token"):
        scorer._echo("P: ", "It rained.")


def test_openai_choose_counts_each_first_token_for_one_choice_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.llm_openai import OpenAIScorer

    scorer = OpenAIScorer("http://127.0.0.1:9/v1", None, "m")
    # "No" is also the start of "Not": it must count for "no" only; "N" opens both and counts for neither
    top = {"No": -0.2, "Not": -2.0, "Yes": -3.0, " yes": -4.0, "N": -5.0, "Maybe": -6.0}
    monkeypatch.setattr(scorer, "_first_token", lambda *_a, **_k: top)
    got = scorer.choose("ask_boolean", {}, {"yes": ("Yes", "yes"), "no": ("No", "no"), "not": ("Not", "not")})
    assert got["no"] == pytest.approx(-0.2, abs=1e-4)
    assert got["not"] == pytest.approx(-2.0, abs=1e-4)
    assert got["yes"] == pytest.approx(math.log(math.exp(-3.0) + math.exp(-4.0)), abs=1e-4)


def test_window_of_a_long_source_is_reused_while_it_holds_the_evidence() -> None:
    filler = " ".join(f"Filler sentence number {i} says the mayor resigned on a day." for i in range(200))
    source = f"The mayor resigned on Monday. {filler} Cranes lifted cargo at dawn."
    scorer = SupportScorer(FakeScoringModel(), _calibrated(), source_tokens=120)
    first = scorer.window(source, ["The mayor resigned on Monday."])
    assert "The mayor resigned on Monday." in first and len(first) < len(source) / 5
    # other sentences whose evidence the window already holds: the same window (its KV state is reused)
    assert "Cranes" not in first
    assert scorer.window(source, ["The mayor resigned.", "Filler sentence number 3 says the mayor resigned."]) == first
    # a sentence about a part the window does not hold: a new window that holds it
    other = scorer.window(source, ["Cranes lifted cargo at dawn."])
    assert other != first and "Cranes lifted cargo at dawn." in other
    # without reuse (the eval harness) a statement's window does not depend on what came before
    fresh = SupportScorer(FakeScoringModel(), _calibrated(), source_tokens=120, reuse_windows=False)
    fresh.window(source, ["Cranes lifted cargo at dawn."])
    assert fresh.window(source, ["The mayor resigned."]) == SupportScorer(
        FakeScoringModel(), _calibrated(), source_tokens=120
    ).window(source, ["The mayor resigned."])


def test_recorded_scores_replay_into_fit_features(tmp_path) -> None:
    from assistant.support.data import LabelledPair
    from eval.support_fit import score_features

    pairs = [
        LabelledPair("1", SOURCE, "Mayor Ana Ruiz said the berths would open in May.", 1, "news", "evaluation"),
        LabelledPair("2", SOURCE, "Mayor Ana Ruiz said the berths would open in Zurich.", 0, "news", "evaluation"),
    ]
    inner = FakeScoringModel()
    recorded = score_features(pairs, ReplayCacheChat(inner=inner, cache_dir=tmp_path, mode="record"))
    calls = len(inner.scored)
    replay = ReplayCacheChat(inner=inner, cache_dir=tmp_path, mode="replay")
    rows = score_features(pairs, replay)
    assert len(inner.scored) == calls  # all replayed
    assert [r.features for r in rows] == [r.features for r in recorded]
    by_id = {r.pair.id: r.features for r in rows}
    assert by_id["2"]["pmi_min"] < by_id["1"]["pmi_min"]
    # pairs whose scores were never recorded are left out, not failed, with skip_missing
    other = [LabelledPair("3", SOURCE, "The plan costs 12 million euros.", 1, "news", "evaluation")]
    assert score_features(other, replay, skip_missing=True) == []
    with pytest.raises(ReplayMissError):
        score_features(other, replay)


def test_weights_fitted_with_other_prompts_are_not_used(tmp_path) -> None:
    from assistant.llm_scores import prompt_fingerprint
    from assistant.support.scorer import load_calibration

    entry = _calibrated()
    entry.prompts = "0000"
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"models": {"fake": entry.to_json()}}))
    assert load_calibration("fake", path) is None  # fitted with other prompts
    entry.prompts = prompt_fingerprint()
    path = tmp_path / "weights-now.json"  # another file: weights are cached by path and mtime
    path.write_text(json.dumps({"models": {"fake": entry.to_json()}}))
    assert load_calibration("fake", path) is not None


def test_fitting_writes_only_where_out_says() -> None:
    """`python -m eval.support fit` has no default output: the packaged weights change only when named."""
    from typer.testing import CliRunner

    from assistant.support.scorer import WEIGHTS_PATH
    from eval.support import app

    before = WEIGHTS_PATH.read_bytes()
    result = CliRunner().invoke(app, ["fit", "--summedits", "missing.jsonl"])
    assert result.exit_code == 2 and "--out" in result.output
    assert WEIGHTS_PATH.read_bytes() == before


def test_sentence_overlap_finding_yields_to_the_score_but_a_conflict_does_not() -> None:
    from assistant.support.verdicts import with_support
    from assistant.types import Citation, Passage
    from assistant.verify import verify_citations

    passage = Passage(id="p1", article_id="a", index=0, text=SOURCE, start=0, end=len(SOURCE), tokens=40)
    scorer = SupportScorer(FakeScoringModel(), _calibrated())
    cite = [Citation(passage_id="p1")]
    # "Mayor Ruiz" is in the passage only as "Mayor Ana Ruiz": a soft finding when it is not found verbatim
    soft = verify_citations("The council approved the harbour plan, Mayor Ruiz of Vellmar said.", cite, {"p1": passage})
    assert soft.verdict == "unsupported" and soft.soft
    up = with_support(soft, scorer.score(SOURCE, "The council approved the harbour plan on Tuesday."))
    assert up.verdict == "supported"
    down = with_support(soft, scorer.score(SOURCE, "The council rejected the harbour plan in Zurich."))
    assert down.verdict == "unsupported"
    # a number the passage does not have is not an overlap finding: no score makes it supported
    hard = verify_citations("The plan costs 19 million euros.", cite, {"p1": passage})
    assert hard.verdict == "unsupported" and not hard.soft
    assert with_support(hard, scorer.score(SOURCE, "The plan costs 12 million euros.")).verdict == "unsupported"
