"""The parameterless baseline: one fixed, documented rule per task, answers the scorers can read."""

from __future__ import annotations

import pytest

from clue.backends.base import Request
from clue.backends.baseline import BaselineBackend, answer, rules
from clue.errors import InputError
from clue.metrics.accuracy import mednli_correct
from clue.metrics.icd import code_scores
from clue.metrics.longhealth import parse_choice
from clue.taskinfo import TASK_IDS


def request(task, record=None, item="x1", **meta):
    return Request(task=task, item_id=item, messages=({"role": "user", "content": "anything"},),
                   meta={"record": record or {}, **meta})


def test_every_task_has_a_rule():
    assert set(rules()) == set(TASK_IDS)


def test_answers():
    assert answer(request("mednli", {"sentence1": "a", "sentence2": "b"})) == "neutral"
    assert answer(request("meqsum", {"CHQ": "My back hurts, what can I take?"})) == "My back hurts, what can I take?"
    assert answer(request("problem_summary", {"Assessment": "72M with CHF."})) == "72M with CHF."
    assert answer(request("medisumqa", {"Question": "Why was I admitted?"})) == "Why was I admitted?"
    assert answer(request("medisumcode", {"text": "note"})) == "I10"


def test_answers_score_as_intended():
    assert mednli_correct(answer(request("mednli")), "neutral")
    assert not mednli_correct(answer(request("mednli")), "entailment")
    assert code_scores(answer(request("medisumcode")), "I10, E119")["em_p"] == 1.0


def test_longhealth_longest_option_in_the_parsed_format():
    options = {"A": "Aspirin", "B": "Metformin 500 mg", "C": "Insulin glargine", "D": "None", "E": "Warfarin"}
    out = answer(request("longhealth", {"question": "q"}, options=options))
    assert out == "The correct answer is B: Metformin 500 mg"          # B and C tie at 16: first letter
    assert parse_choice(out) == "B"
    from_record = answer(request("longhealth", {"answer_a": "short", "answer_b": "a longer one"}))
    assert parse_choice(from_record) == "B"


def test_backend_protocol_and_store_keys():
    backend = BaselineBackend()
    requests = [request("meqsum", {"CHQ": "question one"}, item="1"),
                request("meqsum", {"CHQ": "question two"}, item="2")]
    prompts = [backend.render(r) for r in requests]
    assert prompts[0] != prompts[1] and "question one" in prompts[0]   # one store entry per item
    assert backend.generate(requests, prompts) == ["question one", "question two"]
    assert backend.identity()["model"] == "baseline"
    info = backend.model_info()
    assert info.count_tokens("a b  c") == 3 and info.truncate_tokens("a b  c d", 3) == "a b  c"
    assert info.truncate_tokens("a b", 5) == "a b" and info.truncate_tokens("a b", 0) == ""


def test_missing_fields_are_clear_errors():
    with pytest.raises(InputError, match="CHQ"):
        answer(request("meqsum", {"Summary": "s"}))
    with pytest.raises(InputError, match="meta"):
        answer(Request(task="meqsum", item_id="7", messages=None, text="t"))
    with pytest.raises(InputError, match="no rule"):
        answer(request("unknown"))
