"""Write an evaluation report: report.md, report.html, metrics.json and PNG plots.

Everything is rendered from the metrics dictionary alone, so the report can be rebuilt from
metrics.json (``render_markdown(json.load(...))`` gives report.md back byte for byte).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import reportdoc
from ..errors import InputError
from ..records import STANCES, TARGETS, atomic_write_bytes, atomic_write_text
from ..reportdoc import table
from .report_plots import make_plots, slug

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


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _labels(stance: str, targets: Sequence[str]) -> str:
    return f"{stance} ({', '.join(targets)})" if targets else stance


# ---------------------------------------------------------------------------------------------
# the document: a list of blocks rendered both to Markdown and to HTML
#   ("h1"|"h2"|"h3"|"p", text) · ("table", headers, rows, aligns) · ("img", file, alt)
#   ("list", items)


_table = table


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


def render_markdown(metrics: dict) -> str:
    return reportdoc.render_markdown(build_document(metrics), metrics.get("plots", []))


def render_html(metrics: dict, images: dict[str, bytes]) -> str:
    return reportdoc.render_html(build_document(metrics), images, "Evaluation report")


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
