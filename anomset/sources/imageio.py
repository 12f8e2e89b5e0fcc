"""Reading images and masks from disk with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from anomset.errors import SourceError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path | str) -> np.ndarray:
    """An image file as uint8 H×W×3 RGB (grayscale is replicated, alpha dropped, 16-bit scaled)."""
    data = _read_bytes(path)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise SourceError("cannot decode image (corrupt or not an image)", file=str(path),
                          fix="replace or remove the file")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] == 4:
        image = image[..., :3]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: Path | str, expected_shape: tuple[int, int] | None = None) -> np.ndarray:
    """A mask file as uint8 H×W {0,255} (any non-zero pixel is foreground)."""
    data = _read_bytes(path)
    mask = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise SourceError("cannot decode mask (corrupt or not an image)", file=str(path),
                          fix="replace or remove the file")
    if expected_shape is not None and mask.shape != tuple(expected_shape):
        raise SourceError(f"mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
                          f"{expected_shape[1]}x{expected_shape[0]}", file=str(path),
                          fix="give the mask the size of its image")
    return np.where(mask > 127, 255, 0).astype(np.uint8)


def _read_bytes(path: Path | str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise SourceError("file not found", file=str(path)) from None
    except OSError as exc:
        raise SourceError(f"cannot read file: {exc.strerror}", file=str(path)) from None
