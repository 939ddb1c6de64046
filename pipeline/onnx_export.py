"""ONNX exports of a fine-tuned encoder (up to the mean-pooled embedding), kept in a cache.

The export is derived data: it is built once per model hash with torch.onnx.export (opset 17,
the TorchScript exporter: no onnxscript or optimum needed) and, for ``onnx-int8``, ONNX
Runtime's dynamic quantisation (per-channel int8 weights, like ``torch-int8``). Files are
written atomically into ``engines.cache_root()/onnx/<model hash>/`` with a manifest of their
SHA-256; a file whose hash no longer matches is rebuilt, never loaded. Nothing is written
into, or loaded as code from, the model folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from .records import atomic_write_text
from .runtimes import cache_root

OPSET = 17
# Bump when the export changes, so old cache entries are not reused.
EXPORT_VERSION = 1
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    from .modelio import file_sha256

    return file_sha256(path)


def export_encoder(encoder, input_names: list[str], path: Path) -> None:
    """Write ``encoder`` (a transformers model) to ``path`` as ONNX: inputs ``input_names``
    (int64, batch x tokens), one output ``pooled`` (float32, batch x hidden), mean pooling
    over the attention mask included."""
    import copy

    import torch

    from .encoder import mean_pool

    model = copy.deepcopy(encoder).eval()
    with contextlib.suppress(AttributeError, ValueError, ImportError):
        model.set_attn_implementation("eager")  # plain matmuls export to plain ONNX ops
    if getattr(model, "pooler", None) is not None:
        model.pooler = None

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            named = dict(zip(input_names, inputs, strict=True))
            return mean_pool(self.model(**named).last_hidden_state, named["attention_mask"])

    generator = torch.Generator().manual_seed(0)
    example = tuple(torch.randint(5, 50, (2, 7), generator=generator) for _ in input_names)
    example = tuple(torch.ones_like(x) if name == "attention_mask" else
                    (torch.zeros_like(x) if name == "token_type_ids" else x)
                    for name, x in zip(input_names, example, strict=True))
    axes = {name: {0: "batch", 1: "tokens"} for name in input_names}
    axes["pooled"] = {0: "batch"}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation notices about the exporter itself
        torch.onnx.export(Pooled().eval(), example, str(path), input_names=input_names, output_names=["pooled"],
                          dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)


def quantize_int8(source: Path, path: Path) -> None:
    """ONNX Runtime dynamic quantisation: int8 weights per output channel, activations
    quantised per tensor at run time (uint8, which the CPU kernels with VNNI prefer)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process the graph, on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(logging.NOTSET)


def build(encoder, input_names: list[str], folder: Path, *, int8: bool) -> Path:
    """Export (and quantise) into ``folder`` without a cache: for models not yet saved
    (cross-validation folds in the benchmark, tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "encoder.onnx"
    if not fp32.exists():
        export_encoder(encoder, input_names, fp32)
    if not int8:
        return fp32
    quantized = folder / "encoder.int8.onnx"
    if not quantized.exists():
        quantize_int8(fp32, quantized)
    return quantized


def cached_onnx(model_hash: str, *, int8: bool, load_encoder: Callable[[], tuple],
                progress: Callable[[str], None] | None = None) -> Path:
    """The cached ONNX file for ``model_hash``, built on first use.

    ``load_encoder`` returns (torch encoder, input names) and is only called when the file has
    to be built, so a cached run never imports torch.
    """
    folder = cache_root() / "onnx" / f"{model_hash}-v{EXPORT_VERSION}"
    name = "encoder.int8.onnx" if int8 else "encoder.onnx"
    manifest = _read_manifest(folder)
    path = folder / name
    if manifest.get(name) and path.is_file() and _sha256(path) == manifest[name]:
        return path
    if progress:
        progress(f"building the {'int8 ' if int8 else ''}ONNX encoder for model {model_hash} "
                 f"in {folder} (once per model)")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".build.", dir=folder) as tmp:
        fp32 = folder / "encoder.onnx"
        if manifest.get("encoder.onnx") and fp32.is_file() and _sha256(fp32) == manifest["encoder.onnx"]:
            source = fp32
        else:
            encoder, input_names = load_encoder()
            source = Path(tmp) / "encoder.onnx"
            export_encoder(encoder, input_names, source)
            manifest["encoder.onnx"] = _sha256(source)
            os.replace(source, fp32)
            source = fp32
        if int8:
            built = Path(tmp) / name
            quantize_int8(source, built)
            manifest[name] = _sha256(built)
            os.replace(built, path)
    # Re-read and merge, so two processes building different files do not drop each other's.
    atomic_write_text(folder / MANIFEST, json.dumps({**_read_manifest(folder), **manifest}, indent=2))
    return path


def _read_manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
