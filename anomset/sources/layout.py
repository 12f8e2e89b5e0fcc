"""What every file-based source shares: a root folder, an index of files per class, checked loading.

A concrete source only says which classes its root holds (``Params.discover``) and which files make
up a class (``scan``). Indexing a class also reads every file's header, so a corrupt image, a
missing mask or a mask of the wrong size stops a build before any shard is written.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import Field, ValidationInfo, field_validator

from anomset.configurable import StrictModel
from anomset.errors import SourceError
from anomset.sources.base import LoadedItem, Source, SourceItem
from anomset.sources.imageio import _read_bytes, list_images, read_image, read_mask


class RootParams(StrictModel):
    """``root``: the dataset folder (must exist); ``classes``: a subset of its classes (default: all)."""

    root: Path = Field(description="the dataset folder (relative paths start at the working directory)")
    classes: list[str] | None = Field(default=None, description="a subset of the classes; default: all")

    @field_validator("root")
    @classmethod
    def _root_exists(cls, value: Path) -> Path:
        value = value.expanduser()
        if not value.exists():
            raise ValueError(f"folder not found: {value}")
        if not value.is_dir():
            raise ValueError(f"not a folder: {value}")
        return value

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        root = info.data.get("root")
        if value is None or root is None:
            return value
        if not value:
            raise ValueError("empty list; leave classes out to take every class")
        available = cls.discover(root)
        for name in value:
            if name not in available:
                raise ValueError(f"unknown class {name!r}; {root} has: {', '.join(available) or 'none'}")
        return sorted(set(value))

    @classmethod
    def discover(cls, root: Path) -> list[str]:
        """Class names under ``root``: its visible sub-folders, sorted."""
        return subfolders(root)


class TexturesParams(RootParams):
    """``textures``: classes of ``root`` that are surfaces (all foreground), added to those the
    source already knows (e.g. MVTec AD's carpet, grid, leather, tile, wood)."""

    textures: list[str] = Field(default_factory=list,
                                description="classes that are textures (added to the built-in ones)")

    @field_validator("textures")
    @classmethod
    def _known_textures(cls, value: list[str], info: ValidationInfo) -> list[str]:
        root = info.data.get("root")
        if root is None:
            return sorted(set(value))
        available = cls.discover(root)
        for name in value:
            if name not in available:
                raise ValueError(f"unknown class {name!r}; {root} has: {', '.join(available) or 'none'}")
        return sorted(set(value))


@dataclass(frozen=True)
class Entry:
    """An item and the files it is read from (several masks are united)."""

    item: SourceItem
    image: Path
    masks: tuple[Path, ...] = ()
    foreground: Path | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.image, *self.masks, *((self.foreground,) if self.foreground is not None else ()))


class FileSource(Source):
    """Base of the sources that read image files under ``params.root``."""

    Params = RootParams
    LOCATION_PARAMS = ("root",)
    TEXTURES: ClassVar[frozenset[str]] = frozenset()
    LAYOUT: ClassVar[str] = ""  # expected layout, quoted in "nothing found" errors
    NONZERO_MASKS: ClassVar[bool] = False  # any non-zero mask pixel is set (region ids, 0/1 masks)

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._index: dict[str, dict[str, Entry]] = {}

    @property
    def root(self) -> Path:
        return self.params.root

    # -- what a concrete source provides ------------------------------------------------------
    def scan(self, class_name: str) -> list[Entry]:
        """Every entry of one class, found by listing files (no pixel is read here)."""
        raise NotImplementedError

    # -- the Source contract ------------------------------------------------------------------
    def classes(self) -> list[str]:
        names = self.params.classes if self.params.classes is not None else self.Params.discover(self.root)
        if not names:
            raise SourceError(f"no classes found; expected {self.LAYOUT}", file=str(self.root),
                              fix="point root at the dataset folder")
        return list(names)

    def items(self, class_name: str) -> list[SourceItem]:
        return [entry.item for entry in self._entries(class_name).values()]

    def is_texture(self, class_name: str) -> bool:
        return class_name in self.TEXTURES or class_name in getattr(self.params, "textures", ())

    def load(self, item: SourceItem) -> LoadedItem:
        entry = self._entries(item.class_name).get(item.key)
        if entry is None:
            raise SourceError(f"no item {item.key!r} (the dataset changed since it was indexed)",
                              file=str(self.root), fix="rerun the build")
        image = read_image(entry.image)
        shape = image.shape[:2]
        read = read_label_mask if self.NONZERO_MASKS else read_mask
        mask = None
        for path in entry.masks:
            part = read(path, shape)
            mask = part if mask is None else np.maximum(mask, part)
        foreground = read(entry.foreground, shape) if entry.foreground is not None else None
        return LoadedItem(image, mask, foreground)

    def fingerprint(self) -> str:
        """Hash of the relative path and size of every file of the classes indexed so far.

        The build indexes exactly the recipe's classes before it asks, so the fingerprint covers
        the data the build read.
        """
        digest = hashlib.sha256()
        for class_name in sorted(self._index):
            for entry in self._index[class_name].values():
                for path in entry.files:
                    digest.update(f"{path.relative_to(self.root).as_posix()}:{path.stat().st_size}\n".encode())
        return f"{self.registry_name}:{digest.hexdigest()[:16]}"

    # -- indexing -----------------------------------------------------------------------------
    def _entries(self, class_name: str) -> dict[str, Entry]:
        if class_name not in self._index:
            if class_name not in self.classes():
                raise SourceError(f"no class {class_name!r}; it has: {', '.join(self.classes())}",
                                  file=str(self.root))
            entries = sorted(self.scan(class_name), key=lambda e: e.item.key)
            _check_unique(entries)
            for entry in entries:
                check_entry(entry)
            self._index[class_name] = {e.item.key: e for e in entries}
        return self._index[class_name]


