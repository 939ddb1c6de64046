"""Sentence and document records in Parquet: the columnar sibling of the JSONL code in records.py.

Records are plain dicts whose unknown fields must survive every round trip, while Parquet
wants one schema per file. So the fields records.py knows get typed columns (``scores`` and
``model`` as nested structs, so ``scores.stance.blame`` is a column for DuckDB or pandas),
and everything else, or a known field holding a value its column cannot (a null, a string
where a number belongs), goes into one ``extra`` column as a JSON object. A null cell means
"field absent", so reading back gives exactly the dict that was written.

Any other Parquet file is read too (a user's own sentences from pandas or Spark): each row
becomes a dict of its non-null cells, with dates as ISO 8601 text.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import decimal
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import InputError
from .records import STANCES, TARGETS, Record, _mkstemp_beside, _replace_on_success, check_output_path

PARQUET_SUFFIX = ".parquet"
EXTRA = "extra"
# Rows per row group when writing; also the unit a shard of a large file is read in.
ROW_GROUP = 8192
_INT64 = (-(2**63), 2**63 - 1)


def is_parquet(path: str | Path) -> bool:
    return str(path) != "-" and Path(path).suffix.lower() == PARQUET_SUFFIX


def _pa():
    import pyarrow

    return pyarrow


def record_schema():
    """The schema of the Parquet files we write (a fixed schema, so shards concatenate)."""
    pa = _pa()
    scores = pa.struct([
        ("stance", pa.struct([(s, pa.float64()) for s in STANCES])),
        ("targets", pa.struct([(t, pa.float64()) for t in TARGETS])),
    ])
    model = pa.struct([("name", pa.string()), ("backend", pa.string()), ("hash", pa.string())])
    columns = [
        ("id", pa.string()), ("doc_id", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
        ("text", pa.string()), ("section", pa.string()), ("comment_index", pa.int64()), ("author", pa.string()),
        ("timestamp", pa.string()), ("boilerplate", pa.bool_()),
        ("stance", pa.string()), ("targets", pa.list_(pa.string())),
        ("predicted_stance", pa.string()), ("predicted_targets", pa.list_(pa.string())),
        ("text_hash", pa.string()), ("origin", pa.string()), ("annotator", pa.string()), ("note", pa.string()),
        ("scores", scores), ("model", model), (EXTRA, pa.string()),
    ]
    return pa.schema(columns)


def _fits(kind: str, value: Any) -> bool:
    """Whether a JSON value round-trips exactly through a column of this kind."""
    if kind == "string":
        return isinstance(value, str)
    if kind == "int64":
        return isinstance(value, int) and not isinstance(value, bool) and _INT64[0] <= value <= _INT64[1]
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list<item: string>":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return False


def _fits_struct(struct_type, value: Any) -> bool:
    pa = _pa()
    if not isinstance(value, dict) or list(value) != [struct_type.field(i).name for i in range(struct_type.num_fields)]:
        return False
    for i in range(struct_type.num_fields):
        child = struct_type.field(i)
        item = value[child.name]
        if pa.types.is_struct(child.type):
            if not _fits_struct(child.type, item):
                return False
        elif pa.types.is_floating(child.type):
            if type(item) is not float:  # an int would come back as a float: keep it in extra
                return False
        elif not _fits(str(child.type), item):
            return False
    return True


class _Columns:
    """Turns record dicts into column lists for record_schema()."""

    def __init__(self) -> None:
        pa = _pa()
        self.schema = record_schema()
        self.kinds = {f.name: (f.type if pa.types.is_struct(f.type) else str(f.type)) for f in self.schema}

    def table(self, records: list[Record]):
        pa = _pa()
        columns: dict[str, list] = {name: [] for name in self.kinds}
        for record in records:
            extra = {}
            for name in self.kinds:
                if name == EXTRA:
                    continue
                value, present = record.get(name), name in record
                kind = self.kinds[name]
                ok = present and (_fits_struct(kind, value) if not isinstance(kind, str) else _fits(kind, value))
                columns[name].append(value if ok else None)
                if present and not ok:
                    extra[name] = value
            for name, value in record.items():
                if name not in self.kinds or name == EXTRA:
                    extra[name] = value
            columns[EXTRA].append(json.dumps(extra, ensure_ascii=False) if extra else None)
        return pa.Table.from_pydict(columns, schema=self.schema)


class ParquetRecordWriter:
    """Writes records to an open Parquet file in row groups; ``close()`` finishes the file."""

    def __init__(self, sink) -> None:
        import pyarrow.parquet as pq

        self._columns = _Columns()
        self._writer = pq.ParquetWriter(sink, self._columns.schema, compression="zstd")
        self._pending: list[Record] = []
        self.count = 0

    def write(self, record: Record) -> None:
        self._pending.append(record)
        self.count += 1
        if len(self._pending) >= ROW_GROUP:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._writer.write_table(self._columns.table(self._pending), row_group_size=ROW_GROUP)
            self._pending = []

    def close(self) -> None:
        self.flush()
        self._writer.close()

    def __enter__(self) -> ParquetRecordWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:  # the file is thrown away; close the writer now, not when collected after the file
            with contextlib.suppress(Exception):
                self._writer.close()


def write_parquet(path: str | Path, records: Iterable[Record], inputs: Iterable[str | Path] = ()) -> int:
    """Write records to a Parquet file atomically; returns how many were written."""
    path = Path(path)
    check_output_path(path, inputs)
    fd, tmp = _mkstemp_beside(path)
    with _replace_on_success(tmp, path), os.fdopen(fd, "wb") as handle:
        with ParquetRecordWriter(handle) as writer:
            for record in records:
                writer.write(record)
        handle.flush()
        os.fsync(handle.fileno())
    return writer.count


def parquet_bytes(records: Iterable[Record]) -> bytes:
    """One Parquet file in memory (a shard a Ray worker sends back to the driver)."""
    import pyarrow

    sink = pyarrow.BufferOutputStream()
    with ParquetRecordWriter(sink) as writer:
        for record in records:
            writer.write(record)
    return sink.getvalue().to_pybytes()


# ---------------------------------------------------------------------------------------------
# reading


def _open(path: str | Path):
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, expected a Parquet file")
    try:
        return pq.ParquetFile(path)
    except (OSError, _pa().ArrowException) as exc:
        raise InputError(path, f"not a readable Parquet file ({_one_line(exc)})") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def parquet_rows(path: str | Path) -> int:
    return _open(path).metadata.num_rows


def _jsonable(value: Any, path: str | Path, row: int, column: str) -> Any:
    """Arrow gives dates, decimals and bytes; records hold JSON values only."""
    if isinstance(value, dict):
        return {k: _jsonable(v, path, row, column) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v, path, row, column) for v in value]
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and value != value:
        raise InputError(path, f"column {column!r} holds NaN, which JSON records cannot carry", row)
    return value


def _row_record(row: dict[str, Any], path: str | Path, row_no: int) -> Record:
    record: Record = {}
    for name, value in row.items():
        if value is None or name == EXTRA:
            continue
        record[str(name)] = _jsonable(value, path, row_no, name)
    extra = row.get(EXTRA)
    if isinstance(extra, str):
        try:
            more = json.loads(extra)
        except json.JSONDecodeError:
            raise InputError(path, f"column {EXTRA!r} is not a JSON object", row_no) from None
        if not isinstance(more, dict):
            raise InputError(path, f"column {EXTRA!r} is not a JSON object", row_no)
        record.update(more)
    return record


def read_parquet(path: str | Path, *, start: int = 0, stop: int | None = None,
                 columns: list[str] | None = None) -> Iterator[tuple[int, Record]]:
    """Yield (row number from 1, record) for rows start..stop-1, reading only the row groups
    that hold them, so a shard of a large file costs its own size."""
    handle = _open(path)
    meta = handle.metadata
    stop = meta.num_rows if stop is None else min(stop, meta.num_rows)
    group_start = 0
    for group in range(meta.num_row_groups):
        group_rows = meta.row_group(group).num_rows
        group_stop = group_start + group_rows
        if group_stop > start and group_start < stop:
            try:
                table = handle.read_row_group(group, columns=columns)
            except (OSError, _pa().ArrowException) as exc:
                raise InputError(path, f"cannot read row group {group} ({_one_line(exc)})") from None
            first = max(start, group_start)
            rows = table.slice(first - group_start, min(stop, group_stop) - first).to_pylist()
            for offset, row in enumerate(rows):
                yield first + offset + 1, _row_record(row, path, first + offset + 1)
        group_start = group_stop
        if group_start >= stop:
            break


def parquet_has_column(path: str | Path, name: str) -> bool:
    return name in _open(path).schema_arrow.names


def concat_parquet(sources: Iterable[Path], target: Path) -> None:
    """Concatenate Parquet files of record_schema() into one, row group by row group, atomically."""
    import pyarrow.parquet as pq

    fd, tmp = _mkstemp_beside(target)
    with _replace_on_success(tmp, target), os.fdopen(fd, "wb") as handle:
        writer = pq.ParquetWriter(handle, record_schema(), compression="zstd")
        for source in sources:
            part = _open(source)
            for group in range(part.metadata.num_row_groups):
                writer.write_table(part.read_row_group(group), row_group_size=ROW_GROUP)
        writer.close()
        handle.flush()
        os.fsync(handle.fileno())


def first_parquet_record(path: str | Path) -> Record | None:
    """The first row as a record (None for an empty file), without reading a whole row group."""
    handle = _open(path)
    for batch in handle.iter_batches(batch_size=1):
        if batch.num_rows:
            return _row_record(batch.to_pylist()[0], path, 1)
    return None
