"""`pipeline train`: labelled records in, a model folder out.

Steps: read gold and written labels; hold whole sources out (the seeds, each batch of
written documents; gold documents when there are no written documents: the same folds
evaluate uses) to get out-of-fold scores; fit the stance temperature on them (and tune
per-target thresholds when asked);
measure the cross-validated scores and confusion (saved for the model card and for
adjusted counts in `summarize`); fit the final model on everything; save.
Role-swap augmentation is applied inside each training fold only, so no text of a held-out
document reaches training.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .classifiers.base import Classifier, Probabilities, ProgressFn, decide, fit_temperature, get_backend
from .evaluation.crossval import (
    cross_fitted_calibration,
    cross_validated_decisions,
    out_of_fold,
    scored_and_folds,
    split_gold,
    target_matrix,
    tune_thresholds,
)
from .lexicon import DEFAULT_LEXICON_PATH, Lexicon
from .modelio import check_model_output, save_model
from .records import NEUTRAL, STANCES, TARGETS, Record, load_labelled


def add_context(records: list[Record]) -> list[Record]:
    """Give each record the text of the previous sentence of its document (by id order)."""
    by_doc: dict[str, list[Record]] = {}
    for record in records:
        by_doc.setdefault(record.get("doc_id", ""), []).append(record)
    for group in by_doc.values():
        previous = ""
        for record in sorted(group, key=lambda r: r["id"]):
            record["context"] = previous
            previous = record["text"]
    return records


def load_training_data(labels: str | Path, *, include_written: bool = True) -> list[Record]:
    records = load_labelled(labels, include_written=include_written)
    for record in records:
        record.setdefault("doc_id", record["id"].rsplit(":", 1)[0])
    return add_context(records)


def data_hash(records: list[Record]) -> str:
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r["id"]):
        digest.update(json.dumps([record["id"], record["text"], record["stance"], sorted(record.get("targets", [])),
                                  record.get("origin", "gold")], ensure_ascii=False).encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# augmentation


def role_swaps(records: list[Record], lexicon: Lexicon, *, seed: int, per_record: int = 1) -> list[Record]:
    """Copies of blame/defend sentences with one named actor swapped for another role.

    A sentence whose single target is named by a lexicon alias gets that mention replaced by
    an alias of a different target, and its label changed to match. This teaches the target
    head that the role, not the rest of the sentence, decides the target.
    """
    rng = random.Random(seed)
    swaps: list[Record] = []
    # Plain multi-word or distinctive aliases read naturally in place of another.
    replacements = {t: [a for a in lexicon.aliases.get(t, []) if not a.endswith("*") and len(a) > 3] for t in TARGETS}
    for record in records:
        targets = record.get("targets", [])
        if record["stance"] == NEUTRAL or len(targets) != 1:
            continue
        mentions = lexicon.mentions(record["text"])
        named = [t for t in TARGETS if mentions[t]]
        if named != targets:
            continue
        start, end = mentions[targets[0]][0]
        others = [t for t in TARGETS if t != targets[0] and replacements[t]]
        for number, new_target in enumerate(rng.sample(others, min(per_record, len(others)))):
            alias = rng.choice(replacements[new_target])
            original = record["text"][start:end]
            if original[:1].isupper():
                alias = alias[:1].upper() + alias[1:]
            text = record["text"][:start] + alias + record["text"][end:]
            swap = {**{k: v for k, v in record.items() if not k.startswith("_")},  # no stale private counts
                    "id": f"{record['id']}:swap{number}", "text": text, "targets": [new_target],
                    "origin": "augmented"}
            if "actors" in record:
                # The document around it is unchanged; only the actor the sentence names is.
                actors = dict(record["actors"])
                actors["named"] = [new_target]
                actors["in_play"] = sorted({new_target, *actors.get("resolved", [])}, key=TARGETS.index)
                swap["actors"] = actors
            swaps.append(swap)
    return swaps


def annotate_actors(records: list[Record], settings: dict[str, Any] | None = None) -> list[Record]:
    """Give every record its document context (the actor tracker), in place."""
    from .actors.context import annotate_documents, tracker_from_settings

    return annotate_documents(records, tracker_from_settings(dict(settings or {})))


def training_set(records: list[Record], settings: dict[str, Any], seed: int) -> list[Record]:
    # Context first: role-swapped copies must not join (and disturb) their document's tracking.
    annotate_actors(records, settings)
    if not settings.get("augment", False):
        return records
    lexicon = Lexicon.load(settings.get("lexicon") or DEFAULT_LEXICON_PATH)
    return records + role_swaps(records, lexicon, seed=seed)


# ---------------------------------------------------------------------------------------------

TRAIN_OPTIONS = ("augment", "lexicon", "gazetteer", "tune_thresholds")


def _split_settings(settings: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = dict(settings or {})
    training = {k: settings.pop(k) for k in TRAIN_OPTIONS if k in settings}
    for key in ("lexicon", "gazetteer"):
        if training.get(key):
            settings[key] = training[key]
    return training, settings


def fit_classifier(backend: str, records: list[Record], settings: dict[str, Any] | None = None, *,
                   seed: int = 0, progress: ProgressFn | None = None) -> Classifier:
    training, backend_settings = _split_settings(settings)
    classifier = get_backend(backend, **backend_settings)
    return classifier.fit(training_set(records, training, seed), seed=seed, progress=progress)


def fit_predict_fn(backend: str, settings: dict[str, Any] | None = None,
                   progress: ProgressFn | None = None,
                   engine_tally: dict[str, list[int]] | None = None,
                   ) -> Callable[[list[Record], list[Record], int], Probabilities]:
    """A function (train, test, seed) -> probabilities for test, as cross-validation needs.
    With ``engine_tally``, each fold's held-out sentences are also labelled by the faster
    inexact engines, counting agreement with fp32 (``runtimes.held_out_agreement``)."""

    def fit_predict(train: list[Record], test: list[Record], seed: int) -> Probabilities:
        classifier = fit_classifier(backend, train, settings, seed=seed, progress=progress)
        probs = classifier.predict_proba(test)
        if engine_tally is not None:
            from .runtimes import held_out_agreement

            held_out_agreement(classifier, test, probs, engine_tally)
        return probs

    return fit_predict


# ---------------------------------------------------------------------------------------------
# cross-validated summary numbers saved with the model


def cv_summary(gold: list[Record], decisions: list[tuple[str, list[str]]]) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, f1_score

    true_stance = [r["stance"] for r in gold]
    pred_stance = [d[0] for d in decisions]
    truth = target_matrix(gold)
    predicted = np.array([[1 if t in d[1] else 0 for t in TARGETS] for d in decisions]).reshape(truth.shape)
    matrix = confusion_matrix(true_stance, pred_stance, labels=list(STANCES))
    per_target = {}
    for j, target in enumerate(TARGETS):
        y, p = truth[:, j], predicted[:, j]
        per_target[target] = {
            "f1": float(f1_score(y, p, zero_division=0)),
            "support": int(y.sum()),
            "tpr": float((p[y == 1]).mean()) if y.sum() else None,
            "fpr": float((p[y == 0]).mean()) if (y == 0).sum() else None,
        }
    # Rates among blame sentences (what summarize adjusts: who is named, given blame).
    blamed = np.array([s == "blame" for s in true_stance]) & np.array([s == "blame" for s in pred_stance])
    target_rates = {}
    for j, target in enumerate(TARGETS):
        y, p = truth[blamed, j], predicted[blamed, j]
        target_rates[target] = {
            "tpr": float(p[y == 1].mean()) if (y == 1).sum() else 1.0,
            "fpr": float(p[y == 0].mean()) if (y == 0).sum() else 0.0,
        }
    return {
        "cv_scores": {
            "stance_macro_f1": float(f1_score(true_stance, pred_stance, labels=list(STANCES), average="macro",
                                              zero_division=0)),
            "stance_accuracy": float(np.mean([a == b for a, b in zip(true_stance, pred_stance, strict=True)])),
            "target_micro_f1": float(f1_score(truth.ravel(), predicted.ravel(), zero_division=0)),
            "per_target": per_target,
            "n_sentences": len(gold),
            "n_documents": len({r["doc_id"] for r in gold}),
        },
        "cv_confusion": {
            "stance": {"labels": list(STANCES), "matrix": matrix.tolist()},
            "targets": target_rates,
        },
    }


def held_out_summary(scored: list[Record], decisions: list[tuple[str, list[str]]],
                     folds: list) -> dict[str, Any]:
    """cv_summary on the gold sentences (``cv_scores``), and apart on the written documents
    (``cv_written``): written text is never scored as gold."""
    parts: dict[str, Any] = {}
    for key, want_gold in (("gold", True), ("written", False)):
        index = [i for i, r in enumerate(scored) if (r.get("origin", "gold") == "gold") == want_gold]
        if index:
            parts[key] = cv_summary([scored[i] for i in index], [decisions[i] for i in index])
    summary: dict[str, Any] = dict(parts.get("gold") or parts["written"])
    if "written" in parts:
        summary["cv_written"] = parts["written"]["cv_scores"]
    summary["cv_folds"] = [{"name": f.name, "documents": len(f.test_docs), "sentences": len(f.test_index)}
                           for f in folds]
    return summary


def calibration_summary(oof: Probabilities, gold: list[Record], folds: list) -> dict[str, Any]:
    """Stance ECE of the out-of-fold scores before and after (cross-fitted) temperature scaling."""
    from .evaluation.metrics import expected_calibration_error

    truth = [STANCES.index(r["stance"]) for r in gold]
    calibrated = cross_fitted_calibration(oof, gold, folds)
    return {"ece_uncalibrated": expected_calibration_error(oof.stance, truth),
            "ece": expected_calibration_error(calibrated.stance, truth)}


def _fold_names(summary: dict[str, Any]) -> str:
    folds = summary.get("cv_folds") or []
    named = [f"{f['name']} ({f['documents']} docs)" for f in folds if f.get("name")]
    return ", ".join(named) if named else f"{len(folds)} groups of documents"


def model_card(backend: str, config: dict[str, Any], summary: dict[str, Any] | None, training: dict[str, Any]) -> str:
    lines = [f"# `{backend}` model", "",
             "Labels each sentence with a stance (blame / defend / neutral) and the targets blamed or",
             "defended (councillors, managers, social_workers, inspectors, government).", "",
             "## Training", "",
             f"- gold sentences: {training['n_gold']} from {training['n_gold_documents']} documents; "
             f"written examples: {training['n_written']}; augmented copies in the final fit: {training['n_augmented']}",
             f"- data hash: `{training['data_hash']}`; seed {training['seed']}; "
             f"training time {training['seconds']:.0f} s",
             f"- settings: `{json.dumps(config, sort_keys=True)}`", ""]
    if summary:
        scores = summary["cv_scores"]
        written = summary.get("cv_written")
        held_out = "Whole sources held out" if training.get("cv_scheme") == "held-out sources" else \
            "Whole documents held out"
        lines += ["## Held-out scores", "",
                  f"{held_out} ({training['cv_folds']} folds: {_fold_names(summary)}); short written groups",
                  "and augmented copies only ever in training folds; target thresholds "
                  f"{'tuned on the other folds only' if training.get('tune_thresholds') else 'fixed at 0.5'}.",
                  "Gold (real pages, labelled by two annotators) and written documents (text we wrote,",
                  "labelled in two passes) are scored apart: written text is never counted as gold.", "",
                  "| metric | gold seeds | written documents (not gold) |", "|---|---|---|"]

        def cell(part, key):
            return f"{part[key]:.3f}" if part and part.get(key) is not None else "-"

        for key, label in (("stance_macro_f1", "stance macro-F1"), ("stance_accuracy", "stance accuracy"),
                           ("target_micro_f1", "target micro-F1")):
            lines.append(f"| {label} | {cell(scores, key)} | {cell(written, key)} |")
        for target in TARGETS:
            gold_t = scores["per_target"].get(target, {})
            written_t = (written or {}).get("per_target", {}).get(target, {})
            lines.append(f"| F1 {target} (support {gold_t.get('support', 0)} / {written_t.get('support', 0)}) | "
                         f"{cell(gold_t, 'f1')} | {cell(written_t, 'f1')} |")
        calibration = summary.get("cv_calibration")
        if calibration and calibration.get("ece") is not None:
            lines += [f"| stance ECE (all held-out), before / after temperature scaling | "
                      f"{calibration['ece_uncalibrated']:.3f} / {calibration['ece']:.3f} | |",
                      f"| stance temperature (scores are scaled by it; labels unchanged) | "
                      f"{training['stance_temperature']:g} | |"]
        lines += ["", "The seeds are five small blogs and the written documents are ours; expect different",
                  "numbers on other sources, and check a sample of your own (`pipeline sample`, `review`).", ""]
    else:
        lines += ["Cross-validation was skipped (`--no-cv`); no scores were measured.", ""]
    lines += ["## Limits", "",
              "Trained on a handful of UK blog posts plus hand-written examples; check a sample of",
              "predictions on your own documents (`pipeline review`) before publishing counts.", ""]
    return "\n".join(lines)


def score_held_out(oof: Probabilities, scored: list[Record], folds: list, *, label: str, say: ProgressFn,
                   tune: bool = False, calibrate: bool = True) -> tuple[dict[str, Any], dict | None, float]:
    """From out-of-fold probabilities: the held-out summary (gold and written apart, printed),
    thresholds tuned on the other folds (if ``tune``) and the stance temperature."""
    decisions = cross_validated_decisions(oof, scored, folds, tune=tune)
    summary = held_out_summary(scored, decisions, folds)
    thresholds = tune_thresholds(oof, scored) if tune else None
    temperature = 1.0
    if calibrate:
        temperature = fit_temperature(oof.stance, [r["stance"] for r in scored])
        summary["cv_calibration"] = calibration_summary(oof, scored, folds)
    for part, scores in (("gold", summary.get("cv_scores")), ("written", summary.get("cv_written"))):
        if scores:
            say(f"{label}: held-out {part} stance macro-F1 {scores['stance_macro_f1']:.3f}, "
                f"target micro-F1 {scores['target_micro_f1']:.3f}")
    return summary, thresholds, temperature


def train_model(
    backend: str,
    labels: str | Path,
    output: str | Path,
    *,
    settings: dict[str, Any] | None = None,
    seed: int = 0,
    cross_validate: bool = True,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    started = time.time()
    say = progress or (lambda _message: None)
    check_model_output(output)  # a bad -o fails now, not after hours of training
    records = load_training_data(labels)
    gold, _ = split_gold(records)
    scored, extra, folds = scored_and_folds(records, seed=seed) if cross_validate else ([], records, [])
    say(f"{backend}: {len(gold)} gold sentences from {len({r['doc_id'] for r in gold})} documents, "
        f"{len(records) - len(gold)} written examples")
    summary, oof = None, None
    thresholds, temperature = None, 1.0
    engine_tally: dict[str, list[int]] = {}
    if cross_validate and len({r["doc_id"] for r in scored}) >= 2:
        annotate_actors(records, _split_settings(settings)[0])
        oof = out_of_fold(scored, extra, folds, fit_predict_fn(backend, settings, progress, engine_tally), seed=seed,
                          progress=say, label=backend)
        # Thresholds tuned on held-out folds did worse than a plain 0.5 on held-out sources
        # (README, scores), so tuning is opt-in.
        tune = bool(_split_settings(settings)[0].get("tune_thresholds", False))
        summary, thresholds, temperature = score_held_out(oof, scored, folds, label=backend, say=say, tune=tune,
                                                          calibrate=get_backend(backend).calibrates)
    say(f"{backend}: fitting the final model on all {len(records)} sentences")
    training_options, _ = _split_settings(settings)
    final_records = training_set(records, training_options, seed)
    classifier = fit_classifier(backend, records, settings, seed=seed, progress=say)
    if thresholds:
        classifier.thresholds = thresholds
    classifier.stance_temperature = temperature
    if "cv_calibration" in (summary or {}):
        say(f"{backend}: stance temperature {temperature:g} (fitted on the out-of-fold scores)")
    training = {
        "seed": seed,
        "labels": str(labels),
        "data_hash": data_hash(records),
        "n_gold": len(gold),
        "n_gold_documents": len({r["doc_id"] for r in gold}),
        "n_written": len(extra),
        "n_augmented": len(final_records) - len(records),
        "augment": training_options.get("augment", False),
        "cv_folds": len(folds),
        "tune_thresholds": bool(training_options.get("tune_thresholds", False)),
        "cv_scheme": "held-out sources" if any(f.name for f in folds) else "held-out documents",
        "stance_temperature": temperature,
        "seconds": round(time.time() - started, 1),
        "history": getattr(classifier, "history", None),
    }
    if engine_tally:
        from .runtimes import agreement_summary

        training["engine_agreement"] = agreement_summary(engine_tally)
        for name, entry in training["engine_agreement"].items():
            say(f"{backend}: {name} gave fp32's stance on {entry['stance_agreement']:.2%} of "
                f"{entry['sentences']} held-out sentences")
    extra_json = {}
    if oof is not None:
        extra_json["crossval.json"] = {
            "data_hash": training["data_hash"],
            "ids": [r["id"] for r in scored],
            "doc_ids": [r["doc_id"] for r in scored],
            "origins": [r.get("origin", "gold") for r in scored],
            "folds": [list(f.test_docs) for f in folds],
            "stance_probs": oof.stance.round(6).tolist(),
            "target_probs": oof.targets.round(6).tolist(),
        }
    card = model_card(backend, classifier.settings, summary, training)
    save_model(classifier, output, training=training, cv=summary, extra_json=extra_json, card=card)
    say(f"{backend}: saved {output} in {time.time() - started:.0f} s")
    return {"training": training, **(summary or {})}


__all__ = ["decide", "fit_classifier", "fit_predict_fn", "load_training_data", "train_model", "data_hash"]
