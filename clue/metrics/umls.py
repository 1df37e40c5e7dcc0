"""UMLS-F1: entity sets from scispaCy's UMLS linker, compared as sets.

The entity set of a text is the set of canonical names of the top-1 concept linked to each
mention that has at least one candidate above the linker's thresholds (scispaCy defaults: k=30,
threshold 0.7, definitions filter with 0.95 for concepts without one, no abbreviation detector).
P = |pred ∩ gold| / |pred| (0 if pred is empty), R = |pred ∩ gold| / |gold| (0 if gold is empty),
F1 = 2PR / (P + R) (0 if both are 0).

Speed without changing a result. The original runs the whole pipeline twice per text, once per
model and item. :class:`UmlsLinker` runs each distinct text once (``nlp.pipe`` in batches), keeps
the entity sets by text hash for the whole run (a dataset's references are linked once, however
many models are scored), and looks up the candidates of all mentions in a batch with one call to
scispaCy's candidate generator (each distinct mention string once). The selection of concepts is
scispaCy's own ``EntityLinker.__call__``; candidates of a mention do not depend on what else is in
the batch (tf-idf rows and nearest-neighbour queries are independent).

Offline. :func:`load_linker` builds the linker from local files only (scispaCy's
``CandidateGenerator(name="umls")`` and ``UmlsKnowledgeBase()`` would ask the network even when
their cache is full).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from pathlib import Path

from clue.io import sha256_text


def umls_prf(pred: Iterable[str], gold: Iterable[str]) -> tuple[float, float, float]:
    pred, gold = set(pred), set(gold)
    common = len(pred & gold)
    precision = common / len(pred) if pred else 0.0
    recall = common / len(gold) if gold else 0.0
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return precision, recall, f1


def load_linker(linker_files: dict[str, str | os.PathLike], kb_path: str | os.PathLike, ef_search: int = 200):
    """scispaCy's ``EntityLinker`` (default settings) over local index files and a local KB jsonl.

    ``linker_files`` maps the ``scispacy.candidate_generation.LinkerPaths`` fields
    (``ann_index``, ``tfidf_vectorizer``, ``tfidf_vectors``, ``concept_aliases_list``) to paths.
    """
    from scispacy.candidate_generation import CandidateGenerator, LinkerPaths
    from scispacy.linking import EntityLinker
    from scispacy.linking_utils import KnowledgeBase

    paths = LinkerPaths(**{field: str(Path(path)) for field, path in linker_files.items()})
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: UMLS linker file missing")
    kb_path = str(Path(kb_path))
    if not kb_path.endswith(".jsonl"):
        raise ValueError(f"{kb_path}: the knowledge base must be a .jsonl file")
    aliases, vectorizer, ann_index = paths.load(ef_search=ef_search)
    kb = KnowledgeBase(kb_path)
    if not aliases or not kb.cui_to_entity:
        # CandidateGenerator replaces an empty argument by its network default: refuse instead
        raise ValueError(f"{kb_path}: empty knowledge base or alias list")
    generator = CandidateGenerator(ann_index=ann_index, tfidf_vectorizer=vectorizer,
                                   ann_concept_aliases_list=aliases, kb=kb)
    return EntityLinker(candidate_generator=generator)


class _BatchCandidates:
    """Stands in for a CandidateGenerator inside EntityLinker: answers from a batch lookup."""

    def __init__(self, generator):
        self.generator = generator
        self.kb = generator.kb
        self.table: dict[str, list] = {}

    def prefetch(self, mentions: Iterable[str], k: int) -> None:
        new = list(dict.fromkeys(m for m in mentions if m not in self.table))
        if new:
            self.table.update(zip(new, self.generator(new, k)))

    def __call__(self, mention_texts: list[str], k: int) -> list[list]:
        self.prefetch(mention_texts, k)
        return [self.table[m] for m in mention_texts]


def entity_set(doc, kb) -> frozenset[str]:
    """Canonical names of the top-1 linked concept of each mention with a candidate."""
    return frozenset(kb.cui_to_entity[ent._.kb_ents[0][0]].canonical_name for ent in doc.ents if ent._.kb_ents)


class UmlsLinker:
    """A spaCy pipeline that finds mentions plus scispaCy's EntityLinker, with a per-run cache."""

    def __init__(self, nlp, linker, batch_size: int = 64):
        self.nlp = nlp
        self.linker = linker
        self.batch_size = batch_size
        self._cache: dict[str, frozenset[str]] = {}
        self.texts_linked = 0       # distinct texts that went through the pipeline
        self.progress = False       # a progress bar with ETA on stderr (set by the run)

    @classmethod
    def from_assets(cls, assets_dir=None, lock=None, batch_size: int = 64) -> UmlsLinker:
        """en_core_sci_sm and the UMLS linker from the fetched assets, without network."""
        import spacy

        from clue import assets

        model_dir = assets.scispacy_model_dir(assets_dir, lock)
        linker_files, kb_path = assets.umls_linker_files(assets_dir, lock)
        nlp = spacy.load(model_dir)
        return cls(nlp, load_linker(linker_files, kb_path), batch_size=batch_size)

    def entity_sets(self, texts: list[str]) -> list[frozenset[str]]:
        keys = [sha256_text(text) for text in texts]
        todo = {}
        for key, text in zip(keys, texts):
            if key not in self._cache:
                todo.setdefault(key, text)
        if todo:
            for key, found in zip(todo, self._link(list(todo.values()))):
                self._cache[key] = found
        return [self._cache[key] for key in keys]

    def _link(self, texts: list[str]) -> list[frozenset[str]]:
        candidates = _BatchCandidates(self.linker.candidate_generator)
        linker = copy.copy(self.linker)       # same settings and KB, batched candidate lookup
        linker.candidate_generator = candidates
        results = []
        from tqdm import tqdm

        with tqdm(total=len(texts), desc="UMLS linking", unit="text", disable=not self.progress, leave=False) as bar:
            for start in range(0, len(texts), self.batch_size):
                docs = list(self.nlp.pipe(texts[start:start + self.batch_size], batch_size=self.batch_size))
                candidates.table.clear()
                candidates.prefetch((ent.text for doc in docs for ent in doc.ents), linker.k)
                results.extend(entity_set(linker(doc), linker.kb) for doc in docs)
                bar.update(len(docs))
        self.texts_linked += len(texts)
        return results

    def scores(self, predictions: list[str], references: list[str]) -> list[tuple[float, float, float]]:
        """Per-pair (P, R, F1) in [0, 1]."""
        if len(predictions) != len(references):
            raise ValueError(f"UmlsLinker.scores: {len(predictions)} predictions but {len(references)} references")
        pred_sets = self.entity_sets(predictions)
        gold_sets = self.entity_sets(references)
        return [umls_prf(p, g) for p, g in zip(pred_sets, gold_sets)]
