"""Metric assets: fetch (from file:// URLs), sha256 pins and first-use records, corruption, doctor, loading offline."""

from __future__ import annotations

import json
import socket
import tarfile

import pytest
from click.testing import CliRunner

from clue import assets
from clue.cli import cli
from clue.errors import ChecksumError, NotReadyError
from clue.io import sha256_file
from clue.metrics.resources import MetricResources
from clue.testing.tiny_bert import build_tiny_bert
from clue.testing.tiny_umls import build_tiny_umls, tiny_mention_pipeline

pytestmark = pytest.mark.slow   # builds a stand-in remote of every asset format (tiny BERT, UMLS linker, spaCy pipeline)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    """A stand-in 'remote' folder with files in the real assets' formats, and a lock pointing at it."""
    root = tmp_path_factory.mktemp("upstream")
    bert = build_tiny_bert(root / "bert", num_layers=2)
    linker_files, kb = build_tiny_umls(root / "umls", kb_name="umls_2022_ab_cat0129.jsonl")
    pipeline = root / "pipeline"
    tiny_mention_pipeline(["fever", "chest pain"]).to_disk(pipeline)
    sdist = root / "en_core_sci_sm-0.5.4.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:       # the layout of a spaCy model sdist
        tar.add(pipeline, arcname="en_core_sci_sm-0.5.4/en_core_sci_sm/en_core_sci_sm-0.5.4")
    lock = {"lock_version": 1, "assets": {
        "scibert": {"metric": "bertscore", "kind": "hf-model", "repo": "allenai/scibert_scivocab_uncased",
                    "revision": "0" * 40, "dir": "bertscore/allenai__scibert_scivocab_uncased",
                    "files": {name: {"url": (bert / name).as_uri(), "sha256": None}
                              for name in ("config.json", "vocab.txt", "model.safetensors", "tokenizer_config.json")}},
        "en_core_sci_sm": {"metric": "umls", "kind": "spacy-sdist", "dir": "scispacy",
                           "files": {sdist.name: {"url": sdist.as_uri(), "sha256": sha256_file(sdist)}}},
        "umls_linker": {"metric": "umls", "kind": "scispacy-linker", "dir": "umls",
                        "files": {p.name: {"url": p.as_uri(), "sha256": None} for p in [*linker_files.values(), kb]}},
    }}
    lock_file = root / "recipes" / "assets.lock.json"
    lock_file.parent.mkdir()
    lock_file.write_text(json.dumps(lock), encoding="utf-8")
    return lock_file


@pytest.fixture()
def fetched(upstream, tmp_path):
    target = tmp_path / "assets"
    statuses = assets.fetch(target, upstream, progress=False)
    return target, statuses


def test_fetch_pins_and_records(fetched, upstream):
    target, statuses = fetched
    states = {(s.asset, s.name): s.state for s in statuses}
    assert states[("en_core_sci_sm", "en_core_sci_sm-0.5.4.tar.gz")] == "verified"      # pinned in the lock
    assert states[("scibert", "config.json")] == "recorded"                             # trust on first use
    assert len(statuses) == 4 + 1 + 5
    record = assets.read_record(target)
    assert record["files"]["scibert/vocab.txt"]["sha256"] == sha256_file(target / "bertscore" /
                                                                          "allenai__scibert_scivocab_uncased" / "vocab.txt")
    assert all(s.ok for s in assets.verify(target, upstream))
    again = assets.fetch(target, upstream, progress=False)                             # nothing to download
    assert [s.state for s in again] == [s.state for s in statuses]


def test_corrupted_file_is_detected_and_replaced(fetched, upstream):
    target, _ = fetched
    vocab = target / "bertscore" / "allenai__scibert_scivocab_uncased" / "vocab.txt"
    vocab.write_text(vocab.read_text() + "extra\n")
    bad = [s for s in assets.verify(target, upstream) if not s.ok]
    assert [(s.asset, s.name, s.state) for s in bad] == [("scibert", "vocab.txt", "mismatch")]
    with pytest.raises(ChecksumError, match="vocab.txt"):
        assets.ensure_ok(bad)
    report = {r.metric: r for r in assets.doctor(target, upstream)}
    assert not report["bertscore"].ready and "vocab.txt" in report["bertscore"].detail
    assert report["umls"].ready
    assets.fetch(target, upstream, progress=False)       # downloads it again, checks it against the record
    assert all(s.ok for s in assets.verify(target, upstream))


