"""Print the model folder with the best held-out scores (stance macro-F1 + target micro-F1).

With held-out sources the score averages the held-out gold seeds and the held-out written
documents (each batch written by other writers about other cases than the training data),
weighted by their numbers of documents: 5 seed blogs are too few to choose by alone, and the
written documents' genres and targets are closer to the pages users analyse.

Reads only the config.json of each folder under the given directory.

    .venv/bin/python scripts/best_model.py models
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.errors import PipelineError
from pipeline.modelio import read_config


def main(folder: str) -> None:
    best, best_score = None, -1.0
    for candidate in sorted(Path(folder).iterdir()):
        try:
            config = read_config(candidate)
            scores = config.get("cv_scores")
        except PipelineError:
            continue
        if not scores:
            continue
        parts = [scores, *([config["cv_written"]] if config.get("cv_written") else [])]
        weights = [max(1, p.get("n_documents", 1)) for p in parts]
        totals = [p["stance_macro_f1"] + p["target_micro_f1"] for p in parts]
        score = sum(w * t for w, t in zip(weights, totals, strict=True)) / sum(weights)
        if score > best_score:
            best, best_score = candidate, score
    if best is None:
        sys.exit(f"{folder}: no cross-validated model folders")
    print(best)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models")
