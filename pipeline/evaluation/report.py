"""Write an evaluation report: report.md, report.html, metrics.json and PNG plots.

Everything is rendered from the metrics dictionary alone, so the report can be rebuilt from
metrics.json (``render_markdown(json.load(...))`` gives report.md back byte for byte).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..records import STANCES, TARGETS, atomic_write_bytes, atomic_write_text

SCHEMA_VERSION = 1
WORST_SHOWN = 5
DOCS_SHOWN = 60
FEW_DOCS = 10

HEADLINE_COLUMNS = (
    ("stance_macro_f1", "Stance macro-F1 [95% CI]", True),
    ("stance_accuracy", "Accuracy", False),
    ("target_micro_f1", "Target micro-F1 [95% CI]", True),
    ("target_macro_f1", "Target macro-F1", False),
    ("exact_match", "Exact match", False),
    ("pair_f1", "Pair F1", False),
    ("ece", "ECE", False),
)
METRIC_NAMES = {key: title.replace(" [95% CI]", "") for key, title, _ in HEADLINE_COLUMNS}


# ---------------------------------------------------------------------------------------------
# JSON


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars and arrays converted, nan/inf as None, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    return value


# ---------------------------------------------------------------------------------------------
# formatting


def fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def fmt_ci(entry: dict | None, digits: int = 3) -> str:
    if not entry or entry.get("value") is None:
        return "—"
    text = fmt(entry["value"], digits)
    if entry.get("ci_low") is not None:
        text += f" [{fmt(entry['ci_low'], digits)}, {fmt(entry['ci_high'], digits)}]"
    return text


def fmt_value_ci(value: float | None, ci: Sequence[float | None] | None) -> str:
    if value is None:
        return "—"
    if ci and ci[0] is not None:
        return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{value:.3f}"


def fmt_signed(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "backend"


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _labels(stance: str, targets: Sequence[str]) -> str:
    return f"{stance} ({', '.join(targets)})" if targets else stance


# ---------------------------------------------------------------------------------------------
# the document: a list of blocks rendered both to Markdown and to HTML
#   ("h1"|"h2"|"h3"|"p", text) · ("table", headers, rows, aligns) · ("img", file, alt)
#   ("list", items)


def _table(headers: list[str], rows: list[list[str]], numeric_from: int = 1) -> tuple:
    aligns = ["left"] * min(numeric_from, len(headers)) + ["right"] * max(len(headers) - numeric_from, 0)
    return ("table", headers, rows, aligns)


def _backend_names(metrics: dict) -> list[str]:
    return list(metrics["backends"])


def _headline_table(metrics: dict) -> tuple:
    best = metrics.get("best_backend")
    rows = []
    for name, result in metrics["backends"].items():
        label = f"{name} (best)" if name == best and len(metrics["backends"]) > 1 else name
        row = [label]
        for key, _, with_ci in HEADLINE_COLUMNS:
            entry = result["headline"][key]
            row.append(fmt_ci(entry) if with_ci else fmt(entry["value"]))
        rows.append(row)
    return _table(["Backend"] + [title for _, title, _ in HEADLINE_COLUMNS], rows)


def _held_out_note(metrics: dict) -> list[tuple]:
    config = metrics["config"]
    blocks: list[tuple] = [("h2", "What was held out")]
    if metrics["mode"] == "crossval" and config.get("folds") is None:
        blocks.append(
            (
                "p",
                f"Held-out sources: {config.get('fold_scheme', '')}. Each source is scored by models trained "
                f"without any of its documents (the seeds by models trained on written text only, each "
                f"written batch by models trained on the seeds and the other batch); target thresholds are "
                f"0.5 and the stance temperature is fitted on the other folds. This report scores "
                f"{config.get('scored', 'gold sentences')}.",
            )
        )
    elif metrics["mode"] == "crossval":
        folds = config["folds"]
        scheme = (
            "leave-one-document-out"
            if all(len(f) == 1 for f in folds)
            else f"grouped {len(folds)}-fold by document"
        )
        blocks.append(
            (
                "p",
                f"Cross-validation, {scheme}: {len(folds)} folds, the same folds for every backend. "
                f"Each gold sentence is scored by a model trained without any sentence of its document, "
                f"and the per-target thresholds used for a fold are tuned on the other folds' "
                f"out-of-fold scores only.",
            )
        )
    if metrics["mode"] == "crossval":
        scored_here = config.get("scored", "gold sentences")
        if config.get("folds") is None:
            blocks.append(("p", f"Scored here: {scored_here} ({config['n_sentences']} sentences from "
                                f"{config['n_docs']} documents). Gold and written documents are reported apart "
                                f"(written documents: the `written_documents/` report beside the gold one); "
                                f"short written groups and augmented records only ever train."))
        else:
            blocks.append(
                (
                    "p",
                    f"Only gold sentences are scored ({config['n_sentences']} sentences from "
                    f"{config['n_docs']} documents). Written examples ({config.get('n_written', 0)}) and "
                    f"augmented records ({config.get('n_augmented', 0)}) join every training fold and never "
                    f"enter a test fold, so they cannot inflate a score. Role-swap augmentation, for backends "
                    f"that use it, is made inside each training fold from that fold's sentences only.",
                )
            )
        lc = metrics.get("learning_curve")
        if lc and lc.get("points"):
            blocks.append(
                (
                    "p",
                    f"The learning curve ({lc['backend']}) trains on nested random subsets of each fold's "
                    f"training documents (seed {lc['seed']}, at least one document); written examples are "
                    f"kept at every size and the test folds do not change.",
                )
            )
        if config.get("folds"):
            blocks.append(("h3", "Folds (test documents)"))
            blocks.append(
                _table(
                    ["Fold", "Test documents"],
                    [[str(i), ", ".join(f"`{d}`" for d in fold)] for i, fold in enumerate(config["folds"], start=1)],
                    numeric_from=2,
                )
            )
    else:
        blocks.append(
            (
                "p",
                f"Single model `{config['model_dir']}` ({config['model_name']}) scored on "
                f"`{config['test_file']}`: {config['n_sentences']} gold sentences from "
                f"{config['n_docs']} documents, with the model's own thresholds. "
                f"Records whose origin is not gold ({config.get('n_not_gold', 0)}) were not scored. "
                f"Whether the test sentences were kept out of the model's training data is not checked "
                f"here: use a file the model never saw.",
            )
        )
    if config["n_docs"] < FEW_DOCS:
        blocks.append(
            (
                "p",
                f"**Only {config['n_docs']} documents.** A bootstrap over so few documents has few distinct "
                f"resamples: the intervals below are rough and probably too narrow, so read them as a "
                f"lower bound on the uncertainty.",
            )
        )
    blocks.append(
        (
            "p",
            f"95% confidence intervals come from a cluster bootstrap: documents are resampled with "
            f"replacement ({config['n_bootstrap']} resamples, seed {config['seed']}), so sentences "
            f"from one document stay together.",
        )
    )
    return blocks


def _comparison_blocks(metrics: dict) -> list[tuple]:
    comparison = metrics.get("comparison") or {}
    if not comparison.get("rows"):
        return []
    rows = []
    for row in comparison["rows"]:
        rows.append(
            [
                METRIC_NAMES.get(row["metric"], row["metric"]),
                row["best"],
                row["backend"],
                fmt_signed(row["observed_diff"]),
                f"{fmt_signed(row['mean_diff'])} [{fmt_signed(row['ci_low'])}, {fmt_signed(row['ci_high'])}]",
                fmt_pct(row["share_at_least_as_good"]),
            ]
        )
    return [
        ("h2", "Paired comparison with the best backend"),
        (
            "p",
            "For each metric, every backend is compared with the best one on the same resampled "
            "documents. Difference = backend − best (negative: worse than the best). The last column "
            "is the share of resamples in which the backend scores at least as well as the best; "
            "a share well above 2.5% means the data do not separate the two.",
        ),
        _table(
            ["Metric", "Best", "Backend", "Difference", "Mean difference [95% CI]", "Resamples ≥ best"],
            rows,
            numeric_from=3,
        ),
    ]


def _stance_blocks(metrics: dict) -> list[tuple]:
    rows = []
    for name, result in metrics["backends"].items():
        for stance in STANCES:
            c = result["stance"]["per_class"][stance]
            rows.append(
                [
                    name,
                    stance,
                    fmt(c["precision"]),
                    fmt(c["recall"]),
                    fmt_value_ci(c["f1"], c.get("f1_ci")),
                    str(c["support"]),
                ]
            )
    blocks: list[tuple] = [
        ("h2", "Stance per class"),
        _table(["Backend", "Stance", "Precision", "Recall", "F1 [95% CI]", "Gold"], rows, numeric_from=2),
        ("h3", "Confusion matrices (rows: gold, columns: predicted)"),
    ]
    for name, result in metrics["backends"].items():
        matrix = result["stance"]["confusion"]
        blocks.append(("p", f"**{name}**"))
        blocks.append(
            _table(
                ["gold \\ predicted", *STANCES],
                [[stance, *(str(v) for v in matrix[i])] for i, stance in enumerate(STANCES)],
            )
        )
    blocks.append(
        (
            "imgs",
            [
                (f"confusion_{slug(n)}.png", f"Stance confusion matrix for {n}")
                for n in _backend_names(metrics)
            ],
        )
    )
    return blocks


def _target_blocks(metrics: dict) -> list[tuple]:
    rows = []
    for name, result in metrics["backends"].items():
        for target in TARGETS:
            c = result["targets"]["per_target"][target]
            rows.append(
                [
                    name,
                    target,
                    fmt(c["precision"]),
                    fmt(c["recall"]),
                    fmt_value_ci(c["f1"], c.get("f1_ci")),
                    str(c["support"]),
                    str(c["predicted"]),
                ]
            )
    return [
        ("h2", "Targets"),
        (
            "p",
            "Over all gold sentences: a neutral gold sentence has no targets and a neutral prediction "
            "has none either. Exact match is the share of sentences whose predicted target set equals "
            "the gold set; pair F1 scores (stance, target) pairs.",
        ),
        _table(
            ["Backend", "Target", "Precision", "Recall", "F1 [95% CI]", "Gold", "Predicted"],
            rows,
            numeric_from=2,
        ),
        ("img", "target_f1.png", "Per-target F1 with 95% bootstrap intervals"),
    ]


def _calibration_blocks(metrics: dict) -> list[tuple]:
    names = _backend_names(metrics)
    first = metrics["backends"][names[0]]["calibration"]["bins"]
    rows = []
    for b, bin_ in enumerate(first):
        row = [f"({bin_['lo']:.1f}, {bin_['hi']:.1f}]"]
        for name in names:
            entry = metrics["backends"][name]["calibration"]["bins"][b]
            row.append("—" if not entry["count"] else f"{fmt(entry['accuracy'], 2)} ({entry['count']})")
        rows.append(row)
    rows.append(["ECE", *(fmt(metrics["backends"][n]["calibration"]["ece"]) for n in names)])
    text = ("Confidence is the probability of the predicted stance, in 10 equal-width bins. Each cell is "
            "the accuracy in the bin (number of sentences); a calibrated model's accuracy matches its "
            "confidence. ECE is the size-weighted mean gap.")
    if any("ece_uncalibrated" in metrics["backends"][n] for n in names):
        rows.append(["ECE before temperature scaling",
                     *(fmt(metrics["backends"][n].get("ece_uncalibrated")) for n in names)])
        text += (" The stance scores are temperature-scaled as a trained model's are, with each fold's "
                 "temperature fitted on the other folds; the last row is the ECE of the raw scores.")
    return [
        ("h2", "Calibration"),
        ("p", text),
        _table(["Confidence", *names], rows),
        ("img", "reliability.png", "Reliability diagram"),
    ]


def _learning_curve_blocks(metrics: dict) -> list[tuple]:
    lc = metrics.get("learning_curve")
    if not lc:
        return []
    if not lc.get("points"):
        return [("h2", "Learning curve"), ("p", lc.get("note", "No learning curve was computed."))]
    rows = [
        [
            fmt_pct(p["fraction"]),
            f"{p['train_docs_mean']:.1f}",
            fmt_ci(p["stance_macro_f1"]),
            fmt_ci(p["target_micro_f1"]),
        ]
        for p in lc["points"]
    ]
    return [
        ("h2", f"Learning curve ({lc['backend']})"),
        _table(
            [
                "Training documents",
                "Documents per fold (mean)",
                "Stance macro-F1 [95% CI]",
                "Target micro-F1 [95% CI]",
            ],
            rows,
        ),
        ("img", "learning_curve.png", "Learning curve"),
    ]


def _per_document_blocks(metrics: dict) -> list[tuple]:
    names = _backend_names(metrics)
    by_backend = {n: {d["doc_id"]: d for d in metrics["backends"][n]["per_document"]} for n in names}
    docs = [d["doc_id"] for d in metrics["backends"][names[0]]["per_document"]]
    rows = []
    for doc in docs[:DOCS_SHOWN]:
        row = [f"`{doc}`", str(by_backend[names[0]][doc]["n"])]
        for name in names:
            d = by_backend[name][doc]
            row.append(
                f"{fmt(d['stance_accuracy'], 2)} / {fmt(d['stance_macro_f1'], 2)} / "
                f"{fmt(d['target_micro_f1'], 2)}"
            )
        rows.append(row)
    blocks: list[tuple] = [
        ("h2", "Per document"),
        (
            "p",
            "Each cell: stance accuracy / stance macro-F1 / target micro-F1 on that document's "
            "sentences (— where undefined, e.g. no targets in gold or predictions).",
        ),
        _table(["Document", "Sentences", *names], rows),
    ]
    if len(docs) > DOCS_SHOWN:
        blocks.append(("p", f"{len(docs) - DOCS_SHOWN} more documents are listed in metrics.json."))
    return blocks


def _worst_blocks(metrics: dict) -> list[tuple]:
    blocks: list[tuple] = [
        ("h2", "Worst errors"),
        (
            "p",
            f"The most confident wrong stance predictions (up to {WORST_SHOWN} per backend; "
            f"more in metrics.json).",
        ),
    ]
    for name, result in metrics["backends"].items():
        errors = result["worst_errors"][:WORST_SHOWN]
        blocks.append(("h3", name))
        if not errors:
            blocks.append(("p", "No wrong stance predictions."))
            continue
        rows = [
            [
                f"`{e['id']}`",
                _short(e["text"]),
                _labels(e["gold_stance"], e["gold_targets"]),
                _labels(e["pred_stance"], e["pred_targets"]),
                fmt(e["confidence"], 2),
            ]
            for e in errors
        ]
        blocks.append(_table(["Sentence", "Text", "Gold", "Predicted", "Confidence"], rows, numeric_from=4))
    return blocks


def build_document(metrics: dict) -> list[tuple]:
    config = metrics["config"]
    if metrics["mode"] == "crossval":
        held = "held-out sources" if config.get("folds") is None else "document-held-out cross-validation"
        scored = config.get("scored", "gold sentences")
        intro = (
            f"{len(metrics['backends'])} backend(s) compared by {held} on "
            f"{config['n_sentences']} sentences from {config['n_docs']} documents: {scored}."
        )
    else:
        intro = (
            f"One trained model scored on {config['n_sentences']} gold sentences from "
            f"{config['n_docs']} documents."
        )
    if config.get("data_hash"):
        intro += f" Data hash `{config['data_hash']}`."
    blocks: list[tuple] = [
        ("h1", "Evaluation report"),
        ("p", intro),
        ("h2", "Headline"),
        _headline_table(metrics),
        (
            "p",
            "Macro-F1 averages the per-class F1 over classes present in gold or predictions. "
            "Target micro-F1 pools all (sentence, target) decisions. ECE: expected calibration error "
            "of the stance (lower is better).",
        ),
    ]
    blocks += _held_out_note(metrics)
    blocks += _comparison_blocks(metrics)
    blocks += _stance_blocks(metrics)
    blocks += _target_blocks(metrics)
    blocks += _calibration_blocks(metrics)
    blocks += _learning_curve_blocks(metrics)
    blocks += _per_document_blocks(metrics)
    blocks += _worst_blocks(metrics)
    return blocks


# ---------------------------------------------------------------------------------------------
# Markdown


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(headers: list[str], rows: list[list[str]], aligns: list[str]) -> str:
    cells = [[_md_cell(h) for h in headers]] + [[_md_cell(c) for c in row] for row in rows]
    widths = [max(3, *(len(row[i]) for row in cells)) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if a == "right" else c.ljust(w) for c, w, a in zip(row, widths, aligns, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if a == "right" else ("-" * (w + 2))
            for w, a in zip(widths, aligns, strict=True)
        )
        + "|"
    )
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def render_markdown(metrics: dict) -> str:
    parts = []
    for block in build_document(metrics):
        kind = block[0]
        if kind == "h1":
            parts.append(f"# {block[1]}")
        elif kind == "h2":
            parts.append(f"## {block[1]}")
        elif kind == "h3":
            parts.append(f"### {block[1]}")
        elif kind == "p":
            parts.append(block[1])
        elif kind == "table":
            parts.append(_md_table(block[1], block[2], block[3]))
        elif kind == "img":
            if block[1] in metrics.get("plots", []):
                parts.append(f"![{block[2]}]({block[1]})")
        elif kind == "imgs":
            shown = [f"![{alt}]({file})" for file, alt in block[1] if file in metrics.get("plots", [])]
            if shown:
                parts.append(" ".join(shown))
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in block[1]))
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# HTML

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0 1.2em; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 9px; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
tr:nth-child(even) td { background: #fbfcfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font-size: 90%; background: #f3f4f6; padding: 0 .25em; border-radius: 3px; }
img { max-width: 100%; height: auto; display: block; margin: .6em 0 1.4em; }
figure { margin: 0; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; margin: .6em 0 1.4em; }
.gallery img { width: 340px; max-width: 100%; margin: 0; }
"""


