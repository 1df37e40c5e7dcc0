"""MedNLI: the test split as published (JSON lines), one record per premise/hypothesis pair."""

from __future__ import annotations

from clue.data.recipes.readers import json_lines, require_fields
from clue.errors import InputError

TASK = "mednli"
VERSION = "1"
SOURCES = ("mednli_test",)
LABELS = ("entailment", "neutral", "contradiction")


def read(path) -> list[dict]:
    records, seen = [], set()
    for line, row in json_lines(path):
        require_fields(path, f"line {line}", row, ("pairID", "gold_label", "sentence1", "sentence2"))
        if row["gold_label"] not in LABELS:
            raise InputError(f"{path}: line {line}: gold_label {row['gold_label']!r}, expected one of {', '.join(LABELS)}")
        pair_id = str(row["pairID"])
        if pair_id in seen:
            raise InputError(f"{path}: line {line}: pairID {pair_id} appears twice")
        seen.add(pair_id)
        records.append({"id": pair_id, "sentence1": row["sentence1"], "sentence2": row["sentence2"],
                        "gold_label": row["gold_label"]})
    return records


def build(inputs, progress: bool = False) -> list[dict]:
    return read(inputs.file("mednli_test"))
