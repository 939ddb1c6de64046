"""Evaluation metrics: pure functions, no I/O.

Labels follow ``records.STANCES`` and ``records.TARGETS``. A label is a pair
``(stance, targets)``; target metrics are computed over *all* gold sentences (a neutral gold
sentence has no targets, and neither has a neutral prediction).

Conventions
-----------
* A precision, recall or F1 whose denominator is zero is undefined and returned as ``None``
  (``nan`` inside arrays). An F1 is undefined only when a label occurs neither in the gold nor
  in the predictions (tp + fp + fn = 0); macro averages skip undefined labels. This is
  scikit-learn's ``f1_score(..., zero_division=np.nan)``.
* Calibration uses the most probable stance: 10 equal-width bins ``(0, .1], (.1, .2], ...``
  on its probability; ECE = sum over bins of (bin size / n) * |accuracy - mean confidence|.
* Uncertainty comes from a cluster bootstrap: documents (not sentences) are resampled with
  replacement. Every metric here is a function of counts that add up over sentences, so each
  document is summarised once as a vector of counts ("stats") and a resample is a weighted
  sum of those vectors. That makes 1000 resamples cheap and lets a paired comparison use the
  very same resampled documents for two backends.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..records import STANCES, TARGETS

Label = tuple[str, Sequence[str]]

N_BINS = 10
DEFAULT_RESAMPLES = 1000
HEADLINE = (
    "stance_macro_f1",
    "stance_accuracy",
    "target_micro_f1",
    "target_macro_f1",
    "exact_match",
    "pair_f1",
    "ece",
)


def _value(x: float) -> float | None:
    """A float for JSON: None for undefined (nan)."""
    x = float(x)
    return None if np.isnan(x) else x


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def _f1(tp, fp, fn):
    """F1 = 2tp / (2tp + fp + fn), nan where undefined; works on scalars and arrays."""
    tp, fp, fn = (np.asarray(v, dtype=float) for v in (tp, fp, fn))
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)


def _nanmean(values: np.ndarray, axis: int = -1) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    count = (~np.isnan(values)).sum(axis=axis)
    total = np.nansum(values, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


# ---------------------------------------------------------------------------------------------
# stance


def confusion_matrix(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] = STANCES) -> np.ndarray:
    """Counts with gold labels as rows and predicted labels as columns."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, pred, strict=True):
        matrix[index[g], index[p]] += 1
    return matrix


def _prf_from_counts(tp: float, fp: float, fn: float) -> dict[str, float | None]:
    return {
        "precision": _value(_ratio(tp, tp + fp)),
        "recall": _value(_ratio(tp, tp + fn)),
        "f1": _value(_f1(tp, fp, fn)),
        "support": int(tp + fn),
    }


