"""`clue doctor`: exit status 1 with a NOT READY report when a full run lacks something; GPU, engine
command and Hugging Face token checks (the token's value never shown)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from click.testing import CliRunner

from clue.cli import cli
from clue.protocol.fetch import fetch_protocol
from clue.taskinfo import TASK_IDS

CHEAP = ["--metrics", "all,-bertscore,-umls"]      # no asset hashing; rouge/icd packages still checked


@pytest.fixture()
def demo_protocol(tmp_path):
    folder = tmp_path / "protocol"
    fetch_protocol("demo", protocol_dir=folder)
    return folder


@pytest.fixture(autouse=True)
def _no_token(monkeypatch, tmp_path):
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "CLUE_VLLM"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def doctor(*args):
    result = CliRunner().invoke(cli, ["doctor", *args])
    assert "Traceback" not in result.output
    return result


def test_ready_when_everything_asked_for_is_there(demo_protocol):
    result = doctor(*CHEAP, "--protocol", "demo", "--protocol-dir", str(demo_protocol), "--no-gpu")
    assert result.exit_code == 0, result.output
    assert "protocol  demo        ready" in result.output and "(unmodified" in result.output
    assert "metrics   rouge       ready" in result.output
    assert "metrics   bertscore   info       left out by --metrics" in result.output
    assert result.output.rstrip().endswith("READY: this machine has what a run with these options needs.")


def test_missing_protocol_and_assets_exit_1_naming_each(tmp_path):
    result = doctor("--assets-dir", str(tmp_path / "no-assets"), "--protocol-dir", str(tmp_path / "none"), "--no-gpu")
    assert result.exit_code == 1, result.output
    assert "protocol  paper       NOT READY" in result.output and "clue protocol fetch --protocol paper" in result.output
    last = result.output.rstrip().splitlines()[-1]
    assert last.startswith("NOT READY: metrics bertscore, metrics umls, protocol paper")


def test_a_modified_protocol_is_not_ready(demo_protocol):
    path = demo_protocol / "demo.json"
    document = json.loads(path.read_text())
    document["tasks"]["meqsum"]["sys_prompt"] += " Be brief."
    path.write_text(json.dumps(document))
    result = doctor(*CHEAP, "--protocol", "demo", "--protocol-dir", str(demo_protocol), "--no-gpu")
    assert result.exit_code == 1
    assert "protocol  demo        NOT READY" in result.output and "modified" in result.output


def test_test_sets_are_required_only_with_data_dir(demo_protocol, tmp_path):
    args = [*CHEAP, "--protocol", "demo", "--protocol-dir", str(demo_protocol), "--no-gpu"]
    data = tmp_path / "data"
    for task in TASK_IDS[:-1]:
        (data / task).mkdir(parents=True)
        (data / task / "test.jsonl").write_text("{}\n")
        (data / task / "manifest.json").write_text("{}")
    missing = doctor(*args, "--data-dir", str(data))
    assert missing.exit_code == 1
    assert f"data      {TASK_IDS[-1]:11} NOT READY" in missing.output and "run `clue data build`" in missing.output
    assert sum(line.startswith("data ") and " ready " in line for line in missing.output.splitlines()) == 5
    (data / TASK_IDS[-1]).mkdir()
    (data / TASK_IDS[-1] / "test.jsonl").write_text("{}\n")
    (data / TASK_IDS[-1] / "manifest.json").write_text("{}")
    assert doctor(*args, "--data-dir", str(data)).exit_code == 0


def test_gpu_is_information_unless_required(demo_protocol, monkeypatch):
    import torch

    args = [*CHEAP, "--protocol", "demo", "--protocol-dir", str(demo_protocol)]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    shown = doctor(*args)
    assert shown.exit_code == 0 and "gpu       cuda        info       no CUDA GPU visible to torch" in shown.output
    required = doctor(*args, "--gpu")
    assert required.exit_code == 1 and "gpu       cuda        NOT READY" in required.output
    assert "gpu " not in doctor(*args, "--no-gpu").output
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: "NVIDIA H200")
    found = doctor(*args, "--gpu")
    assert found.exit_code == 0 and "2 GPUs (NVIDIA H200;" in found.output


def _stand_in_engine(folder, marker):
    """An executable that would leave ``marker`` behind if the doctor ever started it."""
    path = folder / "fake-vllm"
    path.write_text(f"#!/bin/sh\ntouch {marker}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_engine_command_uses_the_evaluate_lookup_and_is_never_started(demo_protocol, tmp_path, monkeypatch):
    args = [*CHEAP, "--protocol", "demo", "--protocol-dir", str(demo_protocol), "--no-gpu"]
    marker = tmp_path / "started"
    engine = _stand_in_engine(tmp_path, marker)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))     # no `vllm` anywhere
    default = doctor(*args)
    assert default.exit_code == 0 and "engine    vllm        info       'vllm' (the default) is not an executable" in default.output
    required = doctor(*args, "--backend", "vllm")
    assert required.exit_code == 1 and "engine    vllm        NOT READY" in required.output
    monkeypatch.setenv("CLUE_VLLM", f"{engine} --some-flag")
    from_env = doctor(*args, "--backend", "vllm")
    assert from_env.exit_code == 0 and f"($CLUE_VLLM) found at {engine}" in from_env.output
    from_option = doctor(*args, "--backend", "vllm", "--engine-command", str(tmp_path / "missing"))
    assert from_option.exit_code == 1 and "(--engine-command) is not an executable" in from_option.output
    assert not marker.exists()


def test_token_presence_is_shown_never_its_value(demo_protocol, tmp_path, monkeypatch):
    args = [*CHEAP, "--protocol", "demo", "--protocol-dir", str(demo_protocol), "--no-gpu"]
    absent = doctor(*args)
    assert absent.exit_code == 0 and "token     huggingface info       no HF_TOKEN and no stored login" in absent.output
    assert doctor(*args, "--hf-token").exit_code == 1
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue123")
    present = doctor(*args, "--hf-token")
    assert present.exit_code == 0 and "set in the environment (HF_TOKEN); value not shown" in present.output
    assert "hf_secretvalue123" not in present.output and "secretvalue" not in present.output
    monkeypatch.delenv("HF_TOKEN")
    stored = tmp_path / "hf-home" / "token"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_text("hf_storedsecret")
    login = doctor(*args, "--hf-token")
    assert login.exit_code == 0 and f"stored login {stored}" in login.output and "storedsecret" not in login.output


def test_doctor_exits_1_through_the_real_command_line(tmp_path):
    """The exit status survives `clue` as a process (what a Dockerfile RUN or a CI step sees)."""
    import subprocess
    import sys

    env = {**os.environ, "CLUE_ASSETS": str(tmp_path / "none"), "CLUE_PROTOCOL": str(tmp_path / "none")}
    result = subprocess.run([sys.executable, "-m", "clue", "doctor", "--no-gpu", *CHEAP], capture_output=True,
                            text=True, env=env, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "NOT READY: protocol paper" in result.stdout
