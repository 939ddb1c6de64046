"""Compare our sentence rules with pysbd on the seed documents.

Both segmenters see the same prose blocks (the lines our structure pass keeps as non-
boilerplate), so only sentence splitting differs. Prints every block where they disagree,
so a person can count the errors of each; the counts we found are in seeds/README.md.

    .venv/bin/python benchmarks/compare_segmenters.py seeds/
"""

from __future__ import annotations

import sys

import pysbd

from pipeline.documents import read_documents
from pipeline.segment import split_sentences


def blocks(text: str):
    position = 0
    for line in text.split("\n"):
        if line.strip():
            yield position, position + len(line)
        position += len(line) + 1


def main(folder: str) -> None:
    splitter = pysbd.Segmenter(language="en", clean=False, char_span=True)
    disagreements = 0
    total_ours = total_pysbd = 0
    for document in read_documents([folder]):
        for start, end in blocks(document.text):
            block = document.text[start:end]
            ours = [block[s.start - start : s.end - start] for s in split_sentences(document.text, start, end)]
            theirs = [span.sent.strip() for span in splitter.segment(block) if span.sent.strip()]
            total_ours += len(ours)
            total_pysbd += len(theirs)
            if ours != theirs:
                disagreements += 1
                print(f"--- {document.doc_id} @{start}")
                for sentence in ours:
                    print(f"  ours : {sentence}")
                for sentence in theirs:
                    print(f"  pysbd: {sentence}")
    print(f"\nblocks that differ: {disagreements}; sentences ours={total_ours} pysbd={total_pysbd}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "seeds")
