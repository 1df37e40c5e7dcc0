"""The core does not depend on the demo: the runner finds the demo's metric stand-ins through a table."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clue.errors import InputError
from clue.metrics.resources import STAND_INS, stand_in_resources


def test_importing_the_core_loads_no_demo_module():
    code = ("import sys, clue.runner, clue.report.runs, clue.report.verify, clue.cli; "
            "print(sorted(m for m in sys.modules if m.startswith(('clue.demo', 'clue.testing'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_runner_source_names_no_demo_module():
    import clue.runner

    source = open(clue.runner.__file__, encoding="utf-8").read()
    assert "clue.demo" not in source and "clue.testing" not in source


def test_stand_in_table_points_at_the_demo_and_refuses_unknown_names(tmp_path):
    module, function = STAND_INS["demo_metrics"].split(":")
    assert module == "clue.demo.run"
    import importlib

    assert callable(getattr(importlib.import_module(module), function))
    with pytest.raises(InputError, match="no_such: no stand-in metric resources"):
        stand_in_resources("no_such", tmp_path, frozenset())


def test_evaluate_and_score_run_share_the_three_steps(workspace, tmp_path, monkeypatch):
    """evaluate: prepare, then per task prepare_task, generate, score; score_run: the same without generate,
    and its files are the bytes evaluate wrote."""
    import clue.runner as runner
    from clue.metrics.resources import MetricResources, parse_metrics

    calls = []

    def spy(name):
        real = getattr(runner, name)

        def called(*args, **kwargs):
            calls.append(name)
            return real(*args, **kwargs)
        return called

    for name in ("prepare", "prepare_task", "generate", "score"):
        monkeypatch.setattr(runner, name, spy(name))
    metrics = "-bertscore,-umls"
    options = runner.EvalOptions(model="baseline", protocol="paper", protocol_dir=str(workspace["protocol"]),
                                 data_dir=str(workspace["data"]), results_dir=str(tmp_path), run="r",
                                 tasks="mednli,meqsum", limit=2, progress=False, metrics=metrics)
    runner.evaluate(options, resources=MetricResources(parse_metrics(metrics)))
    assert calls == ["prepare", "prepare_task", "generate", "score", "prepare_task", "generate", "score"]
    written = {p: p.read_bytes() for p in (tmp_path / "r" / "baseline").rglob("*") if p.is_file()}
    assert len(written) == 4

    calls.clear()
    outcome = runner.score_run(tmp_path / "r", resources=MetricResources(parse_metrics(metrics)))
    assert calls == ["prepare", "prepare_task", "score", "prepare_task", "score"]
    assert [t.n_generated for t in outcome.tasks] == [0, 0]
    assert {p: p.read_bytes() for p in written} == written
