"""The review journal and the review session: every correction is durable the moment it is made.

A review session edits the label fields of records in one JSONL file. Each change is first
appended to ``FILE.jsonl.journal`` (one JSON object per line, flushed and fsynced) and only
then applied in memory, so a change the reviewer has seen is on disk. From time to time, and
when the session closes, the records are merged into ``FILE.jsonl`` by an atomic rewrite and
the journal is emptied, only after that rewrite has succeeded. Opening a file replays its
journal first, so killing the program at any moment loses nothing.

Every event carries the whole review state of its record after the change (stance, targets,
reviewed_by, reviewed_at, review_status), so replaying is idempotent: replaying a journal over
a file it was already merged into changes nothing. An ``undo`` event simply records the state
it restored.

Fields written into reviewed records:

* ``reviewed_by``, ``reviewed_at`` (ISO 8601, UTC) — who last changed or accepted the record;
* ``review_status`` — ``"edited"`` once changed, ``"accepted"`` once the reviewer signed it off.

Other fields are never touched. Nothing here knows about the terminal interface.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InputError, PipelineError
from ..records import NEUTRAL, STANCES, TARGETS, Record, dumps, read_jsonl, write_jsonl

try:  # advisory lock against two sessions on one file; not available on every platform
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

MANAGED: tuple[str, ...] = ("stance", "targets", "reviewed_by", "reviewed_at", "review_status")
ACTIONS: tuple[str, ...] = ("set", "accept", "undo")
ACCEPTED = "accepted"
EDITED = "edited"
DEFAULT_MERGE_EVERY = 20

State = dict[str, Any]  # managed field -> value; None means the field is absent


def journal_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".journal")


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------------------------
# states and events (pure functions)


def record_state(record: Record) -> State:
    state: State = {}
    for field in MANAGED:
        value = record.get(field)
        state[field] = list(value) if isinstance(value, list) else value
    return state


def apply_state(record: Record, state: State) -> None:
    """Set the managed fields of a record to `state`, removing those that are None."""
    for field in MANAGED:
        value = state.get(field)
        if value is None:
            record.pop(field, None)
        else:
            record[field] = list(value) if isinstance(value, list) else value


def make_event(record_id: str, action: str, state: State, reviewer: str, time: str) -> Record:
    event: Record = {"id": record_id, "action": action, "reviewer": reviewer, "time": time}
    for field in MANAGED:
        event[field] = state.get(field)
    return event


def event_state(event: Record) -> State:
    return {field: event.get(field) for field in MANAGED}


def is_accepted(record: Record) -> bool:
    return record.get("review_status") == ACCEPTED


def acceptance_problem(record: Record) -> str | None:
    """Why the labels of this record cannot be signed off as they are, or None."""
    stance = record.get("stance")
    targets = record.get("targets", [])
    if stance is None:
        return "no stance yet: press b, d or n first"
    if stance not in STANCES:
        return f"unknown stance {stance!r}: press b, d or n"
    if not isinstance(targets, list):
        return "targets is not a list: press n to clear it"
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        return f"unknown target {unknown[0]!r}: press n to clear the targets"
    if len(set(targets)) != len(targets):
        return "repeated target: press n to clear the targets"
    if stance == NEUTRAL and targets:
        return "neutral sentences have no targets"
    return None


def with_target_toggled(targets: list[str], target: str) -> list[str]:
    """Targets with `target` added or removed, kept in TARGETS order (unknown ones last)."""
    chosen = [t for t in targets if t != target] if target in targets else [*targets, target]
    known = [t for t in TARGETS if t in chosen]
    return known + [t for t in chosen if t not in TARGETS]


# ---------------------------------------------------------------------------------------------
# the journal file


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or file system allows it
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Journal:
    """An append-only journal file, locked for the life of the object."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        existed = self.path.exists()
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise InputError(self.path, f"cannot open the review journal ({exc.strerror})") from None
        if fcntl is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(self._fd)
                raise PipelineError(
                    f"{self.path}: the file is open in another review session; close that one first"
                ) from None
        self.created = not existed
        if not existed:
            _fsync_folder(self.path.parent)

    def read(self) -> list[tuple[int, Record]]:
        """The complete events in the journal. A torn last line (a write cut short by a crash,
        never acknowledged to the reviewer) is cut off first."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return []
        with open(self.path, "rb") as handle:
            data = handle.read()
        complete = data.rfind(b"\n") + 1
        if complete != len(data):
            os.ftruncate(self._fd, complete)
            os.fsync(self._fd)
        events = []
        for line_no, event in read_jsonl(self.path):
            problem = _event_problem(event)
            if problem:
                raise InputError(self.path, f"not a review journal event ({problem})", line_no)
            events.append((line_no, event))
        return events

    def append(self, event: Record) -> None:
        data = (dumps(event) + "\n").encode("utf-8")
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
            os.fsync(self._fd)
        except OSError as exc:
            raise PipelineError(f"{self.path}: could not save the change ({exc.strerror})") from None

    def truncate(self) -> None:
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # releases the lock
            self._fd = -1


def _event_problem(event: Record) -> str | None:
    if not isinstance(event.get("id"), str):
        return "no id"
    if event.get("action") not in ACTIONS:
        return f"unknown action {event.get('action')!r}"
    if event.get("stance") is not None and not isinstance(event["stance"], str):
        return "stance is not a string"
    if event.get("targets") is not None and not isinstance(event["targets"], list):
        return "targets is not a list"
    return None


def replay(records_by_id: dict[str, Record], events: list[tuple[int, Record]], path: str | Path) -> int:
    """Apply journal events to records in order; returns how many were applied."""
    for line_no, event in events:
        record = records_by_id.get(event["id"])
        if record is None:
            raise InputError(
                path,
                f"correction for id {event['id']!r}, which is not in the file "
                "(move the journal aside to open the file without it)",
                line_no,
            )
        apply_state(record, event_state(event))
    return len(events)


# ---------------------------------------------------------------------------------------------
# the review session


def _check_records(path: Path, numbered: list[tuple[int, Record]]) -> None:
    if not numbered:
        raise InputError(path, "holds no records to review")
    seen: dict[str, int] = {}
    for line_no, record in numbered:
        record_id = record.get("id")
        if not isinstance(record_id, str):
            raise InputError(path, "missing or mistyped field 'id'", line_no)
        if record_id in seen:
            raise InputError(path, f"duplicate id {record_id!r} (first on line {seen[record_id]})", line_no)
        seen[record_id] = line_no
        if not isinstance(record.get("text"), str):
            raise InputError(path, "missing or mistyped field 'text'", line_no)


class ReviewSession:
    """The records of one file under review, with their journal.

    The methods that change a record return None on success or a short message saying why
    nothing was changed (for the interface to show); they raise PipelineError when the change
    could not be saved, in which case nothing was changed in memory either.
    """

    def __init__(
        self,
        path: Path,
        numbered: list[tuple[int, Record]],
        journal: Journal,
        reviewer: str,
        merge_every: int = DEFAULT_MERGE_EVERY,
        clock: Callable[[], str] = utc_now,
    ):
        self.path = path
        self.records: list[Record] = [record for _, record in numbered]
        self.lines: list[int] = [line for line, _ in numbered]
        self.by_id: dict[str, Record] = {record["id"]: record for record in self.records}
        self.position: dict[str, int] = {record["id"]: i for i, record in enumerate(self.records)}
        self.journal = journal
        self.reviewer = reviewer
        self.merge_every = max(1, merge_every)
        self.clock = clock
        self.pending = 0  # changes in the journal not yet merged into the file
        self.replayed = 0
        self.merges = 0
        self._undo: list[tuple[str, State]] = []
        self._signature = self._file_signature()
        self._closed = False

    @classmethod
    def open(
        cls,
        path: str | Path,
        reviewer: str,
        merge_every: int = DEFAULT_MERGE_EVERY,
        clock: Callable[[], str] = utc_now,
    ) -> ReviewSession:
        if str(path) == "-":
            raise PipelineError("review needs a file, not standard input")
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "no such file" if not path.exists() else "is not a file")
        journal = Journal(journal_path(path))  # lock first, then read: no other session can merge
        try:
            numbered = list(read_jsonl(path))
            _check_records(path, numbered)
            session = cls(path, numbered, journal, reviewer, merge_every, clock)
            events = journal.read()
            session.replayed = replay(session.by_id, events, journal.path)
            session.pending = session.replayed
            session.merge()
        except BaseException:
            if journal.created and os.fstat(journal._fd).st_size == 0:
                # A file that cannot be opened for review leaves no empty journal beside it.
                with contextlib.suppress(OSError):
                    os.unlink(journal.path)
            journal.close()
            raise
        return session

    # -- reading

    def index(self, record_id: str) -> int:
        return self.position[record_id]

    def done_count(self) -> int:
        return sum(1 for record in self.records if is_accepted(record))

    def undo_depth(self) -> int:
        return len(self._undo)

    # -- changing

    def set_stance(self, record_id: str, stance: str) -> str | None:
        if stance not in STANCES:
            raise ValueError(stance)
        record = self.by_id[record_id]
        targets = record.get("targets", [])
        if stance == NEUTRAL or not isinstance(targets, list):
            targets = []
        if record.get("stance") == stance and record.get("targets") == targets:
            return None
        self._edit(record, stance, list(targets))
        return None

    def toggle_target(self, record_id: str, target: str) -> str | None:
        if target not in TARGETS:
            raise ValueError(target)
        record = self.by_id[record_id]
        stance = record.get("stance")
        if stance is None:
            return "set a stance first (b or d)"
        if stance == NEUTRAL:
            return "neutral sentences have no targets: press b or d first"
        targets = record.get("targets", [])
        if not isinstance(targets, list):
            targets = []
        self._edit(record, stance, with_target_toggled(targets, target))
        return None

    def accept(self, record_id: str) -> str | None:
        record = self.by_id[record_id]
        problem = acceptance_problem(record)
        if problem:
            return problem
        if is_accepted(record) and record.get("reviewed_by") == self.reviewer:
            return None
        now = self.clock()
        state = record_state(record)
        state.update(reviewed_by=self.reviewer, reviewed_at=now, review_status=ACCEPTED)
        if state["targets"] is None:
            state["targets"] = []
        self._commit(record, "accept", state, now)
        return None

    def undo(self) -> str | None:
        """Undo the last change of this session; returns the id of the record it restored."""
        if not self._undo:
            return None
        record_id, previous = self._undo[-1]
        self._commit(self.by_id[record_id], "undo", previous, self.clock())
        self._undo.pop()
        return record_id

    def _edit(self, record: Record, stance: str, targets: list[str]) -> None:
        now = self.clock()
        state = record_state(record)
        state.update(
            stance=stance, targets=targets, reviewed_by=self.reviewer, reviewed_at=now, review_status=EDITED
        )
        self._commit(record, "set", state, now)

    def _commit(self, record: Record, action: str, state: State, time: str) -> None:
        event = make_event(record["id"], action, state, self.reviewer, time)
        self.journal.append(event)  # durable before anything changes in memory
        previous = record_state(record)
        apply_state(record, state)
        if action != "undo":
            self._undo.append((record["id"], previous))
        self.pending += 1
        if self.pending >= self.merge_every:
            self.merge()

    # -- saving

    def _file_signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def merge(self) -> bool:
        """Rewrite the file with every change so far, then empty the journal. Returns whether
        it wrote. The journal is emptied only after the new file is safely in place."""
        if self.pending == 0:
            return False
        if self._file_signature() != self._signature:
            raise PipelineError(
                f"{self.path} changed on disk while it was open for review; your corrections are "
                f"kept in {self.journal.path} and are applied when you open the file again"
            )
        try:
            mode = self.path.stat().st_mode & 0o7777
            # A deliberate in-place rewrite: no `inputs`, so write_jsonl allows output == input.
            write_jsonl(self.path, self.records)
            with contextlib.suppress(OSError):
                os.chmod(self.path, mode)
            _fsync_folder(self.path.parent)
        except OSError as exc:
            raise PipelineError(
                f"{self.path}: could not save ({exc.strerror}); "
                f"your corrections are kept in {self.journal.path}"
            ) from None
        self._signature = self._file_signature()
        self.journal.truncate()
        self.pending = 0
        self.merges += 1
        return True

    def close(self) -> None:
        """Merge what is pending and release the journal. Safe to call twice."""
        if self._closed:
            return
        try:
            self.merge()
        finally:
            self._closed = True
            self.journal.close()


def current_records(path: str | Path) -> list[tuple[int, Record]]:
    """The records of a file as a review session would see them, read-only: the file with its
    journal (if any) replayed in memory. Takes no lock and writes nothing, so it can run while
    a session has the file open. A torn last journal line is ignored."""
    path = Path(path)
    numbered = list(read_jsonl(path))
    _check_records(path, numbered)
    journal = journal_path(path)
    if not journal.exists() or journal.stat().st_size == 0:
        return numbered
    with open(journal, "rb") as handle:
        data = handle.read()
    torn_line = data.count(b"\n") + 1 if not data.endswith(b"\n") else None
    events: list[tuple[int, Record]] = []
    try:
        for line_no, event in read_jsonl(journal):
            problem = _event_problem(event)
            if problem:
                raise InputError(journal, f"not a review journal event ({problem})", line_no)
            events.append((line_no, event))
    except InputError as exc:
        if torn_line is None or exc.line != torn_line:
            raise
    replay({record["id"]: record for _, record in numbered}, events, journal)
    return numbered
