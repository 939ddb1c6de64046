from __future__ import annotations

from pathlib import Path

import typer

from . import app, handle_errors, progress


@app.command()
@handle_errors
def segment(
    inputs: list[str] = typer.Argument(..., help="Documents (.txt .md .html .jsonl), folders, or - for stdin."),
    output: str = typer.Option("-", "-o", "--output", help="Sentence JSONL to write, or - for stdout."),
) -> None:
    """Split documents into sentence records with exact character offsets."""
    from ..segmenting import segment_paths

    documents, sentences, empty = segment_paths(inputs, output)
    skipped = f"; skipped {len(empty)} empty document(s): {', '.join(empty[:3])}" if empty else ""
    if len(empty) > 3:
        skipped += f" and {len(empty) - 3} more"
    progress(f"segmented {documents} document(s) into {sentences} sentence(s){skipped}")


@app.command()
@handle_errors
def validate(
    paths: list[Path] = typer.Argument(..., help="Label or sentence JSONL files, or folders of them."),
    seeds: Path = typer.Option(Path("seeds"), help="Folder of the documents the labels point into."),
) -> None:
    """Check label files: schema, allowed values, duplicates, and text that no longer matches the segments."""
    from ..validate import validate_paths

    problems, checked = validate_paths(paths, seeds)
    for problem in problems:
        typer.echo(problem)
    progress(f"checked {checked} record(s): {len(problems)} problem(s)")
    if problems:
        raise typer.Exit(1)
