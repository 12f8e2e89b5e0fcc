"""Colour primitives shared by synthesizers (jitter, blending, luminance, fill matching)."""

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


def luminance_rgb(image: np.ndarray) -> np.ndarray:
    """The image's luminance (ITU-R 601, as ``cv2.COLOR_RGB2GRAY``) in all three channels: R = G = B."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.merge([grey, grey, grey])


def match_fill(fill: np.ndarray, reference: np.ndarray, mask: np.ndarray, mode: str,
               grayscale: bool = False) -> np.ndarray:
    """``fill`` shifted (``mean``) or shifted and scaled (``mean_std``) per channel so that, under
    ``mask``, its mean (and standard deviation) equal those of ``reference``; ``none`` returns it as is.

    All three arrays cover the same window. With ``grayscale`` the match is done on luminance
    and the result has R = G = B, so a near-grey reference (JPEG noise) cannot tint the fill.
    """
    if mode == "none" or not mask.any():
        return fill
    if grayscale:
        fill = cv2.cvtColor(np.ascontiguousarray(fill), cv2.COLOR_RGB2GRAY)
        reference = cv2.cvtColor(np.ascontiguousarray(reference), cv2.COLOR_RGB2GRAY)
    fill_mean, fill_std = (v.ravel() for v in cv2.meanStdDev(fill, mask=mask))
    ref_mean, ref_std = (v.ravel() for v in cv2.meanStdDev(reference, mask=mask))
    gain = ref_std / np.maximum(fill_std, 1e-3) if mode == "mean_std" else np.ones_like(fill_mean)
    offset = ref_mean - gain * fill_mean
    matrix = np.hstack([np.diag(gain), offset[:, None]]).astype(np.float32)
    out = cv2.transform(fill, matrix)  # saturates to uint8
    return cv2.merge([out, out, out]) if grayscale else out


# Grey-level spread between channels that still counts as grey (JPEG rounding), and the share of
# pixels allowed above it (a stray coloured speck does not make a class a colour class).
GREY_TOLERANCE = 2
GREY_OUTLIERS = 0.001


def is_grayscale(image: np.ndarray) -> bool:
    """True when the RGB image is grey: max − min over the channels is at most ``GREY_TOLERANCE``
    at all but ``GREY_OUTLIERS`` of its pixels."""
    if image.ndim == 2 or image.shape[2] == 1:
        return True
    r, g, b = cv2.split(np.ascontiguousarray(image[..., :3]))
    spread = cv2.max(cv2.max(cv2.absdiff(r, g), cv2.absdiff(g, b)), cv2.absdiff(r, b))
    coloured = cv2.countNonZero(cv2.threshold(spread, GREY_TOLERANCE, 255, cv2.THRESH_BINARY)[1])
    return coloured <= GREY_OUTLIERS * spread.size
