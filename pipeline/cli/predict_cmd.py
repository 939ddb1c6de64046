from __future__ import annotations

from pathlib import Path

import typer

from . import app, handle_errors, progress

CHUNK = 1024  # = pipeline.predict.CHUNK (tested); the library is imported only when the command runs


@app.command()
@handle_errors
def predict(
    inputs: list[str] = typer.Argument(..., help="Documents, folders, sentence JSONL, or - for stdin."),
    model: Path = typer.Option(..., "--model", "-m", help="Model folder written by `pipeline train`."),
    output: str = typer.Option("-", "-o", "--output", help="Labelled sentence JSONL, or - for stdout."),
    input_format: str = typer.Option("auto", "--input-format", help="auto, documents or sentences."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run after its last complete record."),
    batch: int = typer.Option(CHUNK, "--batch", min=1, help="Sentences scored per chunk."),
    quantize: bool | None = typer.Option(None, "--int8/--fp32",
                                         help="Transformer: = --engine torch-int8 / torch-fp32."),
    engine: str = typer.Option("auto", "--engine",
                               help="Transformer: auto (the fastest path that keeps the labels on this CPU), "
                                    "torch-fp32, torch-bf16, torch-int8, onnx-fp32 or onnx-int8."),
) -> None:
    """Label sentences with stance, targets and scores."""
    if input_format not in ("auto", "documents", "sentences"):
        raise typer.BadParameter("--input-format must be auto, documents or sentences")
    from ..predict import predict_paths

    count = predict_paths(inputs, model, output, input_format=input_format, resume=resume, batch=batch,
                          quantize=quantize, engine=None if engine == "auto" else engine, progress=progress)
    progress(f"labelled {count} sentence(s)")
