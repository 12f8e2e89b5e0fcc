"""``ksdd2``: KolektorSDD2, one surface class read from its two flat folders.

    root/train/<n>.png  root/train/<n>_GT.png
    root/test/<n>.png   root/test/<n>_GT.png

Every image has a ground-truth mask; an all-zero mask makes it a normal, any non-zero pixel a defect
of type ``defect`` (so indexing reads every mask, once). Both splits hold defects. The class is
``ksdd2``, a texture (all foreground). Keys are ``ksdd2/<split>/<good|defect>/<n>``.
"""

from __future__ import annotations

from pathlib import Path

from anomset.errors import SourceError
from anomset.registry import SOURCES
from anomset.sample import GOOD
from anomset.sources.base import LoadedItem, SourceItem
from anomset.sources.imageio import list_images
from anomset.sources.layout import Entry, FileSource, RootParams, item_key, read_label_mask

CLASS = "ksdd2"
DEFECT = "defect"
SPLITS = ("train", "test")
GT_SUFFIX = "_GT"
LAYOUT = "root/{train,test}/<n>.png with masks <n>_GT.png"


class KSDD2Params(RootParams):
    """The class ``ksdd2`` exists when ``root`` holds a ``train`` or ``test`` folder."""

    @classmethod
    def discover(cls, root: Path) -> list[str]:
        return [CLASS] if any((root / split).is_dir() for split in SPLITS) else []


@SOURCES.register("ksdd2")
class KSDD2Source(FileSource):
    """KolektorSDD2: commutator surfaces, normals and masked defects in train and test (<n>_GT.png masks)."""

    Params = KSDD2Params
    TEXTURES = frozenset({CLASS})
    LAYOUT = LAYOUT
    NONZERO_MASKS = True

    def scan(self, class_name: str) -> list[Entry]:
        entries = []
        for split in SPLITS:
            folder = self.root / split
            if not folder.is_dir():
                continue
            files = list_images(folder)
            masks = {p.stem[: -len(GT_SUFFIX)]: p for p in files if p.stem.endswith(GT_SUFFIX)}
            images = [p for p in files if not p.stem.endswith(GT_SUFFIX)]
            orphans = sorted(set(masks) - {p.stem for p in images})
            if orphans:
                raise SourceError(f"mask has no image; expected {folder / orphans[0]}.png",
                                  file=str(masks[orphans[0]]), fix=f"add the image or remove the mask ({LAYOUT})")
            for image in images:
                mask = masks.get(image.stem)
                if mask is None:
                    raise SourceError(f"image has no mask; expected {folder / image.stem}{GT_SUFFIX}.png",
                                      file=str(image), fix=f"add the mask ({LAYOUT})")
                defect_type = DEFECT if read_label_mask(mask).any() else GOOD
                item = SourceItem(item_key(class_name, split, defect_type, image.stem), class_name, split,
                                  defect_type)
                # The mask of a normal stays in the entry: it decides the label, so it is fingerprinted.
                entries.append(Entry(item, image, (mask,)))
        if not any(e.item.split == "train" and e.item.is_normal for e in entries):
            raise SourceError(f"no train normals (images whose {GT_SUFFIX} mask is empty); expected {LAYOUT}",
                              file=str(self.root / "train"), fix="point root at the KolektorSDD2 folder")
        return entries

    def load(self, item: SourceItem) -> LoadedItem:
        loaded = super().load(item)
        if item.is_normal:
            loaded.mask = None  # the contract: normals carry no mask
        return loaded

