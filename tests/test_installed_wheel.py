"""The kit as a user installs it: a wheel, not the checkout.

Builds the wheel from a copy of the sources (no network: this environment's setuptools), installs it
into a fresh virtualenv whose dependencies come from this environment through a .pth file, and runs
`clue demo`, `clue tables --compare paper` and `clue assets list` from another folder, so that nothing
can be read from the checkout. `clue demo` runs under umask 027: every file it writes must be 0640
and every folder 0750 (group-readable, as a normal tool writes them; never the 0600 of a temporary).
"""

from __future__ import annotations

import os
import shutil
import site
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("clue", "data_recipes", "results/paper", "pyproject.toml", "setup.py", "MANIFEST.in", "README.md")


def _run(argv, **kwargs):
    result = subprocess.run(argv, capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, f"{argv[:3]}… exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"ignore": shutil.ignore_patterns("__pycache__", "_shipped")} if copy is shutil.copytree else {}
        copy(ROOT / name, source / name, **kwargs)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(dist), str(source)])
    [built] = dist.glob("clue_kit-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_carries_the_shipped_folders_and_pins(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("clue/protocol/pins.json", "clue/_shipped/data_recipes/sources.json",
                     "clue/_shipped/data_recipes/fingerprints.lock", "clue/_shipped/data_recipes/assets.lock.json",
                     "clue/_shipped/results/paper/clue_v2_results.csv", "clue/demo/upstream/eval/eval_meqsum.py"):
        assert expected in names, f"{expected} is not in {wheel.name}"
    assert not any(name.startswith(("tests/", "data_recipes/", "results/", "bench/")) for name in names)


def _dependency_paths() -> list[str]:
    """This environment's site-packages folders (the worktree venv's own and any it chains to)."""
    paths = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    paths += [p for p in sys.path if p.endswith("site-packages")]
    return list(dict.fromkeys(p for p in paths if Path(p).is_dir()))


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_from_another_folder(wheel, tmp_path):
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (purelib / "zz_dependencies.pth").write_text("\n".join(_dependency_paths()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    located = _run([str(python), "-c", "import clue, clue.paths as p; print(clue.__file__); print(p.recipes_dir())"],
                   cwd=elsewhere, env=env).stdout.split()
    assert Path(located[0]).is_relative_to(purelib), f"clue imported from {located[0]}, not the installed wheel"
    assert Path(located[1]) == purelib / "clue" / "_shipped" / "data_recipes"

    clue = str(venv / "bin" / "clue")
    assert _run([clue, "--version"], cwd=elsewhere, env=env).stdout.strip().startswith("clue, version ")
    out = elsewhere / "demo-out"
    demo = _run(["sh", "-c", f"umask 027 && exec {clue} demo --out {out}"], cwd=elsewhere, env=env)
    assert "NOT CLUE numbers" in demo.stdout
    # the published numbers come from the wheel's copy of results/paper/ (Llama 3 8B: MedNLI 74.08, Level 2 40.61)
    alias = f"{out / 'tiny-model'}=Meta-Llama-3-8B-Instruct"
    tables = _run([clue, "tables", str(out / "results" / "demo"), "--compare", "paper", "--alias", alias],
                  cwd=elsewhere, env=env)
    paper_rows = [line for line in tables.stdout.splitlines() if line.startswith("| Meta-Llama-3-8B-Instruct ")]
    assert paper_rows and "| 74.08 " in paper_rows[0] and "| 40.61 " in paper_rows[0], tables.stdout[:2000]
    listed = _run([clue, "assets", "list"], cwd=elsewhere, env=env)
    assert "umls_linker [umls]" in listed.stdout

    files = [p for p in out.rglob("*") if not p.is_symlink()]
    assert len(files) > 50
    wrong = [f"{p.relative_to(out)} {oct(stat.S_IMODE(p.stat().st_mode))}" for p in files
             if stat.S_IMODE(p.stat().st_mode) != (0o750 if p.is_dir() else 0o640)]
    assert wrong == [], f"not as umask 027 gives (files 0640, folders 0750): {wrong[:10]}"
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