def test_wrong_pin_is_refused(upstream, tmp_path):
    lock = json.loads(upstream.read_text())
    lock["assets"]["en_core_sci_sm"]["files"]["en_core_sci_sm-0.5.4.tar.gz"]["sha256"] = "a" * 64
    bad_lock = tmp_path / "bad.lock.json"
    bad_lock.write_text(json.dumps(lock))
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        assets.fetch(tmp_path / "assets", bad_lock, metrics=["umls"], progress=False)
    assert not (tmp_path / "assets" / "scispacy" / "en_core_sci_sm-0.5.4.tar.gz").exists()


def test_missing_assets_name_the_fetch_command(tmp_path, upstream):
    with pytest.raises(NotReadyError, match="clue assets fetch"):
        MetricResources.from_options("all", tmp_path / "empty", lock=upstream)
    with pytest.raises(NotReadyError, match="clue assets fetch"):
        assets.bertscore_model_dir("allenai/scibert_scivocab_uncased", tmp_path / "empty", upstream)
    resources = MetricResources.from_options("all,-bertscore,-umls", tmp_path / "empty", lock=upstream)
    assert resources.bertscorer("allenai/scibert_scivocab_uncased", 8) is None and resources.umls() is None
    assert resources.missing_keys(["rougeL", "bertscore_f1", "umls_f1"]) == ["bertscore_f1", "umls_f1"]


def test_metrics_load_from_fetched_assets_with_network_off(fetched, upstream, monkeypatch):
    target, _ = fetched

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    resources = MetricResources.from_options("all", target, lock=upstream)
    linker = resources.umls()
    assert resources.umls() is linker
    assert linker.entity_sets(["chest pain and fever"]) == [frozenset({"Chest Pain", "Fever"})]
    scorer = resources.bertscorer("allenai/scibert_scivocab_uncased", 1)
    assert scorer.score(["chest pain"], ["chest pain"])["f1"][0] == pytest.approx(1.0, abs=1e-5)


def test_cli_doctor_verify_list(fetched, upstream, tmp_path, monkeypatch):
    target, _ = fetched
    monkeypatch.setenv("CLUE_RECIPES", str(upstream.parent))
    runner = CliRunner()
    present = runner.invoke(cli, ["doctor", "--assets-dir", str(target), "--protocol", "none", "--no-gpu"])
    assert present.exit_code == 0, present.output
    assert "READY: this machine has what a run with these options needs." in present.output
    absent = runner.invoke(cli, ["doctor", "--assets-dir", str(tmp_path / "nothing"), "--protocol", "none", "--no-gpu"])
    assert absent.exit_code == 1
    assert "bertscore   NOT READY" in absent.output and "umls        NOT READY" in absent.output
    assert "NOT READY: metrics bertscore, metrics umls" in absent.output
    assert "clue assets fetch" in absent.output
    verified = runner.invoke(cli, ["assets", "verify", "--assets-dir", str(target)])
    assert verified.exit_code == 0 and "verified    en_core_sci_sm/" in verified.output
    failed = runner.invoke(cli, ["assets", "verify", "--assets-dir", str(tmp_path / "nothing")])
    assert failed.exit_code != 0
    listed = runner.invoke(cli, ["assets", "list", "--assets-dir", str(target)])
    assert "umls_linker [umls]" in listed.output and "present" in listed.output


def test_write_lock_fills_recorded_hashes(fetched, upstream, tmp_path):
    target, _ = fetched
    copy = tmp_path / "lock.json"
    copy.write_text(upstream.read_text())
    filled = assets.write_lock(target, copy)
    assert "scibert/vocab.txt" in filled and "en_core_sci_sm/en_core_sci_sm-0.5.4.tar.gz" not in filled
    assert all(f.sha256 for a in assets.load_lock(copy).values() for f in a.files)


def test_shipped_lock_is_well_formed():
    lock = assets.load_lock()
    assert {a.metric for a in lock.values()} == {"bertscore", "umls"}
    sdist = lock["en_core_sci_sm"].files[0]
    assert sdist.sha256 == "a54a114ee11dab7cf6db8cf69ef485145011537f45f3c16c71338c48fd6f070b"
    assert {f.name for f in lock["umls_linker"].files} >= set(assets.LINKER_FILES.values())
    for model in ("scibert", "bio_clinicalbert"):
        assert len(lock[model].revision) == 40
        assert all(f"/resolve/{lock[model].revision}/" in f.url for f in lock[model].files)
