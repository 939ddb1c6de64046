"""What the Ray engine costs on one machine, against local predict, on the same sentences.

    .venv/bin/python benchmarks/ray_overhead.py --model models/transformer [--sentences 50000]

One run, one input file (N resampled seed sentences, grouped by document, written as sentence
JSONL); every run is a `pipeline predict` command in a fresh process, timed end to end:

1. local predict on all cores, then on 1 core (pinned with taskset; predict sets its torch
   threads from the cores it may use);
2. `--engine ray --address` on a local Ray started once before (its start-up is reported on
   its own line: a cluster is started once and serves many runs), as WORKERSxCPUS configs
   (default 1 x 1, 2 x 1 and 1 x 2): shard planning, actors importing torch and loading the
   model, labelling and the merge are all in the time;
3. local predict on 1 core and on all cores again, to see how much the machine drifted.

Overhead = Ray time / local time on as many cores (mean of its two runs) - 1; target: at most
20%. Each Ray output is compared with local predict's: records and labels must be the same,
scores may move in the 4th decimal. Speeds depend on what else the machine runs: the load
average before and after is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict_speed import benchmark_records, write_jsonl  # noqa: E402

from pipeline.records import dumps, read_records  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run_cli(*args: str, cores: int | None = None) -> float:
    """Seconds for one `pipeline` command in a fresh process (imports and model load included);
    cores pins it to that many cores with taskset (predict sets its torch threads to match)."""
    pin = ["taskset", "-c", ",".join(str(c) for c in range(cores))] if cores else []
    started = time.perf_counter()
    subprocess.run([*pin, str(Path(sys.executable).with_name("pipeline")), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def compare(expected: list[dict], got: list[dict]) -> dict:
    """Records and labels must be the same; scores may differ in the 4th decimal (batch composition)."""
    def without_scores(record: dict) -> dict:
        return {k: v for k, v in record.items() if k != "scores"}

    same_records = len(expected) == len(got) and all(
        without_scores(a) == without_scores(b) for a, b in zip(expected, got, strict=False))
    diffs = [abs(a["scores"][kind][k] - b["scores"][kind][k]) for a, b in zip(expected, got, strict=False)
             for kind in ("stance", "targets") for k in a["scores"][kind]]
    return {"same_records_and_labels": same_records, "max_score_difference": max(diffs, default=0.0),
            "identical_bytes": [dumps(r) for r in expected] == [dumps(r) for r in got]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--sentences", type=int, default=50_000)
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    parser.add_argument("--shard-size", type=int, default=None, help="default: the engine's")
    parser.add_argument("--configs", default="1x1,2x1,1x2",
                        help="Ray runs as WORKERSxCPUS, comma separated (CPUS 0 = all cores)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    import ray

    from pipeline.encoder import set_threads
    from pipeline.engines.shards import SHARD_SIZE

    cores = set_threads()
    shard_size = args.shard_size or SHARD_SIZE
    results: dict = {"machine": {"cpu": cpu_model(), "cores": cores, "platform": platform.platform(),
                                 "ray": ray.__version__},
                     "sentences": args.sentences, "shard_size": shard_size,
                     "load_average_start": os.getloadavg(), "runs": []}
    model = str(args.model)
    with tempfile.TemporaryDirectory(prefix="ray-overhead-") as tmp:
        work = Path(tmp)
        records = sorted(benchmark_records(args.seeds, args.sentences), key=lambda r: r["doc_id"])
        source = work / "sentences.jsonl"
        write_jsonl(records, source)
        write_jsonl(records[:50], work / "warm.jsonl")
        say("warm-up (file caches)")
        run_cli("predict", str(work / "warm.jsonl"), "--model", model, "-o", str(work / "warm.out.jsonl"))

        def local(label: str, threads: int) -> list[dict]:
            say(f"local predict ({label}), {args.sentences} sentences, {threads} torch thread(s)")
            out = work / "local.jsonl"
            seconds = run_cli("predict", str(source), "--model", model, "-o", str(out), cores=threads)
            results["runs"].append({"engine": "local", "label": label, "workers": 1, "cpus_per_worker": threads,
                                    "seconds": seconds, "sentences_per_s": args.sentences / seconds})
            labelled = read_records(out)
            out.unlink()
            return labelled

        expected = local("first", cores)
        local("first", 1)
        started = time.perf_counter()
        ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
        results["ray_start_s"] = time.perf_counter() - started
        address = ray.get_runtime_context().gcs_address
        try:
            for config in args.configs.split(","):
                workers, cpus = (int(x) for x in config.split("x"))
                cpus = cpus or cores
                say(f"ray, {workers} worker(s) x {cpus} CPU(s)")
                out = work / f"ray-{workers}x{cpus}.jsonl"
                seconds = run_cli("predict", str(source), "--model", model, "-o", str(out), "--engine", "ray",
                                  "--address", address, "--workers", str(workers), "--cpus-per-worker", str(cpus),
                                  "--shard-size", str(shard_size))
                results["runs"].append({"engine": "ray", "label": "", "workers": workers, "cpus_per_worker": cpus,
                                        "seconds": seconds, "sentences_per_s": args.sentences / seconds,
                                        **compare(expected, read_records(out))})
                out.unlink()
        finally:
            ray.shutdown()
        local("last", 1)
        local("last", cores)
    for run in results["runs"]:
        if run["engine"] == "ray":
            # Against local predict on the same number of cores: the mean of its two runs.
            same = [r["seconds"] for r in results["runs"] if r["engine"] == "local"
                    and r["cpus_per_worker"] == run["workers"] * run["cpus_per_worker"]]
            if same:
                run["overhead_vs_local"] = run["seconds"] / (sum(same) / len(same)) - 1
    results["load_average_end"] = os.getloadavg()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


def report(results: dict) -> None:
    machine = results["machine"]
    print(f"\nRay engine against local predict, {results['sentences']} sentences, shards of "
          f"{results['shard_size']}")
    print("| engine | workers x CPUs | seconds | sentences/s | overhead vs local (same cores) "
          "| records and labels = local | max score difference |")
    print("|---|---|---|---|---|---|---|")
    for run in results["runs"]:
        overhead = run.get("overhead_vs_local")
        engine = f"{run['engine']} ({run['label']})" if run["label"] else run["engine"]
        print(f"| {engine} | {run['workers']} x {run['cpus_per_worker']} | {run['seconds']:.1f} | "
              f"{run['sentences_per_s']:.1f} | {'' if overhead is None else f'{overhead:+.1%}'} | "
              + ("| |" if run["engine"] == "local" else
                 f"{'yes' if run['same_records_and_labels'] else 'NO'} | {run['max_score_difference']:.4f} |"))
    print(f"\nOverheads are against the mean of the two local runs on as many cores; "
          f"Ray start-up (once, not in the times above): {results['ray_start_s']:.1f} s")
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}, Ray {machine['ray']}; "
          f"load average {results['load_average_start'][0]:.2f} at start, "
          f"{results['load_average_end'][0]:.2f} at end (above {machine['cores']}: other work shared the cores)")


if __name__ == "__main__":
    raise SystemExit(main())
