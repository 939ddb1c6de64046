"""PNG plots of the evaluation report, drawn from the metrics dictionary alone."""

from __future__ import annotations

import io
import re

import numpy as np

from ..records import STANCES, TARGETS


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "backend"


# ---------------------------------------------------------------------------------------------
# plots (matplotlib's Agg canvas through Figure: no pyplot state, no display needed)

COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def plot_confusion(name: str, matrix: list[list[int]]) -> bytes:
    from matplotlib.figure import Figure

    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    fig = Figure(figsize=(4.6, 3.9))
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(STANCES)), STANCES)
    ax.set_yticks(range(len(STANCES)), STANCES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(f"{name}: stance confusion")
    for i in range(len(STANCES)):
        for j in range(len(STANCES)):
            color = "white" if share[i, j] > 0.6 else "#1f2328"
            ax.text(
                j,
                i,
                f"{int(counts[i, j])}\n{100 * share[i, j]:.0f}%",
                ha="center",
                va="center",
                color=color,
                fontsize=9,
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
    return _png(fig)


def plot_reliability(bins_by_backend: dict[str, list[dict]]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 6.2))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.1]})
    top.plot([0, 1], [0, 1], color="#888888", linestyle="--", linewidth=1, label="perfect calibration")
    n = len(bins_by_backend)
    width = 0.1 / max(n, 1) * 0.9
    for k, (name, bins) in enumerate(bins_by_backend.items()):
        color = COLORS[k % len(COLORS)]
        xs = [b["confidence"] for b in bins if b["count"]]
        ys = [b["accuracy"] for b in bins if b["count"]]
        top.plot(xs, ys, marker="o", color=color, label=name, linewidth=1.5, markersize=4)
        centers = [b["lo"] + 0.005 + width * (k + 0.5) for b in bins]
        bottom.bar(centers, [b["count"] for b in bins], width=width, color=color)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1.02)
    top.set_ylabel("accuracy in bin")
    top.set_title("Reliability of the stance (10 equal-width bins)")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.set_xlabel("confidence (probability of the predicted stance)")
    bottom.set_ylabel("sentences")
    bottom.set_xticks(np.linspace(0, 1, 11))
    bottom.grid(alpha=0.3, axis="y")
    return _png(fig)


def plot_learning_curve(curve: dict) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.2, 4.0))
    ax = fig.add_subplot()
    xs = [100 * p["fraction"] for p in curve["points"]]
    for k, (key, label) in enumerate(
        (("stance_macro_f1", "stance macro-F1"), ("target_micro_f1", "target micro-F1"))
    ):
        color = COLORS[k]
        ys = [p[key]["value"] for p in curve["points"]]
        ys = [np.nan if y is None else y for y in ys]
        ax.plot(xs, ys, marker="o", color=color, label=label)
        lows = [np.nan if p[key]["ci_low"] is None else p[key]["ci_low"] for p in curve["points"]]
        highs = [np.nan if p[key]["ci_high"] is None else p[key]["ci_high"] for p in curve["points"]]
        ax.fill_between(xs, lows, highs, color=color, alpha=0.15, linewidth=0)
    ax.set_xticks(xs, [f"{x:.0f}%" for x in xs])
    ax.set_xlabel("share of each fold's training documents")
    ax.set_ylabel("score (band: 95% CI)")
    ax.set_ylim(0, 1)
    ax.set_title(f"Learning curve: {curve['backend']}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def plot_target_f1(backends: dict[str, dict]) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.4, 4.2))
    ax = fig.add_subplot()
    n = len(backends)
    width = 0.8 / max(n, 1)
    x = np.arange(len(TARGETS))
    for k, (name, result) in enumerate(backends.items()):
        per = result["targets"]["per_target"]
        values, low_err, high_err, missing = [], [], [], []
        for j, t in enumerate(TARGETS):
            f1 = per[t]["f1"]
            ci = per[t].get("f1_ci") or [None, None]
            if f1 is None:
                missing.append(j)
                values.append(0.0)
                low_err.append(0.0)
                high_err.append(0.0)
                continue
            values.append(f1)
            low_err.append(max(f1 - ci[0], 0.0) if ci[0] is not None else 0.0)
            high_err.append(max(ci[1] - f1, 0.0) if ci[1] is not None else 0.0)
        positions = x - 0.4 + width * (k + 0.5)
        ax.bar(
            positions,
            values,
            width=width * 0.95,
            color=COLORS[k % len(COLORS)],
            label=name,
            yerr=[low_err, high_err],
            capsize=2,
            error_kw={"elinewidth": 0.9, "ecolor": "#333333"},
        )
        for j, value in enumerate(values):
            if j not in missing and value == 0:
                ax.text(positions[j], 0.01, "0", ha="center", va="bottom", fontsize=7, color="#555555")
        for j in missing:
            ax.text(
                positions[j], 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90, color="#555555"
            )
    ax.set_xticks(x, [t.replace("_", " ") for t in TARGETS])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 (error bars: 95% CI)")
    ax.set_title("Per-target F1")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, ncol=min(n, 5), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    return _png(fig)


def make_plots(metrics: dict) -> dict[str, bytes]:
    images: dict[str, bytes] = {}
    for name, result in metrics["backends"].items():
        images[f"confusion_{slug(name)}.png"] = plot_confusion(name, result["stance"]["confusion"])
    images["reliability.png"] = plot_reliability(
        {name: result["calibration"]["bins"] for name, result in metrics["backends"].items()}
    )
    images["target_f1.png"] = plot_target_f1(metrics["backends"])
    lc = metrics.get("learning_curve")
    if lc and lc.get("points"):
        images["learning_curve.png"] = plot_learning_curve(lc)
    return images
