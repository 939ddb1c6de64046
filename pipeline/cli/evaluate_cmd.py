from __future__ import annotations

from pathlib import Path

import typer

from ..errors import PipelineError
from . import app, handle_errors, progress


@app.command()
@handle_errors
def evaluate(
    output: Path = typer.Option(..., "-o", "--output", help="Report folder to write (created if missing)."),
    labels: Path = typer.Option(
        Path("labels"), "--labels", help="Label JSONL file or folder (gold + written)."
    ),
    backends: str = typer.Option(
        "majority,lexicon,tfidf,embed,transformer",
        "--backends",
        help="Comma-separated backends to cross-validate.",
    ),
    models: Path | None = typer.Option(
        None,
        "--models",
        help="Folder of trained model folders (NAME/crossval.json): reuse their cross-validation.",
    ),
    model: Path | None = typer.Option(None, "--model", help="Single-model mode: a trained model folder."),
    test: Path | None = typer.Option(
        None, "--test", help="Single-model mode: labelled sentence JSONL to score."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for folds, training and the bootstrap."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Bootstrap resamples of documents for the CIs."),
    learning_curve: str = typer.Option(
        "tfidf", "--learning-curve", help="Backend for the learning curve, or 'none' to skip it."
    ),
) -> None:
    """Cross-validate backends on the same document-held-out folds (or score one model) and write a report."""
    from ..evaluation.run import evaluate_backends, evaluate_model

    if bootstrap < 0:
        raise PipelineError("--bootstrap must be 0 or more")
    if model is not None or test is not None:
        if model is None or test is None:
            raise PipelineError("single-model mode needs both --model DIR and --test FILE")
        evaluate_model(model, test, output, progress, seed=seed, n_bootstrap=bootstrap)
        return
    names = [b.strip() for b in backends.split(",") if b.strip()]
    if not names:
        raise PipelineError("--backends is empty")
    curve = None if learning_curve.strip().lower() in ("", "none", "no", "off") else learning_curve.strip()
    evaluate_backends(
        labels,
        names,
        output,
        seed=seed,
        models_dir=models,
        learning_curve_backend=curve,
        n_bootstrap=bootstrap,
        progress=progress,
    )


@app.command()
@handle_errors
def agree(
    file_a: Path = typer.Argument(..., metavar="A.jsonl", help="Labels from annotator A."),
    file_b: Path = typer.Argument(..., metavar="B.jsonl", help="Labels from annotator B."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Folder for agreement.md, agreement.json and disagreements.jsonl."
    ),
) -> None:
    """Agreement between two label files on the same sentences: kappa, alpha, confusion, disagreements."""
    from ..agree import agree_files, short_summary

    result, _ = agree_files(file_a, file_b, output)
    typer.echo(short_summary(result))
    if output is not None:
        progress(f"wrote {output / 'agreement.md'}, agreement.json and disagreements.jsonl")
