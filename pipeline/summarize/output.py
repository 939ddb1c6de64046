"""Writing a summary: summary.md, summary.html (shared report renderer), summary.csv,
summary.json (machine-readable estimates) and the PNG plots, each written atomically."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from .. import reportdoc
from ..errors import InputError
from ..records import STANCES, TARGETS, atomic_write_bytes, atomic_write_text, check_output_path
from .core import ANY_TARGET, Group, Summary
from .counting import TARGETED
from .plots import PLOT_FILES, make_plots
from .tables import headline_text, summary_blocks

SCHEMA_VERSION = 1
# measure name in summary.json -> key of the estimate arrays
MEASURES = {"stance_share": "stance_share", "share_of_stance": "of_stance", "share_of_all": "of_all"}

CSV_FIELDS = (
    "group_by", "group", "stance", "target", "count", "adjusted_count", "n_stance", "n_sentences",
    "n_documents", "share", "ci_low", "ci_high", "adjusted", "adjusted_ci_low", "adjusted_ci_high",
    "share_of_all", "share_of_all_ci_low", "share_of_all_ci_high", "share_of_all_adjusted",
    "adjusted_out_of_range", "ppi", "ppi_ci_low", "ppi_ci_high", "ppi_share_of_all", "ppi_share_of_all_ci_low",
    "ppi_share_of_all_ci_high", "n_labelled_documents", "n_labelled_sentences", "headline",
)


def _num(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.4f}"


def _json_num(value: Any) -> float | None:
    value = float(value)
    return round(value, 6) if math.isfinite(value) else None


def _methods(summary: Summary) -> list[str]:
    return ["raw"] + (["ppi"] if summary.gold is not None else []) + (["adjusted"] if summary.adjusted else [])


def estimate(group: Group, method: str, name: str, index: tuple) -> tuple[float, float, float, bool]:
    """(value, low, high, out_of_range) of one share; NaN where there is none. An adjusted value the
    inversion pushed out of 0-100% is NaN with out_of_range True (never a clipped 0% or 100%)."""
    where = (slice(None), *index)
    if method == "raw":
        value, ci = group.est[name][index], group.ci[name][where]
    elif method == "ppi":
        value, ci = group.ppi[name][index], group.ppi_ci[name][where]
    else:
        if bool(group.est[f"{name}_adj_out"][index]):
            return math.nan, math.nan, math.nan, True
        value, ci = group.est[f"{name}_adj"][index], group.ci[f"{name}_adj"][where]
    return float(value), float(ci[0]), float(ci[1]), False


def _cells_of(group: Group) -> list[tuple[str, str | None, str, tuple]]:
    """(stance, target or None, estimate name, index) of every share of a group."""
    cells: list[tuple[str, str | None, str, tuple]] = []
    for i, stance in enumerate(STANCES):
        cells.append((stance, None, "stance_share", (i,)))
        if stance in TARGETED:
            k = TARGETED.index(stance)
            cells += [(stance, t, name, (k, j)) for j, t in enumerate(TARGETS) for name in ("of_stance", "of_all")]
    return cells


def json_estimates(summary: Summary) -> list[dict[str, Any]]:
    rows = []
    measure_of = {v: k for k, v in MEASURES.items()}
    for group in summary.groups:
        for stance, target, name, index in _cells_of(group):
            for method in _methods(summary):
                value, low, high, out = estimate(group, method, name, index)
                row = {
                    "group_by": group.dimension, "group": group.key, "stance": stance, "target": target,
                    "measure": measure_of[name], "method": method,
                    "value": _json_num(value), "low": _json_num(low), "high": _json_num(high),
                    "n_sentences": group.n, "n_documents": group.n_docs,
                    "headline": method == group.headline,
                }
                if method == "ppi":
                    row["n_labelled_sentences"] = group.n_labelled
                    row["n_labelled_documents"] = group.n_labelled_docs
                if method == "adjusted":
                    row["out_of_range"] = out
                rows.append(row)
    return rows


def render_json(summary: Summary) -> str:
    p = summary.predictions
    document = {
        "schema_version": SCHEMA_VERSION,
        "predictions": p.source,
        "n_records": p.n_records,
        "n_boilerplate": p.n_boilerplate,
        "n_sentences": len(p),
        "n_documents": len(p.doc_ids),
        "gold": None if summary.gold is None else {
            "source": summary.gold.source, "unit": summary.gold.unit,
            "n_labelled_sentences": len(summary.gold), "n_labelled_documents": summary.gold.n_docs,
            "notes": summary.gold.notes,
        },
        "model": None if summary.confusion is None else summary.confusion.source,
        "headline": {"method": summary.overall.headline, "why": headline_text(summary).replace("**", "")},
        "bootstrap": {"resamples": summary.resamples, "seed": summary.seed, "level": 0.95, "unit": "document"},
        "estimates": json_estimates(summary),
    }
    return json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def csv_rows(summary: Summary) -> list[dict[str, str]]:
    """One row per group x stance x target (plus a target '(any)' row per stance with the stance share)."""
    rows = []
    for group in summary.groups:
        base = {"group_by": group.dimension, "group": group.key, "n_sentences": str(group.n),
                "n_documents": str(group.n_docs), "headline": group.headline}
        if summary.gold is not None:
            base |= {"n_labelled_documents": str(group.n_labelled_docs),
                     "n_labelled_sentences": str(group.n_labelled)}
        for stance, target, name, index in _cells_of(group):
            if name == "of_all":
                continue  # written with its of_stance row
            row = dict.fromkeys(CSV_FIELDS, "") | base | {"stance": stance, "target": target or ANY_TARGET}
            row["n_stance"] = str(group.stance_count(stance))
            row["count"] = row["n_stance"] if target is None else str(group.target_count(stance, target))
            names = (name, "stance_share" if target is None else "of_all")
            for prefix, key in (("", names[0]), ("share_of_all_", names[1])):
                value, low, high, _ = estimate(group, "raw", key, index)
                row["share" if not prefix else "share_of_all"] = _num(value)
                row[f"{prefix}ci_low"], row[f"{prefix}ci_high"] = _num(low), _num(high)
                if summary.gold is not None:
                    value, low, high, _ = estimate(group, "ppi", key, index)
                    ppi = "ppi" if not prefix else "ppi_share_of_all"
                    row[ppi], row[f"{ppi}_ci_low"], row[f"{ppi}_ci_high"] = _num(value), _num(low), _num(high)
            if summary.adjusted:
                value, low, high, out = estimate(group, "adjusted", names[0], index)
                all_value, _, _, all_out = estimate(group, "adjusted", names[1], index)
                row["adjusted"], row["adjusted_ci_low"], row["adjusted_ci_high"] = _num(value), _num(low), _num(high)
                row["share_of_all_adjusted"] = _num(all_value)
                row["adjusted_count"] = _num(all_value * group.n)
                row["adjusted_out_of_range"] = "true" if out or all_out else "false"
            rows.append(row)
    return rows


def render_csv(summary: Summary) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows(summary))
    return buffer.getvalue()


def render_markdown(blocks: list, images: dict[str, bytes]) -> str:
    return reportdoc.render_markdown(blocks, images)


def render_html(blocks: list, images: dict[str, bytes]) -> str:
    return reportdoc.render_html(blocks, images, "Blame summary")


def check_output_folder(folder: str | Path) -> Path:
    """Refuse an output path that is a file or whose parent folder is missing (creates nothing)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(folder, "output path exists and is not a folder")
    if not folder.exists() and not folder.parent.is_dir():
        raise InputError(folder, f"parent folder {folder.parent} does not exist")
    return folder


