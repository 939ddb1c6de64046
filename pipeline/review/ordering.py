"""Model scores, model predictions, and the orders in which records can be reviewed.

A record may carry a model's view of it:

* ``scores``: ``{"stance": {label: p}, "targets": {target: p}}`` (probabilities);
* ``predicted_stance`` / ``predicted_targets``: the model's decision, when the file keeps it
  apart from the label. Without them the decision is read off the scores: the most probable
  stance and every target above 0.5 (none for neutral), as the classifiers decide.

Orders (each a list of record indices covering every record once):

* ``file``      — the order of the file;
* ``uncertain`` — smallest margin between the two most probable stances first;
* ``disagree``  — records where model and label disagree first, strongest disagreement first;
* ``errors``    — likely label errors first, found by confident learning (cleanlab when it is
  installed, otherwise the same rule implemented here).

Records without scores (or without a label, where one is needed) follow in file order.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from ..records import NEUTRAL, STANCES, TARGETS, Record

ORDERS: tuple[str, ...] = ("file", "uncertain", "disagree", "errors")
TARGET_CUT = 0.5


def _probability(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def scores_problem(record: Record) -> str | None:
    """What is wrong with a record's `scores` field, or None (also when it has none)."""
    scores = record.get("scores")
    if scores is None:
        return None
    if not isinstance(scores, dict):
        return "scores must be an object with 'stance' and 'targets'"
    for part, labels in (("stance", STANCES), ("targets", TARGETS)):
        values = scores.get(part)
        if values is None:
            continue
        if not isinstance(values, dict):
            return f"scores.{part} must be an object of label: probability"
        for label, value in values.items():
            if label not in labels:
                return f"scores.{part} has unknown label {label!r}"
            p = _probability(value)
            if p is None or not 0.0 <= p <= 1.0:
                return f"scores.{part}.{label} is not a probability"
    return None


def check_scores(records: Sequence[Record], lines: Sequence[int], path) -> None:
    for record, line in zip(records, lines, strict=True):
        problem = scores_problem(record)
        if problem:
            raise InputError(path, problem, line)


def stance_scores(record: Record) -> list[float] | None:
    """Probabilities in STANCES order, or None when the record has no stance scores."""
    scores = record.get("scores")
    if not isinstance(scores, dict) or not isinstance(scores.get("stance"), dict) or not scores["stance"]:
        return None
    values = scores["stance"]
    return [_probability(values.get(label, 0.0)) or 0.0 for label in STANCES]


def target_scores(record: Record) -> list[float] | None:
    scores = record.get("scores")
    if not isinstance(scores, dict) or not isinstance(scores.get("targets"), dict) or not scores["targets"]:
        return None
    values = scores["targets"]
    return [_probability(values.get(target, 0.0)) or 0.0 for target in TARGETS]


def has_model(record: Record) -> bool:
    return "predicted_stance" in record or stance_scores(record) is not None


def model_prediction(record: Record) -> tuple[str, list[str]] | None:
    """The model's stance and targets for a record, or None when it has no model output."""
    if "predicted_stance" in record:
        targets = record.get("predicted_targets") or []
        return record["predicted_stance"], list(targets) if isinstance(targets, list) else []
    stances = stance_scores(record)
    if stances is None:
        return None
    stance = STANCES[int(np.argmax(stances))]
    if "predicted_targets" in record and isinstance(record["predicted_targets"], list):
        return stance, list(record["predicted_targets"])
    probs = target_scores(record) or [0.0] * len(TARGETS)
    targets = [] if stance == NEUTRAL else [t for t, p in zip(TARGETS, probs, strict=True) if p > TARGET_CUT]
    return stance, targets


def disagrees(record: Record) -> bool | None:
    """Whether model and label differ (stance, or the set of targets); None if either is missing."""
    prediction = model_prediction(record)
    if prediction is None or "stance" not in record:
        return None
    stance, targets = prediction
    return stance != record["stance"] or set(targets) != set(record.get("targets") or [])


def stance_margin(record: Record) -> float | None:
    probs = stance_scores(record)
    if probs is None:
        return None
    top = sorted(probs, reverse=True)
    return top[0] - top[1]


# ---------------------------------------------------------------------------------------------
# confident learning


