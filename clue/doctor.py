"""``clue doctor``: does this machine have what a full run needs? One report and one verdict.

Each :class:`Check` is either *required* (its failure makes the verdict NOT READY and the command
exit 1, so a container build or a CI job can be gated on it) or *information* (shown, never fatal):

- metrics: packages import and assets present and verified (:func:`clue.assets.doctor`); required
  for the metric groups of ``--metrics`` (default all), information for those left out;
- protocols: each ``--protocol`` fetched and unmodified (:func:`clue.protocol.load_protocol`);
- test sets: ``--data-dir`` given: each task's ``test.jsonl`` and ``manifest.json`` built;
- GPU: ``torch.cuda`` availability and device count; required with ``--gpu``, skipped with ``--no-gpu``;
- engine: the vLLM command (the same lookup as ``--backend vllm``: ``--engine-command``, else
  ``$CLUE_VLLM``, else ``vllm``) found as an executable; required with ``--backend vllm``;
- Hugging Face token: whether one is available (environment or stored login), never its value;
  required with ``--hf-token``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from clue.errors import ClueError

TOKEN_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")


@dataclass(frozen=True)
class Check:
    section: str      # metrics | protocol | data | gpu | engine | token
    name: str
    ok: bool
    required: bool    # False: information only, never makes the verdict NOT READY
    detail: str

    @property
    def state(self) -> str:
        if self.required:
            return "ready" if self.ok else "NOT READY"
        return "info"

    def line(self) -> str:
        return f"{self.section:9} {self.name:11} {self.state:9}  {self.detail}"


def missing(checks: Iterable[Check]) -> list[Check]:
    return [check for check in checks if check.required and not check.ok]


# --------------------------------------------------------------------------- the checks

def metric_checks(assets_dir=None, metrics: str | None = None, lock=None) -> list[Check]:
    from clue import assets
    from clue.metrics.resources import parse_metrics

    enabled = parse_metrics(metrics)
    return [Check("metrics", item.metric, item.ready, item.metric in enabled,
                  item.detail if item.metric in enabled else f"left out by --metrics; {item.detail}")
            for item in assets.doctor(assets_dir, lock, metrics=enabled)]


def protocol_checks(names: Iterable[str], protocol_dir=None) -> list[Check]:
    from clue.protocol import load_protocol

    checks = []
    for name in names:
        try:
            protocol = load_protocol(name, protocol_dir)
        except ClueError as exc:
            checks.append(Check("protocol", name, False, True, str(exc)))
            continue
        commit = str(protocol.provenance.get("commit") or "")[:7]
        state = "modified" if protocol.modified else "unmodified"
        detail = f"{protocol.path} ({state}{', commit ' + commit if commit else ''})"
        if protocol.modified:
            detail += f": {(protocol.check or {}).get('reason', '')}; fetch it again or pass --allow-modified-protocol"
        checks.append(Check("protocol", name, not protocol.modified, True, detail))
    return checks


def data_checks(data_dir: str | os.PathLike) -> list[Check]:
    from clue.taskinfo import TASK_IDS

    checks = []
    for task in TASK_IDS:
        folder = Path(data_dir) / task
        absent = [name for name in ("test.jsonl", "manifest.json") if not (folder / name).is_file()]
        detail = (f"{folder}: {' and '.join(absent)} missing; run `clue data build`" if absent
                  else f"{folder}/test.jsonl built (`clue data verify` compares its fingerprint)")
        checks.append(Check("data", task, not absent, True, detail))
    return checks


def gpu_check(required: bool) -> Check:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - any import failure: no GPU for the kit
        return Check("gpu", "cuda", False, required, f"cannot import torch ({type(exc).__name__}: {exc})")
    build = f"torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}"
    try:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception as exc:  # noqa: BLE001 - a broken driver raises here
        return Check("gpu", "cuda", False, required, f"{build}; torch.cuda failed ({type(exc).__name__}: {exc})")
    if not count:
        return Check("gpu", "cuda", False, required, f"no CUDA GPU visible to torch ({build})")
    names = sorted({torch.cuda.get_device_name(i) for i in range(count)})
    return Check("gpu", "cuda", True, required, f"{count} GPU{'s' if count > 1 else ''} ({', '.join(names)}; {build})")


def engine_check(engine_command: str | None, required: bool) -> Check:
    from clue.backends.engine import ENGINE_VARIABLE, engine_command as resolve

    origin = ("--engine-command" if engine_command else f"${ENGINE_VARIABLE}" if os.environ.get(ENGINE_VARIABLE)
              else "the default")
    try:
        argv = resolve(engine_command)
    except ClueError as exc:
        return Check("engine", "vllm", False, required, str(exc))
    found = shutil.which(argv[0])
    if found is None:
        return Check("engine", "vllm", False, required,
                     f"{argv[0]!r} ({origin}) is not an executable on the PATH; --backend vllm needs it "
                     f"(set --engine-command or {ENGINE_VARIABLE})")
    return Check("engine", "vllm", True, required, f"{argv[0]!r} ({origin}) found at {found}; not started here")


def token_check(required: bool) -> Check:
    """Whether a Hugging Face token is available, and from where; its value is never read into the report."""
    for variable in TOKEN_VARIABLES:
        if os.environ.get(variable, "").strip():
            return Check("token", "huggingface", True, required, f"set in the environment ({variable}); value not shown")
    stored = _stored_token_path()
    if stored is not None:
        return Check("token", "huggingface", True, required, f"stored login {stored}; value not shown")
    return Check("token", "huggingface", False, required,
                 "no HF_TOKEN and no stored login: gated models (e.g. Llama 3) cannot be downloaded")


def _stored_token_path() -> Path | None:
    """huggingface_hub's stored login (``huggingface-cli login``), located as the hub library does:
    $HF_TOKEN_PATH, else $HF_HOME/token, else $XDG_CACHE_HOME/huggingface/token (default ~/.cache)."""
    path = os.environ.get("HF_TOKEN_PATH")
    if not path:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        path = Path(os.environ.get("HF_HOME") or cache / "huggingface") / "token"
    try:
        return Path(path) if Path(path).is_file() and Path(path).stat().st_size > 0 else None
    except OSError:
        return None


def run_checks(*, assets_dir=None, metrics: str | None = None, protocols: Iterable[str] = ("paper",),
               protocol_dir=None, data_dir=None, gpu: bool | None = None, backend: str = "hf",
               engine_command: str | None = None, hf_token: bool = False, lock=None) -> list[Check]:
    """Every check, in report order. ``gpu``: True required, None information, False not checked."""
    checks = metric_checks(assets_dir, metrics, lock)
    checks += protocol_checks(protocols, protocol_dir)
    if data_dir is not None:
        checks += data_checks(data_dir)
    if gpu is not False:
        checks.append(gpu_check(required=bool(gpu)))
    checks.append(engine_check(engine_command, required=backend == "vllm"))
    checks.append(token_check(required=hf_token))
    return checks
