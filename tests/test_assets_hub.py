"""Hub-hosted metric assets go through huggingface_hub (pinned revision, its cache, its token), here
against a stand-in hub endpoint on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading

import pytest

from clue import assets
from clue.errors import ChecksumError

REVISION = "0123456789abcdef0123456789abcdef01234567"
FILES = {"config.json": b'{"model_type": "bert"}\n', "vocab.txt": b"[PAD]\n[UNK]\nfever\n",
         "tokenizer_config.json": b'{"do_lower_case": true}\n'}
TOKEN = "hf_FAKEhubTOKENnotREAL0123456789"


@pytest.fixture()
def hub(monkeypatch, tmp_path):
    """A minimal hub: HEAD/GET <repo>/resolve/<revision>/<file>, and the repo's file list."""
    requests: list[tuple[str, str, str | None]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, body: bool) -> None:
            requests.append((self.command, self.path, self.headers.get("Authorization")))
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[:2] == ["api", "models"]:            # list_repo_files (the optional files)
                data = json.dumps([{"type": "file", "path": name, "oid": hashlib.sha1(FILES[name]).hexdigest(),
                                   "size": len(FILES[name])} for name in FILES]).encode()
            elif len(parts) == 5 and parts[2] == "resolve" and parts[3] == REVISION and parts[4] in FILES:
                data = FILES[parts[4]]
            else:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("X-Repo-Commit", REVISION)
            self.end_headers()
            if body:
                self.wfile.write(data)

        def do_HEAD(self):  # noqa: N802
            self._answer(False)

        def do_GET(self):  # noqa: N802
            self._answer(True)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)       # the suite runs offline; this hub is local
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    yield requests
    server.shutdown()
    thread.join()


def _lock(tmp_path, pins: dict[str, str | None]):
    lock = {"lock_version": 1, "assets": {"tinybert": {
        "metric": "bertscore", "kind": "hf-model", "repo": "clue-test/tiny-bert", "revision": REVISION,
        "dir": "bertscore/clue-test__tiny-bert", "files": {name: {"sha256": sha} for name, sha in pins.items()},
        "optional": ["tokenizer_config.json", "special_tokens_map.json"]}}}
    path = tmp_path / "assets.lock.json"
    path.write_text(json.dumps(lock))
    return path


def test_hub_files_come_through_huggingface_hub(hub, tmp_path):
    pinned = hashlib.sha256(FILES["config.json"]).hexdigest()
    lock = _lock(tmp_path, {"config.json": pinned, "vocab.txt": None})
    lines: list[str] = []
    statuses = assets.fetch(tmp_path / "assets", lock, progress=False, echo=lines.append)
    states = {s.name: s.state for s in statuses}
    assert states == {"config.json": "verified", "vocab.txt": "recorded", "tokenizer_config.json": "recorded"}
    folder = tmp_path / "assets" / "bertscore" / "clue-test__tiny-bert"
    for name in states:
        assert (folder / name).read_bytes() == FILES[name]
        # the hub client's cache holds the pinned revision's snapshot
        assert (tmp_path / "hf-cache" / "models--clue-test--tiny-bert" / "snapshots" / REVISION / name).is_file()
    resolved = [path for method, path, _ in hub if method == "GET" and "/resolve/" in path]
    assert resolved and all(f"/resolve/{REVISION}/" in path for path in resolved)
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in hub)         # the token went to the hub...
    record = (tmp_path / "assets" / "assets.record.json").read_text()
    assert TOKEN not in record and not any(TOKEN in line for line in lines)   # ...and nowhere else
    assert assets.bertscore_model_dir("clue-test/tiny-bert", tmp_path / "assets", lock) == folder

    # a second fetch finds everything verified and asks the hub for nothing
    before = len(hub)
    again = assets.fetch(tmp_path / "assets", lock, progress=False)
    assert {s.state for s in again} <= {"verified", "recorded"} and len(hub) == before


def test_hub_file_with_a_wrong_pin_is_refused(hub, tmp_path):
    lock = _lock(tmp_path, {"config.json": "b" * 64, "vocab.txt": None})
    with pytest.raises(ChecksumError, match="differs"):
        assets.fetch(tmp_path / "assets", lock, progress=False)
    assert not (tmp_path / "assets" / "bertscore" / "clue-test__tiny-bert" / "config.json").exists()
