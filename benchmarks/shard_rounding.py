"""How far sharding moves scores: local predict's stream against the same sentences in shards.

    .venv/bin/python benchmarks/shard_rounding.py --model models/transformer [--sentences 1500] [--shard-size 500]

Labels the same N resampled seed sentences (grouped by document) three ways in one process:
the local stream (chunks of predict.CHUNK) with all torch threads, the same with 1 thread, and
shard by shard as the Ray workers do (shards.label_shard). Prints, for each pair, how many
records differ in labels and in scores, and the largest score difference.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_speed import benchmark_records, write_jsonl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=1500)
    parser.add_argument("--shard-size", type=int, default=500)
    args = parser.parse_args(argv)

    import torch

    from pipeline.engines.shards import label_shard, plan_shards
    from pipeline.modelio import load_model
    from pipeline.predict import CHUNK, annotate_context, input_records, label_chunk

    classifier = load_model(args.model)
    cores = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "sentences.jsonl"
        write_jsonl(sorted(benchmark_records(ROOT / "seeds", args.sentences), key=lambda r: r["doc_id"]), source)

        def stream(threads: int) -> list[dict]:
            torch.set_num_threads(threads)
            records = list(annotate_context((r for _, r in input_records([str(source)])), classifier))
            return [out for i in range(0, len(records), CHUNK) for out in label_chunk(classifier,
                                                                                     records[i:i + CHUNK])]

        local, one_thread = stream(cores), stream(1)
        torch.set_num_threads(cores)
        sharded = [r for shard in plan_shards([str(source)], shard_size=args.shard_size)
                   for r in label_shard(classifier, shard)]

    def compare(name: str, a: list[dict], b: list[dict]) -> None:
        assert [r["id"] for r in a] == [r["id"] for r in b]
        pairs = list(zip(a, b, strict=True))
        labels = sum((x.get("stance"), x.get("targets")) != (y.get("stance"), y.get("targets")) for x, y in pairs)
        scores = sum(x["scores"] != y["scores"] for x, y in pairs)
        biggest = max(abs(x["scores"][kind][k] - y["scores"][kind][k]) for x, y in pairs
                      for kind in ("stance", "targets") for k in x["scores"][kind])
        print(f"{name}: {labels} label difference(s), {scores} record(s) with a different score, "
              f"largest score difference {biggest:.4f} ({len(a)} sentences)")

    compare(f"stream, {cores} threads vs 1 thread", local, one_thread)
    compare(f"stream vs shards of {args.shard_size}", local, sharded)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
