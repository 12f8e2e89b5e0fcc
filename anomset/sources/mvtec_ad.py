"""``mvtec_ad``: the MVTec AD folder tree.

    root/<class>/train/good/*.png                       train normals
    root/<class>/test/good/*.png                        test normals
    root/<class>/test/<defect_type>/*.png               real defects
    root/<class>/ground_truth/<defect_type>/<stem>_mask.png

Keys are ``<class>/<split>/<defect_type>/<stem>``. carpet, grid, leather, tile and wood are textures;
``textures: [...]`` adds the classes of your own set in this layout that are surfaces too (they
skip the foreground estimate).
"""

from __future__ import annotations

from pathlib import Path

from anomset.registry import SOURCES
from anomset.sample import GOOD
from anomset.sources.base import SourceItem
from anomset.sources.layout import (
    Entry,
    FileSource,
    TexturesParams,
    find_mask,
    images_in,
    item_key,
    require_images,
    subfolders,
)

LAYOUT = "root/<class>/train/good/*.png"


class MVTecTreeParams(TexturesParams):
    """Classes are the folders of ``root`` that hold a ``train`` folder (MVTec AD and LOCO);
    ``textures`` names more surface classes than the built-in ones."""

    @classmethod
    def discover(cls, root: Path) -> list[str]:
        return [name for name in super().discover(root) if (root / name / "train").is_dir()]


def train_normals(root: Path, class_name: str) -> list[Entry]:
    """``<class>/train/good`` entries; a ``SourceError`` if there are none."""
    return [normal_entry(class_name, "train", "train", path)
            for path in require_images(root / class_name / "train" / GOOD, "train/good", LAYOUT)]


def normal_entry(class_name: str, folder: str, split: str, image: Path) -> Entry:
    return Entry(SourceItem(item_key(class_name, folder, GOOD, image.stem), class_name, split), image)


def defect_item(class_name: str, defect_type: str, image: Path) -> SourceItem:
    return SourceItem(item_key(class_name, "test", defect_type, image.stem), class_name, "test", defect_type)


@SOURCES.register("mvtec_ad")
class MVTecADSource(FileSource):
    """MVTec AD: 15 classes of normals and real defects with pixel masks, read from its folder tree."""

    Params = MVTecTreeParams
    TEXTURES = frozenset({"carpet", "grid", "leather", "tile", "wood"})
    LAYOUT = LAYOUT

    def scan(self, class_name: str) -> list[Entry]:
        base = self.root / class_name
        entries = train_normals(self.root, class_name)
        for defect_type in subfolders(base / "test"):
            for image in images_in(base / "test" / defect_type):
                if defect_type == GOOD:
                    entries.append(normal_entry(class_name, "test", "test", image))
                    continue
                mask = find_mask([base / "ground_truth" / defect_type / f"{image.stem}_mask.png"], image)
                entries.append(Entry(defect_item(class_name, defect_type, image), image, (mask,)))
        return entries
