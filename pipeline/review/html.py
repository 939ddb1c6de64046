"""A self-contained HTML page of a labelled file: whole documents, each sentence coloured by its
stance, target chips, filters by label and by document, and the model's scores on hover.

No external assets: the styles and the script are inline, so the page works offline and can
be mailed around. Every piece of text from the data is escaped.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..records import STANCES, TARGETS, Record, atomic_write_text, check_output_path
from .journal import ACCEPTED, current_records
from .ordering import disagrees, model_prediction, stance_scores, target_scores

UNLABELLED = "unlabelled"

STYLE = """
:root { --blame:#c62828; --blame-bg:#fde3df; --defend:#2e7d32; --defend-bg:#ddf2e1;
  --neutral:#8a9099; --neutral-bg:#eef0f3; --ink:#1d232b; --muted:#5f6b7a; --line:#d8dde3; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
  color:var(--ink); background:#f7f8fa; }
header.bar { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line);
  padding:10px 20px 8px; box-shadow:0 1px 4px rgba(0,0,0,.05); }
header h1 { font-size:17px; margin:0 12px 4px 0; display:inline-block; }
.summary { color:var(--muted); font-size:13px; }
.filters { display:flex; flex-wrap:wrap; gap:6px 18px; align-items:center; margin-top:6px; font-size:13px; }
.filters fieldset { border:0; margin:0; padding:0; display:flex; gap:4px; align-items:center;
  flex-wrap:wrap; }
