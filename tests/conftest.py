"""Shared test set-up: everything offline, and the location of the read-only ../shared folder."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from protocol_standin import standin_protocol
from runner_helpers import write_protocols, write_test_sets

if TYPE_CHECKING:
    from clue.protocol import Protocol

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


# -- the fixtures the runner, backend and task tests share: each built once per session -------------

@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread, and two spinning threads crawl on a busy 2-core machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Three tiny Llama-style models: chat template with a system role, without one, and a base model."""
    from clue.testing.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("tiny-models")
    return {name: build_tiny_model(root / name, chat=chat)
            for name, chat in (("chat", "system"), ("nosys", "no-system"), ("base", None))}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory) -> dict[str, Path]:
    """Built test sets (8 items per task) and the three protocols, shared by the runner tests."""
    root = tmp_path_factory.mktemp("workspace")
    return {"data": write_test_sets(root / "data"), "protocol": write_protocols(root / "protocol")}


@pytest.fixture(scope="session")
def paper(tmp_path_factory) -> Protocol:
    """The stand-in paper protocol, fetched once per session."""
    return standin_protocol("paper", tmp_path_factory.mktemp("proto"))


@pytest.fixture(scope="session")
def upstream(tmp_path_factory) -> Protocol:
    """The stand-in upstream protocol, fetched once per session."""
    return standin_protocol("upstream", tmp_path_factory.mktemp("proto"))
