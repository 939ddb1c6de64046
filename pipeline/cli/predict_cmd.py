from __future__ import annotations

from pathlib import Path

import typer

from . import app, handle_errors, progress

CHUNK = 1024  # = pipeline.predict.CHUNK (tested); the library is imported only when the command runs


@app.command()
@handle_errors
def predict(
    inputs: list[str] = typer.Argument(..., help="Documents, folders, sentence JSONL or Parquet, or - for stdin."),
    model: Path = typer.Option(..., "--model", "-m", help="Model folder written by `pipeline train`."),
    output: str = typer.Option("-", "-o", "--output",
                               help="OUT.jsonl, OUT.parquet, - for stdout; with --engine ray also a folder of shards."),
    input_format: str = typer.Option("auto", "--input-format", help="auto, documents or sentences."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run after its last complete record."),
    batch: int = typer.Option(CHUNK, "--batch", min=1, help="Sentences scored per chunk."),
    quantize: bool | None = typer.Option(None, "--int8/--fp32",
                                         help="Transformer: = --runtime torch-int8 / torch-fp32."),
    runtime: str = typer.Option("auto", "--runtime",
                                help="Transformer: auto (the fastest path that keeps the labels on this CPU), "
                                     "torch-fp32, torch-bf16, torch-int8, onnx-fp32 or onnx-int8."),
    engine: str = typer.Option("local", "--engine", help="local (this process) or ray (a Ray cluster)."),
    address: str | None = typer.Option(None, "--address", help="Ray: cluster address (default: start Ray here)."),
    workers: int | None = typer.Option(None, "--workers", min=1, help="Ray: model copies (default: one per CPU)."),
    cpus_per_worker: int = typer.Option(1, "--cpus-per-worker", min=1, help="Ray: CPU threads per model copy."),
    shard_size: int | None = typer.Option(None, "--shard-size", min=1, help="Ray: sentences per shard (about)."),
    shard_format: str | None = typer.Option(None, "--shard-format", help="Ray, folder output: jsonl or parquet."),
) -> None:
    """Label sentences with stance, targets and scores.

    With --engine ray, a rerun of an interrupted command resumes at the first unfinished shard.
    """
    if input_format not in ("auto", "documents", "sentences"):
        raise typer.BadParameter("--input-format must be auto, documents or sentences")
    if engine == "ray":
        from ..engines.ray_engine import SHARD_SIZE, predict_ray

        count = predict_ray(inputs, model, output, input_format=input_format, address=address, workers=workers,
                            cpus_per_worker=cpus_per_worker, shard_size=shard_size or SHARD_SIZE,
                            shard_format=shard_format, quantize=quantize, batch=batch, progress=progress)
    elif engine == "local":
        from ..predict import predict_paths

        count = predict_paths(inputs, model, output, input_format=input_format, resume=resume, batch=batch,
                              quantize=quantize, engine=None if runtime == "auto" else runtime, progress=progress)
    else:
        raise typer.BadParameter("--engine must be local or ray")
    progress(f"labelled {count} sentence(s)")
