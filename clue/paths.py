"""Where the kit keeps things. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent


def recipes_dir() -> Path:
    """The shipped ``data_recipes/`` folder (source registry, fingerprints.lock)."""
    return Path(os.environ.get("CLUE_RECIPES", PROJECT_DIR / "data_recipes"))


def raw_dir() -> Path:
    """Default folder for raw downloads (``--raw-dir`` overrides)."""
    return Path(os.environ.get("CLUE_RAW", "raw"))


def data_dir() -> Path:
    """Default folder for built test sets, ``data/<task>/test.jsonl``."""
    return Path(os.environ.get("CLUE_DATA", "data"))


def protocol_dir() -> Path:
    """Default folder for fetched protocols, ``protocol/<name>.json``."""
    return Path(os.environ.get("CLUE_PROTOCOL", "protocol"))


def results_dir() -> Path:
    """Default folder for evaluation runs, ``results/<run>/``."""
    return Path(os.environ.get("CLUE_RESULTS", "results"))


def assets_dir() -> Path:
    """Metric assets (BERTScore models, scispaCy model, UMLS linker files)."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clue" / "assets"
    return Path(os.environ.get("CLUE_ASSETS", default))
