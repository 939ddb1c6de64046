"""`pipeline predict --engine ray` on a local Ray instance (2 CPUs, the tiny context model).

The model reads each sentence's predecessor, so output equal to local predict also shows that
no document was split between workers. Ray is started once for the module and always shut
down; a watchdog ends the process with a traceback rather than let a stuck cluster hang CI.
"""

from __future__ import annotations

import faulthandler
import json
import os
import sys
from pathlib import Path

import pytest
from conftest import assert_same_predictions
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.engines.sharded_output import MANIFEST
from pipeline.errors import PipelineError
from pipeline.parquet_records import read_parquet
from pipeline.predict import predict_paths
from pipeline.records import read_records

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
WATCHDOG_S = 300
runner = CliRunner()


@pytest.fixture(scope="module")
def ray_local():
    if os.environ.get("CI"):
        import ray  # CI installs the extra (make test): missing Ray is a failure there, not a skip
    else:
        ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def sentences(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ray-input") / "seeds.jsonl"
    assert runner.invoke(app, ["segment", str(SEEDS), "-o", str(path)]).exit_code == 0
    return path


@pytest.fixture(scope="module")
def local_output(sentences, tiny_context_model, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("local") / "local.jsonl"
    predict_paths([str(sentences)], tiny_context_model, str(path))
    return path


def test_ray_gives_local_predicts_records_and_resumes_by_shard(ray_local, sentences, local_output,
                                                                tiny_context_model, tmp_path):
    from pipeline.engines.ray_engine import predict_ray

    messages: list[str] = []
    folder = tmp_path / "shards"
    count = predict_ray([str(sentences)], tiny_context_model, str(folder), workers=2, shard_size=60,
                        progress=messages.append)
    assert count == len(read_records(local_output))
    assert any("on 2 worker(s)" in m for m in messages)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["complete"] and manifest["sentences"] == count
    shards = manifest["shards"]
    assert len(shards) >= 3

    def joined() -> list[dict]:
        return [record for shard in shards for record in read_records(folder / shard["file"])]

    assert_same_predictions(joined(), read_records(local_output))

    # Lose two shards (a crash before they were written): a rerun labels only those.
    for shard in shards[1:3]:
        (folder / shard["file"]).unlink()
    messages.clear()
    predict_ray([str(sentences)], tiny_context_model, str(folder), workers=2, shard_size=60,
                progress=messages.append)
    assert f"{len(shards)} shard(s) planned, {len(shards) - 2} already done: resuming" in messages
    assert "labelling 2 shard(s) on 2 worker(s)" in messages
    assert json.loads((folder / MANIFEST).read_text()) == manifest
    assert_same_predictions(joined(), read_records(local_output))

    # Another input for the same folder is refused, naming the manifest.
    with pytest.raises(PipelineError, match="started with other inputs"):
        predict_ray([str(SEEDS)], tiny_context_model, str(folder), shard_size=60)


def test_shard_workers_payloads_merge_into_one_parquet_file(sentences, local_output, tiny_context_model, tmp_path):
    """What each actor sends back, merged by the driver, without a cluster (Ray only schedules it)."""
    import pyarrow

    from pipeline.engines.ray_engine import ShardLabeller, model_identity
    from pipeline.engines.sharded_output import ShardedOutput, input_stats
    from pipeline.engines.shards import plan_shards

    target = tmp_path / "all.parquet"
    output = ShardedOutput(str(target), None, [str(SEEDS)])
    shards = output.open(model_identity(tiny_context_model), {}, input_stats([str(SEEDS)]),
                         lambda: plan_shards([str(SEEDS)], shard_size=60))
    labeller = ShardLabeller(str(tiny_context_model), None, 1, output.format, 1024)
    for shard in reversed(output.pending()):  # finishing out of order is fine
        row = labeller(pyarrow.table({"spec": [json.dumps(shard)]})).to_pylist()[0]
        assert row["error"] == ""
        output.write_shard(row["index"], row["payload"], row["count"])
    assert output.finish() == len(read_records(local_output)) and len(shards) >= 3
    assert_same_predictions([r for _, r in read_parquet(target)], read_records(local_output))
    assert not (tmp_path / "all.parquet.shards").exists()


def test_ray_reports_bad_input_in_one_line(ray_local, tiny_context_model, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a:1", "doc_id": "a", "start": 0, "end": 1, "text": "x"}\n{"id": 3}\n', encoding="utf-8")
    result = runner.invoke(app, ["predict", str(bad), "--model", str(tiny_context_model), "-o",
                                 str(tmp_path / "out.jsonl"), "--engine", "ray"])
    assert result.exit_code == 1
    assert f"error: {bad}:2: missing or mistyped field" in result.output
    assert not (tmp_path / "out.jsonl").exists()


def test_without_ray_the_engine_says_how_to_install_it(tiny_context_model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if not installed
    (tmp_path / "doc.txt").write_text("The council failed.\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", str(tmp_path / "doc.txt"), "--model", str(tiny_context_model),
                                 "-o", str(tmp_path / "out.jsonl"), "--engine", "ray"])
    assert result.exit_code == 1
    hint = "error: --engine ray needs Ray: pip install -e '.[ray]' (or pip install 'ray[data]')"
    assert result.output.strip() == hint
