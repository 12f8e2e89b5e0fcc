"""What identifies clusters and learned concepts, so a checkpoint is never used for another recipe.

The **cluster hash** covers what the clustering reads and how: the source (without locations), the
output size (defects are seen at it), the class, the keys of its shown defects and the ``cluster``
spec. The **concept hash** adds the base model, its revision, the ``learn`` spec and the method.
Metadata (name, description...) and locations are in neither, so a card edit keeps the checkpoints.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from anomset.concepts.spec import ConceptsSpec


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def cluster_hash(source: dict[str, Any], image_size: list[int] | tuple[int, int], class_name: str,
                 shown_keys: list[str], spec: ConceptsSpec) -> str:
    """sha256 identifying one class's clustering (see the module docstring)."""
    return _digest({"source": source, "image_size": list(image_size), "class": class_name,
                    "shown": sorted(shown_keys), "cluster": spec.cluster.model_dump(mode="json", exclude={"device"})})


def concept_hash(cluster: str, spec: ConceptsSpec, method: str) -> str:
    """sha256 identifying one class's learned concepts of ``method`` (gaa or anogen)."""
    learn = spec.learn.model_dump(mode="json", exclude={"device", "save_every", "gradient_checkpointing"})
    return _digest({"cluster": cluster, "model": spec.model, "revision": spec.revision or "", "learn": learn,
                    "method": method})
