"""`clue export --shareable`: no credentialed text leaves, and the tables still recompute from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from clue.cli import main
from clue.report.export import check_export, export_run, verify_export
from clue.runner import EvalOptions, evaluate
from clue.taskinfo import TASKS, task_info


CREDENTIALED = [t.id for t in TASKS if t.licence == "physionet"]
WINDOW = 8


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _windows(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + WINDOW]) for i in range(len(words) - WINDOW + 1)}


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _leaks(folder: Path, secret: set[tuple[str, ...]]) -> list[str]:
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".sqlite"):
        hits = _windows(path.read_text(encoding="utf-8", errors="replace")) & secret
        found += [f"{path.relative_to(folder)}: {' '.join(hit)}" for hit in sorted(hits)[:3]]
    return found


@pytest.fixture(scope="module")
def baseline_run(workspace, tmp_path_factory):  # noqa: F811
    """All six tasks with the baseline model, which copies note text into its completions (Problem
    Summary: the Assessment) — the worst case for an export."""
    results = tmp_path_factory.mktemp("export-results")
    outcome = evaluate(EvalOptions(model="baseline", protocol="paper", protocol_dir=str(workspace["protocol"]),
                                   data_dir=str(workspace["data"]), results_dir=str(results), run="shared",
                                   limit=4, metrics="all,-bertscore,-umls", progress=False))
    return outcome.run_dir


def _secret_windows(data_dir: Path, run_dir: Path) -> set[tuple[str, ...]]:
    """Every 8-word run of the credentialed tasks' records (notes, references) and completions."""
    secret: set[tuple[str, ...]] = set()
    for task in CREDENTIALED:
        for line in (data_dir / task / "test.jsonl").read_text(encoding="utf-8").splitlines():
            for text in _strings(json.loads(line)):
                secret |= _windows(text)
        for path in run_dir.glob(f"*/{task}/predictions.jsonl"):
            for line in path.read_text(encoding="utf-8").splitlines():
                item = json.loads(line)
                for key in ("completion", "output", "reference"):
                    secret |= _windows(item.get(key) or "")
    return secret


def test_no_credentialed_text_in_the_export(baseline_run, workspace, tmp_path):  # noqa: F811
    out = export_run(baseline_run, tmp_path / "shared-export")
    secret = _secret_windows(workspace["data"], baseline_run)
    assert len(secret) > 100
    # the scan finds what it looks for: the run itself holds the credentialed text
    assert _leaks(baseline_run, secret)
    assert _leaks(out, secret) == []
    assert not list(out.rglob("*.sqlite"))

    meta = json.loads((out / "export.json").read_text())
    assert meta["licences"]["meqsum"] == "public" and meta["licences"]["mednli"] == "physionet"
    assert task_info("problem_summary").licence == "physionet" and task_info("longhealth").licence == "public"
    for task in TASKS:
        lines = [json.loads(x) for x in next(out.glob(f"*/{task.id}/predictions.jsonl")).read_text().splitlines()]
        original = [json.loads(x) for x in next(baseline_run.glob(f"*/{task.id}/predictions.jsonl")).read_text().splitlines()]
        assert [x["id"] for x in lines] == [x["id"] for x in original]
        assert [x["scores"] for x in lines] == [x["scores"] for x in original]
        assert all(len(x["completion_sha256"]) == 64 and len(x["prompt_hash"]) == 64 for x in lines)
        assert all("reference" not in x for x in lines)
        if task.licence == "public":
            assert [x["completion"] for x in lines] == [x["completion"] for x in original]
        else:
            assert all("completion" not in x and "output" not in x for x in lines)
    assert (out / "manifest.json").is_file()
    fingerprints = json.loads((out / "fingerprints.json").read_text())
    assert set(fingerprints) == {t.id for t in TASKS}
    assert fingerprints["mednli"]["lock"] == "no published fingerprint" and len(fingerprints["mednli"]["sha256"]) == 64


def test_tables_and_verify_work_on_the_export(baseline_run, tmp_path, capsys):
    out = export_run(baseline_run, tmp_path / "export")
    main(["tables", str(baseline_run), "--format", "csv", "--out", str(tmp_path / "run-tables")])
    main(["tables", str(out), "--format", "csv", "--out", str(tmp_path / "export-tables")])
    for path in sorted((tmp_path / "run-tables").glob("*.csv")):
        # identical apart from the Source column (the folder's name)
        assert path.read_text().replace("shared", "X") == (tmp_path / "export-tables" / path.name).read_text().replace("export", "X")
    report = verify_export(out, tables=tmp_path / "export-tables")
    assert report.ok and report.checked > 50, report.differences
    capsys.readouterr()
    main(["verify", "--export", str(out)])
    assert "OK" in capsys.readouterr().out

    # a changed per-item score is caught twice: by the file hash and by the arithmetic
    path = next(out.glob("*/mednli/predictions.jsonl"))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    lines[0]["scores"]["accuracy"] = 1.0 - lines[0]["scores"]["accuracy"]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    checked, problems = check_export(out)
    assert problems == [f"{path.relative_to(out).as_posix()}: sha256 differs from export.json"]
    report = verify_export(out)
    assert any("metrics.accuracy" in d.field for d in report.differences)
    with pytest.raises(SystemExit) as exit_info:
        main(["verify", "--export", str(out)])
    assert exit_info.value.code == 1


def test_export_refuses_an_existing_folder_and_a_non_run(baseline_run, tmp_path, capsys):
    (tmp_path / "there").mkdir()
    with pytest.raises(SystemExit):
        main(["export", str(baseline_run), "--shareable", str(tmp_path / "there")])
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["verify", "--export", str(baseline_run)])
    assert "no export.json" in capsys.readouterr().err


def test_text_noted_in_a_credentialed_scores_file_stays_behind(baseline_run, tmp_path):
    import shutil

    run = tmp_path / "noted"
    shutil.copytree(baseline_run, run)
    secret = "the patient reports daily chest pain with fever and cough"
    for task in ("problem_summary", "meqsum"):
        path = next(run.glob(f"*/{task}/scores.json"))
        scores = json.loads(path.read_text())
        scores["details"] = {"examples": [secret], "count": 3, "nested": {"note": secret, "ok": True}}
        path.write_text(json.dumps(scores))
    out = export_run(run, tmp_path / "export")
    kept = json.loads(next(out.glob("*/problem_summary/scores.json")).read_text())
    assert kept["details"] == {"examples": [], "count": 3, "nested": {"ok": True}}
    assert kept["metrics"] == json.loads(next(run.glob("*/problem_summary/scores.json")).read_text())["metrics"]
    assert secret in next(out.glob("*/meqsum/scores.json")).read_text()          # public: as written
