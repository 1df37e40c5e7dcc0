"""Rendered requests of both protocols against hand-written expectations (stand-in prompts)."""

from __future__ import annotations

import pytest

from clue.errors import InputError
from clue.protocol.layout import build_prompt, empty_answer, resolve_layout
from clue.protocol.settings import LLAMA3_STOP
from clue.tasks import get_task
from protocol_standin import context, fake_model


LABELS = ["entailment", "neutral", "contradiction", "neutral", "entailment", "contradiction"]
NLI = [{"id": f"n{i}", "sentence1": f"a{i}", "sentence2": f"b{i}", "gold_label": LABELS[i]} for i in range(6)]


def user(content):
    return {"role": "user", "content": content}


def assistant(content):
    return {"role": "assistant", "content": content}


# ----------------------------------------------------------------------------- layouts

def test_paper_mednli_chat_system(paper):
    requests = get_task("mednli").build_requests(NLI, context(paper, "chat-system"))
    assert [r.item_id for r in requests] == ["n3", "n4", "n5"]          # first 3 rows are the shots
    first = requests[0]
    assert first.messages == (
        {"role": "system", "content": "NLI-SYS: relate two statements."},
        user("P: a0\nH: b0"), assistant("entailment"),
        user("P: a1\nH: b1"), assistant("neutral"),
        user("P: a2\nH: b2"), assistant("contradiction"),
        user("P: a3\nH: b3"),
    )
    assert first.text is None and first.prefill == ""
    assert first.meta["reference"] == "neutral"
    assert first.decoding.greedy and first.decoding.max_new_tokens == 20
    assert first.decoding.max_prompt_tokens == 4096 - 200 and first.decoding.truncate_left
    assert first.decoding.stop == ()


def test_paper_mednli_chat_no_system(paper):
    requests = get_task("mednli").build_requests(NLI, context(paper, "chat-no-system"))
    assert requests[-1].messages == (
        user("NLI-SYS: relate two statements.\n\nP: a0\nH: b0"), assistant("entailment"),
        user("P: a1\nH: b1"), assistant("neutral"),
        user("P: a2\nH: b2"), assistant("contradiction"),
        user("P: a5\nH: b5"),
    )


def test_paper_mednli_base(paper):
    requests = get_task("mednli").build_requests(NLI, context(paper, "base"))
    assert requests[1].messages is None
    assert requests[1].text == ("NLI-SYS: relate two statements.\n\nP: a0\nH: b0\n\nentailment\n\n"
                                "P: a1\nH: b1\n\nneutral\n\nP: a2\nH: b2\n\ncontradiction\n\nP: a4\nH: b4\n\n")


def test_upstream_mednli_seed1_shuffle_and_system_layout(upstream):
    # random.seed(1); random.shuffle(6 rows) -> order 2, 3, 5, 0, 4, 1
    ctx = context(upstream, "chat-system", seed=7)
    ctx = type(ctx)(protocol=upstream, model=ctx.model, layout="base", seed=7)   # --chat-layout is paper-only
    requests = get_task("mednli").build_requests(NLI, ctx)
    assert [r.item_id for r in requests] == ["n0", "n4", "n1"]
    assert requests[0].messages == (
        {"role": "system", "content": "NLI-UP: relate two statements."},
        user("P: a2\nH: b2"), assistant("contradiction"),
        user("P: a3\nH: b3"), assistant("neutral"),
        user("P: a5\nH: b5"), assistant("contradiction"),
        user("P: a0\nH: b0"),
    )
    decoding = requests[0].decoding
    assert requests[0].prefill == ""
    assert (decoding.greedy, decoding.seed, decoding.temperature, decoding.top_p) == (False, 7, 1.0, 1.0)
    assert decoding.max_prompt_tokens is None and decoding.stop == ()


def test_upstream_greedy_option(upstream):
    requests = get_task("mednli").build_requests(NLI, context(upstream, greedy=True, seed=7))
    assert requests[0].decoding.greedy and requests[0].decoding.seed is None


def test_upstream_refuses_model_without_system_role(upstream):
    ctx = context(upstream, "chat-no-system")         # the model's template rejects a system turn
    with pytest.raises(InputError, match=r"protocol upstream always sends a system turn"):
        get_task("mednli").build_requests(NLI, ctx)


def test_limit_counts_scored_items(paper):
    requests = get_task("mednli").build_requests(NLI, context(paper, limit=2))
    assert [r.item_id for r in requests] == ["n3", "n4"]


# ----------------------------------------------------------------------------- prefills and fields

QS = [{"id": f"q{i}", "CHQ": f"long question {i}", "Summary": f"short {i}?"} for i in range(5)]


def test_paper_meqsum_prefill_and_cap(paper):
    ctx = context(paper, "base", context_length=100_000, name="meta-llama/Meta-Llama-3-8B")
    request = get_task("meqsum").build_requests(QS, ctx)[0]
    assert request.text == ("QS-SYS: shorten the question.\n\n<<long question 0>>\n\nQuestion: short 0?\n\n"
                            "<<long question 1>>\n\nQuestion: short 1?\n\n<<long question 2>>\n\nQuestion: short 2?"
                            "\n\n<<long question 3>>\n\n")
    assert request.prefill == "Question: "
    assert request.decoding.max_new_tokens == 200
    assert request.decoding.max_prompt_tokens == 24576            # min(100000 - 200, 24576)
    assert request.decoding.stop == LLAMA3_STOP                   # a Llama-3 name: the paper's stop strings