.filters legend { float:left; font-weight:600; margin-right:4px; padding:0; }
.filters label { display:inline-flex; align-items:center; gap:3px; padding:1px 7px;
  border:1px solid var(--line);
  border-radius:12px; background:#fff; cursor:pointer; user-select:none; }
.filters label:has(input:checked) { border-color:#6b7785; background:#eef2f6; }
.filters input[type=checkbox] { margin:0; }
.filters select { font:inherit; padding:1px 4px; max-width:320px; }
#count { color:var(--muted); margin-left:auto; }
.legend { color:var(--muted); }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; }
main { max-width:980px; margin:0 auto; padding:8px 20px 60px; }
article.doc { background:#fff; border:1px solid var(--line); border-radius:8px; margin:18px 0;
  padding:6px 22px 14px; }
article.doc > h2 { font-size:13px; font-weight:600; color:var(--muted); margin:8px 0 4px;
  font-family:ui-monospace, "DejaVu Sans Mono", monospace; }
article.doc > h2 small { font-weight:400; margin-left:8px; }
h3.title { font-size:20px; line-height:1.35; margin:10px 0 6px; }
p { margin:8px 0; }
section.comment { border-left:3px solid var(--line); margin:12px 0 12px 4px; padding:2px 0 2px 12px; }
section.comment .who { font-size:12px; color:var(--muted); font-weight:600; }
section.comment .who time { font-weight:400; margin-left:6px; }
.s { border-radius:3px; padding:1px 2px; cursor:default; transition:opacity .15s; }
.s.st-blame { background:var(--blame-bg); box-shadow:inset 0 -2px 0 var(--blame); }
.s.st-defend { background:var(--defend-bg); box-shadow:inset 0 -2px 0 var(--defend); }
.s.st-neutral { background:var(--neutral-bg); box-shadow:inset 0 -2px 0 #b4bac2; }
.s.st-unlabelled { border-bottom:1px dashed #b9c0c8; border-radius:0; }
.s.bp { color:var(--muted); font-size:13px; font-style:italic; }
.s:hover, .s:focus { outline:2px solid #4a90d9; outline-offset:1px; }
.s.off { opacity:.22; }
.s.gone { display:none; }
.chip { display:inline-block; font-size:11px; line-height:1.5; padding:0 6px; margin-left:3px;
  border-radius:9px;
  background:#34404d; color:#fff; vertical-align:1px; font-style:normal; }
.s.st-defend .chip { background:var(--defend); }
.s.st-blame .chip { background:var(--blame); }
.mark { font-size:11px; margin-left:3px; vertical-align:1px; }
.mark.dis { color:#b45309; font-weight:700; }
.mark.ok { color:var(--defend); }
#tip { position:absolute; z-index:10; max-width:420px; background:#1d232b; color:#f3f5f7; font-size:12px;
  line-height:1.5; padding:8px 10px; border-radius:6px; white-space:pre-line; pointer-events:none;
  box-shadow:0 4px 14px rgba(0,0,0,.25); }
#tip[hidden] { display:none; }
.empty { color:var(--muted); text-align:center; margin:40px; }
"""

SCRIPT = """
(function () {
  const sentences = Array.from(document.querySelectorAll('.s'));
  const docs = Array.from(document.querySelectorAll('article.doc'));
  const boxes = Array.from(document.querySelectorAll('input[data-filter]'));
  const docSelect = document.getElementById('doc');
  const disagree = document.getElementById('disagree');
  const hide = document.getElementById('hide');
  const count = document.getElementById('count');
  const empty = document.getElementById('empty');
  function apply() {
    const stances = new Set(boxes.filter(b => b.dataset.filter === 'stance' && b.checked).map(b => b.value));
    const targets = new Set(boxes.filter(b => b.dataset.filter === 'target' && b.checked).map(b => b.value));
    const doc = docSelect.value;
    let shown = 0, total = 0;
    for (const article of docs) {
      const inDoc = !doc || article.dataset.doc === doc;
      let matches = 0;
      for (const s of article.querySelectorAll('.s')) {
        let ok = stances.has(s.dataset.stance);
        if (ok && targets.size) ok = s.dataset.targets.split(' ').some(t => targets.has(t));
        if (ok && disagree && disagree.checked) ok = s.dataset.disagree === '1';
        s.classList.toggle('off', !ok);
        s.classList.toggle('gone', !ok && hide.checked);
        if (ok) matches++;
        if (inDoc) total++;
      }
      article.hidden = !inDoc || (hide.checked && matches === 0);
      if (inDoc) shown += matches;
    }
    count.textContent = shown + ' of ' + total + ' sentences match';
    empty.hidden = shown !== 0;
  }
  boxes.forEach(b => b.addEventListener('change', apply));
  [docSelect, disagree, hide].forEach(el => el && el.addEventListener('change', apply));
  const tip = document.getElementById('tip');
  function show(s, x, y) {
    tip.textContent = s.dataset.tip;
    tip.hidden = false;
    const w = tip.offsetWidth, h = tip.offsetHeight;
    const left = Math.min(x + 14, window.scrollX + document.documentElement.clientWidth - w - 8);
    let top = y + 18;
    if (top + h > window.scrollY + window.innerHeight - 8) top = y - h - 12;
    tip.style.left = Math.max(window.scrollX + 8, left) + 'px';
    tip.style.top = top + 'px';
  }
  for (const s of sentences) {
    s.addEventListener('mousemove', e => show(s, e.pageX, e.pageY));
    s.addEventListener('mouseleave', () => { tip.hidden = true; });
    s.addEventListener('focus', () => {
      const r = s.getBoundingClientRect();
      show(s, r.left + window.scrollX, r.bottom + window.scrollY - 12);
    });
    s.addEventListener('blur', () => { tip.hidden = true; });
  }
  apply();
})();
"""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _order_in_document(records: Sequence[Record], members: list[int]) -> list[int]:
    if all(
        isinstance(records[i].get("start"), int) and not isinstance(records[i].get("start"), bool)
        for i in members
    ):
        return sorted(members, key=lambda i: (records[i]["start"], i))
    return members


def _tip(record: Record) -> str:
    lines = [str(record.get("id"))]
    where = [str(record.get("section", "post"))]
    if record.get("author"):
        where.append(f"by {record['author']}")
    if record.get("timestamp"):
        where.append(str(record["timestamp"]))
    lines.append(" · ".join(where))
    if "stance" in record:
        targets = record.get("targets") or []
        lines.append(f"label: {record['stance']}" + (f" → {', '.join(map(str, targets))}" if targets else ""))
    else:
        lines.append("label: none yet")
    stances = stance_scores(record)
    if stances is not None:
        lines.append(
            "model stance: " + " · ".join(f"{s} {p:.2f}" for s, p in zip(STANCES, stances, strict=True))
        )
    targets = target_scores(record)
    if targets is not None:
        lines.append(
            "model targets: " + " · ".join(f"{t} {p:.2f}" for t, p in zip(TARGETS, targets, strict=True))
        )
    prediction = model_prediction(record)
    if prediction is not None:
        stance, predicted = prediction
        verdict = {True: "  (disagrees with the label)", False: "  (agrees)", None: ""}[disagrees(record)]
        lines.append(
            f"model predicts: {stance}" + (f" → {', '.join(predicted)}" if predicted else "") + verdict
        )
    if record.get("review_status"):
        lines.append(
            f"review: {record['review_status']} by {record.get('reviewed_by')} at {record.get('reviewed_at')}"
        )
    return "\n".join(lines)


def _sentence(record: Record) -> str:
    stance = record.get("stance")
    stance_class = stance if stance in STANCES else UNLABELLED
    targets = [t for t in (record.get("targets") or []) if isinstance(t, str)] if "stance" in record else []
    differs = disagrees(record)
    classes = ["s", f"st-{stance_class}"]
    if record.get("boilerplate"):
        classes.append("bp")
    chips = "".join(f'<span class="chip">{_e(t.replace("_", " "))}</span>' for t in targets)
    marks = ""
    if differs:
        marks += '<span class="mark dis" aria-label="model disagrees">≠</span>'
    if record.get("review_status") == ACCEPTED:
        marks += '<span class="mark ok" aria-label="reviewed">✓</span>'
    return (
        f'<span class="{" ".join(classes)}" tabindex="0" id="{_e(record.get("id"))}" '
        f'data-stance="{_e(stance_class)}" data-targets="{_e(" ".join(targets))}" '
        f'data-disagree="{1 if differs else 0}" data-tip="{_e(_tip(record))}">'
        f"{_e(record.get('text', ''))}{chips}{marks}</span>"
    )


def _document(records: Sequence[Record], doc_id: str, members: list[int]) -> str:
    """One document: title sentences as a heading, post text in paragraphs (a gap of two or
    more characters between sentences starts a new one), each comment in its own section."""
    parts = [
        f'<article class="doc" data-doc="{_e(doc_id)}">',
        f"<h2>{_e(doc_id)}<small>{_plural(len(members), 'sentence')}</small></h2>",
    ]
    block: list[str] = []
    block_kind = ""
    in_comment = False
    comment_key: object = None
    previous_end = None

    def close_block() -> None:
        nonlocal block, block_kind
        if block:
            joined = " ".join(block)
            parts.append(f'<h3 class="title">{joined}</h3>' if block_kind == "title" else f"<p>{joined}</p>")
        block, block_kind = [], ""

    for i in _order_in_document(records, members):
        record = records[i]
        section = record.get("section", "post")
        key = ("comment", record.get("comment_index")) if section == "comment" else None
        if key != comment_key:
            close_block()
            if in_comment:
                parts.append("</section>")
                in_comment = False
            if key is not None:
                who = _e(record.get("author") or "anonymous")
                when = f"<time>{_e(record['timestamp'])}</time>" if record.get("timestamp") else ""
                parts.append(f'<section class="comment"><div class="who">{who}{when}</div>')
                in_comment = True
            comment_key = key
        kind = "title" if section == "title" else "text"
        start = record.get("start")
        gap = start - previous_end if isinstance(start, int) and isinstance(previous_end, int) else 1
        if block and (kind != block_kind or gap >= 2):
            close_block()
        block_kind = kind
        block.append(_sentence(record))
        previous_end = record.get("end")
    close_block()
    if in_comment:
        parts.append("</section>")
    parts.append("</article>")
    return "\n".join(parts)


def render_html(records: Sequence[Record], title: str) -> str:
    docs: dict[str, list[int]] = {}
    for i, record in enumerate(records):
        docs.setdefault(str(record.get("doc_id", "(no document)")), []).append(i)
    stance_counts = Counter(r.get("stance") if r.get("stance") in STANCES else UNLABELLED for r in records)
    target_counts = Counter(
        t for r in records if "stance" in r for t in (r.get("targets") or []) if t in TARGETS
    )
    disagreements = sum(1 for r in records if disagrees(r))
    reviewed = sum(1 for r in records if r.get("review_status") == ACCEPTED)
    has_model = any(model_prediction(r) is not None for r in records)

    stance_boxes = "".join(
        f'<label><input type="checkbox" data-filter="stance" value="{s}" checked>'
        f'<span class="swatch" style="background:var(--{s})"></span>{s} ({stance_counts.get(s, 0)})</label>'
        for s in STANCES
    ) + (
        f'<label><input type="checkbox" data-filter="stance" value="{UNLABELLED}" checked>'
        f'<span class="swatch" style="background:#fff;border:1px solid #c3c9d0"></span>'
        f"{UNLABELLED} ({stance_counts.get(UNLABELLED, 0)})</label>"
    )
    target_boxes = "".join(
        f'<label><input type="checkbox" data-filter="target" value="{t}">{t.replace("_", " ")} '
        f"({target_counts.get(t, 0)})</label>"
        for t in TARGETS
    )
    options = "".join(
        f'<option value="{_e(doc)}">{_e(doc)} ({len(members)})</option>' for doc, members in docs.items()
    )
    disagree_box = (
        f'<label><input type="checkbox" id="disagree">model disagrees ({disagreements})</label>'
        if has_model
        else ""
    )
    summary = (
        f"{_plural(len(records), 'sentence')} in {_plural(len(docs), 'document')} · "
        + " · ".join(f"{s} {stance_counts.get(s, 0)}" for s in (*STANCES, UNLABELLED))
        + f" · reviewed {reviewed}"
        + (f" · model disagrees on {disagreements}" if has_model else "")
    )
    body = "\n".join(_document(records, doc, members) for doc, members in docs.items())
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)} — review</title>
<style>{STYLE}</style>
</head>
<body>
<header class="bar">
<h1>{_e(title)}</h1><span class="summary">{_e(summary)}</span>
<div class="filters">
<fieldset><legend>Stance</legend>{stance_boxes}</fieldset>
<fieldset><legend>Targets</legend>{target_boxes}</fieldset>
<label class="plain">Document <select id="doc">
<option value="">all documents ({len(docs)})</option>{options}</select></label>
{disagree_box}
<label><input type="checkbox" id="hide">hide non-matching</label>
<span class="legend"><span class="mark dis">≠</span> model disagrees ·
<span class="mark ok">✓</span> reviewed</span>
<span id="count"></span>
</div>
</header>
<main>
<p class="empty" id="empty" hidden>No sentence matches these filters.</p>
{body}
</main>
<div id="tip" role="tooltip" hidden></div>
<script>{SCRIPT}</script>
</body>
</html>
"""


def write_html(source: str | Path, output: str | Path) -> int:
    """Write the page for a JSONL file (with any unsaved review journal applied); returns the
    number of sentences on it."""
    check_output_path(output, [source])
    records = [record for _, record in current_records(source)]
    atomic_write_text(output, render_html(records, Path(str(source)).name))
    return len(records)
