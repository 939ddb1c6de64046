"""The actor tracker, the gazetteer and document context, on small hand-written documents."""

from __future__ import annotations

import json

import pytest

from pipeline.actors.context import (
    actor_features,
    annotate_documents,
    annotate_stream,
    feature_matrix,
    feature_names,
)
from pipeline.actors.gazetteer import DEFAULT_GAZETTEER_PATH, Gazetteer
from pipeline.actors.tracker import ActorTracker, document_year
from pipeline.errors import InputError
from pipeline.lexicon import Lexicon
from pipeline.segment import segment_document

PEOPLE = {"people": [
    {"name": "Edwin Barlow", "variants": ["Barlow"], "gender": "m",
     "roles": [{"target": "government", "title": "Secretary of State", "from": 2007, "to": 2010},
               {"target": "none", "title": "retired", "from": 2011}]},
    {"name": "Ruth Calder", "variants": ["Calder"], "gender": "f",
     "roles": [{"target": "managers", "title": "council chief executive", "from": 2000, "to": 2005},
               {"target": "inspectors", "title": "chief inspector", "from": 2006, "to": 2011}]},
    {"name": "Lord Penrose", "variants": ["Penrose"], "gender": "m", "roles": [{"target": "none"}]},
]}


@pytest.fixture(scope="module")
def tracker() -> ActorTracker:
    return ActorTracker(Lexicon.load(), Gazetteer.from_dict(PEOPLE))


def track(tracker: ActorTracker, text: str):
    records = segment_document("doc", text)
    return records, tracker.track(records)


def by_text(records, contexts, start: str):
    for record, context in zip(records, contexts, strict=True):
        if record["text"].startswith(start):
            return context
    raise AssertionError(f"no sentence starts with {start!r}")


def test_introduced_person_keeps_the_role_by_surname_and_pronoun(tracker):
    records, contexts = track(tracker, (
        "Jane Marsh, the council's director of children's services, was removed on Monday. "
        "Barlow said the report was damning. She should have gone months ago. Marsh denies it.\n"))
    assert "managers" in by_text(records, contexts, "Jane Marsh").named
    she = by_text(records, contexts, "She should")
    assert she.named == [] and she.resolved == ["managers"]  # she = Jane Marsh, not Barlow
    assert she.references[0][2] in ("Jane Marsh", "director of children's services")
    assert by_text(records, contexts, "Marsh denies").named == ["managers"]


def test_gazetteer_role_follows_the_document_year(tracker):
    early = segment_document("a", "Calder defended the figures.\n\n12 March 2004 at 10:32\n")
    late = segment_document("b", "Calder defended the figures.\n\n12 March 2009 at 10:32\n")
    assert document_year(early) == 2004 and document_year(late) == 2009
    assert tracker.track(early)[0].named == ["managers"]
    assert tracker.track(late)[0].named == ["inspectors"]


def test_named_non_target_is_an_antecedent_but_no_target(tracker):
    records, contexts = track(tracker, "Penrose published his report. He was scathing.\n")
    assert contexts[0].named == [] and contexts[1].resolved == []


def test_councillor_honorific_and_male_pronoun(tracker):
    records, contexts = track(tracker, "Councillor Tom Reed spoke first. He refused to apologise.\n")
    assert by_text(records, contexts, "He refused").resolved == ["councillors"]


def test_they_and_short_references(tracker):
    records, contexts = track(tracker, (
        "Ofsted rated the service good in 2007. The watchdog missed everything. They never looked.\n"))
    assert by_text(records, contexts, "The watchdog").resolved == ["inspectors"]
    assert by_text(records, contexts, "They never").resolved == ["inspectors"]


def test_the_department_follows_the_most_recent_fitting_actor(tracker):
    _, gov = track(tracker, "Ministers promised money. The department never paid.\n")
    _, man = track(tracker, "The director promised a plan. The department never delivered.\n")
    assert gov[1].resolved == ["government"]
    assert man[1].resolved == ["managers"]


def test_a_sentence_naming_nobody_carries_the_recent_actors_and_the_title(tracker):
    records, contexts = track(tracker, (
        "Council leader quits over abuse report\n\nIt has been a long week. Heads must roll.\n"))
    title = contexts[0]
    assert title.named == ["councillors"]
    heads = by_text(records, contexts, "Heads must")
    assert heads.named == [] and heads.title == ["councillors"] and heads.in_play == ["councillors"]
    assert sum(heads.main.values()) == pytest.approx(1.0, abs=0.01)


