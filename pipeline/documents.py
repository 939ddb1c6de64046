"""Reading documents (.txt, .md, .html, .jsonl) into (doc_id, text) pairs.

The text returned here is the text that sentence offsets point into. For HTML that is the
page with markup stripped (block elements become line breaks, so the segmenter still sees
the page's structure); for .jsonl it is each record's "text" field.
"""

from __future__ import annotations

import codecs
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from .errors import InputError
from .records import read_jsonl

DOCUMENT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl", ".parquet")
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")


@dataclass(frozen=True)
class Document:
    doc_id: str
    text: str
    source: str


def decode_bytes(data: bytes, source: str) -> str:
    """Decode text, tolerating a BOM and old Windows encodings; refuse binary files."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Windows "Unicode" text files are UTF-16 with a BOM; their NUL bytes are not binary.
        try:
            return _one_newline_convention(data.decode("utf-16"))
        except UnicodeDecodeError:
            raise InputError(source, "starts with a UTF-16 byte-order mark but is not UTF-16 text") from None
    if b"\x00" in data[:4096]:
        raise InputError(source, "looks like a binary file, not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # cp1252 covers "smart quotes" from Word; latin-1 decodes anything else.
        for encoding in _FALLBACK_ENCODINGS:
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    return _one_newline_convention(text)


def _one_newline_convention(text: str) -> str:
    """Offsets are kept in one newline convention."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _TextExtractor(HTMLParser):
    BLOCK = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
             "section", "article", "header", "footer", "blockquote", "pre", "dd", "dt", "hr", "title"}
    SKIP = {"script", "style", "noscript", "template", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_startendtag(self, tag, attrs):
        # <br/> is a line break like <br>, not a paragraph; <p/> and the like still break.
        if tag == "br":
            self.handle_starttag(tag, attrs)
        else:
            super().handle_startendtag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    # convert_charrefs has already decoded entities once; decoding again would turn a
    # literal "&amp;pound;" on the page into "£".
    text = "".join(parser.parts)
    text = re.sub(r"[ \t]*\n[ \t]*", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _documents_from_jsonl(path: str) -> Iterator[Document]:
    yield from documents_from_records(read_jsonl(path), path)


def documents_from_records(rows: Iterable[tuple[int, dict]], path: str) -> Iterator[Document]:
    """Documents from (line or row number, record) pairs: each needs "id" (or "doc_id") and "text"."""
    for line_no, record in rows:
        doc_id, text = record.get("id", record.get("doc_id")), record.get("text")
        if not isinstance(doc_id, str | int) or not isinstance(text, str):
            raise InputError(path, 'a document line needs "id" and "text" fields', line_no)
        yield Document(str(doc_id), text.replace("\r\n", "\n"), f"{path}:{line_no}")


def read_document_file(path: Path) -> Iterator[Document]:
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from _documents_from_jsonl(str(path))
        return
    if suffix == ".parquet":
        from .parquet_records import read_parquet

        yield from documents_from_records(read_parquet(path), str(path))
        return
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read ({exc.strerror})") from None
    text = decode_bytes(data, str(path))
    if suffix in (".html", ".htm"):
        text = html_to_text(text)
    yield Document(path.stem, text, str(path))


def _is_document_in_folder(path: Path) -> bool:
    """A folder's README (seeds/README.md) describes the folder and is not one of its documents;
    hidden files (editor backups, macOS "._" forks) are skipped too. Named explicitly, either is read."""
    return (
        path.suffix.lower() in DOCUMENT_SUFFIXES
        and path.stem.lower() != "readme"
        and not path.name.startswith(".")
        and path.is_file()
    )


def expand_paths(paths: Iterable[str | Path]) -> list[Path | str]:
    """Files named, every document file in a named folder (sorted), and '-' for stdin."""
    expanded: list[Path | str] = []
    for raw in paths:
        if str(raw) == "-":
            expanded.append("-")
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _is_document_in_folder(p))
            if not found:
                raise InputError(path, f"folder holds no documents ({', '.join(DOCUMENT_SUFFIXES)})")
            expanded.extend(found)
        elif not path.exists():
            raise InputError(path, "no such file or folder")
        else:
            expanded.append(path)
    return expanded


def read_documents(paths: Iterable[str | Path]) -> Iterator[Document]:
    for path in expand_paths(paths):
        if path == "-":
            text = decode_bytes(sys.stdin.buffer.read(), "<stdin>")
            yield Document("stdin", text, "<stdin>")
        else:
            yield from read_document_file(path)
