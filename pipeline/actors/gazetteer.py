"""The editable gazetteer of named people (labels/people.toml) and its matcher.

Each person has a name, variants (case-sensitive, matched on word boundaries), a gender
("f", "m" or "") used to resolve she / he, and roles, each mapping to one target (or
"none" for people who are not among the five, such as inquiry chairs) over a span of years.
A mention resolves to the role held in the document's year, or to the first role listed when
the year is unknown. Copied into every model folder that uses it, like the lexicon.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..lexicon import read_toml
from ..phrase_regex import compile_phrases
from ..records import TARGETS

DEFAULT_GAZETTEER_PATH = Path(__file__).resolve().parent.parent.parent / "labels" / "people.toml"
NO_TARGET = "none"


@dataclass(frozen=True)
class Role:
    target: str
    title: str = ""
    start: int | None = None
    end: int | None = None

    def holds_in(self, year: int) -> bool:
        return (self.start is None or self.start <= year) and (self.end is None or year <= self.end)


@dataclass(frozen=True)
class Person:
    name: str
    variants: tuple[str, ...]
    gender: str
    roles: tuple[Role, ...]

    def target_in(self, year: int | None) -> str:
        """The target of the role held in ``year`` (nearest role when none covers it)."""
        if not self.roles:
            return NO_TARGET
        if year is None:
            return self.roles[0].target
        for role in self.roles:
            if role.holds_in(year):
                return role.target
        # Commentary often names people just before or after office: take the nearest role.
        def distance(role: Role) -> int:
            start = role.start if role.start is not None else -10_000
            end = role.end if role.end is not None else 10_000
            return min(abs(year - start), abs(year - end))

        return min(self.roles, key=distance).target


def _person(entry: Any, source: str, number: int) -> Person:
    where = f"people[{number}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
        raise InputError(source, f"{where}: each person needs a 'name'")
    variants = entry.get("variants", [])
    roles = entry.get("roles", [])
    if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
        raise InputError(source, f"{where} ({entry['name']}): 'variants' must be a list of strings")
    if not isinstance(roles, list) or not roles:
        raise InputError(source, f"{where} ({entry['name']}): 'roles' must be a non-empty list")
    parsed = []
    for role in roles:
        target = role.get("target") if isinstance(role, dict) else None
        if target not in (*TARGETS, NO_TARGET):
            raise InputError(source, f"{where} ({entry['name']}): unknown target {target!r} "
                             f"(allowed: {', '.join((*TARGETS, NO_TARGET))})")
        start, end = role.get("from"), role.get("to")
        if any(v is not None and not isinstance(v, int) for v in (start, end)):
            raise InputError(source, f"{where} ({entry['name']}): 'from' and 'to' must be years")
        parsed.append(Role(target, str(role.get("title", "")), start, end))
    gender = str(entry.get("gender", "") or "")
    names = tuple(dict.fromkeys(n.strip() for n in [entry["name"], *variants] if n.strip()))
    return Person(entry["name"].strip(), names, gender, tuple(parsed))


@dataclass
class Gazetteer:
    people: list[Person] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "gazetteer") -> Gazetteer:
        entries = data.get("people", [])
        if not isinstance(entries, list):
            raise InputError(source, "'people' must be an array of [[people]] tables")
        return cls([_person(entry, source, number) for number, entry in enumerate(entries)])

    @classmethod
    def load(cls, path: str | Path | None = None) -> Gazetteer:
        path = Path(path) if path else DEFAULT_GAZETTEER_PATH
        if not path.exists() and path == DEFAULT_GAZETTEER_PATH:
            return cls([])
        return cls.from_dict(read_toml(path, "gazetteer"), str(path))

    def to_dict(self) -> dict[str, Any]:
        def role(r: Role) -> dict[str, Any]:
            out: dict[str, Any] = {"target": r.target, "title": r.title}
            if r.start is not None:
                out["from"] = r.start
            if r.end is not None:
                out["to"] = r.end
            return out

        return {"people": [{"name": p.name, "variants": list(p.variants[1:]), "gender": p.gender,
                            "roles": [role(r) for r in p.roles]} for p in self.people]}

    @cached_property
    def _index(self) -> tuple[re.Pattern[str] | None, dict[str, Person]]:
        by_name: dict[str, Person] = {}
        for person in self.people:
            for name in person.variants:
                by_name.setdefault(name, person)  # the first person listed keeps a shared variant
        if not by_name:
            return None, {}
        # Longest names first (a trie: see phrase_regex), names never end in a wildcard.
        pattern = compile_phrases(by_name, before=r"(?<![\w’'-])", after=r"(?![\w-])", star=False)
        return pattern, by_name

    def find(self, text: str) -> list[tuple[int, int, Person]]:
        """Every named person in text: (start, end, person), longest names first, no overlaps."""
        pattern, by_name = self._index
        if pattern is None:
            return []
        return [(m.start(), m.end(), by_name[m.group(0)]) for m in pattern.finditer(text)]
