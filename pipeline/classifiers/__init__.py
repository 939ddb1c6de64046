"""Classifier backends behind one interface; see base.py."""

from .base import BACKENDS, Classifier, Probabilities, decide, get_backend, load_classifier

__all__ = ["BACKENDS", "Classifier", "Probabilities", "decide", "get_backend", "load_classifier"]
