"""The source registry (``data_recipes/sources.json``, plus the ``sources`` of plugin tasks): every raw
file a test set is built from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from clue.errors import InputError, NotReadyError
from clue.io import os_error_message, read_json
from clue.paths import recipes_dir
from clue.taskinfo import all_tasks


@dataclass(frozen=True)
class Source:
    name: str
    tasks: tuple[str, ...]
    access: str                 # "credentialed" (PhysioNet) or "public"
    project: str                # PhysioNet slug or GitHub owner/repo
    version: str
    path: str                   # location under --raw-dir
    url: str
    description: str
    sha256: str | None = None   # pinned hash, where known
    size: int | None = None
    checksums: str | None = None  # URL of the project's SHA256SUMS.txt
    alt_names: tuple[str, ...] = ()
    is_folder: bool = False
    trust_on_first_use: bool = False
    licence: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def credentialed(self) -> bool:
        return self.access == "credentialed"

    def candidates(self, raw_dir: Path) -> list[Path]:
        """Where the file may lie under ``raw_dir``, most specific first."""
        main = raw_dir / self.path
        found = [main]
        found += [main.parent / alt for alt in self.alt_names]
        # a `wget -r` mirror of PhysioNet keeps the host and /files/ prefix
        if self.credentialed:
            mirror = raw_dir / "physionet.org" / "files" / self.path
            found += [mirror] + [mirror.parent / alt for alt in self.alt_names]
        return found

    def locate(self, raw_dir: Path) -> Path | None:
        """The first candidate that exists; a broken symbolic link counts (reading it names the fault)."""
        for candidate in self.candidates(raw_dir):
            if candidate.exists() or candidate.is_symlink():
                return candidate
        return None

    def missing_message(self, raw_dir: Path) -> str:
        where = raw_dir / self.path
        if self.credentialed:
            return (
                f"{where}: not found; it comes from PhysioNet project {self.project} "
                f"version {self.version} ({self.url}), which needs a credentialed PhysioNet account "
                f"(run `clue data fetch` with PHYSIONET_USERNAME/PHYSIONET_PASSWORD or ~/.netrc set)"
            )
        return f"{where}: not found; download it with `clue data fetch` (from {self.url})"

    def require(self, raw_dir: Path) -> Path:
        found = self.locate(raw_dir)
        if found is None:
            raise NotReadyError(self.missing_message(raw_dir))
        expected = "a folder (the release's files)" if self.is_folder else f"the {self.name} file"
        try:
            found.stat()
        except OSError as exc:   # a symbolic link loop or a link to nothing
            raise InputError(os_error_message(found, exc, expected)) from None
        if found.is_dir() and not self.is_folder:
            raise InputError(f"{found}: is a folder, expected {expected}")
        return found


_KNOWN = {f for f in Source.__dataclass_fields__} - {"name", "extra"}


def load_registry(path: Path | None = None) -> dict[str, Source]:
    path = path or recipes_dir() / "sources.json"
    if not path.is_file():
        raise InputError(f"{path}: source registry not found")
    raw = read_json(path)
    sources = {name: _source(name, entry, str(path)) for name, entry in raw.get("sources", {}).items()}
    for task in all_tasks():            # a plugin task declares its own raw files (TaskSpec.sources)
        for name, entry in task.sources.items():
            if name in sources:
                raise InputError(f"task {task.id}: source {name!r} is already in {path}; give it another name")
            sources[name] = _source(name, entry, f"task {task.id}")
    return sources


def _source(name: str, entry: dict, where: str) -> Source:
    known = {k: v for k, v in entry.items() if k in _KNOWN}
    for key in ("tasks", "alt_names"):
        if key in known:
            known[key] = tuple(known[key])
    extra = {k: v for k, v in entry.items() if k not in _KNOWN}
    try:
        return Source(name=name, extra=extra, **known)
    except TypeError as exc:
        raise InputError(f"{where}: source {name!r}: {exc}") from None
