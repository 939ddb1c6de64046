"""The editable actor and cue lexicon (labels/actors.toml) and its matcher.

Aliases and cues are lower-case phrases matched on word boundaries; a trailing ``*`` is a
prefix match ("inspect*"). The lexicon drives the rule baseline, adds actor-mention
features to the learned backends, and powers role-swap augmentation. It is copied into
every model folder that uses it, so a model never depends on a file that may change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import tomllib

from .errors import InputError
from .phrase_regex import compile_phrases
from .records import TARGETS

DEFAULT_LEXICON_PATH = Path(__file__).resolve().parent.parent / "labels" / "actors.toml"
CUE_KINDS = ("blame", "defend", "negators")


def _pattern(phrases: list[str]) -> re.Pattern[str] | None:
    return compile_phrases({p.strip().lower() for p in phrases if p.strip()}, before=r"(?<![\w])", after=r"(?![\w])")


def read_toml(path: Path, kind: str) -> dict[str, Any]:
    """An editable TOML file (lexicon, gazetteer); every failure is one line naming the file."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, f"{kind} file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, f"not valid TOML ({exc})") from None
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8 text") from None
    except OSError as exc:
        raise InputError(path, f"cannot read {kind} ({exc.strerror})") from None


@dataclass
class Lexicon:
    aliases: dict[str, list[str]]
    cues: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "lexicon") -> Lexicon:
        targets = data.get("targets", {})
        cues = data.get("cues", {})
        if not isinstance(targets, dict) or not all(isinstance(v, dict) for v in targets.values()):
            raise InputError(source, "'targets' must be a table of [targets.NAME] tables")
        if not isinstance(cues, dict):
            raise InputError(source, "'cues' must be a table")
        for where, value in [*((f"targets.{t}.aliases", v.get("aliases", [])) for t, v in targets.items()),
                             *((f"cues.{k}", cues.get(k, [])) for k in CUE_KINDS)]:
            if not isinstance(value, list):
                raise InputError(source, f"'{where}' must be a list of phrases")
        unknown = set(targets) - set(TARGETS)
        if unknown:
            raise InputError(source, f"unknown target(s) in lexicon: {', '.join(sorted(unknown))}")
        aliases = {t: [str(a) for a in targets.get(t, {}).get("aliases", [])] for t in TARGETS}
        cues = {k: [str(c) for c in data.get("cues", {}).get(k, [])] for k in CUE_KINDS}
        return cls(aliases, cues)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Lexicon:
        path = Path(path) if path else DEFAULT_LEXICON_PATH
        return cls.from_dict(read_toml(path, "lexicon"), str(path))

    def to_dict(self) -> dict[str, Any]:
        return {"targets": {t: {"aliases": self.aliases[t]} for t in TARGETS}, "cues": self.cues}

    @cached_property
    def _alias_patterns(self) -> dict[str, re.Pattern[str] | None]:
        return {t: _pattern(self.aliases.get(t, [])) for t in TARGETS}

    @cached_property
    def _cue_patterns(self) -> dict[str, re.Pattern[str] | None]:
        return {k: _pattern(self.cues.get(k, [])) for k in CUE_KINDS}

    def mentions(self, text: str) -> dict[str, list[tuple[int, int]]]:
        """Spans of each target's aliases in text (offsets into text)."""
        lowered = text.lower()
        found = {}
        for target, pattern in self._alias_patterns.items():
            found[target] = [m.span() for m in pattern.finditer(lowered)] if pattern else []
        return found

    def cue_counts(self, text: str) -> dict[str, int]:
        lowered = text.lower()
        return {k: len(p.findall(lowered)) if p else 0 for k, p in self._cue_patterns.items()}

    def features(self, text: str, mention_counts: dict[str, int] | None = None) -> list[float]:
        """Actor-mention and cue features: one count per target, then blame/defend/negator.
        ``mention_counts`` (per target, from an earlier ``mentions`` of the same text by this
        lexicon: the actor tracker's) saves scanning the text again."""
        if mention_counts is None:
            mention_counts = {t: len(spans) for t, spans in self.mentions(text).items()}
        cues = self.cue_counts(text)
        return [float(min(mention_counts[t], 3)) for t in TARGETS] + [float(min(cues[k], 3)) for k in CUE_KINDS]

    def record_features(self, records: list[dict[str, Any]]) -> list[list[float]]:
        """``features`` of each record's text, reusing the counts the actor tracker left in
        ``_mentions`` when it matched with an identical lexicon (``_mentions_by``)."""
        return [self.features(r["text"], r["_mentions"] if r.get("_mentions_by") == self.fingerprint else None)
                for r in records]

    @cached_property
    def fingerprint(self) -> str:
        import hashlib

        return hashlib.sha256(repr(sorted((t, sorted(a)) for t, a in self.aliases.items())).encode()).hexdigest()[:16]

    @staticmethod
    def feature_names() -> list[str]:
        return [f"mentions_{t}" for t in TARGETS] + [f"cue_{k}" for k in CUE_KINDS]
