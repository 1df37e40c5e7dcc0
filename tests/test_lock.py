"""The lock files agree with pyproject.toml and with each other (fast, no network).

Every line of requirements/lock-{cpu,cuda}.txt pins one package with `==` (torch in the CUDA lock with
`===`) and sha256 hashes; every requirement of the kit (and of each extra a lock says it covers) is met
by the pinned versions; the
two locks pin the same versions of everything but torch and its CUDA packages.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = {variant: ROOT / "requirements" / f"lock-{variant}.txt" for variant in ("cpu", "cuda")}
# the lock's target: CPython 3.11 on x86_64 Linux
TARGET = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython"}
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<op>===?)(?P<version>[^\s;\\=]+)(?P<rest>.*)$")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def _torch_family(name: str) -> bool:
    """torch itself and what only its CUDA build pulls in (NVIDIA libraries, triton)."""
    return name == "torch" or name == "triton" or name.startswith(("nvidia-", "cuda-"))


def parse_lock(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """({canonical name: version}, {header key: value}); asserts each requirement's form on the way.
    The header also records, as ``operators``, the names pinned with ``===`` (exact: no local versions)."""
    text = path.read_text(encoding="utf-8")
    header = dict(re.findall(r"^# (covers|python|torch): (.*)$", text, re.M))
    pins: dict[str, str] = {}
    logical = re.sub(r"\\\n\s*", " ", text)          # join continuation lines
    for number, line in enumerate(logical.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"{path.name}: requirement {number} is not pinned with ==: {line[:80]}"
        rest = match["rest"].strip()
        hashes = HASH.findall(rest)
        assert hashes, f"{path.name}: {match['name']} has no --hash=sha256:"
        assert HASH.sub("", rest).strip() == "", f"{path.name}: {match['name']}: unexpected options {rest[:80]}"
        name = canonicalize_name(match["name"])
        assert name not in pins, f"{path.name}: {name} pinned twice"
        pins[name] = match["version"]
        if match["op"] == "===":
            header.setdefault("exact", "")
            header["exact"] += f" {name}"
    return pins, header


@pytest.fixture(scope="module")
def locks():
    return {variant: parse_lock(path) for variant, path in LOCKS.items()}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _covered_extras(header: dict[str, str]) -> list[str]:
    match = re.fullmatch(r"clue-kit(?:\[(.*)\])?", header.get("covers", ""))
    assert match, f"lock header has no '# covers: clue-kit[...]' line: {header}"
    return [e.strip() for e in (match[1] or "").split(",") if e.strip()]


def _applies(requirement: Requirement, extra: str = "") -> bool:
    return requirement.marker is None or requirement.marker.evaluate({**TARGET, "extra": extra})


def _unmet(requirements: list[Requirement], pins: dict[str, str]) -> list[str]:
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement}: not in the lock")
        elif not requirement.specifier.contains(Version(pins[name]), prereleases=True):
            problems.append(f"{requirement}: the lock pins {pins[name]}")
    return problems


@pytest.mark.parametrize("variant", sorted(LOCKS))
def test_every_requirement_of_the_kit_and_its_covered_extras_is_met(locks, variant):
    pins, header = locks[variant]
    project = _project()
    extras = _covered_extras(header)
    assert set(extras) <= set(project["optional-dependencies"]), f"lock covers unknown extras {extras}"
    required = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        required += [Requirement(r) for r in project["optional-dependencies"][extra]]
    required = [r for r in required if _applies(r)]
    assert len(required) >= 20
    assert _unmet(required, pins) == []


def test_the_locks_cover_the_test_extra_and_the_cpu_lock_pins_the_cpu_torch(locks):
    cpu, cuda = locks["cpu"][0], locks["cuda"][0]
    assert "test" in _covered_extras(locks["cpu"][1])
    assert cpu["torch"].endswith("+cpu"), cpu["torch"]
    assert "+" not in cuda["torch"] and Version(cuda["torch"]).base_version == Version(cpu["torch"]).base_version
    # `torch==2.13.0` would also match 2.13.0+cpu from a configured CPU wheel folder or index (then refused by hash)
    assert locks["cuda"][1].get("exact", "").split() == ["torch"], "the CUDA lock must pin torch with ==="
    assert "exact" not in locks["cpu"][1]
    assert any(name.startswith("nvidia-") for name in cuda), "the CUDA lock has no NVIDIA libraries"
    assert not any(_torch_family(name) and name != "torch" for name in cpu), "the CPU lock has CUDA packages"


def test_the_two_locks_agree_on_everything_but_torch_and_cuda(locks):
    cpu, cuda = locks["cpu"][0], locks["cuda"][0]
    assert locks["cpu"][1]["covers"] == locks["cuda"][1]["covers"]
    only_cpu = sorted(n for n in set(cpu) - set(cuda) if not _torch_family(n))
    only_cuda = sorted(n for n in set(cuda) - set(cpu) if not _torch_family(n))
    differ = sorted(f"{n}: cpu {cpu[n]}, cuda {cuda[n]}" for n in set(cpu) & set(cuda)
                    if not _torch_family(n) and cpu[n] != cuda[n])
    assert (only_cpu, only_cuda, differ) == ([], [], [])


def _requirements_of(name: str, extras: set[str]) -> list[Requirement] | None:
    """An installed distribution's requirements for the target (with ``extras``), None if not installed."""
    try:
        listed = metadata.requires(name) or []
    except metadata.PackageNotFoundError:
        return None
    found = []
    for line in listed:
        requirement = Requirement(line)
        if requirement.marker is None or any(_applies(requirement, extra) for extra in ["", *extras]):
            found.append(requirement)
    return found


def test_the_cpu_lock_is_closed_under_the_installed_packages_requirements(locks):
    """Walk the dependency graph from the kit's requirements through the installed packages' metadata
    (those installed at the locked version; CI installs exactly this lock): every requirement met."""
    pins, header = locks["cpu"]
    project = _project()
    todo = [Requirement(r) for r in project["dependencies"]]
    for extra in _covered_extras(header):
        todo += [Requirement(r) for r in project["optional-dependencies"][extra]]
    seen: set[tuple[str, frozenset]] = set()
    walked, problems = [], []
    while todo:
        requirement = todo.pop()
        if not _applies(requirement):
            continue
        problems += _unmet([requirement], pins)
        name = canonicalize_name(requirement.name)
        key = (name, frozenset(requirement.extras))
        if key in seen or name not in pins:
            continue
        seen.add(key)
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if Version(installed) != Version(pins[name]):
            continue
        below = _requirements_of(name, set(requirement.extras))
        walked.append(name)
        todo += below
    assert problems == []
    # the walk must have got past the roots: transformers, pandas, spacy at least bring their own
    assert {"transformers", "pandas", "spacy"} <= set(walked), (
        f"only {sorted(walked)} are installed at the locked versions: install from the lock (make install)")
