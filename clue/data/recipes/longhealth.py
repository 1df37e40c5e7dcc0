"""LongHealth: one record per question, carrying its patient's documents.

The file is a JSON object of patients (``patient_01`` …), each with ``name``, ``birthday``,
``diagnosis``, ``texts`` and 20 multiple-choice ``questions``. Strings are copied untouched (the
file's canary included). Top-level entries that are not patients are ignored.
"""

from __future__ import annotations

from clue.data.recipes.readers import json_document, require_fields
from clue.errors import InputError

TASK = "longhealth"
VERSION = "1"
SOURCES = ("longhealth",)
PATIENT_FIELDS = ("name", "birthday", "diagnosis", "texts", "questions")
QUESTION_FIELDS = ("question", "answer_a", "answer_b", "answer_c", "answer_d", "answer_e", "correct", "answer_location")


def read(path) -> list[dict]:
    document = json_document(path)
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object of patients, found {type(document).__name__}")
    records = []
    for patient_id, patient in document.items():
        if not (isinstance(patient, dict) and "questions" in patient):
            continue
        require_fields(path, f"patient {patient_id}", patient, PATIENT_FIELDS)
        texts = patient["texts"]
        if not isinstance(texts, dict) or not texts:
            raise InputError(f"{path}: patient {patient_id}: 'texts' must be a non-empty object of documents")
        if not isinstance(patient["questions"], list):
            raise InputError(f"{path}: patient {patient_id}: 'questions' must be a list of question objects")
        for index, question in enumerate(patient["questions"]):
            where = f"patient {patient_id}, question {index}"
            if not isinstance(question, dict):
                raise InputError(f"{path}: {where}: expected an object with {', '.join(QUESTION_FIELDS)}")
            require_fields(path, where, question, QUESTION_FIELDS)
            for name in QUESTION_FIELDS[:-1]:
                if not isinstance(question[name], str):
                    raise InputError(f"{path}: {where}: field {name!r} is {str(question[name])[:40]!r} "
                                     f"({type(question[name]).__name__}), expected text")
            options = [question[f"answer_{letter}"] for letter in "abcde"]
            if question["correct"] not in options:
                raise InputError(f"{path}: patient {patient_id}, question {index}: 'correct' is none of answer_a..answer_e")
            records.append({
                "id": f"{patient_id}/q{index:02d}", "patient_id": patient_id, "question_index": index,
                **{field: question[field] for field in QUESTION_FIELDS},
                "texts": texts, "name": patient["name"], "birthday": patient["birthday"],
                "diagnosis": patient["diagnosis"],
            })
    if not records:
        raise InputError(f"{path}: no patients with questions found (expected keys like patient_01)")
    return records


def build(inputs, progress: bool = False) -> list[dict]:
    return read(inputs.file("longhealth"))
