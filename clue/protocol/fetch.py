"""`clue protocol fetch`: the upstream CLUE prompt files at a pinned commit, read without running them.

For each task the upstream evaluation script is obtained (downloaded from the raw-file URL of the
pinned commit, or read from a local checkout), its sha256 is checked against ``pins.json``, and its
module-level string constants are read with :mod:`ast`: literals, ``+`` concatenations of literals
and names bound earlier in the file. Nothing in the file is imported or executed. The result, with
its provenance, is written to ``protocol/<name>.json``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

from clue import __version__
from clue.errors import ChecksumError, InputError
from clue.io import atomic_write, read_json, write_json
from clue.paths import PACKAGE_DIR, protocol_dir as default_protocol_dir
from clue.taskinfo import all_tasks, task_info

PINS_PATH = Path(__file__).with_name("pins.json")
DEMO_DIR = PACKAGE_DIR / "demo" / "upstream"     # the demo protocol's own (kit-written) prompt files
PINS_ENV = "CLUE_PROTOCOL_PINS"                   # a JSON file {path: sha256} that replaces the pinned hashes

# Module-level names each task's file must define: ``TaskSpec.prompt_fields`` (LongHealth builds its
# prompt differently). ``ground_truth_key`` is read where present: the paper-era MeDiSumQA file does
# not define it (its gold field is named in the code), and the kit's tasks name their gold field themselves.
OPTIONAL_STRINGS = ("ground_truth_key",)
OPTIONAL = ("max_new_tokens", "max_tokens")


def load_pins() -> dict:
    """``pins.json`` plus, from the task registry, ``task_files`` (task id -> ``TaskSpec.upstream_file``)
    and the pins a plugin task brings for its own prompt file (``TaskSpec.pins``)."""
    pins = json.loads(PINS_PATH.read_text(encoding="utf-8"))
    pins["task_files"] = {t.id: t.upstream_file for t in all_tasks()}
    for task in all_tasks():
        for protocol, sha256 in task.pins.items():
            if protocol in pins["protocols"]:
                pins["protocols"][protocol]["files"][task.upstream_file] = sha256
    return pins


def pinned(name: str) -> dict:
    """The pin of protocol ``name``: commit, date and ``files`` {path: sha256}."""
    pins = load_pins()["protocols"]
    if name not in pins:
        raise InputError(f"unknown protocol {name!r}: expected one of {', '.join(pins)}")
    return pins[name]


# --------------------------------------------------------------------------------------------
# Reading constants with ast

class _NotConstant(Exception):
    pass


def _fold(node: ast.expr, known: dict):
    """The value of a constant expression: a str/int literal, a name bound earlier, or ``a + b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in known:
        return known[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left, known), _fold(node.right, known)
        if type(left) is not type(right):
            raise _NotConstant
        return left + right
    raise _NotConstant


def extract_constants(source: str | bytes, filename: str = "<upstream>") -> dict:
    """Module-level ``name = <constant expression>`` bindings of a Python file, without running it.

    Only plain assignments at the top level count; anything that is not a literal, a ``+`` of
    literals, or a reference to an earlier constant is left out (never evaluated).
    """
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise InputError(f"{filename}: not valid Python (line {exc.lineno}): {exc.msg}") from None
    constants: dict = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if len(names) != len(targets):
            continue
        try:
            folded = _fold(value, constants)
        except _NotConstant:
            for name in names:          # a later non-constant rebinding hides an earlier value
                constants.pop(name, None)
            continue
        for name in names:
            constants[name] = folded
    return constants


def task_constants(task_id: str, source: bytes, filename: str) -> dict:
    """The prompt constants of one task's file; InputError naming the file and the missing name."""
    found = extract_constants(source, filename)
    entry = {}
    for name in task_info(task_id).prompt_fields:
        if not isinstance(found.get(name), str):
            raise InputError(f"{filename}: missing string constant {name!r} (expected a module-level assignment)")
        entry[name] = found[name]
    for name in OPTIONAL_STRINGS:
        if isinstance(found.get(name), str):
            entry[name] = found[name]
    for name in OPTIONAL:
        if isinstance(found.get(name), int):
            entry["max_new_tokens"] = found[name]
    return entry


