"""Offset-exact sentence segmentation with blog / comment-thread structure.

Everything here is pure: text in, sentence records out. The invariant, tested with
hypothesis, is ``text[record["start"]:record["end"]] == record["text"]`` for every record.

Two layers:

* ``split_sentences(text, start, end)`` finds sentence spans inside one block of prose
  (our own rules: abbreviations, initials, quotes, ellipses, URLs, numbers, missing spaces).
* ``segment_document(doc_id, text)`` walks the lines of a page, recognises the structure a
  plain-text web page carries (titles, bylines, dates, "X said...", comment headers, share
  and cookie lines), assigns each sentence its section, comment index, author and timestamp,
  and flags boilerplate rather than dropping it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from .records import Record, sentence_id

# Sentences longer than this are cut at a space: a run-on comment or a 1 MB line must not
# become one record that no model can read.
MAX_SENTENCE_CHARS = 1500

ABBREVIATIONS = frozenset(
    """mr mrs ms dr cllr st no nos prof rev revd sr jr sir hon rt lt col gen capt sgt insp supt
    det cmdr vs v approx est dept govt co ltd inc plc corp bros jan feb mar apr jun jul aug sep
    sept oct nov dec mon tue tues wed thu thur thurs fri sat sun fig figs vol pp p para paras
    ch cf al ave rd etc""".split()  # noqa: SIM905
)
# Abbreviations that often end a sentence: they end one when the next word is capitalised.
SENTENCE_FINAL_ABBREVIATIONS = frozenset({"etc", "inc", "ltd", "plc", "co", "al"})
# Abbreviations that only count as such before a number ("No. 10", "p. 4").
NUMERIC_ABBREVIATIONS = frozenset(
    {"no", "nos", "p", "pp", "vol", "fig", "figs", "para", "paras", "ch", "art", "arts", "sch", "reg", "regs",
     "cl", "sec", "pt", "tel"}
)

_TERMINATOR = re.compile(r"[.!?\u2026]+")
_CLOSERS = "\"'\u2019\u201d)]}\u00bb"
_OPENERS = "\"'\u2018\u201c([{\u00ab"
_URLISH = re.compile(r"(?:https?://|www\.|@|\.(?:com|org|net|uk|gov|html?|php)\b)", re.I)


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def _word_before(text: str, index: int, floor: int) -> str:
    """The run of non-space characters ending just before ``index``."""
    i = index
    while i > floor and not text[i - 1].isspace():
        i -= 1
    return text[i:index]


def _is_boundary(text: str, term_start: int, term_end: int, floor: int, ceiling: int) -> int | None:
    """Decide whether the terminator text[term_start:term_end] ends a sentence.

    Returns the end offset of the sentence (after closing quotes) or None.
    """
    marks = text[term_start:term_end]
    end = term_end
    while end < ceiling and text[end] in _CLOSERS:
        end += 1
    if end >= ceiling:
        return end
    following = text[end]
    word = _word_before(text, term_start, floor)
    bare = word.lstrip(_OPENERS).lower()

    if not following.isspace():
        # No space after the mark: only a boundary in the "follows.Then" case, never inside
        # URLs, e-mail addresses, numbers (3.5, £1.2m) or dotted abbreviations (e.g.).
        if marks != "." and marks[-1] in "!?" and following.isalpha() and following.isupper():
            return end
        if marks != "." or not following.isupper():
            return None
        after = text[end : min(ceiling, end + 30)]
        next_word = re.match(r"[A-Z][a-z]+" if text[term_end:end] == "" else r"[A-Z][A-Za-z]+", after)
        if not next_word or len(bare) < 2 or not bare.isalpha() or _URLISH.search(word + after):
            return None
        if bare in ABBREVIATIONS:
            return None
        return end

    # Find the next non-space character.
    nxt = end
    while nxt < ceiling and text[nxt].isspace():
        nxt += 1
    if nxt >= ceiling:
        return end
    next_char = text[nxt]
    next_word_match = re.match(r"\S+", text[nxt:ceiling])
    next_word = next_word_match.group(0) if next_word_match else ""

    if marks == ".":
        if bare in NUMERIC_ABBREVIATIONS:
            if next_char.isdigit():
                return None
        elif bare in ABBREVIATIONS and (bare not in SENTENCE_FINAL_ABBREVIATIONS or not next_char.isupper()):
            return None
        # Initials: "J. Smith", "Dr J. R. Hartley".
        if len(bare) == 1 and bare.isalpha() and word[-1:].isupper():
            return None
        # Dotted abbreviations: e.g. i.e. a.m. -- boundary only before a capital. Capital
        # initials written together go with what follows, like "J. Smith": "J.K. Rowling".
        if re.fullmatch(r"(?:[a-z]\.){1,3}[a-z]", bare, re.I) and (
            word.lstrip(_OPENERS).isupper()
            or not (next_char.isupper() and bare.lower() not in {"e.g", "i.e", "cf", "viz"})
        ):
            return None
    # A lower-case continuation is not a new sentence ("Why?" she asked; "wait... what").
    if next_char.islower():
        return None
    if next_char.isdigit() and marks == "." and len(bare) <= 1:
        # "s. 47", "c. 1900" and "1. 2. 3." go on; "No. 10" and "p. 4" are caught above.
        # A longer word ends a sentence even before a number: "in 2008. 16 people died".
        return None
    if next_char in ",;:":
        return None
    if not (next_char.isupper() or next_char.isdigit() or next_char in _OPENERS or not next_char.isalnum()):
        return None
    del next_word
    return end


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cut_long(text: str, start: int, end: int) -> list[Span]:
    """Cut an over-long span at spaces (preferring after a comma or dash)."""
    spans = []
    while end - start > MAX_SENTENCE_CHARS:
        window = text[start : start + MAX_SENTENCE_CHARS]
        cut = max(window.rfind(", "), window.rfind(" - "), window.rfind("; "))
        if cut < MAX_SENTENCE_CHARS // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = MAX_SENTENCE_CHARS - 1
        piece_end = start + cut + 1
        s, e = _trim(text, start, piece_end)
        if e > s:
            spans.append(Span(s, e))
        start = piece_end
        start, end = _trim(text, start, end)
    if end > start:
        spans.append(Span(start, end))
    return spans


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans inside text[start:end], trimmed of surrounding white space."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    sentence_start = start
    for match in _TERMINATOR.finditer(text, start, end):
        boundary = _is_boundary(text, match.start(), match.end(), sentence_start, end)
        if boundary is None:
            continue
        s, e = _trim(text, sentence_start, boundary)
        if e > s:
            spans.extend(_cut_long(text, s, e))
        sentence_start = boundary
    s, e = _trim(text, sentence_start, end)
    if e > s:
        spans.extend(_cut_long(text, s, e))
    return spans


# ---------------------------------------------------------------------------------------------
# page structure

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAYS = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
_TIME = r"\d{1,2}[:.]\d{2}\s*(?:[ap]\.?m\.?)?"
_DATE = (
    rf"(?:{_DAYS},?\s+)?(?:{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})"
)
DATE_LINE = re.compile(rf"^\s*(?:{_TIME},?\s*)?{_DATE}(?:,?\s*(?:at\s+)?{_TIME})?\s*$", re.I)
DATE_ANYWHERE = re.compile(rf"(?:{_TIME},?\s*)?{_DATE}(?:,?\s*(?:at\s+)?{_TIME})?", re.I)

# "Anonymous said...", "Blogger Mark Still News said...", "Jane Doe says:", "Posted by X at 10:32"
SAID_LINE = re.compile(
    r"^\s*(?P<author>[^\n]{1,80}?)\s+(?:said|says|wrote|writes)\s*(?:\.\.\.|…|:)\s*$", re.I
)
POSTED_BY_LINE = re.compile(
    r"^\s*(?:posted|written|published)\s+by\s+(?P<author>.{1,60}?)(?:\s+(?:at|on)\s+(?P<when>.*?))?\s*$",
    re.I,
)
BYLINE = re.compile(
    r"^\s*(?:by\s+[A-Z][^\n]{0,160}"
    # "By Daniel Okafor" / "By Jane Marsh, Political Editor": capitalised "By" only before a name,
    # so "By Christmas the council had..." stays a sentence.
    r"|By\s+(?:[A-Z][\w'’-]+\s+){0,3}[A-Z][\w'’-]+(?:\s*[,|]\s*[^\n]{0,80})?)\s*$"
)
COMMENTS_HEADER = re.compile(
    r"^\s*(?:\d+|no|one|two)\s+(?:comments?|responses?|replies|thoughts?\s+on\b.*)\s*:?\s*$"
    r"|^\s*comments?\s*\(\d+\)\s*$|^\s*(?:leave a (?:reply|comment)|comments?)\s*:?\s*$",
    re.I,
)
NUMBERED_COMMENT = re.compile(r"^\s{1,}(?P<number>\d{1,3})\.\s+(?=\S)")
LIST_MARKER = re.compile(r"^\s*(?:[-*\u2022\u2013]\s+|\d{1,3}[.)]\s+|\([a-z0-9]\)\s+)")
BOILERPLATE_LINE = re.compile(
    r"cookie|^\s*(?:post a comment|<< ?home|home|reply|share(?: this)?|tweet|like|report|"
    r"newer post|older post|subscribe to:.*|permalink|this comment has been removed by .*|"
    r"tags?:.*|categories?:.*|filed under:?.*|posted in .*|labels?:.*|all posts tagged .*|"
    r"click here.*|free hit counters?|read more.*|continue reading.*|related (?:posts|articles):?.*|"
    r"(?:top posts|tag cloud|our blogs|archives?|recent posts|recent comments)\b.*|"
    r"this (?:post|article) was first published .*|welcome to our blogs!?|got a bee in your bonnet\??|"
    r"comments?\(\d+\)|no comments?:?|\d+ comments?:?|share on .*|print this.*)\s*$"
    r"|>>>\s*$|\.(?:docx?|pdf|xlsx?|pptx?)\s*\([\d.,]+\s*[kKmM][bB]\)\s*$|^\s*\S+@\S+\.\S+\s*$|^\s*https?://\S+\s*$",
    re.I,
)


FOOTER_START = re.compile(
    r"^\s*(?:post a comment|leave a (?:reply|comment)|add (?:a|your) comment)\s*$", re.I
)
DATE_LEAD = re.compile(rf"^\s*{_DATE}", re.I)


def parse_timestamp(raw: str) -> str | None:
    """An ISO 8601 string for a date/time shown on a page, or None if it cannot be read."""
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", raw.strip())
    cleaned = re.sub(r"\b(a|p)\.m\.?", r"\1m", cleaned, flags=re.I)
    cleaned = re.sub(r"\s+", " ", cleaned.replace(",", " ")).strip()
    cleaned = re.sub(r"\bat\b", "", cleaned).strip()
    cleaned = re.sub(r"\s+", " ", cleaned)
    cleaned = re.sub(r"\bSept\b", "Sep", cleaned)
    formats = []
    for date in ("%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y", "%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"):
        for day in ("", "%A ", "%a "):
            formats.append(day + date)
    with_time = []
    for fmt in formats:
        with_time += [
            f"%I:%M %p {fmt}", f"%I:%M%p {fmt}", f"%H:%M {fmt}", f"{fmt} %I:%M %p", f"{fmt} %H:%M", fmt
        ]
    for fmt in with_time:
        try:
            parsed = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        if "%H" in fmt or "%I" in fmt:
            return parsed.strftime("%Y-%m-%dT%H:%M")
        return parsed.strftime("%Y-%m-%d")
    return None


@dataclass
class _Line:
    start: int
    end: int  # without the newline

    def text(self, source: str) -> str:
        return source[self.start : self.end]


def _lines(text: str) -> list[_Line]:
    lines = []
    position = 0
    for match in re.finditer(r"\r\n|\r|\n", text):
        lines.append(_Line(position, match.start()))
        position = match.end()
    lines.append(_Line(position, len(text)))
    return lines


def _next_line_is_meta(text: str, lines: list[_Line], j: int) -> bool:
    while j < len(lines) and not lines[j].text(text).strip():
        j += 1
    if j >= len(lines):
        return False
    following = lines[j].text(text)
    return bool(BYLINE.match(following) or DATE_LINE.match(following) or DATE_LEAD.match(following))


def _looks_like_heading(line: str) -> bool:
    stripped = line.strip()
    words = stripped.split()
    # A quoted sentence ends inside its quotes: '"We did all we could."' is not a heading.
    core = stripped.rstrip("\"'\u201d\u2019)]") or stripped
    return (
        0 < len(words) <= 16
        and core[-1] not in ".!,;:\u2026"
        and not core.endswith("...")
        and (stripped[0].isupper() or stripped[0].isdigit() or stripped[0] in _OPENERS)
    )


def _wraps(previous: str, following: str) -> bool:
    """True when a single newline is a hard wrap inside a sentence, not a boundary."""
    prev = previous.rstrip()
    nxt = following.lstrip()
    if not prev or not nxt or LIST_MARKER.match(following):
        return False
    if not prev.strip("-\u2013\u2014 "):
        return False  # a "--" signature separator is a line of its own
    return (prev[-1].isalpha() and prev[-1].islower() or prev[-1] in ",;-(") and nxt[0].islower()


@dataclass
class _State:
    section: str = "post"
    comment_index: int | None = None
    author: str | None = None
    timestamp: str | None = None
    in_comments: bool = False
    seen_body: bool = False
    in_footer: bool = False


def segment_document(doc_id: str, text: str) -> list[Record]:
    """Sentence records for one document, in reading order, with structure fields."""
    lines = _lines(text)
    state = _State()
    units: list[tuple[Span, bool, _State]] = []  # (span, boilerplate, state snapshot)

    def snapshot() -> _State:
        return _State(state.section, state.comment_index, state.author, state.timestamp,
                      state.in_comments, state.seen_body, state.in_footer)

    def start_comment(author: str | None) -> None:
        state.in_comments = True
        state.section = "comment"
        state.comment_index = 0 if state.comment_index is None else state.comment_index + 1
        state.author = author
        state.timestamp = None

    def add_line(span: Span, boilerplate: bool, snap: _State) -> None:
        # A line kept whole (boilerplate, a heading) obeys the same length cap as a sentence.
        for piece in _cut_long(text, span.start, span.end):
            units.append((piece, boilerplate, snap))

    i = 0
    while i < len(lines):
        line = lines[i]
        raw = line.text(text)
        stripped = raw.strip()
        if not stripped:
            i += 1
            continue
        span = Span(*_trim(text, line.start, line.end))

        if FOOTER_START.match(raw):
            # "Post a Comment" ends the thread: what follows is page furniture.
            state.in_footer = True
            state.section, state.comment_index, state.author, state.timestamp = "post", None, None, None
        if state.in_footer and not BYLINE.match(raw):
            add_line(span, True, snapshot())
            i += 1
            continue
        led_by_date = DATE_LEAD.match(raw)
        if led_by_date and len(stripped.split()) <= 12 and not _TERMINATOR.search(stripped[-1]):
            # "12 May 2011 at 10:32 am" keeps its time; "Oct 06, 2017 Shaking Hands" its date.
            lead = led_by_date.group(0)
            state.timestamp = parse_timestamp(stripped) or parse_timestamp(lead) or lead.strip()
            add_line(span, True, snapshot())
            i += 1
            continue
        said = SAID_LINE.match(raw)
        posted = POSTED_BY_LINE.match(raw)
        if said and len(said.group("author").split()) <= 8:
            start_comment(_blogger_author(said.group("author")))
            add_line(span, True, snapshot())
            i += 1
            continue
        if COMMENTS_HEADER.match(raw):
            state.in_comments = True
            add_line(span, True, snapshot())
            i += 1
            continue
        if DATE_LINE.match(raw):
            when = parse_timestamp(stripped) or stripped
            # Blogger prints a comment's time after it; _fill_comment_fields spreads it back.
            if not (state.section == "comment" and state.timestamp is not None):
                state.timestamp = when
            add_line(span, True, snapshot())
            i += 1
            continue
        if posted:
            author = posted.group("author").strip()
            when = posted.group("when")
            stamp = (parse_timestamp(when) or when) if when else None
            if state.in_comments:
                if state.section == "comment" and state.author is None:
                    state.author = author
                else:
                    start_comment(author)
            elif state.seen_body and _body_has_author(units):
                # The post above already names its writer, so this line heads the next post
                # of a thread (forums print "Posted by X on DATE" above each reply).
                start_comment(author)
            elif state.seen_body:
                # A post footer ("Posted by X at 10:32 AM" under a Blogger post) names the writer
                # of the post above it, not a new comment: give it to that post's records.
                dated = state.timestamp and re.fullmatch(r"\d{4}-\d{2}-\d{2}", state.timestamp)
                if when and stamp == when and dated:
                    # Blogger heads a post with its date and ends it with the time alone.
                    stamp = parse_timestamp(f"{when} {state.timestamp}") or when
                for _, _, earlier in reversed(units):
                    if earlier.section == "comment" or earlier.author is not None:
                        break
                    earlier.author = author
                    if stamp and (earlier.timestamp is None or stamp.startswith(earlier.timestamp)):
                        earlier.timestamp = stamp
                state.author = author
                state.timestamp = stamp or state.timestamp
                add_line(span, True, snapshot())
                state.author = None  # a following post names its own writer
                i += 1
                continue
            else:
                state.author = author
            if stamp:
                state.timestamp = stamp
            add_line(span, True, snapshot())
            i += 1
            continue
        byline = BYLINE.match(raw)
        if byline and not state.in_comments and len(stripped.split()) <= 20:
            # A post byline: a new post starts here, possibly after earlier posts.
            found = DATE_ANYWHERE.search(stripped)
            state.section = "post"
            # "by Paul on Politics, by political editor Paul Francis ..." names the writer last.
            named = stripped[: found.start() if found else None]
            state.author = re.split(r"\bby\s+", named)[-1].strip(" ,") or None
            if found:
                state.timestamp = parse_timestamp(found.group(0)) or found.group(0)
            # The post's title stands just above its byline: give it this post's fields.
            for index in range(len(units) - 1, -1, -1):
                if units[index][2].section != "title":
                    break
                units[index][2].author, units[index][2].timestamp = state.author, state.timestamp
            add_line(span, True, snapshot())
            i += 1
            continue
        if BOILERPLATE_LINE.search(raw) and len(stripped) < 200:
            add_line(span, True, snapshot())
            i += 1
            continue

        numbered = NUMBERED_COMMENT.match(raw) if state.in_comments else None
        if numbered:
            start_comment(None)
            span = Span(*_trim(text, line.start + numbered.end(), line.end))

        # Gather a paragraph: following lines that are hard wraps of this one.
        block_end = line.end
        j = i + 1
        while j < len(lines) and _wraps(text[lines[j - 1].start : lines[j - 1].end], lines[j].text(text)):
            block_end = lines[j].end
            j += 1
        block_text = text[span.start : block_end]
        listed = LIST_MARKER.match(raw) if not numbered else None
        if listed and not raw[listed.end() :].strip():
            listed = None  # a line that is only "-" or "1." keeps its text
        heading = j == i + 1 and not state.in_comments and not listed and _looks_like_heading(block_text)
        if heading and block_text.rstrip().endswith("?"):
            # A question is a title only where a title stands: first on the page, or
            # straight after a date or byline, or straight before one.
            heading = (
                not units or units[-1][1] or _next_line_is_meta(text, lines, j)
            ) and len(split_sentences(block_text)) == 1
        if heading:
            snap = snapshot()
            snap.section = "title"
            add_line(span, False, snap)
        else:
            if not state.in_comments:
                state.section = "post"
            state.seen_body = True
            # The list marker ("- ", "2) ") is not part of the sentence.
            block_start = line.start + listed.end() if listed else span.start
            for sentence in split_sentences(text, block_start, block_end):
                units.append((sentence, False, snapshot()))
        i = j

    records: list[Record] = []
    for ordinal, (span, boilerplate, snap) in enumerate(units):
        record: Record = {
            "id": sentence_id(doc_id, ordinal),
            "doc_id": doc_id,
            "start": span.start,
            "end": span.end,
            "text": text[span.start : span.end],
            "section": snap.section,
            "comment_index": snap.comment_index if snap.section == "comment" else None,
            "author": snap.author,
            "timestamp": snap.timestamp,
            "boilerplate": boilerplate,
        }
        records.append(record)
    _fill_comment_fields(records)
    return records


def _body_has_author(units: list) -> bool:
    """Whether the most recent body sentence (not boilerplate, not a title) has an author."""
    for _, boilerplate, snap in reversed(units):
        if not boilerplate and snap.section != "title":
            return snap.author is not None
    return False


def _blogger_author(raw: str) -> str:
    """Blogger prints its avatar's alt text before the name: "Blogger X", "Anonymous Anonymous"."""
    name = re.sub(r"\s+", " ", raw).strip()
    for avatar in ("Blogger ", "Anonymous "):
        if name.startswith(avatar) and len(name) > len(avatar):
            return name[len(avatar):]
    return name


def _fill_comment_fields(records: list[Record]) -> None:
    """Give every record of a comment the author and timestamp shown anywhere in it."""
    by_comment: dict[int, list[Record]] = {}
    for record in records:
        if record["section"] == "comment" and record["comment_index"] is not None:
            by_comment.setdefault(record["comment_index"], []).append(record)
    for group in by_comment.values():
        author = next((r["author"] for r in group if r["author"]), None)
        timestamp = next((r["timestamp"] for r in group if r["timestamp"]), None)
        for record in group:
            record["author"] = author
            record["timestamp"] = timestamp
