"""Logical anomalies (MVTec LOCO / ComGEN style): a component missing, duplicated, recoloured or moved.

On a grayscale class a recoloured component gets another grey level and repainted places stay grey.

Components are ``context.regions`` (or, when the source gives none, the connected components of
the foreground). The mask is every pixel whose meaning changed: the vacated place of a removed or
moved component (grown by ``halo`` to take its anti-aliased rim), the new place of a copy, the
recoloured component. Pixels outside the mask are left bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from anomset.configurable import StrictModel
from anomset.context import SampleContext
from anomset.errors import SynthesisError
from anomset.masks.base import uniform
from anomset.masks.foreground import connected_regions
from anomset.ranges import UnitRange
from anomset.registry import SYNTHESIZERS
from anomset.synth.base import Synthesizer, SynthResult

Operation = Literal["missing", "duplicated", "swapped_colour", "moved"]
OPERATIONS: tuple[str, ...] = ("missing", "duplicated", "swapped_colour", "moved")
Edit = tuple[np.ndarray, np.ndarray, dict[str, Any]]  # new image, mask, params


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate a {0,255} mask by ``pixels`` with a disc."""
    if pixels <= 0:
        return mask.copy()
    size = 2 * pixels + 1
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))


def fill_background(image: np.ndarray, hole: np.ndarray, avoid: np.ndarray, foreground: np.ndarray,
                    method: str, rng: np.random.Generator, grayscale: bool = False) -> np.ndarray:
    """``image`` with ``hole`` repainted from its surroundings; pixels outside the hole unchanged.

    ``median``: the median colour of a ring around the hole (on the object when the ring touches it,
    never on other components), with the ring's own noise (one noise value for all channels on a
    grayscale class, so the fill stays grey). ``inpaint``: OpenCV's Telea inpainting.
    """
    out = image.copy()
    inside = hole > 0
    if method == "inpaint":
        painted = cv2.inpaint(image, hole, 5, cv2.INPAINT_TELEA)
        out[inside] = painted[inside]
        return out
    ring = (grow(hole, 6) > 0) & ~inside & (avoid == 0)
    on_object = ring & (foreground > 0)
    if np.count_nonzero(on_object) >= 16:
        ring = on_object
    if not ring.any():
        ring = ~inside
    pixels = image[ring].astype(np.float32)
    colour = np.median(pixels, axis=0)
    # Robust (MAD) spread: thin structures crossing the ring (traces, edges) must not pass for noise.
    spread = np.clip(1.4826 * np.median(np.abs(pixels - colour), axis=0), 0.0, 6.0)
    noise = rng.normal(0.0, 1.0, (int(inside.sum()), 1 if grayscale else 3)).astype(np.float32) * spread
    out[inside] = np.clip(np.rint(colour + noise), 0, 255).astype(np.uint8)
    return out


def find_free_offset(region: np.ndarray, free: np.ndarray, rng: np.random.Generator,
                     tries: int) -> tuple[int, int] | None:
    """A shift (dx, dy) that puts every pixel of ``region`` on ``free`` (random search), or None."""
    ys, xs = np.nonzero(region)
    h, w = region.shape
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
    if y1 - y0 >= h or x1 - x0 >= w:
        return None
    for _ in range(tries):
        dy = int(rng.integers(-y0, h - y1))
        dx = int(rng.integers(-x0, w - x1))
        if (dx or dy) and free[ys + dy, xs + dx].all():
            return dx, dy
    return None


