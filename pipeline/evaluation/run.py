"""Orchestration of `pipeline evaluate`: cross-validate backends, or score one trained model.

Cross-validation mode: the same document-held-out folds for every backend, out-of-fold
probabilities (recomputed, or reused from a trained model folder's crossval.json when it was
made from exactly the same data and folds), decisions with thresholds tuned on the other folds
only, the metrics with bootstrap intervals, a paired comparison with the best backend, and a
learning curve for one backend. Single-model mode scores a saved model on a labelled file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..classifiers.base import Probabilities, ProgressFn, decide
from ..errors import InputError, PipelineError
from ..records import STANCES, TARGETS, Record, label_problems, read_jsonl
from . import metrics as M
from .crossval import (
    FitPredict,
    Fold,
    cross_fitted_calibration,
    cross_validated_decisions,
    out_of_fold,
    scored_and_folds,
    split_gold,
)
from .report import check_output_dir, write_report

DEFAULT_BACKENDS = ("majority", "lexicon", "tfidf", "embed", "transformer")
LEARNING_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
COMPARED_METRICS = ("stance_macro_f1", "target_micro_f1", "pair_f1")
N_WORST = 10

FitPredictFactory = Callable[[str], FitPredict]


def _say(progress: ProgressFn | None) -> ProgressFn:
    return progress or (lambda _message: None)


def _doc_id(record: Record) -> str:
    doc = record.get("doc_id")
    return doc if isinstance(doc, str) and doc else str(record["id"]).rsplit(":", 1)[0]


# ---------------------------------------------------------------------------------------------
# assembling the metrics dictionary (pure: no training, no files)


def summarise(
    gold: list[Record],
    folds: list[Fold] | None,
    probs_by_backend: dict[str, Probabilities],
    decisions_by_backend: dict[str, list[tuple[str, list[str]]]],
    *,
    seed: int = 0,
    n_bootstrap: int = M.DEFAULT_RESAMPLES,
    config: dict[str, Any] | None = None,
    learning_curve: dict[str, Any] | None = None,
    extra_info: dict[str, dict[str, Any]] | None = None,
    mode: str = "crossval",
) -> dict[str, Any]:
    """The full metrics dictionary for report.write_report."""
    doc_ids = [_doc_id(r) for r in gold]
    docs = sorted(set(doc_ids))
    weights = M.bootstrap_weights(len(docs), n_bootstrap, seed)
    backends: dict[str, Any] = {}
    for name, probs in probs_by_backend.items():
        result = M.score_backend(
            gold, decisions_by_backend[name], probs.stance, weights, doc_ids=doc_ids, n_worst=N_WORST
        )
        result.update((extra_info or {}).get(name, {}))
        backends[name] = result
    comparison = compare_backends(backends, weights) if len(backends) > 1 else {"rows": []}
    best = (
        comparison.get("best", {}).get("stance_macro_f1") if len(backends) > 1 else next(iter(backends), None)
    )
    full_config = {
        "seed": seed,
        "n_bootstrap": n_bootstrap,
        "n_sentences": len(gold),
        "n_docs": len(docs),
        "folds": [list(f.test_docs) for f in folds] if folds else None,
        "stances": list(STANCES),
        "targets": list(TARGETS),
        **(config or {}),
    }
    return {
        "schema_version": 1,
        "mode": mode,
        "config": full_config,
        "best_backend": best,
        "backends": backends,
        "comparison": comparison,
        "learning_curve": learning_curve,
    }


def compare_backends(backends: dict[str, dict], weights: np.ndarray) -> dict[str, Any]:
    """Paired bootstrap of every backend against the best one, per compared metric."""
    rows = []
    best_by_metric = {}
    names = list(backends)
    for metric in COMPARED_METRICS:
        values = [backends[n]["headline"][metric]["value"] for n in names]
        scored = [(v, -i) for i, v in enumerate(values) if v is not None]
        if not scored:
            continue
        best = names[-max(scored)[1]]
        best_by_metric[metric] = best
        for name in names:
            if name == best:
                continue
            result = M.paired_bootstrap(
                backends[best]["_doc_stats"], backends[name]["_doc_stats"], weights, metric
            )
            rows.append({"metric": metric, "best": best, "backend": name, **result})
    return {"best": best_by_metric, "rows": rows, "n_resamples": int(len(weights))}


# ---------------------------------------------------------------------------------------------
# cross-validation


def _train_module():
    try:
        from .. import train
    except ImportError as exc:  # pragma: no cover - train.py is a sibling module
        raise PipelineError(f"training code is not available ({exc})") from None
    return train


def saved_probabilities(
    models_dir: Path, name: str, gold: list[Record], folds: list[Fold], data_hash: str | None
) -> tuple[Probabilities | None, str]:
    """Out-of-fold probabilities from models_dir/NAME/crossval.json, or None and the reason."""
    path = models_dir / name / "crossval.json"
    if not path.is_file():
        return None, f"no {path}"
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"{path} is unreadable ({exc})"
    if not isinstance(saved, dict):
        return None, f"{path} is not a JSON object"
    if data_hash is None or saved.get("data_hash") != data_hash:
        return None, f"{path} was made from different labels (data hash differs)"
    if saved.get("ids") != [r["id"] for r in gold]:
        return None, f"{path} covers different gold sentences or another order"
    ours = sorted(tuple(sorted(f.test_docs)) for f in folds)
    theirs = saved.get("folds")
    if not isinstance(theirs, list) or sorted(tuple(sorted(f)) for f in theirs) != ours:
        return None, f"{path} used different folds"
    try:
        stance = np.asarray(saved["stance_probs"], dtype=float)
        targets = np.asarray(saved["target_probs"], dtype=float)
    except (KeyError, TypeError, ValueError):
        return None, f"{path} lacks valid stance_probs/target_probs"
    if stance.shape != (len(gold), len(STANCES)) or targets.shape != (len(gold), len(TARGETS)):
        return None, f"{path} has probabilities of the wrong shape"
    return Probabilities(stance, targets), f"reused {path}"


def _calibrates(name: str) -> bool:
    """Whether the backend's trained models temperature-scale their stance (stand-ins do)."""
    from ..classifiers import get_backend

    try:
        return get_backend(name).calibrates
    except PipelineError:
        return True


