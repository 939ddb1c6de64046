"""Reading documents (pipeline.documents): formats, folders, encodings and bad input."""

from __future__ import annotations

import io
import json
import sys

import pytest

from pipeline.documents import decode_bytes, expand_paths, html_to_text, read_documents
from pipeline.errors import InputError
from pipeline.segment import segment_document


def read_one(path):
    documents = list(read_documents([path]))
    assert len(documents) == 1
    return documents[0]


# ---------------------------------------------------------------------------------------------
# formats

PAGE = """<!DOCTYPE html>
<html><head><title>Blame game</title>
<style>p { color: red; } .x:after { content: "Hidden."; }</style>
<script>var s = "<p>Not text.</p>"; if (a < b) { alert("no"); }</script>
</head>
<body>
<h1>The council failed</h1>
<p>Ofsted   said so.
   It was <b>very</b> bad.<br/>Really bad.</p>
<p>Line one<br>line two</p>
<ul><li>first item</li><li>second item</li></ul>
<p>Fish &amp; chips cost &pound;5 &mdash; &ldquo;caf&eacute;&rdquo;&nbsp;prices. Code: &amp;pound;</p>
<!-- a comment that is not text -->
<noscript>Please enable JavaScript.</noscript>
<svg><text>Chart label</text></svg>
</body></html>
"""


def test_html_markup_is_stripped(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    document = read_one(path)
    assert document.doc_id == "page"
    text = document.text
    hidden = ("<", ">", "color", "Hidden.", "Not text", "alert", "a comment", "JavaScript", "Chart label")
    for piece in hidden:
        assert piece not in text, piece
    assert text == (
        "Blame game\n\nThe council failed\n\nOfsted said so. It was very bad.\nReally bad.\n\n"
        "Line one\nline two\n\nfirst item\n\nsecond item\n\n"
        "Fish & chips cost £5 \u2014 \u201ccafé\u201d\u00a0prices. Code: &pound;\n"
    )


def test_html_entities_are_decoded_once():
    # A page that shows the text "&pound;" (written &amp;pound;) keeps it; &pound; itself is £.
    assert html_to_text("<p>&amp;pound; &pound; &amp;amp; &lt;b&gt;</p>") == "&pound; £ &amp; <b>\n"


def test_br_and_self_closing_br_are_the_same_line_break():
    assert html_to_text("<p>one<br>two</p>") == html_to_text("<p>one<br/>two</p>") == "one\ntwo\n"
    assert html_to_text("<p>one<br />two</p>") == "one\ntwo\n"


def test_html_text_segments_by_its_block_structure(tmp_path):
    path = tmp_path / "page.htm"
    path.write_text(PAGE, encoding="utf-8")
    document = read_one(path)
    sentences = [r["text"] for r in segment_document(document.doc_id, document.text) if not r["boilerplate"]]
    assert sentences[:4] == ["Blame game", "The council failed", "Ofsted said so.", "It was very bad."]
    assert "first item" in sentences and "second item" in sentences


def test_markdown_and_text_are_read_as_they_are(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n\nSome *text*.\n", encoding="utf-8")
    assert read_one(tmp_path / "a.md").text == "# Title\n\nSome *text*.\n"
    (tmp_path / "b.TXT").write_text("Upper-case suffix.", encoding="utf-8")
    assert read_one(tmp_path / "b.TXT").doc_id == "b"


def test_jsonl_documents(tmp_path):
    path = tmp_path / "docs.jsonl"
    lines = [
        {"id": "first", "text": "One. Two.", "source": "somewhere"},
        {"id": 42, "text": "Windows\r\nline ends."},
        {"doc_id": "third", "text": "Uses doc_id."},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    documents = list(read_documents([path]))
    assert [(d.doc_id, d.text) for d in documents] == [
        ("first", "One. Two."), ("42", "Windows\nline ends."), ("third", "Uses doc_id."),
    ]
    assert documents[1].source == f"{path}:2"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "a"}', 'needs "id" and "text"'),
        ('{"text": "no id"}', 'needs "id" and "text"'),
        ('{"id": "a", "text": 5}', 'needs "id" and "text"'),
        ('["a", "b"]', "expected a JSON object"),
        ('{"id": "a", "text": ', "not valid JSON"),
    ],
)
def test_bad_jsonl_documents_name_file_and_line(tmp_path, line, message):
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "ok", "text": "Fine."}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        list(read_documents([path]))
    assert str(caught.value).startswith(f"{path}:2: ")
    assert message in str(caught.value)


