from __future__ import annotations

from pathlib import Path

import typer

from . import app, handle_errors, progress


@app.command()
@handle_errors
def train(
    backend: str = typer.Option("tfidf", "--backend", "-b",
                                help="majority, lexicon, tfidf, embed, transformer or ensemble (of tfidf and "
                                     "transformer; `pipeline combine` builds one from trained folders)."),
    labels: Path = typer.Option(Path("labels"), "--labels", help="Label JSONL file or folder (gold + written)."),
    output: Path = typer.Option(..., "-o", "--output", help="Model folder to write."),
    base_model: Path | None = typer.Option(None, "--base-model", help="Local Hugging Face encoder folder."),
    epochs: int | None = typer.Option(None, "--epochs", help="Fine-tuning epochs (transformer)."),
    seed: int = typer.Option(0, "--seed"),
    context: bool = typer.Option(False, "--context/--no-context", help="Give the model the previous sentence."),
    augment: bool = typer.Option(False, "--augment/--no-augment",
                                 help="Role-swap augmentation (off by default: no gain on held-out sources)."),
    lexicon: Path | None = typer.Option(None, "--lexicon", help="Actor and cue lexicon (default labels/actors.toml)."),
    gazetteer: Path | None = typer.Option(None, "--gazetteer", help="Named people (default labels/people.toml)."),
    actor_features: bool = typer.Option(True, "--actor-features/--no-actor-features",
                                        help="Give the model each sentence's document context (the actor tracker)."),
    tune_thresholds: bool = typer.Option(False, "--tune-thresholds/--no-tune-thresholds",
                                         help="Per-target thresholds tuned on held-out folds (default: 0.5)."),
    cv: bool = typer.Option(True, "--cv/--no-cv",
                            help="Hold sources out to score the model and fit its stance temperature."),
) -> None:
    """Train a model folder, scored on held-out sources, with a model card."""
    from ..train import train_model

    settings: dict = {"augment": augment, "tune_thresholds": tune_thresholds}
    if lexicon:
        settings["lexicon"] = str(lexicon)
    if base_model:
        settings["base_model"] = str(base_model)
    if epochs is not None:
        settings["epochs"] = epochs
    if context:
        settings["context"] = True
    if gazetteer:
        settings["gazetteer"] = str(gazetteer)
    if backend in ("tfidf", "embed", "transformer", "lexicon"):
        settings["actor_features"] = actor_features
    train_model(backend, labels, output, settings=settings, seed=seed, cross_validate=cv, progress=progress)


@app.command()
@handle_errors
def combine(
    members: list[Path] = typer.Argument(..., help="Model folders trained on the same labels (pipeline train)."),
    output: Path = typer.Option(..., "-o", "--output", help="Ensemble model folder to write."),
    labels: Path = typer.Option(Path("labels"), "--labels", help="The labels the members were trained on."),
    weights: str | None = typer.Option(None, "--weights", help="Comma-separated member weights (default equal)."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """An ensemble (mean of the members' probabilities), scored on held-out sources from the
    members' saved out-of-fold scores; no training."""
    from ..combine import combine_models
    from ..errors import PipelineError

    try:
        parsed = [float(w) for w in weights.split(",")] if weights else None
    except ValueError:
        raise PipelineError(f"--weights must be comma-separated numbers, not {weights!r}") from None
    combine_models(members, output, labels=labels, weights=parsed, seed=seed, progress=progress)
