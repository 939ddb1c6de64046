"""Folds that hold whole sources out, the same for every backend, and out-of-fold scores.

Two schemes, chosen by ``scored_and_folds``:

* **held-out sources** (when written documents exist): the scored records are the gold seed
  sentences and the written documents (``labels/written_documents.jsonl``, each with a
  ``batch``); each fold holds out one whole source (the seeds, written batch 1, written
  batch 2...) and trains on everything else. This measures what users meet: documents from
  other writers, outlets and cases than the training data. Scores on gold and on written
  documents are always reported apart: written text is never scored as if it were gold.
* **held-out documents** (gold only): leave-one-document-out, or grouped k-fold.

Short written groups (``written*.jsonl`` without a batch) and augmented copies only ever
train.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..classifiers.base import Probabilities, ProgressFn, decide, fit_temperature, scale_stance
from ..records import TARGETS, Record

# With up to this many gold documents, hold one document out at a time.
MAX_LEAVE_ONE_OUT_DOCS = 12
GROUP_FOLDS = 5


@dataclass(frozen=True)
class Fold:
    test_docs: tuple[str, ...]
    train_index: np.ndarray  # into the scored records
    test_index: np.ndarray
    name: str = ""  # the held-out source, for held-out-source folds


def is_gold(record: Record) -> bool:
    return record.get("origin", "gold") == "gold"


def split_gold(records: list[Record]) -> tuple[list[Record], list[Record]]:
    gold = [r for r in records if is_gold(r)]
    extra = [r for r in records if not is_gold(r)]
    return gold, extra


def source_of(record: Record) -> str | None:
    """The source a scored record belongs to ("seeds" for gold, "written-batchN" for a written
    document); None for records that only ever train (short written groups, augmented)."""
    if is_gold(record):
        return "seeds"
    if record.get("origin") == "written" and record.get("batch"):
        return f"written-batch{record['batch']}"
    return None


def scored_and_folds(records: list[Record], *, seed: int = 0) -> tuple[list[Record], list[Record], list[Fold]]:
    """(scored, training-only, folds): held-out sources when there are at least two, else
    held-out gold documents. The same records and order in train and evaluate."""
    scored = [r for r in records if source_of(r) is not None]
    extra = [r for r in records if source_of(r) is None]
    sources = sorted({source_of(r) for r in scored})
    if len(sources) >= 2:
        of = np.array([source_of(r) for r in scored])
        folds = []
        for source in sources:
            mask = of == source
            docs = tuple(sorted({r["doc_id"] for r, m in zip(scored, mask, strict=True) if m}))
            folds.append(Fold(docs, np.flatnonzero(~mask), np.flatnonzero(mask), source))
        return scored, extra, folds
    gold, not_gold = split_gold(records)
    return gold, not_gold, make_folds(gold, seed=seed)


def make_folds(gold: list[Record], *, seed: int = 0, n_folds: int | None = None) -> list[Fold]:
    """Leave-one-document-out for few documents, else grouped k-fold by document.

    Deterministic: documents are sorted, then shuffled with the seed for grouped k-fold.
    """
    docs = sorted({r["doc_id"] for r in gold})
    if len(docs) < 2:
        raise ValueError("cross-validation needs gold sentences from at least two documents")
    if n_folds is None:
        n_folds = len(docs) if len(docs) <= MAX_LEAVE_ONE_OUT_DOCS else GROUP_FOLDS
    n_folds = min(n_folds, len(docs))
    order = list(docs)
    if n_folds < len(docs):
        np.random.default_rng(seed).shuffle(order)
    groups = [tuple(sorted(order[i::n_folds])) for i in range(n_folds)]
    doc_of = np.array([r["doc_id"] for r in gold])
    folds = []
    for test_docs in groups:
        mask = np.isin(doc_of, test_docs)
        folds.append(Fold(test_docs, np.flatnonzero(~mask), np.flatnonzero(mask)))
    return folds


FitPredict = Callable[[list[Record], list[Record], int], Probabilities]


def out_of_fold(
    gold: list[Record],
    extra: list[Record],
    folds: list[Fold],
    fit_predict: FitPredict,
    *,
    seed: int = 0,
    progress: ProgressFn | None = None,
    label: str = "",
) -> Probabilities:
    """Probabilities for every gold record from a model that never saw its document."""
    stance = np.zeros((len(gold), 3))
    targets = np.zeros((len(gold), len(TARGETS)))
    for number, fold in enumerate(folds, start=1):
        if progress:
            held = f"{fold.name} ({len(fold.test_docs)} documents)" if fold.name else ", ".join(fold.test_docs)
            progress(f"{label} fold {number}/{len(folds)}: holding out {held}")
        train = [gold[i] for i in fold.train_index] + extra
        test = [gold[i] for i in fold.test_index]
        probs = fit_predict(train, test, seed)
        stance[fold.test_index] = probs.stance
        targets[fold.test_index] = probs.targets
    return Probabilities(stance, targets)


def target_matrix(records: list[Record]) -> np.ndarray:
    return np.array([[1 if t in r.get("targets", []) else 0 for t in TARGETS] for r in records]).reshape(
        len(records), len(TARGETS)
    )


THRESHOLD_GRID = np.round(np.arange(0.1, 0.91, 0.05), 2)


def tune_thresholds(probs: Probabilities, gold: list[Record]) -> dict[str, float]:
    """Per-target threshold maximising F1 on (out-of-fold) probabilities.

    Only sentences whose gold stance is not neutral count, because at prediction time a
    neutral stance removes targets anyway. Ties go to the threshold nearest 0.5; a target
    with no positive examples keeps 0.5.
    """
    truth = target_matrix(gold)
    keep = np.array([r["stance"] != "neutral" for r in gold])
    thresholds = {}
    for j, target in enumerate(TARGETS):
        y = truth[keep, j]
        p = probs.targets[keep, j]
        if y.sum() == 0:
            thresholds[target] = 0.5
            continue
        best = (-1.0, 0.0, 0.5)
        for cut in THRESHOLD_GRID:
            pred = p >= cut
            tp = float((pred & (y == 1)).sum())
            f1 = 2 * tp / (pred.sum() + y.sum()) if pred.sum() + y.sum() else 0.0
            key = (f1, -abs(cut - 0.5), float(cut))
            if key > best:
                best = key
        thresholds[target] = best[2]
    return thresholds


def cross_validated_decisions(
    probs: Probabilities, gold: list[Record], folds: list[Fold], *, tune: bool = True
) -> list[tuple[str, list[str]]]:
    """Decisions where each fold's thresholds are tuned on the other folds' scores only."""
    decisions: list[tuple[str, list[str]] | None] = [None] * len(gold)
    for fold in folds:
        if tune:
            others = fold.train_index
            thresholds = tune_thresholds(probs.take(others), [gold[i] for i in others])
        else:
            thresholds = None
        for i, decision in zip(fold.test_index, decide(probs.take(fold.test_index), thresholds), strict=True):
            decisions[i] = decision
    return decisions  # type: ignore[return-value]


def cross_fitted_calibration(probs: Probabilities, gold: list[Record], folds: list[Fold]) -> Probabilities:
    """Out-of-fold scores as the saved model would give them: each fold's stance scaled by the
    temperature fitted on the other folds only, as thresholds are tuned."""
    stance = probs.stance.copy()
    for fold in folds:
        temperature = fit_temperature(probs.stance[fold.train_index], [gold[i]["stance"] for i in fold.train_index])
        stance[fold.test_index] = scale_stance(probs.take(fold.test_index), temperature).stance
    return Probabilities(stance, probs.targets)
