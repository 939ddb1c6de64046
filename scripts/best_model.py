"""Print the model folder with the best cross-validated scores (stance macro-F1 + target micro-F1).

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
            scores = read_config(candidate).get("cv_scores")
        except PipelineError:
            continue
        if not scores:
            continue
        score = scores["stance_macro_f1"] + scores["target_micro_f1"]
        if score > best_score:
            best, best_score = candidate, score
    if best is None:
        sys.exit(f"{folder}: no cross-validated model folders")
    print(best)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "models")
