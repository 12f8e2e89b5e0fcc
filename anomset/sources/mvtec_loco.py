"""``mvtec_loco``: the MVTec LOCO AD folder tree (logical and structural anomalies).

    root/<class>/train/good/*.png                  train normals
    root/<class>/validation/good/*.png             more normals (joined to train unless told not to)
    root/<class>/test/good/*.png                   test normals
    root/<class>/test/{logical,structural}_anomalies/*.png
    root/<class>/ground_truth/<defect_type>/<stem>/000.png, 001.png, ...  one file per defect region

A defect's mask is the union of its region files; their pixels are region ids, so any non-zero
pixel counts. Keys are ``<class>/<folder>/<defect_type>/<stem>`` (folder: train, validation, test).
LOCO's classes are objects; ``textures: [...]`` marks classes of a set in this layout as surfaces.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from anomset.errors import SourceError
from anomset.registry import SOURCES
from anomset.sample import GOOD
from anomset.sources.layout import Entry, FileSource, images_in, subfolders
from anomset.sources.mvtec_ad import LAYOUT, MVTecTreeParams, defect_item, normal_entry, train_normals


class MVTecLOCOParams(MVTecTreeParams):
    include_validation: bool = Field(default=True, description="add validation/good to the train normals")


@SOURCES.register("mvtec_loco")
class MVTecLOCOSource(FileSource):
    """MVTec LOCO AD: objects with logical and structural anomalies, region masks united per image."""

    Params = MVTecLOCOParams
    LAYOUT = LAYOUT
    NONZERO_MASKS = True

    def scan(self, class_name: str) -> list[Entry]:
        base = self.root / class_name
        entries = train_normals(self.root, class_name)
        if self.params.include_validation:
            entries += [normal_entry(class_name, "validation", "train", p)
                        for p in images_in(base / "validation" / GOOD)]
        for defect_type in subfolders(base / "test"):
            for image in images_in(base / "test" / defect_type):
                if defect_type == GOOD:
                    entries.append(normal_entry(class_name, "test", "test", image))
                    continue
                masks = _region_masks(base / "ground_truth" / defect_type, image)
                entries.append(Entry(defect_item(class_name, defect_type, image), image, masks))
        return entries


def _region_masks(ground_truth: Path, image: Path) -> tuple[Path, ...]:
    masks = tuple(images_in(ground_truth / image.stem))
    if not masks:
        raise SourceError(f"defect image has no mask; expected {ground_truth / image.stem}/000.png",
                          file=str(image), fix="add the mask, or remove the image")
    return masks
