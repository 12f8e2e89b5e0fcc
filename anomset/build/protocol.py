"""The few-shot protocol: which real defects generators may learn from, held out of the test split."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np

from anomset.rng import derive_seed
from anomset.sources.base import SourceItem


def shown_count(share: float, available: int) -> int:
    """How many of ``available`` defects of one type to show: share rounded, >= 1, leaving >= 1 to test."""
    if share <= 0 or available < 2:
        return 0
    return min(available - 1, max(1, int(np.floor(share * available + 0.5))))


def show_defects_to_generators(items: list[SourceItem], share: float, recipe_hash: str) -> list[SourceItem]:
    """Move a seeded ``share`` of each test defect type into the train split (GAA shows ⅓ to generators).

    Moved defects never appear in the output test split; synthesizers see them through
    ``ClassPool.defect_masks`` and ``real_defects.train`` may copy them into the output train split.
    """
    by_type: dict[str, list[int]] = defaultdict(list)
    for position, item in enumerate(items):
        if not item.is_normal and item.split == "test":
            by_type[item.defect_type].append(position)
    moved: set[int] = set()
    for defect_type, positions in sorted(by_type.items()):
        rng = np.random.default_rng(derive_seed(recipe_hash, items[positions[0]].class_name, defect_type, "shown"))
        count = shown_count(share, len(positions))
        moved.update(positions[i] for i in rng.choice(len(positions), size=count, replace=False).tolist())
    return [dataclasses.replace(item, split="train") if i in moved else item for i, item in enumerate(items)]
