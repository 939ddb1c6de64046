"""`pipeline agree`: agreement between two label files on the same sentences.

Records are joined on id; only ids in both files are compared (ids in one file only are
reported). Stance: Cohen's kappa, Krippendorff's alpha (nominal) and observed agreement, and
the confusion table (rows: file A, columns: file B). Each target: the same statistics on the
binary "has this target" decision. The disagreements are listed, ready for adjudication.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .evaluation.report import prepare_output_dir
from .records import STANCES, TARGETS, Record, atomic_write_text, label_problems, read_jsonl, write_jsonl

SCHEMA_VERSION = 1
SHOW_IDS = 10


# ---------------------------------------------------------------------------------------------
# statistics (pure)


def observed_agreement(a: Sequence, b: Sequence) -> float | None:
    if len(a) != len(b):
        raise ValueError("the two label sequences differ in length")
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)])) if len(a) else None


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """Cohen's kappa for two raters; None when undefined (expected agreement is 1, or no items)."""
    if len(a) != len(b):
        raise ValueError("the two label sequences differ in length")
    n = len(a)
    if not n:
        return None
    categories = sorted(set(a) | set(b), key=str)
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    p_e = sum((list(a).count(c) / n) * (list(b).count(c) / n) for c in categories)
    if math.isclose(p_e, 1.0):
        return None
    return float((p_o - p_e) / (1 - p_e))


def krippendorff_alpha(a: Sequence, b: Sequence, domain: Sequence | None = None) -> float | None:
    """Krippendorff's alpha, nominal, two coders with no missing values; None when undefined."""
    import krippendorff

    if len(a) != len(b):
        raise ValueError("the two label sequences differ in length")
    if not len(a):
        return None
    domain = list(domain) if domain is not None else sorted(set(a) | set(b), key=str)
    index = {v: i for i, v in enumerate(domain)}
    data = np.array([[index[x] for x in a], [index[y] for y in b]], dtype=float)
    if len(np.unique(data)) < 2:
        return None  # a single value: no disagreement is even possible
    try:
        value = krippendorff.alpha(
            reliability_data=data, level_of_measurement="nominal", value_domain=list(range(len(domain)))
        )
    except (ValueError, ZeroDivisionError):
        return None
    value = float(value)
    return None if math.isnan(value) else value


def stance_confusion(a: Sequence[str], b: Sequence[str]) -> list[list[int]]:
    matrix = np.zeros((len(STANCES), len(STANCES)), dtype=int)
    for x, y in zip(a, b, strict=True):
        matrix[STANCES.index(x), STANCES.index(y)] += 1
    return matrix.tolist()


# ---------------------------------------------------------------------------------------------
# files


def read_label_file(path: str | Path) -> tuple[dict[str, Record], int]:
    """Labelled records by id (file order) and how many unlabelled records were skipped."""
    records: dict[str, Record] = {}
    lines: dict[str, int] = {}
    unlabelled = 0
    for line_no, record in read_jsonl(path):
        record_id = record.get("id")
        if not isinstance(record_id, str):
            raise InputError(path, "missing or mistyped field 'id'", line_no)
        if "stance" not in record:
            unlabelled += 1
            continue
        problems = label_problems(record)
        if problems:
            raise InputError(path, "; ".join(problems), line_no)
        if record_id in records:
            raise InputError(path, f"duplicate id {record_id!r} (first on line {lines[record_id]})", line_no)
        records[record_id] = record
        lines[record_id] = line_no
    if not records:
        raise InputError(path, "no labelled sentences found")
    return records, unlabelled


def _label(record: Record) -> dict[str, Any]:
    targets = record.get("targets", [])
    return {"stance": record["stance"], "targets": [t for t in TARGETS if t in targets]}


def compare(
    records_a: dict[str, Record], records_b: dict[str, Record]
) -> tuple[dict[str, Any], list[Record]]:
    """Agreement statistics and the disagreement records, for labels keyed by id."""
    shared = [i for i in records_a if i in records_b]
    only_a = [i for i in records_a if i not in records_b]
    only_b = [i for i in records_b if i not in records_a]
    if not shared:
        return {"n_shared": 0, "only_a": only_a, "only_b": only_b}, []
    labels_a = [_label(records_a[i]) for i in shared]
    labels_b = [_label(records_b[i]) for i in shared]
    stance_a = [x["stance"] for x in labels_a]
    stance_b = [x["stance"] for x in labels_b]
    result: dict[str, Any] = {
        "n_shared": len(shared),
        "only_a": only_a,
        "only_b": only_b,
        "stance": {
            "kappa": cohen_kappa(stance_a, stance_b),
            "alpha": krippendorff_alpha(stance_a, stance_b, STANCES),
            "observed": observed_agreement(stance_a, stance_b),
            "confusion": {
                "labels": list(STANCES),
                "rows": "A",
                "columns": "B",
                "matrix": stance_confusion(stance_a, stance_b),
            },
        },
        "targets": {},
    }
    for target in TARGETS:
        ya = [int(target in x["targets"]) for x in labels_a]
        yb = [int(target in x["targets"]) for x in labels_b]
        result["targets"][target] = {
            "kappa": cohen_kappa(ya, yb),
            "alpha": krippendorff_alpha(ya, yb, [0, 1]),
            "observed": observed_agreement(ya, yb),
            "n_a": int(sum(ya)),
            "n_b": int(sum(yb)),
        }
    text_mismatch = []
    disagreements = []
    for record_id, la, lb in zip(shared, labels_a, labels_b, strict=True):
        ra, rb = records_a[record_id], records_b[record_id]
        ta, tb = ra.get("text"), rb.get("text")
        if isinstance(ta, str) and isinstance(tb, str) and ta != tb:
            text_mismatch.append(record_id)
        differ = [f for f in ("stance", "targets") if la[f] != lb[f]]
        if not differ:
            continue
        row: Record = {"id": record_id}
        doc = ra.get("doc_id", rb.get("doc_id"))
        if doc is not None:
            row["doc_id"] = doc
        text = ta if isinstance(ta, str) else tb
        if isinstance(text, str):
            row["text"] = text
        row.update({"label_a": la, "label_b": lb, "disagree_on": differ})
        disagreements.append(row)
    result["exact_agreement"] = 1 - len(disagreements) / len(shared)
    result["n_disagreements"] = len(disagreements)
    result["text_mismatch"] = text_mismatch
    return result, disagreements


