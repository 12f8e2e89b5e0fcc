"""Fingerprints of what a build reads from outside its recipe: the source's data and every location folder.

Locations (a source's ``root``, a ``texture_dir``, a ``backbone`` or ``model`` set to a local folder)
are out of the data hash, so the same files anywhere give the same bytes; their fingerprints are
recorded in the build state, so other files under the same recipe are refused instead of silently mixed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from anomset.concepts.fingerprint import FIELD as CONCEPTS_FIELD
from anomset.concepts.fingerprint import concepts_fingerprint
from anomset.diffusion.loading import WEIGHT_SUFFIXES, weights_sha256
from anomset.errors import SourceError
from anomset.recipe.identity import locations, model_locations
from anomset.recipe.load import LoadedRecipe
from anomset.sources.base import Source
from anomset.synth.textures import IMAGE_SUFFIXES

SOURCE = "source"
CONFIG_SUFFIX = ".json"
# (folder, every config and weight file's relative path, size and mtime) -> fingerprint: a model of
# gigabytes is hashed once per process however many builds, ranks' checks or entries name it.
_MODEL_CACHE: dict[tuple[str, tuple[tuple[str, int, int], ...]], str] = {}


def folder_fingerprint(folder: str, *, file: str = "", field: str = "") -> str:
    """Hash of the relative path and size of every image file under ``folder`` (what a texture bank reads)."""
    root = Path(folder)
    if not root.is_dir():
        raise SourceError("folder not found", file=file or None, field=field or None,
                          fix=f"point it at an existing folder (got {folder})")
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        digest.update(f"{path.relative_to(root).as_posix()}:{path.stat().st_size}\n".encode())
    return f"folder:{digest.hexdigest()[:16]}"


def model_fingerprint(folder: str, *, file: str = "", field: str = "") -> str:
    """``model:<sha>`` over a local model folder's configs (every ``.json``: config, preprocessor,
    pipeline index, scheduler) and its weights (``weights_sha256``, as the loaders record): content,
    since retrained weights keep their size. Cached by each file's size and mtime."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise SourceError("model folder not found", file=file or None, field=field or None,
                          fix=f"point it at an existing save_pretrained folder (got {folder})")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith((CONFIG_SUFFIX, *WEIGHT_SUFFIXES)))
    stats = tuple((p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    key = (str(root.resolve()), stats)
    if key not in _MODEL_CACHE:
        digest = hashlib.sha256()
        for path in files:
            if path.suffix.lower() == CONFIG_SUFFIX:
                digest.update(f"{path.relative_to(root).as_posix()}\n".encode())
                digest.update(path.read_bytes())
        digest.update(weights_sha256(root).encode())
        _MODEL_CACHE[key] = f"model:{digest.hexdigest()[:16]}"
    return _MODEL_CACHE[key]


def input_fingerprints(loaded: LoadedRecipe, source: Source) -> dict[str, str]:
    """``{"source": ..., "<dotted location field>": ...}`` for the build state and the manifest.

    The source fingerprints its own data (its ``root`` included); every other location param is a
    folder fingerprinted here (a model folder by its configs and weights, ``model_fingerprint``). Call
    after the source indexed the recipe's classes.
    """
    found = {SOURCE: source.fingerprint()}
    models = model_locations(loaded.resolved)
    for field, folder in sorted(locations(loaded.resolved).items()):
        if field in models:
            found[field] = model_fingerprint(folder, file=loaded.path, field=field)
        elif not field.startswith("source."):
            found[field] = folder_fingerprint(folder, file=loaded.path, field=field)
    concepts = concepts_fingerprint(loaded.resolved)  # learned concepts (gaa, anogen) are data too
    if concepts is not None:
        found[CONCEPTS_FIELD] = concepts
    return found
