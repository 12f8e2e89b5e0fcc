"""anogen: AnoGen-style few-shot generation, one learned embedding per defect type, no position tokens."""

from __future__ import annotations

from anomset.concepts.generate import ConceptInpainting
from anomset.registry import SYNTHESIZERS


@SYNTHESIZERS.register("anogen")
class AnoGen(ConceptInpainting):
    """AnoGen: inpaint a defect type's learned embedding, no position tokens (needs anomset learn)."""

    method = "anogen"
