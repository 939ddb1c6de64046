"""The actor tracker: reads one document's sentences in order and gives each the actors in play.

Pure: records in, one ``ActorContext`` per record out. Sources of actors, in order of trust:

1. role words from the lexicon ("the director", "Ofsted", "ministers");
2. named people from the gazetteer ("Balls", "Sharon Shoesmith"), by the role held in the
   document's year;
3. people the document introduces with a role ("Jane Marsh, the council's director of
   children's services", "Councillor John Smith", "social worker Maria Ward"), remembered
   for the rest of the document by full name and surname;
4. pronouns (she / he / they) and short references ("the watchdog", "the ministry") carried
   to the most recent fitting actor.

For every sentence it reports the targets named, those reached through references, those of
the previous two sentences, of the most recent sentence that had any, of the title, and the
document's main actors (shares of all actor mentions), plus ``in_play``: the sentence's own
actors, or, when it has none, the most recent ones (the document's main actor when nothing
came before).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..lexicon import Lexicon
from ..records import TARGETS, Record
from .gazetteer import NO_TARGET, Gazetteer, Person

# Role words that name one person: antecedents for she / he. Anything else the lexicon
# names (the council, Ofsted, managers, the government) is collective: an antecedent for they.
_SINGULAR_ROLE = re.compile(
    r"\b(director|minister|secretary|leader|chief executive|chief exec|ceo|inspector|hmci|"
    r"social worker|caseworker|case worker|manager|councillor|cllr|mayor|boss|head|member|"
    r"holder|supervisor|practitioner|chancellor|commissioner)\b(?!s)"
)
_NAME_WORD = r"(?:[A-Z][a-z]+(?:[-'’][A-Z]?[a-z]+)?|Mc[A-Z][a-z]+|O['’][A-Z][a-z]+)"
_HONORIFIC = r"(?:Mr|Mrs|Ms|Miss|Dr|Cllr|Councillor|Sir|Dame|Lord|Lady|Baroness|Professor|Prof)\.?"
_NAME = re.compile(rf"(?<![\w’'])(?:(?P<hon>{_HONORIFIC})\s+)?(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})")
_FEMALE_HONORIFICS = {"Mrs", "Ms", "Miss", "Dame", "Lady", "Baroness"}
_MALE_HONORIFICS = {"Mr", "Sir", "Lord"}
_COUNCILLOR_HONORIFICS = {"Cllr", "Councillor"}
# Short references not in the lexicon, resolved to the most recent fitting target.
_SHORT_REFERENCES = {
    "the ministry": ("government",),
    "the department": ("government", "managers"),
    "the watchdog": ("inspectors",),
    "the inspectorate": ("inspectors",),
    "the authority": ("councillors",),
    "the borough": ("councillors",),
    "the cabinet": ("councillors", "government"),
    "those at the top": ("managers", "councillors", "government"),
}
_SHORT_PATTERN = re.compile(r"\b(" + "|".join(re.escape(k) for k in _SHORT_REFERENCES) + r")\b", re.I)
_PRONOUN = re.compile(r"\b(she|her|hers|herself|he|him|his|himself|they|them|their|theirs|themselves)\b", re.I)
_FEMALE = {"she", "her", "hers", "herself"}
_MALE = {"he", "him", "his", "himself"}
# Sentence-initial capitalised words that are not names.
_NOT_NAMES = frozenset("""
The A An This That These Those It Its They Their He She His Her We Our You Your I My Me In On
At By For From With Without And But Or So If When While As After Before Since Until Why What
Who How Where Which There Here Yes No Not Never Nobody Everyone Anyone Someone Some Many Most
All Any Every Each Both Either Neither One Two Three Four Five Ten Dear Sir Madam Mr Mrs Ms Re
Quote Posted Council Councillor Councillors Government Ministers Minister Ofsted Labour Tory
Tories Conservative Conservatives Liberal Democrats Lib Dem Parliament Whitehall Department
Children Childrens Social Services Director Directors January February March April May June
July August September October November December Monday Tuesday Wednesday Thursday Friday
Saturday Sunday Today Yesterday Tomorrow Last Next Only Just Also Still Even Then Now Meanwhile
However Instead Indeed Perhaps Surely Of To Is Was Are Were Has Have Had Do Does Did Can Could
Should Would Will Shall Must Let Lord Lady Dame
""".split())  # noqa: SIM905


@dataclass
class _Actor:
    target: str  # one of TARGETS or NO_TARGET
    gender: str = ""  # "f", "m" or ""
    individual: bool = False  # a person (she / he) rather than a body (they)
    label: str = ""


@dataclass
class ActorContext:
    named: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    previous: list[str] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)
    title: list[str] = field(default_factory=list)
    main: dict[str, float] = field(default_factory=dict)
    in_play: list[str] = field(default_factory=list)
    references: list[list[str]] = field(default_factory=list)  # [surface, target, antecedent]

    def to_dict(self) -> dict[str, Any]:
        return {"named": self.named, "resolved": self.resolved, "previous": self.previous,
                "recent": self.recent, "title": self.title, "main": self.main, "in_play": self.in_play,
                "references": self.references}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ActorContext:
        return cls(**{k: data.get(k, default) for k, default in
                      (("named", []), ("resolved", []), ("previous", []), ("recent", []), ("title", []),
                       ("main", {}), ("in_play", []), ("references", []))})


def _ordered(targets) -> list[str]:
    chosen = set(targets)
    return [t for t in TARGETS if t in chosen]


def document_year(records: list[Record]) -> int | None:
    """The year a document is about: its first parseable timestamp, else a year in its title."""
    for record in records:
        stamp = record.get("timestamp")
        if isinstance(stamp, str) and re.match(r"(19|20)\d\d", stamp):
            return int(stamp[:4])
    for record in records[:3]:
        found = re.search(r"\b(19[89]\d|20[0-4]\d)\b", str(record.get("text", "")))
        if found:
            return int(found.group(1))
    return None


class ActorTracker:
    """Runs over one document at a time; holds only the lexicon and gazetteer."""

    def __init__(self, lexicon: Lexicon, gazetteer: Gazetteer | None = None):
        self.lexicon = lexicon
        self.gazetteer = gazetteer or Gazetteer([])

    # -- one sentence -----------------------------------------------------------------------

    def _role_actors(self, text: str, mentions: dict[str, list[tuple[int, int]]]) -> list[tuple[int, _Actor]]:
        found = []
        lowered = text.lower()
        for target, spans in mentions.items():
            for start, end in spans:
                surface = lowered[start:end]
                individual = bool(_SINGULAR_ROLE.search(surface))
                found.append((start, _Actor(target, "", individual, surface)))
        return found

    def _introductions(self, text: str, known: dict[str, _Actor], year_people: list) -> list[tuple[int, _Actor]]:
        """People introduced with a role in this sentence; registers them in ``known``."""
        found = []
        gazetteer_spans = [(s, e) for s, e, _ in year_people]
        for match in _NAME.finditer(text):
            name, honorific = match.group("name"), match.group("hon")
            words = name.split()
            while words and words[0] in _NOT_NAMES:
                words = words[1:]
            if not words or (len(words) < 2 and not honorific):
                continue
            name = " ".join(words)
            start = match.start("name") + match.group("name").index(words[0])
            if any(s <= start < e for s, e in gazetteer_spans) or name in known:
                continue
            after = text[match.end():match.end() + 90]
            before = text[max(0, start - 45):start]
            target = None
            if honorific and honorific.rstrip(".") in _COUNCILLOR_HONORIFICS:
                target = "councillors"
            elif after.startswith(","):
                clause = re.split(r"[.;:!?()]|,(?=\s*(?:who|which|said|says|told|has|had|was|is)\b)", after[1:])[0]
                target = self._first_target(clause)
            if target is None:
                adjacent = re.search(r"([A-Za-z'’ ]{3,40})\s*$", before)
                if adjacent:
                    target = self._last_target(adjacent.group(1), must_end=True)
            if target is None:
                continue
            gender = "f" if honorific in _FEMALE_HONORIFICS else "m" if honorific in _MALE_HONORIFICS else ""
            actor = _Actor(target, gender, True, name)
            known[name] = actor
            if len(words) >= 2:
                known.setdefault(words[-1], actor)
            found.append((start, actor))
        return found

    def _first_target(self, clause: str) -> str | None:
        # "the council's director": a possessive names the employer, not the role.
        hits = [(start, t) for t, spans in self.lexicon.mentions(clause).items() for start, end in spans
                if not re.match(r"['’]s\b", clause[end:end + 2])]
        return min(hits)[1] if hits else None

    def _last_target(self, phrase: str, *, must_end: bool) -> str | None:
        stripped = phrase.rstrip()
        for target, spans in self.lexicon.mentions(stripped).items():
            for _, end in spans:
                if not must_end or end == len(stripped):
                    return target
        return None

    # -- a whole document -------------------------------------------------------------------

    def track(self, records: list[Record]) -> list[ActorContext]:
        """One context per record, in the order given (the document's reading order)."""
        year = document_year(records)
        known: dict[str, _Actor] = {}  # people this document introduced
        history: list[_Actor] = []  # every actor mention so far, oldest first
        per_sentence: list[tuple[list[str], list[str], list[list[str]]]] = []
        for record in records:
            text = str(record.get("text", ""))
            if record.get("boilerplate"):
                per_sentence.append(([], [], []))
                continue
            people = [(s, e, p) for s, e, p in self.gazetteer.find(text)]
            lexicon_mentions = self.lexicon.mentions(text)
            # Left for the learned backends' lexicon features (Lexicon.record_features), so the
            # text is scanned once; private fields (leading "_") never reach an output file.
            record["_mentions"] = {t: len(spans) for t, spans in lexicon_mentions.items()}
            record["_mentions_by"] = self.lexicon.fingerprint
            mentions: list[tuple[int, _Actor]] = self._role_actors(text, lexicon_mentions)
            mentions += [(s, self._person_actor(p, year)) for s, _, p in people]
            mentions += self._introductions(text, known, people)
            taken = {s for s, _ in mentions}
            for name, actor in known.items():
                for match in re.finditer(rf"(?<![\w’']){re.escape(name)}(?![\w])", text):
                    if not any(abs(match.start() - s) < len(name) for s in taken):
                        mentions.append((match.start(), actor))
            mentions.sort(key=lambda item: item[0])
            references = self._resolve(text, mentions, history)
            named = _ordered(a.target for _, a in mentions if a.target != NO_TARGET)
            resolved = _ordered(a.target for _, _, a in references if a.target != NO_TARGET)
            per_sentence.append((named, resolved, [[surface, a.target, a.label] for surface, _, a in references]))
            # A reference makes its antecedent the most recent mention again.
            mentions += [(start, actor) for _, start, actor in references]
            history.extend(a for _, a in sorted(mentions, key=lambda item: item[0]))
        return self._contexts(records, per_sentence)

    @staticmethod
    def _person_actor(person: Person, year: int | None) -> _Actor:
        return _Actor(person.target_in(year), person.gender, True, person.name)

    @staticmethod
    def _resolve(text: str, mentions: list[tuple[int, _Actor]],
                 history: list[_Actor]) -> list[tuple[str, int, _Actor]]:
        """Pronouns and short references -> (surface, offset, antecedent), the most recent fit.

        Candidates are the mentions earlier in this sentence, then earlier sentences."""
        references = []
        for match in sorted([*_PRONOUN.finditer(text), *_SHORT_PATTERN.finditer(text)], key=lambda m: m.start()):
            surface = match.group(0)
            word = surface.lower()
            earlier = sorted([*mentions, *((start, a) for _, start, a in references)], key=lambda item: item[0])
            candidates = [a for s, a in reversed(earlier) if s < match.start()] + list(reversed(history))
            if word in _SHORT_REFERENCES:
                allowed = _SHORT_REFERENCES[word]
                fit = next((a for a in candidates if a.target in allowed), None)
                if fit is None and len(allowed) == 1:
                    fit = _Actor(allowed[0], label=word)
            elif word in _FEMALE or word in _MALE:
                gender = "f" if word in _FEMALE else "m"
                fit = next((a for a in candidates if a.individual and a.gender in ("", gender)), None)
            else:
                fit = next((a for a in candidates if not a.individual), None)
            if fit is not None:
                references.append((surface, match.start(), fit))
        return references

    @staticmethod
    def _contexts(records: list[Record], per_sentence: list) -> list[ActorContext]:
        counts: Counter[str] = Counter()
        for named, resolved, _ in per_sentence:
            counts.update(set(named) | set(resolved))
        total = sum(counts.values())
        main = {t: round(counts[t] / total, 3) for t in TARGETS if counts[t]} if total else {}
        title: set[str] = set()
        for record, (named, resolved, _) in zip(records, per_sentence, strict=True):
            if record.get("boilerplate"):
                continue
            if record.get("section") != "title":
                break
            title |= set(named) | set(resolved)
        contexts = []
        window: list[set[str]] = []  # actors of the last two non-boilerplate sentences
        recent: set[str] = set()  # actors of the latest earlier sentence that had any
        for record, (named, resolved, references) in zip(records, per_sentence, strict=True):
            own = set(named) | set(resolved)
            previous = set().union(*window)
            if own:
                in_play = own
            elif recent:
                in_play = recent
            elif title:
                in_play = title
            else:
                in_play = {max(main, key=main.get)} if main else set()
            contexts.append(ActorContext(named, resolved, _ordered(previous), _ordered(recent), _ordered(title),
                                         main, _ordered(in_play), references))
            if not record.get("boilerplate"):
                window = [*window[-1:], own]
                recent = own or recent
        return contexts
