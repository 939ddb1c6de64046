"""Sentence segmentation and page structure (pipeline.segment) and the `pipeline segment` command.

Property tests check the offset invariant on random text; the tables pin down the tricky
cases by hand; the structure tests use small synthetic pages in the styles the seeds come in.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.documents import read_documents
from pipeline.records import SEGMENT_FIELDS
from pipeline.segment import MAX_SENTENCE_CHARS, parse_timestamp, segment_document, split_sentences

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

# ---------------------------------------------------------------------------------------------
# property tests

ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "      \n\n\t\r.....!!??…'\"’‘“”()[]£%@/:;,-–—&*#"
    "éüßçñøåÆΩЖ中文한국語\u00a0\u2009\u200b🙂"
)
# Pieces of real pages, so random text also meets the structure rules and the length cap.
TOKENS = [
    "Mr.", "Mrs.", "Dr.", "Cllr.", "St.", "No. 10", "e.g.", "i.e.", "etc.", "J. K. Smith", "J.K.",
    "http://www.example.co.uk/a.html", "jo.bloggs@example.com", "£1.2m", "3.5%", "1.5 per cent",
    "...", "?!", "follows.Then", "\u201cQuoted.\u201d", "(Aside.)", "\r\n", "\n\n", "  1. ", "- ",
    "Anonymous said...", "Blogger Jane Doe said...", "6:22 pm, December 10, 2008",
    "Wednesday, December 10, 2008", "16 Comments:", "Posted by Jo Bloggs at 10:32",
    "3 thoughts on \u201cTitle\u201d", "Post a Comment", "Leave a Reply", "Reply", "Tags: a, b",
    "Categories: Councils | Politics", "We use cookies on this site.",
    "by Paul on Politics, by political editor Paul Francis Monday, October 11 2010",
    "x" * (MAX_SENTENCE_CHARS + 100), "word, " * 300, "run on " * 250,
]
pieces = st.one_of(
    st.text(alphabet=ALPHABET, max_size=40),
    st.sampled_from(TOKENS),
    st.text(max_size=8),  # any code points at all
)
texts = st.lists(pieces, max_size=30).map("".join)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_well_formed(text: str, spans: list[tuple[int, int]]) -> None:
    previous_start, previous_end = -1, 0
    for start, end in spans:
        piece = text[start:end]
        assert 0 <= start < end <= len(text), (start, end)
        assert start > previous_start and start >= previous_end, "spans must increase and not overlap"
        assert piece == piece.strip(), f"surrounding white space in {piece!r}"
        assert len(piece) <= MAX_SENTENCE_CHARS
        previous_start, previous_end = start, end


@PROPERTY_SETTINGS
@given(texts)
def test_split_sentences_properties(text):
    spans = split_sentences(text)
    assert_well_formed(text, [(s.start, s.end) for s in spans])
    # No text is lost: every non-space character lies inside some sentence.
    covered = bytearray(len(text))
    for span in spans:
        covered[span.start : span.end] = b"\x01" * (span.end - span.start)
    assert all(covered[i] or ch.isspace() for i, ch in enumerate(text))
    assert split_sentences(text) == spans  # stable


@PROPERTY_SETTINGS
@given(texts, st.integers(0, 50), st.integers(0, 50))
def test_split_sentences_stays_inside_its_range(text, cut_start, cut_end):
    start, end = min(cut_start, len(text)), max(min(cut_start, len(text)), len(text) - cut_end)
    spans = split_sentences(text, start, end)
    assert_well_formed(text, [(s.start, s.end) for s in spans])
    assert all(start <= s.start and s.end <= end for s in spans)


@PROPERTY_SETTINGS
@given(texts)
def test_segment_document_properties(text):
    records = segment_document("doc", text)
    for record in records:
        assert text[record["start"] : record["end"]] == record["text"]
        assert set(record) == set(SEGMENT_FIELDS)
        assert record["doc_id"] == "doc"
        assert record["section"] in ("title", "post", "comment")
        assert (record["comment_index"] is None) == (record["section"] != "comment")
    assert_well_formed(text, [(r["start"], r["end"]) for r in records])
    ids = [r["id"] for r in records]
    assert ids == [f"doc:{n:04d}" for n in range(len(records))]
    assert len(set(ids)) == len(ids)
    assert segment_document("doc", text) == records  # same input, same output


# ---------------------------------------------------------------------------------------------
# hand-written tricky cases: split_sentences

SENTENCE_CASES = [
    # abbreviations
    ("Mr. Smith met Mrs. Jones at noon. They argued.", ["Mr. Smith met Mrs. Jones at noon.", "They argued."]),
    ("Dr. Hartley and Cllr. Brown resigned. Good.", ["Dr. Hartley and Cllr. Brown resigned.", "Good."]),
    ("Ms. Shoesmith was sacked. Prof. Munro reported later.",
     ["Ms. Shoesmith was sacked.", "Prof. Munro reported later."]),
    ("He lives on St. John's Road in Tottenham. It is quiet.",
     ["He lives on St. John's Road in Tottenham.", "It is quiet."]),
    ("The PM lives at No. 10 Downing Street. He said nothing.",
     ["The PM lives at No. 10 Downing Street.", "He said nothing."]),
    ("Is the answer yes or No. Then what?", ["Is the answer yes or No.", "Then what?"]),
    ("Some agencies, e.g. the police, were slow. Others were not.",
     ["Some agencies, e.g. the police, were slow.", "Others were not."]),
    ("The regulator, i.e. Ofsted, gave three stars. Nobody checked.",
     ["The regulator, i.e. Ofsted, gave three stars.", "Nobody checked."]),
    ("They cut clerks, typists, etc. Then caseloads rose.",
     ["They cut clerks, typists, etc.", "Then caseloads rose."]),
    ("They cut clerks, typists etc. and caseloads rose.",
     ["They cut clerks, typists etc. and caseloads rose."]),
    ("Forms, targets, stars, etc.", ["Forms, targets, stars, etc."]),
    ("See p. 4 and para. 2.3 of the report. It is damning.",
     ["See p. 4 and para. 2.3 of the report.", "It is damning."]),
    ("Haringey vs. the rest of London. A bad week.", ["Haringey vs. the rest of London.", "A bad week."]),
    ("The meeting is on Dec. 10 at County Hall. Come.",
     ["The meeting is on Dec. 10 at County Hall.", "Come."]),
    ("Enquiries under s. 47 were late. Managers knew.",
     ["Enquiries under s. 47 were late.", "Managers knew."]),
    ("It breaches Art. 8 of the Convention. So?", ["It breaches Art. 8 of the Convention.", "So?"]),
    # initials
    ("J. K. Smith wrote to the council. She got no reply.",
     ["J. K. Smith wrote to the council.", "She got no reply."]),
    ("A letter from J.K. Rowling arrived. It was kind.",
     ["A letter from J.K. Rowling arrived.", "It was kind."]),
    ("Lord Laming and Dr J. R. Hartley agreed. Fine.", ["Lord Laming and Dr J. R. Hartley agreed.", "Fine."]),
    # quotes inside sentences and quoted sentences
    ('He called it "a disgrace" and left. Nobody stopped him.',
     ['He called it "a disgrace" and left.', "Nobody stopped him."]),
    ('"I will not resign." She did, a week later.', ['"I will not resign."', "She did, a week later."]),
    ('"Why?" she asked. Nobody answered.', ['"Why?" she asked.', "Nobody answered."]),
    ("The report said: \u201cIt failed.\u201d Then silence.",
     ["The report said: \u201cIt failed.\u201d", "Then silence."]),
    ("Kent 'could be the next Rochdale.' Scaremongering?",
     ["Kent 'could be the next Rochdale.'", "Scaremongering?"]),
    ("\u201cWe are kidding ourselves,\u201d he said. \u201cIt will take years.\u201d",
     ["\u201cWe are kidding ourselves,\u201d he said.", "\u201cIt will take years.\u201d"]),
    ("\u201cIt is not something we saw.\u201dKCC had little chance.",
     ["\u201cIt is not something we saw.\u201d", "KCC had little chance."]),
    ('They may "drive their own cars."  Costs are met by them.',
     ['They may "drive their own cars."', "Costs are met by them."]),
    ("It\u2019s \u2018fine\u2019, apparently. Really.",
     ["It\u2019s \u2018fine\u2019, apparently.", "Really."]),
    # ellipses
    ("Ah, if only we had a charter ...", ["Ah, if only we had a charter ..."]),
    ("It ended... Then it began again.", ["It ended...", "Then it began again."]),
    ("Wait\u2026 what happened? Nothing.", ["Wait\u2026 what happened?", "Nothing."]),
    ("a blame society....where the end game is compensation.",
     ["a blame society....where the end game is compensation."]),
    # "?!" runs
    ("Really?! Nobody noticed. Shocking!!!", ["Really?!", "Nobody noticed.", "Shocking!!!"]),
    ("Who knew?? Everyone!", ["Who knew??", "Everyone!"]),
    ("What I want? Is for politicians to care.", ["What I want?", "Is for politicians to care."]),
    # URLs and e-mail addresses
    ("See http://www.example.co.uk/a.html for the report. Read it.",
     ["See http://www.example.co.uk/a.html for the report.", "Read it."]),
    ("Write to jo.bloggs@example.gov.uk today. Or phone.",
     ["Write to jo.bloggs@example.gov.uk today.", "Or phone."]),
    ("The site www.Haringey.gov.uk has it. Look.", ["The site www.Haringey.gov.uk has it.", "Look."]),
    # money and numbers
    ("The council spent £1.2m on agency staff. It was not enough.",
     ["The council spent £1.2m on agency staff.", "It was not enough."]),
    ("Referrals rose 3.5% in 2008. Staff did not.", ["Referrals rose 3.5% in 2008.", "Staff did not."]),
    ("The cut was 1.5 per cent. It saves £16,400.", ["The cut was 1.5 per cent.", "It saves £16,400."]),
    ("It was 0.017 per cent of £95m. Small beer.", ["It was 0.017 per cent of £95m.", "Small beer."]),
    ("The meeting started at 10.30 a.m. on Monday. Few came.",
     ["The meeting started at 10.30 a.m. on Monday.", "Few came."]),
    ("Baby P died in 2007. 16 months later the report came.",
     ["Baby P died in 2007.", "16 months later the report came."]),
    # a missing space after a full stop, and stray punctuation
    ("The tick box culture should end.Many posts were cut.",
     ["The tick box culture should end.", "Many posts were cut."]),
    ("It was wrong!Nobody cared.", ["It was wrong!", "Nobody cared."]),
    ("killed at home,. they should have been taken into care.",
     ["killed at home,. they should have been taken into care."]),
    # white space
    ("One sentence.\tAnother one.", ["One sentence.", "Another one."]),
    ("Spaces  inside   are kept. Yes.", ["Spaces  inside   are kept.", "Yes."]),
    ("Non-breaking\u00a0space here.\u00a0Next one.", ["Non-breaking\u00a0space here.", "Next one."]),
    ("  \t Leading and trailing space.  \n", ["Leading and trailing space."]),
    # brackets, unicode, no terminator at all
    ("Ofsted (the regulator) gave three stars. (They later withdrew them.) Then what?",
     ["Ofsted (the regulator) gave three stars.", "(They later withdrew them.)", "Then what?"]),
    ("Le café était fermé. Über alles. Ελλάδα.", ["Le café était fermé.", "Über alles.", "Ελλάδα."]),
    ("i have heard that political correctness got in the way",
     ["i have heard that political correctness got in the way"]),
    ("", []),
    ("   \n\t ", []),
]


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES, ids=[c[0][:40] for c in SENTENCE_CASES])
def test_sentence_cases(text, expected):
    assert [text[s.start : s.end] for s in split_sentences(text)] == expected


# ---------------------------------------------------------------------------------------------
# hand-written tricky cases that need the line structure: segment_document


def prose(text: str) -> list[str]:
    return [r["text"] for r in segment_document("d", text) if not r["boilerplate"]]


DOCUMENT_CASES = [
    # a list without full stops: each item on its own, markers not part of the sentence
    ("The failures were:\n- poor management\n- no supervision\n\u2022 missed visits\n\nThat is all.",
     ["The failures were:", "poor management", "no supervision", "missed visits", "That is all."]),
    ("Intro.\n- \n1.\nNext.", ["Intro.", "-", "1.", "Next."]),  # a bare marker is kept as text
    ("What went wrong:\n1. Late reports\n2) Bad records\n(a) no checks",
     ["What went wrong:", "Late reports", "Bad records", "no checks"]),
    # headings without full stops are lines of their own
    ("Lessons not learned\n\nThe council failed. Again.",
     ["Lessons not learned", "The council failed.", "Again."]),
    ("Lets hope things improve there!\nIts down to the budget as well\nStaff need to be retained",
     ["Lets hope things improve there!", "Its down to the budget as well", "Staff need to be retained"]),
    # a hard-wrapped paragraph is one sentence across the line break
    ("The council was\nwarned many times. It did\nnothing at all.",
     ["The council was\nwarned many times.", "It did\nnothing at all."]),
    # CRLF and lone CR line ends
    ("First line here.\r\nSecond line here.\r\n\r\nThird one.",
     ["First line here.", "Second line here.", "Third one."]),
    ("Old Mac file.\rNext line.", ["Old Mac file.", "Next line."]),
    ("It was\r\nwrapped. Yes.", ["It was\r\nwrapped.", "Yes."]),
    # tabs
    ("\tIndented with a tab.\tThen more.\n\t\n", ["Indented with a tab.", "Then more."]),
]


@pytest.mark.parametrize(("text", "expected"), DOCUMENT_CASES, ids=[c[0][:40] for c in DOCUMENT_CASES])
def test_document_cases(text, expected):
    assert prose(text) == expected


def test_long_run_on_comment_is_cut_at_commas():
    clause = "and the managers knew about it, "
    comment = "Anonymous said...\n\n" + clause * 120 + "and nobody did a thing\n"
    body = comment.index("and")
    records = [r for r in segment_document("d", comment) if not r["boilerplate"]]
    assert len(comment) - body > MAX_SENTENCE_CHARS
    assert len(records) >= 3
    assert all(len(r["text"]) <= MAX_SENTENCE_CHARS for r in records)
    assert all(r["text"].endswith(",") for r in records[:-1])  # cut after a comma
    assert records[0]["start"] == body and records[-1]["end"] == len(comment.rstrip())
    assert "".join(r["text"] for r in records).replace(" ", "") == comment[body:].replace(" ", "").strip()
    assert {r["comment_index"] for r in records} == {0}


def test_unbroken_overlong_line_is_cut_even_as_a_heading_or_boilerplate():
    text = "X" * 4000 + "\n\nPost a Comment\n" + "y" * 3100
    records = segment_document("d", text)
    assert all(len(r["text"]) <= MAX_SENTENCE_CHARS for r in records)
    assert "".join(r["text"] for r in records) == text.replace("\n", "")


# ---------------------------------------------------------------------------------------------
# page structure


def by_text(records):
    return {r["text"]: r for r in records}


BLOGGER = """A blog about local politics. All views are my own.

