"""Download the raw sources of the registry into ``--raw-dir``: resumable, verified, never half-written.

Public files come from their pinned GitHub URLs. PhysioNet files come with the user's own
credentials (``PHYSIONET_USERNAME``/``PHYSIONET_PASSWORD`` or ``~/.netrc``), and each is checked
against the project's ``SHA256SUMS.txt``, which is downloaded into the same layout
(``<raw>/<slug>/<version>/SHA256SUMS.txt``) unless the user already put it there. LongHealth has no
published hash and its registry entry names a branch: on the first download the branch is resolved to
its commit (GitHub API), the file is taken from that commit, and the commit and the file's sha256 are
written to ``<raw>/longhealth/benchmark_v5.json.sha256`` and shown (trust on first use); later runs
download from the recorded commit and verify against the recorded hash.

A download goes to ``<file>.part`` and is renamed into place only once verified. A ``.part`` left by an
interrupted run is resumed with an HTTP ``Range`` request; a server that answers 200 instead of 206
makes the download start again from the first byte. A dropped connection is resumed the same way.
Base URLs can be moved (tests use a local server) with ``CLUE_PHYSIONET_BASE``,
``CLUE_GITHUB_RAW_BASE`` and ``CLUE_GITHUB_API_BASE``.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import http.client
import netrc
import os
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from clue import __version__
from clue.data.sources import Source, load_registry
from clue.errors import ChecksumError, ClueError, InputError, NotReadyError
from clue.io import atomic_write, read_json, read_text, write_json

PHYSIONET_BASE = "https://physionet.org/files/"
GITHUB_RAW_BASE = "https://raw.githubusercontent.com/"
GITHUB_API_BASE = "https://api.github.com/"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
CHECKSUMS_NAME = "SHA256SUMS.txt"
RECORD_NAME = "fetch-record.json"
CHUNK = 1 << 20
RETRIES = 5
TIMEOUT_S = 60.0

DUA_HINT = (
    "this project needs a credentialed PhysioNet account and a signed data use agreement for it "
    "(see the project page on physionet.org)"
)


class DownloadError(ClueError):
    """The server refused or failed a download (HTTP error, connection lost for good)."""


class CredentialsError(DownloadError):
    """PhysioNet credentials are missing or were refused."""


def physionet_base() -> str:
    return _with_slash(os.environ.get("CLUE_PHYSIONET_BASE", PHYSIONET_BASE))


def github_raw_base() -> str:
    return _with_slash(os.environ.get("CLUE_GITHUB_RAW_BASE", GITHUB_RAW_BASE))


def github_api_base() -> str:
    return _with_slash(os.environ.get("CLUE_GITHUB_API_BASE", GITHUB_API_BASE))


def resolve_commit(project: str, ref: str) -> str | None:
    """The commit a GitHub branch or tag points at now (None when it cannot be asked)."""
    if _COMMIT.match(ref):
        return ref
    url = f"{github_api_base()}repos/{project}/commits/{urllib.parse.quote(ref, safe='')}"
    request = urllib.request.Request(url, headers={"Accept": "application/vnd.github.sha", "User-Agent": "clue-kit"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = response.read(200).decode("ascii", "replace").strip()
    except (urllib.error.URLError, OSError, http.client.HTTPException):
        return None
    return answer if _COMMIT.match(answer) else None


def _with_slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


# --------------------------------------------------------------------------- credentials

@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    def header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


def physionet_credentials(base: str | None = None) -> Credentials:
    """The user's PhysioNet account: environment first, then ``~/.netrc`` (``$NETRC`` moves it)."""
    user = os.environ.get("PHYSIONET_USERNAME")
    password = os.environ.get("PHYSIONET_PASSWORD")
    if user and password:
        return Credentials(user, password)
    host = urllib.parse.urlsplit(base or physionet_base()).hostname or "physionet.org"
    path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    if path.exists():
        try:
            entry = netrc.netrc(str(path)).authenticators(host)
        except (netrc.NetrcParseError, OSError) as exc:
            raise CredentialsError(f"{path}: cannot read it ({getattr(exc, 'msg', exc)})") from None
        if entry and entry[0] and entry[2]:
            return Credentials(entry[0], entry[2])
    raise CredentialsError(
        f"PhysioNet credentials missing: set PHYSIONET_USERNAME and PHYSIONET_PASSWORD, or add "
        f"'machine {host} login … password …' to {path}; {DUA_HINT}"
    )


