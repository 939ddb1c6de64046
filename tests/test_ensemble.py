"""The ensemble backend: members' probabilities averaged; `pipeline combine` builds it from
trained folders and scores it from their saved out-of-fold probabilities."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import labelled_records
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.combine import combine_models
from pipeline.errors import ModelError
from pipeline.modelio import load_model
from pipeline.predict import annotate_context
from pipeline.train import fit_classifier, train_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_lexicon):
    folder = tmp_path_factory.mktemp("ensemble")
    labels = folder / "labels"
    labels.mkdir()
    with open(labels / "gold.jsonl", "w", encoding="utf-8") as handle:
        for record in labelled_records():
            handle.write(json.dumps(record) + "\n")
    for backend in ("tfidf", "lexicon"):
        train_model(backend, labels, folder / backend, settings={"lexicon": str(tiny_lexicon)})
    return folder, labels


def test_combined_folder_averages_its_members_and_is_scored_from_their_held_out_probabilities(trained):
    folder, labels = trained
    summary = combine_models([folder / "tfidf", folder / "lexicon"], folder / "ens", labels=labels,
                             weights=[3, 1])
    assert 0.0 <= summary["cv_scores"]["stance_macro_f1"] <= 1.0
    members = {name: json.loads((folder / name / "crossval.json").read_text()) for name in ("tfidf", "lexicon")}
    saved = json.loads((folder / "ens" / "crossval.json").read_text())
    expected = (3 * np.array(members["tfidf"]["stance_probs"]) + np.array(members["lexicon"]["stance_probs"])) / 4
    assert np.allclose(saved["stance_probs"], expected, atol=1e-5)

    ensemble = load_model(folder / "ens")
    records = list(annotate_context([dict(r) for r in labelled_records(2)], ensemble))
    got = ensemble.predict_proba(records)
    tfidf, lexicon = load_model(folder / "tfidf"), load_model(folder / "lexicon")
    want = 0.75 * tfidf.predict_proba(records).targets + 0.25 * lexicon.predict_proba(records).targets
    assert np.allclose(got.targets, want, atol=1e-9)
    assert "## Members" in (folder / "ens" / "README.md").read_text()


def test_members_from_other_labels_or_the_same_backend_are_refused(trained, tmp_path, tiny_lexicon):
    folder, labels = trained
    other = tmp_path / "labels"
    other.mkdir()
    with open(other / "gold.jsonl", "w", encoding="utf-8") as handle:
        for record in labelled_records(5):
            handle.write(json.dumps(record) + "\n")
    with pytest.raises(ModelError, match="different labels"):
        combine_models([folder / "tfidf", folder / "lexicon"], tmp_path / "ens", labels=other)
    with pytest.raises(ModelError, match="different single backends"):
        combine_models([folder / "tfidf", folder / "tfidf"], tmp_path / "ens", labels=labels)


def test_combine_command_is_one_line_on_bad_weights(trained, tmp_path):
    folder, labels = trained
    result = CliRunner().invoke(app, ["combine", str(folder / "tfidf"), str(folder / "lexicon"), "-o",
                                      str(tmp_path / "ens"), "--labels", str(labels), "--weights", "1,x"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["combine", str(folder / "tfidf"), str(folder / "lexicon"), "-o",
                                      str(tmp_path / "ens"), "--labels", str(labels)])
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "ens").name == "ensemble"


def test_an_ensemble_can_also_be_trained_from_scratch(tiny_lexicon):
    records = labelled_records()
    model = fit_classifier("ensemble", records, {"members": ["lexicon", "majority"]})
    probs = model.predict_proba(records)
    assert probs.stance.shape == (len(records), 3)
    assert np.allclose(probs.stance.sum(1), 1.0)
