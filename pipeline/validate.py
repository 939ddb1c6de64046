"""`pipeline validate`: every problem in label / sentence files, one `file:line: message` each."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError
from .records import is_labelled, label_problems, read_jsonl, text_hash
from .segmenting import segments_by_id


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.jsonl"))
            if not found:
                raise InputError(path, "folder holds no .jsonl files")
            files.extend(found)
        elif not path.exists():
            raise InputError(path, "no such file or folder")
        else:
            files.append(path)
    return files


def validate_paths(paths: list[Path], seeds: Path | None) -> tuple[list[str], int]:
    """Return (problems, number of records checked). Never stops at the first problem."""
    segments = segments_by_id(seeds) if seeds is not None and Path(seeds).is_dir() else {}
    # Written documents (labels/documents/batch*/) are checked the same way as the seeds.
    written_segments: dict = {}
    for path in paths:
        folder = Path(path) / "documents"
        if Path(path).is_dir() and folder.is_dir():
            for batch in sorted(p for p in folder.glob("batch*") if p.is_dir()):
                written_segments.update(segments_by_id(batch))
    problems: list[str] = []
    first_seen: dict[str, str] = {}
    checked = 0
    for file in _files(paths):
        in_file = 0
        try:
            for line_no, record in read_jsonl(file):
                checked += 1
                in_file += 1
                where = f"{file}:{line_no}"
                found = []
                record_id = record.get("id")
                if not isinstance(record_id, str):
                    found.append("missing or mistyped field 'id'")
                elif record_id in first_seen:
                    found.append(f"duplicate id {record_id!r} (first at {first_seen[record_id]})")
                else:
                    first_seen[record_id] = where
                if "text" in record and not isinstance(record["text"], str):
                    found.append("field 'text' must be a string")
                if is_labelled(record):
                    found.extend(label_problems(record))
                elif "targets" in record:
                    found.append("targets given without a stance")
                found.extend(_alignment_problems(record, segments))
                found.extend(_written_alignment_problems(record, written_segments))
                problems.extend(f"{where}: {message}" for message in found)
        except InputError as exc:
            problems.append(str(exc))
            continue
        if not in_file:
            problems.append(f"{file}: empty file: no records")
    return problems, checked


def _alignment_problems(record: dict, segments: dict) -> list[str]:
    """Gold labels point at seed segments by id; the hash catches a changed segmentation."""
    if record.get("origin", "gold") != "gold" or not segments:
        return []
    record_id = record.get("id")
    expected = record.get("text_hash")
    if not isinstance(record_id, str):
        return []  # already reported as a mistyped id
    if expected is None:
        return ["missing field 'text_hash'"] if is_labelled(record) else []
    segment = segments.get(record_id)
    if segment is None:
        return [f"id {record_id!r} is not a sentence of the segmented seeds"]
    if text_hash(segment["text"]) != expected:
        return [f"text hash no longer matches the segmented seed sentence {record_id!r}"]
    if "text" in record and record["text"] != segment["text"]:
        return ["text differs from the segmented seed sentence"]
    return []


def _written_alignment_problems(record: dict, segments: dict) -> list[str]:
    """Labels of written documents point at their segmented sentences by id and hash."""
    if record.get("origin") != "written" or "batch" not in record or not segments:
        return []
    for field in ("doc_id", "register", "text_hash"):
        if not isinstance(record.get(field), str):
            return [f"written document record needs field {field!r}"]
    segment = segments.get(record.get("id"))
    if segment is None:
        return [f"id {record.get('id')!r} is not a sentence of the written documents in labels/documents/"]
    if text_hash(segment["text"]) != record["text_hash"]:
        return [f"text hash no longer matches the segmented written sentence {record['id']!r}"]
    return []
