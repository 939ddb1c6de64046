"""Build an ensemble model folder from model folders already trained on the same labels.

No training: the members' saved out-of-fold probabilities (crossval.json, written by
`pipeline train` on the same labels and held-out sources) are averaged with the ensemble's
weights, which scores the ensemble on held-out sources exactly as a trained model is scored
and fits its stance temperature; the member folders are copied into the new folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .classifiers.base import Probabilities, ProgressFn
from .classifiers.ensemble import EnsembleClassifier
from .errors import ModelError
from .modelio import check_model_output, load_model, save_model


def combine_models(members: list[str | Path], output: str | Path, *, labels: str | Path = "labels",
                   weights: list[float] | None = None, seed: int = 0,
                   progress: ProgressFn | None = None) -> dict[str, Any]:
    from .evaluation.crossval import scored_and_folds
    from .evaluation.run import saved_probabilities
    from .train import data_hash, load_training_data, model_card, score_held_out

    started = time.time()
    say = progress or (lambda _message: None)
    output = check_model_output(output)
    folders = [Path(m) for m in members]
    if len(folders) < 2:
        raise ModelError("an ensemble needs at least two model folders")
    if weights is not None and (len(weights) != len(folders) or min(weights) < 0 or sum(weights) <= 0):
        raise ModelError(f"--weights needs {len(folders)} non-negative numbers, not all zero")
    weights = [float(w) for w in weights] if weights is not None else [1.0] * len(folders)
    loaded = [load_model(folder) for folder in folders]
    names = [model.name for model in loaded]
    if len(set(names)) != len(names) or "ensemble" in names:
        raise ModelError(f"members must be different single backends, not {', '.join(names)}")

    records = load_training_data(labels)
    scored, _, folds = scored_and_folds(records, seed=seed)
    labels_hash = data_hash(records)
    parts = []
    for folder in folders:
        probs, reason = saved_probabilities(folder.parent, folder.name, scored, folds, labels_hash)
        if probs is None:
            raise ModelError(f"{folder}: {reason}; train it with `pipeline train` on {labels} first")
        parts.append(probs)
    total = sum(weights)
    oof = Probabilities(sum(w * p.stance for w, p in zip(weights, parts, strict=True)) / total,
                        sum(w * p.targets for w, p in zip(weights, parts, strict=True)) / total)
    summary, _, temperature = score_held_out(oof, scored, folds, label=f"ensemble of {' + '.join(names)}", say=say)

    settings = {"members": names, "weights": weights}
    if any("engine" in model.settings for model in loaded):
        settings["engine"] = "auto"
    ensemble = EnsembleClassifier(settings=settings)
    for folder, model in zip(folders, loaded, strict=True):
        model.__dict__["_source_folder"] = folder
    ensemble.__dict__["_members"] = loaded
    ensemble.stance_temperature = temperature
    gold = [r for r in records if r.get("origin", "gold") == "gold"]
    training = {
        "seed": seed, "labels": str(labels), "data_hash": labels_hash,
        "n_gold": len(gold), "n_gold_documents": len({r["doc_id"] for r in gold}),
        "n_written": len(records) - len(gold), "n_augmented": 0, "augment": False,
        "cv_folds": len(folds), "tune_thresholds": False,
        "cv_scheme": "held-out sources" if any(f.name for f in folds) else "held-out documents",
        "stance_temperature": temperature, "seconds": round(time.time() - started, 1),
        "members": {name: {"folder": str(folder), "model_hash": model.model_info.get("hash"), "weight": weight}
                    for name, folder, model, weight in zip(names, folders, loaded, weights, strict=True)},
    }
    crossval = {"data_hash": labels_hash, "ids": [r["id"] for r in scored], "doc_ids": [r["doc_id"] for r in scored],
                "origins": [r.get("origin", "gold") for r in scored], "folds": [list(f.test_docs) for f in folds],
                "stance_probs": oof.stance.round(6).tolist(), "target_probs": oof.targets.round(6).tolist()}
    card = model_card("ensemble", settings, summary, training)
    card += ("\n## Members\n\n" + "".join(f"- `{name}` (weight {weight:g}): copied from `{folder}`, model hash "
                                          f"`{model.model_info.get('hash')}`\n"
                                          for name, folder, model, weight in zip(names, folders, loaded, weights,
                                                                                 strict=True)))
    save_model(ensemble, output, training=training, cv=summary, extra_json={"crossval.json": crossval}, card=card)
    say(f"ensemble: saved {output} in {time.time() - started:.0f} s")
    return {"training": training, **summary}
