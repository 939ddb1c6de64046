from __future__ import annotations

from pathlib import Path

import typer

from . import app, handle_errors, progress

# = pipeline.summarize's constants (tested); the library (numpy...) is imported only when the command runs.
BY_CHOICES: tuple[str, ...] = ("doc", "section", "author", "month")
DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0


def _check_by(values: list[str]) -> list[str]:
    for value in values:
        if value not in BY_CHOICES:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(BY_CHOICES)}")
    return values


@app.command(name="summarize")
@handle_errors
def summarize_command(
    predictions: Path = typer.Argument(..., help="Prediction JSONL written by `pipeline predict`."),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Folder to write the summary into (created if missing)."
    ),
    by: list[str] = typer.Option(
        [],
        "--by",
        help=f"Also break down by: {' | '.join(BY_CHOICES)}. Repeat for several.",
        show_default=False,
        callback=_check_by,
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        help="Model folder whose config.json holds cross-validated confusion figures: adds raw counts "
        "adjusted by those error rates, as a sensitivity check (they were measured on other documents).",
    ),
    gold: Path | None = typer.Option(
        None,
        "--gold",
        help="A random sample of these predictions labelled by hand (`pipeline sample`, then "
        "`pipeline review`): corrects the figures for the model's errors on this corpus (PPI).",
    ),
    resamples: int = typer.Option(DEFAULT_RESAMPLES, min=1, help="Bootstrap resamples of documents."),
    seed: int = typer.Option(DEFAULT_SEED, help="Random seed of the bootstrap."),
) -> None:
    """Count blame and defence per target, overall and per group, with 95% intervals.

    With --gold, a hand-labelled random sample of the same predictions corrects the figures
    (prediction-powered inference): those are the headline. Writes summary.md, .html, .csv,
    .json and PNG plots.
    """
    from ..summarize import check_output_folder, summarize, write_summary

    check_output_folder(output)  # before the work, so a typo in -o fails at once
    summary = summarize(predictions, by, model, gold=gold, resamples=resamples, seed=seed)
    written = write_summary(summary, output)
    p = summary.predictions
    progress(
        f"summarized {len(p)} sentence(s) from {len(p.doc_ids)} document(s) "
        f"({p.n_boilerplate} boilerplate excluded); wrote {len(written)} file(s) to {output}"
    )
    if summary.gold is not None:
        progress(f"labelled sample: {len(summary.gold)} sentence(s) in {summary.gold.n_docs} document(s); "
                 f"headline: {'corrected by sample' if summary.overall.headline == 'ppi' else 'raw'}")
    progress(f"read {output / 'summary.md'} or open {output / 'summary.html'}")
