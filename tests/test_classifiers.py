from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import labelled_records
from typer.testing import CliRunner

from pipeline.classifiers import Probabilities, decide, get_backend
from pipeline.cli import app
from pipeline.errors import ModelError
from pipeline.lexicon import Lexicon
from pipeline.modelio import load_model
from pipeline.records import STANCES, TARGETS
from pipeline.train import fit_classifier, load_training_data, role_swaps, train_model

FAST_TRANSFORMER = {"epochs": 2, "batch_size": 8, "max_length": 32, "validation_docs": 0}


@pytest.fixture(autouse=True)
def _use_tiny_lexicon(monkeypatch, tiny_lexicon):
    # Tests do not depend on the project's editable lexicon.
    monkeypatch.setattr("pipeline.lexicon.DEFAULT_LEXICON_PATH", tiny_lexicon)
    monkeypatch.setattr("pipeline.train.DEFAULT_LEXICON_PATH", tiny_lexicon)


def settings_for(backend: str, encoder: Path) -> dict:
    if backend == "transformer":
        return {**FAST_TRANSFORMER, "base_model": str(encoder), "augment": False}
    if backend == "embed":
        return {"base_model": str(encoder), "augment": False}
    return {"augment": False}


BACKENDS = ["majority", "lexicon", "tfidf", "embed", "transformer"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_probabilities_have_the_label_shapes(backend, tiny_encoder):
    records = labelled_records(2)
    model = fit_classifier(backend, records, settings_for(backend, tiny_encoder), seed=0)
    probs = model.predict_proba(records[:5])
    assert probs.stance.shape == (5, len(STANCES))
    assert probs.targets.shape == (5, len(TARGETS))
    np.testing.assert_allclose(probs.stance.sum(1), 1.0, rtol=1e-6)
    assert ((probs.targets >= 0) & (probs.targets <= 1)).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_save_and_load_give_identical_predictions(backend, tiny_encoder, labels_dir, tmp_path):
    out = tmp_path / backend
    train_model(backend, labels_dir, out, settings=settings_for(backend, tiny_encoder), cross_validate=False)
    records = labelled_records(1)
    loaded = load_model(out)
    original = fit_classifier(backend, load_training_data(labels_dir), settings_for(backend, tiny_encoder), seed=0)
    np.testing.assert_allclose(loaded.predict_proba(records).stance, original.predict_proba(records).stance, atol=1e-5)
    np.testing.assert_allclose(
        loaded.predict_proba(records).targets, original.predict_proba(records).targets, atol=1e-5
    )
    files = [p.name for p in out.rglob("*")]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth"))]
    config = json.loads((out / "config.json").read_text())
    assert config["labels"] == {"stances": list(STANCES), "targets": list(TARGETS)}
    assert (out / "README.md").exists()


def test_same_seed_same_transformer(tiny_encoder):
    records = labelled_records(2)
    settings = settings_for("transformer", tiny_encoder)
    first = fit_classifier("transformer", records, settings, seed=3).predict_proba(records)
    second = fit_classifier("transformer", records, settings, seed=3).predict_proba(records)
    np.testing.assert_array_equal(first.stance, second.stance)
    np.testing.assert_array_equal(first.targets, second.targets)


def test_tfidf_learns_the_toy_data():
    records = labelled_records(4)
    model = fit_classifier("tfidf", records, {"augment": False}, seed=0)
    predicted = model.predict(records)
    accuracy = np.mean([p[0] == r["stance"] for p, r in zip(predicted, records, strict=True)])
    assert accuracy > 0.9


def test_neutral_never_has_targets():
    probs = Probabilities(
        np.array([[0.1, 0.1, 0.8], [0.7, 0.2, 0.1]]), np.array([[0.9] * 5, [0.9, 0.1, 0.1, 0.1, 0.1]])
    )
    assert decide(probs) == [("neutral", []), ("blame", ["councillors"])]


def test_thresholds_are_per_target():
    probs = Probabilities(np.array([[0.7, 0.2, 0.1]]), np.array([[0.3, 0.3, 0.3, 0.3, 0.3]]))
    thresholds = dict.fromkeys(TARGETS, 0.5) | {"inspectors": 0.25}
    assert decide(probs, thresholds) == [("blame", ["inspectors"])]


def test_role_swap_changes_the_label_with_the_mention():
    lexicon = Lexicon(
        {
            "councillors": ["council leader"],
            "managers": ["director"],
            "social_workers": ["social workers"],
            "inspectors": ["ofsted"],
            "government": ["the minister"],
        }
    )
    record = {
        "id": "d:0001",
        "doc_id": "d",
        "text": "Ofsted failed the children.",
        "stance": "blame",
        "targets": ["inspectors"],
    }
    swaps = role_swaps([record], lexicon, seed=0)
    assert len(swaps) == 1
    swapped = swaps[0]
    assert swapped["origin"] == "augmented" and swapped["targets"] != ["inspectors"]
    assert "Ofsted" not in swapped["text"] and swapped["text"].endswith(" failed the children.")


def test_cross_validation_writes_scores(labels_dir, tmp_path):
    result = train_model("tfidf", labels_dir, tmp_path / "m", settings={"augment": False})
    assert 0 <= result["cv_scores"]["stance_macro_f1"] <= 1
    crossval = json.loads((tmp_path / "m" / "crossval.json").read_text())
    assert len(crossval["ids"]) == len(labelled_records())
    assert "Held-out scores" in (tmp_path / "m" / "README.md").read_text()


# ---- bad model folders ------------------------------------------------------------------------


@pytest.fixture()
def tfidf_model(labels_dir, tmp_path) -> Path:
    out = tmp_path / "model"
    train_model("tfidf", labels_dir, out, settings={"augment": False}, cross_validate=False)
    return out


def test_missing_model_folder(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nothing")


def test_model_with_other_label_set(tfidf_model):
    config = json.loads((tfidf_model / "config.json").read_text())
    config["labels"]["targets"] = ["police"]
    (tfidf_model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="another label set"):
        load_model(tfidf_model)


def test_model_of_another_format_version(tfidf_model):
    config = json.loads((tfidf_model / "config.json").read_text())
    config["format_version"] = 99
    (tfidf_model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="format version"):
        load_model(tfidf_model)


def test_corrupt_weights_are_refused(tfidf_model):
    (tfidf_model / "weights.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="corrupt"):
        load_model(tfidf_model)


def test_unexpected_files_are_refused(tfidf_model):
    (tfidf_model / "evil.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match="unexpected file"):
        load_model(tfidf_model)


def test_unknown_backend():
    from pipeline.errors import PipelineError

    with pytest.raises(PipelineError, match="unknown backend"):
        get_backend("nope")


# ---- CLI ---------------------------------------------------------------------------------------


def test_cli_train_predict_round_trip(labels_dir, tiny_encoder, tmp_path):
    runner = CliRunner()
    model = tmp_path / "tiny"
    result = runner.invoke(
        app,
        [
            "train",
            "--backend",
            "transformer",
            "--labels",
            str(labels_dir),
            "-o",
            str(model),
            "--base-model",
            str(tiny_encoder),
            "--epochs",
            "1",
            "--no-cv",
            "--no-augment",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = tmp_path / "doc.txt"
    doc.write_text("The council leader failed. Social workers did hard work.\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["predict", str(doc), "--model", str(model), "-o", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == ["The council leader failed.", "Social workers did hard work."]
    for row in rows:
        assert row["stance"] in STANCES
        assert set(row["scores"]) == {"stance", "targets"}
        assert row["model"]["hash"]
    # Sentence JSONL in: every given field is kept; labels already present stay, predictions go beside.
    sentences = tmp_path / "sentences.jsonl"
    sentences.write_text(
        json.dumps(
            {
                "id": "x:0",
                "doc_id": "x",
                "text": "Ofsted failed.",
                "stance": "blame",
                "targets": ["inspectors"],
                "note": "keep me",
            }
        )
        + "\n"
    )
    result = runner.invoke(app, ["predict", str(sentences), "--model", str(model), "-o", str(tmp_path / "o2.jsonl")])
    assert result.exit_code == 0, result.output
    row = json.loads((tmp_path / "o2.jsonl").read_text())
    assert row["note"] == "keep me" and row["stance"] == "blame" and "predicted_stance" in row


def test_cli_bad_model_is_one_line(tmp_path):
    doc = tmp_path / "doc.txt"
    doc.write_text("Text.\n")
    result = CliRunner().invoke(app, ["predict", str(doc), "--model", str(tmp_path / "missing"), "-o", "-"])
    assert result.exit_code == 1
    assert "model folder not found" in result.output
    assert "Traceback" not in result.output
