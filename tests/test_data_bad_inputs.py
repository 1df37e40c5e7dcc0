"""Bad inputs: each gets a one-line error naming the file, row or field, and nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from clue.commands.data import data as data_group
from clue.data import build as build_module
from clue.data import synthetic
from clue.data.build import build
from clue.data.recipes import longhealth, medisumcode, medisumqa, mednli, meqsum, problem_summary
from clue.errors import ChecksumError, InputError, NotReadyError

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def raw(tmp_path) -> Path:
    root = tmp_path / "raw"
    synthetic.write_all(root, seed=7, scale=0.2)
    return root


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


def test_missing_file_names_the_physionet_project(tmp_path):
    with pytest.raises(NotReadyError) as caught:
        build(["mednli"], raw_dir=tmp_path, out_dir=tmp_path / "data")
    message = one_line(caught)
    assert "mednli/1.0.0/mli_test_v1.jsonl" in message
    assert "PhysioNet project mednli version 1.0.0" in message and "https://physionet.org/files/mednli/1.0.0/" in message
    assert "credentialed" in message
    assert not (tmp_path / "data").exists()


def test_checksum_mismatch_and_allow_unverified(raw, tmp_path):
    target = raw / "mednli/1.0.0/mli_test_v1.jsonl"
    target.write_text(target.read_text() + "\n")  # a changed file no longer matches SHA256SUMS.txt
    with pytest.raises(ChecksumError) as caught:
        build(["mednli"], raw_dir=raw, out_dir=tmp_path / "data", params={})
    message = one_line(caught)
    assert str(target) in message and "expected" in message and "got" in message
    assert not (tmp_path / "data" / "mednli").exists()

    build(["mednli"], raw_dir=raw, out_dir=tmp_path / "data", allow_unverified=True)
    entry = json.loads((tmp_path / "data/mednli/manifest.json").read_text())["inputs"]["mednli_test"]
    assert entry["verified"] is False and entry["expected_sha256"] != entry["sha256"]


def test_no_expected_hash_needs_allow_unverified(raw, tmp_path):
    (raw / "longhealth/benchmark_v5.json.sha256").unlink()
    with pytest.raises(ChecksumError, match=r"benchmark_v5\.json: no expected sha256.*--allow-unverified"):
        build(["longhealth"], raw_dir=raw, out_dir=tmp_path)
    build(["longhealth"], raw_dir=raw, out_dir=tmp_path, allow_unverified=True)
    entry = json.loads((tmp_path / "longhealth/manifest.json").read_text())["inputs"]["longhealth"]
    assert entry["verified"] is False and "sha256" in entry["unverified_reason"]


def test_synthetic_meqsum_fails_the_pinned_hash(raw, tmp_path):
    with pytest.raises(ChecksumError, match="expected abedd939"):
        build(["meqsum"], raw_dir=raw, out_dir=tmp_path)


def test_build_rehashes_and_status_reuses_the_cache_only_while_ctime_and_inode_hold(raw, tmp_path, monkeypatch):
    calls = []
    real = build_module.sha256_file
    monkeypatch.setattr(build_module, "sha256_file", lambda p: calls.append(p) or real(p))
    monkeypatch.setattr(build_module, "RACY_S", 0.0)
    target = raw / "mednli/1.0.0/mli_test_v1.jsonl"
    build(["mednli"], raw_dir=raw, out_dir=tmp_path)
    build(["mednli"], raw_dir=raw, out_dir=tmp_path)
    assert calls == [target, target]                      # a build reads every input it vouches for
    assert build_module.cached_sha256(target, raw) == real(target) and len(calls) == 2   # status: from the cache
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))   # same size and mtime, but ctime moves
    build_module.cached_sha256(target, raw)
    assert len(calls) == 3


def test_edit_with_size_and_mtime_kept_never_builds_as_verified(raw, tmp_path):
    """Issue 11, item 1: the edit `touch -r` hides from a (size, mtime) cache."""
    target = raw / "mednli/1.0.0/mli_test_v1.jsonl"
    build(["mednli"], raw_dir=raw, out_dir=tmp_path / "data")        # fills the hash cache
    before = {p.name: p.read_bytes() for p in (tmp_path / "data/mednli").iterdir()}
    stat = target.stat()
    data = target.read_bytes()
    at = data.index(b'"sentence1"') + len(b'"sentence1": "') + 1      # a letter inside the first premise
    target.write_bytes(data[:at] + (b"X" if data[at:at + 1] != b"X" else b"Y") + data[at + 1:])
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert target.stat().st_size == stat.st_size and target.stat().st_mtime_ns == stat.st_mtime_ns
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        build(["mednli"], raw_dir=raw, out_dir=tmp_path / "data")
    assert {p.name: p.read_bytes() for p in (tmp_path / "data/mednli").iterdir()} == before
    build(["mednli"], raw_dir=raw, out_dir=tmp_path / "data", allow_unverified=True)
    entry = json.loads((tmp_path / "data/mednli/manifest.json").read_text())["inputs"]["mednli_test"]
    assert entry["verified"] is False and entry["sha256"] == build_module.sha256_file(target)


def test_renamed_columns_list_expected_and_found(tmp_path):
    path = tmp_path / "ps.csv"
    path.write_text("File ID,Subjective,Objectives,Assessment,Summary\n1,a,b,c,d\n")
    with pytest.raises(InputError) as caught:
        problem_summary.read(path)
    message = one_line(caught)
    assert "Subjectives or Subjective Sections" in message and "found File ID, Subjective" in message

    diagnoses = tmp_path / "diagnoses_icd.csv"
    diagnoses.write_text("subject_id,hadm_id,seq_num,icd_code,version\n1,2,1,0389,9\n")
    with pytest.raises(InputError, match="missing column.*icd_version.*found subject_id, hadm_id"):
        medisumcode.read_diagnoses(diagnoses, {"2"})


def test_truncated_gzip_is_named(raw, tmp_path):
    discharge = raw / "mimic-iv-note/2.2/note/discharge.csv.gz"
    data = discharge.read_bytes()
    discharge.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError) as caught:
        medisumcode.select_notes(discharge, raw / "mimiciv/2.2/hosp/diagnoses_icd.csv.gz", n=5)
    assert "truncated gzip" in one_line(caught) and str(discharge) in str(caught.value)

    diagnoses = raw / "mimiciv/2.2/hosp/diagnoses_icd.csv.gz"
    data = diagnoses.read_bytes()
    diagnoses.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated gzip"):
        medisumcode.read_diagnoses(diagnoses, {"1"})
    # through the build, with checks bypassed, nothing is written
    with pytest.raises(InputError, match="truncated gzip"):
        build(["medisumcode"], raw_dir=raw, out_dir=tmp_path / "data", allow_unverified=True, params={"medisumcode": {"n": 5}})
    assert not (tmp_path / "data" / "medisumcode").exists()


def test_invalid_json_line_gives_its_number(tmp_path):
    path = tmp_path / "mli_test_v1.jsonl"
    good = {"pairID": "a", "gold_label": "neutral", "sentence1": "x", "sentence2": "y"}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "pairID": "b"}) + "\n{not json\n")
    with pytest.raises(InputError) as caught:
        mednli.read(path)
    assert "line 3: invalid JSON" in one_line(caught)
    path.write_text(json.dumps({**good, "gold_label": "maybe"}) + "\n")
    with pytest.raises(InputError, match="line 1: gold_label 'maybe'"):
        mednli.read(path)


def test_xlsx_without_sheet_or_columns(tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "Sheet1"
    book.active.append(("File", "CHQ", "Summary"))
    book.save(tmp_path / "wrong_sheet.xlsx")
    with pytest.raises(InputError) as caught:
        meqsum.read(tmp_path / "wrong_sheet.xlsx")
    assert "no sheet 'QS'; found sheets Sheet1" in one_line(caught)

    book = Workbook()
    book.active.title = "QS"
    book.active.append(("File", "Question", "Summary"))
    book.save(tmp_path / "wrong_columns.xlsx")
    with pytest.raises(InputError, match="missing column.*CHQ.*found File, Question, Summary"):
        meqsum.read(tmp_path / "wrong_columns.xlsx")

    (tmp_path / "not.xlsx").write_text("plain text")
    with pytest.raises(InputError, match="not a readable xlsx workbook"):
        meqsum.read(tmp_path / "not.xlsx")


def test_empty_fields_the_tasks_need(tmp_path):
    path = tmp_path / "mli.jsonl"
    path.write_text(json.dumps({"pairID": "a", "gold_label": "neutral", "sentence1": "x", "sentence2": " "}) + "\n")
    with pytest.raises(InputError, match="line 1: empty field.*sentence2"):
        mednli.read(path)

    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "QS"
    book.active.append(("File", "CHQ", "Summary"))
    book.active.append(("1.xml", "a question", None))
    book.save(tmp_path / "meqsum.xlsx")
    with pytest.raises(InputError, match="row 2: empty 'Summary'"):
        meqsum.read(tmp_path / "meqsum.xlsx")

    ps = tmp_path / "ps.csv"
    ps.write_text("File ID,Subjectives,Objectives,Assessment,Summary\n1,a,b,,d\n")
    with pytest.raises(InputError, match="row 1: empty 'Assessment'"):
        problem_summary.read(ps)

    notes = tmp_path / "discharge.csv"
    notes.write_text("note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text\n1-DS-1,1,2,DS,1,t,t,\"\"\n")
    (tmp_path / "d.csv").write_text("subject_id,hadm_id,seq_num,icd_code,icd_version\n")
    with pytest.raises(InputError, match="row 1 .note 1-DS-1.: empty text"):
        medisumcode.select_notes(notes, tmp_path / "d.csv", n=1)

    document = {"patient_01": {"name": "A", "birthday": "x", "diagnosis": "y", "texts": {"text_0": "t"},
                               "questions": [{"question": "q", "correct": "a"}]}}
    (tmp_path / "lh.json").write_text(json.dumps(document))
    with pytest.raises(InputError, match="patient patient_01, question 0: missing field.*answer_a"):
        longhealth.read(tmp_path / "lh.json")


def test_medisumqa_release_that_fits_no_format(tmp_path):
    folder = tmp_path / "medisumqa"
    folder.mkdir()
    (folder / "qa.json").write_text(json.dumps([{"id": 1, "query": "q", "response": "a"}]))
    with pytest.raises(InputError) as caught:
        medisumqa.find_release_file(folder)
    assert "no field 'note_id'" in one_line(caught) and "found id, query, response" in str(caught.value)


def test_medisumqa_note_missing_from_discharge(raw):
    notes = synthetic.read_notes(raw / "mimic-iv-note/2.2/note/discharge.csv.gz")
    release = synthetic.write_medisumqa(raw / "other", {"999-DS-9": "x", **notes}, n=40, seed=1)
    with pytest.raises(InputError, match="note_id 999-DS-9 is not in"):
        medisumqa.build_records(release, raw / "mimic-iv-note/2.2/note/discharge.csv.gz")


def test_verify_reports_a_differing_fingerprint(raw, tmp_path):
    build(["mednli"], raw_dir=raw, out_dir=tmp_path / "data")
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"fingerprints": {"mednli": {"sha256": "0" * 64, "rows": 4, "recipe_version": "1"}}}))
    result = CliRunner().invoke(data_group, ["verify", "--out-dir", str(tmp_path / "data"), "--lock", str(lock)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ChecksumError) and "mednli (differs, expected 0000" in str(result.exception)
    assert "differs" in result.output and "not built" in result.output

    digest = json.loads((tmp_path / "data/mednli/manifest.json").read_text())["sha256"]
    lock.write_text(json.dumps({"fingerprints": {"mednli": {"sha256": digest, "rows": 4, "recipe_version": "1"}}}))
    result = CliRunner().invoke(data_group, ["verify", "--out-dir", str(tmp_path / "data"), "--lock", str(lock)])
    assert result.exit_code == 0, result.output
    assert "matches" in result.output


def test_status_lists_sources_and_sets(raw, tmp_path):
    (raw / "mednli/1.0.0/mli_test_v1.jsonl").unlink()
    build(["problem_summary"], raw_dir=raw, out_dir=tmp_path / "data")
    result = CliRunner().invoke(data_group, ["status", "--raw-dir", str(raw), "--out-dir", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    source_table, set_table = result.output.split("\n\n")
    lines = {line.split()[0]: line for line in source_table.splitlines()}
    assert "missing" in lines["mednli_test"] and "PhysioNet mednli 1.0.0 (credentialed)" in lines["mednli_test"]
    assert "verified" in lines["problem_summary_test"]
    assert "sha256 differs" in lines["meqsum"]  # synthetic workbook vs the pinned hash
    lines = {line.split()[0]: line for line in set_table.splitlines()}
    assert lines["problem_summary"].split()[1] == "3"
    assert "not built" in lines["medisumcode"]


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import clue.io, clue.data.build as b

    real = clue.io.atomic_write
    import contextlib

    @contextlib.contextmanager
    def slow_atomic_write(path, mode="w", encoding="utf-8"):
        with real(path, mode, encoding) as handle:
            class Slow:
                def write(self, data):
                    handle.write(data[: len(data) // 2])
                    handle.flush()
                    print("HALF-WRITTEN", flush=True)
                    time.sleep(60)
                    handle.write(data[len(data) // 2:])
            yield Slow() if "b" in mode else handle

    b.atomic_write = slow_atomic_write
    b.build(["problem_summary"], raw_dir=Path(sys.argv[1]), out_dir=Path(sys.argv[2]))
""")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_build_leaves_previous_outputs(raw, tmp_path, signum):
    out = tmp_path / "data"
    build(["problem_summary"], raw_dir=raw, out_dir=out)
    before = {p.name: p.read_bytes() for p in (out / "problem_summary").iterdir()}
    # new source contents, so that a finished build would change the outputs
    synthetic.write_problem_summary(raw / "bionlp-workshop-2023-task-1a/2.0.0/BioNLP2023-1A-Test.csv", n=9, seed=99)
    synthetic.write_sha256sums(raw / "bionlp-workshop-2023-task-1a/2.0.0",
                               [raw / "bionlp-workshop-2023-task-1a/2.0.0/BioNLP2023-1A-Test.csv"])
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen([sys.executable, str(script), str(raw), str(out)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=PROJECT, text=True)
    try:
        assert child.stdout.readline().strip() == "HALF-WRITTEN"
        temporary = [p for p in (out / "problem_summary").iterdir() if p.name.endswith(".tmp")]
        assert temporary  # the new outputs exist only under temporary names
        child.send_signal(signum)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode != 0
    after = {p.name: p.read_bytes() for p in (out / "problem_summary").iterdir() if not p.name.endswith(".tmp")}
    assert after == before
    leftovers = [p for p in (out / "problem_summary").iterdir() if p.name.endswith(".tmp")]
    if signum != signal.SIGKILL:  # a catchable signal also removes the temporary files
        assert leftovers == []
    # and the next build completes normally, sweeping what a SIGKILL left behind
    build(["problem_summary"], raw_dir=raw, out_dir=out)
    assert len((out / "problem_summary/test.jsonl").read_text().splitlines()) == 9
    assert sorted(p.name for p in (out / "problem_summary").iterdir()) == ["manifest.json", "test.jsonl"]