def run_learning_curve(
    gold: list[Record],
    extra: list[Record],
    folds: list[Fold],
    fit_predict: FitPredict,
    weights: np.ndarray,
    *,
    seed: int = 0,
    fractions: tuple[float, ...] = LEARNING_FRACTIONS,
    full_probs: Probabilities | None = None,
    progress: ProgressFn | None = None,
    label: str = "",
) -> list[dict[str, Any]]:
    """Scores when each fold trains on a share of its training documents (nested subsets)."""
    say = _say(progress)
    doc_ids = [_doc_id(r) for r in gold]
    orders = []
    for number, fold in enumerate(folds):
        train_docs = sorted({doc_ids[i] for i in fold.train_index})
        orders.append([str(d) for d in np.random.default_rng([seed, number]).permutation(train_docs)])
    points = []
    for fraction in fractions:
        sizes = [max(1, int(np.ceil(fraction * len(order) - 1e-9))) for order in orders]
        if fraction >= 1.0 and full_probs is not None:
            probs = full_probs
        else:
            stance = np.zeros((len(gold), len(STANCES)))
            targets = np.zeros((len(gold), len(TARGETS)))
            for number, (fold, order, size) in enumerate(zip(folds, orders, sizes, strict=True), start=1):
                say(
                    f"{label} learning curve {fraction:.0%}: fold {number}/{len(folds)} on {size} document(s)"
                )
                keep = set(order[:size])
                train = [gold[i] for i in fold.train_index if doc_ids[i] in keep] + extra
                part = fit_predict(train, [gold[i] for i in fold.test_index], seed)
                stance[fold.test_index] = part.stance
                targets[fold.test_index] = part.targets
            probs = Probabilities(stance, targets)
        decisions = cross_validated_decisions(probs, gold, folds)
        gold_labels = [(r["stance"], list(r.get("targets", []))) for r in gold]
        stats = M.sentence_stats(gold_labels, decisions, probs.stance)
        _, by_doc = M.document_stats(stats, doc_ids)
        intervals = M.bootstrap_intervals(by_doc, weights)
        points.append(
            {
                "fraction": fraction,
                "train_docs": sizes,
                "train_docs_mean": float(np.mean(sizes)),
                "stance_macro_f1": intervals["stance_macro_f1"],
                "target_micro_f1": intervals["target_micro_f1"],
            }
        )
    return points


