"""pipeline review: the journal and session, the orders, the Textual interface driven by its
pilot, kill-and-resume in a real subprocess, and the HTML page (in headless Chromium, slow)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import InputError, PipelineError
from pipeline.records import STANCES, TARGETS, read_records, write_jsonl
from pipeline.review.html import render_html, write_html
from pipeline.review.journal import (
    ACCEPTED,
    EDITED,
    Journal,
    ReviewSession,
    current_records,
    journal_path,
)
from pipeline.review.ordering import (
    confident_learning,
    disagrees,
    label_issues,
    model_prediction,
    review_order,
)
from pipeline.review.tui import ReviewApp, run_script

ROOT = Path(__file__).resolve().parent.parent


def _scores(blame, defend, neutral, **targets):
    return {"stance": {"blame": blame, "defend": defend, "neutral": neutral}, "targets": targets}


def _records(n: int = 6, with_scores: bool = False) -> list[dict]:
    records = []
    for i in range(n):
        doc = f"doc{i // 3}"
        record = {
            "id": f"{doc}:{i % 3:04d}",
            "doc_id": doc,
            "start": (i % 3) * 20,
            "end": (i % 3) * 20 + 19,
            "text": f"Sentence number {i:2d} here.",
            "section": "comment" if i % 3 == 2 else "post",
            "comment_index": 0 if i % 3 == 2 else None,
            "author": "Jo Bloggs" if i % 3 == 2 else None,
            "mystery": {"kept": [i, None, True]},
        }
        if i % 2 == 0:
            record["stance"] = "blame"
            record["targets"] = ["managers"]
        if with_scores:
            record["scores"] = _scores(0.5, 0.3, 0.2, managers=0.6)
        records.append(record)
    return records


def _write(tmp_path: Path, records: list[dict], name: str = "labels.jsonl") -> Path:
    path = tmp_path / name
    write_jsonl(path, records)
    return path


def _clock():
    ticks = iter(range(10**6))
    return lambda: f"2024-01-01T00:00:{next(ticks) % 60:02d}Z"


def _journal_lines(path: Path) -> list[dict]:
    journal = journal_path(path)
    return [json.loads(line) for line in journal.read_text().splitlines()] if journal.exists() else []


# ---------------------------------------------------------------------------------------------
# session and journal


def test_session_changes_are_journalled_then_merged(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann", clock=_clock())
    first = session.records[1]["id"]  # unlabelled
    assert session.set_stance(first, "defend") is None
    assert session.toggle_target(first, "inspectors") is None
    assert session.toggle_target(first, "councillors") is None
    assert session.accept(first) is None
    events = _journal_lines(path)
    assert [e["action"] for e in events] == ["set", "set", "set", "accept"]
    assert events[-1] | {"time": None} == {
        "id": first,
        "action": "accept",
        "reviewer": "ann",
        "time": None,
        "stance": "defend",
        "targets": ["councillors", "inspectors"],
        "reviewed_by": "ann",
        "reviewed_at": events[-1]["time"],
        "review_status": ACCEPTED,
    }
    assert "review_status" not in read_records(path)[1]  # not merged yet
    session.close()
    assert journal_path(path).stat().st_size == 0
    after = read_records(path)
    assert after[1]["stance"] == "defend"
    assert after[1]["targets"] == ["councillors", "inspectors"]  # TARGETS order
    assert after[1]["reviewed_by"] == "ann" and after[1]["review_status"] == ACCEPTED
    assert after[1]["reviewed_at"].endswith("Z")
    assert after[1]["mystery"] == {"kept": [1, None, True]}
    untouched = _records()
    assert [r for i, r in enumerate(after) if i != 1] == [r for i, r in enumerate(untouched) if i != 1]


def test_neutral_clears_targets_and_refusals(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")
    labelled, unlabelled = session.records[0]["id"], session.records[1]["id"]
    assert "stance first" in session.toggle_target(unlabelled, "managers")
    assert "b, d or n" in session.accept(unlabelled)
    session.set_stance(labelled, "neutral")
    assert session.by_id[labelled]["targets"] == []
    assert "neutral" in session.toggle_target(labelled, "managers")
    pending = session.pending
    session.set_stance(labelled, "neutral")  # no change, nothing journalled
    assert session.pending == pending
    session.close()


def test_undo_restores_the_previous_state_exactly(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")
    rid = session.records[1]["id"]
    before = dict(session.by_id[rid])
    session.set_stance(rid, "blame")
    session.accept(rid)
    assert session.undo() == rid
    assert session.by_id[rid]["review_status"] == EDITED
    assert session.undo() == rid
    assert session.by_id[rid] == before  # no stance, no review fields
    assert session.undo() is None
    session.close()
    assert read_records(path)[1] == before


def test_crash_without_close_loses_nothing(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")
    rid = session.records[3]["id"]
    session.set_stance(rid, "defend")
    session.accept(rid)
    session.journal.close()  # the process dies: no merge
    reopened = ReviewSession.open(path, "bob")
    assert reopened.replayed == 2
    assert reopened.by_id[rid]["stance"] == "defend"
    assert reopened.by_id[rid]["reviewed_by"] == "ann"
    assert read_records(path)[3]["review_status"] == ACCEPTED  # merged on open
    assert journal_path(path).stat().st_size == 0
    reopened.close()


def test_replaying_an_already_merged_journal_changes_nothing(tmp_path):
    """A crash between the rewrite and the truncation leaves a journal the file already has."""
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")
    rid = session.records[1]["id"]
    session.set_stance(rid, "blame")
    session.toggle_target(rid, "government")
    saved = journal_path(path).read_bytes()
    session.close()
    merged = path.read_bytes()
    journal_path(path).write_bytes(saved)
    ReviewSession.open(path, "ann").close()
    assert path.read_bytes() == merged


def test_torn_last_journal_line_is_dropped(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")
    rid = session.records[1]["id"]
    session.set_stance(rid, "blame")
    session.journal.close()
    with open(journal_path(path), "a") as handle:
        handle.write('{"id": "doc0:0001", "action": "se')
    assert current_records(path)[1][1]["stance"] == "blame"  # read-only view copes too
    reopened = ReviewSession.open(path, "ann")
    assert reopened.by_id[rid]["stance"] == "blame"
    reopened.close()


def test_bad_journal_and_bad_files_are_one_line_errors(tmp_path):
    path = _write(tmp_path, _records())
    journal_path(path).write_text('{"id": "doc0:0000", "action": "set", "stance": "blame"}\nnot json\n{}\n')
    with pytest.raises(InputError, match=r"labels\.jsonl\.journal:2: not valid JSON"):
        ReviewSession.open(path, "ann")
    journal_path(path).write_text('{"id": "nope", "action": "set", "stance": "blame"}\n')
    with pytest.raises(InputError, match=r"journal:1: correction for id 'nope'"):
        ReviewSession.open(path, "ann")
    journal_path(path).unlink()
    records = _records()
    records[2]["id"] = records[1]["id"]
    duplicate = _write(tmp_path, records, "dup.jsonl")
    with pytest.raises(InputError, match=r"dup\.jsonl:3: duplicate id"):
        ReviewSession.open(duplicate, "ann")
    with pytest.raises(InputError, match="no such file"):
        ReviewSession.open(tmp_path / "missing.jsonl", "ann")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InputError, match="no records"):
        ReviewSession.open(empty, "ann")


def test_a_second_session_on_the_same_file_is_refused(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")
    with pytest.raises(PipelineError, match="another review session"):
        ReviewSession.open(path, "bob")
    session.close()
    ReviewSession.open(path, "bob").close()


def test_periodic_merge_and_file_changed_on_disk(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann", merge_every=2)
    a, b = session.records[1]["id"], session.records[3]["id"]
    session.set_stance(a, "blame")
    assert session.merges == 0
    session.set_stance(b, "defend")
    assert session.merges == 1 and journal_path(path).stat().st_size == 0
    assert read_records(path)[3]["stance"] == "defend"
    # someone edits the file behind the session's back: the session refuses to overwrite it
    records = read_records(path)
    records[5]["note"] = "edited elsewhere"
    write_jsonl(path, records)
    session.set_stance(a, "neutral")
    with pytest.raises(PipelineError, match="changed on disk"):
        session.close()
    reopened = ReviewSession.open(path, "ann")  # the journal is applied over the edited file
    assert reopened.by_id[a]["stance"] == "neutral"
    assert reopened.records[5]["note"] == "edited elsewhere"
    reopened.close()


def test_merge_keeps_the_file_mode(tmp_path):
    path = _write(tmp_path, _records())
    os.chmod(path, 0o644)
    session = ReviewSession.open(path, "ann")
    session.set_stance(session.records[1]["id"], "blame")
    session.close()
    assert path.stat().st_mode & 0o777 == 0o644


def test_journal_appends_are_fsynced_lines(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    journal = Journal(tmp_path / "j.journal")
    journal.append({"id": "x", "action": "set"})
    assert synced and (tmp_path / "j.journal").read_text().endswith("\n")
    journal.close()


# ---------------------------------------------------------------------------------------------
# orders


def test_uncertain_and_disagree_orders():
    records = [
        {"id": "a", "text": "a", "stance": "blame", "targets": [], "scores": _scores(0.9, 0.05, 0.05)},
        {"id": "b", "text": "b", "stance": "blame", "targets": [], "scores": _scores(0.4, 0.35, 0.25)},
        {"id": "c", "text": "c", "stance": "neutral", "targets": []},  # no scores: last
        {"id": "d", "text": "d", "stance": "defend", "targets": [], "scores": _scores(0.7, 0.2, 0.1)},
        {
            "id": "e",
            "text": "e",
            "stance": "blame",
            "targets": [],
            "scores": _scores(0.6, 0.1, 0.3, managers=0.9),
        },
    ]
    order, _ = review_order(records, "uncertain")
    assert [records[i]["id"] for i in order] == ["b", "e", "d", "a", "c"]
    assert disagrees(records[3]) and disagrees(records[4]) and not disagrees(records[0])
    assert model_prediction(records[4]) == ("blame", ["managers"])
    order, note = review_order(records, "disagree")
    assert [records[i]["id"] for i in order] == ["d", "e", "a", "b", "c"]
    assert note.startswith("2 disagreement")
    explicit = {
        "id": "x",
        "text": "x",
        "stance": "blame",
        "predicted_stance": "defend",
        "predicted_targets": [],
    }
    assert model_prediction(explicit) == ("defend", []) and disagrees(explicit)


def test_orders_fall_back_to_file_order_without_scores():
    records = _records()
    for order in ("file", "uncertain", "disagree", "errors"):
        indices, note = review_order(records, order)
        assert indices == list(range(len(records)))
        assert order == "file" or "file order" in note


def _noisy_records(seed: int = 0) -> tuple[list[dict], list[int]]:
    rng = random.Random(seed)
    records, wrong = [], []
    for i in range(60):
        true = STANCES[i % 3]
        probs = [0.05, 0.05, 0.05]
        probs[STANCES.index(true)] = 0.9
        jitter = rng.uniform(-0.05, 0.05)
        probs = [
            max(0.01, p + (jitter if k == STANCES.index(true) else -jitter / 2)) for k, p in enumerate(probs)
        ]
        total = sum(probs)
        given = true
        if i in (7, 31, 50):  # mislabelled, where the model is very sure of the truth
            given = STANCES[(STANCES.index(true) + 1) % 3]
            probs = [0.02, 0.02, 0.02]
            probs[STANCES.index(true)] = 0.96
            total = 1.0
            wrong.append(i)
        records.append(
            {
                "id": f"r{i}",
                "text": f"t{i}",
                "stance": given,
                "targets": [],
                "scores": {"stance": dict(zip(STANCES, [p / total for p in probs], strict=True))},
            }
        )
    return records, wrong


def test_confident_learning_rule_flags_the_planted_errors():
    records, wrong = _noisy_records()
    labels = [STANCES.index(r["stance"]) for r in records]
    import numpy as np

    probs = np.array([[r["scores"]["stance"][s] for s in STANCES] for r in records])
    flags, margins = confident_learning(labels, probs)
    assert sorted(np.flatnonzero(flags).tolist()) == wrong
    assert all(margins[i] < -0.5 for i in wrong)
    _check_errors_order(records, wrong, use_cleanlab=False)


def _check_errors_order(records, wrong, use_cleanlab):
    issues = label_issues(records, use_cleanlab=use_cleanlab)
    assert sorted(issues) == wrong
    order, note = review_order(records, "errors", use_cleanlab=use_cleanlab)
    assert sorted(order[:3]) == wrong and note.startswith("3 likely")
    assert sorted(order) == list(range(len(records)))


@pytest.mark.slow  # importing cleanlab (and scikit-learn) alone takes seconds
def test_errors_order_with_cleanlab():
    pytest.importorskip("cleanlab")
    records, wrong = _noisy_records()
    _check_errors_order(records, wrong, use_cleanlab=True)


def test_target_errors_are_found_too():
    records, _ = _noisy_records(1)
    for i, record in enumerate(records):
        record["stance"] = "blame"
        record["scores"]["stance"] = {"blame": 0.9, "defend": 0.05, "neutral": 0.05}
        has = i % 2 == 0
        record["targets"] = ["government"] if has else []
        record["scores"]["targets"] = {"government": 0.95 if has else 0.04}
    records[9]["targets"] = ["government"]  # labelled with a target the model is sure is absent
    assert sorted(label_issues(records, use_cleanlab=False)) == [9]


# ---------------------------------------------------------------------------------------------
# the interface, driven by Textual's pilot


def _run_app(session, order, drive):
    async def main():
        tui = ReviewApp(session, order, use_cleanlab=False)  # cleanlab's import alone takes seconds
        async with tui.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            await drive(pilot, tui.review_screen)

    asyncio.run(main())


def test_pilot_session_set_toggle_accept_undo(tmp_path):
    path = _write(tmp_path, _records(with_scores=True))
    session = ReviewSession.open(path, "ann")
    seen = {}

    async def drive(pilot, screen):
        assert screen.record["id"] == "doc0:0000"
        status = str(screen.query_one("#status").render())
        assert "done 0/6" in status and "blame 3" in status
        await pilot.press("d", "3")
        assert screen.record["stance"] == "defend"
        assert screen.record["targets"] == ["managers", "social_workers"]
        await pilot.press("a")
        seen["after_accept"] = screen.record["id"]
        assert "done 1/6" in str(screen.query_one("#status").render())
        await pilot.press("u")
        seen["after_undo"] = screen.record["id"]
        assert screen.record["review_status"] == EDITED
        await pilot.press("n", "enter")
        assert screen.record["id"] == "doc0:0001"
        await pilot.press("s")
        assert screen.record["id"] == "doc0:0002"
        model = str(screen.query_one("#model").render())
        assert "0.50" in model and "Predicts" in model
        await pilot.press("q")

    _run_app(session, "file", drive)
    session.close()
    assert seen == {"after_accept": "doc0:0001", "after_undo": "doc0:0000"}
    assert _journal_lines(path) == []  # merged on close
    first = read_records(path)[0]
    assert first["stance"] == "neutral" and first["targets"] == [] and first["review_status"] == ACCEPTED


def test_pilot_help_search_and_jump(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")

    async def drive(pilot, screen):
        await pilot.press("question_mark")
        assert screen.app.screen is not screen
        await pilot.press("x")
        assert screen.app.screen is screen
        await pilot.press("slash", *"r  4", "enter")
        assert screen.record["id"] == "doc1:0001"
        await pilot.press("g", *"0:0002", "enter")
        assert screen.record["id"] == "doc0:0002"
        screen.jump("0002")  # ambiguous: stays (the same function the dialog calls)
        assert screen.record["id"] == "doc0:0002" and "2 ids" in screen.last_notice
        screen.jump("doc1:0000")
        assert screen.record["id"] == "doc1:0000" and "stance" not in screen.record
        await pilot.press("1")
        assert "stance first" in screen.last_notice
        await pilot.press("slash", "escape")
        assert screen.app.screen is screen and screen.record["id"] == "doc1:0000"

    _run_app(session, "file", drive)
    session.close()
    assert _journal_lines(path) == [] and read_records(path) == _records()  # looking changes nothing


def test_pilot_resumes_at_first_unreviewed_in_the_chosen_order(tmp_path):
    records, wrong = _noisy_records()
    records[wrong[0]]["review_status"] = ACCEPTED
    path = _write(tmp_path, records)
    session = ReviewSession.open(path, "ann")

    async def drive(pilot, screen):
        assert screen.record["id"] != records[wrong[0]]["id"]
        assert screen.session.index(screen.record["id"]) in wrong
        assert "Likely label error" in str(screen.query_one("#model").render())

    _run_app(session, "errors", drive)
    session.close()


def test_script_mode_drives_the_app(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")
    lines = []
    asyncio.run(run_script(ReviewApp(session), ["b", "5", "a", "q", "b"], echo=lines.append))
    session.close()
    assert lines == ["pressed 1 b", "pressed 2 5", "pressed 3 a", "pressed 4 q"]
    assert read_records(path)[0]["targets"] == ["managers", "government"]


# ---------------------------------------------------------------------------------------------
# kill and resume, in a real process


def _start_review(path: Path, keys: list[str], pause: float, merge_every: int) -> subprocess.Popen:
    code = "from pipeline.cli import app; app()"
    options = ["--reviewer", "killed", "--script", " ".join(keys), "--script-pause", str(pause)]
    command = [sys.executable, "-c", code, "review", str(path), *options, "--merge-every", str(merge_every)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _kill_after(process: subprocess.Popen, acks: int, timeout: float = 20.0) -> list[str]:
    seen = []
    deadline = time.monotonic() + timeout
    while len(seen) < acks and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    return seen


def test_kill_mid_session_then_resume_loses_nothing(tmp_path):
    records = _records(12)
    for record in records:
        record.pop("stance", None)
        record.pop("targets", None)
    path = _write(tmp_path, records)
    keys = []
    for i in range(12):
        keys += [("b", "d", "n")[i % 3], *(["1"] if i % 3 != 2 else []), "a"]
    process = _start_review(path, keys, pause=0.02, merge_every=4)
    acked = _kill_after(process, acks=14)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    assert len(acked) == 14 and acked[-1].startswith("pressed 14")
    # the keys acknowledged before the kill, replayed on paper
    accepted = sum(1 for key in keys[:14] if key == "a")
    session = ReviewSession.open(path, "resumer")
    done = [r for r in session.records if r.get("review_status") == ACCEPTED]
    assert len(done) >= accepted  # the child may have got further before the signal landed
    for i, record in enumerate(session.records[: len(done)]):
        assert record["stance"] == ("blame", "defend", "neutral")[i % 3]
        assert record["targets"] == ([] if i % 3 == 2 else ["councillors"])
        assert record["reviewed_by"] == "killed"
    assert all(r.get("review_status") != ACCEPTED for r in session.records[len(done) :])

    async def drive(pilot, screen):
        assert screen.record["id"] == session.records[len(done)]["id"]  # resumes where it stopped

    _run_app(session, "file", drive)
    session.close()
    on_disk = read_records(path)
    assert sum(1 for r in on_disk if r.get("review_status") == ACCEPTED) == len(done)
    assert all(r["mystery"] == records[i]["mystery"] for i, r in enumerate(on_disk))


CHILD = r"""
import sys
from pipeline.review.journal import ReviewSession
path, start = sys.argv[1], int(sys.argv[2])
session = ReviewSession.open(path, "child", merge_every=3)
for n in range(start, start + 10000):
    record = session.records[n % len(session.records)]
    session.set_stance(record["id"], ("blame", "defend")[n % 2])
    session.accept(record["id"])
    print(n, flush=True)
