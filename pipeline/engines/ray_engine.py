"""`pipeline predict --engine ray`: label shards of whole documents on a Ray cluster.

The driver (the machine running the command) plans the shards (shards.plan_shards), then
Ray Data sends each shard to a pool of actors, each of which loads the model once and labels
shards with the same code local predict runs (annotate_context + label_chunk). Workers send
each labelled shard back as JSONL or Parquet bytes, and the driver writes it atomically into
the output folder (sharded_output), so only the driver needs the output disk; workers need
the inputs and the model folder at the same paths (a shared folder, or copies) and this
package installed.

Ray is an optional extra: without it the command says in one line how to install it.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from ..classifiers.base import ProgressFn
from ..documents import expand_paths
from ..errors import PipelineError
from ..modelio import backend_class, read_config, verify_files
from ..parquet_records import parquet_bytes
from ..predict import CHUNK
from ..records import dumps
from .sharded_output import ShardedOutput, input_stats
from .shards import SHARD_SIZE, label_shard, plan_shards

INSTALL_HINT = "--engine ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')"


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise PipelineError(INSTALL_HINT) from None
    return ray


def model_identity(model_dir: str | Path) -> dict[str, str]:
    """What load_model would put in model_info, checked the same way, without loading weights."""
    folder = Path(model_dir)
    config = read_config(folder)
    verify_files(folder, config)
    return {"name": folder.name, "backend": backend_class(config.get("backend", "")).name,
            "hash": config["model_hash"]}


class ShardLabeller:
    """A Ray Data actor: loads the model once, then labels one shard per call."""

    def __init__(self, model_dir: str, quantize: bool | None, threads: int, shard_format: str, batch: int) -> None:
        # The tokenizer's thread pool reads this when first used; one actor per core must not
        # start a pool per core as well.
        os.environ["RAYON_NUM_THREADS"] = str(threads)
        import torch

        from ..modelio import load_model

        self.classifier = load_model(model_dir)
        if quantize is not None and "quantize" in self.classifier.settings:
            self.classifier.settings["quantize"] = quantize
        torch.set_num_threads(threads)  # after load_model, which sets the machine's core count
        self.shard_format = shard_format
        self.batch = batch

    def __call__(self, batch):
        import pyarrow

        out: dict[str, list] = {"index": [], "count": [], "payload": [], "error": []}
        for spec in batch.column("spec").to_pylist():
            shard = json.loads(spec)
            try:
                records = label_shard(self.classifier, shard, self.batch)
                if self.shard_format == "parquet":
                    payload = parquet_bytes(records)
                else:
                    payload = "".join(dumps(record) + "\n" for record in records).encode("utf-8")
                error = ""
            except PipelineError as exc:  # bad input: reported by the driver as one line
                records, payload, error = [], b"", str(exc)
            out["index"].append(shard["index"])
            out["count"].append(len(records))
            out["payload"].append(payload)
            out["error"].append(error)
        return pyarrow.table({
            "index": pyarrow.array(out["index"], pyarrow.int64()),
            "count": pyarrow.array(out["count"], pyarrow.int64()),
            "payload": pyarrow.array(out["payload"], pyarrow.large_binary()),
            "error": pyarrow.array(out["error"], pyarrow.string()),
        })


def predict_ray(
    inputs: list[str],
    model_dir: str | Path,
    output: str,
    *,
    input_format: str = "auto",
    address: str | None = None,
    workers: int | None = None,
    cpus_per_worker: int = 1,
    shard_size: int = SHARD_SIZE,
    shard_format: str | None = None,
    quantize: bool | None = None,
    batch: int = CHUNK,
    progress: ProgressFn | None = None,
) -> int:
    """Label the inputs on a Ray cluster; returns the number of sentences labelled.

    A rerun with the same model, inputs and settings resumes: finished shards are kept.
    """
    ray = import_ray()
    if "-" in inputs:
        raise PipelineError("--engine ray cannot read stdin ('-'); give it files or folders")
    expanded = [str(Path(p).resolve()) for p in expand_paths(inputs)]
    output_files = ShardedOutput(output, shard_format, [*inputs, *expanded])
    model_info = model_identity(model_dir)
    settings: dict[str, Any] = {"input_format": input_format, "shard_size": shard_size, "batch": batch,
                                "quantize": quantize, "shard_format": output_files.format}
    stats = input_stats(expanded)
    shards = output_files.open(model_info, settings, stats,
                               lambda: plan_shards(inputs, input_format=input_format, shard_size=shard_size))
    todo = output_files.pending()
    if progress:
        done = len(shards) - len(todo)
        progress(f"{len(shards)} shard(s) planned" + (f", {done} already done: resuming" if done else ""))
    if todo:
        _run(ray, todo, output_files, str(Path(model_dir).resolve()), address=address, workers=workers,
             cpus_per_worker=cpus_per_worker, quantize=quantize, batch=batch, progress=progress)
    return output_files.finish()


def _connect(ray, address: str | None) -> bool:
    """Join the cluster at address, or start a local Ray; True if we started it (and stop it)."""
    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING,
               "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **options)
        else:
            ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise PipelineError(f"cannot start or reach Ray{f' at {address}' if address else ''}: "
                            f"{' '.join(str(exc).split())[:300]}") from None
    return True


def _run(ray, todo: list[dict], output_files: ShardedOutput, model_dir: str, *, address: str | None,
         workers: int | None, cpus_per_worker: int, quantize: bool | None, batch: int,
         progress: ProgressFn | None) -> None:
    started = _connect(ray, address)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        workers = workers or max(1, cpus // cpus_per_worker)
        if workers * cpus_per_worker > cpus:
            raise PipelineError(f"--workers {workers} x {cpus_per_worker} CPU(s) each needs more than the "
                                f"cluster's {cpus} CPU(s)")
        workers = min(workers, len(todo))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        # One block per shard, so the actor pool deals them out one at a time.
        items = [{"spec": json.dumps(shard)} for shard in todo]
        dataset = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardLabeller,
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus_per_worker,
            fn_constructor_kwargs={"model_dir": model_dir, "quantize": quantize, "threads": cpus_per_worker,
                                   "shard_format": output_files.format, "batch": batch},
        )
        if progress:
            progress(f"labelling {len(todo)} shard(s) on {workers} worker(s)")
        finished, sentences = 0, 0
        try:
            for table in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                for row in table.to_pylist():
                    if row["error"]:
                        raise PipelineError(row["error"])
                    output_files.write_shard(row["index"], row["payload"], row["count"])
                    finished, sentences = finished + 1, sentences + row["count"]
                    if progress:
                        progress(f"shard {finished}/{len(todo)} done ({sentences} sentences)")
        except PipelineError:
            raise
        except Exception as exc:  # a worker died, the cluster went away...: finished shards are kept
            message = " ".join(str(exc).split())[:300]
            raise PipelineError(f"Ray run failed ({type(exc).__name__}: {message}); finished shards are kept "
                                "in the output folder: rerun the same command to resume") from None
        finally:
            output_files.save()
    finally:
        if started:
            ray.shutdown()
