"""Bad inputs: each gets a one-line error naming the file, row or field, and nothing half-written.

The library-level cases come first; the table at the end runs every case (these included) through the
`clue` command line."""

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
from clue.demo import synthetic
from clue.data.build import build
from clue.data.recipes import longhealth, medisumcode, medisumqa, mednli, meqsum, problem_summary
from clue.errors import ChecksumError, InputError

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


# ==========================================================================================
# The bad-input table (issue 11): one row per case. Each row corrupts a copy of a complete
# workspace (raw files, built test sets, protocols, a finished run, an assets folder), runs one
# `clue` command in-process, and checks: the exit status, the words the message must contain,
# no traceback, one "Error:" line at most, no temporary file left, and every output that existed
# before the command byte for byte as it was (unless the row expects the command to succeed).
# ==========================================================================================

import shutil  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable  # noqa: E402

from clue.cli import main as clue_main  # noqa: E402

MEDNLI = "raw/mednli/1.0.0/mli_test_v1.jsonl"
PS_CSV = "raw/bionlp-workshop-2023-task-1a/2.0.0/BioNLP2023-1A-Test.csv"
LH = "raw/longhealth/benchmark_v5.json"
def _run_args(protocol: str = "paper", run: str = "r") -> list[str]:
    return ["--model", "baseline", "--protocol", protocol, "--protocol-dir", "{ws}/protocol", "--data-dir", "{ws}/data",
            "--results-dir", "{ws}/results", "--run", run, "--tasks", "mednli", "--limit", "2",
            "--metrics", "all,-bertscore,-umls", "--no-progress"]


RUN_ARGS = _run_args()


SCORE_ARGS = ["score", "{ws}/results/r", "--data-dir", "{ws}/data", "--protocol-dir", "{ws}/protocol"]


def _build_args(task: str, *extra: str) -> list[str]:
    return ["data", "build", "--task", task, "--raw-dir", "{ws}/raw", "--data-dir", "{ws}/data", "--no-progress", *extra]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """raw/ (synthetic, with 9 Problem Summary rows), data/ (all six built), protocol/, results/r (a baseline run
    on MedNLI), assets/ (empty)."""
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).parent))
    from runner_helpers import write_protocols

    ws = tmp_path_factory.mktemp("bad-inputs")
    synthetic.write_all(ws / "raw", seed=7, scale=0.2)
    synthetic.write_problem_summary(ws / PS_CSV, n=9, seed=3)
    synthetic.write_sha256sums((ws / PS_CSV).parent, [ws / PS_CSV])
    build(None, raw_dir=ws / "raw", out_dir=ws / "data", allow_unverified=True, params={"medisumcode": {"n": 5}})
    write_protocols(ws / "protocol")
    (ws / "assets").mkdir()
    clue_main([a.replace("{ws}", str(ws)) for a in ["evaluate", *RUN_ARGS]])   # returns on success
    assert (ws / "results/r/baseline/mednli/scores.json").is_file()
    return ws


