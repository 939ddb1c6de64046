"""The trie-shaped phrase regex matches exactly what the plain alternation matches."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.actors.gazetteer import Gazetteer
from pipeline.lexicon import Lexicon
from pipeline.phrase_regex import compile_phrases, plain_alternation

BEFORE, AFTER = r"(?<![\w])", r"(?![\w])"
# A small alphabet so phrases share prefixes and overlap in the texts often.
word = st.text(alphabet="abc'-", min_size=1, max_size=4)
phrase = st.builds(lambda words, star: " ".join(words) + ("*" if star else ""),
                   st.lists(word, min_size=1, max_size=3), st.booleans())
text = st.text(alphabet="abc '-.,x", max_size=40)


def spans(pattern, value):
    return [m.span() for m in pattern.finditer(value)] if pattern else []


@settings(max_examples=400, deadline=None)
@given(st.lists(phrase, min_size=1, max_size=8), st.lists(text, min_size=1, max_size=5))
def test_trie_matches_the_plain_alternation(phrases, texts):
    plain = re.compile(BEFORE + plain_alternation(phrases) + AFTER)
    trie = compile_phrases(phrases, before=BEFORE, after=AFTER)
    for value in texts:
        assert spans(trie, value) == spans(plain, value), (phrases, value)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="AbBc .'-", min_size=1, max_size=8), min_size=1, max_size=8),
       st.text(alphabet="AbBc .'-x", max_size=40))
def test_names_without_wildcards_match_the_plain_alternation(names, value):
    before, after = r"(?<![\w’'-])", r"(?![\w-])"
    plain = re.compile(before + plain_alternation(names, star=False) + after)
    trie = compile_phrases(names, before=before, after=after, star=False)
    assert spans(trie, value) == spans(plain, value)


def test_no_phrases_no_pattern():
    assert compile_phrases([], before=BEFORE, after=AFTER) is None


def test_the_shipped_lexicon_and_gazetteer_match_as_before():
    lexicon = Lexicon.load()
    sentence = ("the council's director and children's services managers failed; "
                "ofsted inspectors and the inspectorate blamed ministers")
    for target, aliases in lexicon.aliases.items():
        phrases = {a.strip().lower() for a in aliases if a.strip()}
        plain = re.compile(BEFORE + plain_alternation(phrases) + AFTER)
        assert lexicon.mentions(sentence)[target] == spans(plain, sentence)
    gazetteer = Gazetteer.load()
    assert [p.name for _, _, p in gazetteer.find("Ed Balls met Sharon Shoesmith.")] == ["Ed Balls", "Sharon Shoesmith"]
