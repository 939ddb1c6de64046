"""Raw versus sample-corrected blame figures on documents the model never saw (issue 15's note).

The "user's corpus" is the 104 written documents (labels/written.jsonl, labels/written_2.jsonl:
news, forum threads, statements, reviews... written and labelled by us, whole documents). The
model is trained on the five seed blogs only (labels/gold.jsonl, with `train_model`, so its
cross-validated error rates come from the seeds as `make demo`'s do) and labels the written
documents through predict.annotate_context + predict.label_chunk, as `pipeline predict` does.
Then, many times over, a random sample of whole documents is drawn (`draw_sample`, as
`pipeline sample` does), its true labels revealed (standing in for `pipeline review`), and
`summarize(..., gold=...)` corrects the figures. Each estimate is compared with the true share
over all 104 documents.

    .venv/bin/python benchmarks/ppi_note.py --backend tfidf --draws 200 --sample-docs 10
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.classifiers.base import load_classifier
from pipeline.predict import annotate_context, label_chunk
from pipeline.records import STANCES, TARGETS, read_records, write_jsonl
from pipeline.summarize import count_vectors, draw_sample, shares, summarize
from pipeline.train import train_model

ROOT = Path(__file__).resolve().parent.parent
WRITTEN = [ROOT / "labels" / "written.jsonl", ROOT / "labels" / "written_2.jsonl"]


def cpu_model() -> str:
    """CPU model and the vector flags that matter for numpy / torch."""
    name, flags = platform.processor() or "unknown CPU", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = [f for f in line.split(":", 1)[1].split() if f in ("avx2", "avx512f", "avx512_vnni", "fma")]
                break
    except OSError:
        pass
    return f"{name} ({' '.join(flags) or 'no AVX2 flags'})"


def estimands() -> list[tuple[str, str, tuple]]:
    """(label, estimate name, index) of every share reported."""
    rows = [(f"stance: {s}", "stance_share", (i,)) for i, s in enumerate(STANCES)]
    rows += [(f"% of blame: {t}", "of_stance", (0, j)) for j, t in enumerate(TARGETS)]
    rows += [(f"% of defence: {t}", "of_stance", (1, j)) for j, t in enumerate(TARGETS)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="tfidf")
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--sample-docs", type=int, default=10)
    parser.add_argument("--resamples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.time()
    work = Path(tempfile.mkdtemp(prefix="ppi_note_"))
    try:
        labels = work / "labels"
        labels.mkdir()
        shutil.copy(ROOT / "labels" / "gold.jsonl", labels / "gold.jsonl")
        model = work / "model"
        train_model(args.backend, labels, model, seed=args.seed)
        classifier = load_classifier(model)
        corpus = [r for path in WRITTEN for r in read_records(path)]
        for record in corpus:
            record.pop("origin", None)
            record["boilerplate"] = False
        truth = {r["id"]: (r["stance"], list(r.get("targets") or [])) for r in corpus}
        predicted = label_chunk(classifier, list(annotate_context(corpus, classifier)))
        predictions = work / "predictions.jsonl"
        write_jsonl(predictions, predicted)  # true labels in stance/targets, the model's in predicted_*
        true_counts = count_vectors([STANCES.index(s) for s, _ in truth.values()],
                                    [[int(t in ts) for t in TARGETS] for _, ts in truth.values()]).sum(axis=0)
        true_shares = shares(true_counts)
        rows = estimands()
        ppi = np.full((args.draws, len(rows)), np.nan)
        low, high = ppi.copy(), ppi.copy()
        raw = adjusted = out = None
        gold = work / "gold.jsonl"
        for draw in range(args.draws):
            sample = draw_sample(predictions, args.sample_docs, "doc", seed=args.seed + draw)
            write_jsonl(gold, [dict(r, stance=truth[r["id"]][0], targets=truth[r["id"]][1]) for r in sample])
            summary = summarize(predictions, model_dir=model, gold=gold, resamples=args.resamples, seed=draw)
            overall = summary.overall
            if raw is None:
                raw = np.array([overall.est[name][index] for _, name, index in rows])
                adjusted = np.array([overall.est[f"{name}_adj"][index] for _, name, index in rows])
                out = np.array([overall.est[f"{name}_adj_out"][index] for _, name, index in rows])
            for k, (_, name, index) in enumerate(rows):
                ppi[draw, k] = overall.ppi[name][index]
                low[draw, k], high[draw, k] = overall.ppi_ci[name][(slice(None), *index)]
        truth_row = np.array([true_shares[name][index] for _, name, index in rows])
        n_docs = len({r["doc_id"] for r in corpus})
        print(f"# raw vs sample-corrected shares: {args.backend} trained on the 5 seed blogs, applied to "
              f"{len(corpus)} sentences of {n_docs} written documents; {args.draws} random samples of "
              f"{args.sample_docs} documents ({args.resamples} bootstrap resamples each)\n")
        print("| share | true | raw (error) | adjusted by seed CV rates (error) | corrected: mean error "
              "| mean abs. error | 90th pct abs. error | 95% CI coverage | mean CI width |")
        print("|---|---|---|---|---|---|---|---|---|")
        abs_err = np.abs(ppi - truth_row)
        for k, (label, _, _) in enumerate(rows):
            if out[k]:
                adj = "out of range"
            elif not np.isfinite(adjusted[k]):
                adj = "none (tpr <= fpr)"
            else:
                adj = f"{100 * adjusted[k]:.1f} ({100 * (adjusted[k] - truth_row[k]):+.1f})"
            covered = np.mean((low[:, k] <= truth_row[k]) & (truth_row[k] <= high[:, k]))
            bias = np.nanmean(ppi[:, k] - truth_row[k])
            print(f"| {label} | {100 * truth_row[k]:.1f} | {100 * raw[k]:.1f} ({100 * (raw[k] - truth_row[k]):+.1f}) "
                  f"| {adj} | {100 * bias:+.1f} | {100 * np.nanmean(abs_err[:, k]):.1f} "
                  f"| {100 * np.nanpercentile(abs_err[:, k], 90):.1f} | {100 * covered:.0f}% "
                  f"| {100 * np.nanmean(high[:, k] - low[:, k]):.1f} |")
        blame = slice(3, 8)
        for label, part in (("all 13 shares", slice(None)), ("the 5 blame shares", blame)):
            raw_mae = np.mean(np.abs(raw[part] - truth_row[part]))
            # out-of-range adjusted figures are not estimates (summarize prints none): left out
            adj_err = np.abs(np.where(out[part], np.nan, adjusted[part]) - truth_row[part])
            ppi_mae = np.nanmean(abs_err[:, part])
            print(f"\nmean absolute error over {label} (points): raw {100 * raw_mae:.1f}, "
                  f"adjusted {100 * np.nanmean(adj_err):.1f} (over the {int(np.isfinite(adj_err).sum())} "
                  f"it gives; {int(out[part].sum())} out of range), corrected {100 * ppi_mae:.1f}")
        print(f"\nmachine: {cpu_model()}, {os.cpu_count()} cores, {platform.platform()}; "
              f"load average at the end {os.getloadavg()[0]:.1f}; {time.time() - started:.0f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
