"""Golden tests for pipeline.evaluation.metrics against scikit-learn and hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from pipeline.evaluation import metrics as M
from pipeline.records import STANCES, TARGETS

GOLD_STANCE = ["blame", "blame", "defend", "neutral", "neutral", "blame", "defend", "neutral"]
PRED_STANCE = ["blame", "defend", "defend", "neutral", "blame", "blame", "neutral", "neutral"]

GOLD_TARGETS = [["managers"], ["managers", "government"], ["social_workers"], [], [], ["inspectors"], [], []]
PRED_TARGETS = [["managers", "councillors"], ["government"], ["social_workers"], [], ["managers"], [], [], []]


def _nan(x):
    return float("nan") if x is None else x


def _close(a, b):
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return b is not None and not math.isnan(b) and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _multilabel(sets):
    return np.array([[int(t in s) for t in TARGETS] for s in sets])


# ---------------------------------------------------------------------------------------------
# stance


def test_stance_scores_match_sklearn():
    got = M.stance_scores(GOLD_STANCE, PRED_STANCE)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(GOLD_STANCE, PRED_STANCE))
    assert got["macro_f1"] == pytest.approx(skm.f1_score(GOLD_STANCE, PRED_STANCE, average="macro"))
    p, r, f, s = skm.precision_recall_fscore_support(GOLD_STANCE, PRED_STANCE, labels=list(STANCES))
    for i, stance in enumerate(STANCES):
        c = got["per_class"][stance]
        assert c["precision"] == pytest.approx(p[i])
        assert c["recall"] == pytest.approx(r[i])
        assert c["f1"] == pytest.approx(f[i])
        assert c["support"] == s[i]
    assert got["confusion"] == skm.confusion_matrix(GOLD_STANCE, PRED_STANCE, labels=list(STANCES)).tolist()


def test_macro_f1_skips_a_class_absent_from_gold_and_predictions():
    gold = ["blame", "neutral", "neutral", "blame"]
    pred = ["blame", "neutral", "blame", "blame"]
    got = M.stance_scores(gold, pred)
    # defend never occurs: averaged over blame and neutral only (scikit-learn's default labels)
    assert got["macro_f1"] == pytest.approx(skm.f1_score(gold, pred, average="macro"))
    assert got["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert got["per_class"]["defend"] == {"precision": None, "recall": None, "f1": None, "support": 0}


def test_undefined_precision_is_none_but_f1_is_zero():
    # neutral is never predicted: precision undefined, recall 0, F1 0
    got = M.stance_scores(["neutral", "blame"], ["blame", "blame"])
    c = got["per_class"]["neutral"]
    assert c["precision"] is None and c["recall"] == 0.0 and c["f1"] == 0.0


# ---------------------------------------------------------------------------------------------
# targets and pairs


def test_target_scores_match_sklearn():
    got = M.target_scores(GOLD_TARGETS, PRED_TARGETS)
    y, p = _multilabel(GOLD_TARGETS), _multilabel(PRED_TARGETS)
    assert got["micro_f1"] == pytest.approx(skm.f1_score(y, p, average="micro"))
    assert got["micro_precision"] == pytest.approx(skm.precision_score(y, p, average="micro"))
    assert got["micro_recall"] == pytest.approx(skm.recall_score(y, p, average="micro"))
    # every target occurs somewhere here, so no label is skipped from the macro average
    assert got["macro_f1"] == pytest.approx(skm.f1_score(y, p, average="macro", zero_division=np.nan))
    assert got["exact_match"] == pytest.approx(skm.accuracy_score(y, p))  # subset accuracy
    pr, rc, f1, sup = skm.precision_recall_fscore_support(y, p, zero_division=np.nan)
    for j, target in enumerate(TARGETS):
        c = got["per_target"][target]
        assert _close(_nan(c["precision"]), pr[j])
        assert _close(_nan(c["recall"]), rc[j])
        assert _close(_nan(c["f1"]), f1[j])
        assert c["support"] == sup[j]


def test_target_scores_by_hand():
    got = M.target_scores(GOLD_TARGETS, PRED_TARGETS)
    # tp: managers(1), government(1), social_workers(1) = 3; fp: councillors, managers = 2
    # fn: managers (sentence 2), inspectors = 2  ->  micro F1 = 6 / (6 + 2 + 2)
    assert got["micro_f1"] == pytest.approx(0.6)
    assert got["per_target"]["councillors"] == {
        "precision": 0.0,
        "recall": None,
        "f1": 0.0,
        "support": 0,
        "predicted": 1,
    }
    assert got["per_target"]["inspectors"]["precision"] is None
    assert got["per_target"]["inspectors"]["f1"] == 0.0
    # exact match: sentences 3, 4, 7, 8 (0-based 2, 3, 6, 7)
    assert got["exact_match"] == pytest.approx(4 / 8)


def test_target_macro_skips_targets_never_seen():
    got = M.target_scores([["managers"], []], [["managers"], []])
    assert got["macro_f1"] == 1.0 and got["micro_f1"] == 1.0
    assert got["per_target"]["government"]["f1"] is None
    empty = M.target_scores([[], []], [[], []])
    assert empty["micro_f1"] is None and empty["macro_f1"] is None and empty["exact_match"] == 1.0


def test_pair_f1_by_hand():
    gold = list(zip(GOLD_STANCE, GOLD_TARGETS, strict=True))
    pred = list(zip(PRED_STANCE, PRED_TARGETS, strict=True))
    # gold pairs: (b,man) (b,man) (b,gov) (d,sw) (b,insp) = 5
    # pred pairs: (b,man) (b,cou) (d,gov) (d,sw) (b,man) = 5
    # shared: sentence 1 (b,man), sentence 3 (d,sw) = 2   -> F1 = 4 / 10
    assert M.pair_f1(gold, pred) == pytest.approx(0.4)
    assert M.label_pairs(("blame", ["managers", "government"])) == {
        ("blame", "managers"),
        ("blame", "government"),
    }
    assert M.pair_f1([("neutral", [])], [("neutral", [])]) is None


# ---------------------------------------------------------------------------------------------
# calibration


def test_ece_by_hand():
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # predicts blame, gold blame: right
            [0.05, 0.9, 0.05],  # predicts defend, gold blame: wrong
            [0.2, 0.2, 0.6],  # predicts neutral, right
            [0.35, 0.33, 0.32],  # predicts blame, gold neutral: wrong
        ]
    )
    gold = [0, 0, 2, 2]
    bins = M.reliability_bins(probs, gold)
    assert [b["count"] for b in bins] == [0, 0, 0, 1, 0, 1, 0, 0, 2, 0]
    assert bins[8]["lo"] == pytest.approx(0.8) and bins[8]["hi"] == pytest.approx(0.9)
    assert bins[8]["confidence"] == pytest.approx(0.9) and bins[8]["accuracy"] == 0.5
    assert bins[0]["confidence"] is None and bins[0]["accuracy"] is None
    expected = 2 / 4 * abs(0.5 - 0.9) + 1 / 4 * abs(1 - 0.6) + 1 / 4 * abs(0 - 0.35)
    assert M.expected_calibration_error(probs, gold) == pytest.approx(expected)
    assert expected == pytest.approx(0.3875)


def test_ece_bin_edges_are_upper_inclusive():
    probs = np.array([[1.0, 0.0, 0.0], [0.5, 0.25, 0.25], [0.7, 0.2, 0.1]])
    bins = M.reliability_bins(probs, [0, 0, 0])
    assert bins[9]["count"] == 1 and bins[4]["count"] == 1 and bins[6]["count"] == 1
    assert M.expected_calibration_error(np.zeros((0, 3)), []) is None


# ---------------------------------------------------------------------------------------------
# additive stats and the cluster bootstrap


def _random_case(rng, n):
    gold, pred = [], []
    for _ in range(n):
        for out in (gold, pred):
            stance = STANCES[rng.integers(3)]
            targets = [] if stance == "neutral" else [t for t in TARGETS if rng.random() < 0.3]
            out.append((stance, targets))
    probs = rng.dirichlet(np.ones(3), size=n)
    return gold, pred, probs


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_stats_reproduce_the_direct_metrics(seed):
    rng = np.random.default_rng(seed)
    gold, pred, probs = _random_case(rng, 40)
    # make the predicted stance the argmax, as decide() does
    pred = [
        (STANCES[int(np.argmax(p))], t if STANCES[int(np.argmax(p))] != "neutral" else [])
        for p, (_, t) in zip(probs, pred, strict=True)
    ]
    got = M.metrics_from_stats(M.sentence_stats(gold, pred, probs).sum(axis=0))
    stance = M.stance_scores([g[0] for g in gold], [p[0] for p in pred])
    targets = M.target_scores([g[1] for g in gold], [p[1] for p in pred])
    gold_index = [STANCES.index(g[0]) for g in gold]
    assert _close(stance["macro_f1"], float(got["stance_macro_f1"]))
    assert _close(stance["accuracy"], float(got["stance_accuracy"]))
    assert _close(targets["micro_f1"], float(got["target_micro_f1"]))
    assert _close(targets["macro_f1"], float(got["target_macro_f1"]))
    assert _close(targets["exact_match"], float(got["exact_match"]))
    assert _close(M.pair_f1(gold, pred), float(got["pair_f1"]))
    assert _close(M.expected_calibration_error(probs, gold_index), float(got["ece"]))
    for stance_name in STANCES:
        assert _close(_nan(stance["per_class"][stance_name]["f1"]), float(got[f"stance_f1:{stance_name}"]))
    for target in TARGETS:
        assert _close(_nan(targets["per_target"][target]["f1"]), float(got[f"target_f1:{target}"]))


def test_bootstrap_weights_resample_documents_with_replacement():
    w = M.bootstrap_weights(4, 200, seed=7)
    assert w.shape == (200, 4)
    assert (w.sum(axis=1) == 4).all()
    assert (w == 0).any()  # some documents left out of some resamples
    assert np.array_equal(w, M.bootstrap_weights(4, 200, seed=7))
    assert not np.array_equal(w, M.bootstrap_weights(4, 200, seed=8))


def test_weighted_stats_equal_the_resampled_documents_concatenated():
    rng = np.random.default_rng(5)
    gold, pred, probs = _random_case(rng, 30)
    doc_ids = [f"d{i % 4}" for i in range(30)]
    stats = M.sentence_stats(gold, pred, probs)
    docs, by_doc = M.document_stats(stats, doc_ids)
    assert docs == ["d0", "d1", "d2", "d3"]
    draw = ["d2", "d2", "d0", "d3"]  # one resample, by hand
    weights = np.array([[draw.count(d) for d in docs]], dtype=float)
    rows = [i for d in draw for i in range(30) if doc_ids[i] == d]
    direct = M.stance_scores([gold[i][0] for i in rows], [pred[i][0] for i in rows])
    via = M.metrics_from_stats(weights @ by_doc)
    assert via["stance_macro_f1"][0] == pytest.approx(direct["macro_f1"])
    assert via["stance_accuracy"][0] == pytest.approx(direct["accuracy"])


def test_bootstrap_intervals():
    rng = np.random.default_rng(1)
    gold, pred, probs = _random_case(rng, 60)
    doc_ids = [f"d{i % 6}" for i in range(60)]
    _, by_doc = M.document_stats(M.sentence_stats(gold, pred, probs), doc_ids)
    out = M.bootstrap_intervals(by_doc, M.bootstrap_weights(6, 1000, seed=0))
    for name in M.HEADLINE:
        entry = out[name]
        assert entry["ci_low"] <= entry["ci_high"]
        assert entry["ci_low"] - 1e-9 <= entry["value"] <= entry["ci_high"] + 1e-9 or name == "ece"
    single = M.bootstrap_intervals(by_doc[:1], M.bootstrap_weights(1, 50, seed=0))
    assert single["stance_accuracy"]["ci_low"] == pytest.approx(single["stance_accuracy"]["value"])
    none = M.bootstrap_intervals(by_doc, M.bootstrap_weights(6, 0))
    assert none["stance_accuracy"]["ci_low"] is None and none["stance_accuracy"]["value"] is not None


def test_paired_bootstrap():
    rng = np.random.default_rng(2)
    gold, pred, probs = _random_case(rng, 50)
    doc_ids = [f"d{i % 5}" for i in range(50)]
    _, good = M.document_stats(M.sentence_stats(gold, gold, probs), doc_ids)  # perfect
    _, bad = M.document_stats(M.sentence_stats(gold, pred, probs), doc_ids)
    weights = M.bootstrap_weights(5, 500, seed=0)
    same = M.paired_bootstrap(good, good, weights, "stance_macro_f1")
    assert same["observed_diff"] == 0 and same["mean_diff"] == 0 and same["share_at_least_as_good"] == 1.0
    worse = M.paired_bootstrap(good, bad, weights, "stance_macro_f1")
    assert worse["observed_diff"] < 0 and worse["ci_high"] < 0 and worse["share_at_least_as_good"] == 0.0
    assert worse["n_resamples"] == 500
    point = (
        M.metrics_from_stats(bad.sum(0))["stance_macro_f1"]
        - M.metrics_from_stats(good.sum(0))["stance_macro_f1"]
    )
    assert worse["observed_diff"] == pytest.approx(float(point))


def test_paired_bootstrap_lower_ece_is_better():
    weights = np.ones((3, 1))
    low = np.zeros((1, M.N_STATS))
    high = np.zeros((1, M.N_STATS))
    for stats, conf in ((low, 0.5), (high, 0.9)):
        stats[0, M._COUNT] = 1
        stats[0, M._BIN_N.start + 4] = 1
        stats[0, M._BIN_CONF.start + 4] = conf
        stats[0, M._BIN_OK.start + 4] = 0.5
    assert M.paired_bootstrap(high, low, weights, "ece")["share_at_least_as_good"] == 1.0
    assert M.paired_bootstrap(low, high, weights, "ece")["share_at_least_as_good"] == 0.0


# ---------------------------------------------------------------------------------------------
# per document and worst errors


def test_per_document_and_worst_errors():
    records = [
        {"id": "a:1", "doc_id": "a", "text": "One.", "stance": "blame", "targets": ["managers"]},
        {"id": "a:2", "doc_id": "a", "text": "Two.", "stance": "neutral", "targets": []},
        {"id": "b:1", "doc_id": "b", "text": "Three.", "stance": "defend", "targets": []},
        {"id": "b:2", "doc_id": "b", "text": "Four.", "stance": "blame", "targets": []},
    ]
    pred = [("blame", ["managers"]), ("blame", []), ("neutral", []), ("blame", [])]
    probs = np.array([[0.9, 0.05, 0.05], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2]])
    gold = [(r["stance"], r["targets"]) for r in records]
    rows = M.per_document([r["doc_id"] for r in records], M.sentence_stats(gold, pred, probs))
    assert [r["doc_id"] for r in rows] == ["a", "b"]
    assert rows[0]["n"] == 2 and rows[0]["stance_accuracy"] == 0.5 and rows[0]["target_micro_f1"] == 1.0
    assert rows[1]["stance_accuracy"] == 0.5 and rows[1]["target_micro_f1"] is None
    worst = M.worst_errors(records, pred, probs, k=5)
    assert [w["id"] for w in worst] == ["b:1", "a:2"]  # 0.8 before 0.6
    assert worst[0]["text"] == "Three." and worst[0]["gold_stance"] == "defend"
    assert worst[0]["pred_stance"] == "neutral" and worst[0]["confidence"] == pytest.approx(0.8)
    assert worst[0]["gold_prob"] == pytest.approx(0.1)
    assert len(M.worst_errors(records, pred, probs, k=1)) == 1


def test_score_backend_shapes():
    rng = np.random.default_rng(3)
    gold, pred, probs = _random_case(rng, 20)
    records = [
        {"id": f"d{i % 3}:{i}", "doc_id": f"d{i % 3}", "text": f"s{i}", "stance": s, "targets": t}
        for i, (s, t) in enumerate(gold)
    ]
    out = M.score_backend(records, pred, probs, M.bootstrap_weights(3, 100, seed=0))
    assert set(out["headline"]) == set(M.HEADLINE)
    assert out["headline"]["pair_f1"]["value"] == pytest.approx(M.pair_f1(gold, pred))
    assert out["headline"]["ece"]["value"] == pytest.approx(out["calibration"]["ece"])
    assert out["_doc_stats"].shape == (3, M.N_STATS)
    assert len(out["calibration"]["bins"]) == 10
