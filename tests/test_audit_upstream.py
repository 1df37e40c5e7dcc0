"""`clue audit-upstream` against stand-in checkouts written for the kit (tests/fixtures/upstream_standin/checkout):
scripts with a runnable main() of the original's shape and the kit's own prompt text, run with recorders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clue.audit import audit_upstream, first_difference
from clue.cli import main

CHECKOUT = Path(__file__).parent / "fixtures" / "upstream_standin" / "checkout"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("audit-tiny")


def _status(report, task, layout, check):
    return next(c for c in report.cells if (c.task, c.layout, c.check) == (task, layout, check))


@pytest.mark.slow
def test_paper_standin_matches_item_by_item(tiny_dir):
    # chat-system and chat-no-system are audited in the paper CLI run below (and chat-system under upstream)
    layouts = ("base",)
    report = audit_upstream(CHECKOUT / "paper", "paper", tasks="mednli,medisumqa,longhealth", unpinned=True,
                            layouts=",".join(layouts), tiny_dir=tiny_dir)
    assert report.ok and not report.raised, [c for c in report.cells if c.status == "MISMATCH"]
    assert all(f["status"] == "DIFFERS" for f in report.files.values())      # stand-ins are not the pinned files
    for task in ("mednli", "medisumqa", "longhealth"):
        for layout in layouts:
            for check in ("prompt", "post-processing", "gold", "averages"):
                assert _status(report, task, layout, check).status == "MATCH", (task, layout, check)
    # LongHealth: 60 task-1 and 120 task-2/3 prompts, shuffles and distractor draws from the seeded global random
    assert _status(report, "longhealth", "base", "prompt").detail == "180 prompts identical"
    assert _status(report, "medisumqa", "base", "few-shot").status == "MATCH"
    # tasks 2/3 carry no truncation limit in the original: the kit's left cut is a labelled deviation
    decoding = _status(report, "longhealth", "base", "decoding")
    assert decoding.status == "DEVIATION" and "120 prompt(s)" in decoding.detail and "--overlong" in decoding.detail
    assert _status(report, "mednli", "base", "decoding").status == "MATCH"
    # BERTScore: batched in the kit, one pair per call in the original: within the documented bound
    metrics = _status(report, "medisumqa", "base", "metrics")
    assert metrics.status in ("MATCH", "DEVIATION") and "umls_f1" in metrics.detail and "rougeL" in metrics.detail
    assert "Task" in report.table() and "LongHealth" in report.table()


@pytest.mark.slow
def test_upstream_standin_matches_item_by_item(tiny_dir):
    report = audit_upstream(CHECKOUT / "upstream", "upstream", tasks="meqsum,medisumcode,longhealth", unpinned=True,
                            tiny_dir=tiny_dir)
    assert report.ok and not report.raised
    for task in ("meqsum", "medisumcode", "longhealth"):
        for check in ("prompt", "post-processing", "gold", "metrics", "averages"):
            assert _status(report, task, "chat-system", check).status == "MATCH", (task, check)
        assert _status(report, task, "chat-system", "decoding").status == "DEVIATION"   # vLLM refuses over-long
    assert "temperature 1.0, top_p 1.0" in _status(report, "meqsum", "chat-system", "decoding").detail


@pytest.mark.slow
def test_one_character_and_a_raising_script_are_reported(tiny_dir, tmp_path, capsys):
    checkout = tmp_path / "paper"
    shutil.copytree(CHECKOUT / "paper", checkout)
    utils = checkout / "eval" / "utils.py"
    text = utils.read_text()
    assert text.count('sys_prompt + "\\n\\n" + user_prompt') == 1
    utils.write_text(text.replace('sys_prompt + "\\n\\n" + user_prompt', 'sys_prompt + "\\n" + user_prompt'))
    qa = checkout / "eval" / "eval_MeDiSumQA.py"
    text = qa.read_text()
    assert 'format(Answer="")' in text
    qa.write_text(text.replace('format(Answer="")', 'format(answer="")'))   # the paper-era file's KeyError

    report_path = tmp_path / "audit.json"
    with pytest.raises(SystemExit) as exited:
        main(["audit-upstream", "--upstream-dir", str(checkout), "--protocol", "paper", "--tasks", "mednli,medisumqa",
              "--layouts", "chat-system,chat-no-system", "--unpinned", "--tiny-dir", str(tiny_dir),
              "--report", str(report_path), "--no-progress"])
    assert exited.value.code == 1
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    cells = {(c["task"], c["layout"], c["check"]): c for c in report["cells"]}
    assert cells[("mednli", "chat-system", "prompt")]["status"] == "MATCH"
    differing = cells[("mednli", "chat-no-system", "prompt")]
    assert differing["status"] == "MISMATCH" and differing["detail"].startswith("item 0: char ")
    assert "kit 'ements.\\n\\nP:" in differing["detail"]
    assert "original 'ements.\\nP:" in differing["detail"]
    assert cells[("mednli", "chat-no-system", "few-shot")]["status"] == "MISMATCH"
    # the raising script is reported, with what was compared instead, and did not stop the audit
    raised = [r for r in report["raised"] if r["task"] == "medisumqa"]
    assert len(raised) == 2 and raised[0]["error"] == "KeyError: 'Answer'" and "eval_MeDiSumQA.py" in raised[0]["where"]
    prompt = cells[("medisumqa", "chat-system", "prompt")]
    assert prompt["status"] == "RAISED" and "before building any prompt" in prompt["detail"]
    # what was compared instead: the script's own metric function on the kit's outputs
    metrics = cells[("medisumqa", "chat-system", "metrics")]
    assert metrics["status"] == "RAISED" and "umls_f1" in metrics["detail"] and "compute_metrics" in metrics["detail"]
    assert any("compute_metrics on the kit's" in c for c in raised[0]["compared_instead"])
    assert "MISMATCH [" in out and "]: item 0: char" in out and "the original raised KeyError: 'Answer'" in out
    assert report["ok"] is False


def test_bad_checkout_and_layout_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["audit-upstream", "--upstream-dir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no eval/ folder" in err
    with pytest.raises(SystemExit):
        main(["audit-upstream", "--upstream-dir", str(CHECKOUT / "upstream"), "--protocol", "upstream",
              "--layouts", "base", "--no-progress"])
    assert "'base' is not a layout of protocol upstream" in capsys.readouterr().err


def test_first_difference_shows_both_sides():
    assert first_difference("abcdef", "abcxef") == "char 3: kit 'abcdef' vs original 'abcxef'"
    assert "lengths 3 vs 5" in first_difference("abc", "abcde")
