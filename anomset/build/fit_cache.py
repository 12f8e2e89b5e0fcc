"""Fits of learned quality filters (ARS) shared by a build's ranks through its state folder.

A filter that can save its fit (``save_state`` / ``load_state``, safetensors) is fitted once per class
and parameters: under an exclusive file lock the first rank that needs it fits and saves it
atomically; the others wait on the lock and load it; a resumed build loads it too. The file's metadata
(backbone id, revision, commit, config and weights hashes, params, data hash and class) decides
whether a saved fit is still valid: anything else is fitted again.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from pathlib import Path
from typing import Any

from anomset.quality.base import QualityFilter

LOCK = "fit.lock"


def fit_folder(root: Path, key: str, quality_filter: QualityFilter) -> Path:
    """``root/<filter>-<sha of key and params>``: one folder per class and parameter set."""
    ident = json.dumps([key, quality_filter.registry_name, quality_filter.identity_params()], sort_keys=True)
    return root / f"{quality_filter.registry_name}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}"


def fit_once(quality_filter: QualityFilter, pool: Any, root: Path | None, key: str) -> None:
    """Fit ``quality_filter`` on ``pool``, or load the fit saved under ``root`` for ``key`` (the data hash
    and class). Without ``root``, or for a filter that cannot save, it simply fits (in memory)."""
    saves = hasattr(quality_filter, "save_state") and hasattr(quality_filter, "load_state")
    if not quality_filter.learned or root is None or not saves:
        quality_filter.fit(pool)
        return
    folder = fit_folder(root, key, quality_filter)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the handle closes
        if quality_filter.load_state(folder, key):  # type: ignore[attr-defined]
            return
        quality_filter.fit(pool)
        quality_filter.save_state(folder, key)  # type: ignore[attr-defined]
