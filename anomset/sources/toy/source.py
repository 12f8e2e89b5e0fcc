"""``toy``: a built-in procedural source so a fresh machine can build and test with no download."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.errors import RecipeError
from anomset.registry import SOURCES
from anomset.rng import derive_seed
from anomset.sample import GOOD
from anomset.sources.base import LoadedItem, Source, SourceItem
from anomset.sources.toy.defects import DEFECTS_BY_CLASS, render_defect
from anomset.sources.toy.normals import OBJECT_CLASSES, TEXTURE_CLASSES, render_normal

ALL_CLASSES = tuple(sorted(TEXTURE_CLASSES + OBJECT_CLASSES))


class ToyParams(StrictModel):
    image_size: int = Field(default=256, ge=32, le=2048)
    train_normals: int = Field(default=60, ge=1, le=100_000)
    test_normals: int = Field(default=20, ge=0, le=100_000)
    defects_per_type: int = Field(default=6, ge=0, le=10_000)
    seed: int = 0
    classes: list[str] = Field(default_factory=lambda: list(ALL_CLASSES))


@SOURCES.register("toy")
class ToySource(Source):
    """Built-in procedural data: textures brick, gravel; objects board, washer; with real-like defects."""

    Params = ToyParams

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        for name in self.params.classes:
            if name not in ALL_CLASSES:
                raise ValueError(f"unknown toy class {name!r}; the toy source has {', '.join(ALL_CLASSES)}")

    def classes(self) -> list[str]:
        return sorted(self.params.classes)

    def is_texture(self, class_name: str) -> bool:
        return class_name in TEXTURE_CLASSES

    def items(self, class_name: str) -> list[SourceItem]:
        if class_name not in self.params.classes:
            raise RecipeError(f"the toy source has no class {class_name!r}")
        p = self.params
        items = [SourceItem(f"{class_name}/train/good/{i:05d}", class_name, "train") for i in range(p.train_normals)]
        items += [SourceItem(f"{class_name}/test/good/{i:05d}", class_name, "test") for i in range(p.test_normals)]
        for defect in DEFECTS_BY_CLASS[class_name]:
            items += [SourceItem(f"{class_name}/test/{defect}/{i:05d}", class_name, "test", defect)
                      for i in range(p.defects_per_type)]
        return items

    def load(self, item: SourceItem) -> LoadedItem:
        rng = np.random.default_rng(derive_seed("toy", self.params.seed, item.key))
        render = render_normal(item.class_name, self.params.image_size, rng)
        if item.defect_type == GOOD:
            return LoadedItem(render.image, None, render.foreground, render.regions)
        image, mask = render_defect(item.defect_type, render, rng)
        return LoadedItem(image, mask, render.foreground, render.regions)

    def fingerprint(self) -> str:
        return f"toy:{self.params.seed}:{self.params.image_size}"
