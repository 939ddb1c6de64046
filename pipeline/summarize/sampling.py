"""`pipeline sample`: a reproducible random sample of the user's own predictions, to label.

The sample is drawn without replacement from whole documents (default: annotators read a page
as a whole, and PPI then works with documents as units) or from sentences, among the
non-boilerplate sentences summarize counts. Records come out in the order they were drawn
(documents in draw order, each in its own sentence order), so labelling only the first k
documents still leaves a random sample of k.

Each record keeps its fields but loses its labels, so nothing is pre-filled, and gains a
"sample" field saying how it was drawn; `summarize --gold` reads it. By default the sample is
blind: the model's labels and scores are left out too, because a reviewer who sees them tends
to agree with them, and PPI corrects only the errors the human labels reveal. `show_model`
keeps them (as predicted_stance / predicted_targets and scores) for `review --order` modes.
summarize takes the model's labels from the prediction file, never from the sample.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..records import check_output_path, read_jsonl, write_jsonl
from .reading import SAMPLE_UNITS, label_fields, population_fingerprint, record_problems

REVIEW_FIELDS = ("reviewed_by", "reviewed_at", "review_status")
MODEL_FIELDS = ("predicted_stance", "predicted_targets", "scores", "model")


def _population(path: str | Path) -> tuple[list[str], list[str]]:
    """Document ids and sentence ids of the non-boilerplate records, in file order."""
    doc_ids: list[str] = []
    sentence_ids: list[str] = []
    seen: dict[str, int] = {}
    for line_no, record in read_jsonl(path):
        problems = record_problems(record)
        if not isinstance(record.get("id"), str) or not record["id"]:
            problems.append("missing or mistyped field 'id' (a sample is matched to predictions by id)")
        if problems:
            raise InputError(path, "; ".join(problems), line_no)
        if record["id"] in seen:
            raise InputError(path, f"duplicate id {record['id']!r} (first on line {seen[record['id']]})", line_no)
        seen[record["id"]] = line_no
        if record.get("boilerplate"):
            continue
        doc_ids.append(record["doc_id"])
        sentence_ids.append(record["id"])
    if not seen:
        raise InputError(path, "no prediction records (the file is empty)")
    if not sentence_ids:
        raise InputError(path, "no non-boilerplate records to sample")
    return doc_ids, sentence_ids


def sample_record(record: dict[str, Any], meta: dict[str, Any], show_model: bool = False) -> dict[str, Any]:
    """The record to label: no labels, how it was drawn, and the model's labels only if show_model."""
    out = dict(record)
    stance_field, targets_field = label_fields(record)
    predicted = record[stance_field], list(record.get(targets_field) or [])
    for name in ("stance", "targets", *REVIEW_FIELDS, *MODEL_FIELDS):
        out.pop(name, None)
    if show_model:
        out["predicted_stance"], out["predicted_targets"] = predicted
        for name in ("scores", "model"):
            if name in record:
                out[name] = record[name]
    out["sample"] = meta
    return out


def draw_sample(
    path: str | Path, size: int, unit: str = "doc", seed: int = 0, *, show_model: bool = False
) -> list[dict[str, Any]]:
    """The sampled records, in draw order (see the module docstring)."""
    if unit not in SAMPLE_UNITS:
        raise InputError(path, f"unknown sampling unit {unit!r} (allowed: {', '.join(SAMPLE_UNITS)})")
    if size < 1:
        raise InputError(path, "the sample size must be at least 1")
    doc_ids, sentence_ids = _population(path)
    population = sorted(set(doc_ids)) if unit == "doc" else sorted(sentence_ids)
    noun = "documents" if unit == "doc" else "sentences"
    if size > len(population):
        raise InputError(path, f"asked for {size} {noun} but the predictions hold only {len(population)}")
    drawn = np.random.default_rng(seed).choice(len(population), size=size, replace=False)
    rank = {population[i]: r for r, i in enumerate(drawn)}
    meta = {"unit": unit, "seed": seed, "size": size, "population_size": len(population),
            "population": population_fingerprint(population, unit), "source": Path(str(path)).name}
    chosen: list[tuple[int, int, dict[str, Any]]] = []
    position = 0
    for _, record in read_jsonl(path):
        if record.get("boilerplate"):
            continue
        key = record["doc_id"] if unit == "doc" else record["id"]
        if key in rank:
            record = sample_record(record, {**meta, "rank": rank[key] + 1}, show_model)
            chosen.append((rank[key], position, record))
        position += 1
    chosen.sort(key=lambda item: item[:2])
    return [record for _, _, record in chosen]


def write_sample(
    path: str | Path, size: int, output: str | Path, unit: str = "doc", seed: int = 0, *, show_model: bool = False
) -> int:
    """Draw the sample and write it atomically to output; returns the number of sentences."""
    check_output_path(output, [path])  # before reading, so a typo in -o fails at once
    return write_jsonl(output, draw_sample(path, size, unit, seed, show_model=show_model), inputs=[path])
