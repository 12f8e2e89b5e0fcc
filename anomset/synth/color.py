"""Colour primitives shared by synthesizers (jitter, blending)."""

from __future__ import annotations

import cv2
import numpy as np

from anomset.synth.patching import Box


def color_jitter(patch: np.ndarray, rng: np.random.Generator, brightness: float, contrast: float,
                 saturation: float, hue: float) -> tuple[np.ndarray, dict[str, float]]:
    """torchvision-style jitter of an RGB uint8 patch; returns the patch and the factors drawn."""
    b = float(rng.uniform(1 - brightness, 1 + brightness))
    c = float(rng.uniform(1 - contrast, 1 + contrast))
    s = float(rng.uniform(1 - saturation, 1 + saturation))
    h = float(rng.uniform(-hue, hue))
    out = patch.astype(np.float32) * b
    gray_mean = float(cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).mean())
    out = (out - gray_mean) * c + gray_mean
    out = np.clip(out, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * s, 0, 255)
    hsv[..., 0] = np.mod(hsv[..., 0] + h * 180.0, 180.0)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return out, {"brightness": round(b, 4), "contrast": round(c, 4), "saturation": round(s, 4),
                 "hue": round(h, 4)}


def blend_in_box(image: np.ndarray, overlay: np.ndarray, mask: np.ndarray, opacity: float, box: Box) -> np.ndarray:
    """``(1 - opacity)·image + opacity·overlay`` inside ``mask``, pixels outside bit-identical;
    ``overlay`` covers only ``box`` (y0, y1, x0, x1), which holds the mask."""
    y0, y1, x0, x1 = box
    out = image.copy()
    if y1 <= y0 or x1 <= x0:
        return out
    window = out[y0:y1, x0:x1].copy()  # contiguous, so cv2.copyTo writes into it
    mixed = cv2.addWeighted(window, 1.0 - opacity, overlay, opacity, 0.0)
    cv2.copyTo(mixed, np.ascontiguousarray(mask[y0:y1, x0:x1]), window)
    out[y0:y1, x0:x1] = window
    return out
