"""``folder``: any folder of normal images, with optional real defects, masks and foregrounds.

    root/<class>/good/*                     normal images (.png, .jpg, .bmp, .tif, .webp)
    root/<class>/good/train/*, good/test/*  or an explicit split (then ``test_fraction`` is unused)
    root/<class>/defects/<type>/*           optional real defects (test split)
    root/<class>/masks/<type>/<stem>.png    a defect's mask (``<stem>_mask.png`` also works)
    root/<class>/foreground/<stem>.png      optional foreground of a normal image

Every visible folder of ``root`` is a class. Without an explicit split, the sorted normals are
split evenly: with ``test_fraction`` 0.2, every fifth file is a test normal. Masks may be 0/255 or
0/1: any non-zero pixel is set, so store them losslessly (PNG). Classes named in ``textures``
are all foreground. Keys are ``<class>/<split>/<type>/<stem>`` (type ``good`` for normals).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from anomset.errors import SourceError
from anomset.registry import SOURCES
from anomset.sample import GOOD
from anomset.sources.base import SourceItem
from anomset.sources.layout import (
    Entry,
    FileSource,
    RootParams,
    even_split,
    find_mask,
    images_in,
    item_key,
    require_images,
    subfolders,
)

LAYOUT = "root/<class>/good/*.png"


class FolderParams(RootParams):
    test_fraction: float = Field(default=0.2, ge=0.0, lt=1.0,
                                 description="share of good/ images that become test normals")
    textures: list[str] = Field(default_factory=list, description="classes that are textures")

    @field_validator("textures")
    @classmethod
    def _known_textures(cls, value: list[str], info: ValidationInfo) -> list[str]:
        root = info.data.get("root")
        available = cls.discover(root) if root is not None else []
        for name in value:
            if root is not None and name not in available:
                raise ValueError(f"unknown class {name!r}; {root} has: {', '.join(available) or 'none'}")
        return sorted(set(value))


@SOURCES.register("folder")
class FolderSource(FileSource):
    """Your own images: root/<class>/good/* normals, optional defects/<type>/* with masks/<type>/*."""

    Params = FolderParams
    LAYOUT = LAYOUT
    NONZERO_MASKS = True

    def is_texture(self, class_name: str) -> bool:
        return class_name in self.params.textures

    def scan(self, class_name: str) -> list[Entry]:
        base = self.root / class_name
        foregrounds = {p.stem: p for p in images_in(base / "foreground")}
        entries = [Entry(SourceItem(item_key(class_name, split, GOOD, p.stem), class_name, split), p,
                         foreground=foregrounds.get(p.stem))
                   for split, p in self._normals(base)]
        for defect_type in subfolders(base / "defects"):
            masks = base / "masks" / defect_type
            for image in images_in(base / "defects" / defect_type):
                mask = find_mask([masks / f"{image.stem}.png", masks / f"{image.stem}_mask.png"], image)
                item = SourceItem(item_key(class_name, "test", defect_type, image.stem), class_name, "test",
                                  defect_type)
                entries.append(Entry(item, image, (mask,)))
        return entries

    def _normals(self, base: Path) -> list[tuple[str, Path]]:
        """(split, path) of every normal image: an explicit good/train + good/test, or an even split."""
        good = base / GOOD
        if (good / "train").is_dir() or (good / "test").is_dir():
            if images_in(good):
                raise SourceError("holds images beside train/ and test/ folders; use one or the other",
                                  file=str(good))
            train = require_images(good / "train", "good/train", LAYOUT)
            return [("train", p) for p in train] + [("test", p) for p in images_in(good / "test")]
        return even_split(require_images(good, "good", LAYOUT), self.params.test_fraction)
