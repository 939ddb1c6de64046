"""The terminal interface of `pipeline review` (Textual).

All state lives in a `journal.ReviewSession`; this module only shows it and turns keys into
session calls. Every change is in the journal before the screen shows it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Label, Static

from ..errors import PipelineError
from ..records import NEUTRAL, STANCES, TARGETS, Record
from .journal import ACCEPTED, EDITED, ReviewSession, is_accepted
from .ordering import (
    disagrees,
    label_issues,
    model_prediction,
    review_order,
    stance_scores,
    target_scores,
)

STANCE_KEYS = {"blame": "b", "defend": "d", "neutral": "n"}
STANCE_STYLES = {
    "blame": "bold white on red3",
    "defend": "bold white on green4",
    "neutral": "bold white on grey39",
}
STANCE_COLOURS = {"blame": "red3", "defend": "green4", "neutral": "grey50"}
CONTEXT = 2  # sentences shown before and after

HELP = """\
[b]pipeline review[/b] — every key press is saved at once

  [b]b[/b] / [b]d[/b] / [b]n[/b]     set the stance: blame, defend, neutral (neutral clears targets)
  [b]1[/b] … [b]5[/b]         toggle a target: 1 councillors, 2 managers, 3 social_workers,
                  4 inspectors, 5 government
  [b]a[/b] or [b]enter[/b]    accept: mark the record reviewed and go to the next unreviewed one
  [b]u[/b]             undo the last change of this session (stance, target or accept)
  [b]s[/b]             skip to the next unreviewed record (it stays unreviewed)
  [b]←[/b] / [b]→[/b]         previous / next record in the review order
  [b]/[/b]             search the text (enter on an empty search repeats the last one)
  [b]g[/b]             go to a record by id (a unique end of an id is enough)
  [b]?[/b]             this help
  [b]q[/b]             save into the file and quit

Changes go to FILE.jsonl.journal the moment they are made and are merged into FILE.jsonl
every few changes and on quit. If the program is killed, open the file again: nothing is
lost and you resume at the first unreviewed record of the chosen order.

Press any key to close this help."""


def _stance_text(stance: str | None) -> Text:
    if stance is None:
        return Text("unlabelled", style="italic grey50")
    return Text(f" {stance} ", style=STANCE_STYLES.get(stance, "bold reverse"))


def _targets_label(targets) -> str:
    if not isinstance(targets, list) or not targets:
        return "no targets"
    return ", ".join(str(t) for t in targets)


def _bar(p: float, width: int = 20) -> str:
    filled = p * width
    whole = int(filled)
    return "█" * whole + ("▌" if filled - whole >= 0.5 else "")


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Static { width: 96; height: auto; padding: 1 2; border: round $accent; background: $panel; }
    """

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help")

    def on_key(self, event) -> None:
        event.stop()
        self.dismiss(None)


