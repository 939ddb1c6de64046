"""Build labels/gold.jsonl from the segmented seeds, one annotator's labels and adjudication.

Where the two annotators agree their label stands; every disagreement (and any agreed label
the adjudicator corrected) takes the adjudicated label. Each gold record carries the
segment fields and a hash of its text, so a later change in segmentation is caught by
`pipeline validate` instead of silently misaligning labels.

    .venv/bin/python scripts/build_gold.py labels/annotations labels/gold.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.records import read_records, text_hash, write_jsonl
from pipeline.segmenting import segments_by_id


def main(annotations: Path, output: Path, seeds: Path = Path("seeds")) -> None:
    segments = segments_by_id(seeds)
    first = {r["id"]: r for r in read_records(annotations / "annotator_a.jsonl")}
    adjudication_file = annotations / "adjudication.jsonl"
    adjudicated = {r["id"]: r["gold"] for r in read_records(adjudication_file)} if adjudication_file.exists() else {}
    second_file = annotations / "annotator_b.jsonl"
    second = {r["id"]: r for r in read_records(second_file)} if second_file.exists() else {}
    gold = []
    unresolved = []
    for sentence_id, label in first.items():
        segment = segments[sentence_id]
        if sentence_id in adjudicated:
            chosen = adjudicated[sentence_id]
        else:
            other = second.get(sentence_id, label)
            if (label["stance"], sorted(label["targets"])) != (other["stance"], sorted(other["targets"])):
                unresolved.append(sentence_id)
            chosen = label
        gold.append({
            "id": sentence_id, "doc_id": segment["doc_id"], "text": segment["text"],
            "text_hash": text_hash(segment["text"]), "section": segment["section"],
            "stance": chosen["stance"], "targets": [t for t in chosen["targets"]],
            "origin": "gold", "annotator": "adjudicated" if sentence_id in adjudicated else "agreed",
        })
    if unresolved:
        sys.exit(f"{len(unresolved)} disagreements have no adjudication, e.g. {unresolved[:5]}")
    write_jsonl(output, gold)
    print(f"wrote {len(gold)} gold labels to {output} ({len(adjudicated)} adjudicated)")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
