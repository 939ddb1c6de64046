"""Every inference engine gives the labels of torch fp32 (speed: benchmarks/predict_speed.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import labelled_records

from pipeline import runtimes as engines
from pipeline.cpuinfo import cpu_info, describe, has_bf16
from pipeline.encoder import load_tokenizer, tokenize_unpadded
from pipeline.errors import ModelError
from pipeline.modelio import load_model
from pipeline.train import train_model

SETTINGS = {"epochs": 2, "batch_size": 8, "max_length": 32, "validation_docs": 0, "augment": False,
            "predict_batch_size": 5}
# Tolerances on the tiny random model, probabilities: exact engines to float rounding; the
# lossy ones to a few hundredths (what the agreement rule then judges on real models).
TOLERANCE = {"torch-fp32": 1e-6, "onnx-fp32": 1e-4, "torch-bf16": 0.05, "torch-int8": 0.05, "onnx-int8": 0.05}


@pytest.fixture(scope="module")
def model_dir(tiny_encoder, tmp_path_factory) -> Path:
    labels = tmp_path_factory.mktemp("engine-labels")
    with open(labels / "gold.jsonl", "w", encoding="utf-8") as handle:
        for record in labelled_records(3):
            handle.write(json.dumps(record) + "\n")
    out = tmp_path_factory.mktemp("engine-models") / "transformer"
    train_model("transformer", labels, out, settings={**SETTINGS, "base_model": str(tiny_encoder)},
                cross_validate=False)
    return out


def runnable() -> list[str]:
    return [name for name in engines.ENGINES if engines.unavailable_reason(name) is None]


@pytest.mark.parametrize("name", engines.ENGINES)
def test_every_engine_agrees_with_torch_fp32(model_dir, name):
    if engines.unavailable_reason(name):
        pytest.skip(engines.unavailable_reason(name))
    records = labelled_records(2)
    reference = load_model(model_dir)
    reference.settings["engine"] = "torch-fp32"
    expected = reference.predict_proba(records)
    model = load_model(model_dir)
    model.settings["engine"] = name
    got = model.predict_proba(records)
    assert model.engine().name == name
    np.testing.assert_allclose(got.stance, expected.stance, atol=TOLERANCE[name])
    np.testing.assert_allclose(got.targets, expected.targets, atol=TOLERANCE[name])
    agreement = (got.stance.argmax(1) == expected.stance.argmax(1)).mean()
    assert agreement >= (0.9 if name in engines.INT8 or name == "torch-bf16" else 1.0)


def test_onnx_prediction_does_not_import_torch(model_dir):
    """The lean path: a cached export, the tokenizers library and onnxruntime; no torch, no
    transformers, no scikit-learn in the process."""
    if engines.unavailable_reason("onnx-fp32"):
        pytest.skip("onnxruntime not installed")
    load_model(model_dir).engine()  # builds the cached export (needs torch once)
    code = ("import sys, json; from pipeline.modelio import load_model; m = load_model(sys.argv[1]); "
            "p = m.predict_proba([{'id': 'a:1', 'doc_id': 'a', 'text': 'The council failed.'}]); "
            "print(json.dumps([m.engine().name, sorted(k for k in ('torch', 'transformers', 'sklearn') "
            "if k in sys.modules)]))")
    out = subprocess.run([sys.executable, "-c", code, str(model_dir)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["onnx-fp32", []]


def test_light_tokenizer_gives_the_transformers_ids(tiny_encoder, model_dir):
    folder = model_dir / "encoder"
    texts = [r["text"] for r in labelled_records(1)] + ["x " * 200, ""]
    pairs = texts[1:] + texts[:1]
    light = engines.LightTokenizer(folder)
    full = load_tokenizer(folder)
    for context in (None, pairs):
        assert light.encode(texts, context, max_length=12) == tokenize_unpadded(full, texts, context, max_length=12)


def test_the_export_is_cached_by_model_hash_and_rebuilt_when_corrupt(model_dir):
    if engines.unavailable_reason("onnx-fp32"):
        pytest.skip("onnxruntime not installed")
    from pipeline import onnx_export

    model = load_model(model_dir)
    model.settings["engine"] = "onnx-fp32"
    model.engine()
    path = onnx_export.cached_onnx(model.model_info["hash"], int8=False, load_encoder=lambda: pytest.fail("rebuilt"))
    assert path.is_file() and model.model_info["hash"] in str(path)
    assert not list(model_dir.rglob("*.onnx"))  # never written into the model folder
    path.write_bytes(b"not a model")
    rebuilt = onnx_export.cached_onnx(model.model_info["hash"], int8=False,
                                      load_encoder=lambda: (model.encoder, list(model.tokenizer.model_input_names)))
    assert rebuilt.stat().st_size > 1000


def test_auto_takes_the_recorded_choice_for_this_cpu(model_dir):
    model = load_model(model_dir)
    model_hash = model.model_info["hash"]
    default = "onnx-fp32" if engines.onnxruntime_installed() else "torch-fp32"
    assert engines.choose("auto", model_hash)[0] == default
    engines.record_choice(model_hash, {"engine": "torch-int8", "evidence": "test"})
    try:
        assert engines.choose("auto", model_hash)[0] == "torch-int8"
        assert engines.choose("torch-fp32", model_hash) == ("torch-fp32", "forced")
    finally:
        engines.record_choice(model_hash, {"engine": default})


def test_selection_rule():
    results = {"torch-fp32": {"sps": 100.0}, "onnx-fp32": {"sps": 150.0, "oof_agreement": 1.0},
               "torch-bf16": {"sps": 300.0, "oof_agreement": 0.985},
               "onnx-int8": {"sps": 400.0, "oof_agreement": 0.981, "f1_change": -0.004},
               "torch-int8": {"sps": 500.0, "oof_agreement": 0.979, "f1_change": 0.0}}
    assert engines.select(results)[0] == "onnx-int8"  # bf16 misses 99%, torch-int8 misses 98%
    results["onnx-int8"]["f1_change"] = -0.02
    assert engines.select(results)[0] == "onnx-fp32"


def test_unknown_or_impossible_engines_are_one_line_errors():
    with pytest.raises(ModelError, match="unknown engine"):
        engines.choose("gpu", None)
    if not has_bf16():
        with pytest.raises(ModelError, match="bf16"):
            engines.choose("torch-bf16", None)


def test_cpu_description_names_the_instruction_sets():
    info = cpu_info()
    assert info["model"] and info["cores"] >= 1 and set(info["flags"]) >= {"avx2", "avx512", "vnni", "amx_bf16"}
    assert info["model"] in describe()


def test_a_failed_export_falls_back_to_torch_under_auto_and_fails_when_forced(model_dir, monkeypatch):
    if engines.unavailable_reason("onnx-fp32"):
        pytest.skip("onnxruntime not installed")
    from pipeline import onnx_export

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(onnx_export, "cached_onnx", broken)
    model = load_model(model_dir)
    engine = model.engine()
    assert engine.name == "torch-fp32" and "export failed" in engine.why
    forced = load_model(model_dir)
    forced.settings["engine"] = "onnx-fp32"
    with pytest.raises(ModelError, match="cannot build the ONNX encoder"):
        forced.engine()


def test_training_measures_bf16_on_held_out_folds_and_auto_uses_it(tiny_encoder, tmp_path, monkeypatch):
    """Cross-validation labels each held-out fold with bf16 too and saves the agreement, which
    the benchmark's choice of default and predict's message use."""
    monkeypatch.setattr(engines, "unavailable_reason",
                        lambda name: None if name in ("torch-fp32", "torch-bf16") else "not in this test")
    labels = tmp_path / "labels"
    labels.mkdir()
    with open(labels / "gold.jsonl", "w", encoding="utf-8") as handle:
        for record in labelled_records(3):
            handle.write(json.dumps(record) + "\n")
    out = tmp_path / "transformer"
    train_model("transformer", labels, out, settings={**SETTINGS, "base_model": str(tiny_encoder)})
    measured = json.loads((out / "config.json").read_text())["training"]["engine_agreement"]["torch-bf16"]
    assert measured["sentences"] == len(labelled_records(3))
    assert 0.0 <= measured["stance_agreement"] <= 1.0 and measured["cpu"]
    model = load_model(out)
    model_hash = model.model_info["hash"]
    agreeing = {"torch-bf16": {"stance_agreement": 0.995, "sentences": 400}}
    exact = "onnx-fp32" if engines.onnxruntime_installed() else "torch-fp32"
    name, why = engines.choose("auto", model_hash, agreeing)
    # Agreement alone does not make bf16 the default: speed is the benchmark's to measure.
    assert name == exact
    if exact == "onnx-fp32":
        assert "99.50% of 400 held-out sentences" in why
    agreeing["torch-bf16"]["stance_agreement"] = 0.985
    assert "torch-bf16" not in engines.choose("auto", model_hash, agreeing)[1]