# --------------------------------------------------------------------------- one download

def _open(url: str, offset: int, auth: Credentials | None) -> http.client.HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": f"clue-kit/{__version__}"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    if auth is not None:
        # unredirected: never forwarded to another host a redirect points at
        request.add_unredirected_header("Authorization", auth.header())
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)


def _http_error(url: str, exc: urllib.error.HTTPError, credentialed: bool) -> DownloadError:
    if exc.code in (401, 403) and credentialed:
        return CredentialsError(
            f"{url}: PhysioNet refused the download (HTTP {exc.code}): the credentials are missing or wrong, "
            f"or the account lacks access; {DUA_HINT}"
        )
    if exc.code == 404:
        return DownloadError(f"{url}: not found on the server (HTTP 404)")
    return DownloadError(f"{url}: HTTP {exc.code} {exc.reason}")


def download(
    url: str,
    dest: Path,
    *,
    expected_sha256: str | None = None,
    allow_unverified: bool = False,
    auth: Credentials | None = None,
    credentialed: bool = False,
    progress: bool = True,
    retries: int = RETRIES,
    label: str | None = None,
) -> tuple[str, bool]:
    """Download ``url`` to ``dest`` through ``dest.part``; return ``(sha256, verified)``.

    ``verified`` is True when ``expected_sha256`` was given and matched. A mismatch raises
    :class:`ChecksumError` (and discards the ``.part``) unless ``allow_unverified``.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    digest = hashlib.sha256()
    offset = 0
    if part.exists():
        offset = part.stat().st_size
        _hash_into(digest, part)
    failures = 0
    bar = None
    try:
        while True:
            try:
                response = _open(url, offset, auth)
            except urllib.error.HTTPError as exc:
                if exc.code == 416 and offset:
                    # nothing after `offset`: the .part already holds the whole file
                    break
                if exc.code in (500, 502, 503, 504) and failures < retries:
                    failures += 1
                    time.sleep(min(0.2 * 2**failures, 5.0))
                    continue
                raise _http_error(url, exc, credentialed) from None
            except (urllib.error.URLError, OSError) as exc:
                failures += 1
                if failures > retries:
                    reason = getattr(exc, "reason", exc)
                    raise DownloadError(f"{url}: cannot connect ({reason})") from None
                time.sleep(min(0.2 * 2**failures, 5.0))
                continue
            with response:
                status = response.status
                if offset and status == 200:
                    # the server ignored the Range header: start again from the first byte
                    offset = 0
                    digest = hashlib.sha256()
                    part.unlink(missing_ok=True)
                elif status == 206:
                    start = _content_range_start(response.headers.get("Content-Range"))
                    if start != offset:
                        offset = 0
                        digest = hashlib.sha256()
                        part.unlink(missing_ok=True)
                        continue
                length = response.headers.get("Content-Length")
                total = offset + int(length) if length is not None else None
                if bar is None:
                    bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                               desc=label or dest.name, disable=not progress, leave=True)
                else:
                    bar.reset(total=total)
                    bar.update(offset)
                try:
                    with open(part, "ab") as handle:
                        for block in iter(lambda: response.read(CHUNK), b""):
                            handle.write(block)
                            digest.update(block)
                            offset += len(block)
                            bar.update(len(block))
                except (http.client.HTTPException, ConnectionError, TimeoutError, socket.timeout):
                    failures += 1
                    if failures > retries:
                        raise DownloadError(
                            f"{url}: connection lost {failures} times; run the command again to resume "
                            f"from {part}"
                        ) from None
                    time.sleep(min(0.2 * 2**failures, 5.0))
                    continue
                if total is not None and offset < total:
                    failures += 1
                    if failures > retries:
                        raise DownloadError(f"{url}: got {offset} of {total} bytes; run again to resume") from None
                    continue
                break
    finally:
        if bar is not None:
            bar.close()
    if not part.exists():
        part.touch()
    actual = digest.hexdigest()
    verified = False
    if expected_sha256 is not None:
        if actual != expected_sha256.lower():
            if not allow_unverified:
                part.unlink(missing_ok=True)
                raise ChecksumError(
                    f"{url}: sha256 mismatch: expected {expected_sha256.lower()}, got {actual} "
                    f"(download discarded; --allow-unverified keeps it)"
                )
        else:
            verified = True
    os.replace(part, dest)
    return actual, verified


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    if not value or not value.startswith("bytes "):
        return None
    try:
        return int(value[6:].split("-", 1)[0])
    except ValueError:
        return None


def _hash_into(digest, path: Path) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)


def hash_file(path: Path, progress: bool = True) -> str:
    """sha256 of a file, with a progress bar for large ones."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=f"checking {path.name}",
              disable=not progress or size < 64 * CHUNK, leave=False) as bar, open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


