"""Resolve a model reference (Hub id or local folder), load it with ``from_pretrained``, and say what it is.

A reference is a folder when it exists on disk (or looks like a path); otherwise it is a Hub id. Every
failure becomes one ``RecipeError`` line naming the reference and the fix. Torch and transformers are
imported inside the functions: this module is imported when the recipe is validated.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anomset.errors import RecipeError

# torchvision's / timm's ImageNet statistics: the default when a model ships no preprocessor config.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSOR_FILE = "preprocessor_config.json"
CONFIG_FILE = "config.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
# Config keys that change with the library or the loading call, not with the network.
VOLATILE_CONFIG_KEYS = ("transformers_version", "dtype", "torch_dtype", "architectures")
FIX = "pass a folder written by save_pretrained (config.json + weights) or a Hub id that is in the local cache"


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from: the reference as given, and for a Hub id the revision and commit."""

    name: str
    folder: Path | None  # set for a local folder
    revision: str | None = None

    @property
    def is_local(self) -> bool:
        return self.folder is not None

    @property
    def location(self) -> str:
        """What ``from_pretrained`` is given."""
        return str(self.folder) if self.folder is not None else self.name


def _looks_like_path(reference: str) -> bool:
    return reference.startswith(("/", ".", "~")) or "\\" in reference or reference.count("/") > 1


def parse_reference(reference: str, revision: str | None = None) -> ModelRef:
    """A ``ModelRef`` for a folder or a Hub id, checked without loading anything (no network).

    Raises ``ValueError`` (the recipe loader locates it) when a folder holds no model or the string
    is neither a folder nor a valid Hub id.
    """
    path = Path(reference).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{reference}: is a file, not a model folder (fix: {FIX})")
        if not (path / CONFIG_FILE).is_file():
            raise ValueError(f"{reference}: not a transformers model folder, it has no {CONFIG_FILE} (fix: {FIX})")
        return ModelRef(reference, path.resolve(), revision)
    if _looks_like_path(reference) or not HUB_ID.match(reference):
        raise ValueError(f"{reference}: no such model folder, and not a Hub id (fix: {FIX})")
    return ModelRef(reference, None, revision)


def _error(ref: ModelRef, what: str, field: str) -> RecipeError:
    return RecipeError(f"{ref.name}: {what}", field=field, fix=FIX)


def hub_file(ref: ModelRef, filename: str) -> Path | None:
    """A file of a Hub model through the Hub client (its cache when offline); None if the repo lacks it."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(ref.name, filename, revision=ref.revision))
    except EntryNotFoundError:
        return None


def model_file(ref: ModelRef, filename: str) -> Path | None:
    """A file of the model, local or from the Hub; None when the model has no such file."""
    if ref.folder is not None:
        path = ref.folder / filename
        return path if path.is_file() else None
    return hub_file(ref, filename)


def load_model(ref: ModelRef, *, auto_class: str = "AutoModel", dtype: str = "float32",
               field: str = "backbone") -> Any:
    """The model in eval mode with frozen weights, through ``transformers.<auto_class>.from_pretrained``."""
    import torch
    import transformers
    from transformers.utils import logging as transformers_logging

    loader = getattr(transformers, auto_class)
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # a weight-loading bar per rank would break the run's own lines
    try:
        model = loader.from_pretrained(ref.location, revision=ref.revision, dtype=getattr(torch, dtype))
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _error(ref, f"cannot load it with {auto_class}.from_pretrained: {first[:200]}", field) from None
    finally:
        if bars:
            transformers_logging.enable_progress_bar()
    model.eval()
    model.requires_grad_(False)
    return model


def normalisation(ref: ModelRef) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    """(mean, std, where they came from): the model's preprocessor config, else ImageNet's statistics.

    Read as plain JSON, so a folder with only config + weights works and no processor class (some
    need torchvision) is ever built.
    """
    try:
        path = model_file(ref, PREPROCESSOR_FILE)
    except Exception:
        path = None
    if path is None:
        return IMAGENET_MEAN, IMAGENET_STD, "imagenet-default"
    config = json.loads(path.read_text(encoding="utf-8"))
    if config.get("do_normalize", True) is False:
        return (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), PREPROCESSOR_FILE
    mean = tuple(float(v) for v in config.get("image_mean", IMAGENET_MEAN))
    std = tuple(float(v) for v in config.get("image_std", IMAGENET_STD))
    return mean, std, PREPROCESSOR_FILE


def config_sha256(config: Any) -> str:
    """sha256 of the model config's canonical JSON, without the keys that vary with the loader."""
    data = {k: v for k, v in config.to_dict().items() if not k.startswith("_") and k not in VOLATILE_CONFIG_KEYS}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def weights_sha256(folder: Path) -> str:
    """sha256 over the weight files of a local folder (name and content), which no commit identifies."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.name.endswith(WEIGHT_SUFFIXES)):
        digest.update(path.name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def hub_commit(ref: ModelRef) -> str | None:
    """The commit a Hub reference resolves to (the cache's snapshot folder name), None for a folder."""
    if ref.folder is not None:
        return None
    try:
        path = hub_file(ref, CONFIG_FILE)
    except Exception:
        return None
    return path.parent.name if path is not None and path.parent.parent.name == "snapshots" else None


def provenance(ref: ModelRef, model: Any) -> dict[str, Any]:
    """What identifies the loaded network: reference, revision and commit, config hash, local weights hash."""
    record: dict[str, Any] = {
        "model": ref.name,
        "revision": ref.revision or "",
        "commit": hub_commit(ref) or "",
        "model_type": str(getattr(model.config, "model_type", "")),
        "config_sha256": config_sha256(model.config),
    }
    if ref.folder is not None:
        record["weights_sha256"] = weights_sha256(ref.folder)
    return record
