"""The build plan: a pure function from (recipe, source index) to shards of sample specs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anomset.dataset.contract import shard_relpath
from anomset.errors import RecipeError, SourceError
from anomset.recipe.load import LoadedRecipe
from anomset.recipe.schema import SPLITS, Count
from anomset.rng import derive_seed
from anomset.sources.base import SourceItem

NORMAL, REAL, SYNTHETIC = "normal", "real", "synthetic"


@dataclass(frozen=True)
class SampleSpec:
    """What one output sample will be, decided before any pixel is touched."""

    key: str
    class_name: str
    split: str
    origin: str  # NORMAL, REAL or SYNTHETIC
    source_key: str
    entry_index: int = -1  # index into the class's ``generate`` list for synthetic samples


@dataclass(frozen=True)
class ShardSpec:
    """One tar file: ``data/<class>/<split>-NNNNNN.tar``."""

    class_name: str
    split: str
    index: int
    samples: tuple[SampleSpec, ...]

    @property
    def relpath(self) -> str:
        return shard_relpath(self.class_name, self.split, self.index)


def sample_key(class_name: str, split: str, index: int) -> str:
    """Keys contain no dots (datasets splits member names at the first dot)."""
    return f"{class_name}-{split}-{index:09d}"


def make_plan(loaded: LoadedRecipe, index: dict[str, list[SourceItem]]) -> list[ShardSpec]:
    """Every shard of the build, in a stable order (class, split, shard index).

    ``index`` holds every recipe class (``launch.open_source`` checks that the source has them).
    """
    recipe = loaded.recipe
    shard_size = recipe.output.shard_size
    shards: list[ShardSpec] = []
    for class_name in sorted(recipe.classes):
        for split in SPLITS:
            samples = _split_samples(loaded, class_name, split, index[class_name])
            for start in range(0, len(samples), shard_size):
                shards.append(ShardSpec(class_name, split, start // shard_size,
                                        tuple(samples[start:start + shard_size])))
    return shards


def _split_samples(loaded: LoadedRecipe, class_name: str, split: str,
                   items: list[SourceItem]) -> list[SampleSpec]:
    plan = loaded.recipe.classes[class_name]
    where = f"classes.{class_name}"
    normals = [i for i in items if i.is_normal and i.split == split]
    reals = [i for i in items if not i.is_normal and i.split == split]
    chosen: list[tuple[str, SourceItem, int]] = []
    picked = _pick(loaded, normals, getattr(plan.normals, split), f"{where}.normals.{split}", "normal")
    chosen += [(NORMAL, item, -1) for item in picked]
    picked = _pick(loaded, reals, getattr(plan.real_defects, split), f"{where}.real_defects.{split}", "defect")
    chosen += [(REAL, item, -1) for item in picked]
    for entry_index, entry in enumerate(plan.generate):
        if entry.split != split or entry.count == 0:
            continue
        if not normals:
            raise SourceError(f"no {split} normal images to synthesise from for class {class_name!r}",
                              file=loaded.path, field=f"{where}.generate[{entry_index}]",
                              fix=f"give the source {split} normals or move the entry to the other split")
        rng = np.random.default_rng(derive_seed(loaded.data_hash, class_name, split, entry_index, "sources"))
        picks = rng.integers(len(normals), size=entry.count)
        chosen += [(SYNTHETIC, normals[int(i)], entry_index) for i in picks]
    return [SampleSpec(sample_key(class_name, split, n), class_name, split, origin, item.key, entry_index)
            for n, (origin, item, entry_index) in enumerate(chosen)]


def _pick(loaded: LoadedRecipe, items: list[SourceItem], count: Count, field: str,
          what: str) -> list[SourceItem]:
    """``count`` items ('all' = every one), a seeded subset when fewer are asked, in source order."""
    if count == "all":
        return items
    if count > len(items):
        raise RecipeError(f"asks for {count} {what} images but the source has {len(items)}",
                          file=loaded.path, field=field, fix=f"use at most {len(items)} or 'all'")
    rng = np.random.default_rng(derive_seed(loaded.data_hash, field))
    keep = sorted(rng.choice(len(items), size=count, replace=False).tolist())
    return [items[i] for i in keep]