# ---------------------------------------------------------------------------------------------
# output


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _rows(result: dict[str, Any]) -> list[list[str]]:
    rows = [
        [
            "stance",
            _fmt(result["stance"]["kappa"]),
            _fmt(result["stance"]["alpha"]),
            _fmt(result["stance"]["observed"]),
            "",
            "",
        ]
    ]
    for target, s in result["targets"].items():
        rows.append(
            [target, _fmt(s["kappa"]), _fmt(s["alpha"]), _fmt(s["observed"]), str(s["n_a"]), str(s["n_b"])]
        )
    return rows


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(3, len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    rule = (
        "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    )
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


HEADERS = ["Label", "Cohen's kappa", "Krippendorff's alpha", "Observed agreement", "A has", "B has"]


def _coverage(result: dict[str, Any]) -> str:
    return (
        f"{result['n_shared']} shared sentences ({len(result['only_a'])} only in A, "
        f"{len(result['only_b'])} only in B)"
    )


def short_summary(result: dict[str, Any]) -> str:
    lines = [f"A: {result['file_a']}", f"B: {result['file_b']}", _coverage(result)]
    skipped = [f"{result[key]} in {side}" for key, side in (("unlabelled_a", "A"), ("unlabelled_b", "B"))
               if result.get(key)]
    if skipped:
        lines.append(f"skipped unlabelled record(s) (no stance): {', '.join(skipped)}")
    if result["n_shared"]:
        lines += [
            _table(HEADERS, _rows(result)),
            f"exact agreement (stance and targets): {_fmt(result['exact_agreement'])}; "
            f"{result['n_disagreements']} disagreement(s)",
        ]
        if result["text_mismatch"]:
            lines.append(
                f"warning: {len(result['text_mismatch'])} shared id(s) have different text in A and B"
            )
    return "\n".join(lines)


def render_markdown(result: dict[str, Any]) -> str:
    parts = [
        "# Annotator agreement",
        f"A: `{result['file_a']}`  \nB: `{result['file_b']}`",
        _coverage(result) + ". Only shared sentences are compared.",
    ]
    for key, label in (("only_a", "Only in A"), ("only_b", "Only in B")):
        ids = result[key]
        if ids:
            shown = ", ".join(f"`{i}`" for i in ids[:SHOW_IDS])
            more = f" and {len(ids) - SHOW_IDS} more (see agreement.json)" if len(ids) > SHOW_IDS else ""
            parts.append(f"{label}: {shown}{more}.")
    if not result["n_shared"]:
        return "\n\n".join(parts) + "\n"
    parts += [
        "## Agreement",
        _table(HEADERS, _rows(result)),
        "Kappa and alpha are chance-corrected; they are undefined (—) when both annotators used a "
        "single value throughout. Targets are scored as yes/no per target on every shared sentence.",
        f"Exact agreement on the whole label (stance and target set): {_fmt(result['exact_agreement'])}; "
        f"{result['n_disagreements']} disagreement(s), listed in `disagreements.jsonl`.",
        "## Stance confusion (rows: A, columns: B)",
        _table(
            ["A \\ B", *STANCES],
            [
                [s, *(str(v) for v in row)]
                for s, row in zip(STANCES, result["stance"]["confusion"]["matrix"], strict=True)
            ],
        ),
    ]
    if result["text_mismatch"]:
        parts.append(
            f"**Warning:** {len(result['text_mismatch'])} shared id(s) have different text in the two "
            f"files (e.g. `{result['text_mismatch'][0]}`): the segmentation may have changed."
        )
    return "\n\n".join(parts) + "\n"


def agree_files(
    path_a: str | Path, path_b: str | Path, out_dir: str | Path | None = None
) -> tuple[dict[str, Any], list[Record]]:
    """Compare two label files; with out_dir write agreement.md, agreement.json, disagreements.jsonl."""
    records_a, unlabelled_a = read_label_file(path_a)
    records_b, unlabelled_b = read_label_file(path_b)
    result, disagreements = compare(records_a, records_b)
    result = {
        "schema_version": SCHEMA_VERSION,
        "file_a": str(path_a),
        "file_b": str(path_b),
        "unlabelled_a": unlabelled_a,
        "unlabelled_b": unlabelled_b,
        **result,
    }
    if out_dir is not None:
        out = prepare_output_dir(out_dir)
        inputs = [path_a, path_b]
        write_jsonl(out / "disagreements.jsonl", disagreements, inputs=inputs)
        atomic_write_text(out / "agreement.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        atomic_write_text(out / "agreement.md", render_markdown(result))
    return result, disagreements
