"""The summary's PNG plots (matplotlib's Agg canvas; no pyplot global state, no display)."""

from __future__ import annotations

import io
import math
from datetime import date

import numpy as np

from ..records import STANCES, TARGETS
from .adjust import estimates
from .bootstrap import MIN_DOCS_FOR_CI
from .core import BY_CHOICES, Group, Summary
from .counting import N_FEATURES, N_TARGETS, TARGETED, split_counts
from .tables import DIMENSION_TITLES

MAX_HEATMAP_GROUPS = 20
PLOT_FILES = ("blame_share.png", "blame_vs_defence.png", "timeline.png", *(f"by_{d}.png" for d in BY_CHOICES))


def second_estimate(summary: Summary, group: Group, name: str) -> tuple[np.ndarray, np.ndarray, str] | None:
    """The estimate drawn beside the raw one: corrected by sample when there is one, else the
    adjusted sensitivity check (out-of-range values left out), else None."""
    if summary.gold is not None:
        return group.ppi[name], group.ppi_ci[name], "corrected by labelled sample"
    if summary.adjusted:
        values = np.where(group.est[f"{name}_adj_out"], np.nan, group.est[f"{name}_adj"])
        return values, group.ci[f"{name}_adj"], "adjusted by CV error rates (sensitivity check)"
    return None


_RAW = "#3b6ea8"
_ADJ = "#d9822b"
_DEFEND = "#5a9e5a"
_TARGET_COLOURS = ("#3b6ea8", "#d9822b", "#5a9e5a", "#b84a4a", "#7d5fa8")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _errors(values: np.ndarray, ci: np.ndarray) -> np.ndarray | None:
    """Error-bar lengths (2, k) from values and (2, k) intervals; 0 where an interval is missing,
    None (no bars) when none has one."""
    if not np.any(np.isfinite(ci)):
        return None
    low = np.where(np.isfinite(ci[0]), values - ci[0], 0.0)
    high = np.where(np.isfinite(ci[1]), ci[1] - values, 0.0)
    return np.maximum(np.nan_to_num(np.vstack([low, high])), 0.0)


def _ci_label(group: Group) -> str:
    if group.n_docs < MIN_DOCS_FOR_CI:
        return f"no intervals: fewer than {MIN_DOCS_FOR_CI} documents"
    return "95% CI"


def plot_blame_share(summary: Summary) -> bytes:
    group = summary.overall
    k = TARGETED.index("blame")
    second = second_estimate(summary, group, "of_stance")
    figure = _figure(7.5, 4.2)
    ax = figure.add_subplot()
    x = np.arange(N_TARGETS)
    width = 0.38 if second else 0.6
    raw = np.nan_to_num(group.est["of_stance"][k]) * 100
    raw_ci = group.ci["of_stance"][:, k] * 100
    offset = -width / 2 if second else 0.0
    ax.bar(
        x + offset,
        raw,
        width,
        color=_RAW,
        label="raw",
        yerr=_errors(raw, raw_ci),
        capsize=4,
        error_kw={"elinewidth": 1.2, "ecolor": "#222"},
    )
    if second:
        values, ci, label = second
        other = values[k] * 100
        other_ci = ci[:, k] * 100
        shown = np.isfinite(other)
        ax.bar(
            (x + width / 2)[shown],
            other[shown],
            width,
            color=_ADJ,
            label=label,
            yerr=None if (err := _errors(other, other_ci)) is None else err[:, shown],
            capsize=4,
            error_kw={"elinewidth": 1.2, "ecolor": "#222"},
        )
        for xi in x[~shown]:
            ax.text(xi + width / 2, 1, "n/a", ha="center", va="bottom", fontsize=8, color="#666")
    ax.set_xticks(x, [t.replace("_", " ") for t in TARGETS])
    ax.set_ylabel("% of blame sentences naming the target")
    ax.set_ylim(0, 105)
    ax.set_xlim(-0.6, N_TARGETS - 0.4)
    ax.set_title(
        f"Who is blamed: share of the {group.stance_count('blame')} blame sentences ({_ci_label(group)})",
        fontsize=11,
    )
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if second:
        ax.legend(frameon=False, loc="upper right")
    return _png(figure)


def plot_blame_vs_defence(summary: Summary) -> bytes:
    group = summary.overall
    figure = _figure(7.5, 4.2)
    ax = figure.add_subplot()
    x = np.arange(N_TARGETS)
    width = 0.38
    n = group.n
    for k, (stance, colour, label) in enumerate(
        zip(TARGETED, (_RAW, _DEFEND), ("blame", "defence"), strict=True)
    ):
        counts = np.array([group.target_count(stance, t) for t in TARGETS], dtype=float)
        ci = group.ci["of_all"][:, k] * n
        position = x + (k - 0.5) * width
        ax.bar(
            position,
            counts,
            width,
            color=colour,
            label=label,
            yerr=_errors(counts, ci),
            capsize=3,
            error_kw={"elinewidth": 1.0, "ecolor": "#222"},
        )
        second = second_estimate(summary, group, "of_all")
        if second:
            adjusted = second[0][k] * n
            shown = np.isfinite(adjusted)
            ax.scatter(
                position[shown],
                adjusted[shown],
                marker="D",
                s=36,
                color=_ADJ,
                edgecolor="#222",
                zorder=3,
                label=second[2] if k == 0 else None,
            )
    ax.set_xticks(x, [t.replace("_", " ") for t in TARGETS])
    ax.set_ylabel("sentences")
    ax.set_title(f"Blame and defence per target ({n} sentences, {_ci_label(group)})", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False)
    return _png(figure)