class AskScreen(ModalScreen[str | None]):
    """One line of input: enter returns it, escape returns None."""

    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen > Vertical { width: 80; height: auto; padding: 1 2; border: round $accent; background: $panel; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, prompt: str, placeholder: str = ""):
        super().__init__()
        self.prompt = prompt
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.prompt)
            yield Input(placeholder=self.placeholder, id="ask")

    def on_mount(self) -> None:
        self.query_one("#ask", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Body(VerticalScroll, can_focus=False):
    pass


class ReviewScreen(Screen):
    BINDINGS = [
        Binding("b", "stance('blame')", "blame", show=False),
        Binding("d", "stance('defend')", "defend", show=False),
        Binding("n", "stance('neutral')", "neutral", show=False),
        *[Binding(str(i + 1), f"toggle({i})", target, show=False) for i, target in enumerate(TARGETS)],
        Binding("a", "accept", "accept"),
        Binding("enter", "accept", "accept", show=False),
        Binding("u", "undo", "undo"),
        Binding("s", "skip", "skip"),
        Binding("left", "move(-1)", "prev", show=False),
        Binding("right", "move(1)", "next", show=False),
        Binding("slash", "search", "search"),
        Binding("g", "jump", "go to id"),
        Binding("question_mark", "help", "help"),
        Binding("q", "quit", "quit"),
    ]

    DEFAULT_CSS = """
    ReviewScreen { layout: vertical; }
    #top { height: 1; background: $primary; color: $text; padding: 0 1; }
    #body { height: 1fr; }
    #context { padding: 0 1; margin: 0 1; border: round $secondary; height: auto; }
    #meta { padding: 0 2; height: auto; color: $text-muted; }
    #labels { padding: 0 2; margin-top: 1; height: auto; }
    #model { padding: 0 2; margin-top: 1; height: auto; }
    #status { height: auto; max-height: 3; background: $panel; padding: 0 1; }
    """

    def __init__(self, session: ReviewSession, order: str = "file", use_cleanlab: bool = True):
        super().__init__()
        self.session = session
        self.order_name = order
        records = session.records
        self.issues = label_issues(records, use_cleanlab=use_cleanlab) if order == "errors" else {}
        self.order, self.order_note = review_order(
            records, order, use_cleanlab=use_cleanlab, issues=self.issues
        )
        self.rank = {index: rank for rank, index in enumerate(self.order)}
        self.pos = self._first_unreviewed()
        self.last_search = ""
        self.last_notice = ""
        self.docs: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            self.docs.setdefault(str(record.get("doc_id")), []).append(i)
        for members in self.docs.values():
            if all(isinstance(records[i].get("start"), int) for i in members):
                members.sort(key=lambda i: (records[i]["start"], i))

    # -- layout

    def compose(self) -> ComposeResult:
        yield Static(id="top")
        with Body(id="body"):
            yield Static(id="context")
            yield Static(id="meta")
            yield Static(id="labels")
            yield Static(id="model")
        yield Static(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()
        session = self.session
        if session.replayed:
            self.notice(f"recovered {session.replayed} change(s) from the journal; they are in the file now")
        if self.order_note and self.order_name != "file":
            self.notice(self.order_note)
        if session.done_count() == len(session.records):
            self.notice("every record is reviewed already")

    # -- helpers

    @property
    def record(self) -> Record:
        return self.session.records[self.order[self.pos]]

    def notice(self, message: str, severity: str = "information") -> None:
        self.last_notice = message
        self.app.notify(message, severity=severity, markup=False, timeout=4)

    def _first_unreviewed(self, start: int = 0, exclude_current: bool = False) -> int:
        """Position of the first unreviewed record at or after `start` (wrapping round)."""
        records, n = self.session.records, len(self.order)
        for step in range(n):
            pos = (start + step) % n
            if exclude_current and step == 0:
                continue
            if not is_accepted(records[self.order[pos]]):
                return pos
        return start % n if n else 0

    def go_to_index(self, index: int) -> None:
        self.pos = self.rank[index]
        self.refresh_view()

    def _run(self, change: Callable[[], str | None]) -> bool:
        try:
            problem = change()
        except PipelineError as exc:
            self.notice(str(exc), severity="error")
            self.refresh_view()
            return False
        if problem:
            self.notice(problem, severity="warning")
            return False
        self.refresh_view()
        return True

    # -- actions

    def action_stance(self, stance: str) -> None:
        record_id = self.record["id"]
        self._run(lambda: self.session.set_stance(record_id, stance))

    def action_toggle(self, number: int) -> None:
        record_id = self.record["id"]
        self._run(lambda: self.session.toggle_target(record_id, TARGETS[number]))

    def action_accept(self) -> None:
        record_id = self.record["id"]
        if not self._run(lambda: self.session.accept(record_id)):
            return
        if self.session.done_count() == len(self.session.records):
            self.notice(f"all {len(self.session.records)} records reviewed: press q to save and quit")
            self.refresh_view()
            return
        self.pos = self._first_unreviewed(self.pos, exclude_current=True)
        self.refresh_view()

    def action_undo(self) -> None:
        try:
            record_id = self.session.undo()
        except PipelineError as exc:
            self.notice(str(exc), severity="error")
            return
        if record_id is None:
            self.notice("nothing to undo in this session")
            return
        self.notice(f"undone: {record_id}")
        self.go_to_index(self.session.index(record_id))

    def action_skip(self) -> None:
        pos = self._first_unreviewed(self.pos, exclude_current=True)
        self.pos = pos if pos != self.pos else (self.pos + 1) % len(self.order)
        self.refresh_view()

    def action_move(self, step: int) -> None:
        self.pos = min(max(self.pos + step, 0), len(self.order) - 1)
        self.refresh_view()

    def action_search(self) -> None:
        prompt = "Search text" + (f" (enter repeats “{self.last_search}”)" if self.last_search else "")
        self.app.push_screen(AskScreen(prompt, "words to find"), self.search)

    def search(self, query: str | None) -> None:
        if query is None:
            return
        query = query.strip() or self.last_search
        if not query:
            return
        self.last_search = query
        needle = query.casefold()
        records, n = self.session.records, len(self.order)
        for step in range(1, n + 1):
            pos = (self.pos + step) % n
            if needle in records[self.order[pos]]["text"].casefold():
                self.pos = pos
                self.refresh_view()
                return
        self.notice(f"no sentence contains “{query}”", severity="warning")

    def action_jump(self) -> None:
        self.app.push_screen(AskScreen("Go to id", "e.g. 003_18ea1f2705babb27:0026 or 0026"), self.jump)

    def jump(self, wanted: str | None) -> None:
        if not wanted or not wanted.strip():
            return
        wanted = wanted.strip()
        session = self.session
        if wanted in session.by_id:
            self.go_to_index(session.index(wanted))
            return
        matches = [r["id"] for r in session.records if r["id"].endswith(wanted)]
        if len(matches) == 1:
            self.go_to_index(session.index(matches[0]))
        elif matches:
            self.notice(f"{len(matches)} ids end with “{wanted}”; type more of it", severity="warning")
        else:
            self.notice(f"no record with id “{wanted}”", severity="warning")

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen())

    def action_quit(self) -> None:
        self.app.exit()

    # -- drawing

    def refresh_view(self) -> None:
        self.query_one("#top", Static).update(self._draw_top())
        self.query_one("#context", Static).update(self._draw_context())
        self.query_one("#meta", Static).update(self._draw_meta())
        self.query_one("#labels", Static).update(self._draw_labels())
        self.query_one("#model", Static).update(self._draw_model())
        self.query_one("#status", Static).update(self._draw_status())

    def _draw_top(self) -> Text:
        session = self.session
        text = Text()
        text.append(f"pipeline review  {session.path.name}", style="bold")
        text.append(f"   order: {self.order_name}   reviewer: {session.reviewer}")
        text.append("   saved ✓" if session.pending == 0 else f"   journalled ✓ ({session.pending} to merge)")
        return text

    def _draw_context(self) -> Text:
        records = self.session.records
        index = self.order[self.pos]
        members = self.docs[str(records[index].get("doc_id"))]
        at = members.index(index)
        text = Text()
        for i in members[max(0, at - CONTEXT) : at]:
            text.append_text(self._draw_context_line(records[i]))
            text.append("\n")
        record = records[index]
        text.append("▶ ", style="bold")
        text.append(record["text"], style="bold")
        if record.get("boilerplate"):
            text.append("  [boilerplate]", style="italic grey50")
        for i in members[at + 1 : at + 1 + CONTEXT]:
            text.append("\n")
            text.append_text(self._draw_context_line(records[i]))
        return text

    def _draw_context_line(self, record: Record) -> Text:
        stance = record.get("stance")
        line = Text("  ")
        line.append(record["text"], style="grey62")
        if stance is not None:
            line.append(f"  ·{stance}", style=STANCE_COLOURS.get(stance, "grey50"))
        return line

    def _draw_meta(self) -> Text:
        record = self.record
        parts = [f"id {record['id']}", f"doc {record.get('doc_id')}", f"section {record.get('section', '?')}"]
        if record.get("comment_index") is not None:
            parts.append(f"comment {record['comment_index']}")
        if record.get("author"):
            parts.append(f"by {record['author']}")
        if record.get("timestamp"):
            parts.append(str(record["timestamp"]))
        if record.get("boilerplate"):
            parts.append("boilerplate")
        return Text("  ·  ".join(parts))

    def _draw_labels(self) -> Text:
        record = self.record
        stance = record.get("stance")
        targets = record.get("targets") if isinstance(record.get("targets"), list) else []
        text = Text()
        text.append("Stance   ", style="bold")
        for option in STANCES:
            key = STANCE_KEYS[option]
            if option == stance:
                text.append(f" {key} {option} ", style=STANCE_STYLES[option])
            else:
                text.append(f" {key} {option} ", style="grey50")
            text.append("  ")
        if stance is None:
            text.append("(unlabelled)", style="italic yellow")
        elif stance not in STANCES:
            text.append(f"(unknown stance {stance!r})", style="bold yellow")
        text.append("\nTargets  ", style="bold")
        for i, target in enumerate(TARGETS):
            chosen = target in targets
            style = "bold black on yellow" if chosen else ("grey35" if stance == NEUTRAL else "grey50")
            text.append(f" {i + 1} {'✓' if chosen else '·'} {target} ", style=style)
            text.append(" ")
        unknown = [t for t in targets if t not in TARGETS]
        if unknown:
            text.append(f"(unknown: {', '.join(map(str, unknown))})", style="bold yellow")
        text.append("\nReview   ", style="bold")
        status = record.get("review_status")
        if status == ACCEPTED:
            text.append(
                f"✓ accepted by {record.get('reviewed_by')} at {record.get('reviewed_at')}", style="green"
            )
        elif status == EDITED:
            text.append(
                f"edited by {record.get('reviewed_by')}, not accepted yet (a / enter)", style="yellow"
            )
        else:
            text.append("not reviewed yet", style="grey50")
        return text

    def _draw_model(self) -> Text:
        record = self.record
        text = Text()
        stances = stance_scores(record)
        targets = target_scores(record)
        prediction = model_prediction(record)
        if stances is None and prediction is None:
            text.append("Model    no scores in this record", style="grey50")
            return text
        if stances is not None:
            text.append("Model    ", style="bold")
            for i, (label, p) in enumerate(zip(STANCES, stances, strict=True)):
                if i:
                    text.append("         ")
                text.append(f"{label:<8} {p:4.2f} ")
                text.append(_bar(p), style=STANCE_COLOURS[label])
                text.append("\n")
        if targets is not None:
            text.append("         " if stances is not None else "Model    ", style="bold")
            text.append("  ".join(f"{t} {p:.2f}" for t, p in zip(TARGETS, targets, strict=True)))
            text.append("\n")
        if prediction is not None:
            stance, predicted = prediction
            text.append("Predicts ", style="bold")
            text.append_text(_stance_text(stance))
            text.append(f"  {_targets_label(predicted)}")
            differs = disagrees(record)
            if differs:
                text.append("   ≠ label", style="bold red")
            elif differs is False:
                text.append("   = label", style="green")
        index = self.order[self.pos]
        if index in self.issues:
            text.append("\n")
            text.append(
                f"Likely label error (confident learning, margin {self.issues[index]:+.2f})",
                style="bold magenta",
            )
        return text

    def _draw_status(self) -> Text:
        session = self.session
        records = session.records
        stance_counts = dict.fromkeys((*STANCES, None), 0)
        target_counts = dict.fromkeys(TARGETS, 0)
        for record in records:
            stance = record.get("stance")
            stance_counts[stance if stance in STANCES else None] += 1
            for target in record.get("targets") or [] if isinstance(record.get("targets"), list) else []:
                if target in target_counts:
                    target_counts[target] += 1
        text = Text()
        text.append(f"done {session.done_count()}/{len(records)}", style="bold")
        text.append(f"  │ #{self.pos + 1} of {len(self.order)}  │ ")
        for stance in STANCES:
            text.append(f"{stance} {stance_counts[stance]}  ", style=STANCE_COLOURS[stance])
        text.append(f"unlabelled {stance_counts[None]}  │ ")
        text.append("  ".join(f"{t} {n}" for t, n in target_counts.items()))
        return text


class ReviewApp(App[None]):
    TITLE = "pipeline review"

    def __init__(self, session: ReviewSession, order: str = "file", use_cleanlab: bool = True):
        super().__init__()
        self.session = session
        self.order_name = order
        self.use_cleanlab = use_cleanlab
        self.review_screen: ReviewScreen | None = None

    def get_default_screen(self) -> Screen:
        self.review_screen = ReviewScreen(self.session, self.order_name, self.use_cleanlab)
        return self.review_screen


async def run_script(
    app: ReviewApp,
    keys: Sequence[str],
    *,
    pause: float = 0.0,
    echo: Callable[[str], None] | None = None,
    size: tuple[int, int] = (110, 36),
) -> None:
    """Drive the app headlessly with a list of Textual key names (the hidden `--script`)."""
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for number, key in enumerate(keys, start=1):
            if not app.is_running:
                break
            await pilot.press(key)
            if echo is not None:
                echo(f"pressed {number} {key}")
            if pause:
                await asyncio.sleep(pause)
