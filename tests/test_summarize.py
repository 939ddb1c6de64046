"""`pipeline summarize`: counts and shares checked by hand, the error adjustment on a synthetic
classifier whose confusion is known, the bootstrap's determinism, the outputs and the CLI."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline import summarize as sm
from pipeline.cli import app
from pipeline.errors import InputError, ModelError
from pipeline.records import STANCES, TARGETS, write_jsonl

# ---------------------------------------------------------------------------------------------
# a small fixed prediction file

# (doc, section, author, timestamp, boilerplate, stance, targets)
ROWS = [
    ("A", "title", None, "2008-12-10", False, "blame", ["councillors", "managers"]),
    ("A", "post", None, "2008-12-10T18:22", False, "blame", ["councillors"]),
    ("A", "post", None, "2008-12-10", False, "defend", ["social_workers"]),
    ("A", "post", None, None, True, "neutral", []),  # boilerplate: never counted
    ("A", "comment", "Ann", "2008-12-11T09:00", False, "neutral", []),
    ("B", "post", None, "2009-01-05", False, "blame", ["government"]),
    ("B", "comment", "Ann", "5 January 2009", False, "neutral", []),  # unparsed timestamp
    ("B", "comment", "Bob", None, False, "neutral", []),
    ("C", "post", None, "2009-01-20", False, "defend", ["councillors"]),
    ("C", "comment", "Bob", "2009-01-21", False, "blame", ["councillors"]),
]


def records_of(rows):
    out = []
    for i, (doc, section, author, timestamp, boilerplate, stance, targets) in enumerate(rows):
        out.append({
            "id": f"{doc}:{i:04d}", "doc_id": doc, "text": f"sentence {i}", "section": section,
            "comment_index": 0 if section == "comment" else None, "author": author, "timestamp": timestamp,
            "boilerplate": boilerplate, "stance": stance, "targets": targets,
            "scores": {"stance": dict.fromkeys(STANCES, 1 / 3), "targets": dict.fromkeys(TARGETS, 0.1)},
            "model": {"name": "tfidf", "hash": "0123456789abcdef"},
        })
    return out


@pytest.fixture
def predictions(tmp_path):
    path = tmp_path / "predictions.jsonl"
    write_jsonl(path, records_of(ROWS))
    return path


def group(summary, dimension, key):
    return next(g for g in summary.groups if g.dimension == dimension and g.key == key)


def test_overall_counts_and_shares_by_hand(predictions):
    summary = sm.summarize(predictions, resamples=50)
    p = summary.predictions
    assert (p.n_records, p.n_boilerplate, len(p), p.doc_ids) == (10, 1, 9, ["A", "B", "C"])
    overall = summary.overall
    assert overall.n == 9 and overall.n_docs == 3
    assert [overall.stance_count(s) for s in STANCES] == [4, 2, 3]
    # blame: councillors in A0, A1, C9; managers in A0; government in B5 (A0 counts for two targets)
    assert [overall.target_count("blame", t) for t in TARGETS] == [3, 1, 0, 0, 1]
    assert [overall.target_count("defend", t) for t in TARGETS] == [1, 0, 1, 0, 0]
    np.testing.assert_allclose(overall.est["stance_share"], [4 / 9, 2 / 9, 3 / 9])
    np.testing.assert_allclose(overall.est["of_stance"][0], [3 / 4, 1 / 4, 0, 0, 1 / 4])
    np.testing.assert_allclose(overall.est["of_stance"][1], [1 / 2, 0, 1 / 2, 0, 0])
    np.testing.assert_allclose(overall.est["of_all"][0], [3 / 9, 1 / 9, 0, 0, 1 / 9])
    assert not summary.adjusted and "of_stance_adj" not in overall.est


def test_group_counts_by_section_author_month_doc(predictions):
    summary = sm.summarize(predictions, by=["section", "author", "month", "doc"], resamples=50)
    post = group(summary, "section", "post")  # the title counts with the post
    comment = group(summary, "section", "comment")
    assert (post.n, comment.n) == (5, 4)
    assert [post.stance_count(s) for s in STANCES] == [3, 2, 0]
    assert [comment.stance_count(s) for s in STANCES] == [1, 0, 3]
    assert comment.target_count("blame", "councillors") == 1
    np.testing.assert_allclose(comment.est["of_stance"][0], [1, 0, 0, 0, 0])
    assert [g.key for g in summary.groups_of("section")] == ["post", "comment"]

    assert group(summary, "author", "Ann").n == 2 and group(summary, "author", "Bob").n == 2
    assert group(summary, "author", sm.NO_AUTHOR).n == 5

    months = {g.key: g.n for g in summary.groups_of("month")}
    assert months == {"2008-12": 4, "2009-01": 3, sm.UNDATED: 2}
    assert [g.key for g in summary.groups_of("month")] == ["2008-12", "2009-01", sm.UNDATED]
    assert list(summary.months) == ["2008-12", "2009-01"]

    doc_b = group(summary, "doc", "B")
    assert doc_b.n == 3 and doc_b.n_docs == 1
    np.testing.assert_allclose(doc_b.est["of_stance"][0], [0, 0, 0, 0, 1])
    # one document: no interval
    assert np.all(np.isnan(doc_b.ci["of_stance"]))


def test_csv_rows_match_hand_counts(predictions, tmp_path):
    summary = sm.summarize(predictions, by=["section"], resamples=50)
    rows = list(csv.DictReader(sm.render_csv(summary).splitlines()))
    assert set(rows[0]) == set(sm.CSV_FIELDS)
    # per group: 3 stance rows + 2 targeted stances x 5 targets
    assert len(rows) == 3 * (3 + 2 * len(TARGETS))
    row = next(r for r in rows if (r["group_by"], r["stance"], r["target"]) == ("all", "blame", TARGETS[0]))
    assert (row["count"], row["share"], row["share_of_all"]) == ("3", "0.7500", "0.3333")
    assert row["n_stance"] == "4"
    assert row["adjusted"] == ""  # no model given
    key = ("comment", "neutral", sm.ANY_TARGET)
    stance_row = next(r for r in rows if (r["group"], r["stance"], r["target"]) == key)
    assert (stance_row["count"], stance_row["share"]) == ("3", "0.7500")


def test_month_parsing():
    assert sm.month_of("2008-12-10T18:22") == "2008-12"
    assert sm.month_of("2008-12-10") == "2008-12"
    assert sm.month_of("2008-12-10T18:22:05Z") == "2008-12"
    assert sm.month_of("2008-12") == "2008-12"
    for bad in (None, "", "10 December 2008", "2008-13", 20081210):
        assert sm.month_of(bad) is None


# ---------------------------------------------------------------------------------------------
# adjustment on a synthetic classifier with known error rates


def test_stance_adjustment_recovers_known_shares():
    rng = np.random.default_rng(7)
    true_shares = np.array([0.15, 0.05, 0.80])  # blame, defend, neutral
    # rows true, columns predicted
    rates = np.array([[0.70, 0.05, 0.25], [0.15, 0.55, 0.30], [0.15, 0.05, 0.80]])
    n = 200_000
    truth = rng.choice(3, size=n, p=true_shares)
    cumulative = rates.cumsum(axis=1)[truth]
    predicted = (rng.random(n)[:, None] > cumulative).sum(axis=1)
    observed = np.bincount(predicted, minlength=3) / n
    # raw classify-and-count is biased: blame over-counted (neutral leaks in), defend under-counted
    assert observed[0] - true_shares[0] > 0.05
    assert abs(observed[1] - true_shares[1]) > 0.005
    # the cross-validated matrix, as counts from a separate (smaller) simulated evaluation
    cv_counts = np.round(rates * np.array([[600], [250], [3000]])).astype(int)
    confusion = sm.confusion_from_config(
        {"cv_confusion": {"stance": {"labels": list(STANCES), "matrix": cv_counts.tolist()}, "targets": {}}}
    )
    adjusted = sm.adjust_stance(observed, confusion.stance_rates)
    np.testing.assert_allclose(adjusted, true_shares, atol=0.01)
    assert math.isclose(adjusted.sum(), 1.0)


def test_target_adjustment_recovers_known_prevalence():
    rng = np.random.default_rng(3)
    n = 100_000
    prevalence = np.array([0.40, 0.25, 0.30, 0.05, 0.10])
    tpr = np.array([0.70, 0.60, 0.65, 0.50, 0.55])
    fpr = np.array([0.15, 0.20, 0.10, 0.10, 0.15])
    truth = rng.random((n, 5)) < prevalence
    predicted = np.where(truth, rng.random((n, 5)) < tpr, rng.random((n, 5)) < fpr)
    observed = predicted.mean(axis=0)
    assert np.all(np.abs(observed - prevalence) > 0.02)  # raw is biased
    np.testing.assert_allclose(sm.adjust_targets(observed, tpr, fpr), prevalence, atol=0.01)
    # clipped to [0, 1]; undefined when the classifier is no better than chance
    np.testing.assert_allclose(sm.adjust_targets([0.01, 0.99], [0.8, 0.8], [0.1, 0.1]), [0.0, 1.0])
    assert np.isnan(sm.adjust_targets(0.3, 0.2, 0.2))


def test_adjustment_end_to_end_through_summarize(tmp_path):
    """Simulated predictions of a classifier with known confusion, summarized with --model."""
    rng = np.random.default_rng(11)
    true_shares = np.array([0.3, 0.1, 0.6])
    rates = np.array([[0.60, 0.05, 0.35], [0.10, 0.60, 0.30], [0.10, 0.05, 0.85]])
    tpr, fpr = 0.8, 0.1
    prevalence = 0.5  # of councillors among (truly and predicted) blame sentences
    n, docs = 6000, 60
    truth = rng.choice(3, size=n, p=true_shares)
    predicted = (rng.random(n)[:, None] > rates.cumsum(axis=1)[truth]).sum(axis=1)
    records = []
    for i in range(n):
        stance = STANCES[predicted[i]]
        targets = []
        if stance == "blame":
            named = rng.random() < prevalence
            if (rng.random() < tpr) if named else (rng.random() < fpr):
                targets = ["councillors"]
        records.append({"id": f"d{i % docs}:{i:05d}", "doc_id": f"d{i % docs}", "text": "s", "stance": stance,
                        "targets": targets, "boilerplate": False})
    path = tmp_path / "sim.jsonl"
    write_jsonl(path, records)
    model = tmp_path / "model"
    model.mkdir()
    config = {"cv_confusion": {
        "stance": {"labels": ["neutral", "blame", "defend"],  # a different order on purpose
                   "matrix": (np.round(rates * 1000)[np.ix_([2, 0, 1], [2, 0, 1])]).tolist()},
        "targets": {"councillors": {"tpr": tpr, "fpr": fpr}},
    }}
    (model / "config.json").write_text(json.dumps(config))
    summary = sm.summarize(path, model_dir=model, resamples=200)
    overall = summary.overall
    raw, adjusted = overall.est["stance_share"], overall.est["stance_share_adj"]
    assert abs(raw[0] - true_shares[0]) > 0.03
    np.testing.assert_allclose(adjusted, true_shares, atol=0.03)
    raw_c, adj_c = overall.est["of_stance"][0, 0], overall.est["of_stance_adj"][0, 0]
    assert abs(raw_c - prevalence) > 0.03 and abs(adj_c - prevalence) < 0.04
    low, high = overall.ci["of_stance_adj"][:, 0, 0]
    assert low < adj_c < high
    assert np.isnan(overall.est["of_stance_adj"][0, 1])  # no rates for managers: not adjusted
    assert any("managers" in note for note in summary.confusion.notes)


def test_project_to_simplex():
    out = sm.project_to_simplex(np.array([[0.5, 0.6, -0.1], [0.2, 0.3, 0.5], [np.nan, 0, 1]]))
    np.testing.assert_allclose(out[0], [0.45, 0.55, 0.0])
    np.testing.assert_allclose(out[1], [0.2, 0.3, 0.5])
    assert np.all(np.isnan(out[2]))


def test_bad_confusion_config_is_a_model_error():
    with pytest.raises(ModelError, match="labels"):
        sm.confusion_from_config({"cv_confusion": {"stance": {"labels": ["a", "b", "c"], "matrix": []}}})
    with pytest.raises(ModelError, match="3x3"):
        sm.confusion_from_config({"cv_confusion": {"stance": {"labels": list(STANCES), "matrix": [[1, 2]]}}})
    with pytest.raises(ModelError, match="tpr"):
        sm.confusion_from_config({"cv_confusion": {"targets": {"managers": {"tpr": 1.5, "fpr": 0}}}})
    assert sm.confusion_from_config({"model_hash": "x"}) is None


# ---------------------------------------------------------------------------------------------
# bootstrap


def _rows():
    rng = np.random.default_rng(0)
    stance = rng.choice(3, size=400)
    targets = rng.random((400, 5)) < 0.3
    counts = sm.count_vectors(stance, targets)
    doc = np.arange(400) % 20
    row_counts = np.zeros((20, sm.N_FEATURES))
    np.add.at(row_counts, doc, counts)
    return row_counts, np.arange(20), np.zeros(20, dtype=int)


def test_bootstrap_is_deterministic_and_brackets_the_estimate():
    row_counts, row_doc, row_group = _rows()
    first = sm.bootstrap_intervals(row_counts, row_doc, row_group, 20, 1, resamples=300, seed=5)
    again = sm.bootstrap_intervals(row_counts, row_doc, row_group, 20, 1, resamples=300, seed=5)
    other = sm.bootstrap_intervals(row_counts, row_doc, row_group, 20, 1, resamples=300, seed=6)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["of_stance"], other["of_stance"])
    point = sm.estimates(row_counts.sum(axis=0, keepdims=True))
    low, high = first["stance_share"]
    assert np.all(low <= point["stance_share"]) and np.all(point["stance_share"] <= high)
    assert np.all(high - low > 0)


def test_bootstrap_weights_resample_documents():
    weights = sm.resample_weights(7, 50, seed=1)
    assert weights.shape == (50, 7) and np.all(weights.sum(axis=1) == 7)
    np.testing.assert_array_equal(weights, sm.resample_weights(7, 50, seed=1))


def test_summary_is_deterministic(predictions):
    a = sm.render_csv(sm.summarize(predictions, by=["section"], resamples=100, seed=3))
    b = sm.render_csv(sm.summarize(predictions, by=["section"], resamples=100, seed=3))
    assert a == b


# ---------------------------------------------------------------------------------------------
# errors


def test_input_errors_name_file_and_line(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        sm.read_predictions(empty)

    boiler = tmp_path / "boiler.jsonl"
    write_jsonl(boiler, [dict(r, boilerplate=True) for r in records_of(ROWS[:2])])
    with pytest.raises(InputError, match="no non-boilerplate records"):
        sm.read_predictions(boiler)

    unlabelled = tmp_path / "unlabelled.jsonl"
    records = records_of(ROWS[:3])
    del records[1]["stance"]
    write_jsonl(unlabelled, records)
    with pytest.raises(InputError) as info:
        sm.read_predictions(unlabelled)
    assert str(info.value).startswith(f"{unlabelled}:2: record has no 'stance'")

    bad_target = tmp_path / "bad.jsonl"
    write_jsonl(bad_target, [dict(records_of(ROWS[:1])[0], targets=["mayor"])])
    with pytest.raises(InputError, match=r"bad.jsonl:1: unknown target 'mayor'"):
        sm.read_predictions(bad_target)


# ---------------------------------------------------------------------------------------------
# outputs and the CLI


def test_cli_writes_all_outputs(predictions, tmp_path):
    out = tmp_path / "summary"
    result = CliRunner().invoke(
        app,
        ["summarize", str(predictions), "--by", "section", "-o", str(out), "--resamples", "99"],
    )
    assert result.exit_code == 0, result.output
    for name in ("summary.md", "summary.csv", "summary.html", "blame_share.png", "blame_vs_defence.png",
                 "timeline.png", "by_section.png"):
        assert (out / name).is_file(), name
    assert (out / "blame_share.png").read_bytes().startswith(b"\x89PNG")
    md = (out / "summary.md").read_text()
    assert "1 boilerplate sentence(s) excluded" in md
    assert "No --model folder was given" in md
    assert "| councillors    |         3 |" in md
    html = (out / "summary.html").read_text()
    assert html.count('src="data:image/png;base64,') == 4 and 'src="http' not in html


def test_cli_with_model_shows_adjusted(predictions, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_hash": "feedface", "cv_confusion": {
        "stance": {"labels": list(STANCES), "matrix": [[40, 5, 15], [6, 12, 8], [20, 6, 200]]},
        "targets": {t: {"tpr": 0.8, "fpr": 0.05} for t in TARGETS},
    }}))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["summarize", str(predictions), "--model", str(model), "-o", str(out),
                                      "--resamples", "50"])
    assert result.exit_code == 0, result.output
    md = (out / "summary.md").read_text()
    assert "adjusted (95% CI)" in md and "Adjusted with the cross-validated confusion figures" in md
    assert "Warning: the error rates come from model feedface" in md  # predictions name another model
    rows = list(csv.DictReader((out / "summary.csv").open()))
    shown = [r for r in rows if r["stance"] != "neutral" or r["target"] == "(any)"]
    # every adjusted figure is given, except where the inversion left 0-100%: flagged, never a clipped 0%
    assert all((r["adjusted"] != "") == (r["adjusted_out_of_range"] == "false") for r in shown)
    assert any(r["adjusted_out_of_range"] == "true" for r in shown)  # no blame of inspectors, fpr 0.05
    assert "out of range" in md and "sensitivity check" in md
    assert not (out / "timeline.png").exists() or "timeline.png" in md


def test_cli_errors_are_one_line(predictions, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["summarize", str(predictions), "-o", str(tmp_path / "missing" / "out")])
    assert result.exit_code == 1 and "parent folder" in result.output
    assert not (tmp_path / "missing").exists()
    result = runner.invoke(app, ["summarize", str(predictions), "--by", "year", "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    result = runner.invoke(app, ["summarize", str(predictions), "--model", str(tmp_path / "nomodel"),
                                 "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "model folder does not exist" in result.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = runner.invoke(app, ["summarize", str(empty), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    expected = f"error: {empty}: no prediction records (the file is empty)"
    assert result.output.strip().splitlines() == [expected]
    assert not (tmp_path / "o").exists()


def test_no_dates_means_no_timeline_and_stale_plot_removed(tmp_path):
    path = tmp_path / "p.jsonl"
    write_jsonl(path, [dict(r, timestamp=None) for r in records_of(ROWS)])
    out = tmp_path / "out"
    out.mkdir()
    (out / "timeline.png").write_bytes(b"old")
    sm.write_summary(sm.summarize(path, resamples=20), out)
    assert not (out / "timeline.png").exists()
    assert "no timeline" in (out / "summary.md").read_text()


def test_model_labels_beside_human_labels_are_the_ones_counted(tmp_path):
    """`pipeline predict` on labelled input writes predicted_stance / predicted_targets."""
    records = records_of(ROWS)
    for record in records:
        record["predicted_stance"], record["predicted_targets"] = "blame", ["inspectors"]
    path = tmp_path / "p.jsonl"
    write_jsonl(path, records)
    summary = sm.summarize(path, resamples=20)
    assert summary.overall.stance_count("blame") == 9
    assert summary.overall.target_count("blame", "inspectors") == 9
    assert summary.predictions.n_predicted_fields == 9
    blocks = sm.summary_blocks(summary, {})
    assert any("predicted_stance" in b[1] for b in blocks if b[0] == "p")
