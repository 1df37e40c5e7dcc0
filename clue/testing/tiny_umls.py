"""A small UMLS-style knowledge base and linker index, plus a mention-finding spaCy pipeline.

Written in the same on-disk formats as scispaCy's UMLS linker files (KB as jsonl; a char-3-gram
tf-idf vectorizer saved with joblib; alias vectors as a float16 sparse ``.npz``; the alias list as
JSON; an nmslib HNSW index over cosine similarity), so that :func:`clue.metrics.umls.load_linker`
loads it through scispaCy's own ``LinkerPaths`` code path, exactly like the real files.

scispaCy's ``create_tfidf_ann_index`` cannot build it here: it refuses to run with scipy >= 1.11
(float16 sparse matrices), and its ``min_df=10`` would drop every 3-gram of a handful of aliases.
We therefore fit the vectorizer with ``min_df=1`` and write the float16 arrays with numpy.

en_core_sci_sm is not on PyPI and cannot be downloaded offline, so mentions come from a blank
English pipeline with an ``entity_ruler`` built from the phrases given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# (concept id, canonical name, aliases, definition): a few clinical concepts with made-up ids
DEFAULT_CONCEPTS = (
    ("C9000001", "Hypertensive disease", ["hypertension", "high blood pressure", "htn"], "Raised arterial pressure."),
    ("C9000002", "Diabetes Mellitus", ["diabetes", "diabetes mellitus", "dm"], "A metabolic disease."),
    ("C9000003", "Chest Pain", ["chest pain", "thoracic pain"], "Pain in the chest."),
    ("C9000004", "Fever", ["fever", "pyrexia", "febrile"], "Raised body temperature."),
    ("C9000005", "Heart failure", ["heart failure", "cardiac failure", "chf"], "Failing cardiac pump."),
    ("C9000006", "Pneumonia", ["pneumonia", "lung infection"], "Inflammation of the lung."),
    ("C9000007", "Cough", ["cough", "coughing"], None),
    ("C9000008", "Kidney Failure, Acute", ["acute kidney injury", "acute renal failure", "aki"], "Sudden loss of renal function."),
    ("C9000009", "Atrial Fibrillation", ["atrial fibrillation", "afib"], "An arrhythmia."),
    ("C9000010", "Anemia", ["anemia", "anaemia", "low hemoglobin"], "Too little hemoglobin."),
)

LINKER_FILE_NAMES = {
    "ann_index": "nmslib_index.bin",
    "tfidf_vectorizer": "tfidf_vectorizer.joblib",
    "tfidf_vectors": "tfidf_vectors_sparse.npz",
    "concept_aliases_list": "concept_aliases.json",
}


def build_tiny_umls(out_dir: str | os.PathLike, concepts=DEFAULT_CONCEPTS,
                    kb_name: str = "tiny_kb.jsonl") -> tuple[dict[str, Path], Path]:
    """Write the KB and linker files; return ``({LinkerPaths field: path}, kb jsonl path)``."""
    import joblib
    import nmslib
    import numpy
    from sklearn.feature_extraction.text import TfidfVectorizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kb_path = out / kb_name
    with open(kb_path, "w", encoding="utf-8") as handle:
        for cui, name, aliases, definition in concepts:
            handle.write(json.dumps({"concept_id": cui, "canonical_name": name, "aliases": list(aliases),
                                     "types": ["T000"], "definition": definition}) + "\n")
    alias_set: dict[str, None] = {}
    for _, name, aliases, _ in concepts:
        for alias in [name, *aliases]:
            alias_set.setdefault(alias)
    aliases = list(alias_set)
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 3), min_df=1, dtype=numpy.float32)
    vectors = vectorizer.fit_transform(aliases).tocsr()
    keep = numpy.asarray(vectors.sum(axis=1)).reshape(-1) != 0
    aliases = [a for a, k in zip(aliases, keep) if k]
    vectors = vectors[keep]
    paths = {field: out / name for field, name in LINKER_FILE_NAMES.items()}
    joblib.dump(vectorizer, paths["tfidf_vectorizer"])
    paths["concept_aliases_list"].write_text(json.dumps(aliases), encoding="utf-8")
    # scipy >= 1.11 cannot hold float16 sparse data: write the csr arrays as scipy.sparse.save_npz does
    with open(paths["tfidf_vectors"], "wb") as handle:
        numpy.savez(handle, data=vectors.data.astype(numpy.float16), indices=vectors.indices,
                    indptr=vectors.indptr, format=numpy.array(b"csr"), shape=numpy.array(vectors.shape))
    index = nmslib.init(method="hnsw", space="cosinesimil_sparse", data_type=nmslib.DataType.SPARSE_VECTOR)
    index.addDataPointBatch(vectors)
    index.createIndex({"M": 16, "efConstruction": 200, "post": 0, "indexThreadQty": 1}, print_progress=False)
    index.saveIndex(str(paths["ann_index"]))
    return paths, kb_path


def tiny_mention_pipeline(phrases=None):
    """A blank English spaCy pipeline whose entity_ruler marks the given phrases (case-insensitive)."""
    import spacy

    if phrases is None:
        phrases = sorted({alias for _, name, aliases, _ in DEFAULT_CONCEPTS for alias in [name.lower(), *aliases]}
                         | {"hypertensive", "diabetic", "renal failure", "pain"})
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    ruler.add_patterns([{"label": "ENTITY", "pattern": phrase} for phrase in phrases])
    return nlp