def prepare_output_folder(folder: str | Path) -> Path:
    """Create the output folder if its parent exists; refuse when the parent is missing or it is a file."""
    folder = check_output_folder(folder)
    folder.mkdir(exist_ok=True)
    return folder


def write_summary(summary: Summary, folder: str | Path) -> list[Path]:
    """Write summary.md, .html, .csv, .json and the plots into folder; return the paths written."""
    folder = prepare_output_folder(folder)
    inputs = [summary.predictions.source] + ([summary.gold.source] if summary.gold is not None else [])
    images = make_plots(summary)
    blocks = summary_blocks(summary, images)
    written: list[Path] = []

    def put(name: str, content: str | bytes) -> None:
        path = folder / name
        check_output_path(path, inputs)
        if isinstance(content, bytes):
            atomic_write_bytes(path, content)
        else:
            atomic_write_text(path, content)
        written.append(path)

    for name, data in images.items():
        put(name, data)
    put("summary.csv", render_csv(summary))
    put("summary.json", render_json(summary))
    put("summary.md", render_markdown(blocks, images))
    put("summary.html", render_html(blocks, images))
    # A plot from an earlier run that this run does not make (e.g. a timeline when no dates parse
    # any more) would sit beside the new summary as if it belonged to it: remove our own names only.
    for name in PLOT_FILES:
        if name not in images:
            (folder / name).unlink(missing_ok=True)
    return written