# --------------------------------------------------------------------------- checksums files

def parse_checksums(path: Path) -> dict[str, str]:
    """``SHA256SUMS.txt`` → ``{relative path: sha256}`` (``sha256sum`` format, ``*`` binary marker allowed)."""
    sums: dict[str, str] = {}
    for number, line in enumerate(read_text(path, f"a {CHECKSUMS_NAME} file").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64 or not all(c in "0123456789abcdefABCDEF" for c in parts[0]):
            raise InputError(f"{path}: line {number}: expected '<sha256>  <file>', found {line[:80]!r}")
        name = parts[1].lstrip("*").strip()
        if name.startswith("./"):
            name = name[2:]
        sums[name] = parts[0].lower()
    return sums


# --------------------------------------------------------------------------- the fetch run

@dataclass
class FetchResult:
    source: str
    path: str | None
    status: str                 # "downloaded", "present", "failed"
    verified: bool = False
    sha256: str | None = None
    note: str = ""


@dataclass
class _Run:
    raw_dir: Path
    allow_unverified: bool
    progress: bool
    echo: Callable[[str], None]
    record: dict
    auth: Credentials | None = None
    auth_error: ClueError | None = None
    checksums: dict[str, dict[str, str]] = field(default_factory=dict)

    refusal: str | None = None      # the URL where PhysioNet refused the credentials in this run

    def credentials(self, url: str) -> Credentials:
        """The credentials to send for ``url``; after a refusal, an error naming ``url`` and the refusal."""
        if self.refusal is not None:
            raise CredentialsError(
                f"{url}: not requested: PhysioNet refused the same credentials earlier in this run (at "
                f"{self.refusal}); check PHYSIONET_USERNAME/PHYSIONET_PASSWORD or ~/.netrc; {DUA_HINT}")
        if self.auth_error is not None:
            raise self.auth_error
        if self.auth is None:
            try:
                self.auth = physionet_credentials()
            except ClueError as exc:
                self.auth_error = exc
                raise
        return self.auth

    def refused(self, exc: ClueError) -> None:
        """After a 401/403 do not keep sending the same credentials."""
        if isinstance(exc, CredentialsError) and self.refusal is None and "(HTTP 40" in str(exc):
            self.refusal = str(exc).split(": ", 1)[0]


def select_sources(
    registry: dict[str, Source],
    names: Iterable[str] = (),
    tasks: Iterable[str] = (),
    public_only: bool = False,
) -> list[Source]:
    names, tasks = list(names), list(tasks)
    for name in names:
        if name not in registry:
            raise InputError(f"--source {name}: unknown source; known: {', '.join(registry)}")
    known_tasks = {t for s in registry.values() for t in s.tasks}
    for task in tasks:
        if task not in known_tasks:
            raise InputError(f"--task {task}: unknown task; known: {', '.join(sorted(known_tasks))}")
    chosen = [
        s for s in registry.values()
        if (not names or s.name in names) and (not tasks or set(s.tasks) & set(tasks))
    ]
    if public_only:
        chosen = [s for s in chosen if not s.credentialed]
    # public first: they need no account, so a credentials problem never holds them back
    return sorted(chosen, key=lambda s: s.credentialed)


def fetch(
    raw_dir: Path,
    *,
    sources: Iterable[str] = (),
    tasks: Iterable[str] = (),
    public_only: bool = False,
    allow_unverified: bool = False,
    longhealth_ref: str | None = None,
    registry: dict[str, Source] | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> list[FetchResult]:
    """Fetch the selected sources into ``raw_dir``; one :class:`FetchResult` per file.

    A failure of one source (credentials, HTTP error, checksum) is reported in its result and does
    not stop the others. Every outcome is recorded in ``<raw_dir>/fetch-record.json``.
    """
    raw_dir = Path(raw_dir)
    registry = registry or load_registry()
    chosen = select_sources(registry, sources, tasks, public_only)
    record_path = raw_dir / RECORD_NAME
    record = read_json(record_path) if record_path.exists() else {"files": {}}
    run = _Run(raw_dir, allow_unverified, progress, echo, record)
    results: list[FetchResult] = []
    for source in chosen:
        try:
            if source.credentialed:
                results += _fetch_physionet(run, source)
            else:
                results.append(_fetch_public(run, source, longhealth_ref))
        except ClueError as exc:
            run.refused(exc)
            results.append(FetchResult(source.name, source.path, "failed", note=str(exc)))
            echo(f"{source.name}: FAILED: {exc}")
        finally:
            if record["files"]:
                write_json(record_path, record)
    return results


def _note(run: _Run, source: Source, path: Path, sha: str, verified: bool, url: str, **extra) -> None:
    run.record["files"][str(path.relative_to(run.raw_dir))] = {
        "source": source.name,
        "url": url,
        "sha256": sha,
        "verified": verified,
        "checked_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **extra,
    }


# ----- public (GitHub raw)

def _public_url(source: Source, ref: str | None) -> str:
    url = source.url
    if ref and ref != source.version:
        pinned = f"/{source.project}/{source.version}/"
        if pinned not in url:
            raise InputError(f"source {source.name}: cannot apply ref {ref} to {url}")
        url = url.replace(pinned, f"/{source.project}/{ref}/", 1)
    if url.startswith(GITHUB_RAW_BASE):
        url = github_raw_base() + url[len(GITHUB_RAW_BASE):]
    return url


def tofu_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def read_tofu(path: Path) -> str | None:
    marker = tofu_path(path)
    if not marker.exists():
        return None
    text = read_text(marker, "a sha256 record").split()
    if not text or len(text[0]) != 64:
        raise InputError(f"{marker}: expected a sha256 (64 hex digits) on its first line")
    return text[0].lower()


def read_tofu_commit(path: Path) -> str | None:
    """The commit recorded beside the hash (a ``# commit <sha>`` line), if any."""
    marker = tofu_path(path)
    if not marker.exists():
        return None
    for line in read_text(marker, "a sha256 record").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[:2] == ["#", "commit"] and _COMMIT.match(parts[2]):
            return parts[2]
    return None


def _fetch_public(run: _Run, source: Source, longhealth_ref: str | None) -> FetchResult:
    ref = longhealth_ref if source.trust_on_first_use and longhealth_ref else source.version
    if source.trust_on_first_use and not longhealth_ref:
        ref = read_tofu_commit(run.raw_dir / source.path) or ref   # the commit of the first download
    url = _public_url(source, ref)
    dest = run.raw_dir / source.path
    expected = source.sha256
    if source.trust_on_first_use and expected is None:
        expected = read_tofu(dest)
    if dest.exists():
        actual = hash_file(dest, run.progress)
        if expected is None:
            # a file placed by hand, never hashed before: record it now (trust on first use)
            _write_tofu(run, dest, actual, "found in place")
            _note(run, source, dest, actual, False, url, ref=ref, trust_on_first_use=True)
            return FetchResult(source.name, str(dest), "present", False, actual, "hash recorded (first use)")
        if actual == expected:
            run.echo(f"{source.name}: {dest} already present and verified; not downloading")
            _note(run, source, dest, actual, True, url, ref=ref, expected=expected)
            return FetchResult(source.name, str(dest), "present", True, actual)
        if run.allow_unverified:
            run.echo(f"{source.name}: WARNING {dest}: sha256 {actual} differs from expected {expected}; "
                     f"kept (--allow-unverified)")
            _note(run, source, dest, actual, False, url, ref=ref, expected=expected)
            return FetchResult(source.name, str(dest), "present", False, actual, "checksum mismatch (allowed)")
        raise ChecksumError(
            f"{dest}: sha256 mismatch: expected {expected}, got {actual} "
            f"(delete the file to download it again, or pass --allow-unverified)"
        )
    if source.trust_on_first_use and not _COMMIT.match(ref):
        commit = resolve_commit(source.project, ref)
        if commit is None:
            run.echo(f"{source.name}: WARNING could not resolve {source.project}@{ref} to a commit; "
                     f"downloading {ref} as it is now (pin one with --longhealth-ref COMMIT)")
        else:
            run.echo(f"{source.name}: {source.project}@{ref} is commit {commit}; pinning it")
            ref, url = commit, _public_url(source, commit)
    run.echo(f"{source.name}: downloading {url}")
    actual, verified = download(url, dest, expected_sha256=expected, allow_unverified=run.allow_unverified,
                                progress=run.progress, label=source.name)
    note = ""
    if expected is None:
        _write_tofu(run, dest, actual, f"first download of {url}", commit=ref if _COMMIT.match(ref) else None)
        note = "hash recorded (first use)"
    elif not verified:
        run.echo(f"{source.name}: WARNING sha256 {actual} differs from expected {expected}; kept (--allow-unverified)")
        note = "checksum mismatch (allowed)"
    _note(run, source, dest, actual, verified, url, ref=ref, expected=expected,
          trust_on_first_use=source.trust_on_first_use)
    return FetchResult(source.name, str(dest), "downloaded", verified, actual, note)


def _write_tofu(run: _Run, dest: Path, sha: str, how: str, commit: str | None = None) -> None:
    marker = tofu_path(dest)
    with atomic_write(marker) as handle:
        handle.write(f"{sha}  {dest.name}\n")
        if commit:
            handle.write(f"# commit {commit}\n")
    run.echo(
        f"{dest.name}: no published checksum; recorded sha256 {sha} ({how}) in {marker}; "
        f"later runs are checked against it"
    )


# ----- PhysioNet

def _project_dir(source: Source) -> str:
    return f"{source.project}/{source.version}"


def _checksums(run: _Run, source: Source) -> dict[str, str]:
    """The project's SHA256SUMS.txt: the user's copy if present, else downloaded (with credentials)."""
    key = _project_dir(source)
    if key in run.checksums:
        return run.checksums[key]
    local = run.raw_dir / key / CHECKSUMS_NAME
    mirror = run.raw_dir / "physionet.org" / "files" / key / CHECKSUMS_NAME
    found = next((p for p in (local, mirror) if p.exists()), None)
    if found is None:
        url = physionet_base() + f"{key}/{CHECKSUMS_NAME}"
        auth = run.credentials(url)
        run.echo(f"{source.project}: downloading {url}")
        # downloaded beside its place and kept only if it reads as a checksums file (a login page
        # or an error page served with status 200 must not be taken for one on the next run)
        incoming = local.with_name(f".{CHECKSUMS_NAME}.incoming")
        sha, _ = download(url, incoming, auth=auth, credentialed=True, progress=False)
        try:
            if not parse_checksums(incoming):
                raise InputError(f"{incoming}: empty (expected '<sha256>  <file>' lines)")
        except InputError as exc:
            incoming.unlink(missing_ok=True)
            raise DownloadError(f"{url}: the server's answer is not a {CHECKSUMS_NAME} "
                                f"({str(exc).split(': ', 1)[1]}); not kept") from None
        os.replace(incoming, local)
        _note(run, source, local, sha, False, url)
        found = local
    sums = parse_checksums(found)
    run.checksums[key] = sums
    return sums


def _fetch_physionet(run: _Run, source: Source) -> list[FetchResult]:
    if source.is_folder:
        sums = _checksums(run, source)
        prefix = _project_dir(source) + "/"
        if not source.path.rstrip("/") + "/" == prefix:
            raise InputError(f"source {source.name}: folder path {source.path} is not {prefix}")
        files = [name for name in sums if name != CHECKSUMS_NAME]
        if not files:
            raise InputError(f"{run.raw_dir / prefix / CHECKSUMS_NAME}: lists no files")
        return [_fetch_physionet_file(run, source, name, []) for name in files]
    rel = source.path[len(_project_dir(source)) + 1:]
    return [_fetch_physionet_file(run, source, rel, list(source.alt_names))]


def _fetch_physionet_file(run: _Run, source: Source, rel: str, alt_names: list[str]) -> FetchResult:
    key = _project_dir(source)
    dest = run.raw_dir / key / rel
    url = physionet_base() + f"{key}/{rel}"
    label = f"{source.name}:{rel}" if source.is_folder else source.name
    mirror = run.raw_dir / "physionet.org" / "files" / key / rel
    present = next((p for p in (dest, mirror) if p.exists()), None)
    if present is None:
        for alt in alt_names:
            for folder in (dest.parent, mirror.parent):
                if (folder / alt).exists():
                    run.echo(f"{label}: found {folder / alt} (another form of {dest.name}, which "
                             f"{CHECKSUMS_NAME} cannot check); not downloading")
                    return FetchResult(label, str(folder / alt), "present", False, None, "alternative name, unverified")
    try:
        sums = _checksums(run, source)
    except ClueError as exc:
        if present is not None and run.allow_unverified:
            run.echo(f"{label}: WARNING {present} kept unverified ({exc})")
            return FetchResult(label, str(present), "present", False, None, "unverified (no checksums)")
        if present is not None:
            raise NotReadyError(
                f"{present}: present but cannot be verified: {CHECKSUMS_NAME} is not beside it and could not "
                f"be downloaded ({exc}); put {CHECKSUMS_NAME} in {dest.parent.parent if '/' in rel else dest.parent} "
                f"or pass --allow-unverified"
            ) from None
        raise
    expected = sums.get(rel)
    if expected is None:
        if not run.allow_unverified:
            raise ChecksumError(f"{run.raw_dir / key / CHECKSUMS_NAME}: has no line for {rel}; "
                                f"cannot verify it (--allow-unverified proceeds)")
    if present is not None:
        actual = hash_file(present, run.progress)
        if actual == expected:
            run.echo(f"{label}: {present} already present and verified; not downloading")
            _note(run, source, present, actual, True, url, expected=expected)
            return FetchResult(label, str(present), "present", True, actual)
        if run.allow_unverified:
            why = f"differs from expected {expected}" if expected else f"has no line in {CHECKSUMS_NAME}"
            run.echo(f"{label}: WARNING {present}: sha256 {actual} {why}; kept (--allow-unverified)")
            _note(run, source, present, actual, False, url, expected=expected)
            return FetchResult(label, str(present), "present", False, actual, "checksum mismatch (allowed)")
        raise ChecksumError(
            f"{present}: sha256 mismatch: expected {expected}, got {actual} "
            f"(delete the file to download it again, or pass --allow-unverified)"
        )
    run.echo(f"{label}: downloading {url}")
    actual, verified = download(url, dest, expected_sha256=expected, allow_unverified=run.allow_unverified,
                                auth=run.credentials(url), credentialed=True, progress=run.progress, label=label)
    if not verified:
        run.echo(f"{label}: WARNING sha256 {actual} not verified (expected {expected}); kept (--allow-unverified)")
    _note(run, source, dest, actual, verified, url, expected=expected)
    return FetchResult(label, str(dest), "downloaded", verified, actual, "" if verified else "unverified (allowed)")
