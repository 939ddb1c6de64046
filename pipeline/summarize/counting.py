"""Counting: one count vector per sentence (or per document, group...), and shares from counts.

Counting rules: a sentence with stance blame and targets [a, b] counts once for a and once for
b. Targets are only counted for blame and defend sentences (a neutral sentence has none by the
guideline). Everything here is pure numpy and works on any leading shape.
"""

from __future__ import annotations

import numpy as np

from ..records import NEUTRAL, STANCES, TARGETS

# Stances whose targets are counted, in STANCES order (blame, defend).
TARGETED: tuple[str, ...] = tuple(s for s in STANCES if s != NEUTRAL)
N_STANCES = len(STANCES)
N_TARGETS = len(TARGETS)
TARGETED_INDEX = np.array([STANCES.index(s) for s in TARGETED])
# Layout of one count vector: [sentences, per-stance counts..., per (targeted stance, target) counts...]
N_FEATURES = 1 + N_STANCES + len(TARGETED) * N_TARGETS
SHARE_NAMES = ("stance_share", "of_stance", "of_all")


def count_vectors(stance: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """One count vector per sentence, shape (n, N_FEATURES).

    stance: (n,) indices into STANCES; targets: (n, len(TARGETS)) 0/1.
    """
    stance = np.asarray(stance, dtype=int)
    targets = np.asarray(targets, dtype=int).reshape(len(stance), N_TARGETS)
    out = np.zeros((len(stance), N_FEATURES), dtype=np.int64)
    out[:, 0] = 1
    out[np.arange(len(stance)), 1 + stance] = 1
    for k, s in enumerate(TARGETED_INDEX):
        chosen = stance == s
        start = 1 + N_STANCES + k * N_TARGETS
        out[chosen, start : start + N_TARGETS] = targets[chosen]
    return out


def split_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sentences, stance counts (..., 3), target counts (..., 2, 5)) of count vectors."""
    counts = np.asarray(counts, dtype=float)
    n = counts[..., 0]
    stance_counts = counts[..., 1 : 1 + N_STANCES]
    target_counts = counts[..., 1 + N_STANCES :].reshape(*counts.shape[:-1], len(TARGETED), N_TARGETS)
    return n, stance_counts, target_counts


def shares(counts: np.ndarray) -> dict[str, np.ndarray]:
    """Shares from count vectors (..., N_FEATURES); NaN where a denominator is not positive.

    stance_share (..., 3): share of sentences with each stance;
    of_stance (..., 2, 5): share of blame (defend) sentences naming each target;
    of_all (..., 2, 5): share of all sentences that blame (defend) each target.
    Counts may be estimates (fractional, even negative): a denominator <= 0 gives NaN.
    """
    n, stance_counts, target_counts = split_counts(counts)
    n = np.where(n > 0, n, np.nan)
    by_stance = stance_counts[..., TARGETED_INDEX]
    by_stance = np.where(by_stance > 0, by_stance, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        stance_share = stance_counts / n[..., None]
        of_stance = target_counts / by_stance[..., None]
        of_all = target_counts / n[..., None, None]
    return {"stance_share": stance_share, "of_stance": of_stance, "of_all": of_all}
