"""Progress bars with ETA on the long steps: BERTScore, UMLS linking (same numbers with and without)."""

from __future__ import annotations

import pytest

from clue.metrics.bertscore import BertScorer
from clue.metrics.resources import MetricResources
from clue.metrics.umls import UmlsLinker, load_linker
from clue.testing.tiny_bert import build_tiny_bert
from clue.testing.tiny_umls import build_tiny_umls, tiny_mention_pipeline

PREDICTIONS = ["chest pain and fever", "the patient denies cough", "heart failure stable"] * 3
REFERENCES = ["fever with chest pain", "no cough reported", "stable heart failure"] * 3


def test_bertscore_progress_on_stderr_same_numbers(tmp_path, capfd):
    folder = build_tiny_bert(tmp_path / "bert", num_layers=2)
    resources = MetricResources(["bertscore"], bertscore_paths={"tiny": folder}, batch_size=4)
    quiet = resources.bertscorer("tiny", 2).score(PREDICTIONS, REFERENCES)
    captured = capfd.readouterr()
    assert "BERTScore" not in captured.err and captured.out == ""
    resources.progress = True
    shown = resources.bertscorer("tiny", 2).score(PREDICTIONS, REFERENCES)
    captured = capfd.readouterr()
    assert shown == quiet
    assert "BERTScore bert L2 embedding" in captured.err and "BERTScore bert L2 matching" in captured.err
    assert "<" in captured.err and "batch/s" in captured.err      # elapsed<remaining: the ETA
    assert captured.out == ""                                      # bert-score's status lines are not printed


def test_umls_progress_on_stderr_same_sets(tmp_path, capfd):
    files = build_tiny_umls(tmp_path / "umls")
    texts = ["chest pain", "heart failure with fever", "no findings"] * 4

    def linker(progress):
        made = UmlsLinker(tiny_mention_pipeline(), load_linker(*files), batch_size=3)
        made.progress = progress
        return made

    quiet = linker(False).entity_sets(texts)
    assert "UMLS linking" not in capfd.readouterr().err
    shown = linker(True).entity_sets(texts)
    err = capfd.readouterr().err
    assert shown == quiet
    assert "UMLS linking" in err and "/3 [" in err and "text/s" in err   # 3 distinct texts, linked once


@pytest.mark.parametrize("flag, shown", [("--progress", True), ("--no-progress", False)])
def test_score_command_passes_progress(flag, shown, monkeypatch):
    from clue.cli import main

    seen = {}

    def fake_score_run(run_dir, **options):
        seen.update(options)
        raise SystemExit(0)

    monkeypatch.setattr("clue.runner.score_run", fake_score_run)
    monkeypatch.setattr("clue.runner.resolve_run_dir", lambda run: run)
    with pytest.raises(SystemExit):
        main(["score", "somewhere", flag])
    assert seen["progress"] is shown
