"""pipeline.agree: kappa against scikit-learn, alpha by hand, the join, and the CLI."""

from __future__ import annotations

import json
from collections import Counter
from itertools import permutations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from pipeline import agree
from pipeline.cli import app
from pipeline.records import read_records

A = ["blame", "blame", "defend", "neutral", "neutral", "blame", "defend", "neutral", "neutral", "blame"]
B = ["blame", "defend", "defend", "neutral", "blame", "blame", "neutral", "neutral", "neutral", "blame"]


def _alpha_by_hand(a, b):
    """Nominal Krippendorff's alpha for two coders without missing values (coincidence matrix)."""
    pairs = Counter()
    for x, y in zip(a, b, strict=True):
        for u, v in permutations((x, y)):
            pairs[(u, v)] += 1
    n_c = Counter()
    for (u, _), count in pairs.items():
        n_c[u] += count
    n = sum(n_c.values())
    observed = sum(count for (u, v), count in pairs.items() if u != v)
    expected = sum(n_c[u] * n_c[v] for u in n_c for v in n_c if u != v) / (n - 1)
    return 1 - observed / expected


def test_kappa_matches_sklearn():
    assert agree.cohen_kappa(A, B) == pytest.approx(cohen_kappa_score(A, B))
    ya = [1, 0, 0, 1, 1, 0, 0, 0, 1, 0]
    yb = [1, 0, 1, 1, 0, 0, 0, 0, 1, 0]
    assert agree.cohen_kappa(ya, yb) == pytest.approx(cohen_kappa_score(ya, yb))
    assert agree.cohen_kappa(A, A) == pytest.approx(1.0)


def test_kappa_by_hand():
    # 2x2: agree on 3 of 4; p_o = .75, p_e = .5*.75 + .5*.25 = .5  -> kappa = .5
    assert agree.cohen_kappa([1, 1, 0, 0], [1, 1, 1, 0]) == pytest.approx(0.5)


def test_undefined_statistics_are_none():
    assert agree.cohen_kappa([0, 0, 0], [0, 0, 0]) is None
    assert agree.krippendorff_alpha([0, 0, 0], [0, 0, 0], [0, 1]) is None
    assert agree.cohen_kappa([], []) is None
    assert agree.observed_agreement([], []) is None


def test_alpha_matches_hand_computation():
    assert agree.krippendorff_alpha(A, B) == pytest.approx(_alpha_by_hand(A, B))
    ya = [1, 0, 0, 1, 1, 0, 0, 0, 1, 0]
    yb = [1, 0, 1, 1, 0, 0, 0, 0, 1, 0]
    assert agree.krippendorff_alpha(ya, yb, [0, 1]) == pytest.approx(_alpha_by_hand(ya, yb))


def _records(stances, targets, prefix="d:", texts=True):
    out = []
    for i, (s, t) in enumerate(zip(stances, targets, strict=True)):
        r = {"id": f"{prefix}{i:04d}", "doc_id": "d", "stance": s, "targets": t}
        if texts:
            r["text"] = f"Sentence {i}."
        out.append(r)
    return out


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


TARGETS_A = [["managers"], [], ["social_workers"], [], [], ["government"], [], [], [], ["managers"]]
TARGETS_B = [
    ["managers"],
    [],
    ["social_workers"],
    [],
    ["managers"],
    [],
    [],
    [],
    [],
    ["managers", "government"],
]


