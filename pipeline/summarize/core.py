"""`summarize`: prediction records (and optionally a labelled sample) to a `Summary`.

Counts and shares of blame and defence per target, overall and per group (document, post
versus comments, comment author, month), each estimated up to three ways:

* raw: the model's labels counted as they are, with cluster-bootstrap intervals;
* ppi: with `--gold`, a labelled random sample of this corpus corrects the counts
  (prediction-powered inference, ppi.py): unbiased whatever the model's errors here;
* adjusted: with `--model`, inverted cross-validated error rates (adjust.py): a sensitivity
  check only, as error rates measured on other documents need not hold on these.

The headline of a group is ppi when the group has labelled documents enough for an interval,
else raw (`Group.headline`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import PipelineError
from ..records import STANCES, TARGETS
from .adjust import Confusion, estimates, load_confusion
from .bootstrap import DEFAULT_RESAMPLES, DEFAULT_SEED, MIN_DOCS_FOR_CI, bootstrap_intervals, widen_collapsed
from .counting import N_FEATURES, N_STANCES, N_TARGETS, TARGETED, TARGETED_INDEX, count_vectors, split_counts
from .ppi import ppi_estimates
from .reading import UNDATED, GoldSample, Predictions, read_gold, read_predictions

BY_CHOICES: tuple[str, ...] = ("doc", "section", "author", "month")
OVERALL = "all"
ANY_TARGET = "(any)"


@dataclass
class Group:
    dimension: str  # "all" or one of BY_CHOICES
    key: str
    n_docs: int
    counts: np.ndarray  # (N_FEATURES,) raw counts
    est: dict[str, np.ndarray]  # raw (and adjusted) point estimates (see adjust.estimates)
    ci: dict[str, np.ndarray]  # name -> (2, ...) low/high
    ppi: dict[str, np.ndarray] = field(default_factory=dict)  # PPI point estimates (with --gold)
    ppi_ci: dict[str, np.ndarray] = field(default_factory=dict)
    n_labelled_docs: int = 0
    n_labelled: int = 0  # labelled sentences

    @property
    def n(self) -> int:
        return int(self.counts[0])

    def stance_count(self, stance: str) -> int:
        return int(self.counts[1 + STANCES.index(stance)])

    def target_count(self, stance: str, target: str) -> int:
        k = TARGETED.index(stance)
        return int(self.counts[1 + N_STANCES + k * N_TARGETS + TARGETS.index(target)])

    @property
    def headline(self) -> str:
        """"ppi" when a labelled sample gives this group an estimate with an interval, else "raw"."""
        if self.ppi and self.n_labelled_docs >= MIN_DOCS_FOR_CI:
            return "ppi"
        return "raw"


@dataclass
class Summary:
    predictions: Predictions
    by: list[str]
    groups: list[Group]
    confusion: Confusion | None
    adjustment_note: str
    resamples: int
    seed: int
    months: dict[str, np.ndarray]  # 'YYYY-MM' -> counts, for the timeline (all dated sentences)
    gold: GoldSample | None = None

    @property
    def adjusted(self) -> bool:
        return self.confusion is not None

    @property
    def overall(self) -> Group:
        return self.groups[0]

    def groups_of(self, dimension: str) -> list[Group]:
        return [g for g in self.groups if g.dimension == dimension]


def _group_order(dimension: str, groups: list[Group]) -> list[Group]:
    if dimension == "month":
        return sorted(groups, key=lambda g: (g.key == UNDATED, g.key))
    if dimension == "section":
        rank = {"post": 0, "comment": 1}
        return sorted(groups, key=lambda g: (rank.get(g.key, 2), g.key))
    return sorted(groups, key=lambda g: (-g.n, g.key))


def share_denominators(counts: np.ndarray) -> dict[str, np.ndarray]:
    """The number of sentences behind each share of a count vector (see counting.shares)."""
    n, stance_counts, target_counts = split_counts(counts)
    by_stance = np.broadcast_to(stance_counts[TARGETED_INDEX][:, None], target_counts.shape)
    return {"stance_share": np.full(N_STANCES, n), "of_stance": by_stance, "of_all": np.full(target_counts.shape, n)}


def _widen(est: dict[str, np.ndarray], ci: dict[str, np.ndarray], counts: np.ndarray) -> dict[str, np.ndarray]:
    out = dict(ci)
    for name, denominators in share_denominators(counts).items():
        out[name] = widen_collapsed(est[name], ci[name], denominators)
    return out


def _collapsed(ci: np.ndarray) -> np.ndarray:
    return np.isfinite(ci[0]) & (ci[1] - ci[0] <= 1e-12)


def _sum_rows(row_index: np.ndarray, n_rows: int, values: np.ndarray) -> np.ndarray:
    out = np.zeros((n_rows, *values.shape[1:]), dtype=values.dtype)
    np.add.at(out, row_index, values)
    return out


def summarize(
    path: str | Path,
    by: Iterable[str] = (),
    model_dir: str | Path | None = None,
    *,
    gold: str | Path | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Summary:
    by = list(dict.fromkeys(by))
    for dimension in by:
        if dimension not in BY_CHOICES:
            raise PipelineError(f"unknown grouping {dimension!r} (choose from: {', '.join(BY_CHOICES)})")
    if resamples < 1:
        raise PipelineError("the number of bootstrap resamples must be at least 1")
    if model_dir is not None:
        confusion, note = load_confusion(model_dir)
    else:
        confusion, note = None, (
            "No --model folder was given, so there is no adjustment by cross-validated error rates."
        )
    predictions = read_predictions(path)
    sample = read_gold(gold, predictions) if gold is not None else None
    per_sentence = count_vectors(predictions.stance, predictions.targets)

    # One row per (group, document): its summed counts.
    labels: list[tuple[str, str]] = []
    label_index: dict[tuple[str, str], int] = {}
    sentence_groups: list[np.ndarray] = []
    for dimension in [OVERALL, *by]:
        keys = [OVERALL] * len(predictions) if dimension == OVERALL else predictions.keys[dimension]
        ids = np.empty(len(keys), dtype=int)
        for i, key in enumerate(keys):
            label = (dimension, key)
            if label not in label_index:
                label_index[label] = len(labels)
                labels.append(label)
            ids[i] = label_index[label]
        sentence_groups.append(ids)
    n_docs = len(predictions.doc_ids)
    row_keys = np.concatenate([g * n_docs + predictions.doc for g in sentence_groups])
    unique_rows, inverse = np.unique(row_keys, return_inverse=True)
    inverse = inverse.ravel()
    row_counts = _sum_rows(inverse, len(unique_rows), np.concatenate([per_sentence] * len(sentence_groups)))
    row_group = unique_rows // n_docs
    row_doc = unique_rows % n_docs

    totals = np.zeros((len(labels), N_FEATURES), dtype=np.int64)
    np.add.at(totals, row_group, row_counts)
    point = estimates(totals, confusion)
    ci = bootstrap_intervals(
        row_counts, row_doc, row_group, n_docs, len(labels), confusion, resamples=resamples, seed=seed
    )
    docs_per_group = np.bincount(row_group, minlength=len(labels))
    groups = [
        Group(
            dimension,
            key,
            int(docs_per_group[g]),
            totals[g],
            {name: values[g] for name, values in point.items()},
            {name: values[:, g] for name, values in ci.items()},
        )
        for g, (dimension, key) in enumerate(labels)
    ]
    for group in groups:
        group.ci = _widen(group.est, group.ci, group.counts)
        if confusion is not None:  # an adjusted interval collapsed onto one value is no estimate either
            for name in ("stance_share", "of_stance", "of_all"):
                group.est[f"{name}_adj_out"] = group.est[f"{name}_adj_out"] | _collapsed(group.ci[f"{name}_adj"])
    if sample is not None:
        _add_ppi(groups, sample, per_sentence, inverse, len(sentence_groups), row_counts, row_doc, row_group,
                 resamples=resamples, seed=seed)
    ordered = [groups[0]]
    for dimension in by:
        ordered.extend(_group_order(dimension, [g for g in groups if g.dimension == dimension]))

    months: dict[str, np.ndarray] = {}
    for month, vector in zip(predictions.keys["month"], per_sentence, strict=True):
        if month != UNDATED:
            months[month] = months.get(month, 0) + vector
    months = dict(sorted(months.items()))
    return Summary(predictions, by, ordered, confusion, note, resamples, seed, months, sample)


def _add_ppi(groups, sample: GoldSample, per_sentence, inverse, n_dimensions, row_counts, row_doc, row_group,
             *, resamples: int, seed: int) -> None:
    """PPI estimates of every group from the labelled sample (see ppi.py)."""
    n, n_rows = len(per_sentence), len(row_counts)
    delta = np.zeros((n, N_FEATURES))
    delta[sample.index] = count_vectors(sample.stance, sample.targets) - per_sentence[sample.index]
    labelled = np.zeros(n)
    labelled[sample.index] = 1.0
    row_delta = _sum_rows(inverse, n_rows, np.concatenate([delta] * n_dimensions))
    row_labelled_sentences = _sum_rows(inverse, n_rows, np.concatenate([labelled] * n_dimensions))
    gold = np.zeros((n, N_FEATURES))
    gold[sample.index] = count_vectors(sample.stance, sample.targets)
    row_gold = _sum_rows(inverse, n_rows, np.concatenate([gold] * n_dimensions))
    if sample.unit == "doc":  # units are documents: each (group, document) piece is one unit
        row_units = np.ones(n_rows)
        row_labelled = sample.labelled_docs[row_doc].astype(float)
    else:
        row_units = row_counts[:, 0].astype(float)
        row_labelled = row_labelled_sentences
    point, ci, n_labelled_docs = ppi_estimates(
        row_counts, row_delta, row_units, row_labelled, row_doc, row_group, len(groups), sample.labelled_docs,
        resamples=resamples, seed=seed,
    )
    labelled_per_group = np.bincount(row_group, weights=row_labelled_sentences, minlength=len(groups))
    gold_per_group = np.zeros((len(groups), N_FEATURES))
    np.add.at(gold_per_group, row_group, row_gold)
    for g, group in enumerate(groups):
        group.ppi = {name: values[g] for name, values in point.items()}
        # collapsed onto 0% or 100%: bounded by what the labelled sentences alone can show
        group.ppi_ci = _widen(group.ppi, {name: values[:, g] for name, values in ci.items()}, gold_per_group[g])
        group.n_labelled_docs = int(n_labelled_docs[g])
        group.n_labelled = int(labelled_per_group[g])
