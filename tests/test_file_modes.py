"""Files and folders the kit writes get the mode a normal tool gives them: 0666 / 0777 less the umask.

(``clue demo`` under umask 027, every file and folder it writes checked, is in test_installed_wheel.py.)
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

import pytest

from clue.io import atomic_write, create_temp_file, create_temp_folder, make_folder, write_json, write_jsonl
from clue.runlock import RunLock
from clue.store import GenerationStore


@contextlib.contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o027])
def test_writers_respect_the_umask(tmp_path, mask):
    file_mode, folder_mode = 0o666 & ~mask, 0o777 & ~mask
    with umask(mask):
        write_json(tmp_path / "a" / "b.json", {"x": 1})
        write_jsonl(tmp_path / "c.jsonl", [{"id": 1}])
        with atomic_write(tmp_path / "d.bin", "wb") as handle:
            handle.write(b"\0")
        staging = create_temp_folder(tmp_path, ".e.")
        fd, temporary = create_temp_file(tmp_path, ".f.")
        os.close(fd)
        with GenerationStore(tmp_path / "run" / "store.sqlite") as store:
            assert store.count() == 0
            sidecars = [p for p in (tmp_path / "run").iterdir() if p.name != "store.sqlite"]
            sidecar_modes = {p.name: mode(p) for p in sidecars}
        lock = RunLock()
        lock.hold(tmp_path / "run", "test")
        lock.release()
    for path in ("a/b.json", "c.jsonl", "d.bin", "run/store.sqlite", "run/.run.lock"):
        assert mode(tmp_path / path) == file_mode, f"{path}: {oct(mode(tmp_path / path))} under umask {oct(mask)}"
    assert mode(temporary) == file_mode
    for folder in (tmp_path / "a", tmp_path / "run", staging):
        assert mode(folder) == folder_mode, f"{folder}: {oct(mode(folder))}"
    # SQLite's -wal/-shm files (while open) take the database file's permissions
    assert sidecar_modes and set(sidecar_modes.values()) == {file_mode}, sidecar_modes


def test_atomic_write_replaces_a_private_file_with_a_normal_one(tmp_path):
    """An output left 0600 by an older kit gets the umask's mode when it is written again."""
    target = tmp_path / "scores.json"
    target.write_text("{}")
    target.chmod(0o600)
    with umask(0o022):
        write_json(target, {"rougeL": 1.0})
    assert mode(target) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["scores.json"]    # no temporary left behind


def test_a_failed_write_leaves_nothing_and_the_old_file_intact(tmp_path):
    target = tmp_path / "manifest.json"
    write_json(target, {"old": True})
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == '{\n  "old": true\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]


def test_make_folder_respects_the_umask(tmp_path):
    with umask(0o077):
        make_folder(tmp_path / "x" / "y")
    assert mode(tmp_path / "x") == 0o700 and mode(tmp_path / "x" / "y") == 0o700


def test_the_extracted_spacy_model_folder_is_not_private(tmp_path):
    """It was a tempfile.mkdtemp folder (0700) renamed into place; now it gets the umask's mode."""
    import tarfile

    from clue import assets

    archive_dir = tmp_path / "en_core_sci_sm"
    archive_dir.mkdir()
    source = tmp_path / "src" / "en_core_sci_sm-0.5.4" / "en_core_sci_sm" / "model"
    source.mkdir(parents=True)
    (source / "config.cfg").write_text("[nlp]\n")
    archive = archive_dir / "en_core_sci_sm-0.5.4.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "en_core_sci_sm-0.5.4", arcname="en_core_sci_sm-0.5.4")

    class Asset:
        files = [type("F", (), {"name": archive.name})()]

        @staticmethod
        def folder(root):
            return archive_dir

    with umask(0o022):
        found = assets.spacy_model_dir(Asset, tmp_path)
    extracted = archive_dir / "en_core_sci_sm-0.5.4"
    assert found.is_relative_to(extracted) and mode(extracted) == 0o755


def test_apply_umask_opens_up_what_a_library_wrote_privately(tmp_path):
    """safetensors writes model.safetensors 0600; the tiny-model builders pass their folder through apply_umask."""
    from clue.io import apply_umask, current_umask

    (tmp_path / "sub").mkdir(mode=0o700)
    weights = tmp_path / "sub" / "model.safetensors"
    weights.write_bytes(b"\0")
    weights.chmod(0o600)
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o700)
    with umask(0o027):
        assert current_umask() == 0o027
        apply_umask(tmp_path)
    assert (mode(weights), mode(tmp_path / "sub"), mode(script), mode(tmp_path)) == (0o640, 0o750, 0o750, 0o750)
