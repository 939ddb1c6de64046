"""Reliability (issue 8): every command against bad input, SIGKILL and resume, safety of model
folders, determinism, and property-based / fuzz tests of the JSONL layer, `segment` and `predict`.

The bad-input suite is one table (CASES): a command, a kind of input, and what must happen.
An error must be exit status 1 with ONE line on stderr ("error: FILE[:LINE]: ...") naming the
file, no traceback, no output file and no temporary file left behind. A success must give
correct output. `validate` is the exception by design: it prints every problem, one
``FILE:LINE: message`` line each, on stdout.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import pickle
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import labelled_records
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.documents import decode_bytes, read_documents
from pipeline.errors import InputError, ModelError
from pipeline.modelio import load_model, model_hash
from pipeline.records import STANCES, TARGETS, read_jsonl, text_hash, write_jsonl
from pipeline.segment import MAX_SENTENCE_CHARS, segment_document
from pipeline.train import train_model

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture(autouse=True)
def _use_tiny_lexicon(monkeypatch, tiny_lexicon):
    monkeypatch.setattr("pipeline.lexicon.DEFAULT_LEXICON_PATH", tiny_lexicon)
    monkeypatch.setattr("pipeline.train.DEFAULT_LEXICON_PATH", tiny_lexicon)


# ---------------------------------------------------------------------------------------------
# inputs


def jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


SEED_DOCS = {
    "doc": "The council leader failed the children. Social workers did hard work.\n",
    "other": "Ministers cut the budget. The meeting is on Thursday.\n",
}
GOLD_LABELS = {
    "doc:0000": ("blame", ["councillors"]),
    "doc:0001": ("defend", ["social_workers"]),
    "other:0000": ("blame", ["government"]),
    "other:0001": ("neutral", []),
}


def _labels() -> list[dict]:
    records = []
    for doc_id, text in SEED_DOCS.items():
        for record in segment_document(doc_id, text):
            stance, targets = GOLD_LABELS[record["id"]]
            records.append({**record, "stance": stance, "targets": targets, "origin": "gold",
                            "text_hash": text_hash(record["text"])})
    return records


LABELS = _labels()
assert [r["id"] for r in LABELS] == list(GOLD_LABELS)
GOOD_JSONL = jsonl(*LABELS)
GOOD_DOC = "A council report\n\nThe council leader failed the children. Social workers did hard work.\n"
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
LATIN1_DOC = "Café naïve: the council failed. Señor Ofsted missed it.\n".encode("latin-1")
CP1252_DOC = "\u201cThe council failed,\u201d she said. It\u2019s the managers\u2019 fault \u2013 again.\n".encode(
    "cp1252"
)
ONE_MB_LINE = " ".join(["the council failed the children again"] * 28000)  # one line, no full stop
LONG_SENTENCE = " ".join(["word"] * 20000) + "."  # 100,000 characters
MISSING = {"doc_id": "doc", "start": 0, "end": 5}  # no id, no text, no stance
MISTYPED = {"id": 7, "doc_id": "doc", "start": 0, "end": 5, "text": 5, "stance": "blame", "targets": "councillors"}
UNKNOWN = {**LABELS[1], "stance": "angry", "targets": ["police"], "label": ["angry"]}
CHANGED = "Social workers did bad work."
MISALIGNED = {**LABELS[1], "text": CHANGED, "text_hash": text_hash(CHANGED)}

# kind -> {name: bytes} files written into the test folder; the input is the first name
KINDS: dict[str, dict[str, bytes]] = {
    "good-doc": {"in.txt": GOOD_DOC.encode()},
    "empty-doc": {"in.txt": b""},
    "blank-doc": {"in.txt": b"\n   \n\t\n"},
    "folder-one-empty-doc": {"docs/": b"", "docs/a.txt": GOOD_DOC.encode(), "docs/b.txt": b""},
    "folder-no-docs": {"docs/": b"", "docs/notes.pdf": b"%PDF-1.4", "docs/README.md": b"# about"},
    "binary-doc": {"in.txt": BINARY},
    "latin1-doc": {"in.txt": LATIN1_DOC},
    "cp1252-doc": {"in.txt": CP1252_DOC},
    "bom-doc": {"in.txt": codecs.BOM_UTF8 + GOOD_DOC.encode()},
    "crlf-doc": {"in.txt": GOOD_DOC.replace("\n", "\r\n").encode()},
    "1mb-line-doc": {"in.txt": ONE_MB_LINE.encode()},
    "long-sentence-doc": {"in.txt": LONG_SENTENCE.encode()},
    "good": {"in.jsonl": GOOD_JSONL},
    "empty": {"in.jsonl": b""},
    "blank-lines": {"in.jsonl": b"\n\n \n"},
    "folder-no-jsonl": {"labels/": b"", "labels/README.md": b"# labels"},
    "binary": {"in.jsonl": BINARY},
    "latin1": {"in.jsonl": GOOD_JSONL + '{"id": "x", "text": "Café"}\n'.encode("latin-1")},
    "cp1252": {"in.jsonl": GOOD_JSONL + '{"id": "x", "text": "\u201cquoted\u201d"}\n'.encode("cp1252")},
    "bom": {"in.jsonl": codecs.BOM_UTF8 + GOOD_JSONL},
    "crlf": {"in.jsonl": GOOD_JSONL.replace(b"\n", b"\r\n")},
    "1mb-line": {"in.jsonl": GOOD_JSONL + jsonl({**LABELS[0], "id": "big", "text": ONE_MB_LINE, "origin": "written"})},
    "malformed": {"in.jsonl": jsonl(LABELS[0]) + b'{"id": "doc:0001", "text": \n' + jsonl(*LABELS[2:])},
    "missing-field": {"in.jsonl": jsonl(LABELS[0], MISSING, *LABELS[2:])},
    "mistyped-field": {"in.jsonl": jsonl(LABELS[0], MISTYPED, *LABELS[2:])},
    "unknown-label": {"in.jsonl": jsonl(LABELS[0], UNKNOWN, *LABELS[2:])},
    "duplicate-id": {"in.jsonl": jsonl(LABELS[0], LABELS[0], *LABELS[2:])},
    "misaligned": {"in.jsonl": jsonl(LABELS[0], MISALIGNED, *LABELS[2:])},
    "surrogate": {"in.jsonl": jsonl(LABELS[0]) + b'{"id": "doc:0001", "text": "bad \\ud800 half"}\n'},
}

# command -> (argv template, output path or None). {in} is the kind's input, {out} the output.
COMMANDS: dict[str, tuple[str, str | None]] = {
    "segment": ("segment {in} -o {out}", "{tmp}/out.jsonl"),
    "validate": ("validate {in} --seeds {seeds}", None),
    "train": ("train --backend tfidf --labels {in} -o {out} --no-cv --no-augment --lexicon {lexicon}", "{tmp}/model"),
    "predict": ("predict {in} --model {model} -o {out}", "{tmp}/out.jsonl"),
    "evaluate": ("evaluate --labels {in} --backends majority --learning-curve none --bootstrap 20 -o {out}",
                 "{tmp}/report"),
    "evaluate-model": ("evaluate --model {model} --test {in} --bootstrap 20 -o {out}", "{tmp}/report"),
    "agree": ("agree {in} {labels_file} -o {out}", "{tmp}/agreement"),
    "summarize": ("summarize {in} --resamples 20 -o {out}", "{tmp}/summary"),
    "sample": ("sample {in} -n 1 -o {out}", "{tmp}/sample.jsonl"),
    "review": ("review {in} --script q", None),
    "review-html": ("review {in} --html {out}", "{tmp}/page.html"),
    "export": ("export {in} -o {out}", "{tmp}/tasks.csv"),
    "import": ("import {in} --format doccano -o {out}", "{tmp}/imported.jsonl"),
}

OK = "ok"


def E(*fragments: str) -> tuple[str, ...]:
    """An expected error: one stderr line holding every fragment."""
    return ("error", *fragments)


# (command, kind, expected). The README's Reliability table is this table in prose.
CASES: list[tuple[str, str, object]] = [
    # segment: documents decode with a fallback; JSONL must be UTF-8
    ("segment", "good-doc", OK),
    ("segment", "empty-doc", E("in.txt", "no sentences")),
    ("segment", "blank-doc", E("in.txt", "no sentences")),
    ("segment", "folder-one-empty-doc", OK),  # skipped, and counted in the summary line
    ("segment", "folder-no-docs", E("docs", "folder holds no documents")),
    ("segment", "binary-doc", E("in.txt", "binary")),
    ("segment", "latin1-doc", OK),
    ("segment", "cp1252-doc", OK),
    ("segment", "bom-doc", OK),
    ("segment", "crlf-doc", OK),
    ("segment", "1mb-line-doc", OK),
    ("segment", "long-sentence-doc", OK),
    ("segment", "empty", E("in.jsonl", "no sentences")),
    ("segment", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("segment", "cp1252", E("in.jsonl:5", "not UTF-8")),
    ("segment", "bom", OK),
    ("segment", "crlf", OK),
    ("segment", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("segment", "missing-field", E("in.jsonl:2", '"id" and "text"')),
    ("segment", "mistyped-field", E("in.jsonl:2", '"id" and "text"')),
    ("segment", "duplicate-id", E("in.jsonl:2", "duplicate document id")),
    ("segment", "surrogate", E("in.jsonl:2", "surrogate")),
    # validate: every problem, one FILE:LINE line each, exit 1
    ("validate", "good", OK),
    ("validate", "empty", E("in.jsonl", "empty file")),
    ("validate", "blank-lines", E("in.jsonl", "empty file")),
    ("validate", "folder-no-jsonl", E("labels", "no .jsonl files")),
    ("validate", "binary", E("in.jsonl:1", "not UTF-8")),
    ("validate", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("validate", "cp1252", E("in.jsonl:5", "not UTF-8")),
    ("validate", "bom", OK),
    ("validate", "crlf", OK),
    ("validate", "1mb-line", OK),
    ("validate", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("validate", "missing-field", E("in.jsonl:2", "'id'")),
    ("validate", "mistyped-field", E("in.jsonl:2", "'id'", "targets must be a list", "'text'")),
    ("validate", "unknown-label", E("in.jsonl:2", "unknown stance 'angry'", "unknown target 'police'")),
    ("validate", "duplicate-id", E("in.jsonl:2", "duplicate id 'doc:0000'", "in.jsonl:1")),
    ("validate", "misaligned", E("in.jsonl:2", "text hash no longer matches")),
    ("validate", "surrogate", E("in.jsonl:2", "surrogate")),
    # train
    ("train", "good", OK),
    ("train", "empty", E("in.jsonl", "no labelled sentences")),
    ("train", "folder-no-jsonl", E("labels", "no .jsonl label files")),
    ("train", "binary", E("in.jsonl:1", "not UTF-8")),
    ("train", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("train", "bom", OK),
    ("train", "crlf", OK),
    ("train", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("train", "missing-field", E("in.jsonl:2", "unknown stance None")),
    ("train", "mistyped-field", E("in.jsonl:2", "targets must be a list", "'id'")),
    ("train", "unknown-label", E("in.jsonl:2", "unknown stance 'angry'")),
    ("train", "duplicate-id", E("in.jsonl:2", "duplicate id 'doc:0000'")),
    # predict: documents or sentence JSONL, streamed into OUT.partial then renamed
    ("predict", "good-doc", OK),
    ("predict", "empty-doc", E("in.txt", "no sentences")),
    ("predict", "folder-one-empty-doc", OK),
    ("predict", "folder-no-docs", E("docs", "folder holds no documents")),
    ("predict", "binary-doc", E("in.txt", "binary")),
    ("predict", "latin1-doc", OK),
    ("predict", "cp1252-doc", OK),
    ("predict", "bom-doc", OK),
    ("predict", "crlf-doc", OK),
    ("predict", "1mb-line-doc", OK),
    ("predict", "long-sentence-doc", OK),
    ("predict", "good", OK),
    ("predict", "empty", E("in.jsonl", "no sentences")),
    ("predict", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("predict", "bom", OK),
    ("predict", "crlf", OK),
    ("predict", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("predict", "missing-field", E("in.jsonl:2", "'id'", "'text'")),
    ("predict", "mistyped-field", E("in.jsonl:2", "'id'", "'text'")),
    ("predict", "unknown-label", OK),  # labels in the input are kept as given; the model's go beside them
    ("predict", "duplicate-id", OK),  # passed through: predict does not join on ids
    ("predict", "surrogate", E("in.jsonl:2", "surrogate")),
    # evaluate (cross-validation on a label file)
    ("evaluate", "good", OK),
    ("evaluate", "empty", E("in.jsonl", "no labelled sentences")),
    ("evaluate", "folder-no-jsonl", E("labels", "no .jsonl label files")),
    ("evaluate", "binary", E("in.jsonl:1", "not UTF-8")),
    ("evaluate", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("evaluate", "bom", OK),
    ("evaluate", "crlf", OK),
    ("evaluate", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("evaluate", "missing-field", E("in.jsonl:2")),
    ("evaluate", "mistyped-field", E("in.jsonl:2", "targets must be a list")),
    ("evaluate", "unknown-label", E("in.jsonl:2", "unknown stance 'angry'")),
    ("evaluate", "duplicate-id", E("in.jsonl:2", "duplicate id")),
    # evaluate --model --test
    ("evaluate-model", "good", OK),
    ("evaluate-model", "empty", E("in.jsonl", "no labelled sentences")),
    ("evaluate-model", "binary", E("in.jsonl:1", "not UTF-8")),
    ("evaluate-model", "bom", OK),
    ("evaluate-model", "crlf", OK),
    ("evaluate-model", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("evaluate-model", "missing-field", E("in.jsonl:2", "no 'stance'")),
    ("evaluate-model", "mistyped-field", E("in.jsonl:2", "'id'")),
    ("evaluate-model", "unknown-label", E("in.jsonl:2", "unknown stance 'angry'")),
    ("evaluate-model", "duplicate-id", E("in.jsonl:2", "duplicate id")),
    # agree
    ("agree", "good", OK),
    ("agree", "empty", E("in.jsonl", "no labelled sentences")),
    ("agree", "folder-no-jsonl", E("labels", "is a folder")),
    ("agree", "binary", E("in.jsonl:1", "not UTF-8")),
    ("agree", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("agree", "bom", OK),
    ("agree", "crlf", OK),
    ("agree", "1mb-line", OK),
    ("agree", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("agree", "missing-field", E("in.jsonl:2", "'id'")),
    ("agree", "mistyped-field", E("in.jsonl:2", "'id'")),
    ("agree", "unknown-label", E("in.jsonl:2", "unknown stance 'angry'")),
    ("agree", "duplicate-id", E("in.jsonl:2", "duplicate id", "line 1")),
    ("agree", "surrogate", E("in.jsonl:2", "surrogate")),
    # summarize
    ("summarize", "good", OK),
    ("summarize", "empty", E("in.jsonl", "empty")),
    ("summarize", "folder-no-jsonl", E("labels", "is a folder")),
    ("summarize", "binary", E("in.jsonl:1", "not UTF-8")),
    ("summarize", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("summarize", "bom", OK),
    ("summarize", "crlf", OK),
    ("summarize", "1mb-line", OK),
    ("summarize", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("summarize", "missing-field", E("in.jsonl:2", "no 'stance'")),
    ("summarize", "mistyped-field", E("in.jsonl:2", "must be a list")),
    ("summarize", "unknown-label", E("in.jsonl:2", "unknown stance 'angry'")),
    ("summarize", "duplicate-id", E("in.jsonl:2", "duplicate id", "line 1")),
    # sample
    ("sample", "good", OK),
    ("sample", "empty", E("in.jsonl", "empty")),
    ("sample", "folder-no-jsonl", E("labels", "is a folder")),
    ("sample", "binary", E("in.jsonl:1", "not UTF-8")),
    ("sample", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("sample", "bom", OK),
    ("sample", "crlf", OK),
    ("sample", "1mb-line", OK),
    ("sample", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("sample", "missing-field", E("in.jsonl:2", "no 'stance'")),
    ("sample", "mistyped-field", E("in.jsonl:2", "must be a list")),
    ("sample", "unknown-label", E("in.jsonl:2", "unknown stance 'angry'")),
    ("sample", "duplicate-id", E("in.jsonl:2", "duplicate id", "line 1")),
    # review (the terminal session never starts on bad input; no journal is left)
    ("review", "empty", E("in.jsonl", "no records")),
    ("review", "folder-no-jsonl", E("labels", "is not a file")),
    ("review", "binary", E("in.jsonl:1", "not UTF-8")),
    ("review", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("review", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("review", "missing-field", E("in.jsonl:2", "'id'")),
    ("review", "mistyped-field", E("in.jsonl:2", "'id'")),
    ("review", "duplicate-id", E("in.jsonl:2", "duplicate id", "line 1")),
    ("review", "surrogate", E("in.jsonl:2", "surrogate")),
    ("review-html", "good", OK),
    ("review-html", "empty", E("in.jsonl", "no records")),
    ("review-html", "binary", E("in.jsonl:1", "not UTF-8")),
    ("review-html", "bom", OK),
    ("review-html", "crlf", OK),
    ("review-html", "1mb-line", OK),
    ("review-html", "unknown-label", OK),  # review is where labels get fixed: shown, not refused
    ("review-html", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("review-html", "missing-field", E("in.jsonl:2", "'id'")),
    ("review-html", "duplicate-id", E("in.jsonl:2", "duplicate id")),
    # export / import
    ("export", "good", OK),
    ("export", "empty", E("in.jsonl", "no records")),
    ("export", "binary", E("in.jsonl:1", "not UTF-8")),
    ("export", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("export", "bom", OK),
    ("export", "crlf", OK),
    ("export", "1mb-line", OK),
    ("export", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("export", "missing-field", E("in.jsonl:2", "'text'")),
    ("export", "mistyped-field", E("in.jsonl:2", "targets must be a list")),
    ("export", "unknown-label", E("in.jsonl:2", "unknown stance 'angry'")),
    ("export", "duplicate-id", E("in.jsonl:2", "duplicate id")),
    ("export", "surrogate", E("in.jsonl:2", "surrogate")),
    ("import", "good", OK),
    ("import", "empty", E("in.jsonl", "no records")),
    ("import", "binary", E("in.jsonl:1", "not UTF-8")),
    ("import", "latin1", E("in.jsonl:5", "not UTF-8")),
    ("import", "bom", OK),
    ("import", "crlf", OK),
    ("import", "malformed", E("in.jsonl:2", "not valid JSON")),
    ("import", "missing-field", E("in.jsonl:2", "'id'")),
    ("import", "mistyped-field", E("in.jsonl:2", "'text'")),
    ("import", "unknown-label", E("in.jsonl:2", "unknown label 'angry'")),
    ("import", "duplicate-id", E("in.jsonl", "duplicate id")),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory, tiny_lexicon) -> SimpleNamespace:
    """A trained tfidf model (with cross-validated confusion), broken copies of it, seeds, labels."""
    base = tmp_path_factory.mktemp("world")
    labels = base / "labels"
    labels.mkdir()
    (labels / "gold.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labelled_records()), encoding="utf-8")
    model = base / "model"
    train_model("tfidf", labels, model, settings={"augment": False, "lexicon": str(tiny_lexicon)})
    seeds = base / "seeds"
    seeds.mkdir()
    for doc_id, text in SEED_DOCS.items():
        (seeds / f"{doc_id}.txt").write_text(text, encoding="utf-8")
    labels_file = base / "b.jsonl"
    labels_file.write_bytes(GOOD_JSONL)
    models = {}

    def variant(name: str, edit) -> None:
        folder = base / name
        shutil.copytree(model, folder)
        edit(folder)
        models[name] = folder

    def edit_config(folder: Path, change) -> None:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        change(config)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")

    def rehash(folder: Path) -> None:
        """Garbage weights whose hashes are consistent: only loading them can tell."""
        (folder / "weights.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")

        def change(config):
            config["files"]["weights.safetensors"] = hashlib.sha256(
                (folder / "weights.safetensors").read_bytes()
            ).hexdigest()
            config["model_hash"] = model_hash(config["files"], config["thresholds"], config.get("calibration"))

        edit_config(folder, change)

    models["missing"] = base / "no-such-model"
    (base / "not-a-model").mkdir()
    models["not-a-model"] = base / "not-a-model"
    variant("corrupt-weights", lambda f: (f / "weights.safetensors").write_bytes(b"garbage"))
    variant("corrupt-weights-rehashed", rehash)
    variant("truncated-config", lambda f: (f / "config.json").write_bytes((f / "config.json").read_bytes()[:200]))
    variant("edited-config", lambda f: edit_config(f, lambda c: c["thresholds"].update(councillors=0.01)))
    variant("mistyped-config", lambda f: edit_config(f, lambda c: c.update(thresholds=None)))
    variant("other-labels", lambda f: edit_config(f, lambda c: c["labels"].update(targets=["police", "press"])))
    variant("unexpected-file", lambda f: (f / "extra.pkl").write_bytes(b"\x80\x04N."))
    return SimpleNamespace(base=base, labels=labels, model=model, seeds=seeds, labels_file=labels_file,
                           lexicon=tiny_lexicon, models=models)


def make_files(tmp: Path, files: dict[str, bytes]) -> Path:
    first = None
    for name, data in files.items():
        path = tmp / name
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        first = first or path
    return first


def argv(template: str, **values) -> list[str]:
    return shlex.split(template.format(**{k: shlex.quote(str(v)) for k, v in values.items()}))


def leftovers(tmp: Path) -> list[Path]:
    """Temporary or partial files a failed command must not leave behind."""
    return [p for p in tmp.rglob("*") if p.name.startswith(".") or p.suffix in (".partial", ".journal", ".tmp")]


def assert_one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr  # progress lines may come before it
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


@pytest.mark.parametrize(("command", "kind", "expected"), CASES, ids=[f"{c}-{k}" for c, k, _ in CASES])
def test_bad_input(world, tmp_path, command, kind, expected):
    template, out_template = COMMANDS[command]
    source = make_files(tmp_path, KINDS[kind])
    inputs = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    out = Path(out_template.format(tmp=tmp_path)) if out_template else None
    result = runner.invoke(app, argv(template, tmp=tmp_path, out=out, seeds=world.seeds, model=world.model,
                                     lexicon=world.lexicon, labels_file=world.labels_file, **{"in": source}))
    if expected == OK:
        assert result.exit_code == 0, result.output
        assert "Traceback" not in result.output
        check_success(world, command, kind, source, out, result)
    else:
        _, *fragments = expected
        if command == "validate" and result.stdout.strip():
            assert result.exit_code == 1, result.output
            assert "Traceback" not in result.output
            lines = result.stdout.strip().splitlines()
            assert lines and all(line.startswith(str(source)) for line in lines), lines
            for fragment in fragments:
                assert any(fragment in line for line in lines), (fragment, lines)
        else:
            assert_one_line_error(result, *fragments)
        if out is not None:
            assert not out.exists(), f"{out} exists after a failure"
        assert not leftovers(tmp_path), leftovers(tmp_path)
    for path, data in inputs.items():
        assert path.read_bytes() == data, f"input {path} was changed"


def check_success(world, command: str, kind: str, source: Path, out: Path | None, result) -> None:
    if command == "segment":
        records = [r for _, r in read_jsonl(out)]
        documents = {d.doc_id: d.text for d in read_documents([source])}
        assert records
        for record in records:
            assert documents[record["doc_id"]][record["start"] : record["end"]] == record["text"]
            assert 0 < len(record["text"]) <= MAX_SENTENCE_CHARS
            assert "\r" not in record["text"] and "\ufeff" not in record["text"]
        texts = [r["text"] for r in records]
        if kind == "latin1-doc":
            assert texts[0].startswith("Café naïve")
        if kind == "cp1252-doc":
            assert texts[0] == "\u201cThe council failed,\u201d she said."
        if kind in ("bom-doc", "crlf-doc", "good-doc"):
            assert texts == ["A council report", "The council leader failed the children.",
                             "Social workers did hard work."]
            assert records[0]["start"] == 0
        if kind == "1mb-line-doc":
            assert " ".join(texts) == ONE_MB_LINE
        if kind == "long-sentence-doc":
            assert " ".join(texts) == LONG_SENTENCE and len(texts) == -(-len(LONG_SENTENCE) // MAX_SENTENCE_CHARS)
        if kind == "folder-one-empty-doc":
            assert "skipped 1 empty document(s)" in result.stderr and "b.txt" in result.stderr
        if kind in ("bom", "crlf"):
            assert [r["doc_id"] for r in records] == [r["id"] for r in LABELS]
    elif command == "predict":
        records = [r for _, r in read_jsonl(out)]
        assert records
        for record in records:
            stance = record.get("predicted_stance", record.get("stance"))
            assert stance in STANCES and set(record["scores"]["targets"]) == set(TARGETS)
            assert record["model"]["backend"] == "tfidf"
        if kind in ("good", "bom", "crlf"):
            assert [r["id"] for r in records] == [r["id"] for r in LABELS]
            assert [r["stance"] for r in records] == [r["stance"] for r in LABELS]  # labels kept
        if kind == "unknown-label":
            assert records[1]["stance"] == "angry" and "predicted_stance" in records[1]
        if kind == "1mb-line-doc":
            assert [r["text"] for r in records] == [r["text"] for r in segment_document("in", ONE_MB_LINE)]
    elif command == "validate":
        assert "0 problem(s)" in result.stderr
    elif command == "train":
        assert load_model(out).name == "tfidf"
    elif command in ("evaluate", "evaluate-model"):
        assert (out / "metrics.json").is_file() and (out / "report.md").is_file()
    elif command == "agree":
        agreement = json.loads((out / "agreement.json").read_text(encoding="utf-8"))
        assert agreement["n_shared"] == len(LABELS)
    elif command == "summarize":
        assert (out / "summary.md").is_file() and (out / "summary.json").is_file()
    elif command == "sample":
        records = [r for _, r in read_jsonl(out)]
        assert records and all(r["sample"]["unit"] == "doc" and "stance" not in r for r in records)
    elif command == "review-html":
        assert "<html" in out.read_text(encoding="utf-8")
    elif command == "export":
        assert out.read_text(encoding="utf-8").startswith("id,")
    elif command == "import":
        assert [r["id"] for _, r in read_jsonl(out)] == [r["id"] for r in LABELS]


# ---------------------------------------------------------------------------------------------
# output paths: a folder that does not exist, the input itself, a folder holding the input

FILE_OUTPUTS = ["segment", "predict", "review-html", "export", "import", "sample"]


@pytest.mark.parametrize("command", [*FILE_OUTPUTS, "train", "summarize"])
def test_output_in_a_missing_folder(world, tmp_path, command):
    template, _ = COMMANDS[command]
    kind = "good-doc" if command in ("segment", "predict") else "good"
    source = make_files(tmp_path, KINDS[kind])
    out = tmp_path / "nowhere" / ("out.jsonl" if command != "export" else "out.csv")
    result = runner.invoke(app, argv(template, out=out, seeds=world.seeds, model=world.model,
                                     lexicon=world.lexicon, labels_file=world.labels_file, **{"in": source}))
    assert_one_line_error(result, "nowhere", "does not exist")
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("command", ["evaluate", "evaluate-model", "agree"])
def test_report_folders_are_created_with_their_parents(world, tmp_path, command):
    """Documented: report folders (evaluate, agree) are created, parents included."""
    template, _ = COMMANDS[command]
    source = make_files(tmp_path, KINDS["good"])
    out = tmp_path / "new" / "report"
    result = runner.invoke(app, argv(template, out=out, model=world.model, labels_file=world.labels_file,
                                     **{"in": source}))
    assert result.exit_code == 0, result.output
    assert any(out.iterdir())


@pytest.mark.parametrize(
    ("command", "fragment"),
    [("segment", "same as an input"), ("predict", "same as an input"), ("review-html", "same as an input"),
     ("export", "same as an input"), ("import", "same as an input"), ("sample", "same as an input"),
     ("train", "not a model folder"),
     ("evaluate", "not a folder"), ("evaluate-model", "not a folder"), ("agree", "not a folder"),
     ("summarize", "not a folder")],
)
def test_output_equal_to_the_input_is_refused(world, tmp_path, command, fragment):
    template, _ = COMMANDS[command]
    kind = "good-doc" if command in ("segment", "predict") else "good"
    source = make_files(tmp_path, KINDS[kind])
    before = source.read_bytes()
    out = source.with_suffix(".csv") if command == "export" else source
    if command == "export":
        shutil.copy(source, out)
        source = out  # export FILE.csv -o FILE.csv
    result = runner.invoke(app, argv(template, out=out, seeds=world.seeds, model=world.model,
                                     lexicon=world.lexicon, labels_file=world.labels_file, **{"in": source}))
    assert_one_line_error(result, fragment)
    assert source.read_bytes() == before
    assert not leftovers(tmp_path)


@pytest.mark.parametrize("command", ["segment", "predict"])
def test_output_inside_an_input_folder_is_not_read_back(world, tmp_path, command):
    """`segment docs/ -o docs/out.jsonl` twice: the second run must not read (and replace) its own output."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(GOOD_DOC, encoding="utf-8")
    out = docs / "out.jsonl"
    args = [command, str(docs), "-o", str(out)] + (["--model", str(world.model)] if command == "predict" else [])
    assert runner.invoke(app, args).exit_code == 0
    first = out.read_bytes()
    assert_one_line_error(runner.invoke(app, args), "out.jsonl", "same as an input")
    assert out.read_bytes() == first