def evaluate_backends(
    labels_dir: str | Path,
    backends: list[str],
    out_dir: str | Path,
    *,
    seed: int = 0,
    models_dir: str | Path | None = None,
    learning_curve_backend: str | None = "tfidf",
    n_bootstrap: int = M.DEFAULT_RESAMPLES,
    progress: ProgressFn | None = None,
    fit_predict_factory: FitPredictFactory | None = None,
) -> dict[str, Any]:
    """Cross-validate each backend on the same folds and write the report into out_dir.

    ``fit_predict_factory(name)`` gives the (train, test, seed) -> Probabilities function for
    a backend; by default ``pipeline.train.fit_predict_fn``. Returns the metrics dictionary.
    """
    say = _say(progress)
    backends = list(dict.fromkeys(b.strip() for b in backends if b.strip()))
    if not backends:
        raise PipelineError("no backends given")
    if n_bootstrap < 0:
        raise PipelineError("the number of bootstrap resamples cannot be negative")
    out = check_output_dir(out_dir)  # created by write_report, once there is a report
    train = _train_module()
    records = train.load_training_data(labels_dir)
    scored, extra, folds = scored_and_folds(records, seed=seed)
    gold_index = [i for i, r in enumerate(scored) if r.get("origin", "gold") == "gold"]
    written_index = [i for i, r in enumerate(scored) if r.get("origin", "gold") != "gold"]
    if not gold_index:
        raise InputError(labels_dir, "no gold sentences to evaluate on (only written or augmented examples)")
    if len({r["doc_id"] for r in scored}) < 2:
        raise InputError(labels_dir, "cross-validation needs gold sentences from at least two documents")
    by_source = any(f.name for f in folds)
    data_hash = train.data_hash(records)
    if fit_predict_factory is None:
        from ..classifiers import get_backend

        for name in [*backends, *([learning_curve_backend] if learning_curve_backend else [])]:
            get_backend(name)  # an unknown name fails here, before hours of training
    factory = fit_predict_factory or (lambda name: train.fit_predict_fn(name, None))
    fit_predicts = {name: factory(name) for name in backends}  # unknown names fail before any training
    # The learning curve subsamples training documents within folds; with held-out sources the
    # training side is mostly written text, so the curve would not say what it claims.
    lc_backend = (learning_curve_backend or None) if not by_source else None
    if lc_backend and lc_backend not in fit_predicts:
        fit_predicts[lc_backend] = factory(lc_backend)
    say(
        f"{len(gold_index)} gold sentences from {len({scored[i]['doc_id'] for i in gold_index})} documents, "
        f"{len(written_index)} sentences of written documents, {len(extra)} training-only; {len(folds)} folds"
        + (f" ({', '.join(f.name for f in folds)} held out in turn)" if by_source else "")
    )

    probs_by_backend: dict[str, Probabilities] = {}
    decisions_by_backend = {}
    info: dict[str, dict[str, Any]] = {}
    for name in backends:
        probs, source = None, "computed"
        if models_dir is not None:
            probs, reason = saved_probabilities(Path(models_dir), name, scored, folds, data_hash)
            say(f"{name}: {reason}" + ("" if probs is not None else "; cross-validating"))
            if probs is not None:
                source = reason
        if probs is None:
            probs = out_of_fold(scored, extra, folds, fit_predicts[name], seed=seed, progress=say, label=name)
        # Scored as a trained model would score: stance temperature fitted on the other folds,
        # target thresholds fixed at 0.5 (the training default). The temperature never changes
        # a label, only the scores (ECE).
        info[name] = {"source": source}
        if _calibrates(name):
            truth = [STANCES.index(scored[i]["stance"]) for i in gold_index]
            info[name]["ece_uncalibrated"] = M.expected_calibration_error(probs.stance[gold_index], truth)
            probs = cross_fitted_calibration(probs, scored, folds)
        probs_by_backend[name] = probs
        decisions_by_backend[name] = cross_validated_decisions(probs, scored, folds, tune=False)

    def part(index: list[int]) -> tuple[list[Record], dict[str, Probabilities], dict[str, list]]:
        return ([scored[i] for i in index], {n: p.take(index) for n, p in probs_by_backend.items()},
                {n: [d[i] for i in index] for n, d in decisions_by_backend.items()})

    gold, gold_probs, gold_decisions = part(gold_index)
    curve = None
    if lc_backend:
        doc_ids = [_doc_id(r) for r in gold]
        weights = M.bootstrap_weights(len(set(doc_ids)), n_bootstrap, seed)
        points = run_learning_curve(
            gold,
            extra,
            folds,
            fit_predicts[lc_backend],
            weights,
            seed=seed,
            full_probs=probs_by_backend.get(lc_backend),
            progress=say,
            label=lc_backend,
        )
        curve = {"backend": lc_backend, "seed": seed, "points": points}

    config = {
        "labels": str(labels_dir),
        "backends": backends,
        "models_dir": str(models_dir) if models_dir is not None else None,
        "data_hash": data_hash,
        "n_written": sum(1 for r in extra if r.get("origin") == "written") + len(written_index),
        "n_augmented": sum(1 for r in extra if r.get("origin") == "augmented"),
        "fold_scheme": "held-out sources (" + ", ".join(f.name for f in folds) + ")" if by_source
        else "leave-one-document-out" if all(len(f.test_docs) == 1 for f in folds) else "grouped k-fold",
        "scored": "gold seed sentences (held out as a whole source)" if by_source else "gold sentences",
    }
    metrics = summarise(
        gold,
        None if by_source else folds,
        gold_probs,
        gold_decisions,
        seed=seed,
        n_bootstrap=n_bootstrap,
        config=config,
        learning_curve=curve,
        extra_info=info,
    )
    if written_index:
        # Written documents are ours, not gold: their scores go in a report of their own.
        written, written_probs, written_decisions = part(written_index)
        written_config = {**config, "scored": "written documents (NOT gold: text we wrote, labelled in two "
                          "adjudicated passes), each batch held out as a whole source"}
        written_metrics = summarise(written, None, written_probs, written_decisions, seed=seed,
                                    n_bootstrap=n_bootstrap, config=written_config,
                                    extra_info={n: {"source": v["source"]} for n, v in info.items()})
        write_report(written_metrics, out / "written_documents")
        say(f"wrote {out / 'written_documents' / 'report.md'} (written documents, not gold)")
        metrics["written_documents"] = {n: b["headline"] for n, b in written_metrics["backends"].items()}
    write_report(metrics, out)
    say(f"wrote {out / 'report.md'}, report.html, metrics.json and plots")
    return metrics


