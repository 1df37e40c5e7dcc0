"""`clue data fetch` against a local HTTP server: Range resume, dropped connections, basic auth, checksums."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from clue.data import fetch as fetchmod
from clue.data.sources import load_registry
from clue.errors import ChecksumError

USER, PASSWORD = "alice", "s3cret-Pa55"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Server:
    """Serves ``files`` ({url path: bytes}); paths under /physionet/ need basic auth."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []   # (path, Range header)
        self.drop_after: dict[str, int] = {}                # path -> bytes sent before dropping (once)
        self.ignore_range = False
        self.fail_first: dict[str, int] = {}               # path -> HTTP status of the first answer (once)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                if self.path.startswith("/physionet/"):
                    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                    if self.headers.get("Authorization") != expected:
                        self.send_response(401)
                        self.send_header("WWW-Authenticate", 'Basic realm="PhysioNet"')
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                failure = outer.fail_first.pop(self.path, None)
                if failure is not None:
                    self.send_error(failure)
                    return
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and not outer.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                payload = body[start:]
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                cut = outer.drop_after.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(payload[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def ranges(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]


@pytest.fixture
def server(monkeypatch):
    srv = Server()
    srv.thread.start()
    monkeypatch.setenv("CLUE_PHYSIONET_BASE", srv.base + "/physionet/")
    monkeypatch.setenv("CLUE_GITHUB_RAW_BASE", srv.base + "/github/")
    monkeypatch.setenv("CLUE_GITHUB_API_BASE", srv.base + "/api/")
    monkeypatch.setenv("PHYSIONET_USERNAME", USER)
    monkeypatch.setenv("PHYSIONET_PASSWORD", PASSWORD)
    monkeypatch.setattr(fetchmod.time, "sleep", lambda s: None)
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


PUBLIC = os.urandom(300_000)
NOTES = os.urandom(2_500_000)
QA = b'[{"note_id": "1", "Question": "q?", "Answer": "a."}]\n'
LH_V1 = json.dumps({"patient_01": {"name": "Stand In"}}).encode()
LH_V2 = json.dumps({"patient_01": {"name": "Changed"}}).encode()
REF = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def registry(tmp_path, server):
    """A registry of the real shape over test files, and those files on the server."""
    entries = {
        "pub": {"tasks": ["meqsum"], "access": "public", "project": "own/Repo", "version": "abc123",
                "path": "pub/file.xlsx", "url": "https://raw.githubusercontent.com/own/Repo/abc123/file.xlsx",
                "sha256": sha(PUBLIC), "description": "public test file"},
        "longhealth": {"tasks": ["longhealth"], "access": "public", "project": "kb/LH", "version": "main",
                       "path": "longhealth/benchmark_v5.json",
                       "url": "https://raw.githubusercontent.com/kb/LH/main/data/benchmark_v5.json",
                       "trust_on_first_use": True, "description": "tofu"},
        "notes": {"tasks": ["medisumcode"], "access": "credentialed", "project": "notes-proj", "version": "2.2",
                  "path": "notes-proj/2.2/note/discharge.csv.gz", "alt_names": ["discharge.csv"],
                  "url": "https://physionet.org/files/notes-proj/2.2/note/discharge.csv.gz",
                  "description": "notes"},
        "qa": {"tasks": ["medisumqa"], "access": "credentialed", "project": "qa-proj", "version": "1.0.0",
               "path": "qa-proj/1.0.0", "url": "https://physionet.org/files/qa-proj/1.0.0/", "is_folder": True,
               "description": "folder"},
    }
    path = tmp_path / "sources.json"
    path.write_text(json.dumps({"sources": entries}))
    server.files["/github/own/Repo/abc123/file.xlsx"] = PUBLIC
    server.files["/github/kb/LH/main/data/benchmark_v5.json"] = LH_V1
    server.files[f"/github/kb/LH/{REF}/data/benchmark_v5.json"] = LH_V2
    server.files["/physionet/notes-proj/2.2/note/discharge.csv.gz"] = NOTES
    server.files["/physionet/notes-proj/2.2/SHA256SUMS.txt"] = (
        f"{sha(b'x')}  LICENSE.txt\n{sha(NOTES)}  note/discharge.csv.gz\n".encode())
    server.files["/physionet/qa-proj/1.0.0/medisumqa.json"] = QA
    server.files["/physionet/qa-proj/1.0.0/README.txt"] = b"readme\n"
    server.files["/physionet/qa-proj/1.0.0/SHA256SUMS.txt"] = (
        f"{sha(QA)}  medisumqa.json\n{sha(b'readme' + bytes([10]))} *README.txt\n".encode())
    return load_registry(path)


def run(raw, registry, **kw):
    lines: list[str] = []
    results = fetchmod.fetch(raw, registry=registry, progress=False, echo=lines.append, **kw)
    return {r.source: r for r in results}, lines


def test_public_download_verified_then_skipped(tmp_path, server, registry):
    raw = tmp_path / "raw"
    results, _ = run(raw, registry, sources=["pub"])
    assert results["pub"].status == "downloaded" and results["pub"].verified
    assert (raw / "pub/file.xlsx").read_bytes() == PUBLIC
    assert not list(raw.rglob("*.part"))
    record = json.loads((raw / "fetch-record.json").read_text())
    assert record["files"]["pub/file.xlsx"]["verified"] is True
    before = len(server.requests)
    results, lines = run(raw, registry, sources=["pub"])
    assert results["pub"].status == "present" and results["pub"].verified
    assert len(server.requests) == before
    assert any("already present and verified" in line for line in lines)


def test_dropped_connection_is_resumed_with_range(tmp_path, server, registry):
    path = "/physionet/notes-proj/2.2/note/discharge.csv.gz"
    server.drop_after[path] = 1_000_000
    raw = tmp_path / "raw"
    results, _ = run(raw, registry, sources=["notes"])
    assert results["notes"].status == "downloaded" and results["notes"].verified
    assert (raw / "notes-proj/2.2/note/discharge.csv.gz").read_bytes() == NOTES
    assert server.ranges(path) == [None, "bytes=1000000-"]
    assert (raw / "notes-proj/2.2/SHA256SUMS.txt").exists()


def test_part_file_resumed_and_server_ignoring_range_restarts(tmp_path, server, registry):
    raw = tmp_path / "raw"
    dest = raw / "notes-proj/2.2/note/discharge.csv.gz"
    dest.parent.mkdir(parents=True)
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(NOTES[:700_000])
    run(raw, registry, sources=["notes"])
    path = "/physionet/notes-proj/2.2/note/discharge.csv.gz"
    assert server.ranges(path) == ["bytes=700000-"]
    assert dest.read_bytes() == NOTES and not part.exists()

    # a stale .part with wrong bytes, and a server that answers 200 to Range: clean restart
    dest.unlink()
    part.write_bytes(b"garbage" * 1000)
    server.ignore_range = True
    results, _ = run(raw, registry, sources=["notes"])
    assert results["notes"].verified
    assert dest.read_bytes() == NOTES and not part.exists()

    # a complete .part (the run died before the rename): 416 from the server, then verified and renamed
    server.ignore_range = False
    dest.rename(part)
    results, _ = run(raw, registry, sources=["notes"])
    assert results["notes"].verified and dest.read_bytes() == NOTES and not part.exists()


def test_wrong_checksum_is_one_line_error_and_nothing_left(tmp_path, server, registry):
    server.files["/github/own/Repo/abc123/file.xlsx"] = b"not the pinned file"
    raw = tmp_path / "raw"
    results, lines = run(raw, registry, sources=["pub"])
    bad = results["pub"]
    assert bad.status == "failed"
    assert "\n" not in bad.note
    assert f"expected {sha(PUBLIC)}" in bad.note and f"got {sha(b'not the pinned file')}" in bad.note
    assert not (raw / "pub/file.xlsx").exists() and not list(raw.rglob("*.part"))

    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetchmod.download(server.base + "/github/own/Repo/abc123/file.xlsx", tmp_path / "x",
                          expected_sha256=sha(PUBLIC), progress=False)

    results, lines = run(raw, registry, sources=["pub"], allow_unverified=True)
    assert results["pub"].status == "downloaded" and not results["pub"].verified
    assert (raw / "pub/file.xlsx").read_bytes() == b"not the pinned file"
    record = json.loads((raw / "fetch-record.json").read_text())
    assert record["files"]["pub/file.xlsx"]["verified"] is False
    assert any("WARNING" in line for line in lines)


def test_present_file_with_wrong_hash_is_refused(tmp_path, server, registry):
    raw = tmp_path / "raw"
    dest = raw / "notes-proj/2.2/note/discharge.csv.gz"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"truncated")
    results, _ = run(raw, registry, sources=["notes"])
    assert results["notes"].status == "failed"
    assert "sha256 mismatch" in results["notes"].note and sha(NOTES) in results["notes"].note
    assert dest.read_bytes() == b"truncated"   # the user's file is never overwritten


def test_user_checksums_file_is_used_and_mirror_layout_accepted(tmp_path, server, registry, monkeypatch):
    raw = tmp_path / "raw"
    mirror = raw / "physionet.org/files/notes-proj/2.2"
    (mirror / "note").mkdir(parents=True)
    (mirror / "note/discharge.csv.gz").write_bytes(NOTES)
    (mirror / "SHA256SUMS.txt").write_text(f"{sha(NOTES)}  note/discharge.csv.gz\n")
    monkeypatch.delenv("PHYSIONET_PASSWORD")      # no credentials needed: nothing to download
    results, _ = run(raw, registry, sources=["notes"])
    assert results["notes"].status == "present" and results["notes"].verified
    assert server.requests == []


def test_missing_and_wrong_credentials(tmp_path, server, registry, monkeypatch):
    raw = tmp_path / "raw"
    monkeypatch.delenv("PHYSIONET_USERNAME")
    monkeypatch.delenv("PHYSIONET_PASSWORD")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    results, _ = run(raw, registry)
    assert results["notes"].status == "failed" and results["qa"].status == "failed"
    assert "credentials missing" in results["notes"].note and "data use agreement" in results["notes"].note
    assert results["pub"].status == "downloaded"          # public files are not held back
    assert not any(p.startswith("/physionet/") for p, _ in server.requests)

    monkeypatch.setenv("PHYSIONET_USERNAME", USER)
    monkeypatch.setenv("PHYSIONET_PASSWORD", "wrong-password-xyz")
    results, _ = run(raw, registry, sources=["notes", "qa"])
    note = results["notes"].note
    assert "HTTP 401" in note and "credentials are missing or wrong" in note and "data use agreement" in note
    assert "wrong-password-xyz" not in note and "\n" not in note
    # after one refusal, the same credentials are not sent again for the next project
    assert [p for p, _ in server.requests if p.startswith("/physionet/")] == ["/physionet/notes-proj/2.2/SHA256SUMS.txt"]


def test_netrc_credentials(tmp_path, server, registry, monkeypatch):
    monkeypatch.delenv("PHYSIONET_USERNAME")
    monkeypatch.delenv("PHYSIONET_PASSWORD")
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    results, _ = run(tmp_path / "raw", registry, sources=["notes"])
    assert results["notes"].verified


def test_transient_server_error_is_retried(tmp_path, server, registry):
    server.fail_first["/github/own/Repo/abc123/file.xlsx"] = 503
    results, _ = run(tmp_path / "raw", registry, sources=["pub"])
    assert results["pub"].verified
    assert server.ranges("/github/own/Repo/abc123/file.xlsx") == [None, None]


def test_404_names_the_url(tmp_path, server, registry):
    del server.files["/github/own/Repo/abc123/file.xlsx"]
    results, _ = run(tmp_path / "raw", registry, sources=["pub"])
    assert results["pub"].status == "failed"
    assert f"{server.base}/github/own/Repo/abc123/file.xlsx: not found" in results["pub"].note


def test_folder_source_downloads_every_listed_file(tmp_path, server, registry):
    raw = tmp_path / "raw"
    results, _ = run(raw, registry, tasks=["medisumqa"])
    assert {"qa:medisumqa.json", "qa:README.txt"} <= set(results)
    assert all(r.verified for r in results.values())
    assert (raw / "qa-proj/1.0.0/medisumqa.json").read_bytes() == QA
    assert (raw / "qa-proj/1.0.0/SHA256SUMS.txt").exists()


def test_longhealth_trust_on_first_use(tmp_path, server, registry):
    raw = tmp_path / "raw"
    results, lines = run(raw, registry, sources=["longhealth"])
    dest = raw / "longhealth/benchmark_v5.json"
    marker = raw / "longhealth/benchmark_v5.json.sha256"
    assert dest.read_bytes() == LH_V1
    assert marker.read_text().split()[0] == sha(LH_V1)
    assert any(sha(LH_V1) in line for line in lines)         # shown to the user
    results, _ = run(raw, registry, sources=["longhealth"])
    assert results["longhealth"].status == "present" and results["longhealth"].verified

    # another commit whose bytes differ from the recorded hash is refused
    dest.unlink()
    results, _ = run(raw, registry, sources=["longhealth"], longhealth_ref=REF)
    assert server.requests[-1][0] == f"/github/kb/LH/{REF}/data/benchmark_v5.json"
    assert results["longhealth"].status == "failed"
    assert f"expected {sha(LH_V1)}, got {sha(LH_V2)}" in results["longhealth"].note
    assert not dest.exists()


def test_longhealth_branch_is_pinned_to_its_commit_on_first_download(tmp_path, server, registry):
    commit = "fedcba9876543210fedcba9876543210fedcba98"
    server.files["/api/repos/kb/LH/commits/main"] = commit.encode()
    server.files[f"/github/kb/LH/{commit}/data/benchmark_v5.json"] = LH_V1
    server.files["/github/kb/LH/main/data/benchmark_v5.json"] = LH_V2   # the branch moved on since
    raw = tmp_path / "raw"
    results, lines = run(raw, registry, sources=["longhealth"])
    dest = raw / "longhealth/benchmark_v5.json"
    assert results["longhealth"].status == "downloaded" and dest.read_bytes() == LH_V1
    assert any(commit in line for line in lines)                     # shown to the user
    assert fetchmod.read_tofu(dest) == sha(LH_V1) and fetchmod.read_tofu_commit(dest) == commit
    record = json.loads((raw / "fetch-record.json").read_text())
    assert record["files"]["longhealth/benchmark_v5.json"]["ref"] == commit

    # later downloads come from the recorded commit, without asking which commit the branch is at
    dest.unlink()
    asked = len(server.ranges("/api/repos/kb/LH/commits/main"))
    results, _ = run(raw, registry, sources=["longhealth"])
    assert results["longhealth"].verified and dest.read_bytes() == LH_V1
    assert len(server.ranges("/api/repos/kb/LH/commits/main")) == asked


def test_cli_fetch(tmp_path, server, registry, monkeypatch):
    from clue.cli import cli

    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "sources.json").write_text((tmp_path / "sources.json").read_text())
    monkeypatch.setenv("CLUE_RECIPES", str(recipes))
    raw = tmp_path / "raw"
    result = CliRunner().invoke(cli, ["data", "fetch", "--raw-dir", str(raw), "--public-only", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "pub" in result.output and "downloaded, verified" in result.output
    assert "notes" not in result.output.split("\n")[-2]
    assert (raw / "pub/file.xlsx").exists()

    server.files["/physionet/notes-proj/2.2/note/discharge.csv.gz"] = b"tampered"
    result = CliRunner().invoke(cli, ["data", "fetch", "--raw-dir", str(raw), "--source", "notes", "--quiet"])
    assert result.exit_code != 0
    assert "sha256 mismatch" in result.output and PASSWORD not in result.output
    assert "1 of 1 sources failed: notes" in result.output

    result = CliRunner().invoke(cli, ["data", "fetch", "--raw-dir", str(raw), "--source", "nope"])
    assert result.exit_code != 0 and "unknown source" in str(result.exception or result.output)


def test_alt_name_is_accepted_without_download(tmp_path, server, registry):
    raw = tmp_path / "raw"
    (raw / "notes-proj/2.2/note").mkdir(parents=True)
    (raw / "notes-proj/2.2/note/discharge.csv").write_text("note_id,text\n")
    results, lines = run(raw, registry, sources=["notes"])
    assert results["notes"].status == "present" and not results["notes"].verified
    assert server.requests == []


def test_real_registry_urls_are_well_formed():
    registry = load_registry()
    for source in registry.values():
        if source.credentialed:
            assert source.url == fetchmod.PHYSIONET_BASE + source.path.rstrip("/") + ("/" if source.is_folder else "")
        else:
            assert fetchmod._public_url(source, None).startswith(fetchmod.github_raw_base())
    lh = registry["longhealth"]
    assert f"/{REF}/data/benchmark_v5.json" in fetchmod._public_url(lh, REF)


def test_fetched_files_build(tmp_path, server):
    """What fetch leaves in --raw-dir is what `clue data build` verifies and reads (PhysioNet + TOFU)."""
    from clue.demo import synthetic
    from clue.data.build import build

    upstream = tmp_path / "upstream"
    written = synthetic.write_all(upstream, seed=3)
    for path in upstream.rglob("*"):
        if path.is_file() and not path.name.endswith(".sha256"):
            rel = path.relative_to(upstream).as_posix()
            server.files[f"/physionet/{rel}"] = path.read_bytes()
    server.files["/github/kbressem/LongHealth/main/data/benchmark_v5.json"] = written["longhealth"].read_bytes()
    raw = tmp_path / "raw"
    results, lines = run(raw, load_registry(), tasks=["mednli", "longhealth"])
    assert {r.status for r in results.values()} == {"downloaded"}, results
    built = build(["mednli", "longhealth"], raw_dir=raw, out_dir=tmp_path / "data")
    assert [b.status for b in built] == ["built", "built"]
    for task in ("mednli", "longhealth"):
        manifest = json.loads((tmp_path / "data" / task / "manifest.json").read_text())
        assert manifest["inputs"] and all(entry["verified"] for entry in manifest["inputs"].values())


def test_after_a_refusal_each_later_source_names_its_own_url(tmp_path, server, registry, monkeypatch):
    """Issue 11: after one 401, the next PhysioNet source's message cited the first project's SHA256SUMS.txt."""
    monkeypatch.setenv("PHYSIONET_PASSWORD", "wrong-password-xyz")
    results, _ = run(tmp_path / "raw", registry, sources=["notes", "qa"])
    first, second = results["notes"].note, results["qa"].note
    assert "notes-proj/2.2/SHA256SUMS.txt: PhysioNet refused the download (HTTP 401)" in first
    assert second.startswith(f"{server.base}/physionet/qa-proj/1.0.0/SHA256SUMS.txt: not requested")
    assert "notes-proj/2.2/SHA256SUMS.txt" in second and "refused the same credentials" in second
    assert "wrong-password-xyz" not in first + second and "\n" not in second
    assert [p for p, _ in server.requests if p.startswith("/physionet/")] == ["/physionet/notes-proj/2.2/SHA256SUMS.txt"]


@pytest.mark.parametrize("junk", [b"<html><body>Please log in</body></html>\n", b""])
def test_a_junk_checksums_file_served_with_200_is_not_kept(tmp_path, server, registry, junk):
    server.files["/physionet/notes-proj/2.2/SHA256SUMS.txt"] = junk
    raw = tmp_path / "raw"
    results, _ = run(raw, registry, sources=["notes"])
    assert results["notes"].status == "failed"
    note = results["notes"].note
    assert note.startswith(f"{server.base}/physionet/notes-proj/2.2/SHA256SUMS.txt: the server's answer is not a "
                           "SHA256SUMS.txt") and "not kept" in note
    assert not (raw / "notes-proj/2.2/SHA256SUMS.txt").exists()
    assert [p.name for p in raw.rglob("*") if p.is_file() and p.name != "fetch-record.json"] == []
    # once the server is fixed, the next run fetches and verifies normally
    server.files["/physionet/notes-proj/2.2/SHA256SUMS.txt"] = f"{sha(NOTES)}  note/discharge.csv.gz\n".encode()
    results, _ = run(raw, registry, sources=["notes"])
    assert results["notes"].verified
