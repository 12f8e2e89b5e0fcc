"""What identifies clusters and learned concepts, so a checkpoint is never used for another recipe.

The **cluster hash** covers what the clustering reads and how: the source (without locations), the
output size (defects are seen at it), the class, the keys of its shown defects and the ``cluster``
spec. The **concept hash** adds the base model, its revision, the ``learn`` spec and the method.
Metadata (name, description...) and locations are in neither, so a card edit keeps the checkpoints;
a model (``model``, ``cluster.backbone``) set to a local folder counts by its content fingerprint, not
its path, so a moved model folder keeps them and retrained weights in place do not.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from anomset.concepts.spec import ConceptsSpec


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def model_identity(reference: str) -> str:
    """A Hub id as given; a local folder's ``model:<sha>`` content fingerprint (where it lies is no part)."""
    from anomset.recipe.identity import is_model_folder

    if is_model_folder(reference):
        from anomset.features.fingerprint import model_fingerprint

        return model_fingerprint(reference)
    return reference


def cluster_hash(source: dict[str, Any], image_size: list[int] | tuple[int, int], class_name: str,
                 shown_keys: list[str], spec: ConceptsSpec) -> str:
    """sha256 identifying one class's clustering (see the module docstring)."""
    cluster = {**spec.cluster.model_dump(mode="json", exclude={"device"}),
               "backbone": model_identity(spec.cluster.backbone)}
    return _digest({"source": source, "image_size": list(image_size), "class": class_name,
                    "shown": sorted(shown_keys), "cluster": cluster})


def concept_hash(cluster: str, spec: ConceptsSpec, method: str) -> str:
    """sha256 identifying one class's learned concepts of ``method`` (gaa or anogen)."""
    learn = spec.learn.model_dump(mode="json", exclude={"device", "save_every", "gradient_checkpointing"})
    return _digest({"cluster": cluster, "model": model_identity(spec.model), "revision": spec.revision or "",
                    "learn": learn, "method": method})
