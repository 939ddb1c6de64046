"""`pipeline summarize`: who got the blame, where and when, with honest uncertainty.

Turns prediction records into counts and shares of blame and defence per target, overall and
per group (document, post versus comments, comment author, month), with

* 95% cluster-bootstrap intervals that resample whole documents (sentences of one document are
  not independent, so resampling sentences would give intervals that are too narrow);
* estimates adjusted for the classifier's measured error ("adjusted classify and count",
  Forman 2005/2008) from the cross-validated confusion figures saved with the model.

The counting, share, bootstrap and adjustment functions are pure and work on numpy arrays;
`summarize` reads a prediction file into a `Summary`, `write_summary` writes summary.md,
summary.csv, the PNG plots and a self-contained summary.html.

Counting rules: boilerplate sentences are left out (and how many is reported). A sentence with
stance blame and targets [a, b] counts once for a and once for b. Targets are only counted
for blame and defend sentences (a neutral sentence has none by the guideline).
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, ModelError, PipelineError
from .records import (
    NEUTRAL,
    STANCES,
    TARGETS,
    atomic_write_bytes,
    atomic_write_text,
    check_output_path,
    read_jsonl,
)

BY_CHOICES: tuple[str, ...] = ("doc", "section", "author", "month")
OVERALL = "all"
UNDATED = "(undated)"
NO_AUTHOR = "(no author)"
ANY_TARGET = "(any)"
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
LEVEL = 0.95
# Groups shown in full in summary.md / summary.html (every group is always in summary.csv).
MAX_DETAILED_GROUPS = 20
MAX_HEATMAP_GROUPS = 20
MAX_OVERVIEW_ROWS = 100
# A cluster bootstrap over fewer documents than this mostly reshuffles the same few documents
# (with two, the "interval" is just the range between them): no interval is given.
MIN_DOCS_FOR_CI = 5

# Stances whose targets are counted, in STANCES order (blame, defend).
TARGETED: tuple[str, ...] = tuple(s for s in STANCES if s != NEUTRAL)
_N_ST = len(STANCES)
_N_TG = len(TARGETS)
_TARGETED_INDEX = np.array([STANCES.index(s) for s in TARGETED])
# Layout of one count vector: [sentences, per-stance counts..., per (targeted stance, target) counts...]
N_FEATURES = 1 + _N_ST + len(TARGETED) * _N_TG

OUTPUT_FILES = (
    "summary.md",
    "summary.csv",
    "summary.html",
    "blame_share.png",
    "blame_vs_defence.png",
    "timeline.png",
)


# ---------------------------------------------------------------------------------------------
# pure counting


def count_vectors(stance: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """One count vector per sentence, shape (n, N_FEATURES).

    stance: (n,) indices into STANCES; targets: (n, len(TARGETS)) 0/1.
    """
    stance = np.asarray(stance, dtype=int)
    targets = np.asarray(targets, dtype=int).reshape(len(stance), _N_TG)
    out = np.zeros((len(stance), N_FEATURES), dtype=np.int64)
    out[:, 0] = 1
    out[np.arange(len(stance)), 1 + stance] = 1
    for k, s in enumerate(_TARGETED_INDEX):
        chosen = stance == s
        start = 1 + _N_ST + k * _N_TG
        out[chosen, start : start + _N_TG] = targets[chosen]
    return out


def _split(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    counts = np.asarray(counts, dtype=float)
    n = counts[..., 0]
    stance_counts = counts[..., 1 : 1 + _N_ST]
    target_counts = counts[..., 1 + _N_ST :].reshape(*counts.shape[:-1], len(TARGETED), _N_TG)
    return n, stance_counts, target_counts


def shares(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Raw shares from count vectors (..., N_FEATURES); NaN where a denominator is zero.

    stance_share (..., 3): share of sentences with each stance;
    of_stance (..., 2, 5): share of blame (defend) sentences naming each target;
    of_all (..., 2, 5): share of all sentences that blame (defend) each target.
    """
    n, stance_counts, target_counts = _split(counts)
    with np.errstate(invalid="ignore", divide="ignore"):
        stance_share = stance_counts / n[..., None]
        of_stance = target_counts / stance_counts[..., _TARGETED_INDEX][..., None]
        of_all = target_counts / n[..., None, None]
    return {"stance_share": stance_share, "of_stance": of_stance, "of_all": of_all}


# ---------------------------------------------------------------------------------------------
# adjustment for classifier error ("adjusted classify and count")


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


def adjust_stance(observed: np.ndarray, rates: np.ndarray) -> np.ndarray:
    """True stance shares from observed (predicted) shares (..., 3).

    With A = rates (rows true, columns predicted, rows summing to 1), the predicted shares are
    q = A^T p for true shares p. Solve by least squares (pseudo-inverse), then clip to the
    simplex (projection), so the estimate is a valid distribution.
    """
    observed = np.asarray(observed, dtype=float)
    solved = observed @ np.linalg.pinv(np.asarray(rates, dtype=float))
    return project_to_simplex(solved)


