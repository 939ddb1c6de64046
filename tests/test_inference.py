"""The fast prediction path gives the numbers of the plain one (speed: benchmarks/predict_speed.py)."""

from __future__ import annotations

import numpy as np
import torch
from conftest import labelled_records

from pipeline.classifiers.base import Probabilities
from pipeline.encoder import (
    inference_copy,
    length_sorted_batches,
    load_encoder,
    mean_pool,
    token_sorted_batches,
    tokenize_unpadded,
)
from pipeline.records import STANCES, TARGETS
from pipeline.train import fit_classifier

SETTINGS = {"epochs": 1, "batch_size": 8, "max_length": 32, "validation_docs": 0, "augment": False,
            "predict_batch_size": 5}


def plain_predict(model, records) -> Probabilities:
    """What predict_proba did before: character-length batches, the trained encoder as is."""
    texts, contexts = model._texts(records)
    actors = model._actor_matrix(records)
    stance = np.zeros((len(records), len(STANCES)))
    targets = np.zeros((len(records), len(TARGETS)))
    with torch.inference_mode():
        for index in length_sorted_batches([len(t) for t in texts], 5):
            batch = model._encode([texts[i] for i in index], [contexts[i] for i in index] if contexts else None)
            pooled = mean_pool(model.encoder(**batch).last_hidden_state, batch["attention_mask"])
            stance_logits, target_logits = model.heads(pooled, actors[index] if actors is not None else None)
            stance[index] = torch.softmax(stance_logits.double(), -1).numpy()
            targets[index] = torch.sigmoid(target_logits.double()).numpy()
    return Probabilities(stance, targets)


def test_token_sorted_batches_equal_padded_tokenisation(tiny_encoder):
    tokenizer, _ = load_encoder(tiny_encoder)
    texts = [r["text"] for r in labelled_records(1)]
    pairs = texts[1:] + texts[:1]
    for context in (None, pairs):
        encoded = tokenize_unpadded(tokenizer, texts, context, max_length=12)
        seen, widths = [], []
        for index, batch in token_sorted_batches(tokenizer, encoded, 4):
            expected = tokenizer([texts[i] for i in index], [context[i] for i in index] if context else None,
                                 padding=True, truncation="longest_first" if context else True, max_length=12,
                                 return_tensors="pt")
            assert set(batch) == set(expected.keys())
            for key in batch:
                assert np.array_equal(batch[key], expected[key].numpy())
            seen += list(index)
            widths.append(batch["input_ids"].shape[1])
        assert sorted(seen) == list(range(len(texts)))
        assert widths == sorted(widths)  # batched by token count


def test_fast_fp32_predictions_match_the_plain_path(tiny_encoder):
    records = labelled_records(2)
    for context in (False, True):
        model = fit_classifier("transformer", records, {**SETTINGS, "base_model": str(tiny_encoder),
                                                        "context": context}, seed=0)
        if context:
            for previous, record in zip(records, records[1:], strict=False):
                record["context"] = previous["text"]
            records[0]["context"] = ""
        fast, plain = model.predict_proba(records), plain_predict(model, records)
        np.testing.assert_allclose(fast.stance, plain.stance, atol=1e-5)
        np.testing.assert_allclose(fast.targets, plain.targets, atol=1e-5)


def test_inference_copy_leaves_the_model_alone_and_follows_its_weights(tiny_encoder):
    tokenizer, encoder = load_encoder(tiny_encoder)
    encoder.eval()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    batch = tokenizer(["The council failed.", "Ofsted missed it all, again and again."], padding=True,
                      return_tensors="pt")
    with torch.inference_mode():
        reference = encoder(**batch).last_hidden_state
        for quantize in (False, True):
            copy = inference_copy(encoder, quantize=quantize, tokenizer=tokenizer)
            out = copy(**batch).last_hidden_state
            mask = batch["attention_mask"].bool()
            if quantize:
                assert torch.nn.functional.cosine_similarity(out[mask], reference[mask]).min() > 0.9
            else:
                torch.testing.assert_close(out[mask], reference[mask], atol=1e-4, rtol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())
    linears = [m for m in encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(type(m) is torch.nn.Linear for m in linears)  # the trained model keeps its layers


def test_prediction_uses_the_current_weights_after_training_changes_them(tiny_encoder):
    records = labelled_records(1)
    model = fit_classifier("transformer", records, {**SETTINGS, "base_model": str(tiny_encoder)}, seed=0)
    first = model.predict_proba(records[:4]).stance
    with torch.no_grad():
        for parameter in model.encoder.parameters():
            parameter.mul_(0.5)
    second = model.predict_proba(records[:4]).stance
    np.testing.assert_allclose(second, plain_predict(model, records[:4]).stance, atol=1e-5)
    assert not np.allclose(first, second)
    model.settings["quantize"] = True
    int8 = model.predict_proba(records[:4]).stance
    assert np.abs(int8 - second).max() < 0.2


def test_the_fast_linear_probe_leaves_the_global_random_state_alone():
    """Else a training run's dropout would depend on whether the probe ran earlier in the process."""
    from pipeline.encoder import _fast_linear_class

    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    _fast_linear_class.cache_clear()
    _fast_linear_class()
    assert torch.equal(torch.rand(4), expected)
