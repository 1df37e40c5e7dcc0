"""`--backend openai` throughput: requests in flight, and the kit's overhead over a bare HTTP client.

Everything is built on the spot and offline (synthetic test sets, the demo protocol, a tiny random
Llama-style model whose tokenizer is trained on the test sets, as in ``generation_throughput.py``),
then ``transformers serve`` (``--continuous-batching`` optional) serves the model on 127.0.0.1 and:

1. ``clue evaluate --backend openai`` runs the MedNLI and MeQSum prompts with ``--concurrency 1``
   and with ``--concurrency 16`` (fresh runs, nothing from the store): the ratio of their
   generation times;
2. a bare client (the standard library, one thread per request in flight, no kit code on the
   request path) sends the very same request bodies with the same concurrency; the kit's overhead
   is its generation-and-store time minus the bare client's wall time, in percent of the latter
   and in milliseconds per request. Each pair runs ``--repeats`` times, interleaved; medians.

``--server instant`` replaces the model server by a stand-in in this process that answers every
completion at once: then the two clients' difference is the kit's own cost per request (rendering,
token counting, threads, the store), not hidden in the model's time.

    .venv/bin/python bench/openai_throughput.py --continuous-batching --json bench/out/openai_throughput.json
    .venv/bin/python bench/openai_throughput.py --server instant --scale 3 --json bench/out/openai_instant.json

Client and server share this machine's cores, so the kit's own CPU time competes with the server's.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
sys.path.insert(0, str(PROJECT_DIR / "bench"))

from generation_throughput import ModelShape, build_model, prepare_workspace  # noqa: E402


def start_server(model: Path, port: int, threads: int, log: Path, continuous: bool) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
    with open(log, "a") as handle:
        process = subprocess.Popen([sys.executable, "-m", "transformers.cli.transformers", "serve", str(model),
                                    "--host", "127.0.0.1", "--port", str(port), "--device", "cpu",
                                    "--continuous-batching" if continuous else "--no-continuous-batching"],
                                   stdout=handle, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited ({process.returncode}); see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the server did not get healthy; see {log}")


class _InstantHandler(http.server.BaseHTTPRequestHandler):
    """Answers every completion at once with a fixed text: what is left of a request's time is the clients'."""

    protocol_version = "HTTP/1.1"

    def _send(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802  (the health check)
        self._send({"status": "ok"})

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self._send({"id": "instant", "object": "text_completion", "model": body.get("model", "instant"),
                    "choices": [{"index": 0, "text": " entailment", "finish_reason": "stop"}]})

    def log_message(self, *args):
        pass


class _InstantServer(http.server.ThreadingHTTPServer):
    request_queue_size = 128       # the default backlog of 5 resets connections at 16 in flight


def start_instant_server(port: int) -> http.server.ThreadingHTTPServer:
    server = _InstantServer(("127.0.0.1", port), _InstantHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def bare_client(url: str, bodies: list[dict], concurrency: int) -> float:
    """Send ``bodies`` to ``url`` with ``concurrency`` requests in flight; wall seconds."""
    todo = list(range(len(bodies)))
    lock = threading.Lock()
    errors: list[str] = []

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                index = todo.pop()
            request = urllib.request.Request(url, data=json.dumps(bodies[index]).encode(), method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=600) as response:
                    json.loads(response.read())
            except Exception as exc:     # a bench: report, do not hide
                errors.append(repr(exc))

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"bare client: {len(errors)} failed requests, e.g. {errors[0]}")
    return time.perf_counter() - started


def kit_run(ws: dict, root: Path, base_url: str, tasks: str, concurrency: int, run: str, limit: int | None) -> dict:
    from clue.runner import EvalOptions, evaluate

    started = time.perf_counter()
    outcome = evaluate(EvalOptions(model=str(ws["model"]), protocol="demo", protocol_dir=str(ws["protocol"]),
                                   data_dir=str(ws["data"]), results_dir=str(root / "results"), run=run, tasks=tasks,
                                   limit=limit, backend="openai", base_url=base_url, concurrency=concurrency,
                                   metrics="all,-bertscore,-umls", progress=False))
    wall = time.perf_counter() - started
    generate = sum(t.timings["generate_s"] for t in outcome.tasks)
    store = sum(t.timings["store_s"] for t in outcome.tasks)
    return {"wall_s": wall, "generate_s": generate, "store_s": store, "generate_and_store_s": generate + store,
            "requests": sum(t.n_generated for t in outcome.tasks), "run_dir": outcome.run_dir}


def request_bodies(ws: dict, base_url: str, tasks: str, limit: int | None) -> list[dict]:
    """The bodies the kit sends for these tasks (same prompt text, decoding and special-token handling)."""
    from clue.backends.openai import OpenAIBackend
    from clue.protocol import load_protocol
    from clue.runner import _context, EvalOptions
    from clue.taskinfo import parse_tasks
    from clue.tasks import get_task

    backend = OpenAIBackend(str(ws["model"]), base_url=base_url)
    options = EvalOptions(model=str(ws["model"]), protocol="demo", limit=limit)
    ctx = _context(options, load_protocol("demo", ws["protocol"]), backend.model_info())
    bodies = []
    for task in parse_tasks(tasks):
        module = get_task(task.id)
        for request in module.build_requests(module.load_records(ws["data"]), ctx):
            bodies.append(backend.request_body(request, backend.render(request))[0])
    return bodies


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="mednli,meqsum")
    parser.add_argument("--limit", type=int, default=None, help="items per task (default: all of the synthetic set)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="the server's torch threads")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--continuous-batching", action=argparse.BooleanOptionalAction, default=False,
                        help="serve with transformers' continuous batching (off by default: with transformers 5.20.2 "
                             "on CPU a CB server here left requests unanswered, see bench/RESULTS.md)")
    parser.add_argument("--server", choices=["transformers", "instant"], default="transformers",
                        help="transformers serve with the tiny model, or a stand-in that answers at once "
                             "(isolates the clients' own cost per request)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="bare-client and kit runs per concurrency, interleaved; medians are reported")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="clue-bench-openai-") as tmp:
        root = Path(tmp)
        ws = prepare_workspace(root, args.scale, args.seed)
        ws["model"] = build_model(ws, root, ModelShape(), args.seed)
        log = PROJECT_DIR / "bench" / "out" / "openai_server.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        if args.server == "instant":
            server = start_instant_server(args.port)
        else:
            server = start_server(ws["model"], args.port, args.threads, log, args.continuous_batching)
        base_url = f"http://127.0.0.1:{args.port}/v1"
        try:
            bodies = request_bodies(ws, base_url, args.tasks, args.limit)
            url = f"{base_url}/completions"
            bare_client(url, bodies[:8], 4)                          # warm-up
            report: dict = {"requests": len(bodies), "tasks": args.tasks, "server": args.server,
                            "server_threads": args.threads,
                            "continuous_batching": args.continuous_batching,
                            "cpu_count": os.cpu_count()}
            for concurrency in (1, args.concurrency):
                runs = []
                for repeat in range(args.repeats):        # interleaved, so drift hits both alike
                    bare = bare_client(url, bodies, concurrency)
                    kit = kit_run(ws, root, base_url, args.tasks, concurrency, f"c{concurrency}-r{repeat}", args.limit)
                    if kit["requests"] != len(bodies):
                        raise SystemExit(f"the kit sent {kit['requests']} requests, the bare client {len(bodies)}")
                    runs.append((bare, kit))
                bare = statistics.median(b for b, _ in runs)
                kit = {key: statistics.median(k[key] for _, k in runs)
                       for key in ("generate_s", "store_s", "wall_s", "generate_and_store_s")}
                overheads = [k["generate_and_store_s"] - b for b, k in runs]
                overhead = statistics.median(overheads)
                report[f"concurrency_{concurrency}"] = {
                    "repeats": args.repeats, "bare_client_s_each": [b for b, _ in runs],
                    "kit_generate_and_store_s_each": [k["generate_and_store_s"] for _, k in runs],
                    "bare_client_s": bare, "kit_generate_s": kit["generate_s"], "kit_store_s": kit["store_s"],
                    "kit_wall_s": kit["wall_s"], "kit_overhead_s": overhead,
                    "kit_overhead_percent": 100 * overhead / bare,
                    "kit_overhead_ms_per_request": 1000 * overhead / len(bodies),
                    "kit_overhead_percent_range": [100 * min(overheads) / bare, 100 * max(overheads) / bare]}
            one, many = report["concurrency_1"], report[f"concurrency_{args.concurrency}"]
            report["kit_speedup"] = one["kit_generate_s"] / many["kit_generate_s"]
            report["bare_speedup"] = one["bare_client_s"] / many["bare_client_s"]
            report["loadavg"] = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
        finally:
            if args.server == "instant":
                server.shutdown()
            else:
                server.terminate()
                server.wait(timeout=30)

    for key in ("concurrency_1", f"concurrency_{args.concurrency}"):
        r = report[key]
        print(f"{key}: {report['requests']} requests; bare client {r['bare_client_s']:.2f} s; kit generation "
              f"{r['kit_generate_s']:.2f} s + store {r['kit_store_s']:.3f} s (whole evaluate {r['kit_wall_s']:.2f} s); "
              f"kit overhead {r['kit_overhead_percent']:+.1f}% = {r['kit_overhead_ms_per_request']:+.2f} ms/request "
              f"(median of {r['repeats']}; range {r['kit_overhead_percent_range'][0]:+.1f}% to "
              f"{r['kit_overhead_percent_range'][1]:+.1f}%)")
    print(f"concurrency {args.concurrency} vs 1: kit {report['kit_speedup']:.2f}x, bare client "
          f"{report['bare_speedup']:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    main()
