"""The generation store: keys, first-completion-wins, counts of generations, persistence."""

from __future__ import annotations

import sqlite3

import pytest

from clue.errors import InputError
from clue.store import Generation, GenerationStore, generation_key, key_material

IDENTITY = {"model": "org/model", "revision": "a" * 40, "backend": "hf", "dtype": "float32"}
DECODING = {"max_new_tokens": 20, "greedy": True, "temperature": 1.0, "top_p": 1.0, "seed": None, "stop": [],
            "truncate_left": True, "max_prompt_tokens": None}


def _row(prompt: str, completion: str, decoding=DECODING, identity=IDENTITY):
    key = generation_key(identity, prompt, decoding)
    return key, key_material(identity, prompt, decoding), identity["model"], "mednli", "m1", Generation(completion)


def test_key_depends_on_every_part_and_nothing_else():
    base = generation_key(IDENTITY, "prompt", DECODING)
    assert base == generation_key(dict(reversed(list(IDENTITY.items()))), "prompt", dict(DECODING))
    assert base != generation_key({**IDENTITY, "revision": "b" * 40}, "prompt", DECODING)
    assert base != generation_key({**IDENTITY, "backend": "vllm"}, "prompt", DECODING)
    assert base != generation_key(IDENTITY, "prompt ", DECODING)
    assert base != generation_key(IDENTITY, "prompt", {**DECODING, "seed": 1})
    assert base != generation_key(IDENTITY, "prompt", {**DECODING, "max_new_tokens": 21})
    assert len(base) == 64


def test_put_get_and_first_completion_is_kept(tmp_path):
    with GenerationStore(tmp_path / "store.sqlite") as store:
        first = _row("p1", "first answer")
        store.put_many([first, _row("p2", "")])
        store.put_many([_row("p1", "a different answer")])
        found = store.get_many([first[0], first[0], "missing"])
        assert list(found) == [first[0]]
        assert found[first[0]].completion == "first answer"
        assert found[first[0]].times_generated == 2
        assert store.count() == 2 and store.total_generations() == 3 and store.max_times_generated() == 2
        assert store.get_many([_row("p2", "")[0]])[_row("p2", "")[0]].completion == ""


def test_store_persists_uses_wal_and_keeps_no_prompt_text(tmp_path):
    path = tmp_path / "run" / "store.sqlite"
    with GenerationStore(path) as store:
        store.put_many([_row("a confidential prompt", "done")])
    with GenerationStore(path) as store:
        assert store.count() == 1
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    key_json, = db.execute("SELECT key_json FROM completions").fetchone()
    assert "confidential" not in key_json and "org/model" in key_json


def test_store_many_keys_in_chunks(tmp_path):
    with GenerationStore(tmp_path / "s.sqlite") as store:
        rows = [_row(f"p{i}", f"c{i}") for i in range(1200)]
        store.put_many(rows)
        assert len(store.get_many([r[0] for r in rows])) == 1200


def test_not_a_database_is_one_line_error(tmp_path):
    bad = tmp_path / "store.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(InputError) as info:
        GenerationStore(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)
