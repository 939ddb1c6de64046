"""One renderer for our reports: a list of blocks written out as Markdown and as HTML.

The evaluation report and the blame summary both build their content as blocks and render
them here, so both files of a report always say the same thing. Blocks are plain tuples:

    ("h1" | "h2" | "h3" | "p", text)           text may use `code` and **bold**
    ("table", headers, rows, aligns)           aligns: "left" | "right" per column
    ("img", file, alt)                         shown only when the image exists
    ("imgs", [(file, alt), ...])               a gallery, same rule
    ("list", items)
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Collection

Block = tuple


def table(headers: list[str], rows: list[list[str]], numeric_from: int = 1) -> Block:
    """A table block whose first `numeric_from` columns are left-aligned and the rest right-aligned."""
    aligns = ["left"] * min(numeric_from, len(headers)) + ["right"] * max(len(headers) - numeric_from, 0)
    return ("table", headers, rows, aligns)


# ---------------------------------------------------------------------------------------------
# Markdown


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: list[str], rows: list[list[str]], aligns: list[str]) -> str:
    cells = [[_md_cell(h) for h in headers]] + [[_md_cell(c) for c in row] for row in rows]
    widths = [max(3, *(len(row[i]) for row in cells)) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if a == "right" else c.ljust(w) for c, w, a in zip(row, widths, aligns, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if a == "right" else ("-" * (w + 2))
            for w, a in zip(widths, aligns, strict=True)
        )
        + "|"
    )
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def render_markdown(blocks: list[Block], images: Collection[str] = ()) -> str:
    """Markdown of the blocks; image blocks only for files named in `images`."""
    parts = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            parts.append("#" * int(kind[1]) + " " + block[1])
        elif kind == "p":
            parts.append(block[1])
        elif kind == "table":
            parts.append(markdown_table(block[1], block[2], block[3]))
        elif kind == "img":
            if block[1] in images:
                parts.append(f"![{block[2]}]({block[1]})")
        elif kind == "imgs":
            shown = [f"![{alt}]({file})" for file, alt in block[1] if file in images]
            if shown:
                parts.append(" ".join(shown))
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in block[1]))
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# HTML (self-contained: images inlined as data URIs)

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { border-bottom: 2px solid #d0d7de; padding-bottom: .3em; }
h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .8em 0 1.2em; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 4px 9px; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
tr:nth-child(even) td { background: #fbfcfd; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font-size: 90%; background: #f3f4f6; padding: 0 .25em; border-radius: 3px; }
img { max-width: 100%; height: auto; display: block; margin: .6em 0 1.4em; }
figure { margin: 0; }
.gallery { display: flex; flex-wrap: wrap; gap: 12px; margin: .6em 0 1.4em; }
.gallery img { width: 340px; max-width: 100%; margin: 0; }
"""


def inline_html(text: str) -> str:
    escaped = html.escape(str(text), quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", escaped)


def _data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def render_html(blocks: list[Block], images: dict[str, bytes], title: str) -> str:
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{inline_html(block[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{inline_html(block[1])}</p>")
        elif kind == "table":
            headers, rows, aligns = block[1], block[2], block[3]
            cls = [' class="num"' if a == "right" else "" for a in aligns]
            out.append("<table><thead><tr>")
            out.append("".join(f"<th{c}>{inline_html(h)}</th>" for h, c in zip(headers, cls, strict=True)))
            out.append("</tr></thead><tbody>")
            for row in rows:
                cells = "".join(f"<td{c}>{inline_html(v)}</td>" for v, c in zip(row, cls, strict=True))
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
        elif kind == "img" and block[1] in images:
            out.append(f'<figure><img src="{_data_uri(images[block[1]])}" alt="{html.escape(block[2])}"></figure>')
        elif kind == "imgs":
            figures = [
                f'<img src="{_data_uri(images[file])}" alt="{html.escape(alt)}">'
                for file, alt in block[1]
                if file in images
            ]
            if figures:
                out.append('<div class="gallery">' + "".join(figures) + "</div>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in block[1]) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
