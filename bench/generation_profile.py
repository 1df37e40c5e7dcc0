"""Where a batched generation step spends its time: one task's prompts generated one at a time,
in a left-padded batch, and in a batch of one prompt repeated (no padding), each timed (prefill
alone and with new tokens), then one padded batch under the torch profiler.

Uses the workspace of ``generation_throughput.py`` (``--workdir``) and builds the model there:

    PYTHONPATH=. python3 bench/generation_profile.py --workdir bench/out/gpu-ws --device cuda \\
        --hidden-size 2048 --layers 8 --head-dim 128 --json /tmp/profile.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import generation_throughput as gt  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--task", default="mednli")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=20)
    parser.add_argument("--hidden-size", type=int, default=48)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--head-dim", type=int, default=None)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--threads", default="1", help="comma-separated torch CPU thread counts to time the padded batch with")
    parser.add_argument("--no-cudnn-attention", action="store_true", help="keep SDPA off its cuDNN kernels")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import torch

    from clue.backends.hf import HFBackend
    from clue.protocol import load_protocol
    from clue.tasks import get_task
    from clue.tasks.base import EvalContext

    if args.no_cudnn_attention:
        torch.backends.cuda.enable_cudnn_sdp(False)

    def sync() -> None:
        if args.device == "cuda":
            torch.cuda.synchronize()

    ws = gt.prepare_workspace(args.workdir, 1.0, 0)
    ws["model"] = gt.build_model(ws, args.workdir, gt.ModelShape(args.hidden_size, args.layers, args.vocab,
                                                                  args.head_dim), 0)
    backend = HFBackend(str(ws["model"]), batch_size=args.prompts, device=args.device, dtype=args.dtype)
    info = backend.model_info()
    ctx = EvalContext(protocol=load_protocol("demo", ws["protocol"]), model=info, layout=info.detected_layout)
    module = get_task(args.task)
    requests = module.build_requests(module.load_records(ws["data"]), ctx)[:args.prompts]

    def with_budget(reqs, n):
        return [replace(r, decoding=replace(r.decoding, max_new_tokens=n)) for r in reqs]

    def timed(fn) -> float:
        sync()
        started = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - started

    report: dict = {"device": args.device, "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else None,
                    "model": gt.model_facts(ws["model"]), "task": args.task, "prompts": len(requests),
                    "new_tokens": args.new_tokens, "runs": {}}
    same = [requests[0]] * len(requests)
    cases = {"one_at_a_time": (requests, False), "padded_batch": (requests, True), "unpadded_batch": (same, True)}
    for reqs in (requests, same):           # warm-up: load, kernels for both shapes
        backend.generate_detailed(with_budget(reqs, 2), [backend.render(r) for r in reqs])
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for name, (reqs, batched) in cases.items():
            if name != "padded_batch" and threads != int(args.threads.split(",")[0]):
                continue
            prompts = [backend.render(r) for r in reqs]
            runs = {}
            for n in (1, args.new_tokens):
                rs = with_budget(reqs, n)
                if batched:
                    runs[n] = timed(lambda: backend.generate_detailed(rs, prompts))
                else:
                    runs[n] = timed(lambda: [backend.generate_detailed([r], [p]) for r, p in zip(rs, prompts)])
            steps = (args.new_tokens - 1) * (1 if batched else len(reqs))
            row = {"threads": threads, "prefill_s": runs[1], "total_s": runs[args.new_tokens],
                   "decode_ms_per_step": 1000 * (runs[args.new_tokens] - runs[1]) / steps}
            report["runs"][f"{name}@{threads}"] = row
            print(name, row, flush=True)
    torch.set_num_threads(int(args.threads.split(",")[0]))
    activities = [torch.profiler.ProfilerActivity.CPU]
    if args.device == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    rs = with_budget(requests, args.new_tokens)
    prompts = [backend.render(r) for r in requests]
    with torch.profiler.profile(activities=activities) as prof:
        backend.generate_detailed(rs, prompts)
        sync()
    averages = prof.key_averages()
    for key in (["self_cuda_time_total"] if args.device == "cuda" else []) + ["self_cpu_time_total"]:
        table = averages.table(sort_by=key, row_limit=14, max_name_column_width=60)
        report[f"profile_by_{key}"] = table
        print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
