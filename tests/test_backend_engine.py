"""`--backend vllm` as a managed engine, with a stand-in engine command (tests/fixtures/fake_vllm.py) that takes
vLLM's command line and serves the tiny model with `transformers serve`: start, health wait, stop on success, on
error and on SIGINT, the log kept; and `--model-arg` for both backends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from clue.backends.base import parse_model_args
from clue.backends.engine import EngineError
from clue.backends.openai import EndpointError
from clue.backends.vllm import engine_flags
from clue.errors import InputError
from clue.runner import EvalOptions, evaluate
from clue.store import GenerationStore

from serving_helpers import FAKE_ENGINE, completions_by_item

pytestmark = pytest.mark.slow      # a real server or engine process per test

ENGINE = f"{sys.executable} {FAKE_ENGINE}"


def _options(model, ws, results, run, **changes) -> EvalOptions:
    base = dict(model=str(model), protocol="paper", protocol_dir=str(ws["protocol"]), data_dir=str(ws["data"]),
                results_dir=str(results), run=run, limit=1, batch_size=4, metrics="all,-bertscore,-umls",
                progress=False, tasks="mednli,meqsum", retry_base=0.05)
    return EvalOptions(**{**base, **changes})


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _wait_gone(pid: int, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _gone(pid):
            return True
        time.sleep(0.1)
    return False


def test_managed_engine_runs_and_stops_after_success(tiny_models, workspace, tmp_path, monkeypatch):
    record = tmp_path / "engine.json"
    monkeypatch.setenv("CLUE_FAKE_ENGINE_RECORD", str(record))
    monkeypatch.setenv("CLUE_VLLM", ENGINE)          # the executable comes from the environment
    outcome = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "vllm", backend="vllm",
                                model_args=["tensor_parallel_size=1", "gpu_memory_utilization=0.5"]))
    engine = json.loads(record.read_text())
    assert _wait_gone(engine["pid"])
    argv = engine["argv"]
    assert argv[:2] == ["serve", str(tiny_models["chat"])]
    for flag, value in (("--host", "127.0.0.1"), ("--dtype", "float32"), ("--seed", "0"), ("--max-model-len", "1024"),
                        ("--tensor-parallel-size", "1"), ("--gpu-memory-utilization", "0.5"),
                        ("--generation-config", "vllm")):
        assert argv[argv.index(flag) + 1] == value, flag
    log = (tmp_path / "vllm" / "engine" / f"{str(tiny_models['chat']).strip('/').replace('/', '__')}.log").read_text()
    assert "fake engine: mode serve" in log and "engine stopped" in log
    entry = json.loads((outcome.run_dir / "manifest.json").read_text())["models"]["chat"]
    # tensor parallelism can change sums, so it keys the store; the memory fraction does not
    assert entry["identity"] == {"model": str(tiny_models["chat"]), "revision": entry["identity"]["revision"],
                                 "backend": "vllm", "dtype": "float32", "model_args": {"tensor_parallel_size": 1}}
    assert entry["backend_settings"]["engine_argv"][-4:] == argv[-4:]
    # the same prompts as the in-process backend's, greedy: the same completions
    local = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "hf"))
    for task in ("mednli", "meqsum"):
        assert completions_by_item(outcome.model_dir, task) == completions_by_item(local.model_dir, task)

    # a rerun with everything stored never starts the engine
    record.unlink()
    again = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "vllm", backend="vllm",
                              model_args=["tensor_parallel_size=1", "gpu_memory_utilization=0.9"]))
    assert not record.exists() and sum(t.n_generated for t in again.tasks) == 0


@pytest.mark.parametrize("mode, error, words", [
    ("crash", EngineError, "exited with code 3"),
    ("hang", EngineError, "not healthy"),
    ("broken", EndpointError, "HTTP 500"),
])
def test_engine_is_stopped_on_errors(mode, error, words, tiny_models, workspace, tmp_path, monkeypatch):
    record = tmp_path / "engine.json"
    monkeypatch.setenv("CLUE_FAKE_ENGINE_RECORD", str(record))
    monkeypatch.setenv("CLUE_FAKE_ENGINE_MODE", mode)
    with pytest.raises(error, match=words) as caught:
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "bad", backend="vllm", engine_command=ENGINE,
                          engine_timeout=4, max_retries=1))
    assert "\n" not in str(caught.value)
    if mode == "crash":
        assert "simulated" in str(caught.value)            # the log's last line is quoted
    assert _wait_gone(json.loads(record.read_text())["pid"])
    with GenerationStore(tmp_path / "bad" / "store.sqlite") as store:
        assert store.count() == 0


def test_engine_is_stopped_on_sigint(tiny_models, workspace, tmp_path):
    record = tmp_path / "engine.json"
    env = {**os.environ, "CLUE_FAKE_ENGINE_RECORD": str(record), "CLUE_FAKE_ENGINE_MODE": "stall",
           "HF_HUB_OFFLINE": "1"}
    kit = subprocess.Popen(
        [sys.executable, "-m", "clue", "evaluate", "--model", str(tiny_models["chat"]), "--backend", "vllm",
         "--engine-command", ENGINE, "--protocol", "paper", "--protocol-dir", str(workspace["protocol"]),
         "--data-dir", str(workspace["data"]), "--results-dir", str(tmp_path), "--run", "sigint", "--tasks", "mednli",
         "--limit", "1", "--metrics", "all,-bertscore,-umls", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    log = tmp_path / "sigint" / "engine"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (record.exists() and log.exists()):
        time.sleep(0.1)
    engine_pid = json.loads(record.read_text())["pid"]
    time.sleep(2)                                  # healthy by now; the kit waits on a stalled completion
    kit.send_signal(signal.SIGINT)
    _, stderr = kit.communicate(timeout=60)
    assert kit.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert _wait_gone(engine_pid)
    assert "engine stopped" in next(log.glob("*.log")).read_text()


def test_batching_is_refused_for_the_engine(tiny_models, workspace, tmp_path):
    with pytest.raises(InputError, match="--model-arg batching: an option of --backend hf"):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "batching", backend="vllm",
                          engine_command=str(tmp_path / "no-such-vllm"), model_args=["batching=continuous"]))


def test_engine_command_that_does_not_exist(tiny_models, workspace, tmp_path):
    with pytest.raises(EngineError, match="could not be started.*CLUE_VLLM"):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "none", backend="vllm",
                          engine_command=str(tmp_path / "no-such-vllm")))


# ---------------------------------------------------------------------------------------------- model arguments

def test_parse_model_args():
    assert parse_model_args(["device_map=auto", 'max_memory={"0": "70GiB"}', "tensor-parallel-size=4",
                             "enforce_eager=true", "name=a=b"]) == (
        ("device_map", "auto"), ("enforce_eager", True), ("max_memory", {"0": "70GiB"}), ("name", "a=b"),
        ("tensor_parallel_size", 4))
    for bad, words in (("novalue", "KEY=VALUE"), ("=3", "KEY=VALUE"), ("a b=1", "KEY=VALUE")):
        with pytest.raises(InputError, match=words):
            parse_model_args([bad])
    with pytest.raises(InputError, match="given twice"):
        parse_model_args(["x=1", "x=2"])
    assert engine_flags({"tensor_parallel_size": 4, "enforce_eager": True, "quiet": False,
                         "limit_mm_per_prompt": {"image": 0}}) == [
        "--enforce-eager", "--limit-mm-per-prompt", '{"image": 0}', "--tensor-parallel-size", "4"]


def test_hf_model_args_placement_is_not_in_the_store_key(tiny_models, workspace, tmp_path):
    first = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "args"))
    placed = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "args", model_args=["device_map=cpu"]))
    assert sum(t.n_generated for t in placed.tasks) == 0              # same key: nothing generated again
    eager = evaluate(_options(tiny_models["chat"], workspace, tmp_path, "args",
                              model_args=["attn_implementation=eager"]))
    assert sum(t.n_generated for t in eager.tasks) == sum(t.n_generated for t in first.tasks)
    for task in ("mednli", "meqsum"):
        assert completions_by_item(eager.model_dir, task) == completions_by_item(first.model_dir, task)
    entry = json.loads((eager.run_dir / "manifest.json").read_text())["models"]["chat"]
    assert entry["identity"]["model_args"] == {"attn_implementation": "eager"}
    assert entry["options"]["model_args"] == ["attn_implementation=eager"]
    with pytest.raises(InputError, match="--model-arg dtype: use --dtype"):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "args", model_args=["dtype=float16"]))
    with pytest.raises(InputError, match="could not be loaded.*no_such_argument"):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "args2", model_args=["no_such_argument=1"]))
    with pytest.raises(InputError, match="--model-arg applies to --backend hf and --backend vllm"):
        evaluate(_options(tiny_models["chat"], workspace, tmp_path, "args3", backend="openai",
                          base_url="http://127.0.0.1:9/v1", model_args=["x=1"]))