"""


def _kill_at_random_moments(tmp_path: Path, rounds: int, seed: int) -> None:
    """A child makes changes (set, accept; merging every 3) and is killed at a random moment,
    over and over. After each kill every acknowledged change is there, and only the one
    change in flight may be half done."""
    rng = random.Random(seed)
    records = _records(7)
    path = _write(tmp_path, records)
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ids = [r["id"] for r in records]
    expected: dict[str, str] = {}  # id -> acknowledged stance (accepted)
    start = 0
    for _ in range(rounds):
        process = subprocess.Popen(
            [sys.executable, str(script), str(path), str(start)], stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        first = process.stdout.readline()
        assert first, "child did not start"
        time.sleep(rng.uniform(0.0, 0.1))
        process.kill()
        out, _ = process.communicate()
        for line in [first, *out.splitlines()]:
            if line.strip():
                n = int(line)
                expected[ids[n % len(ids)]] = ("blame", "defend")[n % 2]
                start = n + 1
        in_flight = ids[start % len(ids)]
        for _, record in current_records(path):  # the file always parses; the journal replays
            if record["id"] == in_flight:
                assert record.get("stance") in (expected.get(in_flight), ("blame", "defend")[start % 2])
            elif record["id"] in expected:
                assert record["stance"] == expected[record["id"]]
                assert record["review_status"] == ACCEPTED
        # the next child redoes the change in flight, so it is acknowledged in the end
    session = ReviewSession.open(path, "check")
    for record in session.records:
        assert record["mystery"] == records[session.index(record["id"])]["mystery"]
    session.close()
    assert journal_path(path).stat().st_size == 0


def test_kill_at_random_moments_journal_level(tmp_path):
    _kill_at_random_moments(tmp_path, rounds=3, seed=1)


@pytest.mark.slow
def test_kill_at_random_moments_many_times(tmp_path):
    _kill_at_random_moments(tmp_path, rounds=30, seed=2)


# ---------------------------------------------------------------------------------------------
# the command line


def test_cli_refuses_without_a_terminal_and_reports_bad_input(tmp_path):
    runner = CliRunner()
    path = _write(tmp_path, _records())
    result = runner.invoke(app, ["review", str(path)])
    assert result.exit_code == 1 and "needs a terminal" in result.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{"id": \n')
    result = runner.invoke(app, ["review", str(bad), "--script", "q"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [f"error: {bad}:2: not valid JSON (Expecting value)"]
    result = runner.invoke(app, ["review", str(path), "--order", "sideways", "--script", "q"])
    assert result.exit_code != 0


def test_cli_html_is_self_contained(tmp_path):
    records = _records(with_scores=True)
    records[0]["text"] = 'Ofsted <script>alert(1)</script> & "friends"'
    path = _write(tmp_path, records)
    out = tmp_path / "page.html"
    result = CliRunner().invoke(app, ["review", str(path), "--html", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)" in page
    for external in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert external not in page
    assert page.count('class="s ') == len(records)
    assert 'data-doc="doc1"' in page and "councillors" in page
    result = CliRunner().invoke(app, ["review", str(path), "--html", str(path)])
    assert result.exit_code == 1 and "same as an input" in result.output


def test_html_shows_unsaved_journal_changes(tmp_path):
    path = _write(tmp_path, _records())
    session = ReviewSession.open(path, "ann")
    session.set_stance("doc0:0001", "defend")
    session.journal.close()  # killed: only the journal has it
    out = tmp_path / "page.html"
    write_html(path, out)
    assert 'id="doc0:0001" data-stance="defend"' in out.read_text()


# ---------------------------------------------------------------------------------------------
# the page in a real browser


CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _page_records() -> list[dict]:
    seeds = ROOT / "labels" / "annotations" / "seed_sentences.jsonl"
    if seeds.exists():  # two real documents: the first 40 sentences of one, 20 of another
        everything = read_records(seeds)
        other = next(r["doc_id"] for r in everything if r["doc_id"] != everything[0]["doc_id"])
        records = everything[:40] + [r for r in everything if r["doc_id"] == other][:20]
    else:
        records = _records(30)
    rng = random.Random(3)
    for i, record in enumerate(records):
        if record.get("boilerplate"):
            continue
        stance = STANCES[rng.randrange(3)] if i % 4 else "blame"
        record["stance"] = stance
        record["targets"] = [] if stance == "neutral" else rng.sample(TARGETS, rng.randint(0, 2))
        probs = [rng.random() for _ in STANCES]
        record["scores"] = {
            "stance": {s: round(p / sum(probs), 3) for s, p in zip(STANCES, probs, strict=True)},
            "targets": {t: round(rng.random(), 3) for t in TARGETS},
        }
    return records


@pytest.mark.slow
def test_html_page_in_headless_chromium(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium")
    playwright = pytest.importorskip("playwright.sync_api")
    records = _page_records()
    path = _write(tmp_path, records)
    out = tmp_path / "page.html"
    page_text = render_html(read_records(path), "labels.jsonl")
    out.write_text(page_text)
    labelled = [r for r in records if "stance" in r]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        requests, errors = [], []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(out.as_uri())
        assert errors == [] and requests == [out.as_uri()]  # nothing fetched from elsewhere
        assert page.locator(".s").count() == len(records)
        assert page.text_content("#count") == f"{len(records)} of {len(records)} sentences match"
        # colour by stance
        blame = page.locator(".s.st-blame").first
        colour = blame.evaluate("e => getComputedStyle(e).backgroundColor")
        assert colour == "rgb(253, 227, 223)"
        # scores on hover
        blame.hover()
        tip = page.locator("#tip")
        assert tip.is_visible()
        assert "model stance: blame" in tip.text_content()
        page.screenshot(path="/tmp/review_html.png")
        # filter by label: untick neutral and unlabelled, hide the rest
        page.uncheck('input[value="neutral"]')
        page.uncheck('input[value="unlabelled"]')
        page.check("#hide")
        shown = sum(1 for r in labelled if r["stance"] != "neutral")
        assert page.text_content("#count").startswith(f"{shown} of ")
        assert page.locator(".s.st-neutral:visible").count() == 0
        # filter by target
        page.check('input[value="managers"]')
        with_managers = sum(1 for r in labelled if r["stance"] != "neutral" and "managers" in r["targets"])
        assert page.text_content("#count").startswith(f"{with_managers} of ")
        page.uncheck('input[value="managers"]')
        page.uncheck("#hide")
        # filter by document
        doc = records[-1]["doc_id"]
        page.select_option("#doc", doc)
        assert page.locator("article.doc:visible").count() == 1
        assert page.locator("article.doc:visible").get_attribute("data-doc") == doc
        page.screenshot(path=str(tmp_path / "filtered.png"))
        if os.environ.get("REVIEW_SCREENSHOTS"):
            shutil.copy(tmp_path / "filtered.png", "/tmp/review_html_filtered.png")
        browser.close()
