"""One regular expression for a list of phrases, shaped as a trie.

The plain way, ``(?:longest|...|shortest)``, makes the regex engine try every phrase at every
position of every sentence; with a few hundred aliases, cues or names that was most of the
time the tfidf baseline and the actor tracker spent (issue 16). The trie shares prefixes,
and a look-ahead on the phrases' first characters skips most positions at once.

It matches exactly what the plain alternation (phrases sorted longest first, ties
alphabetically) matches, spans included (tested with hypothesis against it): longer phrases
are tried before shorter ones, and a prefix phrase ``word*`` (``word`` then any word
characters) before the phrases it would swallow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

STAR_TAIL = r"[\w'’-]*"
_END = ""  # trie key: a phrase ends here
_STAR = "*"  # trie key: a prefix phrase ends here


def plain_alternation(phrases: Iterable[str], star: bool = True) -> str:
    """The reference form: every phrase, longest first (ties alphabetically)."""
    parts = []
    for phrase in sorted(sorted(set(phrases)), key=len, reverse=True):
        if star and phrase.endswith("*"):
            parts.append(re.escape(phrase[:-1]) + STAR_TAIL)
        else:
            parts.append(re.escape(phrase))
    return "(?:" + "|".join(parts) + ")"


def trie_alternation(phrases: Iterable[str], star: bool = True) -> str:
    """The same language and match order as ``plain_alternation``, as a nested group."""
    trie: dict = {}
    for phrase in set(phrases):
        is_star = star and phrase.endswith("*")
        node = trie
        for char in phrase[:-1] if is_star else phrase:
            node = node.setdefault(char, {})
        node[_STAR if is_star else _END] = {}
    return _emit(trie)


def _emit(node: dict) -> str:
    has_star = _STAR in node
    options = []
    for char in sorted(k for k in node if k not in (_END, _STAR)):
        child = node[char]
        # In the plain order a prefix phrase "ab*" comes before "abc" (same length, "*" sorts
        # first) and always matches where "abc" would, so "abc" alone is never the match.
        if has_star and char > _STAR and _END in child:
            child = {k: v for k, v in child.items() if k != _END}
            if not child:
                continue
        options.append(re.escape(char) + _emit(child))
    if has_star:
        options.append(STAR_TAIL)  # always matches, so a shorter phrase ending here never is
    elif _END in node:
        options.append("")
    if len(options) == 1:
        return options[0]
    return "(?:" + "|".join(options) + ")"


def first_characters(phrases: Iterable[str]) -> str:
    chars = sorted({p[0] for p in phrases if p})
    return "[" + "".join(re.escape(c) for c in chars) + "]"


def compile_phrases(phrases: Iterable[str], *, before: str, after: str, star: bool = True,
                    flags: int = 0) -> re.Pattern[str] | None:
    """``before`` + (one of the phrases) + ``after``, or None for no phrases. ``before`` and
    ``after`` are the boundary assertions, e.g. ``(?<![\\w])`` and ``(?![\\w])``."""
    phrases = sorted({p for p in phrases if p})
    if not phrases:
        return None
    return re.compile(before + "(?=" + first_characters(phrases) + ")" + trie_alternation(phrases, star) + after,
                      flags)
