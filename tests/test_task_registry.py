"""The task registry: every registered task is complete, and a plugin task runs the whole chain.

The plugin (tests/fixtures/extra_task/clue_toy_triage) is registered the way a lab would register its
own task, through ``CLUE_TASK_PLUGINS``; nothing under clue/ knows about it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from click.testing import CliRunner

from clue import taskinfo
from clue.backends.base import Request
from clue.backends.baseline import answer, rules
from clue.cli import cli
from clue.data.build import build
from clue.data.sources import load_registry
from clue.errors import InputError
from clue.metrics.resources import METRIC_GROUPS
from clue.protocol.fetch import DEMO_DIR, load_pins, task_constants
from clue.protocol.settings import SETTINGS, TaskSettings
from clue.taskinfo import TASK_IDS, BaselineRule, TaskSpec, all_tasks, register_task, task_info

PLUGIN_DIR = Path(__file__).parent / "fixtures" / "extra_task"
PLUGIN = "clue_toy_triage"
TOY = "toy_triage"
SCORED_KEYS = {key for keys in METRIC_GROUPS.values() for key in keys}


def check_complete(spec: TaskSpec, tmp_path: Path) -> None:
    """Every field of ``spec`` resolves: modules, metrics, prompt file and pins, settings, data, baseline."""
    assert spec.level in (1, 2) and spec.licence in ("physionet", "public") and spec.metrics
    assert [t.id for t in all_tasks()].count(spec.id) == 1 and task_info(spec.name) is spec
    assert set(spec.metrics) <= SCORED_KEYS, f"{spec.id}: metrics no scorer produces"
    module = spec.task_module()
    for name in ("load_records", "build_requests", "postprocess", "score"):
        assert callable(getattr(module, name)), f"{spec.id}: task module lacks {name}"
    recipe = spec.recipe_module()
    assert recipe.TASK == spec.id and isinstance(recipe.VERSION, str) and callable(recipe.build)
    registry = load_registry()
    assert all(name in registry for name in recipe.SOURCES), f"{spec.id}: a recipe source is not in the registry"

    pins = load_pins()
    assert pins["task_files"][spec.id] == spec.upstream_file
    for protocol, pin in pins["protocols"].items():
        assert len(pin["files"].get(spec.upstream_file, "")) == 64, f"{spec.id}: no {protocol} pin"
        assert isinstance(SETTINGS[protocol].task(spec.id), TaskSettings)
    prompt_file = Path(spec.prompt_dir or DEMO_DIR) / spec.upstream_file
    constants = task_constants(spec.id, prompt_file.read_bytes(), str(prompt_file))
    assert set(spec.prompt_fields) <= set(constants)

    raw = spec.synthetic_writer()(tmp_path / "raw")
    assert set(recipe.SOURCES) <= set(raw)
    for name, path in raw.items():       # where the registry looks (a folder source: the release folder)
        assert registry[name].locate(tmp_path / "raw") in (path, *path.parents), f"{spec.id}: {name} misplaced"
    built = build(tasks=spec.id, raw_dir=tmp_path / "raw", out_dir=tmp_path / "data", allow_unverified=True)
    assert built[0].rows > 0
    records = module.load_records(tmp_path / "data")          # every record field is there, as text
    assert spec.record_fields and all(isinstance(records[0][f], str) for f in spec.record_fields)

    assert spec.baseline is not None and rules()[spec.id] == spec.baseline.description
    request = Request(task=spec.id, item_id=str(records[0]["id"]), messages=({"role": "user", "content": "-"},),
                      meta={"record": records[0]})
    assert isinstance(answer(request), str) and answer(request)


@pytest.mark.parametrize("task_id", list(TASK_IDS))
def test_every_registered_task_is_complete(task_id, tmp_path):
    check_complete(task_info(task_id), tmp_path)


def test_the_six_clue_tasks_come_first_in_paper_order():
    assert list(TASK_IDS)[:6] == ["mednli", "meqsum", "problem_summary", "medisumqa", "medisumcode", "longhealth"]
    assert [t.level for t in all_tasks()][:6] == [1, 1, 1, 2, 2, 2]


def test_register_task_refuses_a_clash_and_an_incomplete_spec():
    with pytest.raises(InputError, match="'mednli' is already registered"):
        register_task(TaskSpec("mednli", "Other", 1, ("accuracy",), module="m", recipe="r", upstream_file="f"))
    with pytest.raises(InputError, match="'module', 'recipe' and 'upstream_file' are required"):
        register_task(TaskSpec("lonely", "Lonely", 1, ("accuracy",)))
    with pytest.raises(InputError, match="level 3, expected 1 or 2"):
        register_task(TaskSpec("high", "High", 3, ("accuracy",), module="m", recipe="r", upstream_file="f"))
    with pytest.raises(InputError, match="baseline kind 'guess', expected one of constant, copy, longest_option"):
        register_task(TaskSpec("odd", "Odd", 1, ("accuracy",), module="m", recipe="r", upstream_file="f",
                               baseline=BaselineRule("guess", "guess"), settings=TaskSettings(0, False, 5)))
    with pytest.raises(InputError, match="field 'settings' is None, expected a TaskSettings"):
        register_task(TaskSpec("bare", "Bare", 1, ("accuracy",), module="m", recipe="r", upstream_file="f"))
    with pytest.raises(InputError, match="built-in CLUE task"):
        taskinfo.unregister_task("longhealth")
    assert not {"lonely", "high", "odd", "bare"} & set(TASK_IDS)


def test_an_unknown_plugin_module_is_named(monkeypatch):
    monkeypatch.setenv(taskinfo.PLUGINS_ENV, "no_such_clue_plugin")
    with pytest.raises(InputError, match="CLUE_TASK_PLUGINS: cannot import task plugin 'no_such_clue_plugin'"):
        all_tasks()
    monkeypatch.delenv(taskinfo.PLUGINS_ENV)
    assert len(all_tasks()) == 6


@pytest.fixture
def toy_plugin(monkeypatch):
    """The toy task registered through CLUE_TASK_PLUGINS, and removed again afterwards."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.setenv(taskinfo.PLUGINS_ENV, PLUGIN)
    assert TOY in TASK_IDS                      # imported on the registry's next read
    yield task_info(TOY)
    taskinfo.unregister_task(TOY)
    taskinfo._loaded_plugins.discard(PLUGIN)
    for name in [m for m in sys.modules if m == PLUGIN or m.startswith(PLUGIN + ".")]:
        del sys.modules[name]


