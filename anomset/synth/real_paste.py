"""Few-shot real-defect pasting: a real defect shown to generators, cut by its mask, jittered, matched
to the target's brightness and contrast, and blended into a normal image.

Donors are ``context.pool.shown_defects()`` (the few-shot third of each real defect type; never the
held-out test defects). The mask given to ``synthesize`` is where the defect may go (the foreground,
or a mask strategy's output such as a ``region``); the defect's centre lands on it and the defect is
clipped to it. The returned mask is the transformed donor mask, pixel for pixel: every pixel outside it
is bit-identical to the input. Poisson blending (``normal``/``mixed``) solves over the donor mask grown
by ``margin`` (the donor's own surface around the defect gives the solver its boundary gradients) and
only the solution inside the mask is kept, so a faint seam at the mask edge is the price of an exact mask.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field

from anomset.configurable import StrictModel
from anomset.context import SampleContext, ShownDefect
from anomset.errors import SynthesisError
from anomset.masks.base import MaskResult, binarize, random_point_in, uniform
from anomset.masks.geometric import approximate_polygon, fill_polygon, largest_contour, perturb_vertices
from anomset.ranges import AngleRange, PositiveRange
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult, no_change
from anomset.synth.nsa import CLONE_FLAGS, crop_padded, poisson_patch

# Width (px) of the ring around the defect whose statistics are matched between donor and target.
RING = 4
_ELLIPSE = cv2.MORPH_ELLIPSE


class RealPasteParams(StrictModel):
    margin: int = Field(default=3, ge=0, le=64, description="px of donor surface kept around its mask (Poisson)")
    rotation: AngleRange = Field(default=(-180.0, 180.0), description="degrees, drawn")
    flip: bool = Field(default=True, description="random horizontal and vertical flips")
    scale: PositiveRange = Field(default=(0.8, 1.25), description="donor resize factor, drawn")
    reshape: float = Field(default=0.0, ge=0.0, le=0.5,
                           description="geometric-style vertex perturbation of the donor mask / √area (0: none)")
    match: Literal["none", "mean", "mean_std"] = Field(
        default="mean_std", description="match the donor's surroundings to the target's (per channel)")
    max_gain: float = Field(default=2.0, ge=1.0, le=10.0, description="bound on the contrast gain of mean_std")
    blend: Literal["normal", "mixed", "alpha", "either"] = Field(
        default="normal", description="Poisson normal/mixed (cv2.seamlessClone), feathered alpha, or either")
    feather: int = Field(default=2, ge=1, le=32, description="alpha: px over which the donor fades in")
    min_inside: float = Field(default=0.9, ge=0.0, le=1.0, description="share of the defect to land in the region")
    placement_tries: int = Field(default=12, ge=1, le=100, description="centres drawn on the region")
    placement: Literal["region", "similar"] = Field(
        default="similar", description="region: first centre that fits; similar: of the centres that fit, the one "
                                       "whose surroundings are closest in brightness to the donor's")


def donor_at(donor: ShownDefect, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The donor's image and mask at ``shape`` (a build already gives them at the output size)."""
    if donor.image.shape[:2] == tuple(shape):
        return donor.image, donor.mask
    h, w = shape
    image = cv2.resize(donor.image, (w, h), interpolation=cv2.INTER_AREA)
    return image, binarize(cv2.resize(donor.mask, (w, h), interpolation=cv2.INTER_NEAREST))


