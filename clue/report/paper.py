"""The published CLUE numbers, how run models are matched to them, and the paper's model pairs.

The figures are read from ``results/paper/clue_v2_results.csv`` (see ``results/paper/SOURCE.md``
for where they come from). A run's model is matched to a paper row by:
1. a user alias (``--alias MODEL=PAPER_NAME``), then 2. the hub-id table :data:`HUB_ALIASES`,
then 3. the exact paper name, then 4. the last path component of the id (``org/Name`` or a local
folder ``/models/Name``), compared without regard to case.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from clue.errors import InputError
from clue.paths import paper_results_dir
from clue.report.runs import ModelScores
from clue.taskinfo import BUILTIN, TASKS

PAPER_CSV = paper_results_dir() / "clue_v2_results.csv"
PAPER_SOURCE = "paper"

# Hugging Face hub ids -> model name in the paper's table. Ids whose last component already equals
# the paper name (mistralai/Mistral-7B-v0.1) need no entry but are listed for the reader.
HUB_ALIASES: dict[str, str] = {
    # The paper's "llama2-7b" is the base model that meditron-7b was trained from.
    "meta-llama/Llama-2-7b-hf": "llama2-7b",
    "meta-llama/Llama-2-7b": "llama2-7b",
    "epfl-llm/meditron-7b": "meditron-7b",
    "mistralai/Mistral-7B-v0.1": "Mistral-7B-v0.1",
    "internistai/base-7b-v0.2": "internistai/base-7b-v0.2",
    "BioMistral/BioMistral-7B": "BioMistral-7B",
    "BioMistral/BioMistral-7B-DARE": "BioMistral-7B-DARE",
    "mistralai/Mistral-7B-Instruct-v0.1": "Mistral-7B-Instruct-v0.1",
    "HuggingFaceH4/zephyr-7b-beta": "zephyr-7b-beta",
    "mistralai/Mistral-7B-Instruct-v0.2": "Mistral-7B-Instruct-v0.2",
    "meta-llama/Meta-Llama-3-8B-Instruct": "Meta-Llama-3-8B-Instruct",
    "aaditya/Llama3-OpenBioLLM-8B": "Llama3-OpenBioLLM-8B",
    "johnsnowlabs/JSL-Med-Sft-Llama-3-8B": "JSL-Med-Sft-Llama-3-8B",
    "johnsnowlabs/JSL-MedLlama-3-8B-v1.0": "JSL-MedLlama-3-8B-v1.0",
    "johnsnowlabs/JSL-MedLlama-3-8B-v2.0": "JSL-MedLlama-3-8B-v2.0",
    "HPAI-BSC/Llama3-Aloe-8B-Alpha": "Llama3-Aloe-8B-Alpha",
    "microsoft/Phi-3-mini-128k-instruct": "Phi-3-mini-128k-instruct",
    "mistralai/Mixtral-8x7B-Instruct-v0.1": "Mixtral-8x7B-Instruct-v0.1",
    "meta-llama/Llama-2-70b-hf": "Llama-2-70b",
    "meta-llama/Llama-2-70b": "Llama-2-70b",
    "epfl-llm/meditron-70b": "meditron-70b",
    "wanglab/ClinicalCamel-70B": "ClinicalCamel-70B",
    "meta-llama/Llama-2-70b-chat-hf": "Llama-2-70b-chat",
    "meta-llama/Meta-Llama-3-70B-Instruct": "Meta-Llama-3-70B-Instruct",
    "aaditya/Llama3-OpenBioLLM-70B": "Llama3-OpenBioLLM-70B",
    "mistralai/Mixtral-8x22B-Instruct-v0.1": "Mixtral-8x22B-Instruct-v0.1",
    # Not aliased: the paper's "llama2-7b-hf", whose numbers look like Llama-2-7b-chat's but whose
    # checkpoint is not stated. Use --alias meta-llama/Llama-2-7b-chat-hf=llama2-7b-hf to compare.
}

# The paper's biomedical models and the general model each was adapted from (../shared/paper/README.md).
# ClinicalCamel-70B is paired with Llama-2-70b-chat: the paper's "9 of 12 decline" holds only so.
PAPER_PAIRS: tuple[tuple[str, str], ...] = (
    ("meditron-7b", "llama2-7b"),
    ("meditron-70b", "Llama-2-70b"),
    ("ClinicalCamel-70B", "Llama-2-70b-chat"),
    ("internistai/base-7b-v0.2", "Mistral-7B-v0.1"),
    ("BioMistral-7B", "Mistral-7B-Instruct-v0.1"),
    ("BioMistral-7B-DARE", "Mistral-7B-Instruct-v0.1"),
    ("Llama3-OpenBioLLM-8B", "Meta-Llama-3-8B-Instruct"),
    ("JSL-Med-Sft-Llama-3-8B", "Meta-Llama-3-8B-Instruct"),
    ("JSL-MedLlama-3-8B-v1.0", "Meta-Llama-3-8B-Instruct"),
    ("JSL-MedLlama-3-8B-v2.0", "Meta-Llama-3-8B-Instruct"),
    ("Llama3-Aloe-8B-Alpha", "Meta-Llama-3-8B-Instruct"),
    ("Llama3-OpenBioLLM-70B", "Meta-Llama-3-70B-Instruct"),
)

# Base family of each paper model (the plot's colour); other names go through FAMILY_PATTERNS.
PAPER_FAMILIES: dict[str, str] = {
    "llama2-7b": "Llama-2", "meditron-7b": "Llama-2", "llama2-7b-hf": "Llama-2",
    "Llama-2-70b": "Llama-2", "meditron-70b": "Llama-2", "ClinicalCamel-70B": "Llama-2",
    "Llama-2-70b-chat": "Llama-2",
    "Mistral-7B-v0.1": "Mistral", "internistai/base-7b-v0.2": "Mistral", "BioMistral-7B": "Mistral",
    "BioMistral-7B-DARE": "Mistral", "Mistral-7B-Instruct-v0.1": "Mistral", "zephyr-7b-beta": "Mistral",
    "Mistral-7B-Instruct-v0.2": "Mistral",
    "Meta-Llama-3-8B-Instruct": "Llama-3", "Llama3-OpenBioLLM-8B": "Llama-3", "JSL-Med-Sft-Llama-3-8B": "Llama-3",
    "JSL-MedLlama-3-8B-v1.0": "Llama-3", "JSL-MedLlama-3-8B-v2.0": "Llama-3", "Llama3-Aloe-8B-Alpha": "Llama-3",
    "Meta-Llama-3-70B-Instruct": "Llama-3", "Llama3-OpenBioLLM-70B": "Llama-3",
    "Phi-3-mini-128k-instruct": "Phi-3",
    "Mixtral-8x7B-Instruct-v0.1": "Mixtral", "Mixtral-8x22B-Instruct-v0.1": "Mixtral",
}
FAMILY_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"mixtral", "Mixtral"), (r"mistral|zephyr", "Mistral"), (r"llama[-_ ]?3", "Llama-3"),
    (r"llama[-_ ]?2|meditron", "Llama-2"), (r"phi[-_ ]?3", "Phi-3"), (r"phi", "Phi"),
    (r"gemma", "Gemma"), (r"qwen", "Qwen"), (r"llama", "Llama"),
)


def load_paper(path: Path | None = None) -> list[ModelScores]:
    """The 25 published rows as :class:`ModelScores` (source ``paper``, type bio/general).

    The six CLUE tasks' columns are required; a registered task without columns has no published
    cells (shown as missing), one with only some of its columns is an error."""
    path = Path(path or PAPER_CSV)
    try:
        handle = open(path, encoding="utf-8", newline="")
    except FileNotFoundError:
        raise InputError(f"{path}: published results not found (expected results/paper/clue_v2_results.csv)") from None
    rows = []
    with handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        published = [t for t in TASKS if any(f"{t.name}.{m}" in columns for m in t.metrics)]
        needed = {"model", "type", "level1", "level2"} | {f"{t.name}.{m}" for t in BUILTIN for m in t.metrics}
        needed |= {f"{t.name}.{m}" for t in published for m in t.metrics}   # a task has all its columns or none
        absent = needed - columns
        if absent:
            raise InputError(f"{path}: missing columns {', '.join(sorted(absent))}")
        for number, record in enumerate(reader, start=2):
            metrics: dict[str, dict[str, float | None]] = {}
            for task in published:
                cells = {}
                for metric in task.metrics:
                    text = record[f"{task.name}.{metric}"].strip()
                    try:
                        cells[metric] = float(text) if text else None
                    except ValueError:
                        raise InputError(f"{path}: line {number}: column {task.name}.{metric}: expected a number, found {text!r}") from None
                if any(v is not None for v in cells.values()):
                    metrics[task.id] = cells
            levels = {}
            for level in ("level1", "level2"):
                text = record[level].strip()
                try:
                    levels[level] = float(text) if text else None
                except ValueError:
                    raise InputError(f"{path}: line {number}: column {level}: expected a number, found {text!r}") from None
            rows.append(ModelScores(model=record["model"], source=PAPER_SOURCE, metrics=metrics,
                                    aggregate="published", type=record["type"] or None, published_levels=levels))
    return rows


def parse_aliases(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``MODEL=PAPER_NAME`` strings (the ``--alias`` option) to a dict."""
    aliases = {}
    for value in values:
        model, sep, name = value.partition("=")
        if not sep or not model.strip() or not name.strip():
            raise InputError(f"--alias {value!r}: expected MODEL=PAPER_NAME")
        aliases[model.strip()] = name.strip()
    return aliases


def paper_name(model: str, names: list[str], aliases: dict[str, str] | None = None) -> str | None:
    """The paper model name matching a run's model id, or None (see the module docstring)."""
    for table in (aliases or {}, HUB_ALIASES):
        if model in table and table[model] in names:
            return table[model]
    if model in names:
        return model
    by_lower = {n.lower(): n for n in names}
    last = model.rstrip("/").split("/")[-1].lower()
    return by_lower.get(model.lower()) or by_lower.get(last)


def family(model: str) -> str:
    """Base family of a model (``Llama-3``, ``Mistral``…) for the plot; ``other`` when unknown."""
    name = HUB_ALIASES.get(model, model)
    if name in PAPER_FAMILIES:
        return PAPER_FAMILIES[name]
    for pattern, fam in FAMILY_PATTERNS:
        if re.search(pattern, model, flags=re.IGNORECASE):
            return fam
    return "other"