def _inline_html(text: str) -> str:
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def render_html(metrics: dict, images: dict[str, bytes]) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Evaluation report</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    for block in build_document(metrics):
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{_inline_html(block[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline_html(block[1])}</p>")
        elif kind == "table":
            headers, rows, aligns = block[1], block[2], block[3]
            cls = [' class="num"' if a == "right" else "" for a in aligns]
            out.append("<table><thead><tr>")
            out.append("".join(f"<th{c}>{_inline_html(h)}</th>" for h, c in zip(headers, cls, strict=True)))
            out.append("</tr></thead><tbody>")
            for row in rows:
                cells = "".join(f"<td{c}>{_inline_html(v)}</td>" for v, c in zip(row, cls, strict=True))
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
        elif kind == "img" and block[1] in images:
            data = base64.b64encode(images[block[1]]).decode("ascii")
            out.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}"></figure>'
            )
        elif kind == "imgs":
            figures = [
                f'<img src="data:image/png;base64,{base64.b64encode(images[file]).decode("ascii")}" '
                f'alt="{html.escape(alt)}">'
                for file, alt in block[1]
                if file in images
            ]
            if figures:
                out.append('<div class="gallery">' + "".join(figures) + "</div>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1]) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# plots (matplotlib's Agg canvas through Figure: no pyplot state, no display needed)

COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def plot_confusion(name: str, matrix: list[list[int]]) -> bytes:
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig = Figure(figsize=(4.6, 3.9))
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(STANCES)), STANCES)
    ax.set_yticks(range(len(STANCES)), STANCES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{name}: stance confusion")
    for i in range(len(STANCES)):
        for j in range(len(STANCES)):
            color = "white" if share[i, j] > 0.6 else "#1f2328"
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}\n{100 * share[i, j]:.0f}%",
                ha="center",
                va="center",
                color=color,
                fontsize=9,
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
    return _png(fig)


