"""BERTScore through bert-score 0.3.13 on a tiny BERT built here (hand-built WordPiece vocabulary)."""

from __future__ import annotations

import pytest

from clue.metrics.bertscore import BertScorer
from clue.metrics.resources import MetricResources
from clue.testing.tiny_bert import build_tiny_bert

LAYER = 2


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), num_layers=3)


@pytest.fixture(scope="module")
def scorer(tiny_bert):
    return BertScorer(tiny_bert, LAYER, batch_size=4)


def reference_bertscore(model_dir, layer, candidate, reference):
    """BERTScore by its definition, straight from transformers: layer-``layer`` embeddings, greedy
    cosine matching, [CLS]/[SEP] matchable but not averaged over, F1 = 2PR/(P+R)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    def embed(text):
        ids = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            states = model(ids, output_hidden_states=True).hidden_states[layer][0]
        return torch.nn.functional.normalize(states, dim=-1)

    c, r = embed(candidate), embed(reference)
    sim = c @ r.T
    precision = sim.max(dim=1).values[1:-1].mean().item()
    recall = sim.max(dim=0).values[1:-1].mean().item()
    return precision, recall, 2 * precision * recall / (precision + recall)


def test_scores_match_the_definition(scorer, tiny_bert):
    pairs = [("the patient has chest pain", "patient denies chest pain"),
             ("fever and cough", "the patient reports fever"),
             ("headaches daily", "headache")]                   # word pieces: headache ##s
    result = scorer.score([p for p, _ in pairs], [r for _, r in pairs])
    assert set(result) == {"precision", "recall", "f1"}
    for i, (candidate, reference) in enumerate(pairs):
        p, r, f = reference_bertscore(tiny_bert, LAYER, candidate, reference)
        assert result["precision"][i] == pytest.approx(p, abs=1e-5)
        assert result["recall"][i] == pytest.approx(r, abs=1e-5)
        assert result["f1"][i] == pytest.approx(f, abs=1e-5)


def test_identical_texts_score_one(scorer):
    result = scorer.score(["chest pain with fever"], ["chest pain with fever"])
    assert result["f1"][0] == pytest.approx(1.0, abs=1e-5)


def test_longer_than_512_pieces_is_truncated(scorer):
    words = ["pain", "fever", "cough", "heart", "blood"]
    long_text = " ".join(words[i % 5] for i in range(700))            # 700 word pieces
    truncated = " ".join(words[i % 5] for i in range(510))            # + [CLS] [SEP] = 512
    assert len(scorer.tokenizer.tokenize(long_text)) == 700
    reference = "the patient has chest pain and fever"
    long_score = scorer.score([long_text, reference], [reference, long_text])
    cut_score = scorer.score([truncated, reference], [reference, truncated])
    for key in ("precision", "recall", "f1"):
        assert long_score[key] == pytest.approx(cut_score[key], abs=1e-6)


def test_empty_prediction_or_reference_scores_zero(scorer):
    result = scorer.score(["", "chest pain", "   "], ["chest pain", "", "fever"])
    assert result == {"precision": [0.0, 0.0, 0.0], "recall": [0.0, 0.0, 0.0], "f1": [0.0, 0.0, 0.0]}


def test_batch_size_does_not_change_scores(tiny_bert, scorer):
    predictions = ["fever", "chest pain and cough", "the patient", "blood pressure daily"]
    references = ["cough", "chest pain", "patient reports pain", "blood pressure"]
    one_by_one = BertScorer(tiny_bert, LAYER, batch_size=1).score(predictions, references)
    batched = scorer.score(predictions, references)
    for key in batched:
        assert batched[key] == pytest.approx(one_by_one[key], abs=1e-5)


def test_tokenizer_with_declared_max_length(tmp_path):
    folder = build_tiny_bert(tmp_path / "declared", num_layers=2, model_max_length=128,
                             max_position_embeddings=128)
    scorer = BertScorer(folder, 1)
    assert scorer.tokenizer.model_max_length == 128                    # a smaller declared limit is kept
    long_text = " ".join(["pain"] * 300)
    assert scorer.score([long_text], [" ".join(["pain"] * 126)])["f1"][0] == pytest.approx(1.0, abs=1e-5)


def test_resources_load_each_model_once(tiny_bert):
    resources = MetricResources(bertscore_paths={"allenai/scibert_scivocab_uncased": tiny_bert})
    first = resources.bertscorer("allenai/scibert_scivocab_uncased", LAYER)
    assert resources.bertscorer("allenai/scibert_scivocab_uncased", LAYER) is first
    assert resources.bertscorer("allenai/scibert_scivocab_uncased", 1) is not first
    assert resources.describe()["bertscore"][0]["num_layers"] == LAYER
    assert MetricResources(enabled=["rouge"]).bertscorer("allenai/scibert_scivocab_uncased", 8) is None


def test_length_mismatch(scorer):
    with pytest.raises(ValueError):
        scorer.score(["a"], ["a", "b"])
    assert scorer.score([], []) == {"precision": [], "recall": [], "f1": []}