def adjust_targets(observed: np.ndarray, tpr: np.ndarray, fpr: np.ndarray) -> np.ndarray:
    """Adjusted prevalence (observed - fpr) / (tpr - fpr), clipped to [0, 1]; NaN when tpr <= fpr."""
    observed = np.asarray(observed, dtype=float)
    tpr = np.asarray(tpr, dtype=float)
    fpr = np.asarray(fpr, dtype=float)
    denominator = tpr - fpr
    with np.errstate(invalid="ignore", divide="ignore"):
        adjusted = (observed - fpr) / np.where(denominator > 0, denominator, np.nan)
    return np.clip(adjusted, 0.0, 1.0)


def estimates(counts: np.ndarray, confusion: Confusion | None = None) -> dict[str, np.ndarray]:
    """Raw shares and, when confusion is given, adjusted ones (keys ending in _adj)."""
    out = shares(counts)
    if confusion is None:
        return out
    if confusion.stance_rates is not None:
        stance_adj = adjust_stance(out["stance_share"], confusion.stance_rates)
    else:
        stance_adj = np.full_like(out["stance_share"], np.nan)
    of_stance_adj = adjust_targets(out["of_stance"], confusion.tpr, confusion.fpr)
    out["stance_share_adj"] = stance_adj
    out["of_stance_adj"] = of_stance_adj
    out["of_all_adj"] = of_stance_adj * stance_adj[..., _TARGETED_INDEX][..., None]
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
        if m.shape != (_N_ST, _N_ST) or not np.all(np.isfinite(m)) or np.any(m < 0):
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
    tpr = np.full(_N_TG, np.nan)
    fpr = np.full(_N_TG, np.nan)
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


# ---------------------------------------------------------------------------------------------
# bootstrap


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
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no interval
                interval = np.nanpercentile(values, q, axis=0)
            result.setdefault(name, []).append(interval)
    return {name: np.concatenate(parts, axis=1) for name, parts in result.items()}


# ---------------------------------------------------------------------------------------------
# reading predictions

_MONTH_ONLY = re.compile(r"^(\d{4})-(\d{2})$")


