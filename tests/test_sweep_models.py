"""The paper's model list against the published CSV, the GPU rule, user lists, and placement without GPUs."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from clue.errors import InputError
from clue.report.paper import HUB_ALIASES, PAPER_CSV, PAPER_PAIRS
from clue.runner import EvalOptions
from clue.sweep import SweepOptions, model_options, placement, ray_placement, run_sweep
from clue.sweep_models import load_models, paper_models_path, select


@pytest.fixture(scope="module")
def paper():
    return load_models("paper")


@pytest.fixture(scope="module")
def csv_rows():
    with open(PAPER_CSV, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_published_row_has_exactly_one_entry(paper, csv_rows):
    names = [m.name for m in paper.models]
    assert sorted(names) == sorted(r["model"] for r in csv_rows)
    assert len(set(names)) == len(names) == 25
    assert len({m.model for m in paper.models}) == 25          # one hub id per model


def test_entries_agree_with_the_csv_and_the_report_tables(paper, csv_rows):
    by_name = {m.name: m for m in paper.models}
    for row in csv_rows:
        entry = by_name[row["model"]]
        assert entry.type == row["type"]
        # no published Level-2 score (4k context or less): the sweep runs Level 1 only, as the paper did
        assert (entry.tasks == ("mednli", "meqsum", "problem_summary")) == (not row["level2"].strip()), entry.name
        if entry.context_length is not None and not row["level2"].strip():
            assert entry.context_length <= 4096
    for hub_id, name in HUB_ALIASES.items():                # the tables match the same ids to the same rows
        if hub_id in {m.model for m in paper.models}:
            assert by_name[name].model == hub_id
    assert sorted(paper.pairs) == sorted(PAPER_PAIRS)       # the biomedical/base pairs are the paper's 12
    assert paper.aliases[by_name["llama2-7b-hf"].model] == "llama2-7b-hf"


def test_revisions_are_flagged_unpinned_and_the_gpu_rule_holds(paper):
    raw = json.loads(paper_models_path().read_text(encoding="utf-8"))
    rule = paper.gpu_rule
    assert (rule.gpu_memory_gib, rule.bytes_per_parameter, rule.margin_fraction) == (80, 2, 0.2)
    assert "2 bytes" in raw["gpu_rule"]["rule"] and raw["gpu_rule"]["assumes"]
    for entry, model in zip(raw["models"], paper.models):
        assert model.revision == "main" and model.pinned is False      # no public source states a commit
        assert entry["memory_gib_bf16"] == pytest.approx(rule.memory_gib(model.parameters_b), abs=0.06)
        assert entry["gpus_bf16"] == rule.gpus(model.parameters_b)
    sizes = {m.name: (m.parameters_b, m.gpus) for m in paper.models}
    assert sizes["Phi-3-mini-128k-instruct"] == (3.82, 1)
    assert sizes["Meta-Llama-3-8B-Instruct"][1] == 1
    assert sizes["Mixtral-8x7B-Instruct-v0.1"][1] == 2
    assert sizes["Llama-2-70b"][1] == sizes["Meta-Llama-3-70B-Instruct"][1] == 4
    assert sizes["Mixtral-8x22B-Instruct-v0.1"] == (140.62, 8)
    assert min(p for p, _ in sizes.values()) == 3.82 and max(p for p, _ in sizes.values()) > 140


def test_gpu_hours_grow_with_size_and_tasks(paper):
    by_name = {m.name: m for m in paper.models}
    hours = {name: paper.cost_rule.gpu_hours(m) for name, m in by_name.items()}
    assert 0 < hours["Phi-3-mini-128k-instruct"] < hours["Meta-Llama-3-8B-Instruct"] < hours["Mixtral-8x7B-Instruct-v0.1"]
    assert hours["Mixtral-8x7B-Instruct-v0.1"] < hours["Meta-Llama-3-70B-Instruct"] < hours["Mixtral-8x22B-Instruct-v0.1"] * 2
    assert hours["Llama-2-70b"] < hours["Meta-Llama-3-70B-Instruct"] / 5      # Level 1 only: far fewer tokens


def test_placement_recomputes_for_the_gpus_present(paper):
    rule, by_name = paper.gpu_rule, {m.name: m for m in paper.models}
    mixtral22 = by_name["Mixtral-8x22B-Instruct-v0.1"]
    assert placement(mixtral22, rule, [80.0] * 8) == (8, None)
    gpus, reason = placement(mixtral22, rule, [80.0] * 4)
    assert gpus == 0 and reason.startswith("needs 8 GPU(s) of 80 GiB") and reason.endswith("4 here")
    assert placement(by_name["Meta-Llama-3-70B-Instruct"], rule, [141.0] * 2) == (2, None)   # H200-sized GPUs
    assert ray_placement(mixtral22, rule, [4, 8]) == (8, None)
    assert "largest Ray node has 4" in ray_placement(mixtral22, rule, [4, 4])[1]


def test_paper_sweep_without_gpus_skips_every_model_with_one_line(paper, tmp_path, monkeypatch):
    monkeypatch.setattr("clue.sweep.local_gpus", lambda: [])
    outcome = run_sweep(SweepOptions(eval=EvalOptions(model="", results_dir=str(tmp_path), run="paper")),
                        listing=paper)
    assert [r.status for r in outcome.results] == ["skipped"] * 25
    for result in outcome.results:
        assert "\n" not in result.reason and "no GPU here" in result.reason and result.reason.startswith("needs ")
    recorded = json.loads((tmp_path / "paper" / "sweep.json").read_text())["models"]
    assert {v["status"] for v in recorded.values()} == {"skipped"} and len(recorded) == 25
    assert not (tmp_path / "paper" / "store.sqlite").exists()      # nothing was started


def test_text_list_local_models_need_no_gpu(tmp_path, monkeypatch):
    folder = tmp_path / "my-model"
    folder.mkdir()
    listing_file = tmp_path / "models.txt"
    listing_file.write_text(f"# tiny ones\n{folder}\nbaseline  # the rules\n\n")
    listing = load_models(str(listing_file))
    assert [(m.name, m.gpus, m.revision) for m in listing.models] == [(str(folder), 0, None), ("baseline", 0, None)]
    assert placement(listing.models[0], listing.gpu_rule, []) == (0, None)
    assert [m.model for m in select(listing.models, "my-model")] == [str(folder)]


@pytest.mark.parametrize("content, words", [
    ("a b\n", ["line 1", "one model per line"]),
    ('{"models": []}', ["non-empty 'models' list"]),
    ('{"models": [{"name": "x"}]}', ["models[0]", "hub_id"]),
    ('{"models": [{"hub_id": "o/m", "chat_layout": "fancy"}]}', ["models[0] (o/m)", "'chat_layout'", "fancy"]),
    ('{"models": [{"hub_id": "o/m", "parameters_b": "7B"}]}', ["'parameters_b'", "positive number"]),
    ('{"models": [{"hub_id": "o/m", "tasks": ["mednli", "nli"]}]}', ["'tasks'", "nli"]),
    ('{"models": [{"hub_id": "o/m"}, {"hub_id": "o/m"}]}', ["listed twice"]),
    ('{"models": [{"hub_id": "o/m"}], "gpu_rule": {"gpu_memory_gib": "80"}}', ["gpu_rule.gpu_memory_gib", "number"]),
])
def test_bad_lists_get_one_line_naming_the_field(tmp_path, content, words):
    path = tmp_path / ("models.txt" if content.startswith("a") else "models.json")
    path.write_text(content)
    with pytest.raises(InputError) as raised:
        load_models(str(path))
    message = str(raised.value)
    assert "\n" not in message and str(path) in message
    for word in words:
        assert word in message


def test_only_names_unknown_models(paper):
    with pytest.raises(InputError, match="--only nope: not in the model list"):
        select(paper.models, "meditron-7b,nope")
    chosen = select(paper.models, "epfl-llm/meditron-70b,meditron-7b")
    assert [m.name for m in chosen] == ["meditron-7b", "meditron-70b"]      # the list's order


def test_model_options_spread_big_models_and_keep_the_listed_tasks(paper):
    by_name = {m.name: m for m in paper.models}
    template = EvalOptions(model="", tasks="mednli,longhealth")
    llama70 = model_options(by_name["Llama-2-70b"], template, "vllm", 4)
    assert llama70.tasks == "mednli" and llama70.model_args == ["tensor_parallel_size=4"]
    assert llama70.revision == "main" and llama70.chat_layout == "base"
    hf = model_options(by_name["Meta-Llama-3-70B-Instruct"], template, "hf", 4)
    assert hf.model_args == ["device_map=auto"] and hf.tasks == "mednli,longhealth"
    given = model_options(by_name["Meta-Llama-3-70B-Instruct"], EvalOptions(model="", model_args=["tensor_parallel_size=8"]),
                          "vllm", 4)
    assert given.model_args == ["tensor_parallel_size=8"]
    assert model_options(by_name["Llama-2-70b"], EvalOptions(model="", tasks="longhealth"), "hf", 4).tasks == ""


def test_plan_command_lists_every_model_and_why_it_does_not_fit(monkeypatch):
    from clue.cli import cli

    monkeypatch.setattr("clue.sweep.local_gpus", lambda: [])
    result = CliRunner().invoke(cli, ["sweep", "--plan"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("| ") and "Model" not in line]
    assert len(lines) == 25
    assert all("| no " in line and "no GPU here" in line for line in lines)
    assert "@main (unpinned)" in result.output


def test_unpack_refuses_members_outside_the_folder(tmp_path):
    import io
    import tarfile

    from clue.sweep import unpack

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"hi"))
    with pytest.raises(InputError, match=r"archive member '\.\./escaped\.txt': not a plain file inside the folder"):
        unpack(buffer.getvalue(), tmp_path / "in")
    assert not (tmp_path / "escaped.txt").exists()
