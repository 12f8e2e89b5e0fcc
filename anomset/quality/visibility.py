"""``visibility``: the mean change inside the mask; a candidate nobody could see is no anomaly."""

from __future__ import annotations

from anomset.quality.base import Candidate, QualityFilter, mean_change_inside
from anomset.registry import QUALITY_FILTERS


@QUALITY_FILTERS.register("visibility")
class Visibility(QualityFilter):
    """Mean |change| inside the mask on the 0-255 scale (a generation entry's min_visibility)."""

    score_range = (0.0, 255.0)

    def score(self, candidate: Candidate) -> float:
        return mean_change_inside(candidate.source, candidate.image, candidate.mask)
