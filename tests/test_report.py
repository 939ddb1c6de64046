"""Reports from synthetic probabilities (no training), and the evaluate orchestration with stand-ins."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.classifiers.base import Probabilities
from pipeline.cli import app
from pipeline.errors import InputError
from pipeline.evaluation import metrics as M
from pipeline.evaluation import report, run
from pipeline.evaluation.crossval import cross_validated_decisions, make_folds, split_gold
from pipeline.records import STANCES, TARGETS

PNG = b"\x89PNG\r\n\x1a\n"


def _gold(n_docs=4, per_doc=12, seed=0):
    rng = np.random.default_rng(seed)
    records = []
    for d in range(n_docs):
        for k in range(per_doc):
            stance = STANCES[rng.integers(3)]
            targets = [] if stance == "neutral" else [t for t in TARGETS if rng.random() < 0.35]
            records.append(
                {
                    "id": f"doc{d}:{k:04d}",
                    "doc_id": f"doc{d}",
                    "text": f"Sentence {k} | of doc {d}.",
                    "stance": stance,
                    "targets": targets,
                    "origin": "gold",
                }
            )
    return records


def _noisy_probs(gold, quality, seed):
    """Probabilities that lean towards the gold label with the given strength."""
    rng = np.random.default_rng(seed)
    n = len(gold)
    stance = rng.dirichlet(np.ones(3), size=n)
    truth = np.array([STANCES.index(r["stance"]) for r in gold])
    stance[np.arange(n), truth] += quality
    stance /= stance.sum(axis=1, keepdims=True)
    y = np.array([[t in r["targets"] for t in TARGETS] for r in gold], dtype=float)
    targets = np.clip(quality * y + rng.random((n, len(TARGETS))) * (1 - quality), 0, 1)
    return Probabilities(stance, targets)


def _synthetic_metrics(n_bootstrap=200):
    gold = _gold()
    folds = make_folds(gold, seed=0)
    probs = {"weak": _noisy_probs(gold, 0.2, 1), "strong": _noisy_probs(gold, 0.8, 2)}
    decisions = {name: cross_validated_decisions(p, gold, folds) for name, p in probs.items()}
    curve_points = [
        {
            "fraction": f,
            "train_docs": [max(1, int(np.ceil(f * 3)))] * 4,
            "train_docs_mean": float(np.ceil(f * 3)),
            "stance_macro_f1": {"value": 0.3 + 0.4 * f, "ci_low": 0.2 + 0.4 * f, "ci_high": 0.4 + 0.4 * f},
            "target_micro_f1": {"value": 0.2 + 0.5 * f, "ci_low": 0.1 + 0.5 * f, "ci_high": 0.3 + 0.5 * f},
        }
        for f in (0.25, 0.5, 0.75, 1.0)
    ]
    metrics = run.summarise(
        gold,
        folds,
        probs,
        decisions,
        seed=0,
        n_bootstrap=n_bootstrap,
        config={"labels": "synthetic", "data_hash": "abc123", "n_written": 2, "n_augmented": 0},
        learning_curve={"backend": "strong", "seed": 0, "points": curve_points},
    )
    return gold, probs, decisions, metrics


def test_report_files_and_reproducibility(tmp_path):
    gold, probs, decisions, metrics = _synthetic_metrics()
    report.write_report(metrics, tmp_path / "rep")
    out = tmp_path / "rep"
    names = {p.name for p in out.iterdir()}
    expected = {
        "report.md",
        "report.html",
        "metrics.json",
        "confusion_weak.png",
        "confusion_strong.png",
        "reliability.png",
        "learning_curve.png",
        "target_f1.png",
    }
    assert expected <= names
    for name in expected:
        if name.endswith(".png"):
            assert (out / name).read_bytes().startswith(PNG)
    data = json.loads((out / "metrics.json").read_text())
    assert data["schema_version"] == 1
    assert data["config"]["folds"] == [["doc0"], ["doc1"], ["doc2"], ["doc3"]]
    assert data["config"]["n_sentences"] == 48 and data["config"]["n_docs"] == 4
    assert data["config"]["data_hash"] == "abc123" and data["config"]["n_bootstrap"] == 200
    assert sorted(data["plots"]) == sorted(n for n in expected if n.endswith(".png"))
    # the report is rebuilt from metrics.json alone, byte for byte
    md = (out / "report.md").read_text()
    assert report.render_markdown(data) == md
    images = {name: (out / name).read_bytes() for name in data["plots"]}
    assert report.render_html(data, images) == (out / "report.html").read_text()


def test_report_numbers_match_the_metric_functions(tmp_path):
    gold, probs, decisions, metrics = _synthetic_metrics()
    report.write_report(metrics, tmp_path)
    data = json.loads((tmp_path / "metrics.json").read_text())
    md = (tmp_path / "report.md").read_text()
    for name in ("weak", "strong"):
        pred = decisions[name]
        stance = M.stance_scores([r["stance"] for r in gold], [p[0] for p in pred])
        targets = M.target_scores([r["targets"] for r in gold], [p[1] for p in pred])
        head = data["backends"][name]["headline"]
        assert head["stance_macro_f1"]["value"] == pytest.approx(stance["macro_f1"])
        assert head["stance_accuracy"]["value"] == pytest.approx(stance["accuracy"])
        assert head["target_micro_f1"]["value"] == pytest.approx(targets["micro_f1"])
        assert head["exact_match"]["value"] == pytest.approx(targets["exact_match"])
        gold_index = [STANCES.index(r["stance"]) for r in gold]
        assert head["ece"]["value"] == pytest.approx(
            M.expected_calibration_error(probs[name].stance, gold_index)
        )
        # the headline row of the Markdown shows the JSON numbers
        row = next(line for line in md.splitlines() if line.startswith(f"| {name}"))
        assert report.fmt_ci(head["stance_macro_f1"]) in row
        assert report.fmt(head["ece"]["value"]) in row
    assert data["best_backend"] == "strong"
    rows = data["comparison"]["rows"]
    assert {r["backend"] for r in rows} == {"weak"} and all(r["best"] == "strong" for r in rows)
    assert all(r["observed_diff"] < 0 for r in rows if r["metric"] == "stance_macro_f1")


def test_html_is_self_contained(tmp_path):
    *_, metrics = _synthetic_metrics(n_bootstrap=50)
    report.write_report(metrics, tmp_path)
    text = (tmp_path / "report.html").read_text()
    sources = re.findall(r'src="([^"]+)"', text)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in text and "https://" not in text and "<link" not in text
    assert "<table>" in text and "<style>" in text
    # text with a pipe is escaped in Markdown and safe in HTML
    md = (tmp_path / "report.md").read_text()
    assert "Sentence" not in md or "\\|" in md


def test_single_backend_report_has_no_comparison(tmp_path):
    gold = _gold(n_docs=3, per_doc=6)
    p = _noisy_probs(gold, 0.5, 0)
    from pipeline.classifiers.base import decide

    metrics = run.summarise(
        gold,
        None,
        {"m": p},
        {"m": decide(p)},
        n_bootstrap=20,
        mode="single_model",
        config={"model_dir": "models/m", "model_name": "m", "test_file": "t.jsonl", "n_not_gold": 1},
    )
    report.write_report(metrics, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "Paired comparison" not in md and "Learning curve" not in md
    assert "Single model `models/m`" in md
    assert not (tmp_path / "learning_curve.png").exists()


def test_to_jsonable_handles_numpy_and_nan():
    value = report.to_jsonable(
        {"a": np.float64("nan"), "b": np.int64(3), "c": (1, 2), "_hidden": 1, "d": np.array([1.5])}
    )
    assert value == {"a": None, "b": 3, "c": [1, 2], "d": [1.5]}


def test_output_path_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        report.prepare_output_dir(target)


# ---------------------------------------------------------------------------------------------
# orchestration with a stand-in trainer (no real backends)


def _write_labels(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return folder


def _stand_in(calls):
    """A FitPredict that predicts the training class frequencies and records what it saw."""

    def factory(name):
        def fit_predict(train, test, seed):
            calls.append(
                (
                    name,
                    {r["doc_id"] for r in train if r.get("origin", "gold") == "gold"},
                    {r["doc_id"] for r in test},
                    {r.get("origin", "gold") for r in test},
                    sum(r.get("origin") == "written" for r in train),
                )
            )
            counts = np.array([sum(r["stance"] == s for r in train) for s in STANCES], dtype=float) + (
                1.0 if name == "smooth" else 0.0
            )
            stance = np.tile(counts / counts.sum(), (len(test), 1))
            opinion = [r for r in train if r["stance"] != "neutral"] or train
            rate = np.array([np.mean([t in r["targets"] for r in opinion]) for t in TARGETS])
            return Probabilities(stance, np.tile(rate, (len(test), 1)))

        return fit_predict

    return factory


def _labelled_with_written():
    records = _gold(n_docs=4, per_doc=8, seed=3)
    records += [
        {
            "id": f"w:{i}",
            "doc_id": "written",
            "text": f"Written {i}.",
            "stance": "defend",
            "targets": ["inspectors"],
            "origin": "written",
        }
        for i in range(3)
    ]
    return records


def test_evaluate_backends_holds_documents_out(tmp_path):
    labels = _write_labels(tmp_path / "labels", _labelled_with_written())
    calls = []
    metrics = run.evaluate_backends(
        labels,
        ["plain", "smooth"],
        tmp_path / "rep",
        n_bootstrap=100,
        learning_curve_backend="plain",
        fit_predict_factory=_stand_in(calls),
    )
    assert (tmp_path / "rep" / "report.md").exists() and (tmp_path / "rep" / "learning_curve.png").exists()
    for _name, train_docs, test_docs, test_origins, n_written in calls:
        assert not train_docs & test_docs  # no sentence of a test document in training
        assert test_origins == {"gold"}  # written examples never tested
        assert n_written == 3  # ... but always trained on
    # 4 folds x 2 backends, then 3 learning-curve sizes x 4 folds (100% reuses the main run)
    assert len(calls) == 4 * 2 + 3 * 4
    sizes = [len(c[1]) for c in calls[8:]]
    assert sizes == [1] * 4 + [2] * 4 + [3] * 4
    points = metrics["learning_curve"]["points"]
    assert [p["fraction"] for p in points] == [0.25, 0.5, 0.75, 1.0]
    assert points[-1]["stance_macro_f1"]["value"] == pytest.approx(
        metrics["backends"]["plain"]["headline"]["stance_macro_f1"]["value"]
    )
    assert metrics["config"]["n_written"] == 3 and metrics["config"]["n_sentences"] == 32


def test_evaluate_backends_reuses_matching_crossval_json(tmp_path):
    from pipeline.train import data_hash, load_training_data

    records = _labelled_with_written()
    labels = _write_labels(tmp_path / "labels", records)
    loaded = load_training_data(labels)
    gold, _ = split_gold(loaded)
    folds = make_folds(gold, seed=0)
    probs = _noisy_probs(gold, 0.7, 4)
    saved = {
        "data_hash": data_hash(loaded),
        "ids": [r["id"] for r in gold],
        "doc_ids": [r["doc_id"] for r in gold],
        "folds": [list(f.test_docs) for f in folds],
        "stance_probs": probs.stance.tolist(),
        "target_probs": probs.targets.tolist(),
    }
    (tmp_path / "models" / "plain").mkdir(parents=True)
    (tmp_path / "models" / "plain" / "crossval.json").write_text(json.dumps(saved))
    (tmp_path / "models" / "smooth").mkdir(parents=True)
    (tmp_path / "models" / "smooth" / "crossval.json").write_text(json.dumps({**saved, "data_hash": "other"}))
    calls = []
    messages = []
    metrics = run.evaluate_backends(
        labels,
        ["plain", "smooth"],
        tmp_path / "rep",
        n_bootstrap=50,
        models_dir=tmp_path / "models",
        learning_curve_backend=None,
        fit_predict_factory=_stand_in(calls),
        progress=messages.append,
    )
    assert {c[0] for c in calls} == {"smooth"}  # plain was reused, smooth recomputed
    assert metrics["backends"]["plain"]["source"].startswith("reused")
    assert metrics["backends"]["smooth"]["source"] == "computed"
    assert any("data hash differs" in m for m in messages)
    expected = cross_validated_decisions(probs, gold, folds)
    acc = np.mean([r["stance"] == d[0] for r, d in zip(gold, expected, strict=True)])
    assert metrics["backends"]["plain"]["headline"]["stance_accuracy"]["value"] == pytest.approx(acc)
    assert metrics["learning_curve"] is None


def test_evaluate_model_with_stand_in_classifier(tmp_path, monkeypatch):
    import pipeline.classifiers as classifiers

    class StandIn:
        name = "standin"
        thresholds = dict.fromkeys(TARGETS, 0.5)

        def predict_scores(self, records):
            return _noisy_probs(records, 0.6, 0)

    monkeypatch.setattr(classifiers, "load_classifier", lambda folder: StandIn())
    test_file = tmp_path / "test.jsonl"
    records = _labelled_with_written()
    test_file.write_text("".join(json.dumps(r) + "\n" for r in records))
    metrics = run.evaluate_model(tmp_path / "model", test_file, tmp_path / "rep", n_bootstrap=50)
    assert metrics["mode"] == "single_model" and list(metrics["backends"]) == ["standin"]
    assert metrics["config"]["n_sentences"] == 32 and metrics["config"]["n_not_gold"] == 3
    data = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert report.render_markdown(data) == (tmp_path / "rep" / "report.md").read_text()


def test_evaluate_model_rejects_unlabelled_or_bad_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(
        json.dumps({"id": "a:1", "text": "x", "stance": "blame", "targets": []})
        + "\n"
        + json.dumps({"id": "a:2", "text": "y"})
        + "\n"
    )
    with pytest.raises(InputError, match=r"t.jsonl:2: record has no 'stance'"):
        run.read_labelled_file(path)
    path.write_text(
        json.dumps({"id": "a:1", "text": "x", "stance": "neutral", "targets": ["managers"]}) + "\n"
    )
    with pytest.raises(InputError, match=r"t.jsonl:1: neutral sentence with targets"):
        run.read_labelled_file(path)


def test_cli_evaluate_errors_are_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path), "-o", str(tmp_path / "r")])
    assert result.exit_code == 1 and "needs both --model DIR and --test FILE" in result.output
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--labels",
            str(tmp_path / "missing.jsonl"),
            "--backends",
            "majority",
            "-o",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 1 and "missing.jsonl" in result.output and "Traceback" not in result.output


def test_cli_evaluate_unknown_backend_fails_before_training(tmp_path):
    labels = _write_labels(tmp_path / "labels", _labelled_with_written())
    result = CliRunner().invoke(
        app, ["evaluate", "--labels", str(labels), "--backends", "majority,nope", "-o", str(tmp_path / "r")]
    )
    assert result.exit_code == 1 and "unknown backend 'nope'" in result.output


def test_evaluate_backends_holds_sources_out_and_reports_written_documents_apart(tmp_path):
    records = _gold(n_docs=4, per_doc=8, seed=5)
    for batch in (1, 2):
        for doc in range(2):
            records += [{"id": f"b{batch}-d{doc}:{i:04d}", "doc_id": f"b{batch}-d{doc}",
                         "text": f"Written {batch} {doc} {i}.", "stance": ("blame", "defend", "neutral")[i % 3],
                         "targets": [] if i % 3 == 2 else ["managers"], "origin": "written", "batch": str(batch),
                         "register": "news"} for i in range(6)]
    labels = _write_labels(tmp_path / "labels", records)
    calls = []
    metrics = run.evaluate_backends(labels, ["plain"], tmp_path / "rep", n_bootstrap=50,
                                    fit_predict_factory=_stand_in(calls))
    assert len(calls) == 3  # seeds, written batch 1, written batch 2 held out in turn
    for _name, train_docs, test_docs, _origins, _n_written in calls:
        assert not train_docs & test_docs
    assert metrics["config"]["n_sentences"] == 32  # the gold report scores gold only
    assert metrics["learning_curve"] is None
    written = json.loads((tmp_path / "rep" / "written_documents" / "metrics.json").read_text())
    assert written["config"]["n_sentences"] == 24 and "NOT gold" in written["config"]["scored"]
    assert "held-out sources" in (tmp_path / "rep" / "report.md").read_text()
