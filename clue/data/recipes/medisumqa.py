"""MeDiSumQA: question-answer pairs on discharge notes, from the PhysioNet release (v1.0.0).

The release's file names and fields are not confirmed, so the release folder is searched for a JSON
array, JSON-lines or CSV file whose records have ``note_id``, ``Question`` and ``Answer`` (any case)
and maybe the note text. Without note text, ``note_id`` is joined to the MIMIC-IV-Note discharge
notes and the patient-facing instructions are removed: the note is split into paragraphs on
``\\n\\s*\\n\\s*\\n``, each paragraph is stripped of surrounding whitespace, every paragraph starting (any
case) with "discharge instructions" is dropped, and the rest is joined with a blank line (the paper-era
preparation, ``data/MeDiSumQA/utils.py`` at the pinned commit; recipe version 2, version 1 kept the
whitespace around each paragraph). Those instructions contain the answers, so a release whose
note text still holds that paragraph is refused.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from clue.data.recipes.readers import _read_errors, index_csv, json_document, json_lines, match_columns, open_text
from clue.errors import InputError

TASK = "medisumqa"
VERSION = "2"                     # 2: paragraphs stripped before joining, as the original
SOURCES = ("medisumqa",)          # the discharge notes are needed only when the release lacks the text
OPTIONAL_SOURCES = ("discharge",)

PARAGRAPH_BREAK = re.compile(r"\n\s*\n\s*\n")
SUFFIXES = (".json", ".jsonl", ".csv", ".json.gz", ".jsonl.gz", ".csv.gz")
FIELDS = {"note_id": ("note_id", "noteid", "note id"), "Question": ("question",), "Answer": ("answer",)}
TEXT_FIELDS = ("discharge_summary", "without_discharge_summary", "note_text", "text")


def _is_instructions(paragraph: str) -> bool:
    return paragraph.lower().startswith("discharge instructions")


def paragraphs(note: str) -> list[str]:
    """The note split on two or more blank-ish lines, each paragraph stripped (as the original)."""
    return [p.strip() for p in PARAGRAPH_BREAK.split(note)]


def remove_discharge_instructions(note: str) -> str:
    return "\n\n".join(p for p in paragraphs(note) if not _is_instructions(p))


def has_discharge_instructions(note: str) -> bool:
    return any(_is_instructions(p) for p in paragraphs(note))


def _load_records(path: Path) -> list[tuple[str, dict]]:
    """(where, record) pairs of a release file, whatever its container."""
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return [(f"line {n}", r) for n, r in json_lines(path)]
    if name.endswith((".csv", ".csv.gz")):
        with _read_errors(path, "reading", "csv"), open_text(path) as handle:
            return [(f"row {n}", r) for n, r in enumerate(csv.DictReader(handle), start=1)]
    document = json_document(path)
    if isinstance(document, dict):  # {"data": [...]} or similar: the one list inside
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise InputError(f"{path}: expected a JSON array of records, found an object with keys {', '.join(document)}")
        document = lists[0]
    if not isinstance(document, list) or not all(isinstance(r, dict) for r in document):
        raise InputError(f"{path}: expected a JSON array of objects")
    return [(f"record {n}", r) for n, r in enumerate(document, start=1)]


def _field_map(path: Path, record: dict) -> tuple[dict[str, str], str | None]:
    lowered = {str(k).strip().lower(): k for k in record}
    mapping = {}
    for field, spellings in FIELDS.items():
        hit = next((lowered[s] for s in spellings if s in lowered), None)
        if hit is None:
            raise InputError(f"{path}: no field {field!r}; expected note_id, Question, Answer "
                             f"(and maybe discharge_summary), found {', '.join(map(str, record)) or 'none'}")
        mapping[field] = hit
    text = next((lowered[s] for s in TEXT_FIELDS if s in lowered), None)
    return mapping, text


def release_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))


def find_release_file(folder: Path) -> Path:
    """The one file in the release folder whose records fit; errors list what was found."""
    candidates = release_files(folder)
    if not candidates:
        found = sorted(p.name for p in Path(folder).iterdir()) if Path(folder).is_dir() else []
        raise InputError(f"{folder}: no JSON, JSON-lines or CSV file with MeDiSumQA records; found {', '.join(found) or 'nothing'}")
    fitting, reasons = [], []
    for candidate in candidates:
        try:
            records = _load_records(candidate)
            if records:
                _field_map(candidate, records[0][1])
                fitting.append(candidate)
            else:
                reasons.append(f"{candidate.name}: no records")
        except InputError as exc:
            reasons.append(str(exc))
    if len(fitting) == 1:
        return fitting[0]
    if not fitting:
        raise InputError(f"{folder}: no file fits the MeDiSumQA format: {'; '.join(reasons)}")
    raise InputError(f"{folder}: several files fit the MeDiSumQA format ({', '.join(p.name for p in fitting)}); "
                     "keep only the release's test file there")


def read_release(path: Path) -> list[dict]:
    """Records ``{note_id, Question, Answer, discharge_summary (or None)}`` in file order."""
    rows = _load_records(path)
    if not rows:
        raise InputError(f"{path}: no records")
    mapping, text_field = _field_map(path, rows[0][1])
    out = []
    for where, row in rows:
        item = {}
        for field, key in mapping.items():
            value = row.get(key)
            if value is None or not str(value).strip():
                raise InputError(f"{path}: {where}: empty {key!r}")
            item[field] = str(value).strip() if field == "note_id" else str(value)
        text = row.get(text_field) if text_field else None
        if text is not None and has_discharge_instructions(str(text)):
            raise InputError(f"{path}: {where} (note {item['note_id']}): '{text_field}' still contains the "
                             "Discharge Instructions paragraph, which holds the answers; refusing a leaking test set")
        item["discharge_summary"] = None if text is None or not str(text).strip() else str(text)
        item["where"] = where
        out.append(item)
    return out


def notes_by_id(discharge: Path, note_ids: set[str], progress: bool = False) -> dict[str, str]:
    """Full text of the given notes, read from the discharge CSV without holding the others."""
    index = index_csv(discharge, progress=progress, keys=True)
    cols = match_columns(discharge, index.header, {"note_id": (), "text": ()})
    rows = [k - 1 for k, key in enumerate(index.keys or []) if k > 0 and key in note_ids]
    fetched = index.fetch(rows, progress=progress)
    return {fields[cols["note_id"]]: fields[cols["text"]] for fields in fetched.values()}


def build_records(release: Path, discharge: Path | None = None, progress: bool = False) -> list[dict]:
    items = read_release(release)
    missing_text = {i["note_id"] for i in items if i["discharge_summary"] is None}
    notes: dict[str, str] = {}
    if missing_text:
        if discharge is None:
            raise InputError(f"{release}: records without note text need the discharge notes (mimic-iv-note 2.2)")
        notes = notes_by_id(discharge, missing_text, progress=progress)
    records, per_note = [], {}
    for item in items:
        text = item["discharge_summary"]
        if text is None:
            if item["note_id"] not in notes:
                raise InputError(f"{release}: {item['where']}: note_id {item['note_id']} is not in {discharge}")
            text = remove_discharge_instructions(notes[item["note_id"]])
        k = per_note.get(item["note_id"], 0)
        per_note[item["note_id"]] = k + 1
        records.append({"id": f"{item['note_id']}/q{k}", "note_id": item["note_id"], "discharge_summary": text,
                        "Question": item["Question"], "Answer": item["Answer"]})
    return records


def build(inputs, progress: bool = False) -> list[dict]:
    release = inputs.verified("medisumqa", find_release_file(inputs.locate("medisumqa")))
    items_need_notes = any(i["discharge_summary"] is None for i in read_release(release))
    discharge = inputs.file("discharge") if items_need_notes else None
    return build_records(release, discharge, progress=progress)
