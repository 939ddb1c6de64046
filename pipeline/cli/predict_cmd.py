from __future__ import annotations

from pathlib import Path

import typer

from ..predict import CHUNK, predict_paths
from . import app, handle_errors, progress


@app.command()
@handle_errors
def predict(
    inputs: list[str] = typer.Argument(..., help="Documents, folders, sentence JSONL, or - for stdin."),
    model: Path = typer.Option(..., "--model", "-m", help="Model folder written by `pipeline train`."),
    output: str = typer.Option("-", "-o", "--output", help="Labelled sentence JSONL, or - for stdout."),
    input_format: str = typer.Option("auto", "--input-format", help="auto, documents or sentences."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run after its last complete record."),
    batch: int = typer.Option(CHUNK, "--batch", min=1, help="Sentences scored per chunk."),
    quantize: bool | None = typer.Option(None, "--int8/--fp32", help="Transformer: int8 dynamic quantisation."),
) -> None:
    """Label sentences with stance, targets and scores."""
    if input_format not in ("auto", "documents", "sentences"):
        raise typer.BadParameter("--input-format must be auto, documents or sentences")
    count = predict_paths(inputs, model, output, input_format=input_format, resume=resume, batch=batch,
                          quantize=quantize, progress=progress)
    progress(f"labelled {count} sentence(s)")
