"""Reviewing labelled sentences: the terminal interface, its crash-safe journal, an HTML view,
and export/import to annotation servers.

* ``journal``  — the append-only journal and the review session (no user interface in it);
* ``ordering`` — model scores, predictions and the review orders (uncertain, disagree, errors);
* ``tui``      — the Textual interface driven by ``pipeline review FILE.jsonl``;
* ``html``     — the self-contained page written by ``pipeline review FILE.jsonl --html out.html``;
* ``interop``  — Label Studio, doccano and CSV export and import.
"""
