"""The record schema, the label vocabularies and all JSONL reading and writing.

The label lists below are the one source of truth: every other module derives its label
order, indices and validation from them. Nobody else opens JSONL files.

A sentence record is a plain dict so that fields this version does not know survive every
round trip (review, predict, import/export). Known fields:

    id, doc_id, start, end, text, section, comment_index, author, timestamp, boilerplate
    (segmentation)
    stance, targets, text_hash, origin, annotator, note   (labels)
    scores, model                                          (predictions)
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputError

STANCES: tuple[str, ...] = ("blame", "defend", "neutral")
TARGETS: tuple[str, ...] = ("councillors", "managers", "social_workers", "inspectors", "government")
SECTIONS: tuple[str, ...] = ("title", "post", "comment")
# origin of a label: gold is hand-labelled real text; written is text we wrote ourselves for
# rare classes (never counted as gold in evaluation); augmented is derived by role swapping.
ORIGINS: tuple[str, ...] = ("gold", "written", "augmented")
NEUTRAL = "neutral"

SEGMENT_FIELDS = (
    "id", "doc_id", "start", "end", "text", "section", "comment_index", "author",
    "timestamp", "boilerplate",
)

Record = dict[str, Any]


def text_hash(text: str) -> str:
    """Short stable hash of a sentence's text, used to catch labels that no longer align."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def sentence_id(doc_id: str, ordinal: int) -> str:
    return f"{doc_id}:{ordinal:04d}"


# ---------------------------------------------------------------------------------------------
# validation


def label_problems(record: Record) -> list[str]:
    """Problems with the label fields of one record (empty list when fine)."""
    problems = []
    stance = record.get("stance")
    targets = record.get("targets", [])
    if stance not in STANCES:
        problems.append(f"unknown stance {stance!r} (allowed: {', '.join(STANCES)})")
    if not isinstance(targets, list):
        problems.append("targets must be a list")
        return problems
    for target in targets:
        if target not in TARGETS:
            problems.append(f"unknown target {target!r} (allowed: {', '.join(TARGETS)})")
    known = [t for t in targets if isinstance(t, str)]  # a list or dict in targets is unhashable
    if len(set(known)) != len(known):
        problems.append("repeated target")
    if stance == NEUTRAL and targets:
        problems.append("neutral sentence with targets")
    origin = record.get("origin", "gold")
    if origin not in ORIGINS:
        problems.append(f"unknown origin {origin!r} (allowed: {', '.join(ORIGINS)})")
    return problems


def segment_problems(record: Record) -> list[str]:
    problems = []
    for field, kind in (("id", str), ("doc_id", str), ("text", str)):
        if not isinstance(record.get(field), kind):
            problems.append(f"missing or mistyped field {field!r}")
    for field in ("start", "end"):
        value = record.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            problems.append(f"missing or mistyped field {field!r}")
    if not problems and record["end"] - record["start"] != len(record["text"]):
        problems.append("end - start does not equal the length of text")
    section = record.get("section", "post")
    if section not in SECTIONS:
        problems.append(f"unknown section {section!r} (allowed: {', '.join(SECTIONS)})")
    return problems


def is_labelled(record: Record) -> bool:
    return "stance" in record


def stance_index(stance: str) -> int:
    return STANCES.index(stance)


def targets_vector(targets: Iterable[str]) -> list[int]:
    chosen = set(targets)
    return [1 if t in chosen else 0 for t in TARGETS]


# ---------------------------------------------------------------------------------------------
# JSONL reading and writing


def _open_bytes(path: str | Path):
    if str(path) == "-":
        return contextlib.nullcontext(getattr(sys.stdin, "buffer", sys.stdin))
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, expected a JSONL file")
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})") from None


def _text_lines(path: str | Path, handle, *, start: int = 0, stop: int | None = None,
                first_line: int = 1) -> Iterator[tuple[int, int, str]]:
    """(line number, byte offset of the physical line, text) of each line: strict UTF-8 decoded
    line by line, so an error names the right line; a byte-order mark is dropped; CRLF, LF and a
    lone CR all end a line. start/stop read only the lines beginning in that byte range (a shard
    of a large file, cut at line starts), numbered from first_line."""
    line_no, offset = first_line - 1, start
    if start:
        handle.seek(start)
    for raw in handle:
        if stop is not None and offset >= stop:
            break
        line_offset, offset = offset, offset + len(raw)
        if isinstance(raw, str):  # a text stream standing in for stdin
            raw = raw.encode("utf-8", "surrogateescape")
        if line_offset == 0 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8):]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(path, "not UTF-8 text", line_no + 1) from None
        text = text[:-1] if text.endswith("\n") else text
        text = text[:-1] if text.endswith("\r") else text
        for part in text.split("\r") if "\r" in text else (text,):
            line_no += 1
            yield line_no, line_offset, part


def read_jsonl(path: str | Path, *, skip_blank: bool = True) -> Iterator[tuple[int, Record]]:
    """Yield (line number, record) for each line; raise InputError naming file:line on bad JSON.

    Streams: never holds more than one line in memory.
    """
    for line_no, _, record in read_jsonl_spans(path, skip_blank=skip_blank):
        yield line_no, record


