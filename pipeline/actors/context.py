"""Document context for records: run the tracker per document, and turn it into features.

``annotate_documents`` gives every record an ``actors`` field (the tracker's output as a
dict) by running the tracker over each document's records in reading order. Train, predict
and evaluate all go through it, so a model sees the same context everywhere. Records that
already carry ``actors`` keep them.

``actor_features`` turns one record's ``actors`` into a fixed-length vector for the learned
backends: per target, whether it is named, reached through a reference, in the previous two
sentences, in the most recent sentence with actors, in the title, its share of the
document's mentions, whether it is in play, and whether it is carried into a sentence that
names nobody; then whether the sentence names anyone,
resolves any reference, or has no actor of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..lexicon import Lexicon
from ..records import TARGETS, Record
from .gazetteer import Gazetteer
from .tracker import ActorContext, ActorTracker

CHANNELS = ("named", "resolved", "previous", "recent", "title", "main", "in_play", "carried")


def ordinal(record: Record) -> tuple[int, str]:
    """Reading order inside a document: the number after the last colon of the id."""
    record_id = str(record.get("id", ""))
    tail = record_id.rsplit(":", 1)[-1]
    found = re.match(r"\d+", tail)
    return (int(found.group(0)) if found else 0, record_id)


def by_document(records: Iterable[Record]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = {}
    for record in records:
        doc_id = record.get("doc_id") or str(record.get("id", "")).rsplit(":", 1)[0]
        groups.setdefault(doc_id, []).append(record)
    return groups


def annotate_documents(records: list[Record], tracker: ActorTracker, *, sort: bool = True) -> list[Record]:
    """Give every record without ``actors`` its document context (in place; returns records).

    ``sort`` orders each document's records by the ordinal in their id (labelled files may be
    in any order); predict passes sort=False because a stream is already in reading order.
    """
    for group in by_document(records).values():
        if all("actors" in r for r in group):
            continue
        ordered = sorted(group, key=ordinal) if sort else group
        for record, context in zip(ordered, tracker.track(ordered), strict=True):
            record.setdefault("actors", context.to_dict())
    return records


def annotate_stream(records: Iterable[Record], tracker: ActorTracker) -> Iterator[Record]:
    """Streaming version: buffers one document (consecutive records with the same doc_id)."""
    buffer: list[Record] = []
    current = None
    for record in records:
        doc_id = record.get("doc_id")
        if buffer and doc_id != current:
            yield from annotate_documents(buffer, tracker, sort=False)
            buffer = []
        current = doc_id
        buffer.append(record)
    if buffer:
        yield from annotate_documents(buffer, tracker, sort=False)


def feature_names() -> list[str]:
    return [f"{channel}_{t}" for channel in CHANNELS for t in TARGETS] + ["names_any", "resolves_any", "no_own_actor"]


def actor_features(actors: dict[str, Any] | None) -> list[float]:
    context = ActorContext.from_dict(actors or {})
    own = bool(context.named or context.resolved)
    values: list[float] = []
    for channel in CHANNELS:
        # "carried": the actors in play for a sentence that names nobody itself (the crude
        # rule that alone lifts targets on real pages), so a linear head can use it apart.
        source = "in_play" if channel == "carried" else channel
        chosen = [] if channel == "carried" and own else getattr(context, source)
        if channel == "main":
            values += [float(chosen.get(t, 0.0)) for t in TARGETS]
        else:
            values += [1.0 if t in chosen else 0.0 for t in TARGETS]
    values += [1.0 if context.named else 0.0, 1.0 if context.resolved else 0.0,
               0.0 if (context.named or context.resolved) else 1.0]
    return values


def feature_matrix(records: list[Record]) -> np.ndarray:
    return np.array([actor_features(r.get("actors")) for r in records], dtype=np.float64).reshape(
        len(records), len(feature_names()))


def tracker_from_settings(settings: dict[str, Any]) -> ActorTracker:
    """The tracker a backend's settings describe (lexicon and gazetteer as saved, else the files)."""
    if settings.get("lexicon_data"):
        lexicon = Lexicon.from_dict(settings["lexicon_data"])
    else:
        lexicon = Lexicon.load(settings.get("lexicon") or None)
    if settings.get("gazetteer_data") is not None:
        gazetteer = Gazetteer.from_dict(settings["gazetteer_data"])
    else:
        gazetteer = Gazetteer.load(settings.get("gazetteer") or None)
    return ActorTracker(lexicon, gazetteer)


def save_tracker(folder: Path, tracker: ActorTracker | None) -> list[str]:
    """The tracker's gazetteer (and lexicon, unless the backend saved it) into a model folder."""
    if tracker is None:
        return []
    (folder / "gazetteer.json").write_text(json.dumps(tracker.gazetteer.to_dict()), encoding="utf-8")
    names = ["gazetteer.json"]
    if not (folder / "lexicon.json").exists():
        (folder / "lexicon.json").write_text(json.dumps(tracker.lexicon.to_dict()), encoding="utf-8")
        names.append("lexicon.json")
    return names


def load_tracker(folder: Path, settings: dict[str, Any]) -> ActorTracker | None:
    """The tracker saved in a model folder (None for models without actor features)."""
    if not settings.get("actor_features"):
        return None
    read = lambda name: json.loads((folder / name).read_text(encoding="utf-8"))  # noqa: E731
    return ActorTracker(Lexicon.from_dict(read("lexicon.json")), Gazetteer.from_dict(read("gazetteer.json")))
