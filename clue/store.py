"""The generation store: every completion, kept in SQLite as soon as it is generated.

A completion is keyed by what determines it: the model's identity (id, resolved revision,
backend, dtype), the exact rendered prompt and the decoding parameters (seed included).
``generation_key`` hashes the canonical JSON of these. A killed run loses at most the batch
it was generating; started again, it finds every stored key and generates only the rest.

The first completion stored for a key is kept for good; storing the same key again only
increments ``times_generated``, so tests (and users) can check that nothing was generated twice.
``clue sweep`` copies rows between stores (``rows``, ``merge_rows``); the ``merges`` table names every
store merged in, so that a merge repeated after an interruption adds nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from clue.backends.base import Generation  # noqa: F401  (re-exported)
from clue.errors import InputError
from clue.io import os_error_message, sha256_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    task TEXT,
    item_id TEXT,
    prompt_sha256 TEXT NOT NULL,
    completion TEXT NOT NULL,
    prompt_tokens INTEGER,
    truncated_tokens INTEGER NOT NULL DEFAULT 0,
    new_tokens INTEGER,
    seconds REAL,
    created_at REAL NOT NULL,
    times_generated INTEGER NOT NULL DEFAULT 1,
    key_json TEXT NOT NULL            -- the key material, with the prompt replaced by its sha256
);
CREATE TABLE IF NOT EXISTS merges (  -- stores merged in (clue sweep): each one once
    source TEXT PRIMARY KEY,
    merged_at REAL NOT NULL,
    generations INTEGER NOT NULL
);
"""


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def key_material(identity: dict, prompt: str, decoding: dict) -> dict:
    """Everything a completion depends on (the seed is part of ``decoding``)."""
    return {"model": identity, "prompt": prompt, "decoding": decoding, "seed": decoding.get("seed")}


def generation_key(identity: dict, prompt: str, decoding: dict) -> str:
    return sha256_text(canonical_json(key_material(identity, prompt, decoding)))


@dataclass(frozen=True)
class StoredGeneration:
    key: str
    completion: str
    prompt_tokens: int | None
    truncated_tokens: int
    new_tokens: int | None
    seconds: float | None
    times_generated: int


class GenerationStore:
    """A SQLite file in WAL mode; one transaction (commit) per stored batch."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # created here with 0666 less the umask (SQLite alone would cap it at 0644); SQLite gives its
            # -wal and -shm files the database file's permissions
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o666))
        except OSError as exc:
            raise InputError(os_error_message(self.path, exc, "a generation store (SQLite file)")) from None
        try:
            self._db = sqlite3.connect(self.path, timeout=60)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{self.path}: not a usable generation store ({exc})") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> GenerationStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, StoredGeneration]:
        found: dict[str, StoredGeneration] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                "SELECT key, completion, prompt_tokens, truncated_tokens, new_tokens, seconds, times_generated "
                f"FROM completions WHERE key IN ({marks})",
                chunk,
            )
            for row in rows:
                found[row[0]] = StoredGeneration(*row)
        return found

    def put_many(self, rows: Iterable[tuple[str, dict, str, str, str, Generation]]) -> None:
        """Store ``(key, key_material, model, task, item_id, generation)`` rows in one transaction."""
        now = time.time()
        with self._db:
            for key, material, model, task, item_id, gen in rows:
                self._db.execute(
                    "INSERT INTO completions (key, model, task, item_id, prompt_sha256, completion, prompt_tokens,"
                    " truncated_tokens, new_tokens, seconds, created_at, key_json)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET times_generated = times_generated + 1",
                    (key, model, task, item_id, sha256_text(material["prompt"]), gen.completion,
                     gen.prompt_tokens, gen.truncated_tokens, gen.new_tokens, gen.seconds, now,
                     canonical_json({**material, "prompt": sha256_text(material["prompt"])})),
                )

    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def total_generations(self) -> int:
        """How many completions were ever generated into this store (repeats included)."""
        return self._db.execute("SELECT COALESCE(SUM(times_generated), 0) FROM completions").fetchone()[0]

    def max_times_generated(self) -> int:
        return self._db.execute("SELECT COALESCE(MAX(times_generated), 0) FROM completions").fetchone()[0]

    # ------------------------------------------------------------------ moving rows between stores (clue sweep)

    COLUMNS = ("key", "model", "task", "item_id", "prompt_sha256", "completion", "prompt_tokens", "truncated_tokens",
               "new_tokens", "seconds", "created_at", "times_generated", "key_json")
    TIMES = COLUMNS.index("times_generated")      # a copied row's generation count

    def rows(self, model: str | None = None) -> list[tuple]:
        """Every stored row (all of :data:`COLUMNS`), or only those of one model id."""
        query = f"SELECT {', '.join(self.COLUMNS)} FROM completions"
        if model is None:
            return list(self._db.execute(query + " ORDER BY rowid"))
        return list(self._db.execute(query + " WHERE model = ? ORDER BY rowid", (model,)))

    def merge_rows(self, rows: Iterable[Sequence], source: str | None = None) -> int:
        """Add rows copied from another store, in one transaction. A key already here keeps its completion and
        adds the row's ``times_generated`` (the copies count generations made elsewhere, never the same one
        twice: a caller sends only what the other store generated beyond what it was given). ``source`` names
        the copied store: rows from a source merged before are not added again (a merge repeated after a kill).
        Returns the number of generations added."""
        marks = ", ".join("?" * len(self.COLUMNS))
        added = 0
        with self._db:
            if source is not None and self._db.execute("SELECT 1 FROM merges WHERE source = ?", (source,)).fetchone():
                return 0
            for row in rows:
                if len(row) != len(self.COLUMNS):
                    raise InputError(f"{self.path}: a copied row has {len(row)} fields, expected {len(self.COLUMNS)}")
                self._db.execute(
                    f"INSERT INTO completions ({', '.join(self.COLUMNS)}) VALUES ({marks})"
                    " ON CONFLICT(key) DO UPDATE SET times_generated = times_generated + excluded.times_generated",
                    tuple(row))
                added += row[self.TIMES]
            if source is not None:
                self._db.execute("INSERT INTO merges (source, merged_at, generations) VALUES (?, ?, ?)",
                                 (source, time.time(), added))
        return added