Wednesday, December 10, 2008

The toughest job in local government?

My friend has been elected leader. The buck stops with her.

Posted by Luke at 10:32 AM

3 Comments:

Anonymous said...

"Drawn the short straw"? The council failed.

6:22 pm, December 10, 2008

Blogger\u00a0Mark Still News said...

Staff need to be retained.

7:30 pm, December 10, 2008

Blogger Merseymike said...

This comment has been removed by the author.

11:31 pm, December 12, 2008

Post a Comment

<< Home

Free Hit Counters
"""


def test_blogger_page():
    records = segment_document("blog", BLOGGER)
    r = by_text(records)
    assert r["Wednesday, December 10, 2008"]["boilerplate"] is True
    title = r["The toughest job in local government?"]
    assert (title["section"], title["boilerplate"]) == ("title", False)
    for sentence in ("My friend has been elected leader.", "The buck stops with her."):
        assert r[sentence]["section"] == "post" and r[sentence]["comment_index"] is None
        # The post footer "Posted by X at 10:32 AM" names the writer of the post above it.
        assert r[sentence]["author"] == "Luke"
        assert r[sentence]["timestamp"] == "2008-12-10T10:32"
        assert r[sentence]["boilerplate"] is False
    footer = r["Posted by Luke at 10:32 AM"]
    assert (footer["section"], footer["boilerplate"], footer["author"]) == ("post", True, "Luke")
    assert r["3 Comments:"]["boilerplate"] is True and r["3 Comments:"]["section"] == "post"

    first = [x for x in records if x["comment_index"] == 0]
    assert [x["text"] for x in first] == [
        "Anonymous said...", '"Drawn the short straw"?', "The council failed.", "6:22 pm, December 10, 2008",
    ]
    assert [x["boilerplate"] for x in first] == [True, False, False, True]
    # Blogger prints a comment's time after it; every record of the comment gets it.
    assert {(x["section"], x["author"], x["timestamp"]) for x in first} == {
        ("comment", "Anonymous", "2008-12-10T18:22")
    }
    second = r["Staff need to be retained."]
    assert second["comment_index"] == 1 and second["timestamp"] == "2008-12-10T19:30"
    assert second["author"] in ("Mark Still News", "Blogger\u00a0Mark Still News")
    removed = r["This comment has been removed by the author."]
    assert (removed["comment_index"], removed["boilerplate"]) == (2, True)
    for furniture in ("Post a Comment", "<< Home", "Free Hit Counters"):
        assert r[furniture]["boilerplate"] is True
        assert (r[furniture]["section"], r[furniture]["comment_index"]) == ("post", None)


def test_blogger_avatar_word_is_not_part_of_the_author():
    records = segment_document("blog", BLOGGER)
    assert by_text(records)["Staff need to be retained."]["author"] == "Mark Still News"
    assert by_text(segment_document("s", "x said...\n\nHi.\n\nAnonymous\u00a0Anonymous said...\n\nHello."))[
        "Hello."
    ]["author"] == "Anonymous"


def test_posted_by_before_the_body_and_in_a_comment_thread():
    page = (
        "Posted by Jo Bloggs on 13 May 2011\n\nThe director failed. Ofsted said so.\n\nComments (2)\n\n"
        "Posted by Sam at 11:05\nNobody was held to account.\n\nPosted by Kim on 14 May 2011\nI disagree.\n"
    )
    r = by_text(segment_document("d", page))
    assert r["Posted by Jo Bloggs on 13 May 2011"]["boilerplate"] is True
    post = r["The director failed."]
    assert (post["section"], post["author"], post["timestamp"]) == ("post", "Jo Bloggs", "2011-05-13")
    assert r["Comments (2)"]["boilerplate"] is True
    sam = r["Nobody was held to account."]
    # A time alone in a comment thread is kept as shown: the comment may be on a later day.
    assert (sam["section"], sam["comment_index"], sam["author"]) == ("comment", 0, "Sam")
    assert sam["timestamp"] == "11:05"
    kim = r["I disagree."]
    assert (kim["comment_index"], kim["author"], kim["timestamp"]) == (1, "Kim", "2011-05-14")


WORDPRESS = """By using this website, you consent to our use of cookies I Agree Read our cookie policy