def shifted(region: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``region`` translated by (dx, dy) inside the same frame (the shift is known to fit)."""
    out = np.zeros_like(region)
    ys, xs = np.nonzero(region)
    out[ys + dy, xs + dx] = 255
    return out


class LogicalParams(StrictModel):
    operations: list[Operation] = Field(default_factory=lambda: list(OPERATIONS), min_length=1,
                                        description="which logical changes may be drawn")
    fill: Literal["median", "inpaint"] = Field(default="inpaint",
                                               description="how a vacated place is repainted")
    halo: int = Field(default=2, ge=0, le=32, description="px around a removed component also repainted")
    gap: int = Field(default=3, ge=0, le=64, description="min px between a placed copy and other components")
    saturation: UnitRange = Field(default=(0.4, 0.9), description="swapped_colour: new colour's HSV saturation")
    value: UnitRange = Field(default=(0.35, 0.9), description="swapped_colour: new colour's HSV value")
    min_colour_shift: float = Field(default=60.0, ge=0.0, le=441.0,
                                    description="swapped_colour: min RGB distance of the mean colour")
    placement_tries: int = Field(default=200, ge=1, le=100_000)
    min_region_area: float = Field(default=0.001, ge=0.0, le=1.0,
                                   description="foreground components below this are not components")
    max_region_area: float = Field(default=0.9, gt=0.0, le=1.0,
                                   description="components above this share of the image are not parts")

    @field_validator("operations")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("list each operation once")
        return value


def copy_component(out: np.ndarray, image: np.ndarray, region: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """``out`` with the pixels of ``region`` in ``image`` pasted ``(dx, dy)`` away."""
    ys, xs = np.nonzero(region)
    out[ys + dy, xs + dx] = image[ys, xs]
    return out


@SYNTHESIZERS.register("logical")
class Logical(Synthesizer):
    """A component missing, duplicated, recoloured or moved (MVTec LOCO-style logical anomalies)."""

    Params = LogicalParams
    uses_mask = False
    for_textures = False

    def synthesize(self, image: np.ndarray, mask: np.ndarray | None, context: SampleContext,
                   rng: np.random.Generator) -> SynthResult:
        regions = self._regions(context)
        ops: dict[str, Callable[..., Edit | None]] = {
            "missing": self._missing, "duplicated": self._duplicated,
            "swapped_colour": self._swapped_colour, "moved": self._moved}
        pairs = [(op, i) for op in self.params.operations for i in range(len(regions))]
        # Random order over (operation, component); an operation that does not fit (no free spot)
        # gives way to the next pair.
        for k in rng.permutation(len(pairs)):
            op, index = pairs[int(k)]
            edit = ops[op](image, regions, index, context, rng)
            if edit is not None:
                new, changed, params = edit
                keep = changed > 0
                out = np.where(keep[..., None], new, image).astype(np.uint8)
                x, y, w, h = cv2.boundingRect(regions[index])
                return SynthResult(out, np.where(keep, 255, 0).astype(np.uint8),
                                   {"operation": op, "component": index, "component_bbox": [x, y, w, h],
                                    **params})
        raise SynthesisError(
            f"no logical anomaly fits class {context.class_name!r}: no free spot for "
            f"{', '.join(self.params.operations)} among {len(regions)} component(s)",
            fix="allow missing or swapped_colour in params.operations, or lower params.gap")

    def _regions(self, context: SampleContext) -> list[np.ndarray]:
        p = self.params
        regions = [np.where(r > 0, 255, 0).astype(np.uint8) for r in context.regions if np.any(r)]
        if not regions and not context.is_texture:
            regions = connected_regions(context.foreground, p.min_region_area)
        # A "component" spanning (nearly) the whole image means no parts were found (e.g. the
        # foreground estimate fell back to the whole image): removing or recolouring it is no logic.
        regions = [r for r in regions if np.count_nonzero(r) <= p.max_region_area * r.size]
        if not regions:
            why = "it is a texture" if context.is_texture else (
                f"no component smaller than {p.max_region_area:g} of the image")
            raise SynthesisError(
                f"class {context.class_name!r} has no components for logical anomalies ({why})",
                fix="use logical on object classes whose source gives regions or a foreground the "
                    "border-colour estimate can find")
        return regions

    def _vacate(self, image: np.ndarray, regions: list[np.ndarray], index: int, context: SampleContext,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        hole = grow(regions[index], self.params.halo)
        others = np.zeros_like(hole)
        for i, r in enumerate(regions):
            if i != index:
                others |= r
        hole &= ~others
        filled = fill_background(image, hole, others, context.foreground, self.params.fill, rng, context.grayscale)
        return filled, hole

    def _place(self, regions: list[np.ndarray], index: int, context: SampleContext,
               rng: np.random.Generator) -> tuple[np.ndarray, int, int, str] | None:
        """Where a copy of component ``index`` goes: on the object if it fits, else on the background."""
        p = self.params
        occupied = np.zeros_like(regions[0])
        for r in regions:
            occupied |= r
        clearance = max(p.gap, p.halo + 1)
        keep_clear = grow(occupied, clearance)
        # Also ``clearance`` px inside the object's outline: a part straddling the edge reads as damage.
        inner = cv2.erode(context.foreground, np.ones((2 * clearance + 1,) * 2, np.uint8))
        on_object = (inner > 0) & (keep_clear == 0)
        on_background = grow(context.foreground | occupied, clearance) == 0
        for where, free in (("object", on_object), ("background", on_background)):
            offset = find_free_offset(regions[index], free, rng, p.placement_tries)
            if offset is not None:
                return shifted(regions[index], *offset), offset[0], offset[1], where
        return None

    def _missing(self, image: np.ndarray, regions: list[np.ndarray], index: int, context: SampleContext,
                 rng: np.random.Generator) -> Edit:
        out, hole = self._vacate(image, regions, index, context, rng)
        return out, hole, {"fill": self.params.fill}

    def _duplicated(self, image: np.ndarray, regions: list[np.ndarray], index: int, context: SampleContext,
                    rng: np.random.Generator) -> Edit | None:
        placed = self._place(regions, index, context, rng)
        if placed is None:
            return None
        target, dx, dy, where = placed
        out = copy_component(image.copy(), image, regions[index], dx, dy)
        return out, target, {"offset": [dx, dy], "placed_on": where}

    def _moved(self, image: np.ndarray, regions: list[np.ndarray], index: int, context: SampleContext,
               rng: np.random.Generator) -> Edit | None:
        placed = self._place(regions, index, context, rng)
        if placed is None:
            return None
        target, dx, dy, where = placed
        out, hole = self._vacate(image, regions, index, context, rng)
        out = copy_component(out, image, regions[index], dx, dy)
        return out, hole | target, {"offset": [dx, dy], "placed_on": where, "fill": self.params.fill}

    def _swapped_colour(self, image: np.ndarray, regions: list[np.ndarray], index: int,
                        context: SampleContext, rng: np.random.Generator) -> Edit:
        p = self.params
        inside = regions[index] > 0
        pixels = image[inside].astype(np.float32)
        mean = pixels.mean(axis=0)
        best, best_distance = mean, -1.0
        for _ in range(32):
            if context.grayscale:
                # A grey class gets another grey: only the value (brightness) is drawn.
                colour = np.full(3, np.rint(uniform(rng, p.value) * 255.0), np.float32)
            else:
                hsv = np.array([[[rng.uniform(0.0, 180.0), uniform(rng, p.saturation) * 255.0,
                                  uniform(rng, p.value) * 255.0]]], np.float32)
                colour = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)
            distance = float(np.linalg.norm(colour - mean))
            if distance > best_distance:
                best, best_distance = colour, distance
            if distance >= p.min_colour_shift:
                break
        out = image.copy()
        # Shift every pixel by the same colour offset: the component's shading and texture survive.
        out[inside] = np.clip(np.rint(pixels - mean + best), 0, 255).astype(np.uint8)
        return out, regions[index].copy(), {"colour": [int(v) for v in best],
                                            "colour_shift": round(best_distance, 3)}