def invoke(*args: str) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_plugin_task_runs_build_evaluate_score_tables_and_verify(toy_plugin, tmp_path):
    check_complete(toy_plugin, tmp_path / "check")
    assert list(TASK_IDS)[-1] == TOY and toy_plugin.level == 2

    raw, data, protocols, results = (tmp_path / name for name in ("raw", "data", "protocol", "results"))
    toy_plugin.synthetic_writer()(raw)
    invoke("data", "build", "--task", TOY, "--raw-dir", raw, "--data-dir", data, "--no-progress")
    manifest = json.loads((data / TOY / "manifest.json").read_text())
    assert manifest["recipe"] == "clue_toy_triage.recipe" and manifest["inputs"]["toy_triage_messages"]["verified"]
    assert "7 files verified" in invoke("protocol", "fetch", "--protocol", "demo", "--protocol-dir", protocols)
    fetched = json.loads((protocols / "demo.json").read_text())
    assert fetched["tasks"][TOY]["user_prompt_template"].startswith("Message: {message}")

    invoke("evaluate", "--model", "baseline", "--protocol", "demo", "--protocol-dir", protocols, "--data-dir", data,
           "--results-dir", results, "--run", "toy", "--tasks", TOY, "--metrics", "accuracy", "--no-progress")
    scores_path = results / "toy" / "baseline" / TOY / "scores.json"
    scores = json.loads(scores_path.read_text())
    assert scores["n_items"] == 6                     # 8 messages, 2 few-shot
    assert scores["metrics"]["accuracy"] == pytest.approx(100 * 3 / 6)   # "routine" is right for 3 of 6
    first = json.loads((results / "toy" / "baseline" / TOY / "predictions.jsonl").read_text().splitlines()[0])
    assert first["output"] == "routine"

    invoke("score", results / "toy", "--no-progress")
    assert json.loads(scores_path.read_text())["metrics"] == scores["metrics"]
    tables = invoke("tables", results / "toy", "--compare", "paper")
    assert "ToyTriage (Level 2)" in tables and "Level 2 = mean(MeDiSumQA, MeDiSumCode, LongHealth, ToyTriage)" in tables
    assert "No published row for: baseline" in tables      # --compare paper reads the CSV without ToyTriage
    invoke("verify", results / "toy")

    ci = invoke("tables", results / "toy", "--ci")                                    # per-item bootstrap
    assert "| baseline | toy" in ci and "50.00 [" in ci
    pairs = invoke("compare-pairs", "--published", "--by-task")    # the paper's rows, read with the plugin
    assert "Declines: 9 of 12 pairs" in pairs
    plotted = invoke("plot", results / "toy", "--paper", "--out", tmp_path / "plot")
    assert "not plotted (a level score is missing): baseline (toy)" in plotted and (tmp_path / "plot.png").is_file()


