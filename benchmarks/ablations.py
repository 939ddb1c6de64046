"""Measure what each generalisation choice buys, in leave-one-document-out cross-validation.

For each configuration the same document folds are used; only gold seed sentences are ever
scored. A second column scores transfer to the written examples: models trained on gold
plus the other written groups, tested on held-out written groups (5 grouped folds). Written
text is ours, not gold, so that column is a check on the rare classes, not a headline.

    .venv/bin/python benchmarks/ablations.py --backends tfidf,transformer
"""

from __future__ import annotations

import argparse
import json

from pipeline.evaluation.crossval import cross_validated_decisions, make_folds, out_of_fold, split_gold
from pipeline.train import cv_summary, fit_predict_fn, load_training_data

CONFIGS = {
    "tfidf": [
        ("gold only", {"augment": False, "lexicon_features": False}, False),
        ("+ written", {"augment": False, "lexicon_features": False}, True),
        ("+ written + lexicon features", {"augment": False}, True),
        ("+ written + lexicon + role swaps", {"augment": True}, True),
    ],
    "embed": [
        ("+ written + lexicon + role swaps", {"augment": True}, True),
    ],
    "transformer": [
        ("gold only", {"augment": False}, False),
        ("+ written", {"augment": False}, True),
        ("+ written + role swaps", {"augment": True}, True),
        ("+ written + role swaps + context", {"augment": True, "context": True}, True),
        ("+ written + role swaps, lowest 2 layers frozen", {"augment": True, "freeze_layers": 2}, True),
    ],
}


def score(records, settings, backend, seed, written_check):
    gold, extra = split_gold(records)
    folds = make_folds(gold, seed=seed)
    oof = out_of_fold(gold, extra, folds, fit_predict_fn(backend, settings), seed=seed)
    summary = cv_summary(gold, cross_validated_decisions(oof, gold, folds))["cv_scores"]
    result = {"stance_macro_f1": summary["stance_macro_f1"], "target_micro_f1": summary["target_micro_f1"]}
    if written_check and extra:
        # Treat written groups as the documents to hold out; gold stays in every training fold.
        relabelled = [dict(r, origin="gold") for r in extra]
        folds_w = make_folds(relabelled, seed=seed, n_folds=5)
        oof_w = out_of_fold(relabelled, gold, folds_w, fit_predict_fn(backend, settings), seed=seed)
        written = cv_summary(relabelled, cross_validated_decisions(oof_w, relabelled, folds_w))["cv_scores"]
        result.update(
            written_stance_macro_f1=written["stance_macro_f1"], written_target_micro_f1=written["target_micro_f1"]
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--labels", default="labels")
    parser.add_argument("--backends", default="tfidf")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--configs", default=None, help="comma-separated configuration numbers to run (1-based)")
    parser.add_argument("--no-written-check", action="store_true", help="skip the written-groups column (faster)")
    args = parser.parse_args()
    everything = load_training_data(args.labels)
    gold_only = [r for r in everything if r.get("origin", "gold") == "gold"]
    rows = []
    print("| backend | configuration | stance macro-F1 | target micro-F1 | written: stance | written: target |")
    print("|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        chosen = [int(c) for c in args.configs.split(",")] if args.configs else None
        for number, (name, settings, with_written) in enumerate(CONFIGS[backend], start=1):
            if chosen and number not in chosen:
                continue
            records = everything if with_written else gold_only
            check = with_written and not args.no_written_check
            result = score([dict(r) for r in records], settings, backend, args.seed, check)
            rows.append({"backend": backend, "configuration": name, **result})
            w1 = result.get("written_stance_macro_f1")
            w2 = result.get("written_target_micro_f1")
            print(
                f"| {backend} | {name} | {result['stance_macro_f1']:.3f} | {result['target_micro_f1']:.3f} | "
                f"{'' if w1 is None else f'{w1:.3f}'} | {'' if w2 is None else f'{w2:.3f}'} |",
                flush=True,
            )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
