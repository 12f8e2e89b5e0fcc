"""Throughput of every registered synthesizer next to PNG-encoding its own output, on one core.

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/synth_throughput.py [--sizes 256 1024] [--seconds 2]

For each synthesizer and size it times what the build does per pair (propose a mask, restrict it to
the foreground, apply) on toy normal images, then times ``encode_png`` (compression 1) of the image
and mask it produced, and prints pairs/s for both and their ratio. Targets (issue 3): cutpaste,
cutpaste_scar, draem, transparent, opaque ≥ 3× encode; nsa, near_distribution, rotation, logical ≥ 1×;
issue 12: real_paste ≥ 1× (its donors are the toy class's own real defects, as a build shows them).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

from anomset.context import ImagePool, SampleContext, ShownDefect
from anomset.dataset.files import encode_png
from anomset.registry import SYNTHESIZERS
from anomset.sources.base import LoadedItem
from anomset.sources.toy import ToySource
from anomset.synth.base import Synthesizer, SynthResult

TARGETS = {"cutpaste": 3.0, "cutpaste_scar": 3.0, "draem": 3.0, "transparent": 3.0, "opaque": 3.0,
           "nsa": 1.0, "near_distribution": 1.0, "rotation": 1.0, "logical": 1.0, "real_paste": 1.0}
CLASS_NAME = "board"  # an object class: foreground, texture and a fixed orientation


def load_items(size: int, count: int) -> tuple[list[LoadedItem], list[ShownDefect]]:
    """``count`` normals of the class and two real defects of each type (the donors real_paste sees)."""
    source = ToySource(image_size=size, classes=[CLASS_NAME], train_normals=count, test_normals=0,
                       defects_per_type=2)
    items, shown = [], []
    for item in source.items(CLASS_NAME):
        loaded = source.load(item)
        if item.is_normal:
            items.append(loaded)
        else:
            shown.append(ShownDefect(item.key, item.defect_type, loaded.image, loaded.mask))
    return items, shown


def synthesize(synth: Synthesizer, item: LoadedItem, context: SampleContext,
               rng: np.random.Generator) -> SynthResult:
    """One pair the way build/render.py makes it (without the visibility redraw loop)."""
    mask = None
    if synth.uses_mask:
        shape = item.image.shape[:2]
        mask = synth.propose_mask(shape, context, rng).mask & context.foreground
    return synth.apply(item.image, mask, context, rng)


def bench(name: str, items: list[LoadedItem], shown: list[ShownDefect], seconds: float,
          min_pairs: int = 5) -> tuple[float, float]:
    """(pairs/s synthesised, pairs/s encoded). Each pair is encoded right after it is made, so both
    rates see the same machine load (other processes on a shared machine shift them together)."""
    synth = SYNTHESIZERS.get(name)()
    pool = ImagePool([it.image for it in items], shown=shown)
    contexts = [SampleContext(CLASS_NAME, it.foreground, it.regions, pool) for it in items]
    synthesize(synth, items[0], contexts[0], np.random.default_rng(0))  # warm caches (textures)
    synth_time = encode_time = 0.0
    pairs = 0
    while pairs < min_pairs or synth_time + encode_time < seconds:
        k = pairs % len(items)
        rng = np.random.default_rng(pairs)
        start = time.perf_counter()
        out = synthesize(synth, items[k], contexts[k], rng)
        middle = time.perf_counter()
        encode_png(out.image, 1)
        encode_png(out.mask, 1)
        encode_time += time.perf_counter() - middle
        synth_time += middle - start
        pairs += 1
    return pairs / synth_time, pairs / encode_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per synthesizer and size")
    parser.add_argument("--only", nargs="*", default=None, help="synthesizer names (default: all)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    # Model-backed synthesizers need a model: benchmarks/diffusion_overhead.py times them.
    names = args.only or [name for name, cls in SYNTHESIZERS if not cls.model_backed]
    print(f"{'synthesizer':<18} {'size':>5} {'synth/s':>9} {'encode/s':>9} {'ratio':>7} {'target':>7}")
    for size in args.sizes:
        items, shown = load_items(size, 4)
        for name in names:
            synth_rate, encode_rate = bench(name, items, shown, args.seconds)
            ratio = synth_rate / encode_rate
            target = TARGETS.get(name)
            verdict = "" if target is None else f"{'ok' if ratio >= target else 'SLOW'} ≥{target:g}×"
            print(f"{name:<18} {size:>5} {synth_rate:>9.1f} {encode_rate:>9.1f} {ratio:>6.2f}× {verdict:>7}",
                  flush=True)


if __name__ == "__main__":
    main()
