"""GPU smoke check of the generation backends on a tiny model built on the spot (no network).

Checks, where the machine allows: the transformers backend on CUDA (batched = one at a time,
seeded sampling reproducible, left truncation counted) and, if vLLM is installed, the vLLM
backend on the same prompts (greedy completions compared with transformers in float32).

    PYTHONPATH=. python bench/gpu_smoke.py --out /tmp/gpu_smoke.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _requests(n: int, decoding):
    from clue.backends.base import Request

    words = "the patient was admitted with chest pain fever cough and treated daily".split()
    return [Request("meqsum", str(i), ({"role": "system", "content": "Answer briefly."},
                                       {"role": "user", "content": " ".join(words[(i * 7 + k) % len(words)]
                                                                             for k in range(3 + (i * 5) % 40))}),
                    prefill="Answer: ", decoding=decoding) for i in range(n)]


def check_hf(model: Path, report: dict) -> None:
    from clue.backends.base import Decoding
    from clue.backends.hf import HFBackend

    backend = HFBackend(str(model), device="cuda", dtype="float32", batch_size=16)
    requests = _requests(32, Decoding(max_new_tokens=24))
    prompts = [backend.render(r) for r in requests]
    started = time.perf_counter()
    batched = backend.generate_detailed(requests, prompts)
    batched_s = time.perf_counter() - started
    started = time.perf_counter()
    single = [backend.generate_detailed([r], [p])[0] for r, p in zip(requests, prompts)]
    single_s = time.perf_counter() - started
    sampled = _requests(16, Decoding(max_new_tokens=16, greedy=False, seed=5))
    sampled_prompts = [backend.render(r) for r in sampled]
    first = backend.generate(sampled, sampled_prompts)
    again = [backend.generate([r], [p])[0] for r, p in zip(sampled, sampled_prompts)]
    long_request = _requests(1, Decoding(max_new_tokens=8))[0]
    long_request = long_request.__class__("longhealth", "long", ({"role": "user", "content": "chest pain " * 3000},),
                                          decoding=Decoding(max_new_tokens=8))
    long = backend.generate_detailed([long_request], [backend.render(long_request)])[0]
    bf16 = HFBackend(str(model), device="cuda", dtype="bfloat16", batch_size=16)
    bf16_out = bf16.generate(requests[:8], prompts[:8])
    report["hf_cuda"] = {
        "identity": backend.identity(), "batched_equals_single": [g.completion for g in batched] == [g.completion for g in single],
        "batched_s": batched_s, "single_s": single_s, "speedup": single_s / batched_s,
        "sampling_reproducible_across_batching": first == again,
        "long_prompt": {"prompt_tokens": long.prompt_tokens, "truncated_tokens": long.truncated_tokens,
                        "new_tokens": long.new_tokens},
        "bf16_runs": len(bf16_out) == 8,
        "greedy_sample": [g.completion for g in batched[:3]],
    }


def check_vllm(model: Path, report: dict) -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        report["vllm"] = "not installed"
        return
    from clue.backends.base import Decoding
    from clue.backends.hf import HFBackend
    from clue.backends.vllm import VLLMBackend

    backend = VLLMBackend(str(model), dtype="float32", gpu_memory_utilization=0.3)
    requests = _requests(32, Decoding(max_new_tokens=24))
    prompts = [backend.render(r) for r in requests]
    out = backend.generate_detailed(requests, prompts)
    hf = HFBackend(str(model), device="cuda", dtype="float32").generate(requests, prompts)
    sampled = _requests(8, Decoding(max_new_tokens=16, greedy=False, seed=5))
    sampled_prompts = [backend.render(r) for r in sampled]
    report["vllm"] = {
        "version": vllm.__version__, "identity": backend.identity(),
        "greedy_matches_hf": sum(a.completion == b for a, b in zip(out, hf)), "of": len(hf),
        "sampling_reproducible": backend.generate(sampled, sampled_prompts) == backend.generate(sampled, sampled_prompts),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report: dict = {"python": platform.python_version()}
    try:
        import torch
        import transformers

        report.update(torch=torch.__version__, transformers=transformers.__version__,
                      cuda=torch.cuda.is_available(),
                      gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
    except ImportError as exc:
        report["error"] = f"missing: {exc}"
    if report.get("cuda"):
        from clue.testing.tiny import build_tiny_model

        with tempfile.TemporaryDirectory() as tmp:
            model = build_tiny_model(Path(tmp) / "tiny", chat="system")
            for check in (check_hf, check_vllm):
                try:
                    check(model, report)
                except Exception:  # report and go on: this is a smoke check
                    report[check.__name__] = traceback.format_exc()[-3000:]
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
