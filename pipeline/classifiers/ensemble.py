"""The ensemble backend: the weighted mean of other backends' probabilities.

Measured on held-out sources (the members' saved out-of-fold scores, `make demo`), averaging
tfidf and the transformer beat either alone, most on targets: the transformer reads sentences
as a whole, tfidf the exact words and actor names, and their errors differ.

A saved ensemble is a folder holding its members' folders (``members/NAME/``), each a
complete model folder checked as usual when loaded; nothing in it is code. Build one from
models already trained with ``pipeline combine`` (``pipeline.combine``), or train every
member from scratch with ``pipeline train --backend ensemble`` (slow: it is every member's
training, cross-validation included).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelError
from ..records import Record
from .base import Classifier, Probabilities, ProgressFn, register

MEMBERS_DIR = "members"


@register
class EnsembleClassifier(Classifier):
    name = "ensemble"

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {"members": ["tfidf", "transformer"], "weights": None, "engine": "auto"}

    # -- members ------------------------------------------------------------------------------

    @property
    def members(self) -> list[Classifier]:
        return self.__dict__.setdefault("_members", [])

    @property
    def tracker(self):
        """The document-context tracker of the first member that has one (members built from
        the same lexicon and gazetteer track identically)."""
        return next((m.tracker for m in self.members if getattr(m, "tracker", None) is not None), None)

    def _weights(self) -> np.ndarray:
        weights = self.settings.get("weights") or [1.0] * len(self.members)
        if len(weights) != len(self.members) or min(weights) < 0 or sum(weights) <= 0:
            raise ModelError(f"ensemble weights {weights} do not fit its {len(self.members)} members")
        return np.asarray(weights, dtype=float) / float(sum(weights))

    def fit(self, records: list[Record], *, seed: int = 0, progress: ProgressFn | None = None):
        from ..train import fit_classifier

        names = list(self.settings["members"])
        # Options given to the ensemble (base model, epochs, lexicon...) go to every member.
        shared = {k: v for k, v in self.settings.items() if k not in ("members", "weights", "engine")}
        self.__dict__["_members"] = [fit_classifier(name, records, shared, seed=seed, progress=progress)
                                     for name in names]
        return self

    # -- prediction ---------------------------------------------------------------------------

    def predict_proba(self, records: list[Record]) -> Probabilities:
        if not self.members:
            raise ModelError("ensemble has no members (fit it or load a saved one)")
        weights = self._weights()
        for member in self.members:  # the runtime asked of the ensemble is its members' too
            if "engine" in member.settings and "engine" in self.settings:
                member.settings["engine"] = self.settings["engine"] or "auto"
        parts = [member.predict_proba(records) for member in self.members]
        stance = sum(w * p.stance for w, p in zip(weights, parts, strict=True))
        targets = sum(w * p.targets for w, p in zip(weights, parts, strict=True))
        return Probabilities(np.asarray(stance), np.asarray(targets))

    def engine(self, progress: ProgressFn | None = None):
        """The inference engine of the member that has one (the transformer), with this
        ensemble's ``engine`` setting passed on; predict reports it."""
        for member in self.members:
            if "engine" in member.settings:
                member.settings["engine"] = self.settings.get("engine") or "auto"
                return member.engine(progress)
        raise ModelError("no member of this ensemble has an inference runtime")

    # -- persistence --------------------------------------------------------------------------

    def save_parts(self, folder: Path) -> list[str]:
        from ..modelio import save_model

        written = []
        for name, member in zip(self.settings["members"], self.members, strict=True):
            target = folder / MEMBERS_DIR / name
            target.parent.mkdir(parents=True, exist_ok=True)
            source = member.__dict__.get("_source_folder")
            if source is not None:
                shutil.copytree(source, target)
            else:
                save_model(member, target, training={"seed": None, "note": "fitted as an ensemble member"})
            written.append(str(Path(MEMBERS_DIR) / name))
        return written

    @classmethod
    def load_parts(cls, folder: Path, settings: dict[str, Any]) -> EnsembleClassifier:
        from ..modelio import load_model

        model = cls(settings={**cls.default_settings(), **settings})
        members = []
        for name in model.settings["members"]:
            member = load_model(folder / MEMBERS_DIR / name)
            member.__dict__["_source_folder"] = folder / MEMBERS_DIR / name
            members.append(member)
        model.__dict__["_members"] = members
        return model