def month_of(timestamp: Any) -> str | None:
    """'YYYY-MM' of an ISO timestamp ('2008-12-10T18:22', '2008-12-10', '2008-12').

    None when it does not parse (segmenting leaves dates it could not read as they were).
    """
    if not isinstance(timestamp, str):
        return None
    text = timestamp.strip()
    match = _MONTH_ONLY.match(text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        return f"{year:04d}-{month:02d}" if 1 <= month <= 12 else None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return f"{parsed.year:04d}-{parsed.month:02d}"


def section_of(record: dict[str, Any]) -> str:
    """'post' or 'comment': a title belongs to the post."""
    section = record.get("section") or "post"
    return "post" if section == "title" else str(section)


def author_of(record: dict[str, Any]) -> str:
    author = record.get("author")
    if not isinstance(author, str) or not author.strip():
        return NO_AUTHOR
    return " ".join(author.split())  # non-breaking and repeated spaces become one space


@dataclass
class Predictions:
    """Non-boilerplate prediction records, reduced to what counting needs."""

    source: str
    n_records: int
    n_boilerplate: int
    doc_ids: list[str]  # sorted; doc holds indices into this
    doc: np.ndarray  # (n,)
    stance: np.ndarray  # (n,) indices into STANCES
    targets: np.ndarray  # (n, len(TARGETS)) 0/1
    keys: dict[str, list[str]]  # dimension -> group key per sentence
    models: Counter
    n_predicted_fields: int = 0  # sentences whose labels came from predicted_stance / predicted_targets

    def __len__(self) -> int:
        return len(self.stance)


def label_fields(record: dict[str, Any]) -> tuple[str, str]:
    """The (stance, targets) field names holding the model's labels.

    `pipeline predict` on an input that already carries (human) labels keeps them and writes the
    model's as predicted_stance / predicted_targets: summarize counts the model's.
    """
    if "predicted_stance" in record:
        return "predicted_stance", "predicted_targets"
    return "stance", "targets"


def record_problems(record: dict[str, Any]) -> list[str]:
    problems = []
    stance_field, targets_field = label_fields(record)
    if stance_field not in record:
        problems.append("record has no 'stance' (summarize reads the output of `pipeline predict`)")
    elif record[stance_field] not in STANCES:
        problems.append(f"unknown {stance_field} {record[stance_field]!r} (allowed: {', '.join(STANCES)})")
    if not isinstance(record.get("doc_id"), str) or not record["doc_id"]:
        problems.append("missing or mistyped field 'doc_id'")
    targets = record.get(targets_field, [])
    if not isinstance(targets, list):
        problems.append(f"field {targets_field!r} must be a list")
    else:
        unknown = [t for t in targets if t not in TARGETS]
        if unknown:
            problems.append(f"unknown target {unknown[0]!r} (allowed: {', '.join(TARGETS)})")
    if record.get("boilerplate") not in (None, True, False):
        problems.append("field 'boilerplate' must be true or false")
    return problems


def read_predictions(path: str | Path) -> Predictions:
    """Read and check a prediction file; raise InputError naming file:line on the first problem."""
    n_records = 0
    n_boilerplate = 0
    n_predicted_fields = 0
    doc_of: list[str] = []
    stance: list[int] = []
    targets: list[list[int]] = []
    keys: dict[str, list[str]] = {"section": [], "author": [], "month": []}
    models: Counter = Counter()
    first_line: dict[str, int] = {}
    for line_no, record in read_jsonl(path):
        n_records += 1
        problems = record_problems(record)
        if problems:
            raise InputError(path, "; ".join(problems), line_no)
        record_id = record.get("id")
        if isinstance(record_id, str):
            # The same prediction twice (two runs concatenated) would be counted twice.
            if record_id in first_line:
                raise InputError(path, f"duplicate id {record_id!r} (first on line {first_line[record_id]})",
                                 line_no)
            first_line[record_id] = line_no
        if record.get("boilerplate"):
            n_boilerplate += 1
            continue
        model = record.get("model")
        if isinstance(model, dict):
            models[(str(model.get("name", "?")), str(model.get("hash", "?")))] += 1
        doc_of.append(record["doc_id"])
        stance_field, targets_field = label_fields(record)
        n_predicted_fields += stance_field != "stance"
        stance.append(STANCES.index(record[stance_field]))
        chosen = set(record.get(targets_field) or [])
        targets.append([1 if t in chosen else 0 for t in TARGETS])
        keys["section"].append(section_of(record))
        keys["author"].append(author_of(record))
        keys["month"].append(month_of(record.get("timestamp")) or UNDATED)
    if n_records == 0:
        raise InputError(path, "no prediction records (the file is empty)")
    if not stance:
        raise InputError(path, f"no non-boilerplate records to summarize (all {n_records} are boilerplate)")
    doc_ids = sorted(set(doc_of))
    index = {d: i for i, d in enumerate(doc_ids)}
    keys["doc"] = list(doc_of)
    return Predictions(
        source=str(path),
        n_records=n_records,
        n_boilerplate=n_boilerplate,
        doc_ids=doc_ids,
        doc=np.array([index[d] for d in doc_of], dtype=int),
        stance=np.array(stance, dtype=int),
        targets=np.array(targets, dtype=int).reshape(len(stance), _N_TG),
        keys=keys,
        models=models,
        n_predicted_fields=n_predicted_fields,
    )


# ---------------------------------------------------------------------------------------------
# the summary


@dataclass
class Group:
    dimension: str  # "all" or one of BY_CHOICES
    key: str
    n_docs: int
    counts: np.ndarray  # (N_FEATURES,)
    est: dict[str, np.ndarray]  # point estimates (see `estimates`)
    ci: dict[str, np.ndarray]  # name -> (2, ...) low/high

    @property
    def n(self) -> int:
        return int(self.counts[0])

    def stance_count(self, stance: str) -> int:
        return int(self.counts[1 + STANCES.index(stance)])

    def target_count(self, stance: str, target: str) -> int:
        k = TARGETED.index(stance)
        return int(self.counts[1 + _N_ST + k * _N_TG + TARGETS.index(target)])


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


def summarize(
    path: str | Path,
    by: Iterable[str] = (),
    model_dir: str | Path | None = None,
    *,
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
        confusion, note = (
            None,
            (
                "No --model folder was given, so there are no cross-validated error rates "
                "and only raw figures are shown."
            ),
        )
    predictions = read_predictions(path)
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
    row_values = np.concatenate([per_sentence] * len(sentence_groups))
    unique_rows, inverse = np.unique(row_keys, return_inverse=True)
    row_counts = np.zeros((len(unique_rows), N_FEATURES), dtype=np.int64)
    np.add.at(row_counts, inverse.ravel(), row_values)
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
    ordered = [groups[0]]
    for dimension in by:
        ordered.extend(_group_order(dimension, [g for g in groups if g.dimension == dimension]))

    months: dict[str, np.ndarray] = {}
    for month, vector in zip(predictions.keys["month"], per_sentence, strict=True):
        if month != UNDATED:
            months[month] = months.get(month, 0) + vector
    months = dict(sorted(months.items()))
    return Summary(predictions, by, ordered, confusion, note, resamples, seed, months)


# ---------------------------------------------------------------------------------------------
# text formatting: one list of blocks, rendered as Markdown and as HTML


def pct(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def interval(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"{100 * low:.1f}–{100 * high:.1f}"


def with_ci(value: float, ci: np.ndarray) -> str:
    text = pct(value)
    if text == "–":
        return text
    return f"{text} ({interval(ci[0], ci[1])})"


def _count(value: float) -> str:
    return "–" if not math.isfinite(value) else f"{value:.1f}"


def stance_table(group: Group, adjusted: bool) -> tuple[list[str], list[list[str]]]:
    header = ["stance", "sentences", "share (95% CI)"]
    if adjusted:
        header += ["adjusted (95% CI)", "adj. sentences"]
    rows = []
    for i, stance in enumerate(STANCES):
        row = [
            stance,
            str(group.stance_count(stance)),
            with_ci(group.est["stance_share"][i], group.ci["stance_share"][:, i]),
        ]
        if adjusted:
            share = group.est["stance_share_adj"][i]
            row += [with_ci(share, group.ci["stance_share_adj"][:, i]), _count(share * group.n)]
        rows.append(row)
    return header, rows


def target_table(group: Group, stance: str, adjusted: bool) -> tuple[list[str], list[list[str]]]:
    k = TARGETED.index(stance)
    noun = {"blame": "blame", "defend": "defence"}.get(stance, stance)
    header = ["target", "sentences", f"% of {noun} (95% CI)"]
    if adjusted:
        header += ["adjusted (95% CI)"]
    header += ["% of all (95% CI)"]
    if adjusted:
        header += ["adjusted", "adj. sentences"]
    rows = []
    for t, target in enumerate(TARGETS):
        row = [
            target,
            str(group.target_count(stance, target)),
            with_ci(group.est["of_stance"][k, t], group.ci["of_stance"][:, k, t]),
        ]
        if adjusted:
            row.append(with_ci(group.est["of_stance_adj"][k, t], group.ci["of_stance_adj"][:, k, t]))
        row.append(with_ci(group.est["of_all"][k, t], group.ci["of_all"][:, k, t]))
        if adjusted:
            share = group.est["of_all_adj"][k, t]
            row += [pct(share), _count(share * group.n)]
        rows.append(row)
    return header, rows


def overview_table(summary: Summary, dimension: str) -> tuple[list[str], list[list[str]]]:
    adjusted = summary.adjusted
    header = [dimension, "docs", "sentences", "blame", "defend", "% blame (95% CI)"]
    if adjusted:
        header.append("adjusted")
    header += ["most blamed (% of blame)"]
    b = STANCES.index("blame")
    k = TARGETED.index("blame")
    rows = []
    groups = summary.groups_of(dimension)
    if dimension != "month":
        groups = groups[:MAX_OVERVIEW_ROWS]
    for group in groups:
        row = [
            group.key,
            str(group.n_docs),
            str(group.n),
            str(group.stance_count("blame")),
            str(group.stance_count("defend")),
            with_ci(group.est["stance_share"][b], group.ci["stance_share"][:, b]),
        ]
        if adjusted:
            row.append(pct(group.est["stance_share_adj"][b]))
        of_blame = group.est["of_stance"][k]
        if np.all(~np.isfinite(of_blame)) or np.nanmax(of_blame) == 0:
            row.append("–")
        else:
            top = int(np.nanargmax(of_blame))
            row.append(f"{TARGETS[top]} ({pct(of_blame[top])})")
        rows.append(row)
    return header, rows


HOW_TO_READ_COUNTS = (
    "A sentence that blames two targets counts once for each. '% of blame' is the share of blame "
    "sentences naming the target (so a column can sum to more than 100%); '% of all' is the share of "
    "all counted sentences that blame the target. Boilerplate sentences are never counted."
)
HOW_TO_READ_ADJUSTED = (
    "Adjusted figures correct the raw counts for the classifier's cross-validated errors (adjusted "
    "classify and count): the stance shares solve observed = confusion^T × true by least squares, "
    "clipped to valid shares; each target's share among blame (defence) sentences is "
    "(observed − fpr) / (tpr − fpr), clipped to 0–100%. Adjusted '% of all' = adjusted stance share × "
    "adjusted target share. Adjustment is least reliable where tpr − fpr is small and in small groups."
)

_DIMENSION_TITLES = {
    "doc": "document",
    "section": "section (post versus comments)",
    "author": "author",
    "month": "month",
}


def summary_blocks(summary: Summary, images: dict[str, str]) -> list[tuple]:
    """The report as blocks: ("h1"|"h2"|"h3"|"p", text), ("table", header, rows), ("img", file, alt)."""
    p = summary.predictions
    overall = summary.overall
    adjusted = summary.adjusted
    blocks: list[tuple] = [("h1", "Blame summary")]
    blocks.append(
        (
            "p",
            (
                f"Input: {p.source} — {p.n_records} sentence records in {len(p.doc_ids)} document(s); "
                f"{p.n_boilerplate} boilerplate sentence(s) excluded; {len(p)} sentence(s) counted."
            ),
        )
    )
    if p.n_predicted_fields:
        blocks.append(
            (
                "p",
                (
                    f"{p.n_predicted_fields} record(s) also carry human labels; their model labels "
                    "(predicted_stance, predicted_targets) are the ones counted."
                ),
            )
        )
    if p.models:
        names = "; ".join(f"{name} ({digest[:12]}): {n}" for (name, digest), n in p.models.most_common())
        blocks.append(("p", f"Predictions made by: {names}."))
    blocks.append(("p", summary.adjustment_note))
    if summary.confusion is not None:
        for note in summary.confusion.notes:
            blocks.append(("p", f"Note: {note}."))
        if len(p.models) > 1:
            blocks.append(
                (
                    "p",
                    "Note: the records come from more than one model, but the adjustment uses one "
                    "model's error rates.",
                )
            )
        hashes = {digest for _, digest in p.models}
        if summary.confusion.model_hash and hashes and summary.confusion.model_hash not in hashes:
            blocks.append(
                (
                    "p",
                    f"Warning: the error rates come from model {summary.confusion.model_hash}, but the "
                    f"predictions were made by {', '.join(sorted(hashes))}; the adjustment may not fit them.",
                )
            )
    ci_note = (
        f"95% intervals: percentile bootstrap, {summary.resamples} resamples of whole documents "
        f"(seed {summary.seed})."
    )
    if len(p.doc_ids) < MIN_DOCS_FOR_CI:
        ci_note += (
            f" There are only {len(p.doc_ids)} document(s), fewer than the {MIN_DOCS_FOR_CI} needed, so no "
            "interval is given (n/a)."
        )
    elif len(p.doc_ids) < 10:
        ci_note += f" With only {len(p.doc_ids)} documents the intervals are rough."
    if adjusted:
        ci_note += (
            " Intervals of adjusted figures cover the sampling of documents only, not the error in the "
            "confusion figures themselves."
        )
    blocks.append(("p", ci_note))

    blocks.append(("h2", f"Overall ({overall.n} sentences, {overall.n_docs} documents)"))
    blocks.append(("h3", "Stance"))
    blocks.append(("table", *stance_table(overall, adjusted)))
    blocks.append(("h3", "Blame per target"))
    blocks.append(("table", *target_table(overall, "blame", adjusted)))
    if "blame_share.png" in images:
        blocks.append(("img", "blame_share.png", "Share of blame sentences naming each target"))
    blocks.append(("h3", "Defence per target"))
    blocks.append(("table", *target_table(overall, "defend", adjusted)))
    if "blame_vs_defence.png" in images:
        blocks.append(("img", "blame_vs_defence.png", "Blame and defence sentences per target"))
    if "timeline.png" in images:
        blocks.append(("h3", "Over time"))
        undated = int(sum(1 for m in p.keys["month"] if m == UNDATED))
        blocks.append(
            (
                "p",
                f"{len(p) - undated} dated sentence(s) in {len(summary.months)} month(s); "
                f"{undated} without a usable date are left out of the timeline.",
            )
        )
        blocks.append(("img", "timeline.png", "Blame sentences per target per month"))
    elif not summary.months:
        blocks.append(("p", "No sentence has a timestamp that parses as a date, so there is no timeline."))

    for dimension in summary.by:
        groups = summary.groups_of(dimension)
        title = _DIMENSION_TITLES[dimension]
        blocks.append(("h2", f"By {title} ({len(groups)} groups)"))
        if dimension == "section":
            blocks.append(("p", "Titles count with the post."))
        if dimension == "month":
            blocks.append(("p", f"Sentences without a parseable timestamp are grouped as {UNDATED}."))
        single = sum(1 for g in groups if g.n_docs < MIN_DOCS_FOR_CI)
        if single:
            blocks.append(
                (
                    "p",
                    f"{single} group(s) come from fewer than {MIN_DOCS_FOR_CI} documents: their intervals "
                    "are n/a, since resampling so few documents cannot measure the uncertainty.",
                )
            )
        if dimension != "month" and len(groups) > MAX_OVERVIEW_ROWS:
            blocks.append(("p", f"The table lists the {MAX_OVERVIEW_ROWS} largest groups."))
        blocks.append(("table", *overview_table(summary, dimension)))
        heatmap = f"by_{dimension}.png"
        if heatmap in images:
            blocks.append(("img", heatmap, f"Share of blame sentences naming each target, by {title}"))
        if dimension == "month":
            shown = groups if len(groups) <= MAX_DETAILED_GROUPS else []
        else:
            shown = groups[:MAX_DETAILED_GROUPS]
        if not shown:
            blocks.append(("p", f"Per-month detail for all {len(groups)} months is in summary.csv."))
        elif len(shown) < len(groups):
            blocks.append(
                ("p", f"The {len(shown)} largest groups in detail; all {len(groups)} are in summary.csv.")
            )
        for group in shown:
            blocks.append(("h3", f"{group.key} ({group.n} sentences, {group.n_docs} document(s))"))
            blocks.append(("table", *stance_table(group, adjusted)))
            blocks.append(("table", *target_table(group, "blame", adjusted)))
            blocks.append(("table", *target_table(group, "defend", adjusted)))

    blocks.append(("h2", "How to read this"))
    blocks.append(("p", HOW_TO_READ_COUNTS))
    blocks.append(("p", HOW_TO_READ_ADJUSTED))
    return blocks


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: list[tuple]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "img":
            lines += [f"![{block[2]}]({block[1]})", ""]
        elif kind == "table":
            header, rows = block[1], block[2]
            cells = [[_md_cell(c) for c in header]] + [[_md_cell(c) for c in row] for row in rows]
            widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

            def line(row, widths=widths):
                parts = [
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                ]
                return "| " + " | ".join(parts) + " |"

            rule = (
                "| "
                + " | ".join(("-" * w if i == 0 else "-" * (w - 1) + ":") for i, w in enumerate(widths))
                + " |"
            )
            lines += [line(cells[0]), rule, *(line(r) for r in cells[1:]), ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #333; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f3f3f3; } td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0 1.4em; }
"""


def render_html(blocks: list[tuple], images: dict[str, bytes]) -> str:
    esc = html.escape
    parts = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>Blame summary</title>',
        f"<style>{_CSS}</style>\n</head>\n<body>",
    ]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3", "p"):
            parts.append(f"<{kind}>{esc(block[1])}</{kind}>")
        elif kind == "img":
            data = base64.b64encode(images[block[1]]).decode("ascii")
            parts.append(f'<img src="data:image/png;base64,{data}" alt="{esc(block[2])}">')
        elif kind == "table":
            header, rows = block[1], block[2]
            parts.append(
                "<table>\n<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>"
            )
            parts.append("<tbody>")
            for row in rows:
                parts.append("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>")
            parts.append("</tbody>\n</table>")
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# CSV

CSV_FIELDS = (
    "group_by",
    "group",
    "stance",
    "target",
    "count",
    "adjusted_count",
    "n_stance",
    "n_sentences",
    "n_documents",
    "share",
    "ci_low",
    "ci_high",
    "adjusted",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "share_of_all",
    "share_of_all_ci_low",
    "share_of_all_ci_high",
    "share_of_all_adjusted",
)


def _num(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.4f}"


def csv_rows(summary: Summary) -> list[dict[str, str]]:
    """One row per group x stance x target (plus a target '(any)' row per stance with the stance share)."""
    rows = []
    for group in summary.groups:
        base = {
            "group_by": group.dimension,
            "group": group.key,
            "n_sentences": str(group.n),
            "n_documents": str(group.n_docs),
        }
        adj = summary.adjusted
        for i, stance in enumerate(STANCES):
            share = group.est["stance_share"][i]
            lo, hi = group.ci["stance_share"][:, i]
            adj_share = group.est["stance_share_adj"][i] if adj else math.nan
            adj_lo, adj_hi = group.ci["stance_share_adj"][:, i] if adj else (math.nan, math.nan)
            rows.append(
                {
                    **base,
                    "stance": stance,
                    "target": ANY_TARGET,
                    "count": str(group.stance_count(stance)),
                    "adjusted_count": _num(adj_share * group.n),
                    "n_stance": str(group.stance_count(stance)),
                    "share": _num(share),
                    "ci_low": _num(lo),
                    "ci_high": _num(hi),
                    "adjusted": _num(adj_share),
                    "adjusted_ci_low": _num(adj_lo),
                    "adjusted_ci_high": _num(adj_hi),
                    "share_of_all": _num(share),
                    "share_of_all_ci_low": _num(lo),
                    "share_of_all_ci_high": _num(hi),
                    "share_of_all_adjusted": _num(adj_share),
                }
            )
            if stance not in TARGETED:
                continue
            k = TARGETED.index(stance)
            for t, target in enumerate(TARGETS):
                lo, hi = group.ci["of_stance"][:, k, t]
                all_lo, all_hi = group.ci["of_all"][:, k, t]
                adj_share = group.est["of_stance_adj"][k, t] if adj else math.nan
                adj_lo, adj_hi = group.ci["of_stance_adj"][:, k, t] if adj else (math.nan, math.nan)
                adj_all = group.est["of_all_adj"][k, t] if adj else math.nan
                rows.append(
                    {
                        **base,
                        "stance": stance,
                        "target": target,
                        "count": str(group.target_count(stance, target)),
                        "adjusted_count": _num(adj_all * group.n),
                        "n_stance": str(group.stance_count(stance)),
                        "share": _num(group.est["of_stance"][k, t]),
                        "ci_low": _num(lo),
                        "ci_high": _num(hi),
                        "adjusted": _num(adj_share),
                        "adjusted_ci_low": _num(adj_lo),
                        "adjusted_ci_high": _num(adj_hi),
                        "share_of_all": _num(group.est["of_all"][k, t]),
                        "share_of_all_ci_low": _num(all_lo),
                        "share_of_all_ci_high": _num(all_hi),
                        "share_of_all_adjusted": _num(adj_all),
                    }
                )
    return rows


def render_csv(summary: Summary) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(summary))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# plots (matplotlib, Agg canvas; no pyplot global state)

_RAW = "#3b6ea8"
_ADJ = "#d9822b"
_DEFEND = "#5a9e5a"
_TARGET_COLOURS = ("#3b6ea8", "#d9822b", "#5a9e5a", "#b84a4a", "#7d5fa8")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _errors(values: np.ndarray, ci: np.ndarray) -> np.ndarray | None:
    """Error-bar lengths (2, k) from values and (2, k) intervals; 0 where an interval is missing,
    None (no bars) when none has one."""
    if not np.any(np.isfinite(ci)):
        return None
    low = np.where(np.isfinite(ci[0]), values - ci[0], 0.0)
    high = np.where(np.isfinite(ci[1]), ci[1] - values, 0.0)
    return np.maximum(np.nan_to_num(np.vstack([low, high])), 0.0)


def _ci_label(group: Group) -> str:
    if group.n_docs < MIN_DOCS_FOR_CI:
        return f"no intervals: fewer than {MIN_DOCS_FOR_CI} documents"
    return "95% CI"


def plot_blame_share(summary: Summary) -> bytes:
    group = summary.overall
    k = TARGETED.index("blame")
    figure = _figure(7.5, 4.2)
    ax = figure.add_subplot()
    x = np.arange(_N_TG)
    width = 0.38 if summary.adjusted else 0.6
    raw = np.nan_to_num(group.est["of_stance"][k]) * 100
    raw_ci = group.ci["of_stance"][:, k] * 100
    offset = -width / 2 if summary.adjusted else 0.0
    ax.bar(
        x + offset,
        raw,
        width,
        color=_RAW,
        label="raw",
        yerr=_errors(raw, raw_ci),
        capsize=4,
        error_kw={"elinewidth": 1.2, "ecolor": "#222"},
    )
    if summary.adjusted:
        adj = group.est["of_stance_adj"][k] * 100
        adj_ci = group.ci["of_stance_adj"][:, k] * 100
        shown = np.isfinite(adj)
        ax.bar(
            (x + width / 2)[shown],
            adj[shown],
            width,
            color=_ADJ,
            label="adjusted for classifier error",
            yerr=None if (err := _errors(adj, adj_ci)) is None else err[:, shown],
            capsize=4,
            error_kw={"elinewidth": 1.2, "ecolor": "#222"},
        )
        for xi in x[~shown]:
            ax.text(xi + width / 2, 1, "n/a", ha="center", va="bottom", fontsize=8, color="#666")
    ax.set_xticks(x, [t.replace("_", " ") for t in TARGETS])
    ax.set_ylabel("% of blame sentences naming the target")
    ax.set_ylim(0, 105)
    ax.set_xlim(-0.6, _N_TG - 0.4)
    ax.set_title(
        f"Who is blamed: share of the {group.stance_count('blame')} blame sentences ({_ci_label(group)})",
        fontsize=11,
    )
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if summary.adjusted:
        ax.legend(frameon=False, loc="upper right")
    return _png(figure)


def plot_blame_vs_defence(summary: Summary) -> bytes:
    group = summary.overall
    figure = _figure(7.5, 4.2)
    ax = figure.add_subplot()
    x = np.arange(_N_TG)
    width = 0.38
    n = group.n
    for k, (stance, colour, label) in enumerate(
        zip(TARGETED, (_RAW, _DEFEND), ("blame", "defence"), strict=True)
    ):
        counts = np.array([group.target_count(stance, t) for t in TARGETS], dtype=float)
        ci = group.ci["of_all"][:, k] * n
        position = x + (k - 0.5) * width
        ax.bar(
            position,
            counts,
            width,
            color=colour,
            label=label,
            yerr=_errors(counts, ci),
            capsize=3,
            error_kw={"elinewidth": 1.0, "ecolor": "#222"},
        )
        if summary.adjusted:
            adjusted = group.est["of_all_adj"][k] * n
            shown = np.isfinite(adjusted)
            ax.scatter(
                position[shown],
                adjusted[shown],
                marker="D",
                s=36,
                color=_ADJ,
                edgecolor="#222",
                zorder=3,
                label="adjusted for classifier error" if k == 0 else None,
            )
    ax.set_xticks(x, [t.replace("_", " ") for t in TARGETS])
    ax.set_ylabel("sentences")
    ax.set_title(f"Blame and defence per target ({n} sentences, {_ci_label(group)})", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    return _png(figure)


def _month_axis(months: list[str]) -> tuple[list[str], bool]:
    """Months to show: every month in the span when it is short, else only months with sentences."""
    first = date(int(months[0][:4]), int(months[0][5:7]), 1)
    last = date(int(months[-1][:4]), int(months[-1][5:7]), 1)
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    if span <= 24:
        every = []
        year, month = first.year, first.month
        for _ in range(span):
            every.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return every, False
    return months, len(months) < span


def plot_timeline(summary: Summary) -> bytes:
    months, gaps = _month_axis(list(summary.months))
    zero = np.zeros(N_FEATURES)
    counts = np.array([summary.months.get(m, zero) for m in months], dtype=float)
    n, stance_counts, target_counts = _split(counts)
    k = TARGETED.index("blame")
    figure = _figure(min(13.0, max(7.5, 0.3 * len(months) + 3)), 5.2)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    x = np.arange(len(months))
    bottom_edge = np.zeros(len(months))
    for t, target in enumerate(TARGETS):
        values = target_counts[:, k, t]
        top.bar(x, values, 0.7, bottom=bottom_edge, color=_TARGET_COLOURS[t], label=target.replace("_", " "))
        bottom_edge += values
    top.set_ylabel("blame sentences\n(per target)")
    top.set_title(
        "Blame per target per month (raw; a sentence blaming two targets counts for each)", fontsize=11
    )
    top.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    top.grid(axis="y", alpha=0.3)
    top.set_axisbelow(True)
    bottom.bar(x, n, 0.7, color="#bbbbbb", label="all sentences")
    blame = STANCES.index("blame")
    bottom.bar(x, stance_counts[:, blame], 0.7, color="#555555", label="blame sentences")
    if summary.confusion is not None and summary.confusion.stance_rates is not None:
        adjusted = estimates(counts, summary.confusion)["stance_share_adj"][:, blame] * n
        shown = np.isfinite(adjusted) & (n > 0)
        bottom.scatter(
            x[shown],
            adjusted[shown],
            marker="D",
            s=22,
            color=_ADJ,
            edgecolor="#222",
            zorder=3,
            label="blame, adjusted",
        )
    bottom.set_ylabel("sentences")
    bottom.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    step = max(1, math.ceil(len(months) / 36))  # at most about 36 labels
    bottom.set_xticks(x[::step], months[::step], rotation=60, ha="right", fontsize=8)
    if gaps:
        bottom.set_xlabel("month (months without any dated sentence are left out)")
    return _png(figure)


def plot_heatmap(summary: Summary, dimension: str) -> bytes:
    groups = summary.groups_of(dimension)[:MAX_HEATMAP_GROUPS]  # the largest (months: the first)
    k = TARGETED.index("blame")
    values = np.array([g.est["of_stance"][k] for g in groups]) * 100
    adjusted = np.array([g.est["of_stance_adj"][k] for g in groups]) * 100 if summary.adjusted else None
    figure = _figure(8.0, 2.2 + (0.5 if summary.adjusted else 0.36) * len(groups))
    ax = figure.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for (r, c), value in np.ndenumerate(values):
        text = "–" if not np.isfinite(value) else f"{value:.0f}%"
        if adjusted is not None and np.isfinite(value):
            adj = adjusted[r, c]
            text += f"\nadj. {adj:.0f}%" if np.isfinite(adj) else "\nadj. –"
        ax.text(c, r, text, ha="center", va="center", fontsize=8, color="white" if value > 60 else "#222")
    labels = [f"{_shorten(g.key)}  (blame {g.stance_count('blame')})" for g in groups]
    ax.set_yticks(np.arange(len(groups)), labels, fontsize=8)
    ax.set_xticks(np.arange(_N_TG), [t.replace("_", " ") for t in TARGETS])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    title = f"% of blame sentences naming each target, by {_DIMENSION_TITLES[dimension]}"
    if len(summary.groups_of(dimension)) > len(groups):
        title += f" ({len(groups)} largest)"
    if adjusted is not None:
        title += " (colour: raw)"
    ax.set_title(title, fontsize=11)
    figure.colorbar(image, ax=ax, shrink=0.8, label="% of blame")
    return _png(figure)


def _shorten(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_plots(summary: Summary) -> dict[str, bytes]:
    images = {
        "blame_share.png": plot_blame_share(summary),
        "blame_vs_defence.png": plot_blame_vs_defence(summary),
    }
    if summary.months:
        images["timeline.png"] = plot_timeline(summary)
    for dimension in summary.by:
        groups = summary.groups_of(dimension)
        if dimension == "month" and len(groups) > MAX_HEATMAP_GROUPS:
            continue  # the timeline shows them; a heatmap of every month would be unreadable
        if len(groups) > 1:
            images[f"by_{dimension}.png"] = plot_heatmap(summary, dimension)
    return images


# ---------------------------------------------------------------------------------------------
# writing


def check_output_folder(folder: str | Path) -> Path:
    """Refuse an output path that is a file or whose parent folder is missing (creates nothing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "output path exists and is not a folder")
    if not folder.exists() and not folder.parent.is_dir():
        raise InputError(folder, f"parent folder {folder.parent} does not exist")
    return folder


def prepare_output_folder(folder: str | Path) -> Path:
    """Create the output folder if its parent exists; refuse when the parent is missing or it is a file."""
    folder = check_output_folder(folder)
    folder.mkdir(exist_ok=True)
    return folder


def write_summary(summary: Summary, folder: str | Path) -> list[Path]:
    """Write summary.md, summary.csv, the plots and summary.html into folder; return the paths written."""
    folder = prepare_output_folder(folder)
    inputs = [summary.predictions.source]
    images = make_plots(summary)
    blocks = summary_blocks(summary, images)
    written: list[Path] = []

    def put(name: str, content: str | bytes) -> None:
        path = folder / name
        check_output_path(path, inputs)
        if isinstance(content, bytes):
            atomic_write_bytes(path, content)
        else:
            atomic_write_text(path, content)
        written.append(path)

    for name, data in images.items():
        put(name, data)
    put("summary.csv", render_csv(summary))
    put("summary.md", render_markdown(blocks))
    put("summary.html", render_html(blocks, images))
    # A plot from an earlier run that this run does not make (e.g. a timeline when no dates parse
    # any more) would sit beside the new summary as if it belonged to it: remove our own names only.
    stale = [name for name in OUTPUT_FILES if name.endswith(".png") and name not in images]
    stale += [f"by_{d}.png" for d in BY_CHOICES if f"by_{d}.png" not in images]
    for name in stale:
        (folder / name).unlink(missing_ok=True)
    return written
