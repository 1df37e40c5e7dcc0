"""Output clean-up and scoring of each task on fake completions, against hand-computed metrics."""

from __future__ import annotations

import pytest

from clue.metrics.resources import MetricResources
from clue.tasks import get_task
from protocol_standin import context
from test_tasks_longhealth import BIG, records as longhealth_records
from test_tasks_prompts import CODES, NLI, PS, QA, QS


CHEAP = MetricResources(enabled=["accuracy", "rouge", "icd", "longhealth"])   # BERTScore and UMLS off


def run(task_id, records, ctx, outputs, resources=CHEAP):
    task = get_task(task_id)
    requests = task.build_requests(records, ctx)
    cleaned = [task.postprocess(output, request, ctx) for output, request in zip(outputs, requests)]
    return requests, cleaned, task.score(requests, cleaned, ctx, resources)


# ----------------------------------------------------------------------------- post-processing

def test_paper_postprocess_llama3_stop_strings(paper):
    ctx = context(paper, name="meta-llama/Meta-Llama-3-8B-Instruct")
    task = get_task("mednli")
    request = task.build_requests(NLI, ctx)[0]
    assert task.postprocess("  neutral<|eot_id|>entailment", request, ctx) == "  neutral"   # no strip (MedNLI)
    assert task.postprocess("neutral<|start_header_id|>user", request, ctx) == "neutral"


def test_paper_postprocess_phi_end(paper):
    ctx = context(paper, name="microsoft/Phi-3-mini-4k-instruct")
    task = get_task("meqsum")
    request = task.build_requests(QS, ctx)[0]
    assert request.decoding.stop == ()
    assert task.postprocess("what is x? <|end|> more text", request, ctx) == "what is x?"


def test_paper_postprocess_self_prompting_regex(paper):
    ctx = context(paper)
    mednli = get_task("mednli")
    request = mednli.build_requests(NLI, ctx)[0]
    # no DOTALL: each match runs to the end of its line only; MedNLI outputs are not stripped
    assert mednli.postprocess(" neutral\nYou are an AI assistant.\nkept", request, ctx) == " neutral\n\nkept"
    assert mednli.postprocess("neutral [INST] again", request, ctx) == "neutral "
    assert mednli.postprocess("neutral <|user|> hi", request, ctx) == "neutral "
    for task_id, rows in (("medisumcode", CODES), ("problem_summary", PS)):
        task = get_task(task_id)
        assert task.postprocess("x [INST] y", task.build_requests(rows, ctx)[0], ctx) == "x "
    # MeDiSumQA keeps it
    qa = get_task("medisumqa")
    assert qa.postprocess(" because You are an AI ", qa.build_requests(QA, ctx)[0], ctx) == "because You are an AI"


def test_paper_strips_medisumqa_outputs_only(paper):
    # the paper-era files call .strip() in MeDiSumQA only; elsewhere the output is used as generated
    ctx = context(paper)
    for task_id, rows in (("mednli", NLI), ("meqsum", QS), ("problem_summary", PS), ("medisumcode", CODES)):
        task = get_task(task_id)
        assert task.postprocess("\n  I10 ok \n", task.build_requests(rows, ctx)[0], ctx) == "\n  I10 ok \n", task_id
    qa = get_task("medisumqa")
    assert qa.postprocess("\n  because 1 \n", qa.build_requests(QA, ctx)[0], ctx) == "because 1"
    # strip comes before the Phi cut there, so a leading " <|end|>" is no longer matched
    phi = context(paper, name="microsoft/Phi-3-mini-4k-instruct")
    assert qa.postprocess(" <|end|>x", qa.build_requests(QA, phi)[0], phi) == "<|end|>x"
    assert get_task("meqsum").postprocess(" <|end|>x", get_task("meqsum").build_requests(QS, phi)[0], phi) == ""


def test_paper_phi_cut_follows_the_name_whatever_the_family(paper):
    # the original tests "phi" in the model name on its own, also for a Llama-3 based model
    ctx = context(paper, name="org/dolphin-llama3-8b")      # family unset: the name rule gives llama3+phi
    task = get_task("meqsum")
    request = task.build_requests(QS, ctx)[0]
    assert request.decoding.stop != ()
    assert task.postprocess("what is x? <|end|> more", request, ctx) == "what is x?"
    plain = context(paper, name="org/other-8b", family="llama3")   # --model-family llama3: no Phi cut
    assert task.postprocess("what is x? <|end|> more", task.build_requests(QS, plain)[0], plain) == \
        "what is x? <|end|> more"
    overridden = context(paper, name="org/dolphin-llama3-8b", family="none")   # --model-family none
    request = task.build_requests(QS, overridden)[0]
    assert request.decoding.stop == ()
    assert task.postprocess("what is x? <|end|> more", request, overridden) == "what is x? <|end|> more"


