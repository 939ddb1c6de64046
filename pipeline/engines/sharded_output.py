"""The output of a sharded run: a folder of shard files plus manifest.json, or one merged file.

``-o DIR`` keeps the shards (``part-00000.jsonl`` or ``.parquet``, in input order) and the
manifest, which lists the model, the inputs (size and modification time), the shard plan and,
per finished shard, its sentence count and SHA-256. ``-o OUT.jsonl`` / ``-o OUT.parquet``
works in ``OUT.jsonl.shards/`` and, once every shard is done, concatenates them in order into
OUT (atomically) and removes that folder.

Each shard file is written atomically, so one that exists is complete: a rerun after a crash
or a kill finds the manifest, checks that the model and inputs are the same, and labels only
the shards whose files are missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError, PipelineError
from ..modelio import file_sha256
from ..parquet_records import PARQUET_SUFFIX, concat_parquet, parquet_rows
from ..records import _mkstemp_beside, _replace_on_success, atomic_write_bytes, atomic_write_text, check_output_path

MANIFEST = "manifest.json"
FORMAT = "pipeline-predict-shards/1"
SHARD_FORMATS = ("jsonl", "parquet")
# The manifest is rewritten as shards finish, at most this often (and always at the end).
SAVE_EVERY_S = 5.0


def input_stats(paths: list[str]) -> list[dict[str, Any]]:
    stats = []
    for path in paths:
        info = os.stat(path)
        stats.append({"path": path, "bytes": info.st_size, "mtime_ns": info.st_mtime_ns})
    return stats


class ShardedOutput:
    def __init__(self, output: str, shard_format: str | None, inputs: list[str]) -> None:
        if output == "-":
            raise PipelineError("a sharded run writes files; give -o a folder, OUT.jsonl or OUT.parquet")
        target = Path(output)
        suffix = target.suffix.lower()
        if suffix in (".jsonl", PARQUET_SUFFIX):
            check_output_path(target, inputs)
            self.merged: Path | None = target
            self.folder = target.with_name(target.name + ".shards")
            self.format = suffix[1:]
        else:
            if not target.parent.exists():
                raise InputError(target, f"output folder {target.parent} does not exist")
            if target.exists() and not target.is_dir():
                raise InputError(target, "exists and is not a folder")
            self.merged = None
            self.folder = target
            self.format = shard_format or "jsonl"
        if shard_format and shard_format != self.format:
            raise PipelineError(f"{target}: --shard-format {shard_format} does not match the output's suffix")
        if self.format not in SHARD_FORMATS:
            raise PipelineError(f"--shard-format must be one of: {', '.join(SHARD_FORMATS)}")
        resolved = self.folder.resolve()
        for source in inputs:
            if source != "-" and (resolved == Path(source).resolve() or resolved in Path(source).resolve().parents):
                raise InputError(self.folder, "output folder holds an input; inputs are never overwritten")
        self.manifest: dict[str, Any] = {}
        self._saved = 0.0

    # -- the manifest -----------------------------------------------------------------------

    def open(self, model_info: dict[str, str], settings: dict[str, Any], stats: list[dict[str, Any]],
             plan: Callable[[], list[dict]]) -> list[dict]:
        """The shard plan: the manifest's when resuming the same run, else a new one."""
        path = self.folder / MANIFEST
        if path.exists():
            try:
                manifest = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InputError(path, f"unreadable manifest ({exc}); remove the folder to start again") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise InputError(path, "not a manifest of `pipeline predict --engine ray`")
            for key, mine, what in (("model", model_info, "another model"), ("inputs", stats, "other inputs "
                                    "(or they changed since)"), ("settings", settings, "other settings")):
                if manifest.get(key) != mine:
                    raise InputError(path, f"this run was started with {what}; remove {self.folder} or write elsewhere")
            self.manifest = manifest
        else:
            if self.folder.exists() and any(self.folder.iterdir()):
                raise InputError(self.folder, f"exists, is not empty and has no {MANIFEST}; choose another output")
            shards = [{**shard, "file": self.shard_name(shard["index"])} for shard in plan()]
            self.folder.mkdir(exist_ok=True)
            self.manifest = {"format": FORMAT, "model": model_info, "settings": settings, "inputs": stats,
                             "complete": False, "sentences": None, "shards": shards}
            self.save()
        return self.manifest["shards"]

    def save(self) -> None:
        atomic_write_text(self.folder / MANIFEST, json.dumps(self.manifest, ensure_ascii=False, indent=1) + "\n")
        self._saved = time.monotonic()

    # -- shards -----------------------------------------------------------------------------

    def shard_name(self, index: int) -> str:
        return f"part-{index:05d}.{self.format}"

    def pending(self) -> list[dict]:
        """Shards still to label; shards whose files exist are recorded as done (files are atomic)."""
        todo = []
        for shard in self.manifest["shards"]:
            path = self.folder / shard["file"]
            if not path.exists():
                shard.pop("sentences", None)
                shard.pop("sha256", None)
                todo.append(shard)
            elif "sha256" not in shard:  # finished after the manifest was last saved
                count = parquet_rows(path) if self.format == "parquet" else _count_lines(path)
                shard.update(sentences=count, sha256=file_sha256(path))
        return todo

    def write_shard(self, index: int, payload: bytes, count: int) -> None:
        shard = self.manifest["shards"][index]
        atomic_write_bytes(self.folder / shard["file"], payload)
        shard.update(sentences=count, sha256=hashlib.sha256(payload).hexdigest())
        if time.monotonic() - self._saved >= SAVE_EVERY_S:
            self.save()

    def finish(self) -> int:
        """Mark the run complete; merge into the single output file if one was asked for."""
        shards = self.manifest["shards"]
        total = sum(shard["sentences"] for shard in shards)
        self.manifest.update(complete=True, sentences=total)
        self.save()
        if total == 0:
            raise InputError(self.merged or self.folder, "no sentences in the input")
        if self.merged is not None:
            files = [self.folder / shard["file"] for shard in shards]
            if self.format == "parquet":
                concat_parquet(files, self.merged)
            else:
                _concat_bytes(files, self.merged)
            # Hidden temporary files are what a killed earlier run left of its atomic writes.
            for path in [*files, self.folder / MANIFEST, *self.folder.glob(".*.tmp")]:
                path.unlink()
            self.folder.rmdir()
        return total


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))


def _concat_bytes(files: list[Path], target: Path) -> None:
    fd, tmp = _mkstemp_beside(target)
    with _replace_on_success(tmp, target), os.fdopen(fd, "wb") as out:
        for path in files:
            with open(path, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
        out.flush()
        os.fsync(out.fileno())