def _check_unique(entries: list[Entry]) -> None:
    for before, after in itertools.pairwise(entries):
        if before.item.key == after.item.key:
            raise SourceError(f"two files give the item key {after.item.key!r}: {before.image.name} and "
                              f"{after.image.name}", file=str(after.image.parent),
                              fix="keep one file per name (image names differ only in extension)")


def check_entry(entry: Entry) -> None:
    """Read the headers of an entry's files: each must decode, and masks must match the image size."""
    width, height = image_size(entry.image)
    for path in entry.files[1:]:
        mask_w, mask_h = image_size(path)
        if (mask_w, mask_h) != (width, height):
            raise SourceError(f"mask is {mask_w}x{mask_h} but its image {entry.image.name} is {width}x{height}",
                              file=str(path), fix="give the mask the size of its image")


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the file header, without decoding the pixels."""
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise SourceError("file not found", file=str(path)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise SourceError("cannot read image (corrupt or not an image)", file=str(path),
                          fix="replace or remove the file") from None


def read_label_mask(path: Path, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """A mask whose pixels are region ids or small labels: any non-zero pixel is a defect. {0,255}."""
    mask = cv2.imdecode(np.frombuffer(_read_bytes(path), np.uint8), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise SourceError("cannot decode mask (corrupt or not an image)", file=str(path),
                          fix="replace or remove the file")
    if mask.ndim == 3:
        mask = mask[..., :3].max(axis=2)
    if expected_shape is not None and mask.shape != tuple(expected_shape):
        raise SourceError(f"mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
                          f"{expected_shape[1]}x{expected_shape[0]}", file=str(path),
                          fix="give the mask the size of its image")
    return np.where(mask > 0, 255, 0).astype(np.uint8)


def subfolders(folder: Path) -> list[str]:
    """Names of the visible folders directly inside ``folder`` (sorted; none if it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def images_in(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted), or none when the folder does not exist."""
    return list_images(folder) if folder.is_dir() else []


def require_images(folder: Path, what: str, layout: str) -> list[Path]:
    """Images of ``folder``; a ``SourceError`` naming the folder when it is missing or empty."""
    if not folder.is_dir():
        raise SourceError(f"no {what} folder; expected {layout}", file=str(folder))
    found = list_images(folder)
    if not found:
        raise SourceError(f"no {what} images (.png, .jpg, ...) in this folder", file=str(folder))
    return found


def find_mask(candidates: list[Path], image: Path) -> Path:
    """The first existing candidate mask path of ``image``; else a ``SourceError`` naming both."""
    for path in candidates:
        if path.is_file():
            return path
    raise SourceError(f"defect image has no mask; expected {candidates[0]}", file=str(image),
                      fix="add the mask, or remove the image")


def even_split(images: list[Path], test_fraction: float) -> list[tuple[str, Path]]:
    """(split, path) for sorted normals: test files spread evenly (0.2 makes every fifth one test)."""
    fraction = Fraction(str(test_fraction))  # exact, so 0.1 * 10 is 1 and not 0.999...
    return [("test" if int((i + 1) * fraction) > int(i * fraction) else "train", p) for i, p in enumerate(images)]


def item_key(class_name: str, folder: str, defect_type: str, stem: str) -> str:
    """The stable key ``<class>/<folder>/<type>/<stem>``."""
    return f"{class_name}/{folder}/{defect_type}/{stem}"
