"""Cutting the inputs of a distributed run into shards of whole documents, and labelling one.

A shard is a list of parts, each a slice of one input file (a byte range of a JSONL file, a
row range of a Parquet file, or a whole document file), of about ``shard_size`` sentences.
Shards are cut only between documents, because a document's context is read from its earlier
sentences (predict.annotate_context), so labelling the shards one by one, anywhere, gives the
records local predict gives, in the same order. Plans are plain JSON so a manifest can keep
them and a rerun can resume where the last one stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..classifiers.base import Classifier
from ..documents import Document, documents_from_records, expand_paths, read_document_file
from ..errors import InputError, PipelineError
from ..parquet_records import is_parquet, parquet_has_column, read_parquet
from ..predict import CHUNK, annotate_context, checked_sentences, document_sentences, is_sentence_input, label_chunk
from ..records import Record, read_jsonl_spans

SHARD_SIZE = 5_000
# Planning cannot count the sentences of a document before segmenting it; blog and comment
# sentences average about 105 characters (README, Performance), so size document shards by text.
CHARS_PER_SENTENCE = 110


@dataclass
class _Planner:
    shard_size: int
    shards: list[list[dict[str, Any]]] = field(default_factory=lambda: [[]])
    size: float = 0.0  # estimated sentences in the open shard
    # doc_id -> shard holding it, to refuse a document whose sentences are not together.
    doc_shard: dict[str, int] = field(default_factory=dict)

    def add(self, part: dict[str, Any], size: float) -> None:
        self.shards[-1].append(part)
        self.size += size

    def full(self) -> bool:
        return self.size >= self.shard_size

    def cut(self) -> None:
        if self.shards[-1]:
            self.shards.append([])
            self.size = 0.0

    def check_document(self, doc_id: str, path: str, line: int) -> None:
        where = self.doc_shard.setdefault(doc_id, len(self.shards) - 1)
        if where != len(self.shards) - 1:
            raise InputError(path, f"document {doc_id!r} continues here after other documents; a sharded run "
                             "needs each document's sentences together (sort by doc_id, or use --engine local)", line)


def plan_shards(inputs: list[str], *, input_format: str = "auto", shard_size: int = SHARD_SIZE) -> list[dict]:
    """The shards of a run, in input order: [{"index": i, "parts": [...], "sentences": n}, ...].

    Reads every input once (sentence files are parsed and checked here, so a bad line is
    reported before any work is sent out); holds only one id per document in memory.
    """
    planner = _Planner(shard_size)
    for path in expand_paths(inputs):
        if path == "-":
            raise PipelineError("a sharded run cannot read stdin ('-'); give it files")
        path = str(Path(path).resolve())
        if is_sentence_input(path, input_format):
            (_plan_parquet_sentences if is_parquet(path) else _plan_jsonl_sentences)(planner, path)
        elif Path(path).suffix.lower() == ".jsonl":
            _plan_jsonl_documents(planner, path)
        elif is_parquet(path):
            _plan_parquet_documents(planner, path)
        else:
            planner.add({"kind": "document-file", "path": path}, os.path.getsize(path) / CHARS_PER_SENTENCE)
            if planner.full():
                planner.cut()
    shards = [parts for parts in planner.shards if parts]
    if not shards:
        raise InputError(inputs[0] if inputs else "-", "no sentences in the input")
    return [{"index": i, "parts": parts} for i, parts in enumerate(shards)]


def _plan_jsonl_sentences(planner: _Planner, path: str) -> None:
    part: dict[str, Any] | None = None
    previous_doc, previous_offset = None, -1
    for (line_no, record), offset in _with_offsets(path):
        list(checked_sentences(path, [(line_no, record)]))
        doc_id = record["doc_id"]
        # Cut only between documents and at the start of a physical line.
        if part is not None and doc_id != previous_doc and planner.full() and offset != previous_offset:
            part["stop"] = offset
            planner.cut()
            part = None
        if part is None:
            part = {"kind": "sentences-jsonl", "path": path, "start": offset, "first_line": line_no}
            planner.add(part, 0)
        planner.check_document(doc_id, path, line_no)
        planner.size += 1
        previous_doc, previous_offset = doc_id, offset
    if part is not None:
        part["stop"] = None


def _with_offsets(path: str) -> Iterator[tuple[tuple[int, Record], int]]:
    for line_no, offset, record in read_jsonl_spans(path):
        yield (line_no, record), offset


def _plan_jsonl_documents(planner: _Planner, path: str) -> None:
    part: dict[str, Any] | None = None
    previous_offset = -1
    for (line_no, record), offset in _with_offsets(path):
        document = next(documents_from_records([(line_no, record)], path))
        if part is not None and planner.full() and offset != previous_offset:
            part["stop"] = offset
            planner.cut()
            part = None
        if part is None:
            part = {"kind": "documents-jsonl", "path": path, "start": offset, "first_line": line_no}
            planner.add(part, 0)
        planner.size += len(document.text) / CHARS_PER_SENTENCE
        previous_offset = offset
    if part is not None:
        part["stop"] = None


def _plan_parquet_sentences(planner: _Planner, path: str) -> None:
    if not parquet_has_column(path, "doc_id"):
        raise InputError(path, "missing or mistyped field 'doc_id' (no such column)")
    part: dict[str, Any] | None = None
    previous_doc = None
    for row_no, record in read_parquet(path, columns=["doc_id"]):
        doc_id = record.get("doc_id")
        if not isinstance(doc_id, str):
            raise InputError(path, "missing or mistyped field 'doc_id'", row_no)
        if part is not None and doc_id != previous_doc and planner.full():
            part["stop"] = row_no - 1
            planner.cut()
            part = None
        if part is None:
            part = {"kind": "sentences-parquet", "path": path, "start": row_no - 1}
            planner.add(part, 0)
        planner.check_document(doc_id, path, row_no)
        planner.size += 1
        previous_doc = doc_id
    if part is not None:
        part["stop"] = None


def _plan_parquet_documents(planner: _Planner, path: str) -> None:
    if not parquet_has_column(path, "text"):
        raise InputError(path, 'a document row needs "id" and "text" fields (no "text" column)')
    part: dict[str, Any] | None = None
    for row_no, record in read_parquet(path, columns=["text"]):
        if part is not None and planner.full():
            part["stop"] = row_no - 1
            planner.cut()
            part = None
        if part is None:
            part = {"kind": "documents-parquet", "path": path, "start": row_no - 1}
            planner.add(part, 0)
        text = record.get("text")
        planner.size += (len(text) if isinstance(text, str) else 0) / CHARS_PER_SENTENCE
    if part is not None:
        part["stop"] = None


# ---------------------------------------------------------------------------------------------
# labelling one shard (runs on a worker)


def shard_sentences(shard: dict) -> Iterator[Record]:
    """The sentence records of a shard, in input order, segmenting documents on the way."""
    for part in shard["parts"]:
        kind, path = part["kind"], part["path"]
        if kind == "sentences-jsonl":
            rows = read_jsonl_spans(path, start=part["start"], stop=part["stop"], first_line=part["first_line"])
            records = checked_sentences(path, ((line, record) for line, _, record in rows))
        elif kind == "sentences-parquet":
            records = checked_sentences(path, read_parquet(path, start=part["start"], stop=part["stop"]))
        elif kind == "documents-jsonl":
            rows = read_jsonl_spans(path, start=part["start"], stop=part["stop"], first_line=part["first_line"])
            records = document_sentences(documents_from_records(((line, r) for line, _, r in rows), path))
        elif kind == "documents-parquet":
            rows = read_parquet(path, start=part["start"], stop=part["stop"])
            records = document_sentences(documents_from_records(rows, path))
        elif kind == "document-file":
            records = document_sentences(_documents(Path(path)))
        else:
            raise PipelineError(f"unknown shard part {kind!r}")
        for _, record in records:
            yield record


def _documents(path: Path) -> Iterator[Document]:
    yield from read_document_file(path)


def label_shard(classifier: Classifier, shard: dict, chunk: int = CHUNK) -> list[Record]:
    """Label one shard exactly as local predict labels the same sentences."""
    out: list[Record] = []
    pending: list[Record] = []
    for record in annotate_context(shard_sentences(shard), classifier):
        pending.append(record)
        if len(pending) >= chunk:
            out.extend(label_chunk(classifier, pending))
            pending = []
    if pending:
        out.extend(label_chunk(classifier, pending))
    return out