# ---------------------------------------------------------------------------------------------
# model folders: missing, corrupt, edited, another label set


MODEL_CASES = [
    ("missing", "not found"),
    ("not-a-model", "no config.json"),
    ("corrupt-weights", "hash mismatch"),
    ("corrupt-weights-rehashed", "cannot load model"),
    ("truncated-config", "corrupt config"),
    ("edited-config", "model_hash does not match"),
    ("mistyped-config", "corrupt config"),
    ("other-labels", "another label set"),
    ("unexpected-file", "unexpected file"),
]


@pytest.mark.parametrize(("variant", "fragment"), MODEL_CASES)
@pytest.mark.parametrize("command", ["predict", "evaluate-model"])
def test_bad_model_folder(world, tmp_path, command, variant, fragment):
    template, out_template = COMMANDS[command]
    source = make_files(tmp_path, KINDS["good"])
    out = Path(out_template.format(tmp=tmp_path))
    folder = world.models[variant]
    result = runner.invoke(app, argv(template, out=out, model=folder, **{"in": source}))
    assert_one_line_error(result, folder.name, fragment)
    assert not out.exists() and not leftovers(tmp_path)


@pytest.mark.parametrize(
    ("variant", "fragment"),
    [("missing", "does not exist"), ("not-a-model", "no config.json"), ("truncated-config", "not a valid JSON"),
     ("other-labels", "another label set")],
)
def test_summarize_with_a_bad_model_folder(world, tmp_path, variant, fragment):
    source = make_files(tmp_path, KINDS["good"])
    out = tmp_path / "summary"
    folder = world.models[variant]
    result = runner.invoke(app, ["summarize", str(source), "-o", str(out), "--model", str(folder)])
    assert_one_line_error(result, folder.name, fragment)
    assert not out.exists()


