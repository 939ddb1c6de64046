"""`pipeline summarize`: who got the blame, where and when, with honest uncertainty.

A small package, one module per job:

    counting.py   count vectors and shares (pure numpy)
    reading.py    prediction files and labelled samples (`--gold`) to arrays
    sampling.py   `pipeline sample`: a reproducible random sample of documents or sentences to label
    bootstrap.py  cluster-bootstrap intervals (whole documents resampled)
    ppi.py        prediction-powered estimates from a labelled sample of the user's corpus
    adjust.py     adjustment by cross-validated error rates (a sensitivity check only)
    core.py       `summarize()`: groups, estimates and intervals into a `Summary`
    tables.py     the report's content as blocks (rendered by pipeline.reportdoc)
    plots.py      PNG plots
    output.py     summary.md / .html / .csv / .json and the plots, written atomically
"""

from .adjust import (
    Confusion,
    adjust_stance,
    adjust_targets,
    confusion_from_config,
    estimates,
    load_confusion,
    project_to_simplex,
)
from .bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    LEVEL,
    MIN_DOCS_FOR_CI,
    bootstrap_intervals,
    resample_weights,
)
from .core import ANY_TARGET, BY_CHOICES, OVERALL, Group, Summary, summarize
from .counting import N_FEATURES, TARGETED, count_vectors, shares
from .output import (
    CSV_FIELDS,
    check_output_folder,
    csv_rows,
    json_estimates,
    render_csv,
    render_json,
    write_summary,
)
from .ppi import ppi_estimates, ppi_totals
from .reading import NO_AUTHOR, UNDATED, GoldSample, Predictions, month_of, read_gold, read_predictions
from .sampling import draw_sample, write_sample
from .tables import summary_blocks

__all__ = [
    "ANY_TARGET", "BY_CHOICES", "CSV_FIELDS", "DEFAULT_RESAMPLES", "DEFAULT_SEED", "LEVEL", "MIN_DOCS_FOR_CI",
    "NO_AUTHOR", "N_FEATURES", "OVERALL", "TARGETED", "UNDATED", "Confusion", "GoldSample", "Group",
    "Predictions", "Summary", "adjust_stance", "adjust_targets", "bootstrap_intervals", "check_output_folder",
    "confusion_from_config", "count_vectors", "csv_rows", "draw_sample", "estimates", "json_estimates",
    "load_confusion", "month_of", "ppi_estimates", "ppi_totals", "project_to_simplex", "read_gold",
    "read_predictions", "render_csv", "render_json", "resample_weights", "shares", "summarize",
    "summary_blocks", "write_sample", "write_summary",
]
