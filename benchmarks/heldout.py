"""Held-out-source and held-out-genre scores for backends and options (choosing defaults).

    .venv/bin/python benchmarks/heldout.py --labels labels --backends tfidf,embed \\
        --configs default,no-actors,augment [--scheme source|genre]

``source``: the folds of `pipeline train` (seeds, written batch 1, written batch 2 held out in
turn). ``genre``: written documents held out two genres at a time (seeds and the other genres
train). Gold and written scores are printed apart; written text is never scored as gold.
Thresholds: tuned on the other folds ("tuned") and plain 0.5 ("0.5") are both shown.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.evaluation.crossval import (  # noqa: E402
    Fold,
    cross_validated_decisions,
    out_of_fold,
    scored_and_folds,
)
from pipeline.train import cv_summary, fit_predict_fn, load_training_data  # noqa: E402

CONFIGS = {
    "default": {},
    "no-actors": {"actor_features": False},
    "augment": {"augment": True},
    "context": {"context": True},
    "actor-stance": {"actor_stance": True},
}


def genre_folds(records, seed: int = 0):
    scored, extra, _ = scored_and_folds(records, seed=seed)
    written = [r for r in scored if r.get("register") and r.get("batch")]
    gold_train = [r for r in scored if not (r.get("register") and r.get("batch"))]
    genres = sorted({r["register"] for r in written})
    groups = [genres[i::5] for i in range(5)]
    of = np.array([r["register"] for r in written])
    folds = []
    for group in groups:
        mask = np.isin(of, group)
        docs = tuple(sorted({r["doc_id"] for r, m in zip(written, mask, strict=True) if m}))
        folds.append(Fold(docs, np.flatnonzero(~mask), np.flatnonzero(mask), "+".join(group)))
    return written, extra + gold_train, folds


def _is_gold(record) -> bool:
    return record.get("origin", "gold") == "gold"


def score(scored, decisions, keep):
    index = [i for i, r in enumerate(scored) if keep(r, i)]
    if not index:
        return None
    s = cv_summary([scored[i] for i in index], [decisions[i] for i in index])["cv_scores"]
    return {"stance": round(s["stance_macro_f1"], 3), "targets": round(s["target_micro_f1"], 3),
            **{t: round(v["f1"], 2) for t, v in s["per_target"].items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", default="labels")
    parser.add_argument("--backends", default="tfidf")
    parser.add_argument("--configs", default="default,no-actors")
    parser.add_argument("--scheme", default="source", choices=["source", "genre"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--save-probs", help="also save the out-of-fold probabilities (npz; one file per run, "
                        "named PATH-BACKEND-CONFIG.npz) with the scored sentence ids")
    parser.add_argument("--folds", help="hold out only these folds (names, comma-separated), e.g. written-batch3")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting on top of every config (value read as JSON if it parses), e.g. epochs=2")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = json.loads(value)
        except ValueError:
            overrides[key] = value
    records = load_training_data(args.labels)
    if args.scheme == "source":
        scored, extra, folds = scored_and_folds(records, seed=args.seed)
    else:
        scored, extra, folds = genre_folds(records, args.seed)
    if args.folds:
        folds = [f for f in folds if f.name in args.folds.split(",")]
        if not folds:
            parser.error(f"no fold named {args.folds}")
    held = set(np.concatenate([f.test_index for f in folds]).tolist())
    print(f"{args.scheme}: {len(scored)} scored sentences, {len(extra)} training-only, folds: "
          f"{', '.join(f.name or str(len(f.test_docs)) for f in folds)}")
    results = []
    for backend in args.backends.split(","):
        for config in args.configs.split(","):
            started = time.time()
            settings = {**CONFIGS[config], **overrides}
            oof = out_of_fold(scored, extra, folds, fit_predict_fn(backend, settings), seed=args.seed)
            if args.save_probs:
                np.savez_compressed(f"{args.save_probs}-{backend}-{config}.npz", stance=oof.stance,
                                    targets=oof.targets, ids=np.array([r["id"] for r in scored]),
                                    held=np.array(sorted(held)))
            for thresholds, tune in (("tuned", True), ("0.5", False)):
                decisions = cross_validated_decisions(oof, scored, folds, tune=tune)
                row = {"backend": backend, "config": config, "thresholds": thresholds,
                       "settings": overrides,
                       "gold": score(scored, decisions, lambda r, i: i in held and _is_gold(r)),
                       "written": score(scored, decisions, lambda r, i: i in held and not _is_gold(r)),
                       "seconds": round(time.time() - started)}
                results.append(row)
                print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
