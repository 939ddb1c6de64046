"""Prediction-powered estimates of shares from a labelled random sample of the user's corpus.

PPI (Angelopoulos et al., Science 2023) combines the model's labels on every sentence with
human labels on a random sample: the mean of the predictions over the whole corpus, plus the
mean error of the predictions measured on the labelled sample,

    total_hat = sum over all units of predicted counts
                + (units / labelled units) * sum over labelled units of (true - predicted counts)

which is unbiased for the corpus total whatever the model's errors are, because the sample is
random. We apply this standard PPI mean estimator (lambda = 1) to every count of the count
vector (sentences, per-stance counts, per stance-target counts) within each group, and divide:
a share is the ratio of two PPI totals (numerator and denominator indicators), so it is
consistent, with a small ratio bias when the labelled sample is tiny.

Units are documents (`pipeline sample --by doc`, the default: documents are labelled whole,
as annotators read them) or sentences. Within a group (a month, an author...) the scale is
that group's units over its labelled units, i.e. the estimator conditions on how many labelled
units fell into the group (post-stratification); a group with no labelled unit has no PPI
estimate. The labelled units are part of the corpus, so their predictions are in the first
term too, as in the difference estimator for simple random sampling.

Intervals: percentile bootstrap over documents, stratified: labelled documents are resampled
among themselves and the other documents among themselves, so each resample keeps the sample
size and both the spread of the corpus and the uncertainty of the small labelled sample enter
the interval. With few labelled documents the bootstrap spread is too small by a factor about
sqrt((n - 1) / n); the correction term's deviations are inflated by sqrt(n / (n - 1)), n the
labelled documents in the group.
"""

from __future__ import annotations

import numpy as np

from .bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, LEVEL, MIN_DOCS_FOR_CI, percentile_interval
from .counting import N_FEATURES, shares


def stratified_weights(labelled: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """How often each document is drawn per resample (resamples, n_docs): labelled documents
    drawn with replacement among themselves, the rest among themselves."""
    labelled = np.asarray(labelled, dtype=bool)
    rng = np.random.default_rng(seed)
    weights = np.zeros((resamples, len(labelled)))
    for stratum in (np.flatnonzero(labelled), np.flatnonzero(~labelled)):
        if len(stratum):
            weights[:, stratum] = rng.multinomial(len(stratum), np.full(len(stratum), 1.0 / len(stratum)),
                                                  size=resamples)
    return weights


def ppi_totals(
    predicted: np.ndarray,
    delta: np.ndarray,
    units: np.ndarray,
    labelled_units: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    inflate: float = 1.0,
) -> np.ndarray:
    """PPI estimate of the count totals of one group, (N_FEATURES,) or (resamples, N_FEATURES).

    Rows are (document, group) pieces: predicted (r, F) counts of every sentence, delta (r, F)
    true minus predicted counts of the labelled sentences, units (r,) and labelled_units (r,)
    the sampling units in the piece. weights (resamples, r) reweight the rows (bootstrap);
    inflate scales each resample's correction around the unweighted one. NaN when no unit of
    the group is labelled.
    """
    predicted = np.asarray(predicted, dtype=float)
    delta = np.asarray(delta, dtype=float)
    units = np.asarray(units, dtype=float)
    labelled_units = np.asarray(labelled_units, dtype=float)
    correction = _correction(delta, units, labelled_units, None)
    if weights is None:
        return predicted.sum(axis=0) + correction
    resampled = _correction(delta, units, labelled_units, weights)
    resampled = correction + inflate * (resampled - correction)
    return weights @ predicted + resampled


def _correction(delta, units, labelled_units, weights) -> np.ndarray:
    if weights is None:
        n_units, n_labelled, error = units.sum(), labelled_units.sum(), delta.sum(axis=0)
    else:
        n_units, n_labelled, error = weights @ units, weights @ labelled_units, weights @ delta
    n_units, n_labelled = np.asarray(n_units, dtype=float), np.asarray(n_labelled, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(n_labelled > 0, n_units / n_labelled, np.nan)
    return scale[..., None] * error if np.ndim(scale) else scale * error


def small_sample_inflation(n_labelled_docs: int) -> float:
    return float(np.sqrt(n_labelled_docs / (n_labelled_docs - 1))) if n_labelled_docs > 1 else 1.0


def ppi_shares(totals: np.ndarray) -> dict[str, np.ndarray]:
    """Shares of PPI totals, clipped to [0, 1]: an estimated count can fall below zero when the
    model over-predicts a rare label, and a share below 0% or above 100% means nothing."""
    return {name: np.clip(values, 0.0, 1.0) for name, values in shares(totals).items()}


def ppi_estimates(
    row_counts: np.ndarray,
    row_delta: np.ndarray,
    row_units: np.ndarray,
    row_labelled: np.ndarray,
    row_doc: np.ndarray,
    row_group: np.ndarray,
    n_groups: int,
    labelled_docs: np.ndarray,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    level: float = LEVEL,
    min_docs: int = MIN_DOCS_FOR_CI,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """PPI shares per group, their intervals and each group's number of labelled documents.

    Rows are (group, document) pieces as in bootstrap_intervals, plus row_delta (true minus
    predicted counts of the labelled sentences), row_units / row_labelled (sampling units).
    labelled_docs (n_docs,) marks documents with labelled sentences (the bootstrap strata).
    Returns point {name: (n_groups, ...)}, intervals {name: (2, n_groups, ...)} (NaN for groups
    with fewer than min_docs labelled documents) and labelled documents per group (n_groups,).
    """
    row_counts = np.asarray(row_counts, dtype=float)
    row_delta = np.asarray(row_delta, dtype=float)
    row_units = np.asarray(row_units, dtype=float)
    row_labelled = np.asarray(row_labelled, dtype=float)
    row_group = np.asarray(row_group, dtype=int)
    weights = stratified_weights(labelled_docs, resamples, seed)
    order = np.argsort(row_group, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(row_group, minlength=n_groups))])
    point_totals = np.full((n_groups, N_FEATURES), np.nan)
    intervals = {name: np.full((2, n_groups, *values.shape), np.nan)
                 for name, values in shares(np.zeros(N_FEATURES)).items()}
    n_labelled_docs = np.zeros(n_groups, dtype=int)
    for g in range(n_groups):
        rows = order[bounds[g] : bounds[g + 1]]
        n_labelled_docs[g] = int(np.count_nonzero(row_labelled[rows] > 0))
        if n_labelled_docs[g] == 0:
            continue
        args = (row_counts[rows], row_delta[rows], row_units[rows], row_labelled[rows])
        point_totals[g] = ppi_totals(*args)
        if n_labelled_docs[g] >= max(min_docs, 2):
            inflate = small_sample_inflation(n_labelled_docs[g])
            resampled = ppi_totals(*args, weights[:, row_doc[rows]], inflate=inflate)
            for name, values in ppi_shares(resampled).items():
                intervals[name][:, g] = percentile_interval(values, level)
    return ppi_shares(point_totals), intervals, n_labelled_docs
