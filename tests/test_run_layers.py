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
