"""The summary's content as report blocks (rendered by pipeline.reportdoc to Markdown and HTML)."""

from __future__ import annotations

import math

import numpy as np

from ..records import STANCES, TARGETS
from ..reportdoc import Block, table
from .bootstrap import MIN_DOCS_FOR_CI
from .core import Group, Summary
from .counting import TARGETED
from .reading import UNDATED

MAX_DETAILED_GROUPS = 20
MAX_OVERVIEW_ROWS = 100
NOUNS = {"blame": "blame", "defend": "defence"}
DIMENSION_TITLES = {
    "doc": "document",
    "section": "section (post versus comments)",
    "author": "author",
    "month": "month",
}
OUT_OF_RANGE = "out of range"


def pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.1f}%"


def interval(low: float, high: float) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"{100 * low:.1f}–{100 * high:.1f}"


def with_ci(value: float, ci: np.ndarray) -> str:
    text = pct(value)
    if text == "–":
        return text
    return f"{text} ({interval(ci[0], ci[1])})"


def adjusted_text(group: Group, name: str, index: tuple) -> str:
    """An adjusted share, or "out of range" where the inversion left 0-100% (never a clipped 0% or 100%)."""
    if bool(group.est[f"{name}_adj_out"][index]):
        return OUT_OF_RANGE
    return with_ci(group.est[f"{name}_adj"][index], group.ci[f"{name}_adj"][(slice(None), *index)])


def _headers(summary: Summary, group: Group, what: str) -> list[str]:
    """Column titles for raw / corrected / adjusted versions of one measure; the headline is marked."""
    headline = group.headline
    raw = f"raw {what}" if summary.gold is not None or summary.adjusted else what
    titles = [f"{raw} (95% CI)" + (" **headline**" if headline == "raw" and summary.gold else "")]
    if summary.gold is not None:
        titles.append("corrected by sample (95% CI)" + (" **headline**" if headline == "ppi" else ""))
    if summary.adjusted:
        titles.append("adjusted (95% CI), sensitivity check")
    return titles


def _cells(summary: Summary, group: Group, name: str, index: tuple) -> list[str]:
    cells = [with_ci(group.est[name][index], group.ci[name][(slice(None), *index)])]
    if summary.gold is not None:
        cells.append(with_ci(group.ppi[name][index], group.ppi_ci[name][(slice(None), *index)]))
    if summary.adjusted:
        cells.append(adjusted_text(group, name, index))
    return cells


def stance_table(summary: Summary, group: Group) -> Block:
    header = ["stance", "sentences", *_headers(summary, group, "share")]
    rows = [[stance, str(group.stance_count(stance)), *_cells(summary, group, "stance_share", (i,))]
            for i, stance in enumerate(STANCES)]
    return table(header, rows)


def target_table(summary: Summary, group: Group, stance: str) -> Block:
    k = TARGETED.index(stance)
    noun = NOUNS[stance]
    header = ["target", "sentences", *_headers(summary, group, f"% of {noun}"),
              *_headers(summary, group, "% of all")]
    rows = []
    for t, target in enumerate(TARGETS):
        rows.append([target, str(group.target_count(stance, target)),
                     *_cells(summary, group, "of_stance", (k, t)), *_cells(summary, group, "of_all", (k, t))])
    return table(header, rows)


def overview_table(summary: Summary, dimension: str) -> Block:
    header = [dimension, "docs", "sentences", "blame", "defend", "% blame (95% CI)"]
    if summary.gold is not None:
        header += ["labelled docs", "corrected"]
    if summary.adjusted:
        header.append("adjusted")
    header += ["most blamed (% of blame)"]
    b = STANCES.index("blame")
    k = TARGETED.index("blame")
    rows = []
    groups = summary.groups_of(dimension)
    if dimension != "month":
        groups = groups[:MAX_OVERVIEW_ROWS]
    for group in groups:
        row = [
            group.key,
            str(group.n_docs),
            str(group.n),
            str(group.stance_count("blame")),
            str(group.stance_count("defend")),
            with_ci(group.est["stance_share"][b], group.ci["stance_share"][:, b]),
        ]
        if summary.gold is not None:
            row += [str(group.n_labelled_docs), pct(group.ppi["stance_share"][b])]
        if summary.adjusted:
            row.append(OUT_OF_RANGE if group.est["stance_share_adj_out"][b] else pct(group.est["stance_share_adj"][b]))
        shares = group.ppi["of_stance"][k] if group.headline == "ppi" else group.est["of_stance"][k]
        if np.all(~np.isfinite(shares)) or np.nanmax(shares) == 0:
            row.append("–")
        else:
            top = int(np.nanargmax(shares))
            row.append(f"{TARGETS[top]} ({pct(shares[top])})")
        rows.append(row)
    return table(header, rows)


