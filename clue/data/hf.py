"""A built test set as a Hugging Face ``datasets.Dataset``.

``clue.data.load_dataset(task, data_dir)`` reads ``data/<task>/test.jsonl`` as the kit wrote it, after
checking its sha256 against the ``manifest.json`` beside it (a changed file is refused), and returns a
``Dataset`` with one row per record in file order; the manifest travels in ``dataset.info.description``
(as JSON) so the fingerprint stays with the rows.

Arrow gives every row of a column the same fields: where an object's keys vary between records
(LongHealth's ``texts`` and ``answer_location``: one key per document), a key a record lacks reads as
``None`` in the ``Dataset``.
"""

from __future__ import annotations

import json
from pathlib import Path

from clue.errors import InputError
from clue.io import read_json, read_jsonl, sha256_file
from clue.paths import data_dir as default_data_dir
from clue.taskinfo import task_info


def load_dataset(task: str, data_dir: str | Path | None = None):
    """The test set of ``task`` (id or paper name) under ``data_dir`` (default: ``$CLUE_DATA`` / ./data)."""
    import datasets

    info = task_info(task)
    folder = Path(data_dir) if data_dir is not None else default_data_dir()
    path = folder / info.id / "test.jsonl"
    if not path.is_file():
        raise InputError(f"{path}: not built; run clue data build --task {info.id} --data-dir {folder}")
    manifest_path = folder / info.id / "manifest.json"
    manifest = read_json(manifest_path) if manifest_path.is_file() else {}
    digest = sha256_file(path)
    if manifest.get("sha256") and manifest["sha256"] != digest:
        raise InputError(f"{path}: sha256 {digest} differs from {manifest_path} ({manifest['sha256']}); "
                         "the file changed after it was built: rebuild it")
    records = list(read_jsonl(path))
    description = json.dumps({"task": info.id, "sha256": digest, "manifest": manifest}, sort_keys=True)
    return datasets.Dataset.from_list(records, info=datasets.DatasetInfo(description=description),
                                      split=datasets.Split.TEST)