def _month_axis(months: list[str]) -> tuple[list[str], bool]:
    """Months to show: every month in the span when it is short, else only months with sentences."""
    first = date(int(months[0][:4]), int(months[0][5:7]), 1)
    last = date(int(months[-1][:4]), int(months[-1][5:7]), 1)
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    if span <= 24:
        every = []
        year, month = first.year, first.month
        for _ in range(span):
            every.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return every, False
    return months, len(months) < span


def plot_timeline(summary: Summary) -> bytes:
    months, gaps = _month_axis(list(summary.months))
    zero = np.zeros(N_FEATURES)
    counts = np.array([summary.months.get(m, zero) for m in months], dtype=float)
    n, stance_counts, target_counts = split_counts(counts)
    k = TARGETED.index("blame")
    figure = _figure(min(13.0, max(7.5, 0.3 * len(months) + 3)), 5.2)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    x = np.arange(len(months))
    bottom_edge = np.zeros(len(months))
    for t, target in enumerate(TARGETS):
        values = target_counts[:, k, t]
        top.bar(x, values, 0.7, bottom=bottom_edge, color=_TARGET_COLOURS[t], label=target.replace("_", " "))
        bottom_edge += values
    top.set_ylabel("blame sentences\n(per target)")
    top.set_title(
        "Blame per target per month (raw; a sentence blaming two targets counts for each)", fontsize=11
    )
    top.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    top.grid(axis="y", alpha=0.3)
    top.set_axisbelow(True)
    bottom.bar(x, n, 0.7, color="#bbbbbb", label="all sentences")
    blame = STANCES.index("blame")
    bottom.bar(x, stance_counts[:, blame], 0.7, color="#555555", label="blame sentences")
    if summary.gold is None and summary.confusion is not None and summary.confusion.stance_rates is not None:
        adjusted_months = estimates(counts, summary.confusion)
        adjusted = np.where(adjusted_months["stance_share_adj_out"][:, blame], np.nan,
                            adjusted_months["stance_share_adj"][:, blame]) * n
        shown = np.isfinite(adjusted) & (n > 0)
        bottom.scatter(
            x[shown],
            adjusted[shown],
            marker="D",
            s=22,
            color=_ADJ,
            edgecolor="#222",
            zorder=3,
            label="blame, adjusted (sensitivity)",
        )
    bottom.set_ylabel("sentences")
    bottom.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    step = max(1, math.ceil(len(months) / 36))  # at most about 36 labels
    bottom.set_xticks(x[::step], months[::step], rotation=60, ha="right", fontsize=8)
    if gaps:
        bottom.set_xlabel("month (months without any dated sentence are left out)")
    return _png(figure)


def plot_heatmap(summary: Summary, dimension: str) -> bytes:
    groups = summary.groups_of(dimension)[:MAX_HEATMAP_GROUPS]  # the largest (months: the first)
    k = TARGETED.index("blame")
    values = np.array([g.est["of_stance"][k] for g in groups]) * 100
    seconds = [second_estimate(summary, g, "of_stance") for g in groups]
    adjusted = np.array([s[0][k] for s in seconds]) * 100 if seconds and seconds[0] else None
    tag = "corr." if summary.gold is not None else "adj."
    figure = _figure(8.0, 2.2 + (0.5 if adjusted is not None else 0.36) * len(groups))
    ax = figure.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(values), cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for (r, c), value in np.ndenumerate(values):
        text = "–" if not np.isfinite(value) else f"{value:.0f}%"
        if adjusted is not None and np.isfinite(value):
            adj = adjusted[r, c]
            text += f"\n{tag} {adj:.0f}%" if np.isfinite(adj) else f"\n{tag} –"
        ax.text(c, r, text, ha="center", va="center", fontsize=8, color="white" if value > 60 else "#222")
    labels = [f"{_shorten(g.key)}  (blame {g.stance_count('blame')})" for g in groups]
    ax.set_yticks(np.arange(len(groups)), labels, fontsize=8)
    ax.set_xticks(np.arange(N_TARGETS), [t.replace("_", " ") for t in TARGETS])
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    title = f"% of blame sentences naming each target, by {DIMENSION_TITLES[dimension]}"
    if len(summary.groups_of(dimension)) > len(groups):
        title += f" ({len(groups)} largest)"
    if adjusted is not None:
        title += " (colour: raw)"
    ax.set_title(title, fontsize=11)
    figure.colorbar(image, ax=ax, shrink=0.8, label="% of blame")
    return _png(figure)


def _shorten(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_plots(summary: Summary) -> dict[str, bytes]:
    images = {
        "blame_share.png": plot_blame_share(summary),
        "blame_vs_defence.png": plot_blame_vs_defence(summary),
    }
    if summary.months:
        images["timeline.png"] = plot_timeline(summary)
    for dimension in summary.by:
        groups = summary.groups_of(dimension)
        if dimension == "month" and len(groups) > MAX_HEATMAP_GROUPS:
            continue  # the timeline shows them; a heatmap of every month would be unreadable
        if len(groups) > 1:
            images[f"by_{dimension}.png"] = plot_heatmap(summary, dimension)
    return images