# --------------------------------------------------------------------------------------------
# Obtaining the files

def _read_local(folder: Path, relpath: str) -> bytes:
    path = folder / relpath
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (expected the upstream checkout at the pinned commit)") from None


def _download(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except urllib.error.HTTPError as exc:
        raise InputError(f"{url}: download failed with HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InputError(f"{url}: download failed ({reason}); use --from-dir with a local checkout") from None


def _expected_hashes(pin: dict, override: dict | None) -> tuple[dict, bool]:
    if override is not None:
        return dict(override), True
    env = os.environ.get(PINS_ENV)
    if env:
        return dict(read_json(env)), True
    return dict(pin["files"]), False


def fetch_protocol(
    name: str = "paper",
    protocol_dir: str | os.PathLike | None = None,
    from_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
    expected_sha256: dict | None = None,
    timeout: float = 60.0,
) -> Path:
    """Obtain, check and read every registered task's upstream file of protocol ``name``; write protocol/<name>.json.

    ``from_dir``: a local upstream checkout (the files at ``eval/…``) instead of downloading.
    ``base_url``: replaces ``https://raw.githubusercontent.com/TIO-IKIM/CLUE`` (``<base>/<commit>/<path>``).
    ``expected_sha256``: {path: sha256} replacing the pinned hashes (tests; also env ``CLUE_PROTOCOL_PINS``).
    The ``demo`` protocol reads the kit's own prompt files shipped in the package by default; a
    plugin task's file is read from its ``TaskSpec.prompt_dir`` and checked against its ``pins``.
    """
    pins = load_pins()
    pin = pinned(name)
    expected, overridden = _expected_hashes(pin, expected_sha256)
    if from_dir is None and name == "demo":
        from_dir = DEMO_DIR
    commit = pin["commit"]
    base_url = (base_url or pins["raw_url"]).rstrip("/")

    files: dict[str, str] = {}
    tasks: dict[str, dict] = {}
    contents: dict[str, bytes] = {}
    for task_id, relpath in pins["task_files"].items():
        folder = task_info(task_id).prompt_dir or from_dir     # a plugin task ships its own prompt file
        if folder is not None:
            origin = str(Path(folder) / relpath)
            data = _read_local(Path(folder), relpath)
        else:
            origin = f"{base_url}/{commit}/{relpath}"
            data = _download(origin, timeout)
        actual = hashlib.sha256(data).hexdigest()
        if relpath not in expected:
            raise ChecksumError(f"{origin}: no pinned sha256 for {relpath} in protocol {name!r}")
        if actual != expected[relpath]:
            raise ChecksumError(f"{origin}: sha256 mismatch: expected {expected[relpath]}, got {actual}")
        files[relpath] = actual
        contents[relpath] = data
        tasks[task_id] = {"file": relpath, **task_constants(task_id, data, origin)}

    document = {
        "name": name,
        "commit": commit,
        "date": pin.get("date"),
        "source": str(Path(from_dir).resolve()) if from_dir is not None else f"{base_url}/{commit}/",
        "files": files,
        "pins_overridden": overridden,
        "fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "kit_version": __version__,
        "upstream_copy": copy_dir_name(name),
        "prompts_sha256": prompts_digest(tasks),
        "tasks": tasks,
    }
    out = Path(protocol_dir or default_protocol_dir()) / f"{name}.json"
    # the checked upstream files are kept beside the JSON: loading re-reads the prompts from them
    for relpath, data in contents.items():
        with atomic_write(out.parent / copy_dir_name(name) / relpath, "wb") as handle:
            handle.write(data)
    write_json(out, document)
    return out


def copy_dir_name(name: str) -> str:
    """Folder beside ``<name>.json`` holding the checked upstream files (``<name>.upstream/eval/…``)."""
    return f"{name}.upstream"


def prompts_digest(tasks: dict) -> str:
    """sha256 of the canonical JSON of prompt constants (one task's entry, or the whole ``tasks`` object)."""
    return hashlib.sha256(json.dumps(tasks, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode("utf-8")).hexdigest()
