"""MeQSum: the published workbook (sheet ``QS``: File, CHQ, Summary), one record per question."""

from __future__ import annotations

from clue.data.recipes.readers import xlsx_rows
from clue.errors import InputError

TASK = "meqsum"
VERSION = "1"
SOURCES = ("meqsum",)
SHEET = "QS"
COLUMNS = ("File", "CHQ", "Summary")


def read(path) -> list[dict]:
    records, seen = [], set()
    for row_number, row in xlsx_rows(path, SHEET, COLUMNS):
        for column in COLUMNS:
            if not row[column].strip():
                raise InputError(f"{path}: sheet {SHEET}, row {row_number}: empty {column!r}")
        file_id = row["File"].strip()
        if file_id in seen:
            raise InputError(f"{path}: sheet {SHEET}, row {row_number}: File {file_id} appears twice")
        seen.add(file_id)
        records.append({"id": file_id, "CHQ": row["CHQ"], "Summary": row["Summary"]})
    return records


def build(inputs, progress: bool = False) -> list[dict]:
    return read(inputs.file("meqsum"))
