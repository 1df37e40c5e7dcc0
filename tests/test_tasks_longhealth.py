"""LongHealth prompts: budget filling, document order, seeded shuffles and distractors, options, gold."""

from __future__ import annotations

import pytest

from clue.errors import InputError
from clue.protocol.settings import LONGHEALTH_NO_ANSWER
from clue.tasks import get_task
from clue.tasks.base import EvalContext
from protocol_standin import context, fake_model

longhealth = get_task("longhealth")
SEP = "\n\n--------------\n\n"
OPTIONS_AE = "A: opt a\nB: aspirin\nC: opt c\nD: aspirin and heparin\nE: opt e"


def doc(word: str, n: int) -> str:
    return " ".join([word] * n)


def question(patient: str, index: int, texts: dict, answer_location: dict) -> dict:
    return {"id": f"{patient}/q{index:02d}", "patient_id": patient, "question_index": index,
            "question": "Which one?", "answer_a": "opt a", "answer_b": "aspirin", "answer_c": "opt c",
            "answer_d": "aspirin and heparin", "answer_e": "opt e", "correct": "aspirin",
            "answer_location": answer_location, "texts": texts, "name": "X", "birthday": "", "diagnosis": ""}


def records(first_texts: dict, answer_location=("text_1", "text_0")) -> list[dict]:
    location = {key: {"start": [0.1], "end": [0.2]} for key in answer_location}
    others = {"patient_02": {"text_0": doc("p2x", 7), "text_1": doc("p2y", 8)},
              "patient_03": {"text_0": doc("p3x", 9), "text_1": doc("p3y", 6)}}
    out = [question("patient_01", 0, first_texts, location)]
    for patient, texts in others.items():
        out.append(question(patient, 0, texts, {"text_0": {"start": [0.0], "end": [0.5]}}))
    return out


BIG = {"text_0": doc("a", 3000), "text_1": doc("b", 5000), "text_2": doc("c", 500)}


def task1(requests, qid="patient_01/q00"):
    return [r for r in requests if r.meta["subtask"] == 1 and r.meta["record"]["id"] == qid]


def test_request_counts_and_ids(paper):
    requests = longhealth.build_requests(records(BIG), context(paper))
    assert len(requests) == 3 * (5 + 10)
    ids = [r.item_id for r in requests if r.meta["record"]["id"] == "patient_01/q00"]
    assert ids == [f"patient_01/q00/task1/{j}" for j in range(5)] + \
        [f"patient_01/q00/task{3 if j % 2 == 0 else 2}/{j}" for j in range(10)]
    assert [r.meta["subtask"] for r in requests].count(2) == 15


def test_budget_filling_answer_documents_first_then_cut(paper):
    # paper budget: 8140 - 1 (system prompt "LH-SYS"); fixed part: question 2 + options 15 + template 3 = 20 words.
    # text_1 (5000, first in answer_location) then text_0 (3000) fit, each counted with the 4-word separator
    # (used = 20 + 5004 + 3004 = 8028); text_2 is cut to 8139 - 8028 = 111 words. seed 0 shuffle -> [b, c, a].
    first = task1(longhealth.build_requests(records(BIG), context(paper, seed=0)))[0]
    expected = ("<" + SEP.join([doc("b", 5000), doc("c", 111), doc("a", 3000)]) + ">\nWhich one?\n" + OPTIONS_AE)
    assert first.messages == ({"role": "system", "content": "LH-SYS"}, {"role": "user", "content": expected})
    assert first.meta["options"] == {"A": "opt a", "B": "aspirin", "C": "opt c", "D": "aspirin and heparin", "E": "opt e"}
    assert first.meta["reference"] == "D"            # paper: the last option containing the correct text
    assert first.prefill == ""


def test_answer_document_over_budget_is_cut_and_an_empty_cut_follows(paper):
    # text_1 (9000 words) does not fit: cut to 8139 - 20 = 8119 words; answer filling stops (text_0 dropped);
    # the other documents then add one empty cut, as the original does. seed 0 shuffle of 2 -> unchanged.
    texts = {"text_0": doc("a", 10), "text_1": doc("b", 9000), "text_2": doc("c", 5)}
    first = task1(longhealth.build_requests(records(texts), context(paper, seed=0)))[0]
    assert first.messages[1]["content"] == "<" + doc("b", 8119) + SEP + ">\nWhich one?\n" + OPTIONS_AE


def test_shuffles_are_seeded(paper):
    build = lambda seed: [r.messages for r in longhealth.build_requests(records(BIG), context(paper, seed=seed))]
    assert build(3) == build(3)
    assert build(3) != build(4)
    prompts = [r.messages[1]["content"] for r in task1(longhealth.build_requests(records(BIG), context(paper, seed=3)))]
    assert len(set(prompts)) > 1                     # the 5 task-1 prompts shuffle the same documents


