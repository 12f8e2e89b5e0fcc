"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import hashlib
from pathlib import Path

STATE_DIR = ".anomset"


def tree_digest(folder: Path, include_state: bool = False) -> dict[str, str]:
    """relative path → sha256 of every file under ``folder`` (resume markers excluded by default)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and (include_state or not rel.startswith(STATE_DIR)):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