def test_upstream_meqsum_no_prefill(upstream):
    request = get_task("meqsum").build_requests(QS, context(upstream))[0]
    assert request.prefill == "" and request.decoding.max_new_tokens == 512
    assert request.messages[2] == assistant("short 2?")          # shuffled shots: rows 2, 3, 4 first


PS = [{"id": f"p{i}", "Subjectives": f"subj {i}", "Objectives": "obj", "Assessment": f"assess {i}",
       "Summary": f"heart failure;diabetes {i};"} for i in range(4)]


def test_problem_summary_semicolon_rule_and_prefill(paper):
    requests = get_task("problem_summary").build_requests(PS, context(paper))
    assert [r.item_id for r in requests] == ["p3"]
    assert requests[0].messages[1:4] == (user("S: subj 0\nA: assess 0"),
                                         assistant("Diagnoses/Patient problems: heart failure, diabetes 0, "),
                                         user("S: subj 1\nA: assess 1"))
    assert requests[0].meta["reference"] == "heart failure, diabetes 3, "      # trailing ';' -> ', '
    assert requests[0].prefill == "Diagnoses/Patient problems: "
    assert requests[0].decoding.max_new_tokens == 100


QA = [{"id": f"d{i}", "note_id": f"note{i}", "discharge_summary": f"letter {i}", "Question": f"why {i}?",
       "Answer": f"because {i}"} for i in range(4)]


def test_medisumqa_intended_answer_prefill_and_field_names(paper, upstream):
    # seed-1 shuffle of 4 rows in both protocols: order 3, 0, 2, 1
    requests = get_task("medisumqa").build_requests(QA, context(paper, "chat-no-system"))
    assert [r.item_id for r in requests] == ["d0", "d2", "d1"]
    assert requests[0].messages == (user("QA-SYS: answer from the letter.\n\nL: letter 3\nQ: why 3?"),
                                    assistant("Answer: because 3"), user("L: letter 0\nQ: why 0?"))
    assert requests[0].prefill == "Answer: "           # the paper-era ground_truth_key is mis-cased
    up = get_task("medisumqa").build_requests(QA, context(upstream))
    assert up[0].messages[1] == user("L: letter 3\nQ: why 3?") and up[0].prefill == ""


CODES = [{"id": str(100 + i), "hadm_id": 100 + i, "text": f"stay {i}",
          "icd_codes": [{"code": "I10", "description": "hypertension"}, {"code": f"E11{i}", "description": "dm"}]}
         for i in range(4)]


def test_medisumcode_codes_join_and_first_row_shot(paper, upstream):
    requests = get_task("medisumcode").build_requests(CODES, context(paper))
    assert [r.item_id for r in requests] == ["101", "102", "103"]
    assert requests[0].messages[1:] == (user("T: stay 0"), assistant("ICD-10 Codes: I10, E110"), user("T: stay 1"))
    assert requests[0].prefill == "ICD-10 Codes: " and requests[0].meta["reference"] == "I10, E111"
    up = get_task("medisumcode").build_requests(CODES, context(upstream))
    assert [r.item_id for r in up] == ["100", "102", "101"]                    # shot = row 3
    assert up[0].messages[1:3] == (user("T: stay 3"), assistant("I10, E113"))


def test_template_field_missing_from_records_is_one_line(paper):
    broken = [{k: v for k, v in row.items() if k != "CHQ"} for row in QS]
    with pytest.raises(InputError, match=r"task meqsum: the template uses field \{CHQ\}"):
        get_task("meqsum").build_requests(broken, context(paper))


# ----------------------------------------------------------------------------- layout helpers

def test_build_prompt_without_shots_keeps_the_system_prompt_apart():
    assert build_prompt("S", [], "Q", "chat-no-system") == {"messages": [user("S"), user("Q")]}
    assert build_prompt("S", [], "Q", "base") == {"text": "S\n\nQ\n\n"}


def test_empty_answer():
    assert empty_answer("Answer: {Answer}") == "Answer: "
    assert empty_answer("{gold_label}") == ""


def test_resolve_layout():
    instruct = fake_model(layout="chat-system")
    no_system = fake_model(layout="chat-no-system")
    base = fake_model(layout="base")
    assert resolve_layout(instruct) == "chat-system"
    assert resolve_layout(no_system, "auto") == "chat-no-system"
    assert resolve_layout(base) == "base"
    assert resolve_layout(instruct, "base") == "base"
    with pytest.raises(InputError, match="rejects a system turn"):
        resolve_layout(no_system, "chat-system")
    with pytest.raises(InputError, match="has no chat template"):
        resolve_layout(base, "chat-no-system")
    with pytest.raises(InputError, match="unknown chat layout 'chat'"):
        resolve_layout(base, "chat")
