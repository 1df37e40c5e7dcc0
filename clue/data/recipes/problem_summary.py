"""Problem List Summarization (BioNLP 2023 task 1A): the test CSV as published.

The test file spells its columns ``Subjectives``/``Objectives``, the train file ``Subjective
Sections``/``Objective Sections``; both are accepted and stored under the test spelling.
``Summary`` is kept raw (turning ``;`` into ``", "`` is the task's gold rule, not the data's).
"""

from __future__ import annotations

from clue.data.recipes.readers import csv_rows
from clue.errors import InputError

TASK = "problem_summary"
VERSION = "1"
SOURCES = ("problem_summary_test",)
COLUMNS = {
    "File ID": (),
    "Subjectives": ("Subjective Sections",),
    "Objectives": ("Objective Sections",),
    "Assessment": (),
    "Summary": (),
}
REQUIRED = ("File ID", "Assessment", "Summary")


def read(path) -> list[dict]:
    records, seen = [], set()
    for row_number, row in csv_rows(path, COLUMNS, required=REQUIRED):
        file_id = row["File ID"].strip()
        if file_id in seen:
            raise InputError(f"{path}: row {row_number}: File ID {file_id} appears twice")
        seen.add(file_id)
        records.append({"id": file_id, **{c: row[c] for c in ("Subjectives", "Objectives", "Assessment", "Summary")}})
    return records


def build(inputs, progress: bool = False) -> list[dict]:
    return read(inputs.file("problem_summary_test"))
