from __future__ import annotations

import getpass
import os
import sys
from enum import Enum
from pathlib import Path

import typer

from ..errors import PipelineError
from . import app, handle_errors, progress

DEFAULT_MERGE_EVERY = 20  # = pipeline.review.journal.DEFAULT_MERGE_EVERY (tested)


class Order(str, Enum):
    file = "file"
    uncertain = "uncertain"
    disagree = "disagree"
    errors = "errors"


class Format(str, Enum):
    labelstudio = "labelstudio"
    doccano = "doccano"
    csv = "csv"


def _default_reviewer() -> str:
    name = os.environ.get("PIPELINE_REVIEWER")
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # no user name in this environment
        return "unknown"


@app.command()
@handle_errors
def review(
    file: Path = typer.Argument(..., help="Sentence JSONL to review and correct in place."),
    reviewer: str = typer.Option(
        None,
        "--reviewer",
        help="Name recorded with each correction (default: $PIPELINE_REVIEWER or your login).",
    ),
    order: Order = typer.Option(
        Order.file,
        "--order",
        help="file; uncertain (smallest stance margin first); disagree (model and label differ first); "
        "errors (likely label errors first, by confident learning). Needs model scores, else file order.",
    ),
    html: Path = typer.Option(
        None, "--html", help="Write a self-contained HTML page of the file to this path instead of reviewing."
    ),
    script: str = typer.Option(
        None, "--script", hidden=True, help="Space-separated keys to press, headless."
    ),
    script_pause: float = typer.Option(0.0, "--script-pause", hidden=True),
    merge_every: int = typer.Option(DEFAULT_MERGE_EVERY, "--merge-every", hidden=True),
) -> None:
    """Review and correct labels, one sentence at a time (b/d/n stance, 1-5 targets, a accept, ? help).

    Every key press is saved at once to FILE.journal and merged into FILE on quit, so nothing
    is lost if the program is killed: open the file again to resume.
    """
    if html is not None:
        from ..review.html import write_html

        count = write_html(file, html)
        progress(f"wrote {html}: {count} sentence(s)")
        return
    if script is None and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise PipelineError("review needs a terminal; use --html OUT.html to write a page instead")
    import asyncio

    from ..review.journal import ReviewSession
    from ..review.tui import ReviewApp, run_script

    session = ReviewSession.open(file, reviewer or _default_reviewer(), merge_every=merge_every)
    try:
        tui = ReviewApp(session, order.value)
        if script is not None:

            def echo(line: str) -> None:
                print(line, flush=True)

            asyncio.run(run_script(tui, script.split(), pause=script_pause, echo=echo))
        else:
            tui.run()
    finally:
        session.close()
    progress(f"{file}: {session.done_count()} of {len(session.records)} reviewed; saved")


@app.command("export")
@handle_errors
def export(
    file: Path = typer.Argument(..., help="Sentence JSONL to export."),
    fmt: Format = typer.Option(None, "--format", help="labelstudio (JSON tasks), doccano (JSONL) or csv."),
    output: str = typer.Option(
        ..., "-o", "--output", help="File to write (the format follows its suffix if not given)."
    ),
    labelstudio_config: Path = typer.Option(
        None,
        "--labelstudio-config",
        help="Also write the matching Label Studio labelling interface (XML) here.",
    ),
) -> None:
    """Export labels for an annotation tool (Label Studio, doccano) or a spreadsheet (CSV)."""
    from ..review.interop import export_file, write_labelstudio_config

    count, used = export_file(file, fmt.value if fmt else None, output)
    if labelstudio_config is not None:
        write_labelstudio_config(labelstudio_config)
    progress(f"exported {count} record(s) as {used} to {output}")


@app.command("import")
@handle_errors
def import_(
    source: Path = typer.Argument(..., help="A Label Studio JSON export, doccano JSONL or CSV file."),
    fmt: Format = typer.Option(
        None, "--format", help="labelstudio, doccano or csv (default: from the suffix)."
    ),
    output: str = typer.Option(..., "-o", "--output", help="Sentence JSONL to write."),
) -> None:
    """Import labels back from Label Studio, doccano or CSV into sentence JSONL."""
    from ..review.interop import import_file

    count, used = import_file(source, fmt.value if fmt else None, output)
    progress(f"imported {count} record(s) from {used} into {output}")
