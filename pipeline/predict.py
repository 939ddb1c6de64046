"""`pipeline predict`: stream documents or sentence JSONL through a model.

Memory does not grow with the input: records are read, scored and written in chunks.
Output goes to ``OUT.partial`` first and is renamed to OUT when complete, so a killed run
never leaves a half-written OUT; ``resume=True`` keeps the complete records of a previous
``.partial`` and carries on after them, giving the same file an uninterrupted run gives.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .classifiers.base import Classifier, ProgressFn, decide
from .documents import Document, expand_paths, read_documents
from .errors import InputError, PipelineError
from .modelio import load_model
from .parquet_records import PARQUET_SUFFIX, ParquetRecordWriter, first_parquet_record, is_parquet, read_parquet
from .records import (
    STANCES,
    TARGETS,
    Record,
    check_output_path,
    dumps,
    read_jsonl,
    segment_problems,
)
from .segment import segment_document

# Sentences read, scored and written per chunk. The transformer sorts each chunk by token
# count before batching, so a larger chunk means less padding: 1024 cuts the padded tokens of
# blog sentences from 1.40x to 1.09x the real ones (256 -> 1024); memory stays constant.
CHUNK = 1024


def _is_sentence_file(path: Path) -> bool:
    """A .jsonl or .parquet file of sentence records (from `segment`) rather than documents."""
    if is_parquet(path):
        first = first_parquet_record(path)
        return first is not None and ("doc_id" in first or "start" in first)
    for _, record in read_jsonl(path):
        return "doc_id" in record or "start" in record
    return False


def is_sentence_input(path: Path | str, input_format: str = "auto") -> bool:
    """Whether an input file holds sentence records (else documents to segment)."""
    return input_format == "sentences" or (
        input_format == "auto" and path != "-" and Path(path).suffix.lower() in (".jsonl", PARQUET_SUFFIX)
        and _is_sentence_file(Path(path))
    )


def checked_sentences(path: Path | str, rows: Iterable[tuple[int, Record]]) -> Iterator[tuple[str, Record]]:
    """(source, record) for sentence records read from a file, refusing ones predict cannot use."""
    for line_no, record in rows:
        problems = [p for p in segment_problems(record) if "start" not in p and "end" not in p
                    and "length" not in p]
        if problems:
            raise InputError(path, "; ".join(problems), line_no)
        yield f"{path}:{line_no}", record


def document_sentences(documents: Iterable[Document]) -> Iterator[tuple[str, Record]]:
    for document in documents:
        for record in segment_document(document.doc_id, document.text):
            yield document.source, record


def input_records(inputs: list[str], input_format: str = "auto") -> Iterator[tuple[str, Record]]:
    """(source, record) for every sentence in the inputs, segmenting documents on the way."""
    for path in expand_paths(inputs):
        if is_sentence_input(path, input_format):
            rows = read_parquet(path) if is_parquet(path) else read_jsonl(path)
            yield from checked_sentences(path, rows)
        else:
            yield from document_sentences(read_documents([path]))


def annotate_context(records: Iterable[Record], classifier: Classifier | None = None) -> Iterator[Record]:
    """Add the document context a model reads (derived fields).

    Records arrive in document order; a document's records must never be split between
    workers or calls, because its context is read from the whole document. ``context`` (the
    previous sentence) is dropped again on output; ``actors`` (the actor tracker's view of the
    sentence, when the model uses it) stays, so a reader can see why a target was chosen.
    """
    tracker = getattr(classifier, "tracker", None)
    stream = _previous_sentence(records)
    if tracker is None:
        return stream
    from .actors.context import annotate_stream

    return annotate_stream(stream, tracker)


def _previous_sentence(records: Iterable[Record]) -> Iterator[Record]:
    previous: dict[str, str] = {}
    for record in records:
        doc = record.get("doc_id", "")
        if "context" not in record:
            record["context"] = previous.get(doc, "")
            record["_added_context"] = True
        if not record.get("boilerplate"):
            previous[doc] = record["text"]
        yield record


def _chunks(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def label_chunk(classifier: Classifier, chunk: list[Record]) -> list[Record]:
    probs = classifier.predict_scores(chunk)
    out = []
    # Rounded once per chunk in numpy: per-value round(float(p), 4) was a tenth of tfidf's time.
    stance_rows = np.round(probs.stance, 4).tolist()
    target_rows = np.round(probs.targets, 4).tolist()
    for record, (stance, targets), stance_row, target_row in zip(
        chunk, decide(probs, classifier.thresholds), stance_rows, target_rows, strict=True
    ):
        record = dict(record)
        if record.pop("_added_context", False):
            del record["context"]
        for private in [key for key in record if key.startswith("_")]:
            del record[private]
        if record.get("boilerplate"):
            stance, targets = "neutral", []
        # An input that already carries labels keeps them; the model's go beside them.
        prefix = "predicted_" if "stance" in record else ""
        record[f"{prefix}stance"] = stance
        record[f"{prefix}targets"] = targets
        record["scores"] = {
            "stance": dict(zip(STANCES, stance_row, strict=True)),
            "targets": dict(zip(TARGETS, target_row, strict=True)),
        }
        record["model"] = classifier.model_info
        out.append(record)
    return out


def _complete_lines(partial: Path) -> tuple[int, bytes]:
    """Keep only whole lines of an interrupted run; return how many there are and the last one.

    Streams the file in blocks, so a large .partial is not read into memory.
    """
    if not partial.exists():
        return 0, b""
    count, offset, line_start, last = 0, 0, 0, (0, 0)
    with open(partial, "r+b") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            end = block.rfind(b"\n")
            if end >= 0:
                count += block.count(b"\n")
                before = block.rfind(b"\n", 0, end)
                last = (offset + before + 1 if before >= 0 else line_start, offset + end)
                line_start = offset + end + 1
            offset += len(block)
        if line_start != offset:
            handle.truncate(line_start)
        handle.seek(last[0])
        return count, handle.read(last[1] - last[0])


def _resume_point(partial: Path, last_line: bytes, model_hash: str) -> str:
    """The id of the last complete record of a .partial, after checking this model wrote it."""
    try:
        last = json.loads(last_line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        last = None
    if not isinstance(last, dict) or not isinstance(last.get("model"), dict):
        raise InputError(partial, "last record is not a prediction; remove the file or rerun without --resume")
    if last["model"].get("hash") != model_hash:
        raise InputError(partial, "was written by another model; remove it or rerun without --resume")
    return str(last.get("id"))


def predict_paths(
    inputs: list[str],
    model_dir: str | Path,
    output: str,
    *,
    input_format: str = "auto",
    resume: bool = False,
    batch: int = CHUNK,
    quantize: bool | None = None,
    engine: str | None = None,
    progress: ProgressFn | None = None,
) -> int:
    """Label ``inputs`` into ``output``. ``engine`` (transformer models): an engine of
    ``pipeline.runtimes`` or "auto"; ``quantize`` True / False is the older spelling of
    torch-int8 / torch-fp32."""
    # The files a folder expands to count as inputs too (`predict docs/ -o docs/out.jsonl`).
    check_output_path(output, [*inputs, *expand_paths(inputs)])
    classifier = load_model(model_dir)
    if "engine" in classifier.settings:
        if quantize is not None:
            engine = engine or ("torch-int8" if quantize else "torch-fp32")
        if engine:
            classifier.settings["engine"] = engine
        chosen = classifier.engine(progress)  # built before any output, so a missing engine fails early
        if progress:
            progress(f"runtime: {chosen.name} ({chosen.why})")
    records = annotate_context((record for _, record in input_records(inputs, input_format)), classifier)
    if output == "-":
        import sys

        count = 0
        for chunk in _chunks(records, batch):
            for record in label_chunk(classifier, chunk):
                sys.stdout.write(dumps(record) + "\n")
                count += 1
        if count == 0:
            raise InputError(inputs[0] if inputs else "-", "no sentences in the input")
        return count

    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    if is_parquet(target):
        if resume:
            raise PipelineError(f"{target}: --resume needs JSONL output (a Parquet file is only readable once "
                                "complete); use --engine ray for resumable Parquet shards")
        return _predict_parquet(partial, target, records, classifier, batch, inputs, progress)
    done, last_line = _complete_lines(partial) if resume else (0, b"")
    last_id = _resume_point(partial, last_line, classifier.model_info["hash"]) if done else None
    if progress and done:
        progress(f"resuming after {done} complete record(s)")
    count = 0
    mode = "a" if done else "w"
    try:
        count = _predict_into(partial, mode, records, classifier, batch, done, last_id, progress)
    except Exception:
        if not done:  # a fresh run that failed (bad input line...): leave nothing behind
            partial.unlink(missing_ok=True)
        raise
    if count == 0:
        partial.unlink(missing_ok=True)
        raise InputError(inputs[0] if inputs else "-", "no sentences in the input")
    if count < done:
        raise InputError(partial, f"holds {done} records but the input has only {count}; rerun without --resume")
    os.replace(partial, target)
    return count


def _predict_into(partial: Path, mode: str, records: Iterable[Record], classifier: Classifier, batch: int,
                  done: int, last_id: str | None, progress: ProgressFn | None) -> int:
    count = 0
    with open(partial, mode, encoding="utf-8", newline="\n") as handle:
        pending: list[Record] = []

        def flush() -> None:
            for record in label_chunk(classifier, pending):
                handle.write(dumps(record) + "\n")
            handle.flush()
            pending.clear()

        for record in records:
            count += 1
            if count <= done:
                if count == done and str(record.get("id")) != last_id:
                    raise InputError(partial, f"record {done} is {last_id!r} but the input's is "
                                     f"{record.get('id')!r}: the input changed; rerun without --resume")
                continue
            pending.append(record)
            if len(pending) >= batch:
                flush()
                if progress:
                    progress(f"predicted {count} sentences")
        if pending:
            flush()
        os.fsync(handle.fileno())
    return count


def _predict_parquet(partial: Path, target: Path, records: Iterable[Record], classifier: Classifier, batch: int,
                     inputs: list[str], progress: ProgressFn | None) -> int:
    """Parquet output: written to OUT.partial in row groups and renamed when complete."""
    try:
        with open(partial, "wb") as handle:
            with ParquetRecordWriter(handle) as writer:
                for chunk in _chunks(records, batch):
                    for record in label_chunk(classifier, chunk):
                        writer.write(record)
                    if progress:
                        progress(f"predicted {writer.count} sentences")
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if writer.count == 0:
        partial.unlink(missing_ok=True)
        raise InputError(inputs[0] if inputs else "-", "no sentences in the input")
    os.replace(partial, target)
    return writer.count
