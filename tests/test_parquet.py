"""Parquet input and output, byte-range JSONL reading and shard plans (no Ray needed here)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pyarrow
import pyarrow.parquet as pq
import pytest
from conftest import assert_same_predictions
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.engines.shards import label_shard, plan_shards, shard_sentences
from pipeline.errors import InputError
from pipeline.modelio import load_model
from pipeline.parquet_records import read_parquet, write_parquet
from pipeline.predict import input_records
from pipeline.records import read_jsonl, read_jsonl_spans, read_records

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def sentences(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sentences") / "seeds.jsonl"
    assert _cli("segment", str(SEEDS), "-o", str(path)).exit_code == 0
    return path


def test_records_round_trip_exactly(tmp_path):
    records = [
        {"id": "d:0000", "doc_id": "d", "start": 0, "end": 3, "text": "Abc", "section": "post", "author": None,
         "comment_index": None, "timestamp": None, "boilerplate": False},
        {"id": "d:0001", "doc_id": "d", "text": "Ünïcødé \u2028 \n\"quoted\"", "comment_index": "3",
         "start": 2**70, "targets": ["councillors", 4], "scores": {"stance": {"blame": 1, "defend": 0.0,
         "neutral": 0.0}}, "extra": {"a": [1, None, {"b": True}]}, "mine": 1.5},
        {"id": "d:0002", "stance": "blame", "targets": [], "boilerplate": True, "model": {"name": "m",
         "backend": "tfidf", "hash": "h"}, "scores": {"stance": {"blame": 0.5, "defend": 0.25, "neutral": 0.25},
         "targets": {t: 0.1 for t in ("councillors", "managers", "social_workers", "inspectors", "government")}}},
    ]
    assert write_parquet(tmp_path / "r.parquet", records) == 3
    assert [record for _, record in read_parquet(tmp_path / "r.parquet")] == records
    # Typed columns for the fields we know: a nested score is a column other tools can read.
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.schema.field("scores").type.field("stance").type.field("blame").type == pyarrow.float64()
    assert table.column("start").to_pylist() == [0, None, None]  # 2**70 does not fit int64: kept in extra


def test_a_users_own_parquet_file_is_read(tmp_path):
    table = pyarrow.table({
        "id": ["a:1", "a:2"], "doc_id": ["a", "a"], "text": ["One.", "Two."],
        "start": pyarrow.array([0, 5], pyarrow.int32()), "end": pyarrow.array([4, 9], pyarrow.int32()),
        "when": pyarrow.array([datetime.datetime(2020, 1, 2, 3, 4), None], pyarrow.timestamp("s")),
    })
    pq.write_table(table, tmp_path / "mine.parquet", row_group_size=1)
    rows = list(read_parquet(tmp_path / "mine.parquet"))
    assert rows[0] == (1, {"id": "a:1", "doc_id": "a", "text": "One.", "start": 0, "end": 4,
                           "when": "2020-01-02T03:04:00"})
    assert rows[1][1].get("when") is None
    assert list(read_parquet(tmp_path / "mine.parquet", start=1, stop=2)) == rows[1:]


def test_local_predict_reads_and_writes_parquet(tmp_path, sentences, tiny_context_model):
    model = str(tiny_context_model)
    jsonl_out, parquet_out = tmp_path / "p.jsonl", tmp_path / "p.parquet"
    assert _cli("predict", str(sentences), "--model", model, "-o", str(jsonl_out)).exit_code == 0
    assert _cli("predict", str(sentences), "--model", model, "-o", str(parquet_out)).exit_code == 0
    expected = read_records(jsonl_out)
    assert [r for _, r in read_parquet(parquet_out)] == expected
    # Sentences as Parquet in give the same records.
    write_parquet(tmp_path / "s.parquet", read_records(sentences))
    result = _cli("predict", str(tmp_path / "s.parquet"), "--model", model, "-o", str(tmp_path / "q.jsonl"))
    assert result.exit_code == 0
    assert read_records(tmp_path / "q.jsonl") == expected
    # Documents as Parquet rows (id, text) are segmented like document files.
    docs = [{"id": p.stem, "text": p.read_text(encoding="utf-8")} for p in sorted(SEEDS.glob("0*.txt"))]
    write_parquet(tmp_path / "docs.parquet", docs)
    result = _cli("predict", str(tmp_path / "docs.parquet"), "--model", model, "-o", str(tmp_path / "d.jsonl"))
    assert result.exit_code == 0
    assert read_records(tmp_path / "d.jsonl") == expected


def test_parquet_mistakes_are_one_line(tmp_path, tiny_context_model):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    result = runner.invoke(app, ["predict", str(bad), "--model", str(tiny_context_model),
                                 "-o", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"error: {bad}: not a readable Parquet file")
    lines = result.output.splitlines()
    assert "Traceback" not in result.output and sum(line.startswith("error:") for line in lines) == 1
    write_parquet(tmp_path / "s.parquet", [{"id": "x:1", "doc_id": "x", "start": 0, "end": 2, "text": 5}])
    result = runner.invoke(app, ["predict", str(tmp_path / "s.parquet"), "--model", str(tiny_context_model),
                                 "-o", str(tmp_path / "o.parquet")])
    assert result.exit_code == 1 and "s.parquet:1: missing or mistyped field 'text'" in result.output
    assert not (tmp_path / "o.parquet").exists() and not (tmp_path / "o.parquet.partial").exists()
    result = runner.invoke(app, ["predict", str(tmp_path / "s.parquet"), "--model", str(tiny_context_model),
                                 "-o", str(tmp_path / "o.parquet"), "--resume"])
    assert result.exit_code == 1 and "--resume needs JSONL output" in result.output


def test_jsonl_byte_ranges_cover_the_file_with_the_right_line_numbers(tmp_path):
    path = tmp_path / "s.jsonl"
    lines = ['{"n": 1}', "", '{"n": 2}\r{"n": 3}', '{"n": "é"}', '{"n": 5}']
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\n")
    whole = list(read_jsonl(path))
    spans = list(read_jsonl_spans(path))
    starts = sorted({offset for _, offset, _ in spans})
    for cut in starts[1:]:
        first = next(line for line, offset, _ in spans if offset == cut)
        head = [(n, r) for n, _, r in read_jsonl_spans(path, stop=cut)]
        tail = [(n, r) for n, _, r in read_jsonl_spans(path, start=cut, first_line=first)]
        assert head + tail == whole


def test_shards_hold_whole_documents_in_input_order(tmp_path, sentences):
    records = read_records(sentences)
    write_parquet(tmp_path / "s.parquet", records)
    for source in (sentences, tmp_path / "s.parquet", SEEDS):
        shards = plan_shards([str(source)], shard_size=40)
        assert len(shards) >= 3
        per_shard = [[r["id"] for r in shard_sentences(shard)] for shard in shards]
        assert [i for ids in per_shard for i in ids] == [r["id"] for r in records]
        docs = [{i.rsplit(":", 1)[0] for i in ids} for ids in per_shard]
        assert all(not (a & b) for n, a in enumerate(docs) for b in docs[n + 1:])


def test_a_document_split_across_shards_is_refused(tmp_path):
    path = tmp_path / "s.jsonl"
    rows = [{"id": f"{d}:{i}", "doc_id": d, "start": 0, "end": 1, "text": "x"} for d, i in
            [("a", 1), ("a", 2), ("b", 1), ("b", 2), ("a", 3)]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    with pytest.raises(InputError, match=r"s.jsonl:5: document 'a' continues here"):
        plan_shards([str(path)], shard_size=2)
    assert len(plan_shards([str(path)], shard_size=100)) == 1  # within one shard it is fine


def test_labelling_shards_equals_labelling_the_stream(tmp_path, sentences, tiny_context_model):
    """The context model reads each sentence's predecessor: equal output means no document was cut."""
    from pipeline.predict import annotate_context, label_chunk

    classifier = load_model(tiny_context_model)
    stream = label_chunk(classifier, list(annotate_context(r for _, r in input_records([str(sentences)]))))
    sharded = [r for shard in plan_shards([str(SEEDS)], shard_size=50) for r in label_shard(classifier, shard)]
    assert_same_predictions(sharded, stream)
