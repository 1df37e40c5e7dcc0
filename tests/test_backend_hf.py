"""The transformers backend on tiny local models: model facts, rendering, batching, sampling, truncation."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

from clue.backends.base import Decoding, Request
from clue.backends.hf import HFBackend, resolve_model
from clue.errors import InputError


SYSTEM = {"role": "system", "content": "Answer briefly."}
WORDS = "the patient was admitted with chest pain fever cough and treated daily".split()


def _chat(i: int, decoding: Decoding, prefill: str = "Answer: ") -> Request:
    text = " ".join(WORDS[(i * 7 + k) % len(WORDS)] for k in range(3 + (i * 5) % 40))
    return Request("meqsum", str(i), (SYSTEM, {"role": "user", "content": text}), prefill=prefill, decoding=decoding)


@pytest.fixture(scope="module")
def chat_backend(tiny_models):
    return HFBackend(str(tiny_models["chat"]), batch_size=8)


def test_model_facts_for_the_three_kinds(tiny_models):
    chat = HFBackend(str(tiny_models["chat"])).model_info()
    nosys = HFBackend(str(tiny_models["nosys"])).model_info()
    base = HFBackend(str(tiny_models["base"])).model_info()
    assert (chat.has_chat_template, chat.accepts_system_role, chat.detected_layout) == (True, True, "chat-system")
    assert (nosys.has_chat_template, nosys.accepts_system_role, nosys.detected_layout) == (True, False, "chat-no-system")
    assert (base.has_chat_template, base.accepts_system_role, base.detected_layout) == (False, False, "base")
    # the family goes by the model's name only (the original's rule); a tiny folder's name says none
    assert chat.context_length == 1024 and chat.family is None
    text = "the patient was admitted with chest pain"
    tokenizer = HFBackend(str(tiny_models["chat"])).tokenizer
    ids = tokenizer(text)["input_ids"]
    # LongHealth's budget arithmetic, as the original: encode() with BOS, decode(encode()[:n])
    assert ids[0] == tokenizer.bos_token_id and chat.count_tokens(text) == len(ids) > 3
    assert chat.truncate_tokens(text, 3) == tokenizer.decode(ids[:3])
    assert chat.truncate_tokens(text, 3).startswith("<s>")
    assert chat.truncate_tokens(text, 1000) == text and chat.truncate_tokens(text, 0) == ""


def test_paper_prompts_get_special_tokens_like_the_server(chat_backend):
    request = _chat(1, Decoding(max_new_tokens=4))
    prompt = chat_backend.render(request)
    assert prompt.startswith("<s>")   # the tiny chat template writes its BOS text
    bos = chat_backend.tokenizer.bos_token_id
    default_ids = chat_backend._prompt_ids(request, prompt)
    paper = replace(request, decoding=Decoding(max_new_tokens=4, special_tokens=True))
    paper_ids = chat_backend._prompt_ids(paper, prompt)
    assert default_ids[:2] != [bos, bos] and paper_ids[:2] == [bos, bos]
    assert paper_ids[1:] == default_ids


def test_render_applies_template_and_prefill(chat_backend, tiny_models):
    prompt = chat_backend.render(_chat(1, Decoding(max_new_tokens=4)))
    assert prompt.startswith("<s><|system|>\nAnswer briefly.<|end|>\n<|user|>\n")
    assert prompt.endswith("<|end|>\n<|assistant|>\nAnswer: ")
    base = HFBackend(str(tiny_models["base"]))
    assert base.render(Request("mednli", "1", None, text="Premise.\n\n", prefill="")) == "Premise.\n\n"
    with pytest.raises(InputError, match="no chat template"):
        base.render(_chat(1, Decoding(max_new_tokens=4)))
    nosys = HFBackend(str(tiny_models["nosys"]))
    with pytest.raises(InputError, match="rejected") as info:
        nosys.render(_chat(1, Decoding(max_new_tokens=4)))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("batching", ["padded", "continuous"])
def test_batched_equals_one_at_a_time_and_is_sorted(chat_backend, batching):
    decoding = Decoding(max_new_tokens=8)
    requests = [_chat(i, decoding) for i in range(12)]
    prompts = [chat_backend.render(r) for r in requests]
    chat_backend.batching = batching
    batched = chat_backend.generate_detailed(requests, prompts)
    chat_backend.batching = "padded"           # the reference: generate on each prompt alone
    single = [chat_backend.generate_detailed([r], [p])[0] for r, p in zip(requests, prompts)]
    chat_backend.batching = "auto"
    assert [g.completion for g in batched] == [g.completion for g in single]
    assert len({g.completion for g in batched}) > 3          # different prompts, different completions
    assert all(0 < g.new_tokens <= 8 and g.truncated_tokens == 0 for g in batched)
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in single]


@pytest.mark.parametrize("batching", ["padded", "continuous"])
def test_seeded_sampling_is_reproducible_and_independent_of_batching(chat_backend, batching):
    def run(seed, batch):
        requests = [_chat(i, Decoding(max_new_tokens=8, greedy=False, seed=seed)) for i in range(8)]
        prompts = [chat_backend.render(r) for r in requests]
        chat_backend.batching = batching if batch else "padded"
        try:
            if batch:
                return chat_backend.generate(requests, prompts)
            return [chat_backend.generate([r], [p])[0] for r, p in zip(requests, prompts)]
        finally:
            chat_backend.batching = "auto"

    first = run(seed=1, batch=True)
    assert first == run(seed=1, batch=True) == run(seed=1, batch=False)
    assert first != run(seed=2, batch=True)
    greedy = chat_backend.generate([_chat(i, Decoding(max_new_tokens=8)) for i in range(8)],
                                   [chat_backend.render(_chat(i, Decoding(max_new_tokens=8))) for i in range(8)])
    assert first != greedy


def test_stop_strings_end_the_completion(chat_backend):
    free = chat_backend.generate([_chat(3, Decoding(max_new_tokens=12))],
                                 [chat_backend.render(_chat(3, Decoding(max_new_tokens=12)))])[0]
    assert len(free) > 4
    stop = free[2:4]
    request = _chat(3, Decoding(max_new_tokens=12, stop=(stop,)))
    cut = chat_backend.generate([request], [chat_backend.render(request)])[0]
    assert stop not in cut and free.startswith(cut) and len(cut) < len(free)


def test_long_prompts_are_cut_from_the_left_and_counted(chat_backend):
    long_text = " ".join(WORDS * 200)
    decoding = Decoding(max_new_tokens=5)
    requests = [Request("longhealth", "long", ({"role": "user", "content": long_text},), decoding=decoding),
                _chat(0, decoding)]
    generations = chat_backend.generate_detailed(requests, [chat_backend.render(r) for r in requests])
    assert generations[0].prompt_tokens == 1024 - 5 and generations[0].truncated_tokens > 1000
    assert generations[0].new_tokens > 0
    assert generations[1].truncated_tokens == 0
    capped = Request("mednli", "cap", ({"role": "user", "content": long_text},),
                     decoding=Decoding(max_new_tokens=5, max_prompt_tokens=100))
    assert chat_backend.generate_detailed([capped], [chat_backend.render(capped)])[0].prompt_tokens == 100


def test_identity_records_a_fingerprint_that_follows_the_weights(tiny_models, tmp_path):
    copy = shutil.copytree(tiny_models["base"], tmp_path / "copy")
    first = HFBackend(str(copy)).identity()
    assert first["revision"].startswith("local-sha256:") and first["backend"] == "hf" and first["dtype"] == "float32"
    assert HFBackend(str(copy)).identity() == first
    with open(copy / "model.safetensors", "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\0\1\2\3")
    assert HFBackend(str(copy)).identity()["revision"] != first["revision"]


@pytest.mark.parametrize("remove, message", [("model.safetensors", "no model weights"),
                                             ("tokenizer.json", "no tokenizer files"),
                                             ("config.json", "no config.json")])
def test_incomplete_model_folder_is_a_one_line_error(tiny_models, tmp_path, remove, message):
    copy = shutil.copytree(tiny_models["base"], tmp_path / "m")
    for name in [remove] + (["tokenizer_config.json"] if remove == "tokenizer.json" else []):
        (copy / name).unlink()
    with pytest.raises(InputError, match=message) as info:
        HFBackend(str(copy))
    assert str(copy) in str(info.value) and "\n" not in str(info.value)


def test_missing_folder_and_unknown_offline_hub_id(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(InputError, match="no such folder"):
        resolve_model(str(tmp_path / "nowhere"))
    with pytest.raises(InputError, match="not in the local Hub cache") as info:
        resolve_model("clue-kit-tests/does-not-exist", revision="main")
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match="--revision"):
        resolve_model(str(tmp_path), revision="main")


def test_hub_id_resolves_to_the_cached_snapshot_commit_offline(tiny_models, tmp_path, monkeypatch):
    from huggingface_hub import constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--clue-tests--tiny-chat"
    shutil.copytree(tiny_models["chat"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    backend = HFBackend("clue-tests/tiny-chat")
    assert backend.identity() == {"model": "clue-tests/tiny-chat", "revision": commit, "backend": "hf",
                                  "dtype": "float32"}
    assert HFBackend("clue-tests/tiny-chat", revision="main").identity()["revision"] == commit
    assert HFBackend("clue-tests/tiny-chat", revision=commit).settings()["requested_revision"] == commit
    with pytest.raises(InputError, match="revision v9"):
        HFBackend("clue-tests/tiny-chat", revision="v9")