def transform_donor(image: np.ndarray, mask: np.ndarray, flips: tuple[bool, bool], angle: float, scale: float,
                    pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(patch, patch mask): the donor's masked area plus ``pad`` px, flipped, rotated and scaled about its centre.

    The canvas fits the turned crop, so no part of the defect is cut off.
    """
    x, y, w, h = cv2.boundingRect(mask)
    box = (y - pad, y + h + pad, x - pad, x + w + pad)
    crop, crop_mask = crop_padded(image, *box), crop_padded(mask, *box)
    if flips[0]:
        crop, crop_mask = crop[:, ::-1], crop_mask[:, ::-1]
    if flips[1]:
        crop, crop_mask = crop[::-1], crop_mask[::-1]
    ch, cw = crop.shape[:2]
    rad = math.radians(angle)
    out_w = max(1, math.ceil((abs(cw * math.cos(rad)) + abs(ch * math.sin(rad))) * scale))
    out_h = max(1, math.ceil((abs(cw * math.sin(rad)) + abs(ch * math.cos(rad))) * scale))
    matrix = cv2.getRotationMatrix2D((cw / 2.0, ch / 2.0), angle, scale)
    matrix[:, 2] += (out_w / 2.0 - cw / 2.0, out_h / 2.0 - ch / 2.0)
    patch = cv2.warpAffine(np.ascontiguousarray(crop), matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
    turned = cv2.warpAffine(np.ascontiguousarray(crop_mask), matrix, (out_w, out_h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return patch, np.where(turned >= 128, np.uint8(255), np.uint8(0))


def reshape_mask(mask: np.ndarray, amount: float, margin: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The mask's largest component as a polygon with perturbed vertices (as ``geometric`` does), kept
    within the donor's cut (the mask grown by ``margin``); (mask, vertices), or (mask, 0) unchanged."""
    contour = largest_contour(mask)
    if contour is None or len(contour) < 3:
        return mask, 0
    poly = perturb_vertices(approximate_polygon(contour, 0.01), amount, rng)
    reshaped = fill_polygon(mask.shape, poly) & dilate(mask, margin)
    return (reshaped, len(poly)) if reshaped.any() else (mask, 0)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` px (elliptical kernel); 0 leaves it as is."""
    if radius <= 0:
        return mask
    return cv2.dilate(mask, cv2.getStructuringElement(_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))


def overlap_windows(shape: tuple[int, int], size: tuple[int, int], top_left: tuple[int, int]
                    ) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
    """(image window, patch window) where a ``size`` patch at ``top_left`` (y, x) overlaps the image."""
    (h, w), (ph, pw), (ty, tx) = shape, size, top_left
    y0, y1, x0, x1 = max(0, ty), min(h, ty + ph), max(0, tx), min(w, tx + pw)
    if y0 >= y1 or x0 >= x1:
        return None
    return (slice(y0, y1), slice(x0, x1)), (slice(y0 - ty, y1 - ty), slice(x0 - tx, x1 - tx))


def match_statistics(patch: np.ndarray, target: np.ndarray, ring: np.ndarray, mode: str,
                     max_gain: float) -> tuple[np.ndarray, dict[str, Any]]:
    """``patch`` shifted (and scaled) per channel so that its ring pixels have the target's mean (and std).

    The same map applies to the defect inside, which keeps its contrast to its surroundings.
    """
    inside = ring > 0
    if mode == "none" or np.count_nonzero(inside) < 8:
        return patch, {"mode": "none"}
    donor_px = patch[inside].astype(np.float32)
    target_px = target[inside].astype(np.float32)
    d_mean, t_mean = donor_px.mean(axis=0), target_px.mean(axis=0)
    gain = np.ones_like(d_mean)
    if mode == "mean_std":
        gain = np.clip(target_px.std(axis=0) / np.maximum(donor_px.std(axis=0), 1e-3), 1.0 / max_gain, max_gain)
    matched = (patch.astype(np.float32) - d_mean) * gain + t_mean
    out = np.clip(np.rint(matched), 0, 255).astype(np.uint8)
    return out, {"mode": mode, "gain": [round(float(g), 4) for g in gain],
                 "shift": [round(float(v), 2) for v in t_mean - d_mean]}


@SYNTHESIZERS.register("real_paste")
class RealPaste(Synthesizer):
    """A shown real defect cut by its mask, jittered, tone-matched and blended in (few-shot pasting)."""

    Params = RealPasteParams
    needs_shown_defects = True

    def propose_mask(self, shape: tuple[int, int], context: SampleContext,
                     rng: np.random.Generator) -> MaskResult:
        # Where the defect may go: the whole foreground (a mask strategy narrows it, e.g. ``region``).
        return MaskResult(context.foreground.copy(), {"region": "foreground"})

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        p = self.params
        donors = context.pool.shown_defects() if context.pool is not None else []
        if not donors:
            raise SynthesisError(f"class {context.class_name!r} has no real defects with masks shown to "
                                 "generators for real_paste to paste",
                                 field=f"classes.{context.class_name}.shown_defects",
                                 fix="set shown_defects (e.g. 0.34) on a source whose defects have masks")
        shape = image.shape[:2]
        index = int(rng.integers(len(donors)))
        donor = donors[index]
        donor_image, donor_mask = donor_at(donor, shape)
        flips = (bool(rng.integers(2)), bool(rng.integers(2))) if p.flip else (False, False)
        angle, scale = uniform(rng, p.rotation), uniform(rng, p.scale)
        pad = math.ceil((p.margin + RING) / min(1.0, scale)) + 2
        patch, defect = transform_donor(donor_image, donor_mask, flips, angle, scale, pad)
        vertices = 0
        if p.reshape > 0:
            defect, vertices = reshape_mask(defect, p.reshape, p.margin, rng)
        region = mask
        ring_full = dilate(defect, RING) & ~defect
        donor_level = float(patch[ring_full > 0].mean()) if ring_full.any() else 0.0
        placed = self._place(region, defect, ring_full, donor_level, image, rng)
        transform = {"flip_horizontal": flips[0], "flip_vertical": flips[1], "rotation": round(angle, 3),
                     "scale": round(scale, 4), "reshaped_vertices": vertices}
        params: dict[str, Any] = {"donor": donor.key, "donor_type": donor.defect_type, "donor_index": index,
                                  "transform": transform}
        final = None
        if placed is not None:
            (win, sub), center, inside_share = placed
            final = defect[sub] & region[win]
        if final is None or not final.any():
            unchanged = no_change(image)  # the build redraws
            return SynthResult(unchanged.image, unchanged.mask, {**params, "skipped": "no placement"})
        ring = ring_full[sub]
        content, matched = match_statistics(np.ascontiguousarray(patch[sub]), image[win], ring, p.match, p.max_gain)
        blend = ("normal", "mixed", "alpha")[int(rng.integers(3))] if p.blend == "either" else p.blend
        out = image.copy()
        if blend == "alpha":
            depth = cv2.distanceTransform(final, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            alpha = np.minimum(depth / p.feather, 1.0)[..., None]
            mixed = np.rint(image[win] * (1.0 - alpha) + content * alpha).astype(np.uint8)
        else:
            # poisson_patch wants the shape mask to span its box (it centres the clone on the box).
            cut = dilate(defect, p.margin)[sub]
            bx, by, bw, bh = cv2.boundingRect(cut)
            y, x = win[0].start + by, win[1].start + bx
            inner = (slice(by, by + bh), slice(bx, bx + bw))
            mixed = out[win].copy()
            mixed[inner] = poisson_patch(image, np.ascontiguousarray(content[inner]), np.ascontiguousarray(cut[inner]),
                                         (x, y, bw, bh), CLONE_FLAGS[blend])
        np.copyto(out[win], mixed, where=(final > 0)[..., None])
        full = np.zeros(shape, np.uint8)
        full[win] = final
        return SynthResult(out, full, {**params, "center": center, "inside": round(inside_share, 4),
                                       "match": matched, "blend": blend, "margin": p.margin})

    def _place(self, region: np.ndarray, defect: np.ndarray, ring: np.ndarray, donor_level: float,
               image: np.ndarray, rng: np.random.Generator
               ) -> tuple[tuple[tuple[slice, slice], tuple[slice, slice]], list[int], float] | None:
        """(windows, centre, share of the defect inside the region) of the best of a few centres drawn
        on the region. Centres that put ``min_inside`` of the defect there fit; ``region`` takes the
        first that fits, ``similar`` the fitting one whose ring is closest in brightness to the donor's
        (a defect of a dark part lands on a dark part); with none fitting, the largest share wins."""
        p = self.params
        total = max(1, np.count_nonzero(defect))
        ph, pw = defect.shape
        best, best_score = None, (-1.0, -np.inf)
        for _ in range(p.placement_tries):
            cx, cy = random_point_in(region, rng)
            windows = overlap_windows(region.shape, (ph, pw), (cy - ph // 2, cx - pw // 2))
            if windows is None:
                continue
            win, sub = windows
            share = np.count_nonzero(defect[sub] & region[win]) / total
            fits = share >= p.min_inside
            closeness = 0.0
            if fits and p.placement == "similar":
                around = ring[sub] > 0
                level = float(image[win][around].mean()) if around.any() else donor_level
                closeness = -abs(level - donor_level)
            score = (1.0, closeness) if fits else (share, -np.inf)
            if score > best_score:
                best, best_score = (windows, [cx, cy], share), score
            if fits and p.placement == "region":
                break
        return best
