"""The `pipeline` command line: a thin typer layer over the library modules.

Each command lives in a small module of this package, parses its arguments, and calls one
library function. Our own exceptions become one line on stderr and exit status 1 here;
nothing else in the package prints errors or exits.
"""

from __future__ import annotations

import functools
import os
import sys

import typer

from ..errors import PipelineError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Find who is blamed or defended, sentence by sentence, in commentary on child-protection failures.",
    pretty_exceptions_enable=False,
)


def handle_errors(func):
    """Turn PipelineError (and a broken pipe, Ctrl-C or an OS error) into one line and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            # `pipeline predict ... | head`: stop quietly.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except OSError as exc:
            # The machine's trouble, not a bug (disk full, permission denied...): one line, no traceback.
            where = f"{exc.filename}: " if exc.filename else ""
            typer.echo(f"error: {where}{exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def progress(message: str) -> None:
    """Progress lines go to stderr so stdout can carry data."""
    typer.echo(message, err=True)


# Command modules register themselves on `app` when imported.
from . import (  # noqa: E402,F401
    evaluate_cmd,
    predict_cmd,
    review_cmd,
    sample_cmd,
    segment_cmd,
    summarize_cmd,
    train_cmd,
)