HOW_TO_READ_COUNTS = (
    "A sentence that blames two targets counts once for each. '% of blame' is the share of blame "
    "sentences naming the target (so a column can sum to more than 100%); '% of all' is the share of "
    "all counted sentences that blame the target. Boilerplate sentences are never counted. The "
    "'sentences' column counts the model's labels. When every bootstrap resample agrees on 0% or 100% "
    "(no sentence, or every one, has the label) the interval's far end is the exact binomial bound for "
    "that many sentences, so a 0% is never shown as certain."
)
HOW_TO_READ_PPI = (
    "Corrected by sample (prediction-powered inference, Angelopoulos et al. 2023): for each count, "
    "the model's count over the whole corpus plus the model's error measured on the hand-labelled "
    "random sample, scaled up to the corpus (per group: the group's documents over its labelled "
    "documents); a share is the ratio of two such counts, clipped to 0–100%. Unbiased whatever the "
    "model's errors on these documents, because the sample is random. Intervals: bootstrap of "
    "documents, labelled and unlabelled documents resampled separately, so the interval includes the "
    "uncertainty of the small labelled sample."
)
HOW_TO_READ_ADJUSTED = (
    "Adjusted figures (a sensitivity check, never the headline) invert the model's error rates measured "
    "by cross-validation on its training documents (adjusted classify and count): the stance shares solve "
    "observed = confusion^T × true by least squares; each target's share among blame (defence) "
    "sentences is (observed − fpr) / (tpr − fpr). Those rates need not hold on other documents, and "
    "the inversion amplifies any difference: where it lands outside 0–100% the figure is shown as "
    f"'{OUT_OF_RANGE}' (the rates do not fit these documents), not as a certain 0% or 100%; so is a "
    "figure whose interval collapses onto a single value. "
    "Their intervals cover the sampling of documents only, not the error in the rates."
)
ADJUSTED_WARNING = (
    "Warning: the adjusted column uses error rates measured on the model's training documents. On "
    "documents from other sources they can be far off, and the adjustment then moves the figures "
    "further from the truth than the raw counts (an issue-15 trial on 50 pages from other outlets: "
    "councillors' true share of blame 40.9%, raw 61.3%, adjusted 0.0%). Read it as a sensitivity check: "
    "if raw and adjusted disagree, the raw figure depends on the model's errors and a labelled sample "
    "is needed."
)


def headline_text(summary: Summary) -> str:
    overall = summary.overall
    gold = summary.gold
    if gold is None:
        return (
            "**Headline: the raw figures** (the model's labels counted as they are). Nobody has measured "
            "the model's errors on these documents, and the figures carry them: before publishing, label a "
            "random sample of this corpus (`pipeline sample`, `pipeline review`) and summarize with "
            "`--gold` to get corrected figures with honest intervals."
        )
    labelled = (f"{overall.n_labelled} hand-labelled sentence(s) in {overall.n_labelled_docs} document(s) "
                f"of a random sample ({gold.unit} units) from {gold.source}")
    if overall.headline == "ppi":
        return (
            f"**Headline: the figures corrected by sample** ({labelled}). They combine the model's labels "
            "on every sentence with the model's errors measured on the sample, so they are unbiased for "
            "this corpus whatever those errors are, and their intervals include the uncertainty of the "
            "small sample. Raw figures are shown beside them: the gap is the model's error here."
        )
    return (
        f"**Headline: the raw figures**, because the sample is too small to correct them with an interval "
        f"({labelled}; at least {MIN_DOCS_FOR_CI} labelled documents are needed). Corrected values are shown "
        "without intervals: label more documents."
    )