def confident_learning(labels: Sequence[int], probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The confident-learning rule, without cleanlab.

    Per-class threshold t_j = mean probability of class j over the examples labelled j. An
    example labelled y is a likely error when p_y < t_y while some other class k has
    p_k >= t_k. Returns (flags, margins) with margin = p_y - max_{k != y} p_k (lower = worse).
    """
    labels = np.asarray(labels, dtype=int)
    probs = np.asarray(probs, dtype=float)
    n, k = probs.shape
    thresholds = np.full(k, np.inf)
    for j in range(k):
        members = labels == j
        if members.any():
            thresholds[j] = probs[members, j].mean()
    given = probs[np.arange(n), labels]
    others = probs.copy()
    others[np.arange(n), labels] = -np.inf
    above = (probs >= thresholds - 1e-9) & np.isfinite(others)  # tolerance: equal scores count
    flags = (given < thresholds[labels]) & above.any(axis=1)
    margins = given - others.max(axis=1)
    return flags, margins


def _cleanlab_flags(labels: Sequence[int], probs: np.ndarray) -> np.ndarray | None:
    """cleanlab's find_label_issues, or None when cleanlab is missing or declines the data."""
    try:
        from cleanlab.filter import find_label_issues
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(find_label_issues(np.asarray(labels), probs, n_jobs=1), dtype=bool)
    except Exception:  # cleanlab refuses tiny or one-class data sets; fall back to our rule
        return None


def label_issues(records: Sequence[Record], use_cleanlab: bool = True) -> dict[int, float]:
    """Likely label errors: {record index: margin} (lower margin = more likely wrong).

    Stance is one multi-class problem; each target of non-neutral records is a two-class
    problem (absent/present). A record is flagged if any of them flags it; its margin is
    the lowest of the flagged parts.
    """
    flagged: dict[int, float] = {}

    def run(indices: list[int], labels: list[int], probs: np.ndarray) -> None:
        if len(indices) < 2:
            return
        own_flags, margins = confident_learning(labels, probs)
        flags = _cleanlab_flags(labels, probs) if use_cleanlab else None
        if flags is None:
            flags = own_flags
        for position in np.flatnonzero(flags):
            index = indices[int(position)]
            flagged[index] = min(flagged.get(index, math.inf), float(margins[position]))

    indices, labels, rows = [], [], []
    for i, record in enumerate(records):
        probs = stance_scores(record)
        if probs is not None and record.get("stance") in STANCES:
            indices.append(i)
            labels.append(STANCES.index(record["stance"]))
            rows.append(np.asarray(probs) / max(sum(probs), 1e-12))
    if rows:
        run(indices, labels, np.vstack(rows))

    for t, target in enumerate(TARGETS):
        indices, labels, rows = [], [], []
        for i, record in enumerate(records):
            probs = target_scores(record)
            if probs is None or record.get("stance") not in STANCES or record["stance"] == NEUTRAL:
                continue
            if not isinstance(record.get("targets", []), list):
                continue
            indices.append(i)
            labels.append(1 if target in record.get("targets", []) else 0)
            rows.append([1.0 - probs[t], probs[t]])
        if rows and len(set(labels)) > 1:
            run(indices, labels, np.asarray(rows))
    return flagged


def self_confidence(record: Record) -> float | None:
    probs = stance_scores(record)
    if probs is None or record.get("stance") not in STANCES:
        return None
    return probs[STANCES.index(record["stance"])]


# ---------------------------------------------------------------------------------------------
# orders


def review_order(
    records: Sequence[Record],
    order: str,
    use_cleanlab: bool = True,
    issues: dict[int, float] | None = None,
) -> tuple[list[int], str]:
    """(record indices in review order, a note for the reviewer, empty when nothing to say).

    `issues` may pass in label_issues(records) when the caller has it already."""
    if order not in ORDERS:
        raise ValueError(order)
    everything = list(range(len(records)))
    if order == "file":
        return everything, ""
    if not any(has_model(record) for record in records):
        return everything, "no model scores in this file: using file order"
    keyed: list[tuple[tuple, int]] = []
    rest: list[int] = []
    if order == "uncertain":
        for i, record in enumerate(records):
            margin = stance_margin(record)
            if margin is None:
                rest.append(i)
            else:
                keyed.append(((margin,), i))
        note = "most uncertain first"
    elif order == "disagree":
        for i, record in enumerate(records):
            differs = disagrees(record)
            if differs is None:
                rest.append(i)
                continue
            strength = 0.0
            probs = stance_scores(record)
            prediction = model_prediction(record)
            if probs is not None and prediction is not None and record["stance"] in STANCES:
                strength = probs[STANCES.index(prediction[0])] - probs[STANCES.index(record["stance"])]
            keyed.append(((0 if differs else 1, -strength), i))
        note = f"{sum(1 for key, _ in keyed if key[0] == 0)} disagreement(s) first"
    else:
        if issues is None:
            issues = label_issues(records, use_cleanlab=use_cleanlab)
        for i, record in enumerate(records):
            if i in issues:
                keyed.append(((0, issues[i]), i))
            else:
                confidence = self_confidence(record)
                if confidence is None:
                    rest.append(i)
                else:
                    keyed.append(((1, confidence), i))
        note = f"{len(issues)} likely label error(s) first"
    keyed.sort()  # ties keep file order through the index
    return [i for _, i in keyed] + rest, note