def _snapshot(ws: Path) -> dict[str, bytes]:
    skip = (".run.lock", "store.sqlite-wal", "store.sqlite-shm", ".clue-hashes.json")
    return {str(p.relative_to(ws)): p.read_bytes() for p in sorted(ws.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name not in skip and "raw" not in p.relative_to(ws).parts[:1]}


def _leftovers(ws: Path) -> list[str]:
    return [str(p) for p in ws.rglob("*") if p.name.endswith((".tmp", ".part", ".incoming"))]


# ----- corruptions (each returns nothing; it edits the workspace copy)

def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def _resum(ws: Path, rel: str) -> None:
    synthetic.write_sha256sums((ws / rel).parent, [ws / rel])


def _keep_size_and_mtime_edit(ws: Path) -> None:
    build(["mednli"], raw_dir=ws / "raw", out_dir=ws / "data")    # hashes the file at this path first
    target = ws / MEDNLI
    stat, data = target.stat(), target.read_bytes()
    at = data.index(b'"sentence1"') + len(b'"sentence1": "') + 1
    target.write_bytes(data[:at] + (b"X" if data[at:at + 1] != b"X" else b"Y") + data[at + 1:])
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def _latin1_in_csv_row7(ws: Path) -> None:
    path = ws / PS_CSV
    lines = path.read_bytes().split(b"\n")
    import csv as _csv
    import io as _io

    rows = list(_csv.reader(_io.StringIO(path.read_text(encoding="utf-8"), newline="")))
    assert len(rows) >= 8
    text = path.read_bytes()
    marker = rows[7][0].encode()          # data row 7's File ID: the first field of its first line
    at = text.index(b"\n" + marker + b",") + 1 + len(marker) + 1
    path.write_bytes(text[:at] + b"\xe9" + text[at:])
    _resum(ws, PS_CSV)
    del lines


def _bad_byte_on_line3(ws: Path, rel: str) -> None:
    path = ws / rel
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"', b'"\xff', 1)
    path.write_bytes(b"\n".join(lines))


def _protocol_edit(ws: Path) -> None:
    _edit_json(ws / "protocol/paper.json",
               lambda d: d["tasks"]["mednli"].update(sys_prompt=d["tasks"]["mednli"]["sys_prompt"] + " Be brief."))


def _protocol_edit_everywhere(ws: Path) -> None:
    """Prompt, recorded hashes and the kept upstream copy all edited consistently (the demo protocol: its
    pins are the kit's own; the stand-in paper protocol was fetched with overridden pins)."""
    import hashlib

    from clue.protocol.fetch import prompts_digest

    copy = ws / "protocol/demo.upstream/eval/eval_mednli.py"
    copy.write_text(copy.read_text(encoding="utf-8") + "\nsys_prompt = 'Answer briefly.'\n", encoding="utf-8")

    def change(document):
        document["tasks"]["mednli"]["sys_prompt"] = "Answer briefly."
        document["files"]["eval/eval_mednli.py"] = hashlib.sha256(copy.read_bytes()).hexdigest()
        document["prompts_sha256"] = prompts_digest(document["tasks"])
    _edit_json(ws / "protocol/demo.json", change)


def _test_set_edit(ws: Path) -> None:
    path = ws / "data/mednli/test.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace("neutral", "contradiction", 1), encoding="utf-8")


def _hold_run(ws: Path):
    from clue.runlock import RunLock

    lock = RunLock()
    lock.hold(ws / "results/r", "test holder")
    return lock


@dataclass(frozen=True)
class Case:
    id: str
    corrupt: Callable[[Path], object]
    args: list[str]
    code: int
    words: tuple[str, ...]
    outputs_kept: bool = True          # False: the command is expected to succeed and write outputs
    may_change: tuple[str, ...] = ()   # outputs a failing command may still update (the run manifest's status)


def _w(text: str) -> Callable[[Path], None]:
    """A corruption given as 'relative/path=<python bytes literal>' ('' deletes the file)."""
    rel, _, literal = text.partition("=")
    def corrupt(ws: Path) -> None:
        path = ws / rel
        if literal == "":
            path.unlink()
        else:
            path.write_bytes(eval(literal))   # noqa: S307 - test table literals only
    return corrupt


def _dir(rel: str) -> Callable[[Path], None]:
    def corrupt(ws: Path) -> None:
        path = ws / rel
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        path.mkdir()
    return corrupt


def _symlink(rel: str, target: str | None) -> Callable[[Path], None]:
    def corrupt(ws: Path) -> None:
        path = ws / rel
        path.unlink()
        os.symlink(target or path.name, path)
    return corrupt


CASES = [
    # --- raw inputs: `clue data build`
    Case("missing raw file", _w(f"{MEDNLI}="), _build_args("mednli"), 1,
         ("mli_test_v1.jsonl", "PhysioNet project mednli version 1.0.0", "credentialed")),
    Case("checksum mismatch", lambda ws: (ws / MEDNLI).write_bytes((ws / MEDNLI).read_bytes() + b"\n"),
         _build_args("mednli"), 1, ("mli_test_v1.jsonl", "sha256 mismatch", "expected", "got")),
    Case("edit with size and mtime kept (touch -r)", _keep_size_and_mtime_edit, _build_args("mednli"), 1,
         ("mli_test_v1.jsonl", "sha256 mismatch")),
    Case("no expected hash (LongHealth record removed)", _w(f"{LH}.sha256="), _build_args("longhealth"), 1,
         ("benchmark_v5.json", "no expected sha256", "--allow-unverified")),
    Case("synthetic MeQSum vs the pinned hash", lambda ws: None, _build_args("meqsum"), 1,
         ("MeQSum_ACL2019", "expected abedd939")),
    Case("renamed CSV column", lambda ws: ((ws / PS_CSV).write_text((ws / PS_CSV).read_text().replace(
        "Subjectives", "Subjective", 1)), _resum(ws, PS_CSV)), _build_args("problem_summary"), 1,
         ("BioNLP2023-1A-Test.csv", "missing column", "Subjectives or Subjective Sections", "found File ID")),
    Case("truncated gzip", lambda ws: (ws / "raw/mimic-iv-note/2.2/note/discharge.csv.gz").write_bytes(
        (ws / "raw/mimic-iv-note/2.2/note/discharge.csv.gz").read_bytes()[:3000]),
         _build_args("medisumcode", "--allow-unverified"), 1, ("discharge.csv.gz", "truncated gzip")),
    Case("invalid JSON line", lambda ws: (ws / MEDNLI).write_bytes((ws / MEDNLI).read_bytes() + b"{not json\n"),
         _build_args("mednli", "--allow-unverified"), 1, ("mli_test_v1.jsonl", "line 5: invalid JSON")),
    Case("unknown gold label", lambda ws: (ws / MEDNLI).write_text((ws / MEDNLI).read_text().replace(
        '"neutral"', '"maybe"', 1)), _build_args("mednli", "--allow-unverified"), 1, ("gold_label 'maybe'", "expected one of")),
    Case("empty field", lambda ws: (ws / MEDNLI).write_text(json.dumps(
        {"pairID": "a", "gold_label": "neutral", "sentence1": "x", "sentence2": " "}) + "\n"),
         _build_args("mednli", "--allow-unverified"), 1, ("mli_test_v1.jsonl", "line 1", "empty field", "sentence2")),
    Case("xlsx that is plain text", _w("raw/meqsum/MeQSum_ACL2019_BenAbacha_Demner-Fushman.xlsx=b'plain text'"),
         _build_args("meqsum", "--allow-unverified"), 1, ("MeQSum_ACL2019", "not a readable xlsx workbook")),
    Case("LongHealth question without answer_a", lambda ws: _edit_json(
        ws / LH, lambda d: d[next(iter(d))]["questions"][0].pop("answer_a")),
         _build_args("longhealth", "--allow-unverified"), 1, ("benchmark_v5.json", "question 0", "missing field", "answer_a")),
    Case("LongHealth question that is a number", lambda ws: _edit_json(
        ws / LH, lambda d: d[next(iter(d))]["questions"][0].update(question=5)),
         _build_args("longhealth", "--allow-unverified"), 1,
         ("benchmark_v5.json", "question 0", "'question'", "expected text")),
    Case("MeDiSumQA release in no known format", lambda ws: [
        p.write_text(json.dumps([{"id": 1, "query": "q", "response": "a"}])) for p in
        (ws / "raw/medisumqa/1.0.0").iterdir() if p.suffix == ".json"], _build_args("medisumqa", "--allow-unverified"), 1,
         ("no field 'note_id'", "found id, query, response")),
    Case("empty MedNLI file", lambda ws: ((ws / MEDNLI).write_bytes(b""), _resum(ws, MEDNLI)), _build_args("mednli"), 1,
         ("mli_test_v1.jsonl", "no mednli records")),
    Case("Latin-1 byte in CSV data row 7", _latin1_in_csv_row7, _build_args("problem_summary"), 1,
         ("BioNLP2023-1A-Test.csv", "row 7", "not UTF-8")),
    Case("non-UTF-8 byte in a JSON-lines file", lambda ws: (_bad_byte_on_line3(ws, MEDNLI), _resum(ws, MEDNLI)),
         _build_args("mednli"), 1, ("mli_test_v1.jsonl", "line 3", "not UTF-8")),
    Case("symlink loop", _symlink(MEDNLI, None), _build_args("mednli"), 1, ("mli_test_v1.jsonl", "symbolic link loop")),
    Case("symlink to nothing", _symlink(MEDNLI, "/nonexistent/mli.jsonl"), _build_args("mednli"), 1,
         ("mli_test_v1.jsonl", "symbolic link to /nonexistent/mli.jsonl", "does not exist")),
    Case("a folder where a raw file is expected", _dir(MEDNLI), _build_args("mednli"), 1,
         ("mli_test_v1.jsonl", "is a folder", "expected the mednli_test file")),
    Case("a file where the task's output folder is expected", lambda ws: (
        shutil.rmtree(ws / "data/mednli"), (ws / "data/mednli").write_text("x")), _build_args("mednli"), 1,
         ("data/mednli", "is a file, expected a folder")),
    Case("SHA256SUMS.txt with a non-UTF-8 byte", _w("raw/mednli/1.0.0/SHA256SUMS.txt=b'\\xff\\xfe junk\\n'"),
         _build_args("mednli"), 1, ("SHA256SUMS.txt", "line 1", "not UTF-8")),
    Case("SHA256SUMS.txt that is a folder", _dir("raw/mednli/1.0.0/SHA256SUMS.txt"), _build_args("mednli"), 1,
         ("SHA256SUMS.txt", "is a folder")),
    Case("SHA256SUMS.txt line without a hash", _w("raw/mednli/1.0.0/SHA256SUMS.txt=b'hello world\\n'"),
         _build_args("mednli"), 1, ("SHA256SUMS.txt", "line 1", "expected '<sha256> <path>'")),
    Case(".sha256 record not UTF-8", _w(f"{LH}.sha256=b'\\xff\\xfe'"), _build_args("longhealth"), 1,
         ("benchmark_v5.json.sha256", "not UTF-8")),
    Case("hash cache holding []", _w("raw/.clue-hashes.json=b'[]'"), _build_args("mednli"), 0,
         (".clue-hashes.json", "rebuilt"), outputs_kept=False),
    Case("hash cache of binary junk", _w("raw/.clue-hashes.json=bytes(range(256))"), _build_args("mednli"), 0,
         (".clue-hashes.json", "rebuilt"), outputs_kept=False),
    Case("status with a folder for SHA256SUMS.txt", _dir("raw/mednli/1.0.0/SHA256SUMS.txt"),
         ["data", "status", "--raw-dir", "{ws}/raw", "--data-dir", "{ws}/data"], 0, ("unusable", "is a folder")),
    # --- protocols, test sets and runs: `clue evaluate`, `clue score`, `clue verify`
    Case("protocol missing user_prompt_template", lambda ws: _edit_json(
        ws / "protocol/paper.json", lambda d: d["tasks"]["mednli"].pop("user_prompt_template")),
         ["evaluate", *RUN_ARGS], 1, ("paper.json", "'mednli'", "user_prompt_template", "missing", "expected text")),
    Case("protocol not UTF-8", lambda ws: (ws / "protocol/paper.json").write_bytes(
        (ws / "protocol/paper.json").read_bytes().replace(b'"name"', b'"n\xe4me"', 1)),
         ["evaluate", *RUN_ARGS], 1, ("paper.json", "line", "not UTF-8")),
    Case("protocol holding []", _w("protocol/paper.json=b'[]'"), ["evaluate", *RUN_ARGS], 1,
         ("paper.json", "expected an object with a 'tasks' field")),
    Case("protocol prompt edited", _protocol_edit, ["evaluate", *RUN_ARGS], 1,
         ("paper.json", "prompts differ from the upstream files", "mednli", "--allow-modified-protocol")),
    Case("protocol prompt, hashes and upstream copy edited", _protocol_edit_everywhere,
         ["evaluate", *_run_args("demo", "d")], 1,
         ("demo.json", "eval_mednli.py differs from the pinned sha256", "--allow-modified-protocol")),
    Case("test set not UTF-8", lambda ws: _bad_byte_on_line3(ws, "data/mednli/test.jsonl"),
         ["evaluate", *_run_args(run="other")], 1, ("data/mednli/test.jsonl", "line 3", "not UTF-8")),
    Case("test set missing", _w("data/mednli/test.jsonl="), ["evaluate", *RUN_ARGS], 1,
         ("test.jsonl", "clue data build --task mednli")),
    Case("a file where a run's task folder is expected", lambda ws: (
        shutil.rmtree(ws / "results/r/baseline/mednli"), (ws / "results/r/baseline/mednli").write_text("x")),
         ["evaluate", *RUN_ARGS], 1, ("results/r/baseline/mednli", "is a file, expected a folder"),
         may_change=("results/r/manifest.json",)),
    Case("store that is not SQLite", _w("results/r/store.sqlite=b'junk' * 300"), ["evaluate", *RUN_ARGS], 1,
         ("store.sqlite", "not a usable generation store")),
    Case("run in use by another process", _hold_run, ["evaluate", *RUN_ARGS], 75,
         ("results/r", "in use by PID", str(os.getpid()))),
    Case("score after the test set changed", _test_set_edit, SCORE_ARGS, 1,
         ("data/mednli/test.jsonl", "not the test set this run used")),
    Case("score after the prompts changed", _protocol_edit, SCORE_ARGS, 1,
         ("paper.json", "prompts of mednli are not the ones this run used")),
    Case("verify after the test set changed", _test_set_edit, ["verify", *SCORE_ARGS[1:]], 1,
         ("DIFFERS", "datasets.mednli.sha256", "cells differ")),
    Case("verify after the prompts changed", _protocol_edit, ["verify", *SCORE_ARGS[1:]], 1,
         ("DIFFERS", "prompts_sha256.mednli", "cells differ")),
    Case("run manifest holding []", _w("results/r/manifest.json=b'[]'"), SCORE_ARGS, 1,
         ("manifest.json", "expected an object with a 'models' object")),
    Case("run manifest holding [] (evaluate)", _w("results/r/manifest.json=b'[]'"), ["evaluate", *RUN_ARGS], 1,
         ("manifest.json", "expected an object with a 'models' object")),
    Case("run manifest not UTF-8", _w("results/r/manifest.json=b'{\"models\\xff\": 1}'"), SCORE_ARGS, 1,
         ("manifest.json", "line 1", "not UTF-8")),
    # --- metric assets: `clue doctor`, `clue assets verify`
    Case("assets record not UTF-8 (doctor)", _w("assets/assets.record.json=b'{\\xff}'"),
         ["doctor", "--assets-dir", "{ws}/assets"], 1, ("assets.record.json", "not UTF-8")),
    Case("assets record holding [] (doctor)", _w("assets/assets.record.json=b'[]'"),
         ["doctor", "--assets-dir", "{ws}/assets"], 1, ("assets.record.json", "expected an object")),
    Case("assets record not UTF-8 (assets verify)", _w("assets/assets.record.json=b'{\\xff}'"),
         ["assets", "verify", "--assets-dir", "{ws}/assets"], 1, ("assets.record.json", "not UTF-8")),
    Case("assets record holding [] (assets verify)", _w("assets/assets.record.json=b'[]'"),
         ["assets", "verify", "--assets-dir", "{ws}/assets"], 1, ("assets.record.json", "expected an object")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_table(case: Case, pristine: Path, tmp_path, capsys):
    ws = tmp_path / "ws"
    shutil.copytree(pristine, ws, symlinks=True)
    held = case.corrupt(ws)
    before = _snapshot(ws)
    capsys.readouterr()
    escaped = None
    try:
        clue_main([a.replace("{ws}", str(ws)) for a in case.args])
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    except BaseException as exc:   # anything else would reach the user as a traceback
        escaped, code = exc, None
    finally:
        if hasattr(held, "release"):
            held.release()
    out, err = capsys.readouterr()
    assert escaped is None, f"traceback: {escaped!r}"
    assert "Traceback" not in out + err
    assert code == case.code, out + err
    errors = [line for line in err.splitlines() if line.startswith("Error:")]
    assert len(errors) <= 1 and (case.code == 0 or len(errors) == 1), err
    for word in case.words:
        assert word.replace("{ws}", str(ws)) in out + err, f"{word!r} not in: {out + err}"
    assert _leftovers(ws) == []
    if case.outputs_kept:
        after = _snapshot(ws)
        for name in case.may_change:
            assert name in after
            before.pop(name, None), after.pop(name, None)
        assert after == before
