"""Shared fixtures: tiny random transformers and small labelled data sets.

The tiny encoder (2 layers, hidden size 32) is built from a config in the test, with a
word-level vocabulary written to disk, so tests never touch the real encoder or a network.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.records import text_hash

WORDS = """the a an and or but not no of to in on for with by at from is was were be been are it this
that they she he we i you council councillor councillors leader cabinet member cllr manager managers
director chief executive officers officials social worker workers staff ofsted inspectors inspection
report rating government minister ministers secretary whitehall mps parliament failed failure blame
blamed resign sacked praised defended scapegoat hard work good bad children child services safeguarding
should have has had must did do meeting said says tragedy death baby case cases caseloads cuts budget
""".split()  # noqa: SIM905 (a word list is easier to edit as text)


def write_tiny_encoder(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = (
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS)) + list("abcdefghijklmnopqrstuvwxyz.,?!'")
    )
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(seed)
    model = BertModel(config)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return write_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


SENTENCES = [
    ("The council leader failed the children and must resign.", "blame", ["councillors"]),
    ("Councillors ignored every warning about the service.", "blame", ["councillors"]),
    ("The director and senior managers covered up the failure.", "blame", ["managers"]),
    ("Managers told staff not to take children into care.", "blame", ["managers"]),
    ("Ofsted gave the service a good rating just before the death.", "blame", ["inspectors"]),
    ("The inspection missed everything that mattered.", "blame", ["inspectors"]),
    ("Ministers cut the budget and blamed the councils.", "blame", ["government"]),
    ("Whitehall targets turned social work into box ticking.", "blame", ["government"]),
    ("Social workers did hard work with impossible caseloads.", "defend", ["social_workers"]),
    ("The staff have been made a scapegoat.", "defend", ["social_workers"]),
    ("The cabinet member was praised for her good work.", "defend", ["councillors"]),
    ("It is wrong to blame Ofsted for this.", "defend", ["inspectors"]),
    ("The meeting is on Thursday.", "neutral", []),
    ("The report was published at noon.", "neutral", []),
    ("The baby was seen by a doctor.", "neutral", []),
    ("This is a blog about politics.", "neutral", []),
]


def labelled_records(docs: int = 4) -> list[dict]:
    """Small gold set spread over several documents (each document gets every sentence)."""
    records = []
    for d in range(docs):
        for i, (text, stance, targets) in enumerate(SENTENCES):
            text_d = text if d == 0 else f"{text[:-1]} {['again', 'too', 'then'][d % 3]}{text[-1]}"
            records.append(
                {
                    "id": f"doc{d}:{i:04d}",
                    "doc_id": f"doc{d}",
                    "text": text_d,
                    "text_hash": text_hash(text_d),
                    "stance": stance,
                    "targets": targets,
                    "origin": "gold",
                }
            )
    return records


@pytest.fixture()
def labels_dir(tmp_path) -> Path:
    folder = tmp_path / "labels"
    folder.mkdir()
    with open(folder / "gold.jsonl", "w", encoding="utf-8") as handle:
        for record in labelled_records():
            handle.write(json.dumps(record) + "\n")
    return folder


TINY_LEXICON = """
[targets.councillors]
aliases = ["council leader", "councillor*", "cabinet member", "cllr"]
[targets.managers]
aliases = ["director", "manager*", "officials"]
[targets.social_workers]
aliases = ["social worker*", "staff"]
[targets.inspectors]
aliases = ["ofsted", "inspect*"]
[targets.government]
aliases = ["minister*", "whitehall", "government"]
[cues]
blame = ["failed", "failure", "resign", "blame*", "covered up", "ignored", "missed"]
defend = ["praised", "scapegoat", "hard work", "wrong to blame"]
negators = ["not", "wrong"]
"""


@pytest.fixture(scope="session")
def tiny_lexicon(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lexicon") / "actors.toml"
    path.write_text(TINY_LEXICON, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_context_model(tiny_encoder, tmp_path_factory) -> Path:
    """A tiny transformer that reads the previous sentence (so a split document would show)."""
    from pipeline.train import train_model

    base = tmp_path_factory.mktemp("tiny-context-model")
    labels = base / "labels.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in labelled_records(1)), encoding="utf-8")
    settings = {"epochs": 1, "batch_size": 8, "max_length": 32, "validation_docs": 0, "augment": False,
                "context": True, "base_model": str(tiny_encoder)}
    train_model("transformer", labels, base / "model", settings=settings, seed=3, cross_validate=False)
    return base / "model"


def assert_same_predictions(got: list[dict], expected: list[dict], tolerance: float = 1e-3) -> None:
    """Same records, fields and labels in the same order; scores equal up to float rounding.

    Which sentences share a batch changes the transformer's float rounding, so a score can move
    in its 4th decimal when a run is cut into other chunks (local --batch sizes do it too).
    """
    assert [r["id"] for r in got] == [r["id"] for r in expected]
    for a, b in zip(got, expected, strict=True):
        assert {k: v for k, v in a.items() if k != "scores"} == {k: v for k, v in b.items() if k != "scores"}
        for kind in ("stance", "targets"):
            assert a["scores"][kind].keys() == b["scores"][kind].keys()
            assert all(abs(a["scores"][kind][k] - b["scores"][kind][k]) <= tolerance for k in a["scores"][kind])


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    """ONNX exports and engine choices go to a throw-away cache, never the user's."""
    import os

    previous = os.environ.get("PIPELINE_CACHE_DIR")
    os.environ["PIPELINE_CACHE_DIR"] = str(tmp_path_factory.mktemp("pipeline-cache"))
    yield
    if previous is None:
        os.environ.pop("PIPELINE_CACHE_DIR", None)
    else:
        os.environ["PIPELINE_CACHE_DIR"] = previous
