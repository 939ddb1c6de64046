"""Which int8 recipe keeps predictions closest to fp32, at what speed: out-of-fold on the seeds.

Usage (2 CPU cores; about 10 minutes, most of it fine-tuning one model per seed document):

    .venv/bin/python benchmarks/int8_variants.py --model models/transformer [--sentences 2000]

Fits the leave-one-document-out fold models once (the folds and settings of ``pipeline
train``), then for each recipe below rebuilds the int8 encoder of every fold model and
predicts the held-out document. Prints, per recipe: out-of-fold stance agreement with fp32
(the honest figure: these sentences were not trained on), cross-validated stance macro-F1
and target micro-F1 (thresholds tuned as in training), and int8 speed on N resampled seed
sentences as a ratio to fp32. ``pipeline.encoder.inference_copy`` uses the recipe this
script picks; ``benchmarks/predict_speed.py`` measures it against the reference.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from predict_speed import benchmark_records, say  # noqa: E402

from pipeline import encoder  # noqa: E402
from pipeline.encoder import set_threads  # noqa: E402
from pipeline.modelio import read_config  # noqa: E402

KEPT_NOW = encoder.FFN_OUTPUT.pattern
# name -> (Linear layers kept in fp32 (regex), smoothing alpha or None for no smoothing)
RECIPES = {
    "every Linear int8, no smoothing": (r"(?!)", None),
    "FFN output fp32, no smoothing": (KEPT_NOW, None),
    "FFN output fp32, smoothing 0.5 (current)": (KEPT_NOW, 0.5),
    "FFN output fp32, smoothing 0.3": (KEPT_NOW, 0.3),
    "FFN output fp32, smoothing 0.7": (KEPT_NOW, 0.7),
    "FFN + attention output fp32, smoothing 0.5": (r"\.output\.dense$|\.ffn\.lin2$|\.mlp\.fc2$", 0.5),
    "FFN output + last layer fp32, smoothing 0.5": (KEPT_NOW + r"|layer\.5\.", 0.5),
    "FFN output + first layer fp32, smoothing 0.5": (KEPT_NOW + r"|layer\.0\.", 0.5),
}


def use_recipe(kept: str, alpha: float | None) -> None:
    encoder.FFN_OUTPUT = re.compile(kept)
    encoder.SMOOTHING_ALPHA = alpha if alpha is not None else 0.5
    encoder._input_maxima = ORIGINAL_MAXIMA if alpha is not None else (lambda *_args: {})


ORIGINAL_MAXIMA = encoder._input_maxima


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--labels", type=Path, default=ROOT / "labels")
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    parser.add_argument("--sentences", type=int, default=2000)
    args = parser.parse_args(argv)
    set_threads()

    from pipeline.classifiers.base import Probabilities
    from pipeline.evaluation.crossval import cross_validated_decisions, make_folds, out_of_fold, split_gold
    from pipeline.train import cv_summary, fit_classifier, load_training_data

    config = read_config(args.model)
    settings = {**config.get("settings", {}), "quantize": False,
                "augment": config.get("training", {}).get("augment", True)}
    seed = config.get("training", {}).get("seed", 0)
    gold, extra = split_gold(load_training_data(args.labels))
    folds = make_folds(gold, seed=seed)
    fold_models = []

    def fit_predict(train, test, fold_seed):
        fold_models.append(fit_classifier("transformer", train, settings, seed=fold_seed))
        return fold_models[-1].predict_proba(test)

    fp32 = out_of_fold(gold, extra, folds, fit_predict, seed=seed, progress=say, label="fit")
    records = benchmark_records(args.seeds, args.sentences)
    speed_model = fold_models[0]
    speed_model.predict_proba(records[:64])
    started = time.perf_counter()
    speed_model.predict_proba(records)
    fp32_seconds = time.perf_counter() - started

    def scores(probs):
        return cv_summary(gold, cross_validated_decisions(probs, gold, folds, tune=True))["cv_scores"]

    base = scores(fp32)
    print(f"\nfp32: stance macro-F1 {base['stance_macro_f1']:.3f}, target micro-F1 {base['target_micro_f1']:.3f}, "
          f"{args.sentences / fp32_seconds:.0f} sent/s")
    print(f"{'recipe':<46} {'oof agree':>9} {'flips':>5} {'d stance':>8} {'d target':>8} {'x fp32':>6}")
    for name, (kept, alpha) in RECIPES.items():
        use_recipe(kept, alpha)
        stance, targets = np.zeros_like(fp32.stance), np.zeros_like(fp32.targets)
        for model, fold in zip(fold_models, folds, strict=True):
            model.settings["quantize"] = True
            model._inference = None  # the cached int8 copy was built with the previous recipe
            probs = model.predict_proba([gold[i] for i in fold.test_index])
            stance[fold.test_index], targets[fold.test_index] = probs.stance, probs.targets
        int8 = scores(Probabilities(stance, targets))
        flips = int((stance.argmax(1) != fp32.stance.argmax(1)).sum())
        speed_model.predict_proba(records[:64])
        started = time.perf_counter()
        speed_model.predict_proba(records)
        ratio = fp32_seconds / (time.perf_counter() - started)
        print(f"{name:<46} {1 - flips / len(gold):>9.2%} {flips:>5} "
              f"{100 * (int8['stance_macro_f1'] - base['stance_macro_f1']):>+8.1f} "
              f"{100 * (int8['target_micro_f1'] - base['target_micro_f1']):>+8.1f} {ratio:>6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
