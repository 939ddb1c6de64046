"""Tools for the corpus of written documents (labels/documents/).

Documents are plain-text pages in labels/documents/batch1/ and batch2/, read and segmented
by the same code as the seeds. Labels are kept apart from the text, keyed by sentence id
(``<doc_id>:<ordinal>``) and checked by text hash, so a change in segmentation is caught.

    python scripts/written_docs.py show labels/documents/batch1/b1a-news-01.txt
        print each sentence: ordinal, B if boilerplate (not labelled), section, text
    python scripts/written_docs.py check PASS.jsonl [PASS2.jsonl ...]
        every non-boilerplate sentence of every document a pass names has exactly one
        valid label, and nothing else is labelled
    python scripts/written_docs.py disagreements WRITER
        the sentences where the writer's and the reader's passes differ, in their documents
    python scripts/written_docs.py merge WRITER
        agreed labels + adjudication_WRITER.jsonl -> adjudicated_WRITER.jsonl
    python scripts/written_docs.py build
        adjudicated labels -> labels/written_documents.jsonl (text, hash, genre, batch...)
    python scripts/written_docs.py build --writer-passes OUT.jsonl
        the same from the writers' own passes, for experiments before adjudication

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


def disagreements(writer: str) -> int:
    """Sentences where the writer's and the reader's passes differ, with their documents."""
    first = read_pass(ANNOTATIONS / f"pass_writer_{writer}.jsonl")
    second = read_pass(ANNOTATIONS / f"pass_reader_{writer}.jsonl")
    segmented = all_segments()
    differing = [key for key in first if key in second and _label(first[key]) != _label(second[key])]
    for doc_id in sorted({key.rsplit(":", 1)[0] for key in differing}):
        print(f"\n## document {doc_id}")
        for record in segmented[doc_id]:
            mark = ""
            if record["id"] in differing:
                a, b = first[record["id"]], second[record["id"]]
                mark = f"   <<< DIFFER: A={_label(a)} B={_label(b)}"
            flag = "B" if record["boilerplate"] else "-"
            print(f"{record['id']}\t{flag}\t{record['text']}{mark}")
    print(f"\n{len(differing)} of {len(first)} sentences differ", file=sys.stderr)
    return 0


def _label(record: dict) -> tuple[str, tuple[str, ...]]:
    return record["stance"], tuple(sorted(record.get("targets", [])))


def merge(writer: str) -> int:
    """Agreed labels plus the adjudicator's decisions -> adjudicated_WRITER.jsonl."""
    first = read_pass(ANNOTATIONS / f"pass_writer_{writer}.jsonl")
    second = read_pass(ANNOTATIONS / f"pass_reader_{writer}.jsonl")
    decisions_path = ANNOTATIONS / f"adjudication_{writer}.jsonl"
    decisions = read_pass(decisions_path) if decisions_path.exists() else {}
    merged, missing = [], 0
    for key, a in first.items():
        b = second.get(key)
        if b is not None and _label(a) == _label(b):
            merged.append({"id": key, "stance": a["stance"], "targets": sorted(a.get("targets", [])),
                           "source": "agreed"})
        elif key in decisions:
            d = decisions[key]
            merged.append({"id": key, "stance": d["stance"], "targets": sorted(d.get("targets", [])),
                           "source": "adjudicated"})
        else:
            missing += 1
    write_jsonl(ANNOTATIONS / f"adjudicated_{writer}.jsonl", merged)
    print(f"{writer}: {len(merged)} labels ({sum(r['source'] == 'adjudicated' for r in merged)} adjudicated), "
          f"{missing} sentences still without a decision")
    return 1 if missing else 0


def build(source: str = "adjudicated", output: Path = OUTPUT) -> int:
    """Labels -> the written-documents label file. ``source`` "writer" uses the writers' own
    passes (for experiments before adjudication; never committed as the corpus)."""
    segmented = all_segments()
    meta = catalogue()
    adjudicated: dict[str, dict] = {}
    pattern = "adjudicated_*.jsonl" if source == "adjudicated" else "pass_writer_*.jsonl"
    for path in sorted(ANNOTATIONS.glob(pattern)):
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
                "case": info.get("case"), "year": info.get("year"), "annotator": source,
            })
    write_jsonl(output, records)
    counts = Counter(r["register"] for r in records)
    print(f"wrote {len(records)} sentences from {len({r['doc_id'] for r in records})} documents to {output}")
    print(dict(sorted(counts.items())))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "show":
        for argument in sys.argv[2:]:
            show(argument)
    elif len(sys.argv) >= 3 and sys.argv[1] == "check":
        sys.exit(check(sys.argv[2:]))
    elif len(sys.argv) == 3 and sys.argv[1] == "disagreements":
        sys.exit(disagreements(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "merge":
        sys.exit(merge(sys.argv[2]))
    elif sys.argv[1:] == ["build"]:
        sys.exit(build())
    elif len(sys.argv) == 4 and sys.argv[1:3] == ["build", "--writer-passes"]:
        sys.exit(build("writer", Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
