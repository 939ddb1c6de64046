"""Prediction speed, memory and load time of a fine-tuned transformer model, beside the reference.

Usage (2 CPU cores, no network; every model is read from a local folder):

    .venv/bin/python benchmarks/predict_speed.py --model models/transformer [--tfidf models/tfidf]
        [--sentences 5000] [--json /tmp/predict_speed.json] [--cv-epochs N | --no-cv] [--repeat 3]

(``make benchmark`` runs the first line with the defaults.) Takes about 5-10 minutes on an
idle 2-core machine with the cross-validation, which fine-tunes one model per seed document.

One run, on the same N sentences (the segmented seed documents, resampled with a fixed seed
to N, so the length distribution is that of real blog sentences), measures:

(a) reference: what a user would otherwise write: transformers' text-classification
    ``pipeline(...)``, batch size 32, no sorting, over a ``BertForSequenceClassification``
    built from the model's own fine-tuned encoder folder (``MODEL/encoder``) with a 3-label
    head copied from our stance head. The reference pools with BERT's [CLS] pooler rather
    than our mean pooling, so its labels are not ours; its speed is the encoder's, which is
    the point of comparison.
(b) ours in fp32: ``TransformerClassifier.predict_proba`` on the records in memory, and the
    full streaming ``pipeline.predict.predict_paths`` over a sentence JSONL file (JSON reads,
    labels, JSON writes included);
(c) ours in int8 (``settings["quantize"] = True``), the same two paths, with the stance
    agreement with (b) on the N sentences and the change in cross-validated stance
    macro-F1 on the seeds: leave-one-document-out cross-validation (pipeline.evaluation
    .crossval, the folds `pipeline train` uses) where each fold's model is fitted once and
    its held-out document predicted in fp32 and in int8;
(d) the tfidf baseline (``--tfidf``; default: a ``tfidf`` folder beside ``--model``).

It prints sentences per second and the ratio to the reference, model load time
(``load_model`` wall time, median of 3, in this process after a warm-up, plus a first load
in a fresh interpreter including imports), peak memory of ``predict_paths`` for N and 10 x N
sentences (one fresh subprocess each; its peak RSS, VmHWM, where ``ru_maxrss`` would also
count this process's memory at the fork), and a final table of the
targets of issue 7 with PASS/MISS. Torch threads are set from the machine
(``pipeline.encoder.set_threads``). Results are also written as JSON (``--json``).

Warm-up: every timed path first predicts 64 sentences, so one-off costs (lazy imports,
building the int8 copy of the encoder) are not counted as throughput; the time to build
the int8 encoder is reported on its own. The ``predict_paths`` rows include loading the
model and reading and writing JSONL, as a user's ``pipeline predict`` run does.

Speeds are wall-clock and so depend on what else the machine runs: the load average at the
start and end is printed and saved; ``--repeat N`` keeps the fastest of N runs per path.
The ratios to the reference are measured side by side in one run and are the numbers to
compare across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from pipeline.encoder import set_threads  # noqa: E402
from pipeline.modelio import load_model, read_config  # noqa: E402
from pipeline.records import STANCES, dumps  # noqa: E402

TARGETS_TEXT = {
    "fp32_ratio": 2.5,
    "int8_ratio": 5.0,
    "int8_agreement": 0.98,
    "int8_delta_f1_points": 1.0,
    "tfidf_sps": 5000.0,
    "load_seconds": 2.0,
    "memory_growth": 0.10,
    "train_minutes": 10.0,
}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# data


def seed_sentences(seeds: Path) -> list[dict[str, Any]]:
    from pipeline.documents import expand_paths, read_documents
    from pipeline.segment import segment_document

    records = []
    for document in read_documents(expand_paths([str(seeds)])):
        records += [r for r in segment_document(document.doc_id, document.text) if r["text"].strip()]
    return records


def benchmark_records(seeds: Path, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """N sentence records: the seed sentences, shuffled and repeated with a fixed seed."""
    base = seed_sentences(seeds)
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    copy = 0
    while len(out) < n:
        order = list(range(len(base)))
        rng.shuffle(order)
        for i in order[: n - len(out)]:
            record = dict(base[i])
            record["id"] = f"{record['doc_id']}~{copy}:{record['id'].rsplit(':', 1)[1]}"
            record["doc_id"] = f"{record['doc_id']}~{copy}"
            out.append(record)
        copy += 1
    return out


def write_jsonl(records: list[dict[str, Any]], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(dumps(record) + "\n")


# ---------------------------------------------------------------------------------------------
# timing helpers


def timed(fn, *args, **kwargs) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


REPEAT = 1


def best_of(fn, *args, **kwargs) -> tuple[float, Any]:
    """The fastest of REPEAT runs (the least disturbed by other load on the machine)."""
    runs = [timed(fn, *args, **kwargs) for _ in range(REPEAT)]
    return min(runs, key=lambda run: run[0])


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


# ---------------------------------------------------------------------------------------------
# (a) the reference


def reference_pipeline(model_dir: Path, classifier):
    """transformers text-classification pipeline over our encoder + our stance head."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    folder = model_dir / "encoder"
    model = BertForSequenceClassification.from_pretrained(
        str(folder), num_labels=len(STANCES), local_files_only=True, use_safetensors=True,
    )
    with torch.no_grad():
        model.classifier.weight.copy_(classifier.heads.stance.weight)
        model.classifier.bias.copy_(classifier.heads.stance.bias)
    model.config.id2label = dict(enumerate(STANCES))
    model.config.label2id = {s: i for i, s in enumerate(STANCES)}
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return pipeline("text-classification", model=model, tokenizer=tokenizer, device="cpu")


