"""Reading prediction files (what summarize counts) and labelled samples (`--gold`).

JSONL is read through records.read_jsonl; this module checks what summarize needs and reduces
records to arrays.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..records import STANCES, TARGETS, label_problems, read_jsonl, text_hash
from .counting import N_TARGETS

UNDATED = "(undated)"
NO_AUTHOR = "(no author)"
SAMPLE_UNITS = ("doc", "sentence")


_MONTH_ONLY = re.compile(r"^(\d{4})-(\d{2})$")


def month_of(timestamp: Any) -> str | None:
    """'YYYY-MM' of an ISO timestamp ('2008-12-10T18:22', '2008-12-10', '2008-12').

    None when it does not parse (segmenting leaves dates it could not read as they were).
    """
    if not isinstance(timestamp, str):
        return None
    text = timestamp.strip()
    match = _MONTH_ONLY.match(text)
    if match:
        year, month = int(match.group(1)), int(match.group(2))
        return f"{year:04d}-{month:02d}" if 1 <= month <= 12 else None
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return f"{parsed.year:04d}-{parsed.month:02d}"


def section_of(record: dict[str, Any]) -> str:
    """'post' or 'comment': a title belongs to the post."""
    section = record.get("section") or "post"
    return "post" if section == "title" else str(section)


def author_of(record: dict[str, Any]) -> str:
    author = record.get("author")
    if not isinstance(author, str) or not author.strip():
        return NO_AUTHOR
    return " ".join(author.split())  # non-breaking and repeated spaces become one space


@dataclass
class Predictions:
    """Non-boilerplate prediction records, reduced to what counting needs."""

    source: str
    n_records: int
    n_boilerplate: int
    doc_ids: list[str]  # sorted; doc holds indices into this
    doc: np.ndarray  # (n,)
    stance: np.ndarray  # (n,) indices into STANCES
    targets: np.ndarray  # (n, len(TARGETS)) 0/1
    keys: dict[str, list[str]]  # dimension -> group key per sentence
    models: Counter
    n_predicted_fields: int = 0  # sentences whose labels came from predicted_stance / predicted_targets
    ids: list[str | None] = field(default_factory=list)  # record id per sentence, to match labelled samples
    text_hashes: list[str | None] = field(default_factory=list)
    boilerplate_ids: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.stance)


def label_fields(record: dict[str, Any]) -> tuple[str, str]:
    """The (stance, targets) field names holding the model's labels.

    `pipeline predict` on an input that already carries (human) labels keeps them and writes the
    model's as predicted_stance / predicted_targets: summarize counts the model's.
    """
    if "predicted_stance" in record:
        return "predicted_stance", "predicted_targets"
    return "stance", "targets"


def record_problems(record: dict[str, Any]) -> list[str]:
    problems = []
    stance_field, targets_field = label_fields(record)
    if stance_field not in record:
        problems.append("record has no 'stance' (summarize reads the output of `pipeline predict`)")
    elif record[stance_field] not in STANCES:
        problems.append(f"unknown {stance_field} {record[stance_field]!r} (allowed: {', '.join(STANCES)})")
    if not isinstance(record.get("doc_id"), str) or not record["doc_id"]:
        problems.append("missing or mistyped field 'doc_id'")
    targets = record.get(targets_field, [])
    if not isinstance(targets, list):
        problems.append(f"field {targets_field!r} must be a list")
    else:
        unknown = [t for t in targets if t not in TARGETS]
        if unknown:
            problems.append(f"unknown target {unknown[0]!r} (allowed: {', '.join(TARGETS)})")
    if record.get("boilerplate") not in (None, True, False):
        problems.append("field 'boilerplate' must be true or false")
    return problems


def read_predictions(path: str | Path) -> Predictions:
    """Read and check a prediction file; raise InputError naming file:line on the first problem."""
    n_records = 0
    n_boilerplate = 0
    n_predicted_fields = 0
    doc_of: list[str] = []
    stance: list[int] = []
    targets: list[list[int]] = []
    keys: dict[str, list[str]] = {"section": [], "author": [], "month": []}
    models: Counter = Counter()
    first_line: dict[str, int] = {}
    ids: list[str | None] = []
    text_hashes: list[str | None] = []
    boilerplate_ids: set[str] = set()
    for line_no, record in read_jsonl(path):
        n_records += 1
        problems = record_problems(record)
        if problems:
            raise InputError(path, "; ".join(problems), line_no)
        record_id = record.get("id")
        if isinstance(record_id, str):
            # The same prediction twice (two runs concatenated) would be counted twice.
            if record_id in first_line:
                raise InputError(path, f"duplicate id {record_id!r} (first on line {first_line[record_id]})",
                                 line_no)
            first_line[record_id] = line_no
        if record.get("boilerplate"):
            n_boilerplate += 1
            if isinstance(record_id, str):
                boilerplate_ids.add(record_id)
            continue
        model = record.get("model")
        if isinstance(model, dict):
            models[(str(model.get("name", "?")), str(model.get("hash", "?")))] += 1
        doc_of.append(record["doc_id"])
        stance_field, targets_field = label_fields(record)
        n_predicted_fields += stance_field != "stance"
        stance.append(STANCES.index(record[stance_field]))
        chosen = set(record.get(targets_field) or [])
        targets.append([1 if t in chosen else 0 for t in TARGETS])
        keys["section"].append(section_of(record))
        keys["author"].append(author_of(record))
        keys["month"].append(month_of(record.get("timestamp")) or UNDATED)
        ids.append(record_id if isinstance(record_id, str) else None)
        text = record.get("text")
        text_hashes.append(text_hash(text) if isinstance(text, str) else None)
    if n_records == 0:
        raise InputError(path, "no prediction records (the file is empty)")
    if not stance:
        raise InputError(path, f"no non-boilerplate records to summarize (all {n_records} are boilerplate)")
    doc_ids = sorted(set(doc_of))
    index = {d: i for i, d in enumerate(doc_ids)}
    keys["doc"] = list(doc_of)
    return Predictions(
        source=str(path),
        n_records=n_records,
        n_boilerplate=n_boilerplate,
        doc_ids=doc_ids,
        doc=np.array([index[d] for d in doc_of], dtype=int),
        stance=np.array(stance, dtype=int),
        targets=np.array(targets, dtype=int).reshape(len(stance), N_TARGETS),
        keys=keys,
        models=models,
        n_predicted_fields=n_predicted_fields,
        ids=ids,
        text_hashes=text_hashes,
        boilerplate_ids=boilerplate_ids,
    )


# ---------------------------------------------------------------------------------------------
# labelled samples (`pipeline sample`, labelled with `pipeline review`)


def population_fingerprint(ids: list[str], unit: str) -> str:
    """Short hash of the units a sample is drawn from (sorted document or sentence ids)."""
    digest = hashlib.sha256()
    for unit_id in sorted(set(ids)):
        digest.update(unit_id.encode("utf-8") + b"\n")
    return f"{unit}:{digest.hexdigest()[:16]}"


def predictions_fingerprint(predictions: Predictions, unit: str) -> str:
    if unit == "doc":
        return population_fingerprint(predictions.doc_ids, unit)
    return population_fingerprint([i for i in predictions.ids if i is not None], unit)


def is_reviewed(record: dict[str, Any]) -> bool | None:
    """True when the record carries a human label to use, False when it was touched but not
    signed off in `pipeline review` (status "edited"), None when it has no label."""
    if "stance" not in record:
        return None
    # accepted in review, or labels from elsewhere (an import, a gold file): no status at all
    return record.get("review_status") in (None, "accepted")


@dataclass
class GoldSample:
    """Human labels on a random sample of the predicted corpus, matched to the predictions."""

    source: str
    unit: str  # "doc" or "sentence"
    index: np.ndarray  # (m,) indices into the Predictions arrays of the labelled sentences
    stance: np.ndarray  # (m,) true stance indices
    targets: np.ndarray  # (m, len(TARGETS)) true targets
    labelled_docs: np.ndarray  # (n_docs,) bool: documents with labelled sentences used
    n_records: int = 0
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.stance)

    @property
    def n_docs(self) -> int:
        return int(self.labelled_docs.sum())


def _sample_unit(path: str | Path, line_no: int, record: dict[str, Any], seen: dict[str, Any]) -> None:
    meta = record.get("sample")
    if meta is None:
        return
    if not isinstance(meta, dict) or meta.get("unit") not in SAMPLE_UNITS:
        raise InputError(path, f"field 'sample' must be an object with unit {' or '.join(SAMPLE_UNITS)}", line_no)
    described = (meta.get("unit"), meta.get("population"), meta.get("seed"))
    if "described" not in seen:
        seen["described"] = described
        seen["meta"] = meta
    elif seen["described"] != described:
        raise InputError(path, "records come from different samples (unit, population or seed differ); "
                               "summarize one sample at a time", line_no)


def read_gold(path: str | Path, predictions: Predictions, unit: str | None = None) -> GoldSample:
    """Read a labelled sample and match it to the predictions by sentence id.

    Every record must be a sentence of the predictions (same id, same text). A record counts as
    labelled when it has a stance and was accepted in `pipeline review` (or carries no review
    status at all: labels imported or written elsewhere). The sampling unit comes from the
    records' "sample" field (written by `pipeline sample`), else `unit`, else documents. With
    document units a document counts only when all its sentences are labelled: a half-reviewed
    document is not a random sample of sentences.
    """
    index_of = {sentence_id: i for i, sentence_id in enumerate(predictions.ids) if sentence_id is not None}
    if not index_of:
        raise InputError(predictions.source, "prediction records have no 'id', so labels cannot be matched to them")
    seen: dict[str, Any] = {}
    first_line: dict[str, int] = {}
    chosen: list[int] = []
    stance: list[int] = []
    targets: list[list[int]] = []
    n_records = n_unlabelled = n_not_accepted = n_boilerplate = 0
    for line_no, record in read_jsonl(path):
        n_records += 1
        record_id = record.get("id")
        if not isinstance(record_id, str) or not record_id:
            raise InputError(path, "missing or mistyped field 'id'", line_no)
        if record_id in first_line:
            raise InputError(path, f"duplicate id {record_id!r} (first on line {first_line[record_id]})", line_no)
        first_line[record_id] = line_no
        _sample_unit(path, line_no, record, seen)
        if record_id in predictions.boilerplate_ids:
            n_boilerplate += 1  # never counted, so its label does not matter
            continue
        if record_id not in index_of:
            raise InputError(path, f"sentence {record_id!r} is not in the predictions {predictions.source}", line_no)
        i = index_of[record_id]
        text = record.get("text")
        if isinstance(text, str) and predictions.text_hashes[i] not in (None, text_hash(text)):
            raise InputError(path, f"the text of {record_id!r} differs from the predictions' sentence", line_no)
        reviewed = is_reviewed(record)
        if reviewed and "review_status" not in record and "model" in record and "predicted_stance" not in record:
            # `pipeline predict` output: its stance is the model's, not a person's.
            raise InputError(path, "this looks like a model prediction, not a human label (it has 'model' and "
                                   "no review status): label a sample from `pipeline sample` with `pipeline review`",
                             line_no)
        if reviewed is None:
            n_unlabelled += 1
            continue
        if not reviewed:
            n_not_accepted += 1
            continue
        problems = label_problems(record)
        if problems:
            raise InputError(path, "; ".join(problems), line_no)
        chosen.append(i)
        stance.append(STANCES.index(record["stance"]))
        labelled = set(record.get("targets") or [])
        targets.append([1 if t in labelled else 0 for t in TARGETS])
    if n_records == 0:
        raise InputError(path, "no records (the file is empty)")
    meta = seen.get("meta")
    if meta is not None:
        unit = meta["unit"]
    unit = unit or "doc"
    if unit not in SAMPLE_UNITS:
        raise InputError(path, f"unknown sampling unit {unit!r} (allowed: {', '.join(SAMPLE_UNITS)})")
    notes: list[str] = []
    if meta is None:
        notes.append(f"{path} does not say how it was drawn (no 'sample' field, as `pipeline sample` writes): "
                     f"it is taken to be a random sample of {'whole documents' if unit == 'doc' else 'sentences'}")
    elif meta.get("population") and meta["population"] != predictions_fingerprint(predictions, unit):
        notes.append(f"Warning: the sample in {path} was drawn from another set of "
                     f"{'documents' if unit == 'doc' else 'sentences'} than these predictions; the estimate "
                     "assumes it is a random sample of these")
    if n_not_accepted:
        notes.append(f"{n_not_accepted} sentence(s) were edited in review but not accepted: left out "
                     "(accept them with `a` in `pipeline review`)")
    if n_unlabelled:
        notes.append(f"{n_unlabelled} sentence(s) of the sample have no label yet: left out")
    index = np.array(chosen, dtype=int)
    stance_array = np.array(stance, dtype=int)
    target_array = np.array(targets, dtype=int).reshape(len(stance), N_TARGETS)
    n_docs = len(predictions.doc_ids)
    labelled_docs = np.zeros(n_docs, dtype=bool)
    if len(index):
        labelled_docs[np.unique(predictions.doc[index])] = True
    if unit == "doc" and len(index):
        per_doc = np.bincount(predictions.doc, minlength=n_docs)
        done = np.bincount(predictions.doc[index], minlength=n_docs)
        partial = labelled_docs & (done < per_doc)
        if partial.any():
            names = ", ".join(predictions.doc_ids[d] for d in np.flatnonzero(partial)[:5])
            notes.append(f"{int(partial.sum())} document(s) are only partly labelled and are left out "
                         f"(a document counts when all its sentences are): {names}")
            keep = ~partial[predictions.doc[index]]
            index, stance_array, target_array = index[keep], stance_array[keep], target_array[keep]
            labelled_docs &= ~partial
    if not len(index):
        raise InputError(path, "no labelled sentences to use yet: label the sample with `pipeline review` "
                               "(every sentence of a document, then accept it)")
    return GoldSample(str(path), unit, index, stance_array, target_array, labelled_docs, n_records, notes)