def test_a_folder_means_every_document_in_it_sorted(tmp_path):
    for name in ("b.txt", "a.md", "c.html", "d.jsonl", "notes.pdf", "data.csv", ".hidden.swp", "README.md"):
        (tmp_path / name).write_text('{"id": "d1", "text": "J."}' if name.endswith(".jsonl") else "Text.")
    (tmp_path / "._b.txt").write_bytes(b"\x00\x05\x16\x07 macOS resource fork")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "inner.txt").write_text("Not read: folders are not walked.")
    # The folder's README describes it (seeds/README.md) and hidden files are not documents.
    assert [p.name for p in expand_paths([tmp_path])] == ["a.md", "b.txt", "c.html", "d.jsonl"]
    assert [d.doc_id for d in read_documents([tmp_path])] == ["a", "b", "c", "d1"]
    # Named explicitly, a README is read like any other document.
    assert [d.doc_id for d in read_documents([tmp_path / "README.md"])] == ["README"]


def test_files_and_folders_mix_in_the_order_given(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "one.txt").write_text("One.")
    (tmp_path / "two.txt").write_text("Two.")
    assert [d.doc_id for d in read_documents([tmp_path / "two.txt", tmp_path / "x"])] == ["two", "one"]


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\ufeffFrom stdin.\r\n".encode())))
    assert [(d.doc_id, d.text) for d in read_documents(["-"])] == [("stdin", "From stdin.\n")]


# ---------------------------------------------------------------------------------------------
# encodings


def test_cp1252_smart_quotes(tmp_path):
    path = tmp_path / "word.txt"
    path.write_bytes("\u201cThe council\u2019s failure\u201d \u2013 \u00a35m\u2026".encode("cp1252"))
    assert read_one(path).text == "\u201cThe council\u2019s failure\u201d \u2013 \u00a35m\u2026"


def test_latin1(tmp_path):
    path = tmp_path / "old.txt"
    path.write_bytes("Caf\u00e9 na\u00efve \u00a35 \u00bd".encode("latin-1"))
    assert read_one(path).text == "Caf\u00e9 na\u00efve \u00a35 \u00bd"
    # Bytes that cp1252 leaves undefined still decode (as latin-1) rather than fail.
    assert decode_bytes(b"odd \x81\x8d\x90 bytes", "x") == "odd \x81\x8d\x90 bytes"


def test_utf8_bom_is_dropped_so_offsets_start_at_the_text(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbfFirst sentence. Second.")
    document = read_one(path)
    assert document.text == "First sentence. Second."
    assert segment_document(document.doc_id, document.text)[0]["start"] == 0


def test_utf16_with_bom_is_text_not_binary(tmp_path):
    path = tmp_path / "notepad.txt"
    path.write_bytes("Saved as Unicode.\r\nSecond line.".encode("utf-16"))
    assert read_one(path).text == "Saved as Unicode.\nSecond line."


def test_newlines_are_normalised(tmp_path):
    path = tmp_path / "mixed.txt"
    path.write_bytes(b"one\r\ntwo\rthree\n")
    assert read_one(path).text == "one\ntwo\nthree\n"


def test_plain_utf8_is_preferred_over_fallbacks():
    assert decode_bytes("\u00e9\u2019\u4e2d".encode(), "x") == "\u00e9\u2019\u4e2d"


# ---------------------------------------------------------------------------------------------
# bad input


def test_binary_file_gives_input_error(tmp_path):
    path = tmp_path / "picture.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    with pytest.raises(InputError, match="binary"):
        list(read_documents([path]))


def test_empty_folder_gives_input_error(tmp_path):
    with pytest.raises(InputError, match="folder holds no documents"):
        list(read_documents([tmp_path]))
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    with pytest.raises(InputError, match="folder holds no documents"):
        list(read_documents([tmp_path]))


def test_missing_path_gives_input_error(tmp_path):
    with pytest.raises(InputError, match="no such file or folder") as caught:
        list(read_documents([tmp_path / "missing.txt"]))
    assert caught.value.path == str(tmp_path / "missing.txt")


def test_non_utf8_jsonl_gives_input_error(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b'{"id": "a", "text": "caf\xe9"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        list(read_documents([path]))