def run_reference(pipe, texts: list[str], max_length: int) -> list[str]:
    results = pipe(texts, batch_size=32, truncation=True, max_length=max_length)
    return [r["label"] for r in results]


# ---------------------------------------------------------------------------------------------
# memory (subprocess per run)

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from pipeline.predict import predict_paths
quantize = {"fp32": False, "int8": True, "default": None}[sys.argv[5]]
started = time.perf_counter()
count = predict_paths([sys.argv[3]], sys.argv[2], sys.argv[4], input_format="sentences", quantize=quantize)
seconds = time.perf_counter() - started
# VmHWM is this process's own peak; ru_maxrss would also count the benchmark's memory at fork.
peak = None
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    pass
print(json.dumps({"count": count, "seconds": seconds,
                  "maxrss_mb": (peak or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024}))
"""

LOAD_CHILD = r"""
import json, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
import torch, transformers  # what any first load pays once per process
from pipeline.modelio import load_model
from pipeline.classifiers import transformer
imported = time.perf_counter()
load_model(sys.argv[2])
done = time.perf_counter()
print(json.dumps({"import_seconds": imported - started, "load_seconds": done - imported}))
"""


def child_json(code: str, *args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-c", code, str(ROOT), *args], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def memory_run(model: Path, records: list[dict[str, Any]], n: int, mode: str, work: Path) -> dict[str, Any]:
    path = work / f"mem_{n}.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(n):
            handle.write(dumps(records[i % len(records)]) + "\n")
    out = work / f"mem_{n}.out.jsonl"
    result = child_json(CHILD, str(model), str(path), str(out), mode)
    path.unlink()
    out.unlink(missing_ok=True)
    return result


# ---------------------------------------------------------------------------------------------
# cross-validated macro-F1, fp32 vs int8 at prediction time


def crossval_fp32_vs_int8(model_dir: Path, labels: Path, epochs: int | None, say_progress) -> dict[str, Any]:
    from pipeline.classifiers.base import Probabilities
    from pipeline.evaluation.crossval import cross_validated_decisions, make_folds, out_of_fold, split_gold
    from pipeline.train import cv_summary, fit_classifier, load_training_data

    config = read_config(model_dir)
    settings = dict(config.get("settings", {}))
    settings["augment"] = config.get("training", {}).get("augment", True)
    settings["quantize"] = False
    if epochs is not None:
        settings["epochs"] = epochs
    records = load_training_data(labels)
    gold, extra = split_gold(records)
    folds = make_folds(gold, seed=config.get("training", {}).get("seed", 0))
    int8_parts: dict[int, Probabilities] = {}
    started = time.perf_counter()

    def fit_predict(train, test, seed):
        classifier = fit_classifier("transformer", train, settings, seed=seed)
        fp32 = classifier.predict_proba(test)
        classifier.settings["quantize"] = True
        int8_parts[len(int8_parts)] = classifier.predict_proba(test)
        return fp32

    fp32 = out_of_fold(gold, extra, folds, fit_predict, seed=config.get("training", {}).get("seed", 0),
                       progress=say_progress, label="cv")
    stance = np.zeros_like(fp32.stance)
    targets = np.zeros_like(fp32.targets)
    for number, fold in enumerate(folds):
        stance[fold.test_index] = int8_parts[number].stance
        targets[fold.test_index] = int8_parts[number].targets
    int8 = Probabilities(stance, targets)
    scores = {}
    for name, probs in (("fp32", fp32), ("int8", int8)):
        scores[name] = cv_summary(gold, cross_validated_decisions(probs, gold, folds, tune=True))["cv_scores"]
    return {
        "epochs": settings.get("epochs"),
        "folds": len(folds),
        "seconds": round(time.perf_counter() - started, 1),
        "fp32_stance_macro_f1": scores["fp32"]["stance_macro_f1"],
        "int8_stance_macro_f1": scores["int8"]["stance_macro_f1"],
        "delta_points": 100 * (scores["int8"]["stance_macro_f1"] - scores["fp32"]["stance_macro_f1"]),
        "fp32_target_micro_f1": scores["fp32"]["target_micro_f1"],
        "int8_target_micro_f1": scores["int8"]["target_micro_f1"],
        "oof_stance_agreement": float((fp32.stance.argmax(1) == int8.stance.argmax(1)).mean()),
    }


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="transformer model folder")
    parser.add_argument("--tfidf", type=Path, help="tfidf model folder (default: MODEL/../tfidf)")
    parser.add_argument("--sentences", type=int, default=5000)
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    parser.add_argument("--labels", type=Path, default=ROOT / "labels")
    parser.add_argument("--json", type=Path, default=Path(tempfile.gettempdir()) / "predict_speed.json")
    parser.add_argument("--cv-epochs", type=int, default=None,
                        help="fine-tuning epochs for the fp32/int8 cross-validation (default: the model's)")
    parser.add_argument("--no-cv", action="store_true", help="skip the cross-validated F1 comparison")
    parser.add_argument("--no-reference", action="store_true", help="skip the (slow) reference pipeline")
    parser.add_argument("--memory-scale", type=int, default=10, help="the large memory run is N x this")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time each speed path this many times and keep the fastest (a busy machine)")
    args = parser.parse_args(argv)
    global REPEAT
    REPEAT = max(1, args.repeat)

    threads = set_threads()
    import torch

    n = args.sentences
    results: dict[str, Any] = {
        "machine": {"cores": threads, "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "platform": platform.platform()},
        "sentences": n,
        "repeat": REPEAT,
        "load_average_start": os.getloadavg(),
    }
    records = benchmark_records(args.seeds, n)
    texts = [r["text"] for r in records]
    results["mean_chars"] = float(np.mean([len(t) for t in texts]))
    say(f"{n} sentences from {args.seeds} (mean {results['mean_chars']:.0f} chars), torch threads {threads}")

    # -- load time --------------------------------------------------------------------------
    first = child_json(LOAD_CHILD, str(args.model))
    load_model(args.model)  # warm the file cache and imports
    loads = [timed(load_model, args.model)[0] for _ in range(3)]
    results["load"] = {"median_seconds": statistics.median(loads), "runs": loads,
                       "fresh_process_import_seconds": first["import_seconds"],
                       "fresh_process_load_seconds": first["load_seconds"]}
    say(f"load_model: median {statistics.median(loads):.2f} s (fresh interpreter: imports "
        f"{first['import_seconds']:.1f} s + load {first['load_seconds']:.2f} s)")

    classifier = load_model(args.model)
    max_length = classifier.settings["max_length"]
    speeds: dict[str, dict[str, Any]] = {}

    # -- (a) reference ----------------------------------------------------------------------
    if not args.no_reference:
        pipe = reference_pipeline(args.model, classifier)
        run_reference(pipe, texts[:64], max_length)
        seconds, _ = best_of(run_reference, pipe, texts, max_length)
        speeds["reference"] = {"seconds": seconds, "sps": rate(n, seconds),
                               "what": "transformers text-classification pipeline, batch_size=32, unsorted, "
                                       "BertForSequenceClassification(MODEL/encoder) + our stance head"}
        say(f"reference: {rate(n, seconds):.1f} sent/s")
        del pipe

    # -- (b) fp32 ---------------------------------------------------------------------------
    classifier.settings["quantize"] = False
    classifier.predict_proba(records[:64])
    seconds, fp32 = best_of(classifier.predict_proba, records)
    speeds["fp32"] = {"seconds": seconds, "sps": rate(n, seconds),
                      "what": "TransformerClassifier.predict_proba"}
    say(f"fp32 predict_proba: {rate(n, seconds):.1f} sent/s")

    from pipeline.predict import predict_paths

    with tempfile.TemporaryDirectory(prefix="predict_speed.") as tmp:
        work = Path(tmp)
        sentences = work / "sentences.jsonl"
        write_jsonl(records, sentences)
        small = work / "warm.jsonl"
        write_jsonl(records[:64], small)

        def stream(quantize: bool) -> float:
            predict_paths([str(small)], args.model, str(work / "warm.out.jsonl"), input_format="sentences",
                          quantize=quantize)
            seconds, _ = best_of(predict_paths, [str(sentences)], args.model, str(work / "out.jsonl"),
                               input_format="sentences", quantize=quantize)
            return seconds

        seconds = stream(False)
        speeds["fp32_stream"] = {"seconds": seconds, "sps": rate(n, seconds),
                                 "what": "predict_paths (load + JSONL in/out), fp32"}
        say(f"fp32 predict_paths: {rate(n, seconds):.1f} sent/s (includes the model load)")

        # -- (c) int8 -----------------------------------------------------------------------
        classifier.settings["quantize"] = True
        quantize_seconds, _ = timed(classifier._inference_encoder)
        classifier.predict_proba(records[:64])
        seconds, int8 = best_of(classifier.predict_proba, records)
        agreement = float((int8.stance.argmax(1) == fp32.stance.argmax(1)).mean())
        speeds["int8"] = {"seconds": seconds, "sps": rate(n, seconds), "what": "predict_proba, quantize=True",
                          "build_seconds": quantize_seconds}
        results["int8_agreement"] = agreement
        results["int8_max_abs_stance_diff"] = float(np.abs(int8.stance - fp32.stance).max())
        say(f"int8 predict_proba: {rate(n, seconds):.1f} sent/s, stance agreement with fp32 {agreement:.2%} "
            f"(building the int8 encoder: {quantize_seconds:.2f} s)")
        seconds = stream(True)
        speeds["int8_stream"] = {"seconds": seconds, "sps": rate(n, seconds),
                                 "what": "predict_paths (load + JSONL in/out), int8"}
        say(f"int8 predict_paths: {rate(n, seconds):.1f} sent/s")

        # -- (d) tfidf ----------------------------------------------------------------------
        tfidf_dir = args.tfidf or args.model.parent / "tfidf"
        if (tfidf_dir / "config.json").exists():
            tfidf = load_model(tfidf_dir)
            tfidf.predict_proba(records[:64])
            seconds, _ = best_of(tfidf.predict_proba, records)
            speeds["tfidf"] = {"seconds": seconds, "sps": rate(n, seconds),
                               "what": f"tfidf predict_proba ({tfidf_dir})"}
            seconds = best_of(predict_paths, [str(sentences)], tfidf_dir, str(work / "out.jsonl"),
                            input_format="sentences")[0]
            speeds["tfidf_stream"] = {"seconds": seconds, "sps": rate(n, seconds),
                                      "what": "tfidf predict_paths"}
            say(f"tfidf: {speeds['tfidf']['sps']:.0f} sent/s (predict_paths {rate(n, seconds):.0f})")
        else:
            say(f"tfidf: no model folder at {tfidf_dir}; skipped (pass --tfidf)")

        # -- memory -------------------------------------------------------------------------
        mode = "int8" if read_config(args.model).get("settings", {}).get("quantize") else "fp32"
        memory = {}
        # Peak RSS varies by a few percent from run to run (allocator timing), so the small
        # run is repeated 3 times and the large one twice; the medians are compared.
        for size, runs in ((n, 3), (n * args.memory_scale, 2)):
            memory[size] = [memory_run(args.model, records, size, mode, work) for _ in range(runs)]
            peaks = [run["maxrss_mb"] for run in memory[size]]
            say(f"memory, predict_paths of {size} sentences ({mode}): peak RSS "
                + ", ".join(f"{peak:.0f}" for peak in peaks) + f" MB ({memory[size][0]['seconds']:.0f} s each)")
        small_mb = statistics.median(run["maxrss_mb"] for run in memory[n])
        large_mb = statistics.median(run["maxrss_mb"] for run in memory[n * args.memory_scale])
        results["memory"] = {"mode": mode, "runs": {str(k): v for k, v in memory.items()},
                             "median_mb": {str(n): small_mb, str(n * args.memory_scale): large_mb},
                             "growth": large_mb / small_mb - 1}

    reference_sps = speeds.get("reference", {}).get("sps")
    for entry in speeds.values():
        entry["ratio"] = entry["sps"] / reference_sps if reference_sps else None
    results["speeds"] = speeds

    # -- cross-validation --------------------------------------------------------------------
    if not args.no_cv:
        say("cross-validation: fitting one model per held-out document, predicting it in fp32 and int8")
        results["crossval"] = crossval_fp32_vs_int8(args.model, args.labels, args.cv_epochs, say)
        cv = results["crossval"]
        say(f"cv stance macro-F1: fp32 {cv['fp32_stance_macro_f1']:.3f}, "
            f"int8 {cv['int8_stance_macro_f1']:.3f} (change {cv['delta_points']:+.1f} points; "
            f"{cv['seconds']:.0f} s, {cv['epochs']} epochs)")

    training = read_config(args.model).get("training", {})
    history = training.get("history") or []
    results["load_average_end"] = os.getloadavg()
    results["training"] = {"total_seconds": training.get("seconds"), "cv_folds": training.get("cv_folds"),
                           "final_fit_seconds": sum(e.get("seconds", 0) for e in history) or None}

    report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    say(f"results written to {args.json}")
    return 0


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def report(results: dict[str, Any]) -> None:
    speeds = results["speeds"]
    n = results["sentences"]
    print(f"\nPrediction speed, {n} sentences, {results['machine']['torch_threads']} torch threads")
    print(f"{'path':<14} {'sent/s':>9} {'x ref':>7}  what")
    for name, entry in speeds.items():
        ratio = f"{entry['ratio']:.2f}" if entry.get("ratio") else "-"
        print(f"{name:<14} {entry['sps']:>9.1f} {ratio:>7}  {entry['what']}")
    load = results["load"]
    print(f"\nload_model: median of 3 {load['median_seconds']:.2f} s; fresh interpreter "
          f"{load['fresh_process_import_seconds']:.1f} s imports + "
          f"{load['fresh_process_load_seconds']:.2f} s load")
    memory = results["memory"]
    runs = list(memory["runs"].items())
    shown = []
    for size, size_runs in runs:
        each = "/".join(f"{run['maxrss_mb']:.0f}" for run in size_runs)
        shown.append(f"{size} sentences {memory['median_mb'][size]:.0f} MB ({each})")
    print(f"peak RSS of predict_paths ({memory['mode']}), median of runs: {', '.join(shown)}; "
          f"growth {memory['growth']:+.1%}")

    rows = []

    def ratio_row(label, key, target):
        entry = speeds.get(key)
        value = entry.get("ratio") if entry else None
        rows.append((label, f">= {target}x", "-" if value is None else f"{value:.2f}x",
                     verdict(None if value is None else value >= target)))

    ratio_row("fp32 speed vs reference", "fp32", TARGETS_TEXT["fp32_ratio"])
    ratio_row("int8 speed vs reference", "int8", TARGETS_TEXT["int8_ratio"])
    agreement = results.get("int8_agreement")
    rows.append((f"int8 stance agreement, the {n} sentences", ">= 98%", f"{agreement:.2%}",
                 verdict(agreement >= TARGETS_TEXT["int8_agreement"])))
    cv = results.get("crossval")
    if cv:
        # The N sentences are resampled seed sentences the model was trained on; out-of-fold
        # sentences are unseen by the model that predicts them, like a user's documents.
        rows.append(("int8 stance agreement, out-of-fold seeds", ">= 98%", f"{cv['oof_stance_agreement']:.2%}",
                     verdict(cv["oof_stance_agreement"] >= TARGETS_TEXT["int8_agreement"])))
        rows.append((f"int8 change in cv stance macro-F1 ({cv['epochs']} ep)", "fall <= 1 point",
                     f"{cv['delta_points']:+.2f} pt",
                     verdict(cv["delta_points"] >= -TARGETS_TEXT["int8_delta_f1_points"])))
    else:
        rows.append(("int8 change in cv stance macro-F1", "fall <= 1 point", "not run", "n/a"))
    tfidf = speeds.get("tfidf")
    rows.append(("tfidf baseline", ">= 5000 sent/s", f"{tfidf['sps']:.0f} sent/s" if tfidf else "not run",
                 verdict(tfidf["sps"] >= TARGETS_TEXT["tfidf_sps"] if tfidf else None)))
    rows.append(("model load (median of 3)", "<= 2 s", f"{load['median_seconds']:.2f} s",
                 verdict(load["median_seconds"] <= TARGETS_TEXT["load_seconds"])))
    scale = runs[-1][0]
    rows.append((f"memory {scale} vs {runs[0][0]} sentences", "within 10%", f"{memory['growth']:+.1%}",
                 verdict(abs(memory["growth"]) <= TARGETS_TEXT["memory_growth"])))
    training = results["training"]
    if training.get("final_fit_seconds"):
        minutes = training["final_fit_seconds"] / 60
        rows.append(("fine-tuning on the seeds (final fit)", "<= 10 min", f"{minutes:.1f} min",
                     verdict(minutes <= TARGETS_TEXT["train_minutes"])))
    keys = ("target", "goal", "measured", "result")
    results["targets"] = [dict(zip(keys, row, strict=True)) for row in rows]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'target':<{width}}  {'goal':<16} {'measured':<14} result")
    for label, goal, measured, result in rows:
        print(f"{label:<{width}}  {goal:<16} {measured:<14} {result}")
    if cv:
        print(f"\ncv (fp32 -> int8): stance macro-F1 {cv['fp32_stance_macro_f1']:.3f} -> "
              f"{cv['int8_stance_macro_f1']:.3f}, target micro-F1 {cv['fp32_target_micro_f1']:.3f} -> "
              f"{cv['int8_target_micro_f1']:.3f}, "
              f"out-of-fold stance agreement {cv['oof_stance_agreement']:.2%}")
    # Issue 7's rule for making int8 the default: both agreements >= 98% and a fall in
    # stance macro-F1 of at most 1 point.
    int8_rows = [r for r in rows if r[0].startswith("int8 stance agreement") or r[0].startswith("int8 change")]
    default_ok = bool(cv) and all(r[3] == "PASS" for r in int8_rows)
    results["int8_may_be_default"] = default_ok
    print(f"int8 may be the default: {'yes' if default_ok else 'no'} "
          f"(rule: both agreements >= 98%, stance macro-F1 falls <= 1 point; needs the cross-validation)")
    print("reference head: our stance Linear copied into BertForSequenceClassification.classifier "
          "(BERT [CLS] pooler, not our mean pooling; speed comparison only)")
    print(f"machine: {results['machine']['platform']}, {results['machine']['cores']} cores, "
          f"torch {results['machine']['torch']}; load average at start "
          f"{results['load_average_start'][0]:.1f}, at end {results['load_average_end'][0]:.1f} "
          f"(above ~{results['machine']['cores']} means other work shared the cores); "
          f"best of {results['repeat']} run(s) per speed path")


if __name__ == "__main__":
    sys.exit(main())
