"""transformers' own continuous batching (``model.generate_batch``, paged cache) against the kit's
(``clue.backends.continuous``) and one prompt at a time, on the same prompts: wall and CPU time, and
whether the completions' tokens agree with one at a time.

Uses the workspace and model of ``generation_throughput.py``:

    HF_HUB_OFFLINE=1 .venv/bin/python bench/hf_generate_batch.py --workdir bench/out/ws --task medisumqa --prompts 16

transformers sizes its paged cache from free memory (on CPU: 90% of the machine's RAM), so the
number of pages and the tokens per step are set here from the prompts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import generation_throughput as gt  # noqa: E402


def _timed(fn):
    started, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, round(time.perf_counter() - started, 2), round(time.process_time() - cpu, 2)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--task", default="medisumqa")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default: the protocol's")
    parser.add_argument("--max-batch-tokens", type=int, default=2048, help="transformers: tokens per forward")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    import torch
    from transformers import ContinuousBatchingConfig, GenerationConfig

    from clue.backends.hf import HFBackend
    from clue.protocol import load_protocol
    from clue.tasks import get_task
    from clue.tasks.base import EvalContext

    torch.set_num_threads(1)
    ws = gt.prepare_workspace(args.workdir, 1.0, 0)
    ws["model"] = gt.build_model(ws, args.workdir, gt.ModelShape(), 0)
    backend = HFBackend(str(ws["model"]), batch_size=args.prompts)
    info = backend.model_info()
    ctx = EvalContext(protocol=load_protocol("demo", ws["protocol"]), model=info, layout=info.detected_layout)
    module = get_task(args.task)
    requests = module.build_requests(module.load_records(ws["data"]), ctx)
    requests = (requests * (args.prompts // len(requests) + 1))[:args.prompts]
    prompts = [backend.render(r) for r in requests]
    new_tokens = args.max_new_tokens or requests[0].decoding.max_new_tokens
    limit = backend.prompt_limit(requests[0].decoding)
    inputs = [backend._prompt_ids(r, p)[-limit:] for r, p in zip(requests, prompts)]
    model = backend._load()
    end_ids = backend._end_ids(model)

    def cut(tokens: list[int]) -> list[int]:
        return tokens[:next((i for i, t in enumerate(tokens) if t in end_ids), len(tokens))]

    def transformers_batch():
        config = GenerationConfig(max_new_tokens=new_tokens, do_sample=False, eos_token_id=model.generation_config.eos_token_id,
                                  pad_token_id=backend._pad_id())
        pages = sum(math.ceil((len(ids) + new_tokens) / 256) for ids in inputs) + 4
        cb = ContinuousBatchingConfig(num_blocks=pages, max_batch_tokens=args.max_batch_tokens,
                                      max_requests_per_batch=args.prompts, allow_block_sharing=False)
        out = model.generate_batch(inputs, generation_config=config, continuous_batching_config=cb)
        return [cut(list(o.generated_tokens)) for o in out.values()]

    def one_at_a_time():
        rows = []
        for ids in inputs:
            with torch.inference_mode():
                row = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                     max_new_tokens=new_tokens, do_sample=False, temperature=None, top_p=None,
                                     top_k=None, pad_token_id=backend._pad_id())
            rows.append(cut(row[0, len(ids):].tolist()))
        return rows

    def kit_continuous():
        from clue.backends.continuous import ContinuousBatcher, Job

        jobs = [Job(i, ids, new_tokens) for i, ids in enumerate(inputs)]
        rows = [None] * len(jobs)
        for job, tokens, _ in ContinuousBatcher(model, args.prompts, end_ids, lambda j, t: False).run(jobs):
            rows[job.index] = cut(tokens)
        return rows

    report = {"task": args.task, "prompts": len(inputs), "prompt_tokens_mean": sum(map(len, inputs)) / len(inputs),
              "max_new_tokens": new_tokens, "runs": {}}
    reference, *times = _timed(one_at_a_time)
    report["runs"]["one_at_a_time"] = {"wall_s": times[0], "cpu_s": times[1]}
    for name, fn in (("transformers_generate_batch", transformers_batch), ("kit_continuous", kit_continuous)):
        rows, wall, cpu = _timed(fn)
        report["runs"][name] = {"wall_s": wall, "cpu_s": cpu, "speedup_cpu": round(report["runs"]["one_at_a_time"]["cpu_s"] / cpu, 2),
                                "same_tokens_as_one_at_a_time": rows == reference}
    report["loadavg"] = gt._loadavg()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
