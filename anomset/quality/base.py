"""The filter stage's contract: ``fit(pool)`` once per class, then ``score(candidate)`` per candidate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from anomset.configurable import Configurable


@dataclass(frozen=True)
class Candidate:
    """A synthetic sample before it is kept: the normal it came from, the altered image and its mask."""

    class_name: str
    source: np.ndarray  # uint8 H×W×3, the untouched normal image
    image: np.ndarray  # uint8 H×W×3
    mask: np.ndarray  # uint8 H×W {0,255}


class QualityFilter(Configurable):
    """Scores candidates; the renderer keeps one whose score reaches the entry's threshold.

    Subclasses that learn from the class (ARS trains a discriminator on its normals) do it in
    ``fit``, which runs once per class on the rank that builds it; ``score`` must be deterministic.
    """

    # The json field a filter's score is written to, when it has one of its own (ARS: "ars_score").
    score_field: str = ""
    # True for filters that fit on the class's data (ARS): the pre-flight probe does not fit or use them.
    learned: ClassVar[bool] = False
    # Where scores can lie: a recipe's ``min_score`` outside it is refused when the recipe loads.
    score_range: ClassVar[tuple[float, float]] = (float("-inf"), float("inf"))

    def identity_params(self) -> dict[str, Any]:
        """The params that decide what ``fit`` learns, with local folders by content (a moved model folder
        keeps its saved fits); the default is every resolved param."""
        return self.resolved_params()

    def fit(self, pool: Any) -> QualityFilter:
        """Learn what the filter needs from the class pool (``context.ClassPool``); returns self."""
        return self

    def score(self, candidate: Candidate) -> float:
        raise NotImplementedError

    def score_batch(self, candidates: Sequence[Candidate]) -> list[float]:
        """Scores of several candidates (filters with a network override it to batch their forward pass)."""
        return [self.score(c) for c in candidates]


def mean_change_inside(before: np.ndarray, after: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute change inside the mask, on the 0–255 scale (0 for an empty mask)."""
    inside = mask > 0
    if not inside.any():
        return 0.0
    return float(np.abs(after[inside].astype(np.int16) - before[inside].astype(np.int16)).mean())
