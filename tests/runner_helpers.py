"""Shared set-up for the runner, backend and demo tests: tiny models, test sets, stand-in protocols.

Test sets are written directly in the record formats of docs/INTERNALS.md (small, synthetic,
written here); the protocols ``paper`` and ``upstream`` are stand-ins built from the kit's own
demo prompt files, so no upstream prompt text is involved.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from clue.io import write_jsonl

WORDS = ("patient", "chest", "pain", "fever", "cough", "kidney", "heart", "failure", "daily", "dose",
         "admitted", "treated", "denies", "reports", "blood", "pressure", "stable", "improving")


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def write_test_sets(data_dir: Path, n: int = 8, seed: int = 0, long_texts: int = 0) -> Path:
    """Write data/<task>/test.jsonl for the six tasks (``long_texts``: extra sentences per LongHealth text)."""
    rng = random.Random(seed)
    labels = ("entailment", "contradiction", "neutral")
    write_jsonl(data_dir / "mednli" / "test.jsonl", [
        {"id": f"m{i}", "sentence1": _sentence(rng, 8), "sentence2": _sentence(rng, 5), "gold_label": labels[i % 3]}
        for i in range(n)])
    write_jsonl(data_dir / "meqsum" / "test.jsonl", [
        {"id": f"q{i}", "CHQ": _sentence(rng, 20), "Summary": _sentence(rng, 6)} for i in range(n)])
    write_jsonl(data_dir / "problem_summary" / "test.jsonl", [
        {"id": f"p{i}", "Subjectives": _sentence(rng, 15), "Objectives": _sentence(rng, 10),
         "Assessment": _sentence(rng, 12), "Summary": "heart failure; fever"} for i in range(n)])
    write_jsonl(data_dir / "medisumqa" / "test.jsonl", [
        {"id": f"a{i}", "note_id": f"n{i}", "discharge_summary": " ".join(_sentence(rng, 12) for _ in range(4)),
         "Question": _sentence(rng, 6) + "?", "Answer": _sentence(rng, 8)} for i in range(n)])
    write_jsonl(data_dir / "medisumcode" / "test.jsonl", [
        {"id": str(100 + i), "hadm_id": 100 + i, "text": " ".join(_sentence(rng, 12) for _ in range(3)),
         "icd_codes": [{"code": "I509", "description": "Heart failure"}, {"code": "E119", "description": "Diabetes"}]}
        for i in range(n)])
    records = []
    n_patients = 3
    for p in range(n_patients):
        texts = {f"text_{t}": " ".join(_sentence(rng, 10) for _ in range(2 + long_texts)) for t in range(3)}
        for q in range(max(1, n // n_patients)):
            records.append({
                "id": f"patient_{p:02d}/q{q:02d}", "patient_id": f"patient_{p:02d}", "question_index": q,
                "question": _sentence(rng, 6) + "?", **{f"answer_{c}": _sentence(rng, 3) for c in "abcde"},
                "correct": "", "answer_location": ["text_1"], "texts": texts, "name": f"Patient {p}",
                "birthday": "1950-01-01", "diagnosis": "heart failure"})
            records[-1]["correct"] = records[-1]["answer_c"]
    write_jsonl(data_dir / "longhealth" / "test.jsonl", records)
    return data_dir


def write_protocols(protocol_dir: Path) -> Path:
    """protocol/demo.json, and stand-in paper.json / upstream.json carrying the demo prompts."""
    from clue.protocol.fetch import DEMO_DIR, fetch_protocol, load_pins

    fetch_protocol("demo", protocol_dir=protocol_dir)
    files = load_pins()["task_files"].values()
    hashes = {rel: hashlib.sha256((DEMO_DIR / rel).read_bytes()).hexdigest() for rel in files}
    for name in ("paper", "upstream"):
        fetch_protocol(name, protocol_dir=protocol_dir, from_dir=DEMO_DIR, expected_sha256=hashes)
    return protocol_dir


def read_scores(task_dir: Path) -> dict:
    return json.loads((task_dir / "scores.json").read_text(encoding="utf-8"))
