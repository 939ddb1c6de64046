"""Model folders: save and load, with safety and compatibility checks.

A model folder holds only data:

    config.json        labels, thresholds, settings, training info, data hash, versions,
                       cross-validated scores and confusion, and a sha256 per file
    *.safetensors      weights and arrays (never pickle)
    *.json             vocabularies, lexicon, cross-validation scores
    encoder/           tokenizer and encoder config for transformer backends
    README.md          the model card

Loading reads config.json, refuses any file it does not list (or whose hash differs), checks
the label set and format version, then asks the backend to read its parts. No code from the
folder is ever run; ``trust_remote_code`` is never set.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from .classifiers.base import Classifier, backend_class
from .errors import ModelError
from .records import STANCES, TARGETS, atomic_write_text

FORMAT = "pipeline-model"
FORMAT_VERSION = 1
CONFIG = "config.json"
CARD = "README.md"
# Files a folder may hold beside those listed in config.json.
ALWAYS_ALLOWED = {CONFIG, CARD}
SAFE_SUFFIXES = {".json", ".safetensors", ".txt", ".md", ".model"}


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("pipeline", "torch", "transformers", "scikit-learn", "numpy", "safetensors", "tokenizers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_hash(files: dict[str, str], thresholds: dict[str, float], calibration: dict[str, float] | None = None) -> str:
    payload: dict[str, Any] = {"files": files, "thresholds": thresholds}
    if calibration is not None:  # absent from folders saved before calibration existed
        payload["calibration"] = calibration
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _listed_files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def check_model_output(folder: str | Path) -> Path:
    """Refuse, before any training, a model path that save_model would refuse afterwards."""
    folder = Path(folder)
    if not folder.parent.is_dir():
        raise ModelError(f"{folder}: output folder {folder.parent} does not exist")
    if folder.exists() and (
        not folder.is_dir() or (not (folder / CONFIG).exists() and any(folder.iterdir()))
    ):
        raise ModelError(f"{folder}: exists and is not a model folder; refusing to replace it")
    return folder


def save_model(
    classifier: Classifier,
    folder: str | Path,
    *,
    training: dict[str, Any],
    cv: dict[str, Any] | None = None,
    extra_json: dict[str, Any] | None = None,
    card: str = "",
) -> Path:
    """Write a complete model folder atomically (built beside the target, then renamed)."""
    folder = check_model_output(folder)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as exc:
        raise ModelError(f"{folder}: cannot write in {folder.parent} ({exc.strerror})") from None
    try:
        classifier.save_parts(tmp)
        for name, data in (extra_json or {}).items():
            (tmp / name).write_text(json.dumps(data), encoding="utf-8")
        files = {name: file_sha256(tmp / name) for name in _listed_files(tmp)}
        calibration = {"stance_temperature": float(classifier.stance_temperature)}
        for name in files:
            if Path(name).suffix not in SAFE_SUFFIXES:
                raise ModelError(f"backend wrote an unsafe file type: {name}")
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "backend": classifier.name,
            "labels": {"stances": list(STANCES), "targets": list(TARGETS)},
            "thresholds": classifier.thresholds,
            "calibration": calibration,
            "settings": classifier.settings,
            "training": training,
            "versions": package_versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": files,
            "model_hash": model_hash(files, classifier.thresholds, calibration),
        }
        if cv:
            config.update(cv)
        (tmp / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
        (tmp / CARD).write_text(card or f"# {classifier.name} model\n", encoding="utf-8")
        if folder.exists():
            check_model_output(folder)
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove_stale_temporaries(folder)
    return folder


def _remove_stale_temporaries(folder: Path) -> None:
    """Folders a killed `train` left beside the target (never loaded: their names are hidden)."""
    stale = re.compile(re.escape(f".{folder.name}.") + r"(?:[a-z0-9_]{8}|old)")
    for path in folder.parent.glob(f".{glob.escape(folder.name)}.*"):
        if stale.fullmatch(path.name) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def read_config(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: model folder not found")
    path = folder / CONFIG
    if not path.exists():
        raise ModelError(f"{path}: not a model folder (no config.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelError(f"{path}: corrupt config ({exc})") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read ({exc.strerror})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelError(f"{path}: not a pipeline model config")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format version {config.get('format_version')} is not supported "
            f"(this version reads {FORMAT_VERSION}); retrain the model"
        )
    labels = config.get("labels", {})
    if not isinstance(labels, dict):
        raise ModelError(f"{path}: corrupt config ('labels' is not an object)")
    if labels.get("stances") != list(STANCES) or labels.get("targets") != list(TARGETS):
        raise ModelError(
            f"{path}: model was trained with another label set "
            f"(stances {labels.get('stances')}, targets {labels.get('targets')}); retrain it"
        )
    _check_config_fields(path, config)
    return config


def _check_config_fields(path: Path, config: dict[str, Any]) -> None:
    """A hand-edited or truncated config is refused with one line, never a traceback."""
    for field, kind in (("backend", str), ("settings", dict), ("thresholds", dict), ("files", dict),
                        ("model_hash", str)):
        if not isinstance(config.get(field), kind):
            raise ModelError(f"{path}: corrupt config (missing or mistyped {field!r})")
    thresholds = config["thresholds"]
    if any(isinstance(v, bool) or not isinstance(v, int | float) for v in thresholds.values()):
        raise ModelError(f"{path}: corrupt config (a threshold is not a number)")
    if not all(isinstance(v, str) for v in config["files"].values()):
        raise ModelError(f"{path}: corrupt config (a file hash is not a string)")
    calibration = config.get("calibration")
    if calibration is not None:
        temperature = calibration.get("stance_temperature") if isinstance(calibration, dict) else None
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not 0 < temperature < 1e6:
            raise ModelError(f"{path}: corrupt config (calibration.stance_temperature is not a positive number)")
    # model_hash covers the file list, thresholds and calibration: an edit to any is caught here.
    if model_hash(config["files"], thresholds, calibration) != config["model_hash"]:
        raise ModelError(f"{path}: config was changed after training (model_hash does not match); retrain it")


def verify_files(folder: Path, config: dict[str, Any]) -> None:
    """Refuse unexpected files and files whose content changed since saving."""
    listed = config.get("files", {})
    for name in _listed_files(folder):
        if name not in listed and name not in ALWAYS_ALLOWED:
            raise ModelError(f"{folder / name}: unexpected file in model folder; refusing to load")
    for name, digest in listed.items():
        path = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ModelError(f"{folder / CONFIG}: lists a file outside the model folder ({name}); refusing to load")
        if Path(name).suffix not in SAFE_SUFFIXES:
            raise ModelError(f"{path}: unsafe file type in model folder; refusing to load")
        if not path.exists():
            raise ModelError(f"{path}: missing model file")
        if file_sha256(path) != digest:
            raise ModelError(f"{path}: file is corrupt or was changed after training (hash mismatch)")


def load_model(folder: str | Path) -> Classifier:
    folder = Path(folder)
    config = read_config(folder)
    verify_files(folder, config)
    cls = backend_class(config.get("backend", ""))
    try:
        classifier = cls.load_parts(folder, config.get("settings", {}))
    except ModelError:
        raise
    except Exception as exc:  # a corrupt weight file surfaces as many different errors
        raise ModelError(f"{folder}: cannot load model ({type(exc).__name__}: {exc})") from None
    classifier.thresholds = {t: float(config["thresholds"].get(t, 0.5)) for t in TARGETS}
    classifier.stance_temperature = float((config.get("calibration") or {}).get("stance_temperature", 1.0))
    classifier.model_info = {"name": folder.name, "backend": cls.name, "hash": config["model_hash"]}
    # Not in model_info: that is copied into every predicted record.
    classifier.__dict__["engine_agreement"] = (config.get("training") or {}).get("engine_agreement") or {}
    return classifier


def read_json_part(folder: Path, name: str) -> Any:
    with contextlib.suppress(FileNotFoundError):
        return json.loads((folder / name).read_text(encoding="utf-8"))
    return None


def write_card(folder: Path, text: str) -> None:
    atomic_write_text(folder / CARD, text)