def stance_scores(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support for the stance."""
    matrix = confusion_matrix(gold, pred)
    n = int(matrix.sum())
    per_class = {}
    f1s = []
    for i, stance in enumerate(STANCES):
        tp = matrix[i, i]
        fp = matrix[:, i].sum() - tp
        fn = matrix[i, :].sum() - tp
        per_class[stance] = _prf_from_counts(tp, fp, fn)
        f1s.append(_f1(tp, fp, fn))
    return {
        "n": n,
        "accuracy": _value(_ratio(np.trace(matrix), n)),
        "macro_f1": _value(_nanmean(np.array(f1s))),
        "per_class": per_class,
        "confusion": matrix.tolist(),
    }


# ---------------------------------------------------------------------------------------------
# targets


def target_matrix(target_sets: Iterable[Iterable[str]]) -> np.ndarray:
    rows = [[1 if t in set(targets) else 0 for t in TARGETS] for targets in target_sets]
    return np.array(rows, dtype=int).reshape(len(rows), len(TARGETS))


def target_scores(gold: Sequence[Iterable[str]], pred: Sequence[Iterable[str]]) -> dict[str, Any]:
    """Per-target P/R/F1, micro and macro F1, and exact match of the target set."""
    y = target_matrix(gold)
    p = target_matrix(pred)
    if len(y) != len(p):
        raise ValueError("gold and predictions differ in length")
    tp = (y & p).sum(axis=0)
    fp = ((1 - y) & p).sum(axis=0)
    fn = (y & (1 - p)).sum(axis=0)
    per_target = {t: _prf_from_counts(tp[j], fp[j], fn[j]) for j, t in enumerate(TARGETS)}
    for j, t in enumerate(TARGETS):
        per_target[t]["predicted"] = int(tp[j] + fp[j])
    TP, FP, FN = tp.sum(), fp.sum(), fn.sum()
    return {
        "n": len(y),
        "per_target": per_target,
        "micro_precision": _value(_ratio(TP, TP + FP)),
        "micro_recall": _value(_ratio(TP, TP + FN)),
        "micro_f1": _value(_f1(TP, FP, FN)),
        "macro_f1": _value(_nanmean(_f1(tp, fp, fn))),
        "exact_match": _value(_ratio((y == p).all(axis=1).sum(), len(y))),
    }


def label_pairs(label: Label) -> set[tuple[str, str]]:
    stance, targets = label
    return {(stance, t) for t in targets}


def pair_f1(gold: Sequence[Label], pred: Sequence[Label]) -> float | None:
    """Micro F1 over (stance, target) pairs; each sentence contributes {(stance, t) for t in targets}."""
    tp = fp = fn = 0
    for g, p in zip(gold, pred, strict=True):
        gp, pp = label_pairs(g), label_pairs(p)
        tp += len(gp & pp)
        fp += len(pp - gp)
        fn += len(gp - pp)
    return _value(_f1(tp, fp, fn))


# ---------------------------------------------------------------------------------------------
# calibration


def _bin_of(confidence: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Bin index for (lo, hi] bins; a confidence of exactly 0 goes to the first bin."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.clip(np.searchsorted(edges[1:-1], confidence, side="left"), 0, n_bins - 1)


def reliability_bins(stance_probs: np.ndarray, gold_index: Sequence[int], n_bins: int = N_BINS) -> list[dict]:
    """Reliability-diagram data: per bin its range, size, mean confidence and accuracy."""
    probs = np.asarray(stance_probs, dtype=float).reshape(-1, len(STANCES))
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(gold_index, dtype=int)).astype(float)
    bins = _bin_of(confidence, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    out = []
    for b in range(n_bins):
        mask = bins == b
        count = int(mask.sum())
        out.append(
            {
                "lo": float(edges[b]),
                "hi": float(edges[b + 1]),
                "count": count,
                "confidence": float(confidence[mask].mean()) if count else None,
                "accuracy": float(correct[mask].mean()) if count else None,
            }
        )
    return out


def expected_calibration_error(
    stance_probs: np.ndarray, gold_index: Sequence[int], n_bins: int = N_BINS
) -> float | None:
    bins = reliability_bins(stance_probs, gold_index, n_bins)
    n = sum(b["count"] for b in bins)
    if not n:
        return None
    return float(sum(b["count"] / n * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))


# ---------------------------------------------------------------------------------------------
# additive statistics, for the bootstrap

_S = len(STANCES)
_T = len(TARGETS)
# layout of one stats vector
_CONF = slice(0, _S * _S)  # stance confusion, row-major (gold, pred)
_TP = slice(_CONF.stop, _CONF.stop + _T)
_FP = slice(_TP.stop, _TP.stop + _T)
_FN = slice(_FP.stop, _FP.stop + _T)
_EXACT = _FN.stop
_COUNT = _EXACT + 1
_PAIR = slice(_COUNT + 1, _COUNT + 4)  # tp, fp, fn
_BIN_N = slice(_PAIR.stop, _PAIR.stop + N_BINS)
_BIN_CONF = slice(_BIN_N.stop, _BIN_N.stop + N_BINS)
_BIN_OK = slice(_BIN_CONF.stop, _BIN_CONF.stop + N_BINS)
N_STATS = _BIN_OK.stop


def sentence_stats(
    gold: Sequence[Label], pred: Sequence[Label], stance_probs: np.ndarray | None = None
) -> np.ndarray:
    """One row of additive counts per sentence (see the layout above)."""
    n = len(gold)
    if len(pred) != n:
        raise ValueError("gold and predictions differ in length")
    stats = np.zeros((n, N_STATS))
    g_idx = np.array([STANCES.index(s) for s, _ in gold], dtype=int)
    p_idx = np.array([STANCES.index(s) for s, _ in pred], dtype=int)
    stats[np.arange(n), g_idx * _S + p_idx] = 1
    y = target_matrix([t for _, t in gold])
    p = target_matrix([t for _, t in pred])
    stats[:, _TP] = y & p
    stats[:, _FP] = (1 - y) & p
    stats[:, _FN] = y & (1 - p)
    stats[:, _EXACT] = (y == p).all(axis=1)
    stats[:, _COUNT] = 1
    same = (g_idx == p_idx)[:, None]
    pair_tp = ((y & p) * same).sum(axis=1)
    stats[:, _PAIR] = np.stack([pair_tp, p.sum(axis=1) - pair_tp, y.sum(axis=1) - pair_tp], axis=1)
    if stance_probs is not None and n:
        probs = np.asarray(stance_probs, dtype=float).reshape(n, _S)
        confidence = probs.max(axis=1)
        bins = _bin_of(confidence)
        rows = np.arange(n)
        stats[rows, _BIN_N.start + bins] = 1
        stats[rows, _BIN_CONF.start + bins] = confidence
        stats[rows, _BIN_OK.start + bins] = probs.argmax(axis=1) == g_idx
    else:
        stats[:, _BIN_N] = np.nan
    return stats


def document_stats(stats: np.ndarray, doc_ids: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Sum sentence stats per document; documents in sorted order."""
    docs = sorted(set(doc_ids))
    where = {d: i for i, d in enumerate(docs)}
    out = np.zeros((len(docs), stats.shape[1]))
    np.add.at(out, np.array([where[d] for d in doc_ids], dtype=int), stats)
    return docs, out


def metrics_from_stats(stats: np.ndarray) -> dict[str, np.ndarray]:
    """Every headline metric (and per-class / per-target F1) from summed stats.

    ``stats`` has shape (..., N_STATS); each result has the leading shape, nan if undefined.
    """
    s = np.asarray(stats, dtype=float)
    lead = s.shape[:-1]
    conf = s[..., _CONF].reshape(*lead, _S, _S)
    n = s[..., _COUNT]
    diag = np.diagonal(conf, axis1=-2, axis2=-1)
    stance_tp = diag
    stance_fp = conf.sum(axis=-2) - diag
    stance_fn = conf.sum(axis=-1) - diag
    stance_f1 = _f1(stance_tp, stance_fp, stance_fn)
    tp, fp, fn = s[..., _TP], s[..., _FP], s[..., _FN]
    target_f1 = _f1(tp, fp, fn)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(n > 0, diag.sum(axis=-1) / np.where(n > 0, n, 1), np.nan)
        exact = np.where(n > 0, s[..., _EXACT] / np.where(n > 0, n, 1), np.nan)
        bin_n = s[..., _BIN_N]
        ece = np.abs(s[..., _BIN_OK] - s[..., _BIN_CONF]).sum(axis=-1) / np.where(n > 0, n, 1)
        ece = np.where((n > 0) & ~np.isnan(bin_n).any(axis=-1), ece, np.nan)
    out = {
        "stance_macro_f1": _nanmean(stance_f1),
        "stance_accuracy": accuracy,
        "target_micro_f1": _f1(tp.sum(axis=-1), fp.sum(axis=-1), fn.sum(axis=-1)),
        "target_macro_f1": _nanmean(target_f1),
        "exact_match": exact,
        "pair_f1": _f1(s[..., _PAIR.start], s[..., _PAIR.start + 1], s[..., _PAIR.start + 2]),
        "ece": ece,
    }
    for i, stance in enumerate(STANCES):
        out[f"stance_f1:{stance}"] = stance_f1[..., i]
    for j, target in enumerate(TARGETS):
        out[f"target_f1:{target}"] = target_f1[..., j]
    return out


# ---------------------------------------------------------------------------------------------
# cluster bootstrap


def bootstrap_weights(n_docs: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(n_resamples, n_docs) counts: how often each document is drawn in each resample."""
    if n_docs == 0 or n_resamples <= 0:
        return np.zeros((max(n_resamples, 0), n_docs))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_docs, size=(n_resamples, n_docs))
    weights = np.zeros((n_resamples, n_docs))
    np.add.at(weights, (np.repeat(np.arange(n_resamples), n_docs), draws.ravel()), 1)
    return weights


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if not len(values):
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def bootstrap_intervals(doc_stats: np.ndarray, weights: np.ndarray) -> dict[str, dict[str, float | None]]:
    """Point estimate and 95% percentile interval for every metric of metrics_from_stats."""
    point = metrics_from_stats(doc_stats.sum(axis=0))
    resampled = metrics_from_stats(weights @ doc_stats) if len(weights) else None
    out = {}
    for name, value in point.items():
        low, high = _interval(resampled[name]) if resampled is not None else (None, None)
        out[name] = {"value": _value(value), "ci_low": low, "ci_high": high}
    return out


def paired_bootstrap(
    best_stats: np.ndarray, other_stats: np.ndarray, weights: np.ndarray, metric: str
) -> dict[str, float | None]:
    """Compare two backends on the same resampled documents (rows of both stats align).

    Returns the observed difference (other - best), the mean difference over resamples, its
    95% interval, and the share of resamples in which the other backend is at least as good.
    For ECE lower is better, so "at least as good" means a lower or equal ECE there.
    """
    observed = (
        metrics_from_stats(other_stats.sum(axis=0))[metric]
        - metrics_from_stats(best_stats.sum(axis=0))[metric]
    )
    if not len(weights):
        return {
            "observed_diff": _value(observed),
            "mean_diff": None,
            "ci_low": None,
            "ci_high": None,
            "share_at_least_as_good": None,
            "n_resamples": 0,
        }
    a = metrics_from_stats(weights @ best_stats)[metric]
    b = metrics_from_stats(weights @ other_stats)[metric]
    diff = b - a
    valid = ~np.isnan(diff)
    low, high = _interval(diff)
    sign = -1.0 if metric == "ece" else 1.0
    share = float((sign * diff[valid] >= -1e-12).mean()) if valid.any() else None
    return {
        "observed_diff": _value(observed),
        "mean_diff": float(diff[valid].mean()) if valid.any() else None,
        "ci_low": low,
        "ci_high": high,
        "share_at_least_as_good": share,
        "n_resamples": int(valid.sum()),
    }


# ---------------------------------------------------------------------------------------------
# per document and worst errors


def per_document(doc_ids: Sequence[str], stats: np.ndarray) -> list[dict[str, Any]]:
    docs, by_doc = document_stats(stats, doc_ids)
    scores = metrics_from_stats(by_doc)
    rows = []
    for i, doc in enumerate(docs):
        rows.append(
            {
                "doc_id": doc,
                "n": int(by_doc[i, _COUNT]),
                "stance_accuracy": _value(scores["stance_accuracy"][i]),
                "stance_macro_f1": _value(scores["stance_macro_f1"][i]),
                "target_micro_f1": _value(scores["target_micro_f1"][i]),
                "exact_match": _value(scores["exact_match"][i]),
            }
        )
    return rows


def worst_errors(
    records: Sequence[dict], pred: Sequence[Label], stance_probs: np.ndarray, k: int = 10
) -> list[dict[str, Any]]:
    """The k most confident wrong stance predictions, most confident first (ties by id)."""
    probs = np.asarray(stance_probs, dtype=float).reshape(len(records), _S)
    wrong = [i for i, (r, p) in enumerate(zip(records, pred, strict=True)) if r["stance"] != p[0]]
    wrong.sort(key=lambda i: (-probs[i].max(), str(records[i].get("id"))))
    out = []
    for i in wrong[:k]:
        r = records[i]
        out.append(
            {
                "id": r.get("id"),
                "doc_id": r.get("doc_id"),
                "text": r.get("text", ""),
                "gold_stance": r["stance"],
                "gold_targets": list(r.get("targets", [])),
                "pred_stance": pred[i][0],
                "pred_targets": list(pred[i][1]),
                "confidence": float(probs[i].max()),
                "gold_prob": float(probs[i][STANCES.index(r["stance"])]),
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# everything for one backend


def score_backend(
    records: Sequence[dict],
    pred: Sequence[Label],
    stance_probs: np.ndarray,
    weights: np.ndarray,
    *,
    doc_ids: Sequence[str] | None = None,
    n_worst: int = 10,
) -> dict[str, Any]:
    """All metrics for one set of predictions on gold records.

    ``weights`` comes from bootstrap_weights over the sorted document ids (the same matrix for
    every backend, so their intervals and paired comparisons use the same resamples).
    """
    gold = [(r["stance"], list(r.get("targets", []))) for r in records]
    doc_ids = list(doc_ids) if doc_ids is not None else [r["doc_id"] for r in records]
    gold_index = [STANCES.index(s) for s, _ in gold]
    stats = sentence_stats(gold, pred, stance_probs)
    _, by_doc = document_stats(stats, doc_ids)
    intervals = bootstrap_intervals(by_doc, weights)
    stance = stance_scores([g[0] for g in gold], [p[0] for p in pred])
    targets = target_scores([g[1] for g in gold], [p[1] for p in pred])
    for s in STANCES:
        stance["per_class"][s]["f1_ci"] = [
            intervals[f"stance_f1:{s}"]["ci_low"],
            intervals[f"stance_f1:{s}"]["ci_high"],
        ]
    for t in TARGETS:
        targets["per_target"][t]["f1_ci"] = [
            intervals[f"target_f1:{t}"]["ci_low"],
            intervals[f"target_f1:{t}"]["ci_high"],
        ]
    bins = reliability_bins(stance_probs, gold_index)
    return {
        "headline": {name: intervals[name] for name in HEADLINE},
        "stance": stance,
        "targets": targets,
        "pair_f1": pair_f1(gold, pred),
        "calibration": {"ece": expected_calibration_error(stance_probs, gold_index), "bins": bins},
        "per_document": per_document(doc_ids, stats),
        "worst_errors": worst_errors(records, pred, stance_probs, n_worst),
        "_doc_stats": by_doc,  # for paired comparisons; removed before writing JSON
    }