def test_upstream_keeps_outputs_as_generated(upstream):
    ctx = context(upstream, name="microsoft/Phi-3-mini-4k-instruct")
    task = get_task("mednli")
    request = task.build_requests(NLI, ctx)[0]
    assert task.postprocess(" neutral <|end|> You are an AI\n", request, ctx) == " neutral <|end|> You are an AI\n"


def test_longhealth_postprocess_task1_only(paper):
    ctx = context(paper, name="microsoft/phi-2")
    task = get_task("longhealth")
    requests = task.build_requests(longhealth_records(BIG), ctx)
    task1 = next(r for r in requests if r.meta["subtask"] == 1)
    task3 = next(r for r in requests if r.meta["subtask"] == 3)
    assert task.postprocess(" The correct answer is A: x <|end|> The correct answer is B:", task1, ctx) == \
        " The correct answer is A: x"
    assert task.postprocess(" y <|end|> You are an AI", task3, ctx) == " y <|end|> You are an AI"


# ----------------------------------------------------------------------------- scoring

def test_mednli_accuracy_and_first_item_twice(paper, upstream):
    # scored items n3 (neutral), n4 (entailment), n5 (contradiction)
    _, _, result = run("mednli", NLI, context(paper), ["Neutral.", "entailment entailment", ""])
    assert [item["scores"]["accuracy"] for item in result.per_item] == [1.0, 0.0, 0.0]
    assert result.metrics["accuracy"] == pytest.approx(50.0)          # (1 + 1 + 0 + 0) / 4
    assert result.metrics_plain["accuracy"] == pytest.approx(100 / 3)
    assert result.averaging == "first-item-twice" and result.missing_metrics == []
    assert result.per_item[0] == {"id": "n3", "reference": "neutral", "scores": {"accuracy": 1.0}}
    _, _, up = run("mednli", NLI, context(upstream), ["entailment", "x", "x"])   # upstream order: n0, n4, n1
    assert up.averaging == "first-item-twice" and up.metrics["accuracy"] == pytest.approx(50.0)


def test_meqsum_rouge_by_hand_and_missing_bertscore(paper, upstream):
    # scored q3 ("short 3?"), q4 ("short 4?")
    _, _, result = run("meqsum", QS, context(paper), ["short 3?", "nothing relevant"])
    assert result.per_item[0]["scores"] == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert result.per_item[1]["scores"] == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert result.metrics["rouge1"] == pytest.approx(200 / 3)          # first item twice: (1 + 1 + 0) / 3
    assert result.metrics_plain["rouge1"] == pytest.approx(50.0)
    assert result.missing_metrics == ["bertscore_f1"]
    _, _, up = run("meqsum", QS, context(upstream), ["short 0?", "x"])    # upstream: plain mean
    assert up.averaging == "plain" and up.metrics["rouge1"] == pytest.approx(50.0)


def test_problem_summary_rouge_by_hand(paper):
    # reference "heart failure, diabetes 3, " -> tokens heart failure diabetes 3; output tokens heart failure
    _, _, result = run("problem_summary", PS, context(paper), ["  heart failure"])
    scores = result.per_item[0]["scores"]
    assert scores["rouge1"] == pytest.approx(2 / 3)                    # P 1, R 1/2
    assert scores["rouge2"] == pytest.approx(0.5)                      # P 1, R 1/3
    assert scores["rougeL"] == pytest.approx(2 / 3)
    assert sorted(result.missing_metrics) == ["bertscore_f1", "umls_f1"]


class SpyScorer:
    def __init__(self):
        self.calls = []

    def score(self, predictions, references):
        self.calls.append((list(predictions), list(references)))
        return {"f1": [1.0 if p == r else 0.25 for p, r in zip(predictions, references)]}


class FakeLinker:
    """Entity sets = the known words in a text (enough to check the plumbing of UMLS F1)."""
    KNOWN = {"heart", "failure", "diabetes", "asthma"}

    def scores(self, predictions, references):
        from clue.metrics.umls import umls_prf

        def entities(text):
            return {w.strip(",.").lower() for w in text.split()} & self.KNOWN
        return [umls_prf(entities(p), entities(r)) for p, r in zip(predictions, references)]


class SpyResources(MetricResources):
    def __init__(self):
        super().__init__(umls_linker=FakeLinker())
        self.scorers = {}

    def bertscorer(self, model_name, num_layers):
        return self.scorers.setdefault((model_name, num_layers), SpyScorer())


