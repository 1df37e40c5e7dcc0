"""Continuous batching in the transformers backend: one-at-a-time completions, the option, the store key."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from clue.backends.base import Decoding, Request
from clue.backends.hf import HFBackend
from clue.errors import InputError
from clue.protocol import load_protocol
from clue.taskinfo import TASK_IDS
from clue.tasks import get_task
from clue.tasks.base import EvalContext



def _one_at_a_time(backend: HFBackend, requests, prompts):
    """The reference: ``generate`` on each prompt alone (the padded path with a batch of one)."""
    backend.batching = "padded"
    try:
        return [backend.generate_detailed([r], [p])[0] for r, p in zip(requests, prompts)]
    finally:
        backend.batching = "auto"


def _continuous(backend: HFBackend, requests, prompts):
    backend.batching = "continuous"
    try:
        return backend.generate_detailed(requests, prompts)
    finally:
        backend.batching = "auto"


def _task_requests(backend: HFBackend, workspace, protocol: str, per_task: int, greedy=None) -> list[Request]:
    """A few requests of every task (LongHealth: spread over its three sub-tasks)."""
    info = backend.model_info()
    ctx = EvalContext(protocol=load_protocol(protocol, workspace["protocol"]), model=info,
                      layout=info.detected_layout, greedy=greedy, seed=3)
    requests = []
    for task_id in TASK_IDS:
        module = get_task(task_id)
        built = module.build_requests(module.load_records(workspace["data"]), ctx)
        step = max(1, len(built) // per_task)
        requests += built[::step][:per_task]
    return requests


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["demo", "paper"])
def test_continuous_equals_one_at_a_time_on_all_six_tasks(tiny_models, workspace, protocol):
    backend = HFBackend(str(tiny_models["chat"]), batch_size=4)
    requests = _task_requests(backend, workspace, protocol, per_task=3)
    assert {r.task for r in requests} == set(TASK_IDS)
    # the six tasks' different decodings (budgets, prompt limits) share the four slots
    assert len({r.decoding for r in requests}) > 2
    # and a prompt longer than the tiny model's context, cut from the left
    long_text = " ".join(["the patient was admitted with chest pain and fever"] * 150)
    requests.append(replace(requests[-1], item_id="long", messages=({"role": "user", "content": long_text},)))
    prompts = [backend.render(r) for r in requests]
    continuous = _continuous(backend, requests, prompts)
    single = _one_at_a_time(backend, requests, prompts)
    for task_id in TASK_IDS:
        got = [g.completion for g, r in zip(continuous, requests) if r.task == task_id]
        want = [g.completion for g, r in zip(single, requests) if r.task == task_id]
        assert got == want, task_id
    assert [(g.prompt_tokens, g.truncated_tokens, g.new_tokens) for g in continuous] == \
        [(g.prompt_tokens, g.truncated_tokens, g.new_tokens) for g in single]
    assert len({g.completion for g in continuous}) > len(requests) // 2      # not one degenerate answer
    assert continuous[-1].truncated_tokens > 100 and continuous[-1].prompt_tokens == backend.prompt_limit(
        requests[-1].decoding)
    assert all(g.new_tokens > 0 for g in continuous)


@pytest.mark.slow
def test_seeded_sampling_stays_per_prompt(tiny_models, workspace):
    backend = HFBackend(str(tiny_models["chat"]), batch_size=3)
    requests = _task_requests(backend, workspace, "demo", per_task=2, greedy=False)
    assert all(not r.decoding.greedy and r.decoding.seed == 3 for r in requests)
    prompts = [backend.render(r) for r in requests]
    together = [g.completion for g in _continuous(backend, requests, prompts)]
    # the same completions alone, in another order, and from the padded path's row sampler
    alone = [_continuous(backend, [r], [p])[0].completion for r, p in zip(requests, prompts)]
    reordered = _continuous(backend, requests[::-1], prompts[::-1])
    assert together == alone == [g.completion for g in reordered][::-1]
    assert together == [g.completion for g in _one_at_a_time(backend, requests, prompts)]
    greedy = [replace(r, decoding=replace(r.decoding, greedy=True, seed=None)) for r in requests]
    assert together != [g.completion for g in _continuous(backend, greedy, prompts)]


def test_stop_strings_with_continuous_batching(tiny_models):
    backend = HFBackend(str(tiny_models["chat"]), batch_size=3)
    words = "the patient was admitted with chest pain fever cough and treated daily".split()
    texts = [" ".join(words[(i * 5 + k) % len(words)] for k in range(4 + i)) for i in range(6)]
    free = [Request("meqsum", str(i), ({"role": "user", "content": t},), decoding=Decoding(max_new_tokens=16))
            for i, t in enumerate(texts)]
    free_out = _one_at_a_time(backend, free, [backend.render(r) for r in free])
    stop = max("aeiou", key=lambda c: sum(c in g.completion[3:] for g in free_out))
    stopped = [replace(r, decoding=Decoding(max_new_tokens=16, stop=(stop,))) for r in free]
    prompts = [backend.render(r) for r in stopped]
    continuous = _continuous(backend, stopped, prompts)
    single = _one_at_a_time(backend, stopped, prompts)
    assert [(g.completion, g.new_tokens) for g in continuous] == [(g.completion, g.new_tokens) for g in single]
    cut = [g for g, f in zip(continuous, free_out) if g.completion != f.completion]
    assert len(cut) >= 2 and all(stop not in g.completion for g in continuous)
    assert all(g.new_tokens < 16 for g in cut)


def test_more_prompts_than_slots_stream_as_they_finish(tiny_models):
    backend = HFBackend(str(tiny_models["chat"]), batch_size=2)
    requests = [Request("meqsum", str(i), ({"role": "user", "content": "chest pain " * (1 + 3 * i)},),
                        decoding=Decoding(max_new_tokens=3 + 5 * (i % 3))) for i in range(7)]
    prompts = [backend.render(r) for r in requests]
    backend.batching = "continuous"
    order = [index for index, _ in backend.generate_stream(requests, prompts)]
    assert sorted(order) == list(range(7)) and order != sorted(order, key=lambda i: -len(prompts[i]))
    backend.batching = "auto"


def test_batching_option_rule_and_manifest(tiny_models, tmp_path):
    auto = HFBackend(str(tiny_models["chat"]))
    padded = HFBackend(str(tiny_models["chat"]), model_args=(("batching", "padded"),))
    forced = HFBackend(str(tiny_models["chat"]), model_args=(("batching", "continuous"),))
    # the rule: continuous on CPU for a plain causal model; not in the store key
    assert auto.batching_mode() == forced.batching_mode() == "continuous" and padded.batching_mode() == "padded"
    assert auto.identity() == padded.identity() == forced.identity()
    assert padded.settings()["batching"] == {"requested": "padded", "used": "padded"}
    assert auto.settings()["batching"] == {"requested": "auto", "used": "continuous"}
    auto.device = "cuda"           # the rule only: a GPU keeps generate's padded batches (no generation here)
    assert auto.batching_mode() == "padded"
    eager = HFBackend(str(tiny_models["chat"]), model_args=(("attn_implementation", "eager"),))
    assert eager.batching_mode() == "padded" and "model_args" in eager.identity()
    with pytest.raises(InputError, match="batching=sideways: expected one of auto, padded, continuous"):
        HFBackend(str(tiny_models["chat"]), model_args=(("batching", "sideways"),))

    # a model continuous batching cannot run: sliding-window attention, or a repetition penalty
    for name, edit in (("window", ("config.json", {"sliding_window": 64})),
                       ("rope", ("config.json", {"rope_scaling": {"rope_type": "dynamic", "factor": 2.0}})),
                       ("penalty", ("generation_config.json", {"repetition_penalty": 1.3}))):
        folder = tmp_path / name
        shutil.copytree(tiny_models["chat"], folder)
        path = folder / edit[0]
        path.write_text(json.dumps({**json.loads(path.read_text()), **edit[1]}))
        assert HFBackend(str(folder)).batching_mode() == "padded"
        with pytest.raises(InputError) as info:    # refused when the backend is made, before any weight is read
            HFBackend(str(folder), model_args=(("batching", "continuous"),))
        assert "\n" not in str(info.value) and "batching=padded" in str(info.value)
        assert {"window": "sliding-window", "rope": "dynamic rotary", "penalty": "repetition_penalty"}[name] \
            in str(info.value)


@pytest.mark.slow
def test_store_keys_do_not_depend_on_the_batching_mode(tiny_models, workspace, tmp_path):
    from clue.runner import EvalOptions, evaluate

    def run(batching: str):
        return evaluate(EvalOptions(
            model=str(tiny_models["chat"]), protocol="demo", protocol_dir=str(workspace["protocol"]),
            data_dir=str(workspace["data"]), results_dir=str(tmp_path), run="r", tasks="mednli,medisumqa",
            limit=3, batch_size=2, metrics="all,-bertscore,-umls", progress=False,
            model_args=[f"batching={batching}"]))

    first = run("continuous")
    assert sum(t.n_generated for t in first.tasks) == 6
    again = run("padded")          # same run, other mode: every completion comes from the store
    assert sum(t.n_generated for t in again.tasks) == 0 and sum(t.n_cached for t in again.tasks) == 6
    assert [t.scores for t in again.tasks] == [t.scores for t in first.tasks]
    manifest = json.loads((tmp_path / "r" / "manifest.json").read_text())
    entry = next(iter(manifest["models"].values()))
    assert entry["backend_settings"]["batching"] == {"requested": "padded", "used": "padded"}
    assert "model_args" not in entry["identity"]
