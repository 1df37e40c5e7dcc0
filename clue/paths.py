"""Where the kit keeps things. Every location can be moved with an environment variable."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
SHIPPED_DIR = PACKAGE_DIR / "_shipped"    # a wheel's copies of data_recipes/ and results/paper/ (setup.py)


def shipped(relative: str) -> Path:
    """A folder the kit ships beside its code (``data_recipes``, ``results/paper``): the installed
    package's copy when there is one (a wheel), else the checkout's (an editable install, a clone)."""
    inside = SHIPPED_DIR / relative
    return inside if inside.is_dir() else PROJECT_DIR / relative


def recipes_dir() -> Path:
    """The shipped ``data_recipes/`` folder (source registry, fingerprints.lock)."""
    return Path(os.environ.get("CLUE_RECIPES", shipped("data_recipes")))


def paper_results_dir() -> Path:
    """The shipped ``results/paper/`` folder (the published CLUE numbers and their source)."""
    return shipped("results/paper")


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