def test_bertscore_model_layer_and_lowercasing_per_protocol(paper, upstream):
    spy = SpyResources()
    _, _, result = run("problem_summary", PS, context(paper), ["HEART FAILURE, DIABETES 3,"], spy)
    scorer = spy.scorers[("emilyalsentzer/Bio_ClinicalBERT", 9)]
    assert scorer.calls == [(["heart failure, diabetes 3,"], ["heart failure, diabetes 3, "])]
    assert result.per_item[0]["scores"]["bertscore_f1"] == 0.25           # output != reference
    # UMLS: pred {heart, failure, diabetes} = gold -> 1; computed on the original case
    assert result.per_item[0]["scores"]["umls_f1"] == 1.0 and result.missing_metrics == []
    spy = SpyResources()
    run("problem_summary", PS, context(upstream), ["Heart failure"], spy)
    assert list(spy.scorers) == [("allenai/scibert_scivocab_uncased", 8)]
    assert spy.scorers[("allenai/scibert_scivocab_uncased", 8)].calls[0][0] == ["Heart failure"]   # no lower-casing
    spy = SpyResources()
    run("medisumqa", QA, context(paper), ["because 0", "x", "y"], spy)
    assert list(spy.scorers) == [("emilyalsentzer/Bio_ClinicalBERT", 9)]
    spy = SpyResources()
    run("meqsum", QS, context(paper), ["a", "b"], spy)
    assert list(spy.scorers) == [("allenai/scibert_scivocab_uncased", 8)]


def test_bertscore_with_tiny_bert(paper, tmp_path):
    from clue.testing.tiny_bert import build_tiny_bert

    folder = build_tiny_bert(tmp_path / "bert", num_layers=8)      # SciBERT layer 8 must exist
    resources = MetricResources(enabled=["rouge", "bertscore"], bertscore_paths={"allenai/scibert_scivocab_uncased": folder})
    _, _, result = run("meqsum", QS, context(paper), ["short 3?", "what cause pain?"], resources)
    f1 = [item["scores"]["bertscore_f1"] for item in result.per_item]
    assert f1[0] == pytest.approx(1.0, abs=1e-5) and f1[1] < 0.999
    assert result.metrics["bertscore_f1"] == pytest.approx(100 * (2 * f1[0] + f1[1]) / 3)


def test_medisumcode_by_hand(paper):
    # scored 101 (I10, E111), 102 (I10, E112), 103 (I10, E113)
    _, _, result = run("medisumcode", CODES, context(paper), ["I10, E11.1 and Z99.99", "", "I10 I10"])
    first = result.per_item[0]["scores"]
    assert first["em_p"] == pytest.approx(2 / 3) and first["em_r"] == 1.0 and first["em_f1"] == pytest.approx(0.8)
    assert first["ap_f1"] == pytest.approx(0.8) and first["valid_codes"] == pytest.approx(2 / 3)
    assert result.per_item[1]["scores"]["em_f1"] == 0.0 and result.per_item[1]["scores"]["valid_codes"] == 0.0
    third = result.per_item[2]["scores"]                       # I10 twice: P 2/2, R 1/2 -> F1 2/3
    assert third["em_f1"] == pytest.approx(2 / 3)
    assert result.metrics["em_f1"] == pytest.approx(100 * (0.8 + 0.8 + 0 + 2 / 3) / 4)
    assert result.metrics_plain["em_f1"] == pytest.approx(100 * (0.8 + 2 / 3) / 3)


def test_longhealth_scoring_per_subtask(paper):
    task = get_task("longhealth")
    ctx = context(paper, seed=0)
    requests = task.build_requests(longhealth_records(BIG), ctx)
    outputs = []
    for request in requests:
        if request.meta["subtask"] == 1:
            outputs.append("The correct answer is D: aspirin and heparin." if request.item_id.endswith("/0") else
                           "the correct answer is D:")
        elif request.meta["subtask"] == 2:
            outputs.append("The correct answer is B: aspirin")     # paper gold is D (last match): wrong
        else:
            outputs.append("The correct answer is F: cannot")
    result = task.score(requests, outputs, ctx, CHEAP)
    assert result.metrics == pytest.approx({"task1": 100 * 3 / 15, "task2": 0.0, "task3": 100.0})
    assert result.metrics_plain == result.metrics and result.averaging == "plain"
    item = result.per_item[0]
    assert item["subtask"] == 1 and item["choice"] == "D" and item["scores"] == {"task1": 1.0}
    assert result.details["n_items_by_metric"] == {"task1": 15, "task2": 15, "task3": 15}


@pytest.mark.parametrize("task_id,rows", [("mednli", NLI), ("meqsum", QS), ("problem_summary", PS),
                                          ("medisumqa", QA), ("medisumcode", CODES), ("longhealth", None)])
def test_empty_completions_score_zero(paper, task_id, rows):
    rows = longhealth_records(BIG) if rows is None else rows
    task = get_task(task_id)
    ctx = context(paper)
    requests = task.build_requests(rows, ctx)
    outputs = [task.postprocess("", request, ctx) for request in requests]
    result = task.score(requests, outputs, ctx, SpyResources())
    assert result.per_item and all(value in (0.0, 0.25) for item in result.per_item for value in item["scores"].values())
    assert all(value in (0.0, 25.0) for value in result.metrics.values())
