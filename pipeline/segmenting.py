"""Orchestration for `pipeline segment`: documents in, sentence JSONL out (streaming)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .documents import Document, expand_paths, read_documents
from .errors import InputError
from .records import Record, check_output_path, write_jsonl
from .segment import segment_document


def sentences_of(documents: Iterable[Document]) -> Iterator[Record]:
    for document in documents:
        yield from segment_document(document.doc_id, document.text)


def segment_paths(inputs: list[str], output: str) -> tuple[int, int, list[str]]:
    """Segment every document named by inputs into output.

    Returns (documents, sentences, empty): the sources of documents with no sentences at all
    (empty or blank) are skipped and listed. An input with no sentences anywhere is an error,
    and no output is written.
    """
    # Check against the files a folder expands to as well: `segment docs/ -o docs/out.jsonl`
    # run twice must not read its own earlier output as a document and then replace it.
    check_output_path(output, [*inputs, *expand_paths(inputs)])
    seen_ids: set[str] = set()
    counts = {"documents": 0, "sentences": 0}
    empty: list[str] = []

    def sentences() -> Iterator[Record]:
        for document in read_documents(inputs):
            if document.doc_id in seen_ids:
                raise InputError(document.source, f"duplicate document id {document.doc_id!r}")
            seen_ids.add(document.doc_id)
            counts["documents"] += 1
            records = segment_document(document.doc_id, document.text)
            if not records:
                empty.append(document.source)
            counts["sentences"] += len(records)
            yield from records
        if not counts["sentences"]:
            # Raised inside the atomic write, so no empty output file is left behind.
            where = empty[0] if empty else (inputs[0] if inputs else "-")
            raise InputError(where, "no sentences to segment (the input is empty)")

    written = write_jsonl(output, sentences(), inputs)
    return counts["documents"], written, empty


def segments_by_id(folder) -> dict[str, Record]:
    """Segment every document in a folder; map sentence id to record (for label checks)."""
    return {record["id"]: record for record in sentences_of(read_documents([folder]))}
