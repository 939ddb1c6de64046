"""Adjustment of raw shares by a model's cross-validated error rates: a sensitivity check.

"Adjusted classify and count" (Forman 2005/2008) inverts the confusion measured by
cross-validation on the training documents. Those error rates only hold on documents like the
training ones: on another outlet they can be far off, and the inversion then amplifies the
difference (an issue-15 trial gave 0.0% for councillors whose true share was 41%). So
adjusted figures are never the headline: they are shown beside the raw ones as a check, and an
estimate the inversion pushed outside 0-100% is reported as out of range, never as a certain
0% or 100%. A sample of the user's own corpus (`summarize --gold`, see ppi.py) is the remedy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ModelError
from ..records import STANCES, TARGETS
from .counting import N_STANCES, N_TARGETS, TARGETED_INDEX, shares

# An adjusted share this far outside [0, 1] before clipping is reported as out of range.
OUT_OF_RANGE_TOLERANCE = 1e-9


@dataclass
class Confusion:
    """Cross-validated error rates of the classifier that made the predictions.

    stance_rates: (3, 3) P(predicted | true), rows true, columns predicted, in STANCES order,
    or None when the stance matrix is unavailable. tpr / fpr: (5,) per target in TARGETS order,
    NaN where a target has no usable figures.
    """

    stance_rates: np.ndarray | None
    tpr: np.ndarray
    fpr: np.ndarray
    source: str = ""
    notes: list[str] = field(default_factory=list)
    model_hash: str | None = None  # the config's model_hash, to check the predictions came from it

    @property
    def usable_targets(self) -> np.ndarray:
        return np.isfinite(self.tpr) & np.isfinite(self.fpr) & (self.tpr - self.fpr > 0)


def project_to_simplex(values: np.ndarray) -> np.ndarray:
    """Euclidean projection of each row (last axis) onto the probability simplex; NaN rows stay NaN."""
    v = np.asarray(values, dtype=float)
    k = v.shape[-1]
    finite = np.all(np.isfinite(v), axis=-1)
    safe = np.where(finite[..., None], v, 0.0)
    u = -np.sort(-safe, axis=-1)
    css = np.cumsum(u, axis=-1) - 1.0
    ind = np.arange(1, k + 1)
    cond = u - css / ind > 0
    rho = k - 1 - np.argmax(cond[..., ::-1], axis=-1)
    theta = np.take_along_axis(css, rho[..., None], axis=-1) / (rho[..., None] + 1)
    out = np.maximum(safe - theta, 0.0)
    return np.where(finite[..., None], out, np.nan)


def solve_stance(observed: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """Unconstrained true stance shares from observed (predicted) shares (..., 3).

    With A = rates (rows true, columns predicted, rows summing to 1), the predicted shares are
    q = A^T p for true shares p; least squares (pseudo-inverse) solves for p.
    """
    return np.asarray(observed, dtype=float) @ np.linalg.pinv(np.asarray(rates, dtype=float))


def adjust_stance(observed: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """solve_stance projected onto the simplex, so the estimate is a valid distribution."""
    return project_to_simplex(solve_stance(observed, rates))


def solve_targets(observed: np.ndarray, tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    """(observed - fpr) / (tpr - fpr), unclipped; NaN when tpr <= fpr."""
    observed = np.asarray(observed, dtype=float)
    denominator = np.asarray(tpr, dtype=float) - np.asarray(fpr, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (observed - fpr) / np.where(denominator > 0, denominator, np.nan)


def adjust_targets(observed: np.ndarray, tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    """Adjusted prevalence (observed - fpr) / (tpr - fpr), clipped to [0, 1]; NaN when tpr <= fpr."""
    return np.clip(solve_targets(observed, tpr, fpr), 0.0, 1.0)


def _outside(values: np.ndarray) -> np.ndarray:
    return (values < -OUT_OF_RANGE_TOLERANCE) | (values > 1 + OUT_OF_RANGE_TOLERANCE)


def estimates(counts: np.ndarray, confusion: Confusion | None = None) -> dict[str, np.ndarray]:
    """Raw shares and, when confusion is given, adjusted ones (keys ending in _adj).

    Also "<name>_adj_out": True where the inversion left 0-100% before clipping (the error
    rates do not fit these counts), so the clipped value must not be read as an estimate.
    """
    out = shares(counts)
    if confusion is None:
        return out
    if confusion.stance_rates is not None:
        solved = solve_stance(out["stance_share"], confusion.stance_rates)
        stance_adj = project_to_simplex(solved)
        stance_out = _outside(solved)
    else:
        stance_adj = np.full_like(out["stance_share"], np.nan)
        stance_out = np.zeros(stance_adj.shape, dtype=bool)
    solved_targets = solve_targets(out["of_stance"], confusion.tpr, confusion.fpr)
    of_stance_adj = np.clip(solved_targets, 0.0, 1.0)
    targets_out = _outside(solved_targets)
    out["stance_share_adj"] = stance_adj
    out["of_stance_adj"] = of_stance_adj
    out["of_all_adj"] = of_stance_adj * stance_adj[..., TARGETED_INDEX][..., None]
    out["stance_share_adj_out"] = stance_out
    out["of_stance_adj_out"] = targets_out
    out["of_all_adj_out"] = targets_out | stance_out[..., TARGETED_INDEX][..., None]
    return out


def _as_rate(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ModelError(f"{where}: expected a rate between 0 and 1, found {value!r}")
    return float(value)


def confusion_from_config(config: dict[str, Any], source: str = "config.json") -> Confusion | None:
    """Read the "cv_confusion" entry of a model config; None when it has none."""
    entry = config.get("cv_confusion")
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ModelError(f"{source}: 'cv_confusion' must be an object")
    notes: list[str] = []
    stance_rates = None
    stance_entry = entry.get("stance")
    if stance_entry is None:
        notes.append("the model has no stance confusion matrix, so stance shares are not adjusted")
    else:
        labels = stance_entry.get("labels") if isinstance(stance_entry, dict) else None
        matrix = stance_entry.get("matrix") if isinstance(stance_entry, dict) else None
        if not isinstance(labels, list) or sorted(map(str, labels)) != sorted(STANCES):
            raise ModelError(f"{source}: cv_confusion.stance.labels must list {', '.join(STANCES)}")
        try:
            m = np.asarray(matrix, dtype=float)
        except (TypeError, ValueError):
            raise ModelError(f"{source}: cv_confusion.stance.matrix must be a 3x3 table of numbers") from None
        if m.shape != (N_STANCES, N_STANCES) or not np.all(np.isfinite(m)) or np.any(m < 0):
            raise ModelError(f"{source}: cv_confusion.stance.matrix must be a 3x3 table of counts >= 0")
        order = [labels.index(s) for s in STANCES]
        m = m[np.ix_(order, order)]
        row_sums = m.sum(axis=1)
        if np.any(row_sums <= 0):
            missing = [s for s, total in zip(STANCES, row_sums, strict=True) if total <= 0]
            notes.append(
                f"the stance confusion matrix has no cross-validation sentences that are truly "
                f"{', '.join(missing)}, so stance shares are not adjusted"
            )
        else:
            stance_rates = m / row_sums[:, None]
    tpr = np.full(N_TARGETS, np.nan)
    fpr = np.full(N_TARGETS, np.nan)
    targets_entry = entry.get("targets") or {}
    if not isinstance(targets_entry, dict):
        raise ModelError(f"{source}: cv_confusion.targets must be an object")
    for i, target in enumerate(TARGETS):
        figures = targets_entry.get(target)
        if figures is None:
            continue
        if not isinstance(figures, dict) or "tpr" not in figures or "fpr" not in figures:
            raise ModelError(f"{source}: cv_confusion.targets.{target} must have 'tpr' and 'fpr'")
        tpr[i] = _as_rate(figures["tpr"], f"{source}: cv_confusion.targets.{target}.tpr")
        fpr[i] = _as_rate(figures["fpr"], f"{source}: cv_confusion.targets.{target}.fpr")
    missing = [t for t, ok in zip(TARGETS, np.isfinite(tpr), strict=True) if not ok]
    if missing:
        notes.append(f"no cross-validated tpr/fpr for {', '.join(missing)}: not adjusted")
    weak = [t for t, a, b in zip(TARGETS, tpr, fpr, strict=True) if np.isfinite(a) and a - b <= 0]
    if weak:
        notes.append(
            f"tpr is not above fpr for {', '.join(weak)}: the classifier is no better than chance there, "
            "so no adjustment is possible"
        )
    model_hash = config.get("model_hash")
    model_hash = str(model_hash) if model_hash is not None else None
    return Confusion(stance_rates, tpr, fpr, source=source, notes=notes, model_hash=model_hash)


def load_confusion(model_dir: str | Path) -> tuple[Confusion | None, str]:
    """Confusion figures from DIR/config.json, and a sentence saying what was used (or why not)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise InputError(
            folder, "model folder does not exist" if not folder.exists() else "expected a model folder"
        )
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelError(f"{config_path}: no config.json in the model folder")
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{config_path}: not a valid JSON config ({exc})") from None
    if not isinstance(config, dict):
        raise ModelError(f"{config_path}: expected a JSON object")
    labels = config.get("labels")
    if labels is not None and (
        not isinstance(labels, dict)
        or labels.get("stances") != list(STANCES)
        or labels.get("targets") != list(TARGETS)
    ):
        # Its error rates are for other labels: adjusting our counts with them would be wrong.
        raise ModelError(f"{config_path}: model was trained with another label set; its error rates do not apply")
    confusion = confusion_from_config(config, str(config_path))
    if confusion is None:
        return None, (
            f"The model config {config_path} has no cross-validated confusion figures "
            "('cv_confusion'), so only raw figures are shown."
        )
    return confusion, f"Adjusted with the cross-validated confusion figures in {config_path}."
