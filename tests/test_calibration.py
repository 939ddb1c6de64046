"""Stance temperature scaling: labels unchanged, fitted honestly, saved with the model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import labelled_records

from pipeline.classifiers.base import Probabilities, decide, fit_temperature, scale_stance
from pipeline.errors import ModelError
from pipeline.evaluation.crossval import cross_fitted_calibration, make_folds
from pipeline.modelio import load_model, model_hash
from pipeline.records import STANCES, TARGETS
from pipeline.train import train_model


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def overconfident_sample(n: int, temperature: float, seed: int = 0):
    """Stances drawn from softmax(z); the scores a model reports are softmax(z * temperature)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=1.5, size=(n, len(STANCES)))
    truth = [STANCES[rng.choice(len(STANCES), p=row)] for row in softmax(logits)]
    return softmax(logits * temperature), truth


def test_scaling_keeps_every_label_and_sums_to_one():
    stance, _ = overconfident_sample(200, 3.0)
    targets = np.random.default_rng(1).random((200, len(TARGETS)))
    probs = Probabilities(stance, targets)
    for temperature in (0.3, 1.0, 2.5, 8.0):
        scaled = scale_stance(probs, temperature)
        np.testing.assert_allclose(scaled.stance.sum(axis=1), 1.0)
        assert decide(scaled) == decide(probs)
        assert scaled.targets is probs.targets
    assert scale_stance(probs, 1.0) is probs
    assert scale_stance(probs, 2.0).stance.max(axis=1).mean() < stance.max(axis=1).mean()  # less sure


def test_fit_recovers_a_known_overconfidence():
    stance, truth = overconfident_sample(4000, 3.0)
    assert fit_temperature(stance, truth) == pytest.approx(3.0, rel=0.1)
    calibrated, truth = overconfident_sample(4000, 1.0, seed=2)
    assert fit_temperature(calibrated, truth) == pytest.approx(1.0, rel=0.1)
    assert fit_temperature(np.zeros((0, 3)), []) == 1.0


def test_cross_fitting_never_uses_the_fold_it_scales():
    gold = labelled_records(3)
    folds = make_folds(gold)
    stance, truth = overconfident_sample(len(gold), 3.0)
    for record, label in zip(gold, truth, strict=True):
        record["stance"] = label
    probs = Probabilities(stance, np.full((len(gold), len(TARGETS)), 0.5))
    first = cross_fitted_calibration(probs, gold, folds)
    held_out = folds[0].test_index
    changed = stance.copy()
    changed[held_out] = softmax(np.random.default_rng(9).normal(size=(len(held_out), 3)) * 10)
    second = cross_fitted_calibration(Probabilities(changed, probs.targets), gold, folds)
    # fold 0's temperature comes from the other folds, which did not change
    others = folds[0].train_index
    expected = scale_stance(Probabilities(changed[held_out], probs.targets[held_out]),
                            fit_temperature(stance[others], [gold[i]["stance"] for i in others]))
    np.testing.assert_allclose(second.stance[held_out], expected.stance)
    assert not np.allclose(first.stance[held_out], second.stance[held_out])


def test_trained_model_saves_and_applies_its_temperature(labels_dir, tmp_path):
    folder = tmp_path / "m"
    result = train_model("tfidf", labels_dir, folder, settings={"augment": False})
    config = json.loads((folder / "config.json").read_text())
    temperature = config["calibration"]["stance_temperature"]
    assert temperature > 0 and config["training"]["stance_temperature"] == temperature
    assert {"ece", "ece_uncalibrated"} <= set(result["cv_calibration"])
    assert "temperature scaling" in (folder / "README.md").read_text()
    model = load_model(folder)
    assert model.stance_temperature == temperature
    records = labelled_records(1)
    np.testing.assert_allclose(model.predict_scores(records).stance,
                               scale_stance(model.predict_proba(records), temperature).stance)


def test_edited_or_bad_calibration_is_refused_and_old_folders_still_load(labels_dir, tmp_path):
    folder = tmp_path / "m"
    train_model("tfidf", labels_dir, folder, settings={"augment": False}, cross_validate=False)
    path = folder / "config.json"
    original = json.loads(path.read_text())
    assert original["calibration"] == {"stance_temperature": 1.0}

    edited = {**original, "calibration": {"stance_temperature": 0.5}}
    path.write_text(json.dumps(edited))
    with pytest.raises(ModelError, match="model_hash does not match"):
        load_model(folder)

    for bad in ({"stance_temperature": -1}, {"stance_temperature": "2"}, [1.0], {}):
        config = {**original, "calibration": bad}
        path.write_text(json.dumps(config))
        with pytest.raises(ModelError, match="calibration.stance_temperature"):
            load_model(folder)

    older = {key: value for key, value in original.items() if key != "calibration"}
    older["model_hash"] = model_hash(older["files"], older["thresholds"])  # as saved before calibration
    path.write_text(json.dumps(older))
    assert load_model(folder).stance_temperature == 1.0
