"""UMLS-F1 through scispaCy's real EntityLinker over a small knowledge base and index built here."""

from __future__ import annotations

import socket

import pytest

from clue.metrics.umls import UmlsLinker, load_linker, umls_prf
from clue.testing.tiny_umls import DEFAULT_CONCEPTS, build_tiny_umls, tiny_mention_pipeline

PHRASES = sorted({alias for _, name, aliases, _ in DEFAULT_CONCEPTS for alias in [name.lower(), *aliases]}
                 | {"coughs", "feverish", "hypertensive", "stable"})


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    return build_tiny_umls(tmp_path_factory.mktemp("tiny-umls"))


@pytest.fixture()
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    import scispacy.file_cache

    monkeypatch.setattr(scispacy.file_cache, "get_from_cache", refuse)


@pytest.fixture()
def linker(tiny_files, no_network):
    return UmlsLinker(tiny_mention_pipeline(PHRASES), load_linker(*tiny_files), batch_size=3)


def naive_entity_set(nlp, entity_linker, text):
    """The original way: the whole pipeline (mentions + linker) run on the text, then again on the Doc."""
    doc = entity_linker(nlp(text))
    doc = entity_linker(nlp(doc))
    return frozenset(entity_linker.kb.cui_to_entity[e._.kb_ents[0][0]].canonical_name
                     for e in doc.ents if e._.kb_ents)


def test_umls_prf_by_hand():
    assert umls_prf({"A", "B", "C"}, {"B", "C", "D", "E"}) == pytest.approx((2 / 3, 1 / 2, 4 / 7))
    assert umls_prf(set(), {"A"}) == (0.0, 0.0, 0.0)          # empty prediction
    assert umls_prf({"A"}, set()) == (0.0, 0.0, 0.0)          # empty gold
    assert umls_prf(set(), set()) == (0.0, 0.0, 0.0)
    assert umls_prf({"A"}, {"A"}) == (1.0, 1.0, 1.0)


def test_entity_sets_follow_the_linker_defaults(linker):
    sets = linker.entity_sets([
        "Patient with hypertension and high blood pressure, fever.",   # two aliases, one concept
        "HTN and DM, stable.",                                        # 'stable' has no candidate
        "feverish",                  # similarity 0.89 > 0.7 threshold, concept has a definition
        "coughs",                    # concept without definition needs >= 0.95: dropped
        "Cough",                     # exact alias of the definition-less concept: kept
        "",
    ])
    assert sets == [frozenset({"Hypertensive disease", "Fever"}),
                    frozenset({"Hypertensive disease", "Diabetes Mellitus"}),
                    frozenset({"Fever"}), frozenset(), frozenset({"Cough"}), frozenset()]


def test_same_sets_as_the_naive_two_pass_way(tiny_files, linker, no_network):
    nlp, entity_linker = tiny_mention_pipeline(PHRASES), load_linker(*tiny_files)
    texts = ["chf with aki and anaemia", "afib, chest pain; pneumonia?", "lung infection and fever",
             "renal failure", "Diabetes mellitus, high blood pressure", "no findings", "febrile, coughing"]
    assert linker.entity_sets(texts) == [naive_entity_set(nlp, entity_linker, t) for t in texts]


def test_each_distinct_text_is_linked_once(linker):
    references = ["fever and cough", "chest pain", "fever and cough"]
    first = linker.entity_sets(references)
    assert linker.texts_linked == 2                    # the duplicate reference went through once
    linker.entity_sets(["chest pain", "fever and cough"])   # a second model's turn: all cached
    assert linker.texts_linked == 2
    assert first[0] == first[2] == frozenset({"Fever", "Cough"})


def test_scores_per_pair(linker):
    scores = linker.scores(["hypertension and fever", "", "pneumonia"], ["htn, anemia", "fever", ""])
    assert scores[0] == pytest.approx((1 / 2, 1 / 2, 1 / 2))
    assert scores[1] == (0.0, 0.0, 0.0) and scores[2] == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        linker.scores(["a"], [])


def test_load_linker_refuses_missing_files(tiny_files, tmp_path):
    files, kb = tiny_files
    with pytest.raises(FileNotFoundError):
        load_linker({**files, "ann_index": tmp_path / "absent.bin"}, kb)
