"""Shared test set-up: everything offline, and the location of the read-only ../shared folder."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# A shell starts background jobs with SIGINT ignored, and children inherit an ignored signal through
# exec: the Ctrl-C tests would then test nothing. A handled signal is reset to the default in children.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

PROJECT_DIR = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path | None:
    for candidate in (os.environ.get("CLUE_SHARED"), PROJECT_DIR.parent / "shared"):
        if candidate and (Path(candidate) / "protocol" / "PROTOCOLS.md").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    found = _shared_dir()
    if found is None:
        pytest.skip("../shared (or CLUE_SHARED) is not present beside this checkout")
    return found


@pytest.fixture(scope="session")
def meqsum_xlsx(shared_dir: Path) -> Path:
    return shared_dir / "data" / "public" / "MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Keep every test away from the user's real cache and the repository's data/ results/."""
    home = tmp_path_factory.mktemp("clue-home")
    monkeypatch.setenv("CLUE_ASSETS", str(home / "assets"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