def read_jsonl_spans(path: str | Path, *, skip_blank: bool = True, start: int = 0, stop: int | None = None,
                     first_line: int = 1) -> Iterator[tuple[int, int, Record]]:
    """(line number, byte offset where its physical line starts, record): read_jsonl with the
    offsets a sharded run cuts a file at, and the byte range of one such shard."""
    with _open_bytes(path) as handle:
        for line_no, offset, line in _text_lines(path, handle, start=start, stop=stop, first_line=first_line):
            if not line.strip():
                if skip_blank:
                    continue
                raise InputError(path, "blank line", line_no)
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"not valid JSON ({exc.msg})", line_no) from None
            except RecursionError:
                raise InputError(path, "JSON nested too deeply", line_no) from None
            if not isinstance(record, dict):
                raise InputError(path, "expected a JSON object", line_no)
            if "\\u" in line and not _encodable(record):
                # "\ud800" is valid JSON but not text: it could never be written back as UTF-8.
                raise InputError(path, "contains an unpaired surrogate escape (\\ud800-\\udfff)", line_no)
            yield line_no, offset, record


def _encodable(record: Record) -> bool:
    try:
        dumps(record).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_records(path: str | Path) -> list[Record]:
    return [record for _, record in read_jsonl(path)]


def dumps(record: Record) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(", ", ": "))


@contextlib.contextmanager
def atomic_output(path: str | Path, inputs: Iterable[str | Path] = ()) -> Iterator[io.TextIOBase]:
    """Open a text file for writing that appears only when the block finishes without error.

    Writes to a temporary file in the same folder and renames it over the target, so a crash
    never leaves a half-written file. '-' writes to stdout. Refuses to overwrite an input.
    """
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(path)
    check_output_path(path, inputs)
    fd, tmp = _mkstemp_beside(path)
    with _replace_on_success(tmp, path), os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _mkstemp_beside(path: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(path, f"cannot write in {path.parent} ({exc.strerror})") from None


def _set_mode(tmp: str, target: Path) -> None:
    """mkstemp makes 0600 files; give the output the mode a plain open() would."""
    if target.exists():
        os.chmod(tmp, target.stat().st_mode & 0o777)
    else:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)


def check_output_path(path: str | Path, inputs: Iterable[str | Path] = ()) -> None:
    if str(path) == "-":
        return
    path = Path(path)
    if not path.parent.exists():
        raise InputError(path, f"output folder {path.parent} does not exist")
    if path.is_dir():
        raise InputError(path, "output path is a folder")
    resolved = path.resolve()
    for source in inputs:
        if str(source) != "-" and Path(source).resolve() == resolved:
            raise InputError(path, "output path is the same as an input; inputs are never overwritten")


def write_jsonl(path: str | Path, records: Iterable[Record], inputs: Iterable[str | Path] = ()) -> int:
    """Write records atomically; returns how many were written."""
    count = 0
    with atomic_output(path, inputs) as handle:
        for record in records:
            handle.write(dumps(record))
            handle.write("\n")
            count += 1
    return count


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_output(path) as handle:
        handle.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = _mkstemp_beside(path)
    with _replace_on_success(tmp, path), os.fdopen(fd, "wb") as handle:
        handle.write(data)


@contextlib.contextmanager
def _replace_on_success(tmp: str, path: Path) -> Iterator[None]:
    """Rename tmp over path when the block succeeds; remove tmp when it fails."""
    try:
        yield
        _set_mode(tmp, path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------------------------
# labelled data


def load_labelled(path: str | Path, *, include_written: bool = True) -> list[Record]:
    """Read labelled sentence records from a JSONL file or every *.jsonl file in a folder.

    Validates labels; raises InputError on the first bad line. Written examples are kept apart
    by their `origin` field and may be excluded.
    """
    path = Path(path)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if path.is_dir() and not files:
        raise InputError(path, "folder holds no .jsonl label files")
    records: list[Record] = []
    seen: dict[str, str] = {}
    for file in files:
        for line_no, record in read_jsonl(file):
            problems = label_problems(record)
            if "text" not in record or not isinstance(record["text"], str):
                problems.append("missing or mistyped field 'text'")
            if not isinstance(record.get("id"), str) or not record["id"]:
                problems.append("missing or mistyped field 'id'")
            if "doc_id" in record and (not isinstance(record["doc_id"], str) or not record["doc_id"]):
                problems.append("mistyped field 'doc_id'")
            if problems:
                raise InputError(file, "; ".join(problems), line_no)
            if record["id"] in seen:
                raise InputError(file, f"duplicate id {record['id']!r} (first in {seen[record['id']]})", line_no)
            seen[record["id"]] = f"{file}:{line_no}"
            record.setdefault("origin", "gold")
            record.setdefault("targets", [])
            if include_written or record["origin"] == "gold":
                records.append(record)
    if not records:
        raise InputError(path, "no labelled sentences found")
    return records