def summary_blocks(summary: Summary, images: dict[str, bytes] | dict[str, str]) -> list[Block]:
    p = summary.predictions
    overall = summary.overall
    blocks: list[Block] = [("h1", "Blame summary")]
    blocks.append(("p", f"Input: {p.source} — {p.n_records} sentence records in {len(p.doc_ids)} document(s); "
                        f"{p.n_boilerplate} boilerplate sentence(s) excluded; {len(p)} sentence(s) counted."))
    if p.n_predicted_fields:
        blocks.append(("p", f"{p.n_predicted_fields} record(s) also carry human labels; their model labels "
                            "(predicted_stance, predicted_targets) are the ones counted."))
    if p.models:
        names = "; ".join(f"{name} ({digest[:12]}): {n}" for (name, digest), n in p.models.most_common())
        blocks.append(("p", f"Predictions made by: {names}."))
    blocks.append(("p", headline_text(summary)))
    if summary.gold is not None:
        for note in summary.gold.notes:
            blocks.append(("p", f"Note: {note}."))
    blocks.append(("p", summary.adjustment_note))
    if summary.confusion is not None:
        blocks.append(("p", ADJUSTED_WARNING))
        for note in summary.confusion.notes:
            blocks.append(("p", f"Note: {note}."))
        if len(p.models) > 1:
            blocks.append(("p", "Note: the records come from more than one model, but the adjustment uses one "
                                "model's error rates."))
        hashes = {digest for _, digest in p.models}
        if summary.confusion.model_hash and hashes and summary.confusion.model_hash not in hashes:
            blocks.append(("p", f"Warning: the error rates come from model {summary.confusion.model_hash}, but the "
                                f"predictions were made by {', '.join(sorted(hashes))}; the adjustment may not "
                                "fit them."))
    ci_note = (f"95% intervals: percentile bootstrap, {summary.resamples} resamples of whole documents "
               f"(seed {summary.seed}).")
    if len(p.doc_ids) < MIN_DOCS_FOR_CI:
        ci_note += (f" There are only {len(p.doc_ids)} document(s), fewer than the {MIN_DOCS_FOR_CI} needed, "
                    "so no interval is given (n/a).")
    elif len(p.doc_ids) < 10:
        ci_note += f" With only {len(p.doc_ids)} documents the intervals are rough."
    blocks.append(("p", ci_note))

    blocks.append(("h2", f"Overall ({overall.n} sentences, {overall.n_docs} documents)"))
    blocks.append(("h3", "Stance"))
    blocks.append(stance_table(summary, overall))
    blocks.append(("h3", "Blame per target"))
    blocks.append(target_table(summary, overall, "blame"))
    blocks.append(("img", "blame_share.png", "Share of blame sentences naming each target"))
    blocks.append(("h3", "Defence per target"))
    blocks.append(target_table(summary, overall, "defend"))
    blocks.append(("img", "blame_vs_defence.png", "Blame and defence sentences per target"))
    if "timeline.png" in images:
        blocks.append(("h3", "Over time"))
        undated = int(sum(1 for m in p.keys["month"] if m == UNDATED))
        blocks.append(("p", f"{len(p) - undated} dated sentence(s) in {len(summary.months)} month(s); "
                            f"{undated} without a usable date are left out of the timeline (raw counts)."))
        blocks.append(("img", "timeline.png", "Blame sentences per target per month"))
    elif not summary.months:
        blocks.append(("p", "No sentence has a timestamp that parses as a date, so there is no timeline."))
    for dimension in summary.by:
        blocks += _dimension_blocks(summary, dimension, images)
    blocks.append(("h2", "How to read this"))
    blocks.append(("p", HOW_TO_READ_COUNTS))
    if summary.gold is not None:
        blocks.append(("p", HOW_TO_READ_PPI))
    if summary.adjusted:
        blocks.append(("p", HOW_TO_READ_ADJUSTED))
    return blocks


def _dimension_blocks(summary: Summary, dimension: str, images) -> list[Block]:
    groups = summary.groups_of(dimension)
    title = DIMENSION_TITLES[dimension]
    blocks: list[Block] = [("h2", f"By {title} ({len(groups)} groups)")]
    if dimension == "section":
        blocks.append(("p", "Titles count with the post."))
    if dimension == "month":
        blocks.append(("p", f"Sentences without a parseable timestamp are grouped as {UNDATED}."))
    single = sum(1 for g in groups if g.n_docs < MIN_DOCS_FOR_CI)
    if single:
        blocks.append(("p", f"{single} group(s) come from fewer than {MIN_DOCS_FOR_CI} documents: their intervals "
                            "are n/a, since resampling so few documents cannot measure the uncertainty."))
    if summary.gold is not None:
        few = sum(1 for g in groups if g.headline == "raw")
        if few:
            blocks.append(("p", f"{few} group(s) have fewer than {MIN_DOCS_FOR_CI} labelled documents: their "
                                "headline stays raw (corrected values without an interval, or – with none)."))
    if dimension != "month" and len(groups) > MAX_OVERVIEW_ROWS:
        blocks.append(("p", f"The table lists the {MAX_OVERVIEW_ROWS} largest groups."))
    blocks.append(overview_table(summary, dimension))
    blocks.append(("img", f"by_{dimension}.png", f"Share of blame sentences naming each target, by {title}"))
    if dimension == "month":
        shown = groups if len(groups) <= MAX_DETAILED_GROUPS else []
    else:
        shown = groups[:MAX_DETAILED_GROUPS]
    if not shown:
        blocks.append(("p", f"Per-month detail for all {len(groups)} months is in summary.csv."))
    elif len(shown) < len(groups):
        blocks.append(("p", f"The {len(shown)} largest groups in detail; all {len(groups)} are in summary.csv."))
    for group in shown:
        labelled = f", {group.n_labelled_docs} labelled" if summary.gold is not None else ""
        blocks.append(("h3", f"{group.key} ({group.n} sentences, {group.n_docs} document(s){labelled})"))
        blocks.append(stance_table(summary, group))
        blocks.append(target_table(summary, group, "blame"))
        blocks.append(target_table(summary, group, "defend"))
    return blocks