def test_resume_refuses_a_partial_from_another_model_or_input(world, tmp_path):
    source = make_files(tmp_path, KINDS["good"])
    out = tmp_path / "out.jsonl"
    args = ["predict", str(source), "--model", str(world.model), "-o", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    complete = out.read_bytes()
    partial = tmp_path / "out.jsonl.partial"
    # made by another model
    other = json.loads(complete.splitlines()[0])
    other["model"]["hash"] = "0" * 16
    partial.write_text(json.dumps(other) + "\n", encoding="utf-8")
    assert_one_line_error(runner.invoke(app, [*args, "--resume"]), "out.jsonl.partial", "another model")
    # made from other input
    partial.write_bytes(complete.splitlines(keepends=True)[1])
    assert_one_line_error(runner.invoke(app, [*args, "--resume"]), "out.jsonl.partial", "input changed")
    # longer than the input
    partial.write_bytes(complete + complete)
    assert_one_line_error(runner.invoke(app, [*args, "--resume"]), "out.jsonl.partial", "only 4")
    assert out.read_bytes() == complete  # the earlier complete output is untouched throughout
    # a torn last line is cut off and the run completes identically
    partial.write_bytes(complete[: len(complete) // 2])
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 0
    assert out.read_bytes() == complete and not partial.exists()


def test_bad_lexicon_and_empty_vocabulary(world, tmp_path):
    labels = make_files(tmp_path, KINDS["good"])
    for name, data, fragment in [
        ("bad.toml", "Caf\xe9".encode("latin-1"), "not UTF-8"),
        ("bad2.toml", b"targets = 5\n", "must be a table"),
        ("bad3.toml", b"[cues]\nblame = 3\n", "must be a list"),
    ]:
        (tmp_path / name).write_bytes(data)
        result = runner.invoke(app, ["train", "--labels", str(labels), "-o", str(tmp_path / "m"), "--no-cv",
                                     "--lexicon", str(tmp_path / name)])
        assert_one_line_error(result, name, fragment)
    (tmp_path / "punct.jsonl").write_bytes(jsonl({"id": "a:1", "text": "!!!", "stance": "neutral"}))
    result = runner.invoke(app, ["train", "--labels", str(tmp_path / "punct.jsonl"), "-o", str(tmp_path / "m"),
                                 "--no-cv"])
    assert_one_line_error(result, "no words")
    assert not (tmp_path / "m").exists()


def test_base_model_that_is_not_an_encoder(world, tmp_path):
    labels = make_files(tmp_path, KINDS["good"])
    result = runner.invoke(app, ["train", "--backend", "transformer", "--base-model", str(world.model),
                                 "--labels", str(labels), "-o", str(tmp_path / "m"), "--no-cv"])
    assert_one_line_error(result, "model")


def test_review_leaves_no_journal_beside_a_bad_file(tmp_path):
    bad = make_files(tmp_path, KINDS["malformed"])
    assert_one_line_error(runner.invoke(app, ["review", str(bad), "--script", "q"]), "in.jsonl:2")
    assert not (tmp_path / "in.jsonl.journal").exists()


# ---------------------------------------------------------------------------------------------
# SIGKILL: predict and train (review has its own kill tests in test_review.py)

CLI = [sys.executable, "-c", "from pipeline.cli import app; app()"]


def _wait_for(condition, process, timeout=60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"finished before it could be killed: {process.stderr and process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("timed out")
        time.sleep(0.005)


def _kill(process) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def big_input(world) -> Path:
    """20,000 sentence records: long enough that a small --batch is mid-run when killed."""
    words = "The council failed the children and social workers did hard work while Ofsted missed it".split()  # noqa: SIM905
    records = []
    for i in range(20000):
        text = " ".join(words[i % 7 : i % 7 + 4 + i % 5]) + "."
        records.append({"id": f"d{i // 100}:{i % 100:04d}", "doc_id": f"d{i // 100}", "start": 0,
                        "end": len(text), "text": text})
    path = world.base / "big.jsonl"
    write_jsonl(path, records)
    return path


def test_predict_killed_then_resumed_gives_identical_output(world, big_input, tmp_path):
    reference = tmp_path / "reference.jsonl"
    result = runner.invoke(app, ["predict", str(big_input), "--model", str(world.model), "-o", str(reference)])
    assert result.exit_code == 0, result.output
    target = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"
    args = [*CLI, "predict", str(big_input), "--model", str(world.model), "-o", str(target), "--batch", "16"]
    sizes = []
    for round_number in range(2):  # killed twice: the second time during a resumed run
        process = subprocess.Popen(args + (["--resume"] if round_number else []), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        floor = sizes[-1] if sizes else 0

        def grown(floor=floor):
            assert not target.exists(), "the target appeared before the run was complete"
            return partial.exists() and partial.stat().st_size > floor + 20000

        _wait_for(grown, process)
        _kill(process)
        assert not target.exists()
        sizes.append(partial.stat().st_size)
    assert sizes[1] > sizes[0]  # the resumed run kept the first run's records and added more
    done = runner.invoke(app, [*args[len(CLI):], "--resume"])
    assert done.exit_code == 0, done.output
    assert "resuming after" in done.stderr
    assert target.read_bytes() == reference.read_bytes()
    assert not partial.exists()


TRAIN_ARGS = ["train", "--backend", "tfidf", "--no-augment"]


def _train_args(world, out: Path, *extra: str) -> list[str]:
    return [*TRAIN_ARGS, "--labels", str(world.labels), "-o", str(out), "--lexicon", str(world.lexicon), *extra]


def _hash(folder: Path) -> str:
    return json.loads((folder / "config.json").read_text(encoding="utf-8"))["model_hash"]


def _complete_or_absent(folder: Path, previous: str | None) -> None:
    """After a kill: the target is the previous complete model, or absent; never something else."""
    if folder.exists():
        assert previous is not None and _hash(folder) == previous
        load_model(folder)  # still whole: every file's hash checks
    for stray in folder.parent.glob(f"*{folder.name}*"):
        assert stray == folder or stray.name.startswith(f".{folder.name}."), stray  # leftovers are hidden


def _train_killed_at(world, out: Path, moment: str, previous: str | None, expected: str) -> None:
    process = subprocess.Popen([*CLI, *_train_args(world, out)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        if moment in line:
            break
    _kill(process)
    _complete_or_absent(out, previous)
    done = subprocess.run([*CLI, *_train_args(world, out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _hash(out) == expected  # the same model an uninterrupted run gives
    assert not list(out.parent.glob(f".{out.name}.*")), "temporary folders were left behind"


def test_train_killed_during_cross_validation(world, tmp_path):
    # world.model was trained in-process with exactly these settings: the uninterrupted run.
    _train_killed_at(world, tmp_path / "model", "fold 2/4", None, _hash(world.model))


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["fold 1/4", "fold 4/4", "fitting the final model"])
def test_train_killed_over_a_previous_model(world, tmp_path, moment):
    out = tmp_path / "model"
    shutil.copytree(world.model, out)
    _train_killed_at(world, out, moment, _hash(world.model), _hash(world.model))


KILL_AT_RENAME = r"""
import os, signal, sys
import pipeline.modelio as modelio
calls = {"n": 0}
kill_at = int(sys.argv[1])
real_replace = os.replace
def replace(src, dst):
    calls["n"] += 1
    if calls["n"] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # the worst moments: just before a rename
    real_replace(src, dst)
shim = type(os)("os_shim")
shim.__dict__.update(os.__dict__)
shim.replace = replace
modelio.os = shim
from pipeline.cli import app
sys.argv = ["pipeline"] + sys.argv[2:]
app()
"""


@pytest.fixture(scope="module")
def no_cv_model(world, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("no-cv") / "model"
    train_model("tfidf", world.labels, folder, settings={"augment": False, "lexicon": str(world.lexicon)},
                cross_validate=False)
    return folder


@pytest.mark.parametrize("call", [2, pytest.param(1, marks=pytest.mark.slow)])
def test_train_killed_at_the_rename(world, no_cv_model, tmp_path, call):
    """SIGKILL just before save_model's first rename (old model aside) or second (new one in place)."""
    out = tmp_path / "model"
    shutil.copytree(no_cv_model, out)
    expected = _hash(no_cv_model)
    args = _train_args(world, out, "--no-cv")
    process = subprocess.run([sys.executable, "-c", KILL_AT_RENAME, str(call), *args], capture_output=True,
                             timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr
    # call 1: the old model is untouched; call 2: it was moved aside and the new one is not in place yet
    _complete_or_absent(out, expected)
    assert out.exists() == (call == 1)
    strays = list(tmp_path.glob(".model.*"))
    assert strays  # the killed run's complete new model, hidden beside the target...
    if call == 2:  # ...and never loaded in its place
        result = runner.invoke(app, ["predict", "-", "--model", str(out)], input="The council failed.\n")
        assert_one_line_error(result, "model folder not found")
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert _hash(out) == expected
    assert not list(tmp_path.glob(".model.*")), "the rerun cleans up what the killed run left"


# ---------------------------------------------------------------------------------------------
# safety


PACKAGE = ROOT / "pipeline"
FORBIDDEN = [
    (re.compile(r"^\s*(?:import|from)\s+(?:c?pickle|joblib|dill|cloudpickle|shelve|marshal)\b", re.M), "pickle"),
    (re.compile(r"\bjoblib\b"), "joblib"),
    (re.compile(r"\bpickle\.loads?\b"), "pickle.load"),
    (re.compile(r"\btorch\.load\b"), "torch.load"),
    (re.compile(r"trust_remote_code\s*=\s*True"), "trust_remote_code=True"),
    (re.compile(r"\b(?:np|numpy)\.load\([^)]*allow_pickle\s*=\s*True"), "allow_pickle=True"),
]


def test_no_pickle_joblib_torch_load_or_remote_code_in_the_package():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for pattern, name in FORBIDDEN:
            for match in pattern.finditer(source):
                line = source.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not found, found


def test_trust_remote_code_is_only_ever_false():
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for match in re.finditer(r"trust_remote_code[\"']?\s*[=:]\s*([\w.]+)", source):  # keyword or dict key
            assert match.group(1) == "False", f"{path.name}: {match.group(0)}"


class _Bomb:
    """Unpickling this creates a marker file: proof that pickle data was executed."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _with_consistent_hashes(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["files"] = {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in config["files"]}
    config["model_hash"] = model_hash(config["files"], config["thresholds"], config.get("calibration"))
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def test_pickle_disguised_as_safetensors_is_never_unpickled(world, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(world.model, folder)
    marker = tmp_path / "executed"
    (folder / "weights.safetensors").write_bytes(pickle.dumps(_Bomb(marker)))
    _with_consistent_hashes(folder)
    with pytest.raises(ModelError, match="cannot load model"):
        load_model(folder)
    assert not marker.exists()


@pytest.mark.parametrize(
    "extra",
    ["model.pkl", "weights.joblib", "pytorch_model.bin", "loader.py", "notes.json", "sub/extra.safetensors"],
)
def test_unexpected_files_are_refused(world, tmp_path, extra):
    folder = tmp_path / "model"
    shutil.copytree(world.model, folder)
    (folder / extra).parent.mkdir(parents=True, exist_ok=True)
    (folder / extra).write_bytes(b"{}")
    with pytest.raises(ModelError, match="unexpected file"):
        load_model(folder)


def test_a_listed_file_of_an_unsafe_type_or_outside_the_folder_is_refused(world, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(world.model, folder)
    (folder / "extra.pkl").write_bytes(b"x")
    _with_consistent_hashes_plus(folder, "extra.pkl")
    with pytest.raises(ModelError, match="unsafe file type"):
        load_model(folder)
    folder2 = tmp_path / "model2"
    shutil.copytree(world.model, folder2)
    (tmp_path / "outside.json").write_text("{}")
    config = json.loads((folder2 / "config.json").read_text(encoding="utf-8"))
    config["files"]["../outside.json"] = hashlib.sha256(b"{}").hexdigest()
    config["model_hash"] = model_hash(config["files"], config["thresholds"], config.get("calibration"))
    (folder2 / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelError, match="outside the model folder"):
        load_model(folder2)


def _with_consistent_hashes_plus(folder: Path, name: str) -> None:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    config["model_hash"] = model_hash(config["files"], config["thresholds"], config.get("calibration"))
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


TINY_TRANSFORMER = {"epochs": 1, "batch_size": 8, "max_length": 32, "validation_docs": 0, "augment": False}


@pytest.fixture(scope="module")
def small_labels(tmp_path_factory) -> Path:
    """Two documents: enough for cross-validation, quick to train on."""
    folder = tmp_path_factory.mktemp("small") / "labels"
    folder.mkdir()
    (folder / "gold.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labelled_records(2)),
                                       encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def transformer_pair(tiny_encoder, tmp_path_factory) -> tuple[Path, Path]:
    """Two transformer model folders trained on the same data (one document) with the same seed."""
    base = tmp_path_factory.mktemp("transformers")
    labels = base / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in labelled_records(1)), encoding="utf-8")
    for name in ("a", "b"):
        train_model("transformer", labels, base / name, settings={**TINY_TRANSFORMER,
                    "base_model": str(tiny_encoder)}, seed=5, cross_validate=False)
    return base / "a", base / "b"


def test_loading_and_predicting_never_unpickles(world, transformer_pair, monkeypatch):
    """Weights load through safetensors only: pickle and torch.load are booby-trapped meanwhile."""
    import torch

    transformer = transformer_pair[0]
    names = {p.name for p in transformer.rglob("*") if p.is_file()}
    assert {"heads.safetensors", "model.safetensors"} <= names
    assert not [n for n in names if Path(n).suffix in (".bin", ".pt", ".pth", ".pkl", ".pickle", ".joblib")]

    def trap(*args, **kwargs):
        raise AssertionError("pickle or torch.load was called while loading a model")

    monkeypatch.setattr(pickle, "load", trap)
    monkeypatch.setattr(pickle, "loads", trap)
    monkeypatch.setattr(torch, "load", trap)
    for folder in (world.model, transformer):
        model = load_model(folder)
        probs = model.predict_proba(LABELS)
        assert probs.stance.shape == (len(LABELS), len(STANCES))


# ---------------------------------------------------------------------------------------------
# determinism


def test_same_data_and_seed_give_the_same_tfidf_model(world, small_labels, tmp_path):
    for name in ("a", "b"):  # with cross-validation and role-swap augmentation (seeded)
        train_model("tfidf", small_labels, tmp_path / name, settings={"augment": True, "lexicon": str(world.lexicon)},
                    seed=3)
    a, b = tmp_path / "a", tmp_path / "b"
    assert json.loads((a / "config.json").read_text())["training"]["n_augmented"] > 0
    for name in ("weights.safetensors", "vocabulary.json", "crossval.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert _hash(a) == _hash(b)


def test_same_data_and_seed_give_the_same_transformer_model(transformer_pair):
    a, b = transformer_pair
    for name in ("heads.safetensors", "encoder/model.safetensors"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert _hash(a) == _hash(b)


def _without_times(value):
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items()
                if not re.search(r"time|created|seconds|date|_dir$|^labels$", k)}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def test_same_data_and_seed_give_the_same_metrics(small_labels, tmp_path):
    from pipeline.evaluation.run import evaluate_backends

    for name in ("a", "b"):
        evaluate_backends(small_labels, ["majority", "tfidf"], tmp_path / name, seed=1,
                          learning_curve_backend=None, n_bootstrap=50)
    a, b = (json.loads((tmp_path / n / "metrics.json").read_text(encoding="utf-8")) for n in ("a", "b"))
    assert a["backends"]["tfidf"]["headline"]  # something was measured
    assert _without_times(a) == _without_times(b)


# ---------------------------------------------------------------------------------------------
# property-based tests and a bounded fuzz run

json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                | st.text())
tricky_text = st.lists(
    st.sampled_from(["\u2028", "\u2029", "\n", "\r", "\r\n", '"', "\\", "\x00", "\x85", "\ufeff", "\t", "é",
                     "\U0001f600", "{", "}", "a", " "]) | st.text(max_size=5),
    max_size=12,
).map("".join)
json_values = st.recursive(json_scalars | tricky_text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(tricky_text, inner, max_size=4),
                           max_leaves=8)
records_strategy = st.lists(st.dictionaries(tricky_text | st.text(), json_values, max_size=5), max_size=6)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=records_strategy)
def test_jsonl_round_trip(tmp_path, monkeypatch, records):
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # the format is under test here, not durability
    path = tmp_path / "round.jsonl"
    assert write_jsonl(path, records) == len(records)
    assert [record for _, record in read_jsonl(path)] == records
    assert path.read_bytes().count(b"\n") == len(records)  # one record per line, whatever the text holds


segment_text = st.lists(
    st.sampled_from(list("aA .!?…\"'“”‘’()\n\r\t-*•123:/@") + [
        "said...", "Posted by Jo at 10:32", "Mr.", "12 May 2011", "Post a Comment", "\u2028", "https://x.uk/a.b",
        "e.g.", "1. ", "Anonymous said...", "Comments (3)", "by Jo Smith", "Council", "failed", "\ufeff"])
    | st.text(max_size=8),
    max_size=120,
).map("".join)


@settings(max_examples=100, deadline=None)
@given(text=segment_text)
def test_fuzz_segment_document(text):
    for record in segment_document("doc", text):
        assert text[record["start"] : record["end"]] == record["text"]
        assert 0 < len(record["text"]) <= MAX_SENTENCE_CHARS


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=400) | st.binary(max_size=200).map(lambda b: codecs.BOM_UTF16_LE + b))
def test_fuzz_decode_bytes(data):
    try:
        text = decode_bytes(data, "fuzz.txt")
    except InputError as exc:
        assert str(exc).startswith("fuzz.txt: ")
        return
    assert isinstance(text, str) and "\r" not in text
    segment_document("fuzz", text)


fuzz_records = st.fixed_dictionaries({}, optional={
    "id": st.sampled_from(["a", "d:0001"]) | json_values, "doc_id": st.just("d") | json_values,
    "text": st.text(max_size=40) | json_values, "start": json_values, "end": json_values,
    "stance": st.sampled_from(STANCES) | json_values, "boilerplate": json_values, "context": json_values,
})
fuzz_jsonl = st.lists(fuzz_records | json_values, min_size=1, max_size=4).map(
    lambda rows: "".join(json.dumps(r) + "\n" for r in rows).encode("utf-8"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400) | fuzz_jsonl, suffix=st.sampled_from([".txt", ".jsonl"]))
def test_fuzz_predict(world, tmp_path, data, suffix):
    source = tmp_path / f"fuzz{suffix}"
    source.write_bytes(data)
    out = tmp_path / "out.jsonl"
    out.unlink(missing_ok=True)
    result = runner.invoke(app, ["predict", str(source), "--model", str(world.model), "-o", str(out)])
    assert "Traceback" not in result.output
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert_one_line_error(result, str(source))
        assert not out.exists()
    else:
        assert all(r["stance"] in STANCES or r["predicted_stance"] in STANCES for _, r in read_jsonl(out))
    assert not leftovers(tmp_path)