def plot_reliability(bins_by_backend: dict[str, list[dict]]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 6.2))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.1]})
    top.plot([0, 1], [0, 1], color="#888888", linestyle="--", linewidth=1, label="perfect calibration")
    n = len(bins_by_backend)
    width = 0.1 / max(n, 1) * 0.9
    for k, (name, bins) in enumerate(bins_by_backend.items()):
        color = COLORS[k % len(COLORS)]
        xs = [b["confidence"] for b in bins if b["count"]]
        ys = [b["accuracy"] for b in bins if b["count"]]
        top.plot(xs, ys, marker="o", color=color, label=name, linewidth=1.5, markersize=4)
        centers = [b["lo"] + 0.005 + width * (k + 0.5) for b in bins]
        bottom.bar(centers, [b["count"] for b in bins], width=width, color=color)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy in bin")
    top.set_title("Reliability of the stance (10 equal-width bins)")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_xlabel("confidence (probability of the predicted stance)")
    bottom.set_ylabel("sentences")
    bottom.set_xticks(np.linspace(0, 1, 11))
    bottom.grid(alpha=0.3, axis="y")
    return _png(fig)


def plot_learning_curve(curve: dict) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.2, 4.0))
    ax = fig.add_subplot()
    xs = [100 * p["fraction"] for p in curve["points"]]
    for k, (key, label) in enumerate(
        (("stance_macro_f1", "stance macro-F1"), ("target_micro_f1", "target micro-F1"))
    ):
        color = COLORS[k]
        ys = [p[key]["value"] for p in curve["points"]]
        ys = [np.nan if y is None else y for y in ys]
        ax.plot(xs, ys, marker="o", color=color, label=label)
        lows = [np.nan if p[key]["ci_low"] is None else p[key]["ci_low"] for p in curve["points"]]
        highs = [np.nan if p[key]["ci_high"] is None else p[key]["ci_high"] for p in curve["points"]]
        ax.fill_between(xs, lows, highs, color=color, alpha=0.15, linewidth=0)
    ax.set_xticks(xs, [f"{x:.0f}%" for x in xs])
    ax.set_xlabel("share of each fold's training documents")
    ax.set_ylabel("score (band: 95% CI)")
    ax.set_ylim(0, 1)
    ax.set_title(f"Learning curve: {curve['backend']}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def plot_target_f1(backends: dict[str, dict]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.4, 4.2))
    ax = fig.add_subplot()
    n = len(backends)
    width = 0.8 / max(n, 1)
    x = np.arange(len(TARGETS))
    for k, (name, result) in enumerate(backends.items()):
        per = result["targets"]["per_target"]
        values, low_err, high_err, missing = [], [], [], []
        for j, t in enumerate(TARGETS):
            f1 = per[t]["f1"]
            ci = per[t].get("f1_ci") or [None, None]
            if f1 is None:
                missing.append(j)
                values.append(0.0)
                low_err.append(0.0)
                high_err.append(0.0)
                continue
            values.append(f1)
            low_err.append(max(f1 - ci[0], 0.0) if ci[0] is not None else 0.0)
            high_err.append(max(ci[1] - f1, 0.0) if ci[1] is not None else 0.0)
        positions = x - 0.4 + width * (k + 0.5)
        ax.bar(
            positions,
            values,
            width=width * 0.95,
            color=COLORS[k % len(COLORS)],
            label=name,
            yerr=[low_err, high_err],
            capsize=2,
            error_kw={"elinewidth": 0.9, "ecolor": "#333333"},
        )
        for j, value in enumerate(values):
            if j not in missing and value == 0:
                ax.text(positions[j], 0.01, "0", ha="center", va="bottom", fontsize=7, color="#555555")
        for j in missing:
            ax.text(
                positions[j], 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90, color="#555555"
            )
    ax.set_xticks(x, [t.replace("_", " ") for t in TARGETS])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 (error bars: 95% CI)")
    ax.set_title("Per-target F1")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=min(n, 5), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    return _png(fig)


def make_plots(metrics: dict) -> dict[str, bytes]:
    images: dict[str, bytes] = {}
    for name, result in metrics["backends"].items():
        images[f"confusion_{slug(name)}.png"] = plot_confusion(name, result["stance"]["confusion"])
    images["reliability.png"] = plot_reliability(
        {name: result["calibration"]["bins"] for name, result in metrics["backends"].items()}
    )
    images["target_f1.png"] = plot_target_f1(metrics["backends"])
    lc = metrics.get("learning_curve")
    if lc and lc.get("points"):
        images["learning_curve.png"] = plot_learning_curve(lc)
    return images


# ---------------------------------------------------------------------------------------------
# writing


def check_output_dir(out_dir: str | Path) -> Path:
    """Refuse a report path that is a file; create nothing (so a failed run leaves no folder)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(out, "output path exists and is not a folder")
    return out


def prepare_output_dir(out_dir: str | Path) -> Path:
    """Create the report folder (and parents); refuse a path that is a file."""
    out = check_output_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(out, f"cannot create output folder ({exc.strerror})") from None
    return out


def write_report(metrics: dict, out_dir: str | Path) -> list[Path]:
    """Write metrics.json, the PNG plots, report.md and report.html; return the paths."""
    out = prepare_output_dir(out_dir)
    metrics = to_jsonable(metrics)
    metrics["schema_version"] = SCHEMA_VERSION
    images = make_plots(metrics)
    metrics["plots"] = sorted(images)
    written = []
    for name, data in images.items():
        atomic_write_bytes(out / name, data)
        written.append(out / name)
    ordered = {
        "schema_version": SCHEMA_VERSION,
        **{k: v for k, v in metrics.items() if k != "schema_version"},
    }
    text = json.dumps(ordered, indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write_text(out / "metrics.json", text + "\n")
    atomic_write_text(out / "report.md", render_markdown(ordered))
    atomic_write_text(out / "report.html", render_html(ordered, images))
    written += [out / "metrics.json", out / "report.md", out / "report.html"]
    return written
