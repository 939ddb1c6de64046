"""pipeline export / import: Label Studio, doccano and CSV round trips keep every label and field."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import InputError, PipelineError
from pipeline.records import STANCES, TARGETS, read_records, write_jsonl
from pipeline.review.interop import (
    FORMATS,
    decode_cell,
    encode_cell,
    export_file,
    import_file,
    infer_format,
    labelstudio_config,
    read_csv,
    read_doccano,
    read_labelstudio,
)

SUFFIX = {"labelstudio": "json", "doccano": "jsonl", "csv": "csv"}


def _records() -> list[dict]:
    return [
        {
            "id": "d1:0000",
            "doc_id": "d1",
            "start": 0,
            "end": 30,
            "text": "The director should resign, now.",
            "section": "post",
            "comment_index": None,
            "author": None,
            "timestamp": "2008-12-10",
            "boilerplate": False,
            "stance": "blame",
            "targets": ["managers", "government"],
            "scores": {
                "stance": {"blame": 0.8, "defend": 0.15, "neutral": 0.05},
                "targets": {"managers": 0.9},
            },
            "model": "tfidf",
        },
        {
            "id": "d1:0001",
            "doc_id": "d1",
            "start": 31,
            "end": 60,
            "text": 'She said "no"; \nthen left, twice.',
            "section": "comment",
            "comment_index": 3,
            "author": "Anonymous, Anonymous",
            "stance": "neutral",
            "targets": [],
            "reviewed_by": "ann",
            "reviewed_at": "2024-01-01T00:00:00Z",
            "review_status": "accepted",
        },
        {  # unlabelled, with awkward values of every JSON type
            "id": "d2:0000",
            "doc_id": "d2",
            "text": "2008",
            "section": "title",
            "note": "",
            "n": 3,
            "ratio": 0.25,
            "flag": True,
            "nothing": None,
            "as_text": "3",
            "null_text": "null",
            "list": [1, "two", None],
            "nested": {"a": {"b": []}},
            "spaced": " x ",
            "unicode": "Ofsted’s – ✓",
        },
        {
            "id": "d2:0001",
            "doc_id": "d2",
            "text": "Poor Ofsted.",
            "stance": "defend",
            "targets": ["inspectors"],
        },
        {"id": "d2:0002", "text": "No doc id here.", "targets": []},  # unlabelled but with an empty list
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_every_label_and_field(tmp_path, fmt):
    source = tmp_path / "labels.jsonl"
    write_jsonl(source, _records())
    exported = tmp_path / f"out.{SUFFIX[fmt]}"
    assert export_file(source, fmt, exported) == (5, fmt)
    back = tmp_path / "back.jsonl"
    assert import_file(exported, fmt, back) == (5, fmt)
    assert read_records(back) == _records()


def test_formats_are_inferred_from_the_suffix(tmp_path):
    source = tmp_path / "labels.jsonl"
    write_jsonl(source, _records())
    for fmt, suffix in SUFFIX.items():
        assert export_file(source, None, tmp_path / f"x.{suffix}")[1] == fmt
        assert infer_format(tmp_path / f"x.{suffix}", None) == fmt
    with pytest.raises(PipelineError, match="give --format"):
        infer_format("x.txt", None)
    with pytest.raises(PipelineError, match="unknown format"):
        infer_format("x.csv", "excel")


def test_labelstudio_tasks_and_config(tmp_path):
    source = tmp_path / "labels.jsonl"
    write_jsonl(source, _records())
    out = tmp_path / "tasks.json"
    export_file(source, "labelstudio", out)
    tasks = json.loads(out.read_text())
    first = tasks[0]
    assert first["data"]["text"] == _records()[0]["text"] and "stance" not in first["data"]
    result = first["annotations"][0]["result"]
    assert result[0] == {
        "from_name": "stance",
        "to_name": "text",
        "type": "choices",
        "value": {"choices": ["blame"]},
    }
    assert result[1]["value"]["choices"] == ["managers", "government"]
    assert first["predictions"][0]["model_version"] == "tfidf"
    assert first["predictions"][0]["result"][0]["value"]["choices"] == ["blame"]
    assert "annotations" not in tasks[2]
    config = ET.fromstring(labelstudio_config())
    choices = {c.get("name"): [x.get("value") for x in c] for c in config.iter("Choices")}
    assert choices == {"stance": list(STANCES), "targets": list(TARGETS)}
    assert {c.get("name"): c.get("choice") for c in config.iter("Choices")} == {
        "stance": "single",
        "targets": "multiple",
    }


def test_labelstudio_import_of_work_done_in_label_studio(tmp_path):
    """What Label Studio exports after annotators worked: its own ids, several annotations."""
    tasks = [
        {
            "id": 17,
            "data": {"id": "d1:0000", "text": "The director should resign.", "stance": "neutral"},
            "annotations": [
                {
                    "id": 1,
                    "completed_by": 2,
                    "was_cancelled": False,
                    "result": [
                        {
                            "id": "x1",
                            "from_name": "stance",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["defend"]},
                            "origin": "manual",
                        }
                    ],
                },
                {
                    "id": 2,
                    "completed_by": 3,
                    "was_cancelled": False,
                    "result": [
                        {
                            "id": "x2",
                            "from_name": "stance",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["blame"]},
                        },
                        {
                            "id": "x3",
                            "from_name": "who",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["managers"]},
                        },
                    ],
                },
                {"id": 3, "was_cancelled": True, "result": []},
            ],
            "predictions": [],
        },
        {"id": 18, "data": {"text": "A task made in Label Studio."}, "annotations": []},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    records = read_labelstudio(path)
    assert records[0] == {
        "id": "d1:0000",
        "text": "The director should resign.",
        "stance": "blame",
        "targets": ["managers"],
    }
    assert records[1] == {"id": "labelstudio-18", "text": "A task made in Label Studio."}


def test_doccano_import_of_a_doccano_export(tmp_path):
    path = tmp_path / "doccano.jsonl"
    lines = [
        {
            "id": 41,
            "text": "Ministers cut the budget.",
            "label": ["government", "blame"],
            "pipeline_id": "d:1",
            "Comments": [],
            "doc_id": "d",
        },
        {"id": 42, "text": "Made in doccano.", "label": []},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert read_doccano(path) == [
        {
            "id": "d:1",
            "text": "Ministers cut the budget.",
            "doc_id": "d",
            "stance": "blame",
            "targets": ["government"],
        },
        {"id": "doccano-42", "text": "Made in doccano."},
    ]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["blame", "police"], "unknown label 'police'"),
        (["blame", "defend"], "more than one stance"),
        (["managers"], "targets given without a stance"),
    ],
)
def test_doccano_bad_labels_name_the_line(tmp_path, labels, message):
    path = tmp_path / "doccano.jsonl"
    path.write_text(
        json.dumps({"text": "ok", "label": [], "pipeline_id": "a"})
        + "\n"
        + json.dumps({"text": "bad", "label": labels, "pipeline_id": "b"})
        + "\n"
    )
    with pytest.raises(InputError, match=rf"doccano\.jsonl:2: {message}"):
        read_doccano(path)


def test_csv_is_readable_in_a_spreadsheet_and_edits_come_back(tmp_path):
    source = tmp_path / "labels.jsonl"
    write_jsonl(source, _records())
    out = tmp_path / "labels.csv"
    export_file(source, "csv", out)
    text = out.read_text()
    header = text.splitlines()[0].split(",")
    assert header[:5] == ["id", "doc_id", "text", "stance", "targets"]
    assert 'd1:0000,d1,"The director should resign, now.",blame,managers;government' in text
    # a reviewer edits the sheet: changes a stance, types targets with commas, adds a column
    edited = text.replace(
        "d2:0001,d2,Poor Ofsted.,defend,inspectors", 'd2:0001,d2,Poor Ofsted.,blame,"inspectors, government"'
    )
    edited = edited.replace(",".join(header), ",".join(header) + ",comment", 1)
    (tmp_path / "edited.csv").write_text(edited, encoding="utf-8-sig")  # a byte-order mark, as Excel writes
    records = read_csv(tmp_path / "edited.csv")
    assert records[3]["stance"] == "blame" and records[3]["targets"] == ["inspectors", "government"]
    assert records[0] == _records()[0]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("a,hello,Blame,", "unknown label 'Blame'"),
        ("a,hello,,managers", "targets given without a stance"),
        ("a,hello,blame,police", "unknown label 'police'"),
        ("a,hello,blame,,extra", "5 cells but 4 columns"),
    ],
)
def test_csv_bad_rows_name_the_line(tmp_path, row, message):
    path = tmp_path / "in.csv"
    path.write_text(f"id,text,stance,targets\nb,fine,neutral,\n{row}\n")
    with pytest.raises(InputError, match=rf"in\.csv:3: {message}"):
        read_csv(path)


def test_csv_needs_id_and_text_columns(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("text,stance\nhello,blame\n")
    with pytest.raises(InputError, match="no 'id' column"):
        read_csv(path)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        st.text(),
        st.lists(st.text(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
)
def test_csv_cells_round_trip_any_json_value(value):
    assert decode_cell(encode_cell({"k": value}, "k")) == (True, value)


def test_csv_cell_for_an_absent_field_is_empty():
    assert encode_cell({}, "k") == "" and decode_cell("") == (False, None)


def test_export_refuses_bad_labels_and_overwriting_the_input(tmp_path):
    source = tmp_path / "labels.jsonl"
    write_jsonl(source, [{"id": "a", "text": "x", "stance": "angry", "targets": []}])
    with pytest.raises(InputError, match=r"labels\.jsonl:1: unknown stance 'angry'"):
        export_file(source, "csv", tmp_path / "out.csv")
    with pytest.raises(InputError, match="same as an input"):
        import_file(source, "doccano", source)


def test_import_refuses_duplicate_ids(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("id,text,stance,targets\na,one,,\na,two,,\n")
    with pytest.raises(InputError, match="duplicate id 'a'"):
        import_file(path, "csv", tmp_path / "out.jsonl")


def test_cli_export_import(tmp_path):
    source = tmp_path / "labels.jsonl"
    write_jsonl(source, _records())
    runner = CliRunner()
    config = tmp_path / "config.xml"
    result = runner.invoke(
        app,
        [
            "export",
            str(source),
            "--format",
            "labelstudio",
            "-o",
            str(tmp_path / "t.json"),
            "--labelstudio-config",
            str(config),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "exported 5 record(s) as labelstudio" in result.output
    assert ET.parse(config).getroot().tag == "View"
    result = runner.invoke(app, ["import", str(tmp_path / "t.json"), "-o", str(tmp_path / "back.jsonl")])
    assert result.exit_code == 0, result.output
    assert read_records(tmp_path / "back.jsonl") == _records()
    result = runner.invoke(app, ["import", str(tmp_path / "missing.csv"), "-o", str(tmp_path / "x.jsonl")])
    assert (
        result.exit_code == 1 and result.output.strip() == f"error: {tmp_path / 'missing.csv'}: no such file"
    )
    result = runner.invoke(app, ["export", str(source), "--format", "xlsx", "-o", str(tmp_path / "x.xlsx")])
    assert result.exit_code != 0
