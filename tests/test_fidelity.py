"""The divergences from the original code that issue 10 closes: model family by name, MeDiSumQA paragraph
stripping, over-long prompts (--overlong), LongHealth questions whose gold matches no option."""

from __future__ import annotations

import json

import pytest

from clue.errors import InputError
from clue.protocol.layout import has_family, model_family, resolve_family
from clue.runner import EvalOptions, evaluate

from protocol_standin import fake_model
from runner_helpers import read_scores, write_test_sets


def _options(model, ws, tmp_path, **changes) -> EvalOptions:
    base = dict(model=str(model), protocol="paper", protocol_dir=str(ws["protocol"]), data_dir=str(ws["data"]),
                results_dir=str(tmp_path / "results"), run="r", limit=1, batch_size=4,
                metrics="all,-bertscore,-umls", progress=False)
    return EvalOptions(**{**base, **changes})


# ------------------------------------------------------------------ 1. model family: the original's name rule

@pytest.mark.parametrize("name, family", [
    ("meta-llama/Meta-Llama-3-8B-Instruct", "llama3"),
    ("org/llama3-med", "llama3"),
    ("org/Llama-3.1-8B", "llama3"),
    ("org/llama-2-7b", None),
    ("microsoft/Phi-3-mini-4k-instruct", "phi"),
    ("cognitivecomputations/dolphin-2.9-llama3-8b", "llama3+phi"),   # "dolphin" contains "phi"
    ("org/my-finetune", None),                                       # a Llama-3 fine-tune whose name says nothing
])
def test_family_is_the_name_rule(name, family):
    assert model_family(name) == family
    assert resolve_family(name, "auto") == (family or "none")


def test_family_override_and_its_errors():
    assert resolve_family("org/my-finetune", "llama3") == "llama3"
    assert resolve_family("meta-llama/Meta-Llama-3-8B", "none") == "none"
    assert not has_family(fake_model("meta-llama/Meta-Llama-3-8B", family="none"), "llama3")
    assert has_family(fake_model("org/x", family="llama3+phi"), "phi")
    with pytest.raises(InputError, match="--model-family llama2"):
        resolve_family("org/x", "llama2")


def test_tokenizer_hint_warns_and_override_is_recorded(tiny_models, workspace, tmp_path, monkeypatch, capsys):
    from clue.backends.hf import HFBackend

    # a tokenizer with Llama-3's <|eot_id|>, under a name that does not say llama3
    monkeypatch.setattr(HFBackend, "family_hint", lambda self: "llama3")
    outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, tasks="meqsum"))
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "looks like a llama3 model" in line]
    assert len(warning) == 1 and "--model-family llama3" in warning[0]
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    entry = next(iter(manifest["models"].values()))
    assert entry["model_family"]["resolved"] == "none" and entry["model_family"]["option"] == "auto"
    assert entry["tasks"]["meqsum"]["decoding"][0]["stop"] == []       # no stop strings: the name rule

    forced = evaluate(_options(tiny_models["chat"], workspace, tmp_path, tasks="meqsum", run="forced",
                               model_family="llama3"))
    assert "looks like" not in capsys.readouterr().err
    entry = next(iter(json.loads((forced.run_dir / "manifest.json").read_text())["models"].values()))
    assert entry["model_family"] == {"option": "llama3", "resolved": "llama3", "rule": "--model-family"}
    assert entry["model_info"]["family"] == "llama3"
    assert entry["tasks"]["meqsum"]["decoding"][0]["stop"][2] == "<|eot_id|>"


# ------------------------------------------------------------------ 2. MeDiSumQA note text: paragraphs stripped

def test_medisumqa_paragraphs_are_stripped_as_the_original():
    from clue.data.recipes.medisumqa import VERSION, has_discharge_instructions, remove_discharge_instructions

    note = (" \nName:  ___   Unit No: ___\n \n\n\n  Chief Complaint: cough  \n\n \n"
            "  Discharge Instructions:\nTake aspirin.\n\n\nFollowup Instructions: ___\n")
    assert remove_discharge_instructions(note) == \
        "Name:  ___   Unit No: ___\n\nChief Complaint: cough\n\nFollowup Instructions: ___"
    # an indented instructions paragraph is found (version 1 kept the indent, so missed it)
    assert has_discharge_instructions(note) and VERSION == "2"


# ------------------------------------------------------------------ 3. over-long prompts

def test_overlong_error_stops_before_generating(tiny_models, workspace, tmp_path):
    data = write_test_sets(tmp_path / "long-data", n=3, long_texts=60)
    options = _options(tiny_models["chat"], workspace, tmp_path, data_dir=str(data), tasks="mednli,longhealth",
                       overlong="error")
    with pytest.raises(InputError) as raised:
        evaluate(options)
    message = str(raised.value)
    assert "\n" not in message and message.startswith("task longhealth item patient_00/q00/task")
    assert "tokens exceeds the model's limit of" in message
    # nothing generated, not even the task before it
    store = tmp_path / "results" / "r" / "store.sqlite"
    assert not store.exists()
    assert not (tmp_path / "results" / "r" / "manifest.json").exists()

    # the default cuts them, counts them, records the rule, and tables mark the cells
    outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, data_dir=str(data), tasks="longhealth",
                                run="cut"))
    scores = read_scores(outcome.model_dir / "longhealth")
    assert scores["truncated_prompts"] > 0 and scores["overlong"] == "truncate-left"
    entry = next(iter(json.loads((outcome.run_dir / "manifest.json").read_text())["models"].values()))
    assert entry["overlong"]["rule"] == "truncate-left"

    from clue.report.runs import load_run
    from clue.report.tables import Marked, build_tables, render

    tables = build_tables(load_run(outcome.run_dir))
    text = render(tables, "md")
    summary = text.split("## ")[1]
    assert "†" in summary.split("\n\n")[1] and f"LongHealth {scores['truncated_prompts']}" in summary
    lh = next(t for t in tables if t.name == "longhealth")
    cells = [c for c in lh.rows[0][2:] if c is not None]
    assert cells and all(isinstance(c, Marked) for c in cells)
    assert "†" in render([lh], "md").split("\n")[4]
    assert r"\dag{}" in render(tables, "latex")
    assert "†" not in render(tables, "csv")
    mednli = next(t for t in tables if t.name == "mednli")
    assert "†" not in render([mednli], "md")


def test_overlong_rule_is_checked():
    with pytest.raises(InputError, match="--overlong cut"):
        evaluate(EvalOptions(model="baseline", overlong="cut"))


# ------------------------------------------------------------------ LongHealth: gold matching no option

def test_longhealth_gold_without_match_is_listed(tiny_models, workspace, tmp_path):
    data = write_test_sets(tmp_path / "data", n=3)
    path = data / "longhealth" / "test.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["correct"] = "a text that is in no option"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    outcome = evaluate(_options("baseline", workspace, tmp_path, data_dir=str(data), tasks="longhealth", limit=None))
    scores = read_scores(outcome.model_dir / "longhealth")
    assert scores["details"]["gold_no_match"]["questions"] == [rows[0]["id"]]
    assert scores["details"]["gold_no_match"]["prompts"] == 5 + 5      # its 5 task-1 and 5 task-2 prompts