def test_reports_tolerate_a_task_the_paper_csv_lacks(toy_plugin):
    from clue.report.paper import load_paper
    from clue.report.runs import ModelScores
    from clue.report.tables import build_tables

    paper = load_paper()
    assert len(paper) == 25 and all(TOY not in row.metrics for row in paper)
    llama = next(p for p in paper if p.model == "Meta-Llama-3-8B-Instruct")
    run = ModelScores(model="Meta-Llama-3-8B-Instruct", source="run", metrics={**llama.metrics, TOY: {"accuracy": 50.0}},
                      aggregate="protocol")
    comparison = next(t for t in build_tables([run], paper=paper) if t.name == "comparison")
    toy_lines = [row for row in comparison.rows if row[3] == "ToyTriage"]
    assert toy_lines and all(row[6] is None and row[7] is None for row in toy_lines)    # paper cell and Δ missing
    assert [row[5] for row in toy_lines] == [50.0, 50.0]


@pytest.mark.slow
def test_a_plugin_task_runs_on_a_tiny_model(toy_plugin, tiny_models, tmp_path):
    raw, data, protocols, results = (tmp_path / name for name in ("raw", "data", "protocol", "results"))
    toy_plugin.synthetic_writer()(raw)
    invoke("data", "build", "--task", TOY, "--raw-dir", raw, "--data-dir", data, "--no-progress")
    invoke("protocol", "fetch", "--protocol", "demo", "--protocol-dir", protocols)
    invoke("evaluate", "--model", tiny_models["chat"], "--protocol", "demo", "--protocol-dir", protocols,
           "--data-dir", data, "--results-dir", results, "--run", "tiny", "--tasks", TOY, "--limit", "3",
           "--metrics", "accuracy", "--device", "cpu", "--no-progress")
    folder = results / "tiny" / tiny_models["chat"].name / TOY
    lines = [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == ["t2", "t3", "t4"]          # t0, t1 are the few-shot pair
    assert all(isinstance(line["output"], str) for line in lines)
    scores = json.loads((folder / "scores.json").read_text())
    assert scores["n_items"] == 3 and 0.0 <= scores["metrics"]["accuracy"] <= 100.0
    invoke("verify", results / "tiny")


def test_the_upstream_audit_keeps_to_the_six_clue_tasks(toy_plugin, tmp_path):
    from clue.audit import audit_upstream, check_files

    checkout = Path(__file__).parent / "fixtures" / "upstream_standin" / "checkout" / "paper"
    files = check_files(checkout, "paper")               # the plugin's prompt file is not asked of a CLUE checkout
    assert toy_plugin.upstream_file not in files and len(files) == 6
    with pytest.raises(InputError, match=f"'{TOY}' is not a CLUE task"):
        audit_upstream(checkout, "paper", tasks=TOY, workdir=tmp_path)


def test_protocol_show_lists_a_plugin_task(toy_plugin):
    from clue.protocol.describe import describe_protocol

    table = describe_protocol("paper")
    rows = {line.split()[0] for line in table.splitlines() if line and not line.startswith(" ")}
    assert {*TASK_IDS} <= rows and TOY in rows


@pytest.mark.slow
def test_the_demo_runs_a_registered_plugin_task_too(toy_plugin, tmp_path):
    output = invoke("demo", "--out", tmp_path / "demo", "--limit", "2", "--no-progress")
    folder = tmp_path / "demo" / "results" / "demo" / "tiny-model"
    assert {p.name for p in folder.iterdir() if p.is_dir()} == {*TASK_IDS} and TOY in TASK_IDS
    assert json.loads((folder / TOY / "scores.json").read_text())["n_items"] == 2
    assert toy_plugin.name in output
