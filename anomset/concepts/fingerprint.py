"""A fingerprint of the learned concepts a build reads, for the build state (as texture folders have).

The concept hash inside each checkpoint already refuses concepts learned for other settings; this
catches the rest: concepts relearned (another machine, another run) under the same recipe would give
other bytes, so a resumed build refuses to mix them with shards made from the old ones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from anomset.concepts.spec import METHODS
from anomset.dataset.files import file_sha256

FIELD = "concepts.dir"


def concepts_fingerprint(resolved: dict[str, Any]) -> str | None:
    """``concepts:<sha>`` over the clusterings and finished checkpoints of the classes whose entries use
    gaa or anogen (content, not size: retrained tensors keep their size); None when none does."""
    concepts = resolved.get("concepts")
    if not concepts:
        return None
    used = sorted({(name, entry["synthesizer"]) for name, plan in resolved["classes"].items()
                   for entry in plan.get("generate", []) if entry["synthesizer"] in METHODS})
    if not used:
        return None
    digest = hashlib.sha256()
    for class_name, method in used:
        folder = Path(concepts["dir"]) / class_name
        for path in (folder / "clusters.json", folder / f"{method}.safetensors"):
            state = file_sha256(path) if path.is_file() else "missing"
            digest.update(f"{class_name}/{path.name}:{state}\n".encode())
    return f"concepts:{digest.hexdigest()[:16]}"
