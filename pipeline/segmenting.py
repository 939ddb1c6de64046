"""Orchestration for `pipeline segment`: documents in, sentence JSONL out (streaming)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .documents import Document, read_documents
from .errors import InputError
from .records import Record, check_output_path, write_jsonl
from .segment import segment_document


def sentences_of(documents: Iterable[Document]) -> Iterator[Record]:
    for document in documents:
        yield from segment_document(document.doc_id, document.text)


def segment_paths(inputs: list[str], output: str) -> tuple[int, int]:
    """Segment every document named by inputs into output; returns (documents, sentences)."""
    check_output_path(output, inputs)
    seen_ids: set[str] = set()
    counts = {"documents": 0}

    def counted() -> Iterator[Document]:
        for document in read_documents(inputs):
            if document.doc_id in seen_ids:
                raise InputError(document.source, f"duplicate document id {document.doc_id!r}")
            seen_ids.add(document.doc_id)
            counts["documents"] += 1
            yield document

    written = write_jsonl(output, sentences_of(counted()), inputs)
    return counts["documents"], written


def segments_by_id(folder) -> dict[str, Record]:
    """Segment every document in a folder; map sentence id to record (for label checks)."""
    return {record["id"]: record for record in sentences_of(read_documents([folder]))}
