"""Tools for the corpus of written documents (labels/documents/).

Documents are plain-text pages in labels/documents/batch1/ and batch2/, read and segmented
by the same code as the seeds. Labels are kept apart from the text, keyed by sentence id
(``<doc_id>:<ordinal>``) and checked by text hash, so a change in segmentation is caught.

    python scripts/written_docs.py show labels/documents/batch1/b1a-news-01.txt
        print each sentence: ordinal, B if boilerplate (not labelled), section, text
    python scripts/written_docs.py check PASS.jsonl [PASS2.jsonl ...]
        every non-boilerplate sentence of every document a pass names has exactly one
        valid label, and nothing else is labelled
    python scripts/written_docs.py build
        adjudicated labels -> labels/written_documents.jsonl (text, hash, genre, batch...)

A pass file holds one line per sentence: {"id": "b1a-news-01:0003", "stance": "blame",
"targets": ["managers"]} (optional "note"). Catalogue files
(labels/annotations/documents/catalogue_*.jsonl) hold one line per document:
{"doc_id", "batch", "register", "case", "year", "outlet", "writer"}.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.documents import read_documents  # noqa: E402
from pipeline.records import label_problems, read_jsonl, text_hash, write_jsonl  # noqa: E402
from pipeline.segment import segment_document  # noqa: E402

DOCUMENTS = ROOT / "labels" / "documents"
ANNOTATIONS = ROOT / "labels" / "annotations" / "documents"
OUTPUT = ROOT / "labels" / "written_documents.jsonl"
REGISTERS = ("news", "forum", "comments", "oped", "editorial", "letter", "party_statement",
             "ministerial", "professional_blog", "inquiry_summary")


def segments(paths) -> dict[str, list[dict]]:
    by_doc: dict[str, list[dict]] = {}
    for document in read_documents(paths):
        by_doc[document.doc_id] = segment_document(document.doc_id, document.text)
    return by_doc


def all_segments() -> dict[str, list[dict]]:
    folders = [p for p in sorted(DOCUMENTS.glob("batch*")) if p.is_dir()]
    return segments(folders) if folders else {}


def show(path: str) -> None:
    for doc_id, records in segments([path]).items():
        labelled = sum(not r["boilerplate"] for r in records)
        print(f"# {doc_id}: {len(records)} sentences, {labelled} to label")
        for record in records:
            flag = "B" if record["boilerplate"] else "-"
            print(f"{record['id']}\t{flag}\t{record['section']}\t{record['text']}")


def read_pass(path: Path) -> dict[str, dict]:
    labels = {}
    for line_no, record in read_jsonl(path):
        if record.get("id") in labels:
            raise SystemExit(f"{path}:{line_no}: duplicate id {record.get('id')!r}")
        labels[record["id"]] = record
    return labels


def check(paths: list[str]) -> int:
    segmented = all_segments()
    problems = []
    for path in map(Path, paths):
        labels = read_pass(path)
        docs = sorted({key.rsplit(":", 1)[0] for key in labels})
        for doc_id in docs:
            if doc_id not in segmented:
                problems.append(f"{path}: document {doc_id!r} not found in {DOCUMENTS}")
                continue
            wanted = {r["id"] for r in segmented[doc_id] if not r["boilerplate"]}
            given = {k for k in labels if k.rsplit(":", 1)[0] == doc_id}
            for missing in sorted(wanted - given):
                problems.append(f"{path}: {missing}: sentence not labelled")
            for extra in sorted(given - wanted):
                problems.append(f"{path}: {extra}: not a labelled sentence (boilerplate or no such id)")
        for key, record in labels.items():
            for problem in label_problems({**record, "origin": "written"}):
                problems.append(f"{path}: {key}: {problem}")
        print(f"{path}: {len(labels)} labels over {len(docs)} documents")
    for problem in problems:
        print(problem)
    return 1 if problems else 0


def catalogue() -> dict[str, dict]:
    entries = {}
    for path in sorted(ANNOTATIONS.glob("catalogue_*.jsonl")):
        for _, record in read_jsonl(path):
            entries[record["doc_id"]] = record
    return entries


def build() -> int:
    segmented = all_segments()
    meta = catalogue()
    adjudicated: dict[str, dict] = {}
    for path in sorted(ANNOTATIONS.glob("adjudicated_*.jsonl")):
        adjudicated.update(read_pass(path))
    records = []
    for doc_id in sorted(segmented):
        if doc_id not in meta:
            print(f"warning: {doc_id} has no catalogue entry; skipped")
            continue
        info = meta[doc_id]
        for sentence in segmented[doc_id]:
            if sentence["boilerplate"]:
                continue
            label = adjudicated.get(sentence["id"])
            if label is None:
                print(f"warning: {sentence['id']} has no adjudicated label; document skipped")
                records = [r for r in records if r["doc_id"] != doc_id]
                break
            records.append({
                "id": sentence["id"], "doc_id": doc_id, "text": sentence["text"],
                "text_hash": text_hash(sentence["text"]), "section": sentence["section"],
                "stance": label["stance"], "targets": label.get("targets", []),
                "origin": "written", "register": info["register"], "batch": str(info["batch"]),
                "case": info.get("case"), "year": info.get("year"), "annotator": "adjudicated",
            })
    write_jsonl(OUTPUT, records)
    counts = Counter(r["register"] for r in records)
    print(f"wrote {len(records)} sentences from {len({r['doc_id'] for r in records})} documents to {OUTPUT}")
    print(dict(sorted(counts.items())))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "show":
        for argument in sys.argv[2:]:
            show(argument)
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2:]))
    elif sys.argv[1:] == ["build"]:
        sys.exit(build())
    else:
        sys.exit(__doc__)