def test_boilerplate_carries_no_actors(tracker):
    records, contexts = track(tracker, "Post title\n\nJohn said...\n\nThe council failed.\n\n12 March 2014 at 10:32\n")
    for record, context in zip(records, contexts, strict=True):
        if record["boilerplate"]:
            assert context.named == [] and context.resolved == []


def test_annotate_documents_sorts_each_document_and_stream_groups_consecutive(tracker):
    records = segment_document("d1", "The director resigned. She had to.\n") + \
        segment_document("d2", "Ofsted failed. It was shameful.\n")
    shuffled = [dict(r) for r in reversed(records)]
    annotate_documents(shuffled, tracker)
    streamed = list(annotate_stream([dict(r) for r in records], tracker))
    by_id = {r["id"]: r["actors"] for r in shuffled}
    assert [r["actors"] for r in streamed] == [by_id[r["id"]] for r in records]
    assert by_id["d1:0001"]["resolved"] == ["managers"]


def test_features_have_a_fixed_length_and_mark_carried_actors(tracker):
    records = segment_document("d", "The director resigned. Shameful.\n")
    annotate_documents(records, tracker)
    matrix = feature_matrix(records)
    names = feature_names()
    assert matrix.shape == (2, len(names))
    second = dict(zip(names, matrix[1], strict=True))
    assert second["carried_managers"] == 1.0 and second["named_managers"] == 0.0 and second["no_own_actor"] == 1.0
    assert len(actor_features(None)) == len(names)


def test_gazetteer_errors_are_one_line(tmp_path):
    bad = tmp_path / "people.toml"
    bad.write_text('[[people]]\nname = "X"\nroles = [{target = "police"}]\n', encoding="utf-8")
    with pytest.raises(InputError, match="unknown target 'police'"):
        Gazetteer.load(bad)
    bad.write_text("[[people]\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        Gazetteer.load(bad)


def test_shipped_gazetteer_loads_and_variants_are_unambiguous():
    gazetteer = Gazetteer.load(DEFAULT_GAZETTEER_PATH)
    assert len(gazetteer.people) >= 100
    owners: dict[str, set[str]] = {}
    for person in gazetteer.people:
        for name in person.variants:
            owners.setdefault(name, set()).add(person.target_in(None))
    assert not {n: t for n, t in owners.items() if len(t) > 1}
    round_trip = Gazetteer.from_dict(json.loads(json.dumps(gazetteer.to_dict())))
    assert [p.variants for p in round_trip.people] == [p.variants for p in gazetteer.people]


def test_model_folder_keeps_the_tracker_and_predict_streams_document_context(labels_dir, tmp_path):
    from pipeline.modelio import load_model
    from pipeline.predict import predict_paths
    from pipeline.records import read_records
    from pipeline.train import train_model

    train_model("tfidf", labels_dir, tmp_path / "m", settings={"augment": False})
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["settings"]["actor_features"] is True
    model = load_model(tmp_path / "m")
    assert model.tracker is not None and model.tracker.gazetteer.people
    page = tmp_path / "page.txt"
    page.write_text("Director quits\n\nThe director ignored every warning. She should be sacked.\n", encoding="utf-8")
    predict_paths([str(page)], tmp_path / "m", str(tmp_path / "out.jsonl"))
    out = read_records(tmp_path / "out.jsonl")
    assert all("actors" in r and "context" not in r for r in out)
    assert out[-1]["actors"]["resolved"] == ["managers"]
    # The same scores as the model gives the records in memory, tracked the same way.
    fresh = segment_document("page", page.read_text(encoding="utf-8"))
    scores = model.predict_scores(fresh)
    assert [r["scores"]["stance"]["blame"] for r in out] == [round(float(p), 4) for p in scores.stance[:, 0]]


def test_the_tracker_leaves_its_lexicon_counts_and_features_reuse_them_exactly():
    from pipeline.actors.context import annotate_documents
    from pipeline.actors.tracker import ActorTracker
    from pipeline.lexicon import Lexicon

    lexicon = Lexicon.load()
    records = [{"id": f"d:{i:04d}", "doc_id": "d", "text": text, "section": "post"} for i, text in enumerate(
        ["The council and its cabinet member were warned.", "Ofsted inspectors said managers failed.",
         "Nobody resigned."])]
    annotate_documents(records, ActorTracker(lexicon))
    assert all(r["_mentions_by"] == lexicon.fingerprint for r in records)
    assert lexicon.record_features(records) == [lexicon.features(r["text"]) for r in records]
    other = Lexicon({t: ["nobody"] for t in lexicon.aliases}, lexicon.cues)
    assert other.record_features(records) == [other.features(r["text"]) for r in records]
