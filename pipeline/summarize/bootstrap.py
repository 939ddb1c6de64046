"""Cluster-bootstrap intervals of raw and adjusted shares: whole documents are resampled.

Sentences of one document are not independent, so resampling sentences would give intervals
that are too narrow. Vectorised: each resample is a vector of document weights, and a group's
resampled totals are one matrix product.
"""

from __future__ import annotations

import warnings

import numpy as np

from .adjust import Confusion, estimates
from .counting import N_FEATURES

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
LEVEL = 0.95
# A cluster bootstrap over fewer documents than this mostly reshuffles the same few documents
# (with two, the "interval" is just the range between them): no interval is given.
MIN_DOCS_FOR_CI = 5


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """(2, ...) percentile interval over the first axis, ignoring NaN resamples."""
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no interval
        return np.nanpercentile(values, q, axis=0)


def resample_weights(n_docs: int, resamples: int, seed: int) -> np.ndarray:
    """How often each document is drawn in each resample, shape (resamples, n_docs).

    Drawing n_docs documents with replacement is a multinomial draw of the counts.
    """
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_docs, np.full(n_docs, 1.0 / n_docs), size=resamples)


def bootstrap_intervals(
    row_counts: np.ndarray,
    row_doc: np.ndarray,
    row_group: np.ndarray,
    n_docs: int,
    n_groups: int,
    confusion: Confusion | None = None,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = LEVEL,
    min_docs: int = MIN_DOCS_FOR_CI,
) -> dict[str, np.ndarray]:
    """Percentile intervals of every estimate, by cluster bootstrap over documents.

    row_counts (R, N_FEATURES) are the counts of one group within one document; row_doc and
    row_group give that document and group. All groups share the same resampled documents.
    Returns {name: array (2, n_groups, ...)} of (low, high). A group drawn from fewer than
    min_docs documents gets NaN: resampling a handful of documents says little about uncertainty.
    """
    row_counts = np.asarray(row_counts, dtype=float)
    row_doc = np.asarray(row_doc, dtype=int)
    row_group = np.asarray(row_group, dtype=int)
    weights = resample_weights(n_docs, resamples, seed).astype(float)
    docs_per_group = np.bincount(row_group, minlength=n_groups)
    order = np.argsort(row_group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(docs_per_group)])
    q = [100 * (1 - level) / 2, 100 * (1 + level) / 2]
    result: dict[str, np.ndarray] = {}
    block = 64
    for first in range(0, n_groups, block):
        last = min(first + block, n_groups)
        totals = np.zeros((resamples, last - first, N_FEATURES))
        for g in range(first, last):
            rows = order[bounds[g] : bounds[g + 1]]
            if len(rows) >= max(min_docs, 2):
                totals[:, g - first] = weights[:, row_doc[rows]] @ row_counts[rows]
            else:
                totals[:, g - first] = np.nan
        stats = estimates(totals, confusion)
        for name, values in stats.items():
            if name.endswith("_out"):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no interval
                interval = np.nanpercentile(values, q, axis=0)
            result.setdefault(name, []).append(interval)
    return {name: np.concatenate(parts, axis=1) for name, parts in result.items()}


def widen_collapsed(values: np.ndarray, ci: np.ndarray, denominators: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Intervals that collapsed onto 0% or 100% get an exact binomial far bound.

    When no sentence (or every sentence) of a group has a label, every bootstrap resample
    agrees and the percentile interval is 0.0-0.0: that reads as certainty, but it only says
    none of `denominators` sentences had it. Clopper-Pearson for 0 of n gives the upper bound
    1 - (alpha/2)^(1/n) (and symmetrically for n of n); other intervals are returned as they are.
    values (...), ci (2, ...), denominators (...) sentence counts behind each share.
    """
    ci = np.array(ci, dtype=float, copy=True)
    values = np.asarray(values, dtype=float)
    n = np.asarray(denominators, dtype=float)
    collapsed = np.isfinite(values) & np.isfinite(ci[0]) & (ci[1] - ci[0] <= 1e-12) & (n >= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.power((1 - level) / 2, 1 / np.where(n >= 1, n, 1))
    at_zero = collapsed & (values <= 1e-12)
    at_one = collapsed & (values >= 1 - 1e-12)
    ci[1] = np.where(at_zero, 1 - bound, ci[1])
    ci[0] = np.where(at_one, bound, ci[0])
    return ci
