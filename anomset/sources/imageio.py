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


# How a 16-bit image becomes 8-bit (said in the warning a 16-bit source file gets).
SIXTEEN_BIT_SCALING = "keeping the high byte (value // 256)"


def read_image(path: Path | str) -> np.ndarray:
    """An image file as uint8 H×W×3 RGB (grayscale is replicated, alpha dropped, 16-bit scaled)."""
    return decode_image(path)[0]


def decode_image(path: Path | str) -> tuple[np.ndarray, int]:
    """``read_image`` and the file's bits per channel (8, or 16 when it was scaled down)."""
    data = _read_bytes(path)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype not in (np.uint8, np.uint16) or image.size == 0:
        raise SourceError("cannot decode image (corrupt, truncated or not an 8/16-bit image)", file=str(path),
                          fix="replace or remove the file")
    bits = 8
    if image.dtype == np.uint16:
        image, bits = (image >> 8).astype(np.uint8), 16
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2), bits
    if image.shape[2] == 4:
        image = image[..., :3]
    if image.shape[2] == 1:
        return np.repeat(image, 3, axis=2), bits
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), bits


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
