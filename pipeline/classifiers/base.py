"""The one classifier interface and the registry of backends.

Every backend predicts two things for each sentence record:

* ``stance``: probabilities over ``records.STANCES`` (rows sum to 1), shape (n, 3);
* ``targets``: an independent probability per target in ``records.TARGETS``, shape (n, 5).

Turning probabilities into labels is shared (``decide``): the most probable stance, each
target whose probability reaches its threshold, and no targets when the stance is neutral
(the guideline's rule, applied at prediction time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..errors import ModelError, PipelineError
from ..records import NEUTRAL, STANCES, TARGETS, Record

ProgressFn = Callable[[str], None]


@dataclass
class Probabilities:
    stance: np.ndarray  # (n, len(STANCES))
    targets: np.ndarray  # (n, len(TARGETS))

    def __len__(self) -> int:
        return len(self.stance)

    @classmethod
    def concatenate(cls, parts: Sequence[Probabilities]) -> Probabilities:
        if not parts:
            return cls(np.zeros((0, len(STANCES))), np.zeros((0, len(TARGETS))))
        return cls(np.concatenate([p.stance for p in parts]), np.concatenate([p.targets for p in parts]))

    def take(self, index) -> Probabilities:
        return Probabilities(self.stance[index], self.targets[index])


def default_thresholds() -> dict[str, float]:
    return dict.fromkeys(TARGETS, 0.5)


# Temperature scaling of the stance (Guo et al. 2017): p_T ∝ p ** (1 / T), the same as dividing
# the logits by T, so the most probable stance, and so every label, is unchanged; only how
# sure the scores say the model is changes. T is fitted by cross-validation in train.py.
TEMPERATURE_GRID = np.exp(np.linspace(np.log(0.25), np.log(8.0), 151))


def scale_stance(probs: Probabilities, temperature: float) -> Probabilities:
    if temperature == 1.0:
        return probs
    logits = np.log(np.clip(probs.stance, 1e-12, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return Probabilities(scaled / scaled.sum(axis=1, keepdims=True), probs.targets)


def fit_temperature(stance_probs: np.ndarray, stances: Sequence[str]) -> float:
    """The temperature on ``TEMPERATURE_GRID`` with the lowest mean negative log-likelihood of
    the true stances; ties go to the temperature nearest 1. No sentences: 1."""
    stance_probs = np.asarray(stance_probs, dtype=float)
    if not len(stances):
        return 1.0
    truth = np.array([STANCES.index(s) for s in stances])
    log_p = np.log(np.clip(stance_probs, 1e-12, 1.0))
    best = (np.inf, 0.0, 1.0)
    for temperature in TEMPERATURE_GRID:
        scaled = log_p / temperature
        log_norm = np.logaddexp.reduce(scaled, axis=1)
        nll = float(np.mean(log_norm - scaled[np.arange(len(truth)), truth]))
        key = (round(nll, 12), abs(np.log(temperature)), float(temperature))
        if key < best:
            best = key
    return round(best[2], 4)


def decide(probs: Probabilities, thresholds: dict[str, float] | None = None) -> list[tuple[str, list[str]]]:
    """Labels from probabilities: argmax stance, thresholded targets, neutral has none."""
    thresholds = thresholds or default_thresholds()
    cut = np.array([thresholds.get(t, 0.5) for t in TARGETS])
    decisions = []
    for stance_row, target_row in zip(probs.stance, probs.targets, strict=True):
        stance = STANCES[int(np.argmax(stance_row))]
        targets = [] if stance == NEUTRAL else [t for t, p, c in zip(TARGETS, target_row, cut, strict=True) if p >= c]
        decisions.append((stance, targets))
    return decisions


@dataclass
class Classifier:
    """Base class: subclasses implement fit, predict_proba, and the save/load of their parts.

    ``settings`` holds the backend's options (saved in config.json); ``thresholds`` the
    per-target decision thresholds and ``stance_temperature`` the stance calibration (both
    fitted on out-of-fold scores in train.py).
    """

    name: ClassVar[str] = "base"
    # Whether train.py fits a stance temperature. Off for a backend whose scores are class
    # shares rather than confidences (the majority baseline): scaling those only distorts them.
    calibrates: ClassVar[bool] = True
    settings: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=default_thresholds)
    stance_temperature: float = 1.0
    model_info: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {}

    def fit(self, records: list[Record], *, seed: int = 0, progress: ProgressFn | None = None) -> Classifier:
        raise NotImplementedError

    def predict_proba(self, records: list[Record]) -> Probabilities:
        raise NotImplementedError

    def predict_scores(self, records: list[Record]) -> Probabilities:
        """What users see: predict_proba with the stance temperature applied."""
        return scale_stance(self.predict_proba(records), self.stance_temperature)

    def predict(self, records: list[Record]) -> list[tuple[str, list[str]]]:
        return decide(self.predict_scores(records), self.thresholds)

    # Persistence: write data files into an existing folder / read them back. modelio owns
    # config.json, the model card and the safety checks around these two calls.
    def save_parts(self, folder: Path) -> list[str]:
        """Write weight files into folder; return their names."""
        raise NotImplementedError

    @classmethod
    def load_parts(cls, folder: Path, settings: dict[str, Any]) -> Classifier:
        raise NotImplementedError


BACKENDS: dict[str, type[Classifier]] = {}


def register(cls: type[Classifier]) -> type[Classifier]:
    BACKENDS[cls.name] = cls
    return cls


# Which module registers each backend: loading a transformer model imports neither
# scikit-learn nor scipy, and the transformer module imports torch only when it needs it.
BACKEND_MODULES = {"majority": "sklearn_backends", "lexicon": "sklearn_backends", "tfidf": "sklearn_backends",
                   "embed": "sklearn_backends", "transformer": "transformer", "ensemble": "ensemble"}


def _ensure_loaded(name: str | None = None) -> None:
    import importlib

    # Import for the side effect of registering.
    for module in sorted({BACKEND_MODULES[name]} if name in BACKEND_MODULES else set(BACKEND_MODULES.values())):
        importlib.import_module(f"{__package__}.{module}")


def get_backend(name: str, **settings: Any) -> Classifier:
    _ensure_loaded(name)
    if name not in BACKENDS:
        raise PipelineError(f"unknown backend {name!r} (choose from: {', '.join(sorted(BACKENDS))})")
    return BACKENDS[name](settings={**BACKENDS[name].default_settings(), **settings})


def backend_class(name: str) -> type[Classifier]:
    _ensure_loaded(name)
    if name not in BACKENDS:
        raise ModelError(f"model folder names unknown backend {name!r}")
    return BACKENDS[name]


def load_classifier(folder: str | Path) -> Classifier:
    from ..modelio import load_model

    return load_model(folder)
