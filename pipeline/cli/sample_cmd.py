from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from . import app, handle_errors, progress


class Unit(str, Enum):
    doc = "doc"
    sentence = "sentence"


@app.command(name="sample")
@handle_errors
def sample_command(
    predictions: Path = typer.Argument(..., help="Prediction JSONL written by `pipeline predict`."),
    size: int = typer.Option(..., "-n", "--size", min=1, help="How many documents (or sentences) to draw."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Sample JSONL to write (label it with `pipeline review`)."
    ),
    by: Unit = typer.Option(Unit.doc, "--by", help="Draw whole documents (doc) or single sentences (sentence)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed and file give the same sample."),
    show_model: bool = typer.Option(
        False,
        "--show-model",
        help="Keep the model's labels and scores in the sample (default: blind, so the reviewer is not "
        "nudged towards the model; summarize reads the model's labels from PREDICTIONS anyway).",
    ),
) -> None:
    """Draw a reproducible random sample of your predictions to label by hand.

    Label it with `pipeline review SAMPLE --reviewer NAME` (accept each sentence), then
    `pipeline summarize PREDICTIONS --gold SAMPLE -o DIR` corrects the figures for the model's
    errors on your documents.
    """
    from ..summarize.sampling import write_sample  # imported when the command runs (fast --help)

    count = write_sample(predictions, size, output, by.value, seed, show_model=show_model)
    noun = "document(s)" if by is Unit.doc else "sentence(s)"
    progress(f"sampled {size} {noun} ({count} sentence(s)) into {output}; "
             f"label them with `pipeline review {output}`")
