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
from anomset.errors import SourceError
from anomset.features.fingerprint import model_fingerprint as fingerprint_model
from anomset.recipe.identity import locations, model_locations
from anomset.recipe.load import LoadedRecipe
from anomset.sources.base import Source
from anomset.synth.textures import IMAGE_SUFFIXES

SOURCE = "source"


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
    """``model:<sha>`` of a local model folder (configs and weights, ``anomset.features.fingerprint``)."""
    if not Path(folder).expanduser().is_dir():
        raise SourceError("model folder not found", file=file or None, field=field or None,
                          fix=f"point it at an existing save_pretrained folder (got {folder})")
    return fingerprint_model(folder)


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