# ---------------------------------------------------------------------------------------------
# one trained model on a labelled file


def read_labelled_file(path: str | Path) -> list[Record]:
    """Labelled sentence records from one JSONL file; InputError names file:line on a problem."""
    records = []
    seen: dict[str, int] = {}
    for line_no, record in read_jsonl(path):
        if "stance" not in record:
            raise InputError(path, "record has no 'stance': a labelled file is needed", line_no)
        problems = label_problems(record)
        if not isinstance(record.get("id"), str):
            problems.append("missing or mistyped field 'id'")
        if not isinstance(record.get("text"), str):
            problems.append("missing or mistyped field 'text'")
        if "doc_id" in record and (not isinstance(record["doc_id"], str) or not record["doc_id"]):
            problems.append("mistyped field 'doc_id'")
        if problems:
            raise InputError(path, "; ".join(problems), line_no)
        if record["id"] in seen:
            raise InputError(
                path, f"duplicate id {record['id']!r} (first on line {seen[record['id']]})", line_no
            )
        seen[record["id"]] = line_no
        record.setdefault("targets", [])
        record.setdefault("origin", "gold")
        record.setdefault("doc_id", _doc_id(record))
        records.append(record)
    if not records:
        raise InputError(path, "no labelled sentences found")
    return records


def evaluate_model(
    model_dir: str | Path,
    test_file: str | Path,
    out_dir: str | Path,
    progress: ProgressFn | None = None,
    *,
    seed: int = 0,
    n_bootstrap: int = M.DEFAULT_RESAMPLES,
) -> dict[str, Any]:
    """Score a saved model on a labelled JSONL file and write the report into out_dir."""
    from ..classifiers import load_classifier

    say = _say(progress)
    if n_bootstrap < 0:
        raise PipelineError("the number of bootstrap resamples cannot be negative")
    out = check_output_dir(out_dir)  # created by write_report, once there is a report
    records = read_labelled_file(test_file)
    gold, not_gold = split_gold(records)
    if not gold:
        raise InputError(test_file, "no gold sentences to score (only written or augmented examples)")
    classifier = load_classifier(model_dir)
    try:
        from ..train import add_context
    except ImportError:  # pragma: no cover
        add_context = None
    inputs = [dict(r) for r in gold]
    if add_context is not None:
        add_context(inputs)
    say(f"scoring {classifier.name} on {len(gold)} gold sentences from {test_file}")
    probs = classifier.predict_scores(inputs)
    decisions = decide(probs, classifier.thresholds)
    name = classifier.name
    config = {
        "model_dir": str(model_dir),
        "model_name": name,
        "test_file": str(test_file),
        "thresholds": dict(classifier.thresholds),
        "n_not_gold": len(not_gold),
        "data_hash": _train_module().data_hash(gold),
    }
    metrics = summarise(
        gold,
        None,
        {name: probs},
        {name: decisions},
        seed=seed,
        n_bootstrap=n_bootstrap,
        config=config,
        extra_info={name: {"source": f"model {model_dir}"}},
        mode="single_model",
    )
    write_report(metrics, out)
    say(f"wrote {out / 'report.md'}, report.html, metrics.json and plots")
    return metrics