def test_tasks_2_and_3_distractors_options_and_gold(paper):
    requests = [r for r in longhealth.build_requests(records(BIG), context(paper, seed=1))
                if r.meta["record"]["id"] == "patient_01/q00" and r.meta["subtask"] != 1]
    other_texts = {doc("p2x", 7), doc("p2y", 8), doc("p3x", 9), doc("p3y", 6)}
    for request in requests:
        body = request.messages[1]["content"]
        documents = body[1: body.index(">\nWhich one?")].split(SEP)
        assert request.meta["options"]["F"] == LONGHEALTH_NO_ANSWER
        assert body.endswith(OPTIONS_AE + "\nF: " + LONGHEALTH_NO_ANSWER)
        if request.meta["subtask"] == 3:
            assert set(documents) == other_texts            # only distractors, all 4 (pool smaller than 10)
            assert request.meta["reference"] == "F"
        else:
            assert set(documents) == other_texts | {doc("b", 5000), doc("a", 3000)}
            assert request.meta["reference"] == "D"
        assert request.decoding.stop == () and request.decoding.truncate_left is False   # plain generation


def test_paper_layouts_for_longhealth(paper):
    no_system = task1(longhealth.build_requests(records(BIG), context(paper, "chat-no-system", seed=0)))[0]
    assert len(no_system.messages) == 1 and no_system.messages[0]["content"].startswith("LH-SYS<")
    base = task1(longhealth.build_requests(records(BIG), context(paper, "base", seed=0)))[0]
    assert base.messages is None and base.text.startswith("LH-SYS\n\n\n<" + doc("b", 5000) + SEP)


def test_paper_task1_decoding_for_llama3(paper):
    ctx = context(paper, seed=0, name="meta-llama/Meta-Llama-3-8B-Instruct", context_length=8192)
    requests = longhealth.build_requests(records(BIG), ctx)
    first = task1(requests)[0]
    assert first.decoding.max_new_tokens == 50 and first.decoding.greedy
    assert "<|eot_id|>" in first.decoding.stop and first.decoding.max_prompt_tokens == 8192 - 50
    task2 = next(r for r in requests if r.meta["subtask"] == 2)
    assert task2.decoding.stop == () and not task2.decoding.truncate_left


def test_upstream_budget_gold_and_layout(upstream):
    # upstream: tasks 2/3 fill the model's context (here 1000 words) minus the system prompt; gold = first match
    requests = longhealth.build_requests(records(BIG), context(upstream, context_length=1000, seed=0))
    first = task1(requests)[0]
    assert first.meta["reference"] == "B"
    assert first.messages[0] == {"role": "system", "content": "LH-UP"}
    assert doc("b", 5000) in first.messages[1]["content"]            # task 1 keeps the 8140 budget
    task2 = next(r for r in requests if r.meta["subtask"] == 2 and r.meta["record"]["id"] == "patient_01/q00")
    body = task2.messages[1]["content"]
    documents = body[1: body.index(">\nWhich one?")].split(SEP)
    # budget 1000 - 1; fixed: question 2 + options A-F 23 + template 3 -> text_1 cut to 971 words, then one empty cut
    assert sorted(documents) == ["", doc("b", 971)]
    assert task2.decoding.greedy is False and task2.decoding.seed == 0


def test_document_lengths_are_counted_once(paper):
    calls: dict[str, int] = {}

    def count(text):
        calls[text] = calls.get(text, 0) + 1
        return len(text.split())

    model = fake_model()
    model = type(model)(**{**model.__dict__, "count_tokens": count})
    longhealth.build_requests(records(BIG), EvalContext(protocol=paper, model=model, layout="chat-system"))
    assert calls[doc("b", 5000)] == 1 and calls[doc("p2x", 7)] == 1
    assert max(calls.values()) == 1


def test_limit_keeps_whole_questions_and_their_prompts(paper):
    full = longhealth.build_requests(records(BIG), context(paper, seed=2))
    limited = longhealth.build_requests(records(BIG), context(paper, seed=2, limit=1))
    assert [r.item_id for r in limited] == [r.item_id for r in full if r.meta["record"]["id"] == "patient_01/q00"]
    assert [r.messages for r in limited] == [r.messages for r in full if r.meta["record"]["id"] == "patient_01/q00"]


def test_model_without_tokenizer_is_refused(paper):
    model = fake_model()
    model = type(model)(**{**model.__dict__, "count_tokens": None})
    with pytest.raises(InputError, match="LongHealth needs the model's tokenizer"):
        longhealth.build_requests(records(BIG), EvalContext(protocol=paper, model=model, layout="chat-system"))
