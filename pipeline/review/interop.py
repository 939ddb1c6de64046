"""Export to and import from annotation tools: Label Studio, doccano and CSV.

The round trip JSONL -> format -> JSONL keeps every label and every field (with one
normalisation: a labelled record without a `targets` field comes back with `targets: []`).

* **Label Studio** (``labelstudio``): one JSON array of tasks. ``data`` holds every field of the
  record except the labels; the labels are an annotation whose result has ``choices`` for the
  control tags ``stance`` (single) and ``targets`` (multiple) on the text ``text``. Model
  scores also become a prediction, for pre-annotation. ``labelstudio_config()`` is the
  matching labelling interface. On import the last annotation that was not cancelled wins;
  choices are sorted into stance and targets by their values.
* **doccano** (``doccano``): JSONL for text classification, ``{"text", "label": [...]}`` with
  the stance and the targets in the one ``label`` list. Our id travels as ``pipeline_id``
  (doccano numbers its examples itself), the other fields as metadata.
* **CSV** (``csv``): one row per record, columns id, doc_id, text, stance, targets (joined with
  ``;``) and then every other field. A cell holds a string as it is; any other value (numbers,
  true/false, null, lists, objects) — and a string that would read as one — is written as
  JSON. An empty cell means the field is absent.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import InputError, PipelineError
from ..records import (
    STANCES,
    TARGETS,
    Record,
    atomic_output,
    check_output_path,
    read_jsonl,
    write_jsonl,
)
from .ordering import model_prediction, stance_scores

FORMATS: tuple[str, ...] = ("labelstudio", "doccano", "csv")
SUFFIXES = {".json": "labelstudio", ".jsonl": "doccano", ".csv": "csv"}
LABEL_FIELDS = ("stance", "targets")
DOCCANO_ID = "pipeline_id"
CSV_LEAD = ("id", "doc_id", "text", "stance", "targets")


def infer_format(path: str | Path, given: str | None) -> str:
    if given is not None:
        if given not in FORMATS:
            raise PipelineError(f"unknown format {given!r} (choose from {', '.join(FORMATS)})")
        return given
    found = SUFFIXES.get(Path(str(path)).suffix.lower())
    if found is None:
        raise PipelineError(f"cannot tell the format of {path}: give --format ({', '.join(FORMATS)})")
    return found


def _label_problem(record: Record) -> str | None:
    if "stance" not in record:
        return None
    if record["stance"] not in STANCES:
        return f"unknown stance {record['stance']!r} (allowed: {', '.join(STANCES)})"
    targets = record.get("targets", [])
    if not isinstance(targets, list):
        return "targets must be a list"
    for target in targets:
        if target not in TARGETS:
            return f"unknown target {target!r} (allowed: {', '.join(TARGETS)})"
    return None


def _read_for_export(path: str | Path) -> list[Record]:
    records = []
    seen: dict[str, int] = {}
    for line_no, record in read_jsonl(path):
        problem = _label_problem(record)
        if problem is None and not isinstance(record.get("text"), str):
            problem = "missing or mistyped field 'text'"
        if problem is None and not isinstance(record.get("id"), str):
            # `import` joins on the id: an export it could not read back is refused here.
            problem = "missing or mistyped field 'id'"
        if problem is None and record["id"] in seen:
            problem = f"duplicate id {record['id']!r} (first on line {seen[record['id']]})"
        if problem:
            raise InputError(path, problem, line_no)
        seen[record["id"]] = line_no
        records.append(record)
    if not records:
        raise InputError(path, "holds no records to export")
    return records


def _split_labels(values: Iterable[Any]) -> tuple[str | None, list[str]]:
    """Sort label names into (stance or None, targets); ValueError names anything wrong."""
    stances, targets = [], []
    for value in values:
        if value in STANCES:
            stances.append(value)
        elif value in TARGETS:
            if value not in targets:
                targets.append(value)
        else:
            raise ValueError(f"unknown label {value!r} (allowed: {', '.join(STANCES + TARGETS)})")
    if len(stances) > 1:
        raise ValueError(f"more than one stance ({', '.join(stances)})")
    if targets and not stances:
        raise ValueError("targets given without a stance")
    return (stances[0] if stances else None), targets


def _labels_or_fail(values: Iterable[Any], path: str | Path, line: int | None, where: str = ""):
    try:
        return _split_labels(values)
    except ValueError as exc:
        raise InputError(path, f"{where}{exc}", line) from None


def _check_unique(records: list[Record], path: str | Path) -> None:
    seen: set[str] = set()
    for number, record in enumerate(records, start=1):
        record_id = record.get("id")
        if not isinstance(record_id, str):
            raise InputError(path, f"record {number} has no string id", None)
        if record_id in seen:
            raise InputError(path, f"duplicate id {record_id!r} (record {number})")
        seen.add(record_id)


def _id_first(record: Record) -> Record:
    return (
        {"id": record["id"], **{k: v for k, v in record.items() if k != "id"}} if "id" in record else record
    )


# ---------------------------------------------------------------------------------------------
# Label Studio


def labelstudio_config() -> str:
    """The Label Studio labelling interface that matches the exported tasks."""
    stance = "\n".join(f'    <Choice value="{s}"/>' for s in STANCES)
    targets = "\n".join(f'    <Choice value="{t}"/>' for t in TARGETS)
    return (
        "<View>\n"
        '  <Text name="text" value="$text"/>\n'
        '  <Header value="Stance"/>\n'
        '  <Choices name="stance" toName="text" choice="single" showInline="true" required="true">\n'
        f"{stance}\n"
        "  </Choices>\n"
        '  <Header value="Targets (none for neutral)"/>\n'
        '  <Choices name="targets" toName="text" choice="multiple" showInline="true">\n'
        f"{targets}\n"
        "  </Choices>\n"
        "</View>\n"
    )


def _choices(from_name: str, values: list[str]) -> Record:
    return {"from_name": from_name, "to_name": "text", "type": "choices", "value": {"choices": values}}


def _result(stance: str, targets: list[str]) -> list[Record]:
    result = [_choices("stance", [stance])]
    if targets:
        result.append(_choices("targets", list(targets)))
    return result


def to_labelstudio(record: Record) -> Record:
    labelled = "stance" in record
    data = {k: v for k, v in record.items() if not (labelled and k in LABEL_FIELDS)}
    task: Record = {"data": data}
    if labelled:
        task["annotations"] = [{"result": _result(record["stance"], record.get("targets", []))}]
    prediction = model_prediction(record)
    if prediction is not None and prediction[0] in STANCES:
        probs = stance_scores(record)
        entry: Record = {
            "model_version": str(record.get("model", "pipeline")),
            "result": _result(prediction[0], [t for t in prediction[1] if t in TARGETS]),
        }
        if probs is not None:
            entry["score"] = round(max(probs), 6)
        task["predictions"] = [entry]
    return task


def from_labelstudio(task: Any, path: str | Path, number: int) -> Record:
    where = f"task {number}"
    if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
        raise InputError(path, f"{where}: expected an object with a 'data' object")
    record = dict(task["data"])
    if "id" not in record:
        if task.get("id") is None:
            raise InputError(path, f"{where}: no id in its data")
        record["id"] = f"labelstudio-{task['id']}"
    if not isinstance(record.get("text"), str):
        raise InputError(path, f"{where}: no text in its data")
    given = task.get("annotations") or []
    if not isinstance(given, list):
        raise InputError(path, f"{where}: 'annotations' must be a list")
    annotations = [a for a in given if isinstance(a, dict) and not a.get("was_cancelled")]
    if annotations:
        values: list[Any] = []
        results = annotations[-1].get("result") or []
        if not isinstance(results, list):
            raise InputError(path, f"{where}: an annotation's 'result' must be a list")
        for item in results:
            if isinstance(item, dict) and item.get("type") == "choices":
                value = item.get("value") or {}
                choices = value.get("choices") or [] if isinstance(value, dict) else None
                if not isinstance(choices, list):
                    raise InputError(path, f"{where}: a choices result needs a 'value' with a 'choices' list")
                values.extend(choices)
        stance, targets = _labels_or_fail(values, path, None, f"{where} ({record['id']}): ")
        for field in LABEL_FIELDS:
            record.pop(field, None)
        if stance is not None:
            record["stance"] = stance
            record["targets"] = targets
    return _id_first(record)


def write_labelstudio(path: str | Path, records: list[Record], inputs: Iterable[str | Path] = ()) -> None:
    with atomic_output(path, inputs) as handle:
        json.dump([to_labelstudio(r) for r in records], handle, ensure_ascii=False, indent=1)
        handle.write("\n")


def read_labelstudio(path: str | Path) -> list[Record]:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    try:
        with open(path, encoding="utf-8-sig") as handle:
            tasks = json.load(handle)
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not valid JSON ({exc.msg})", exc.lineno) from None
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    except RecursionError:
        raise InputError(path, "JSON nested too deeply") from None
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise InputError(path, "expected a JSON array of Label Studio tasks")
    return [from_labelstudio(task, path, number) for number, task in enumerate(tasks, start=1)]


# ---------------------------------------------------------------------------------------------
# doccano


def to_doccano(record: Record, path: str | Path, line: int | None = None) -> Record:
    for clash in ("label", DOCCANO_ID):
        if clash in record:
            raise InputError(path, f"field {clash!r} clashes with the doccano format", line)
    labelled = "stance" in record
    labels = [record["stance"], *record.get("targets", [])] if labelled else []
    line_record: Record = {"text": record["text"], "label": labels, DOCCANO_ID: record["id"]}
    for key, value in record.items():
        if key in ("id", "text") or (labelled and key in LABEL_FIELDS):
            continue
        line_record[key] = value
    return line_record


def from_doccano(line_record: Record, path: str | Path, line: int) -> Record:
    record = dict(line_record)
    labels = record.pop("label", [])
    if DOCCANO_ID in record:
        record.pop("id", None)  # doccano's own example number
        record["id"] = record.pop(DOCCANO_ID)
    elif "id" in record and not isinstance(record["id"], str):
        record["id"] = f"doccano-{record['id']}"
    if "id" not in record:
        raise InputError(path, f"no {DOCCANO_ID!r} or 'id'", line)
    if record.get("Comments") == []:  # added by doccano's export
        del record["Comments"]
    if not isinstance(record.get("text"), str):
        raise InputError(path, "missing or mistyped field 'text'", line)
    if not isinstance(labels, list):
        raise InputError(path, "'label' must be a list", line)
    stance, targets = _labels_or_fail(labels, path, line)
    if stance is not None:
        for field in LABEL_FIELDS:
            record.pop(field, None)
        record["stance"] = stance
        record["targets"] = targets
    return _id_first(record)


def write_doccano(path: str | Path, records: list[Record], inputs: Iterable[str | Path] = ()) -> None:
    check_output_path(path, inputs)
    lines = [to_doccano(r, path) for r in records]
    write_jsonl(path, lines, inputs)


def read_doccano(path: str | Path) -> list[Record]:
    return [from_doccano(record, path, line_no) for line_no, record in read_jsonl(path)]


# ---------------------------------------------------------------------------------------------
# CSV


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def encode_cell(record: Record, key: str) -> str:
    if key not in record:
        return ""
    value = record[key]
    if isinstance(value, str) and value != "" and not _reads_as_json(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def decode_cell(cell: str) -> tuple[bool, Any]:
    """(present, value) for one CSV cell."""
    if cell == "":
        return False, None
    try:
        return True, json.loads(cell)
    except ValueError:
        return True, cell


def _columns(records: list[Record]) -> list[str]:
    seen: dict[str, None] = {}
    for record in records:
        for key in record:
            seen.setdefault(key, None)
    lead = [c for c in CSV_LEAD if c in seen or c in ("id", "text", "stance", "targets")]
    return lead + [k for k in seen if k not in lead]


def to_csv_row(record: Record, columns: list[str]) -> list[str]:
    row = []
    labelled = "stance" in record
    for column in columns:
        if column == "stance":
            row.append(record["stance"] if labelled else "")
        elif column == "targets" and labelled:
            row.append(";".join(record.get("targets", [])))
        else:
            row.append(encode_cell(record, column))
    return row


def write_csv(path: str | Path, records: list[Record], inputs: Iterable[str | Path] = ()) -> None:
    columns = _columns(records)
    with atomic_output(path, inputs) as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for record in records:
            writer.writerow(to_csv_row(record, columns))


def read_csv(path: str | Path) -> list[Record]:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such file")
    records = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise InputError(path, "empty file: expected a header row")
            for required in ("id", "text"):
                if required not in header:
                    raise InputError(path, f"no {required!r} column in the header", 1)
            if len(set(header)) != len(header):
                raise InputError(path, "repeated column name in the header", 1)
            for row in reader:
                line = reader.line_num
                if not any(row):
                    continue
                if len(row) > len(header):
                    raise InputError(path, f"{len(row)} cells but {len(header)} columns", line)
                cells = dict(zip(header, row + [""] * (len(header) - len(row)), strict=True))
                records.append(_from_csv_cells(cells, path, line))
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    except csv.Error as exc:
        raise InputError(path, f"bad CSV ({exc})") from None
    return records


def _from_csv_cells(cells: dict[str, str], path: Path, line: int) -> Record:
    record: Record = {}
    stance_cell = cells.get("stance", "").strip()
    for column, cell in cells.items():
        if column == "stance":
            continue
        if column == "targets" and stance_cell:
            names = [t.strip() for t in cell.replace(",", ";").split(";") if t.strip()]
            record["targets"] = names
            continue
        present, value = decode_cell(cell)
        if present:
            record[column] = value
    if stance_cell:
        stance, targets = _labels_or_fail([stance_cell, *record.get("targets", [])], path, line)
        if stance is None:
            raise InputError(path, f"unknown stance {stance_cell!r} (allowed: {', '.join(STANCES)})", line)
        record["stance"] = stance
        record["targets"] = targets
    elif record.get("targets") not in (None, []):
        raise InputError(path, "targets given without a stance", line)
    if not isinstance(record.get("id"), str):
        raise InputError(path, "missing or mistyped id", line)
    if not isinstance(record.get("text"), str):
        raise InputError(path, "missing or mistyped text", line)
    return _id_first(record)


# ---------------------------------------------------------------------------------------------
# the commands


def export_file(source: str | Path, fmt: str | None, output: str | Path) -> tuple[int, str]:
    """Write the records of a JSONL file in another format; returns (count, format)."""
    fmt = infer_format(output, fmt)
    check_output_path(output, [source])
    records = _read_for_export(source)
    if fmt == "labelstudio":
        write_labelstudio(output, records, [source])
    elif fmt == "doccano":
        write_doccano(output, records, [source])
    else:
        write_csv(output, records, [source])
    return len(records), fmt


def import_file(source: str | Path, fmt: str | None, output: str | Path) -> tuple[int, str]:
    """Read records exported to (and perhaps labelled in) another tool back into JSONL."""
    fmt = infer_format(source, fmt)
    check_output_path(output, [source])
    if fmt == "labelstudio":
        records = read_labelstudio(source)
    elif fmt == "doccano":
        records = read_doccano(source)
    else:
        records = read_csv(source)
    if not records:
        raise InputError(source, "holds no records to import")
    _check_unique(records, source)
    write_jsonl(output, records, [source])
    return len(records), fmt


def write_labelstudio_config(path: str | Path) -> None:
    with atomic_output(path) as handle:
        handle.write(labelstudio_config())