Ofsted and the council

Ofsted was wrong. The council was right.

Tags: Ofsted, Haringey

3 thoughts on \u201cOfsted and the council\u201d

  1. The inspectors missed it. Shameful.

  2. Social workers did their best.

  3. Ministers should resign.

Leave a Reply
Your email address will not be published.
"""


def test_wordpress_page_with_numbered_comments():
    records = segment_document("wp", WORDPRESS)
    r = by_text(records)
    cookie = r["By using this website, you consent to our use of cookies I Agree Read our cookie policy"]
    assert cookie["boilerplate"] is True
    assert r["Ofsted and the council"]["section"] == "title"
    assert r["Ofsted was wrong."]["section"] == "post" and not r["Ofsted was wrong."]["boilerplate"]
    assert r["Tags: Ofsted, Haringey"]["boilerplate"] is True
    assert r["3 thoughts on \u201cOfsted and the council\u201d"]["boilerplate"] is True
    comments = [x for x in records if x["section"] == "comment"]
    assert [(x["comment_index"], x["text"]) for x in comments] == [
        (0, "The inspectors missed it."), (0, "Shameful."),
        (1, "Social workers did their best."), (2, "Ministers should resign."),
    ]
    assert all(x["author"] is None and x["timestamp"] is None and not x["boilerplate"] for x in comments)
    for line in ("Leave a Reply", "Your email address will not be published."):
        assert r[line]["boilerplate"] is True and r[line]["section"] == "post"


def test_says_style_comments_with_reply_lines():
    page = (
        "A post. It matters.\n\nComments\n\nJane Doe says:\n12 May 2011 at 10:32 am\n"
        "The director should go.\nReply\n\nKim Lee says:\nI disagree. Staff did their best.\nReply\n"
    )
    records = segment_document("d", page)
    r = by_text(records)
    jane = r["The director should go."]
    assert (jane["comment_index"], jane["author"], jane["timestamp"]) == (0, "Jane Doe", "2011-05-12T10:32")
    assert r["12 May 2011 at 10:32 am"]["boilerplate"] is True
    kim = r["Staff did their best."]
    assert (kim["comment_index"], kim["author"], kim["timestamp"]) == (1, "Kim Lee", None)
    replies = [x for x in records if x["text"] == "Reply"]
    assert [x["comment_index"] for x in replies] == [0, 1] and all(x["boilerplate"] for x in replies)


POLITICAL_BLOG = """All posts tagged 'social-services'

