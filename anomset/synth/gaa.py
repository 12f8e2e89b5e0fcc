"""gaa: GAA's few-shot generation, learned cluster tokens plus the mask's position tokens, inpainted in the mask."""

from __future__ import annotations

from anomset.concepts.generate import ConceptInpainting
from anomset.registry import SYNTHESIZERS


@SYNTHESIZERS.register("gaa")
class Gaa(ConceptInpainting):
    """GAA: inpaint a learned anomaly cluster's tokens + mask position tokens (needs anomset cluster + learn)."""

    method = "gaa"
