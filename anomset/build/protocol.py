"""The few-shot protocol: which real defects generators may learn from, held out of the test split.

The field's split (AnomalyDiffusion, DualAnoDiff, SeaS: ``len // 3``) shows the **first** third of
each defect type in sorted file order and scores the rest. ``shown_defect_keys`` is that rule, the
one function the build and the evaluation both call, so scores are comparable with the papers.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterable
from fractions import Fraction

import numpy as np

from anomset.rng import derive_seed
from anomset.sources.base import SourceItem

FIRST, RANDOM = "first", "random"
SELECTIONS = (FIRST, RANDOM)


def share_fraction(share: float | str) -> Fraction:
    """The share as an exact fraction: ``"1/3"`` as written, a number as the nearest fraction with a
    denominator of at most 1000 (``1/3`` or ``0.3333333`` is a third; ``0.34`` stays 17/50)."""
    if isinstance(share, str):
        return Fraction(share)
    return Fraction(share).limit_denominator(1000)


def shown_count(share: float | str, available: int) -> int:
    """How many of ``available`` defects of one type to show: ``floor(share × available)``, leaving one to test.

    With ``1/3`` this is the papers' ``available // 3``; ``0.34`` gives the same up to 49 defects.
    """
    if available < 2:
        return 0
    return min(available - 1, math.floor(share_fraction(share) * available))


def shown_defect_keys(items: Iterable[SourceItem], share: float | str, selection: str = FIRST,
                      data_hash: str = "") -> list[str]:
    """Keys of the real test defects shown to generators, sorted; the other test defects are scored.

    Per defect type: ``first`` takes the first ``shown_count`` in key order (a file source's keys
    sort like its file names); ``random`` a draw seeded by the data hash, class and type.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"unknown shown_selection {selection!r}; use one of {', '.join(SELECTIONS)}")
    by_type: dict[tuple[str, str], list[str]] = defaultdict(list)
    for item in items:
        if not item.is_normal and item.split == "test":
            by_type[(item.class_name, item.defect_type)].append(item.key)
    shown: list[str] = []
    for (class_name, defect_type), keys in sorted(by_type.items()):
        keys.sort()
        count = shown_count(share, len(keys))
        if selection == FIRST:
            shown += keys[:count]
        else:
            rng = np.random.default_rng(derive_seed(data_hash, class_name, defect_type, "shown"))
            shown += [keys[i] for i in rng.choice(len(keys), size=count, replace=False).tolist()]
    return sorted(shown)


def show_defects_to_generators(items: list[SourceItem], shown: Iterable[str]) -> list[SourceItem]:
    """``items`` with the ``shown`` defects moved into the train split.

    Moved defects never appear in the output test split; synthesizers see them through the class
    pool and ``real_defects.train`` may copy them into the output train split.
    """
    keys = set(shown)
    return [dataclasses.replace(item, split="train") if item.key in keys else item for item in items]