def test_compare_joins_on_id():
    a = {r["id"]: r for r in _records(A, TARGETS_A)}
    b = {r["id"]: r for r in _records(B, TARGETS_B)}
    b.pop("d:0000")
    b["x:9"] = {"id": "x:9", "stance": "neutral", "targets": []}
    result, disagreements = agree.compare(a, b)
    assert result["n_shared"] == 9 and result["only_a"] == ["d:0000"] and result["only_b"] == ["x:9"]
    shared_a, shared_b = A[1:], B[1:]
    assert result["stance"]["kappa"] == pytest.approx(cohen_kappa_score(shared_a, shared_b))
    assert result["stance"]["observed"] == pytest.approx(
        np.mean([x == y for x, y in zip(shared_a, shared_b, strict=True)])
    )
    ya = [int("managers" in t) for t in TARGETS_A[1:]]
    yb = [int("managers" in t) for t in TARGETS_B[1:]]
    assert result["targets"]["managers"]["kappa"] == pytest.approx(cohen_kappa_score(ya, yb))
    assert result["targets"]["managers"]["n_a"] == 1 and result["targets"]["managers"]["n_b"] == 2
    assert result["targets"]["councillors"]["kappa"] is None  # nobody used it
    assert result["targets"]["councillors"]["observed"] == 1.0
    matrix = result["stance"]["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == 9 and matrix[0][1] == 1  # A blame, B defend (d:0001)
    ids = [d["id"] for d in disagreements]
    assert ids == ["d:0001", "d:0004", "d:0005", "d:0006", "d:0009"]
    first = disagreements[0]
    assert first["text"] == "Sentence 1." and first["label_a"] == {"stance": "blame", "targets": []}
    assert first["label_b"] == {"stance": "defend", "targets": []} and first["disagree_on"] == ["stance"]
    assert disagreements[-1]["disagree_on"] == ["targets"]
    assert result["exact_agreement"] == pytest.approx(1 - 5 / 9)


def test_cli_agree_writes_files(tmp_path):
    a = _write(tmp_path / "a.jsonl", _records(A, TARGETS_A))
    b = _write(tmp_path / "b.jsonl", _records(B, TARGETS_B, texts=False))
    out = tmp_path / "agreement"
    result = CliRunner().invoke(app, ["agree", str(a), str(b), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Cohen's kappa" in result.stdout and "stance" in result.stdout
    assert f"{cohen_kappa_score(A, B):.3f}" in result.stdout
    data = json.loads((out / "agreement.json").read_text())
    assert data["schema_version"] == 1 and data["n_shared"] == 10
    assert data["stance"]["kappa"] == pytest.approx(cohen_kappa_score(A, B))
    rows = read_records(out / "disagreements.jsonl")
    assert len(rows) == data["n_disagreements"] == 5
    assert all("text" in r for r in rows)  # taken from file A when B has none
    md = (out / "agreement.md").read_text()
    assert "# Annotator agreement" in md and "Stance confusion" in md


def test_cli_agree_without_output_prints_only(tmp_path):
    a = _write(tmp_path / "a.jsonl", _records(A, TARGETS_A))
    result = CliRunner().invoke(app, ["agree", str(a), str(a)])
    assert result.exit_code == 0, result.output
    assert "1.000" in result.stdout
    assert list(tmp_path.iterdir()) == [a]


def test_cli_agree_bad_label_is_one_line_with_file_and_line(tmp_path):
    a = _write(tmp_path / "a.jsonl", _records(A, TARGETS_A))
    bad = _records(B, TARGETS_B)
    bad[2]["stance"] = "angry"
    b = _write(tmp_path / "b.jsonl", bad)
    result = CliRunner().invoke(app, ["agree", str(a), str(b)])
    assert result.exit_code == 1
    assert f"{b}:3: unknown stance 'angry'" in result.output
    assert "Traceback" not in result.output


def test_duplicate_ids_and_text_mismatch(tmp_path):
    records = _records(A[:2], TARGETS_A[:2])
    dup = _write(tmp_path / "dup.jsonl", records + [records[0]])
    with pytest.raises(agree.InputError, match=r"dup.jsonl:3: duplicate id"):
        agree.read_label_file(dup)
    a = {r["id"]: r for r in _records(A[:2], TARGETS_A[:2])}
    b = {r["id"]: dict(r) for r in _records(A[:2], TARGETS_A[:2])}
    b["d:0001"]["text"] = "Something else."
    result, disagreements = agree.compare(a, b)
    assert result["text_mismatch"] == ["d:0001"] and not disagreements


def test_unlabelled_records_are_skipped(tmp_path):
    records = _records(A[:3], TARGETS_A[:3]) + [{"id": "d:0099", "text": "No label yet."}]
    path = _write(tmp_path / "a.jsonl", records)
    labelled, skipped = agree.read_label_file(path)
    assert len(labelled) == 3 and skipped == 1