Better news for children

by Paul on Politics, by political editor Paul Francis Wednesday, November 9 2011

Inspectors are back. Things are better.

Share this
Tags: , , ,
Categories: Councils | Politics

The austerity era begins

by Paul on Politics, by political editor Paul Francis Monday, October 11 2010

Every time I venture to County Hall I see cuts.
"""


def test_political_blog_page_with_several_posts():
    records = segment_document("pol", POLITICAL_BLOG)
    r = by_text(records)
    assert r["All posts tagged 'social-services'"]["boilerplate"] is True
    assert r["Better news for children"]["section"] == "title"
    byline = r["by Paul on Politics, by political editor Paul Francis Wednesday, November 9 2011"]
    assert byline["boilerplate"] is True
    first = r["Inspectors are back."]
    assert (first["section"], first["author"], first["timestamp"]) == (
        "post", "political editor Paul Francis", "2011-11-09"
    )
    for line in ("Share this", "Tags: , , ,", "Categories: Councils | Politics"):
        assert r[line]["boilerplate"] is True
    second = r["Every time I venture to County Hall I see cuts."]
    assert (second["section"], second["timestamp"]) == ("post", "2010-10-11")
    assert sum(x["section"] == "title" for x in records) == 2
    assert not any(x["section"] == "comment" for x in records)


def test_title_of_a_later_post_does_not_carry_the_previous_posts_date():
    r = by_text(segment_document("pol", POLITICAL_BLOG))
    assert r["The austerity era begins"]["timestamp"] in (None, "2010-10-11")


def test_boilerplate_is_flagged_not_dropped():
    records = segment_document("d", BLOGGER)
    # Every non-blank line's text is still there, in order.
    kept = "".join(r["text"] for r in records).replace(" ", "").replace("\u00a0", "")
    assert kept == "".join(BLOGGER.split()).replace("\u00a0", "")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("6:22 pm, December 10, 2008", "2008-12-10T18:22"),
        ("12:22 am, December 19, 2008", "2008-12-19T00:22"),
        ("Wednesday, December 10, 2008", "2008-12-10"),
        ("Monday 26 May 2014", "2014-05-26"),
        ("Oct 06, 2017", "2017-10-06"),
        ("12 May 2011 at 10:32 a.m.", "2011-05-12T10:32"),
        ("2011-03-30", "2011-03-30"),
        ("05/10/2017", "2017-10-05"),
        ("Sept 3, 2010", "2010-09-03"),
        ("sometime last week", None),
    ],
)
def test_parse_timestamp(raw, expected):
    assert parse_timestamp(raw) == expected


# ---------------------------------------------------------------------------------------------
# the seeds: invariants, and a guard against silent changes while gold labels are made

SEED_COUNTS = {  # records, non-boilerplate records
    "000_03554bf5b3d685c0": (110, 71),
    "001_36be78516b3c1e7e": (60, 59),
    "002_0a7814781bad044f": (51, 47),
    "003_18ea1f2705babb27": (154, 129),
    "004_d49038507b95b086": (32, 29),
}


def test_seed_segmentation_is_unchanged():
    counts = {}
    for document in read_documents([SEEDS]):
        records = segment_document(document.doc_id, document.text)
        for record in records:
            assert document.text[record["start"] : record["end"]] == record["text"]
        assert_well_formed(document.text, [(r["start"], r["end"]) for r in records])
        counts[document.doc_id] = (len(records), sum(not r["boilerplate"] for r in records))
    assert counts == SEED_COUNTS


# ---------------------------------------------------------------------------------------------
# the CLI

runner = CliRunner()


def read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith("error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in message


def test_cli_writes_jsonl(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("Mr. Smith failed. He resigned.\n", encoding="utf-8")
    (tmp_path / "in" / "b.md").write_text("# Heading\n\nOne more.\n", encoding="utf-8")
    out = tmp_path / "sentences.jsonl"
    result = runner.invoke(app, ["segment", str(tmp_path / "in"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "segmented 2 document(s) into 4 sentence(s)" in result.stderr
    records = read_output(out)
    assert [r["id"] for r in records] == ["a:0000", "a:0001", "b:0000", "b:0001"]
    assert [r["text"] for r in records] == ["Mr. Smith failed.", "He resigned.", "# Heading", "One more."]
    assert all(list(r) == list(SEGMENT_FIELDS) for r in records)
    # Same input, byte-identical output.
    again = tmp_path / "again.jsonl"
    assert runner.invoke(app, ["segment", str(tmp_path / "in"), "--output", str(again)]).exit_code == 0
    assert again.read_bytes() == out.read_bytes()


def test_cli_stdin_to_stdout():
    result = runner.invoke(app, ["segment", "-"], input="It ended... Then it began.\n")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["text"]) for r in records] == [
        ("stdin:0000", "It ended..."), ("stdin:0001", "Then it began.")
    ]
    assert "segmented" not in result.stdout  # progress goes to stderr


def test_cli_file_to_stdout_by_default(tmp_path):
    source = tmp_path / "doc.txt"
    source.write_text("One. Two.", encoding="utf-8")
    result = runner.invoke(app, ["segment", str(source)])
    assert result.exit_code == 0
    assert [json.loads(line)["text"] for line in result.stdout.splitlines()] == ["One.", "Two."]


def test_cli_missing_input(tmp_path):
    assert_one_line_error(runner.invoke(app, ["segment", str(tmp_path / "nope.txt")]), "no such file")


def test_cli_binary_input_leaves_no_output(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.txt").write_text("Fine text.", encoding="utf-8")
    (folder / "b.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    out = tmp_path / "out.jsonl"
    assert_one_line_error(runner.invoke(app, ["segment", str(folder), "-o", str(out)]), "b.txt", "binary")
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [folder]  # no temporary file left behind either


def test_cli_empty_folder(tmp_path):
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    assert_one_line_error(runner.invoke(app, ["segment", str(tmp_path)]), "folder holds no documents")


def test_cli_bad_jsonl_names_the_line(tmp_path):
    source = tmp_path / "docs.jsonl"
    source.write_text('{"id": "a", "text": "Fine."}\n{"id": "b", "text": \n', encoding="utf-8")
    assert_one_line_error(runner.invoke(app, ["segment", str(source)]), f"{source}:2", "not valid JSON")


def test_cli_refuses_to_overwrite_its_input(tmp_path):
    source = tmp_path / "doc.txt"
    source.write_text("Precious. Text.", encoding="utf-8")
    assert_one_line_error(runner.invoke(app, ["segment", str(source), "-o", str(source)]), "same as an input")
    assert source.read_text(encoding="utf-8") == "Precious. Text."


def test_cli_output_folder_missing(tmp_path):
    source = tmp_path / "doc.txt"
    source.write_text("Text.", encoding="utf-8")
    result = runner.invoke(app, ["segment", str(source), "-o", str(tmp_path / "no" / "out.jsonl")])
    assert_one_line_error(result, "does not exist")


def test_cli_duplicate_document_ids(tmp_path):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.txt").write_text("Text.", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    result = runner.invoke(app, ["segment", str(tmp_path / "x"), str(tmp_path / "y"), "-o", str(out)])
    assert_one_line_error(result, "duplicate document id 'same'")


def test_cli_seeds_counts(tmp_path):
    out = tmp_path / "seeds.jsonl"
    result = runner.invoke(app, ["segment", str(SEEDS), "-o", str(out)])
    assert result.exit_code == 0
    records = read_output(out)
    assert Counter(r["doc_id"] for r in records) == {doc: n for doc, (n, _) in SEED_COUNTS.items()}
    assert len({r["id"] for r in records}) == len(records)


def test_forum_posted_by_lines_start_a_reply_with_its_author():
    page = ("Re: director sacked\n\nPosted by mumof3 on 02/12/2008 at 21:14\n\nShe should go.\n\n"
            "Posted by oldhand on 02/12/2008 at 21:40\n\nEasy to say.\n\nPosted by Gary P on 03/12/2008 at 08:05\n\n"
            "Right call.\n")
    body = {r["text"]: r for r in segment_document("f", page) if not r["boilerplate"]}
    assert body["She should go."]["author"] == "mumof3" and body["She should go."]["section"] == "post"
    assert (body["Easy to say."]["author"], body["Easy to say."]["comment_index"]) == ("oldhand", 0)
    assert (body["Right call."]["author"], body["Right call."]["comment_index"]) == ("Gary P", 1)


def test_capitalised_byline_is_boilerplate_but_a_sentence_starting_with_by_is_not():
    records = segment_document("n", "Council leader quits\n\nBy Jane Marsh, Political Editor\n\n"
                                    "By Christmas the council had failed.\n")
    flags = {r["text"]: r["boilerplate"] for r in records}
    assert flags["By Jane Marsh, Political Editor"] is True
    assert flags["By Christmas the council had failed."] is False
    assert records[0]["section"] == "title"


def test_a_quoted_sentence_on_its_own_line_is_body_not_a_title():
    text = ("Council under fire\n\nThe review was published today.\n\n"
            "\u201cOur staff did everything asked of them.\u201d\n\n"
            '"Nobody listened."\n\nThe council declined to comment.\n')
    sections = [(r["text"], r["section"]) for r in segment_document("d", text)]
    assert sections[0] == ("Council under fire", "title")
    assert ("\u201cOur staff did everything asked of them.\u201d", "post") in sections
    assert ('"Nobody listened."', "post") in sections


def test_a_lower_case_signature_is_not_joined_to_the_separator_line():
    text = "Posted by oldhand on 03/03/2019 at 10:12\nThe managers knew.\n--\noldhand | 32 years in\n"
    texts = [r["text"] for r in segment_document("d", text)]
    assert "--" in texts and "oldhand | 32 years in" in texts
