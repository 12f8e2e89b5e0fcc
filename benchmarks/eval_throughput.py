"""Throughput of ``anomset eval``: U-Net training through the evaluator vs a bare torch loop; streamed PRO vs a
per-threshold reference.

1. **U-Net training.** A small toy build is evaluated by ``anomset eval`` (plain protocol, one class,
   one seed, in this process); the unit records the seconds its ``fit`` took, so samples/s =
   train samples × epochs / fit seconds. In the same round a bare torch loop trains the same network
   (``unet_net.UNet``, same seed), on the same images resized the same way, with the same batch size,
   optimiser, loss and flips. Ratio evaluator / bare (target >= 0.9). Rounds alternate the order
   (a drifting shared machine favours neither); the median ratio is reported.
2. **PRO.** ``--masks`` score maps of ``--side``² with random blob masks: ``PixelMetricAccumulator``
   (one pass per map, histograms) against a straightforward reference that, for each of
   ``--thresholds`` thresholds evenly spaced over the score range, binarises every map and averages
   the per-region overlap at that FPR (the MVTec AD evaluation's loop). Time ratio reference /
   streamed (target >= 5) and both PRO values.

    python benchmarks/eval_throughput.py [--rounds 3] [--epochs 4] [--masks 100] [--side 1024] [--thresholds 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from anomset.eval_workflow import run_eval  # noqa: E402
from anomset.evaluate import metrics as M  # noqa: E402
from anomset.evaluate.data import BuiltDataset  # noqa: E402
from anomset.evaluate.recipe import load_eval_data  # noqa: E402
from anomset.recipe import load_recipe_text  # noqa: E402
from anomset.workflow import build_dataset  # noqa: E402

UNET = {"image_size": 64, "base_channels": 8, "depth": 3, "batch_size": 16, "lr": 0.003, "device": "cpu"}
SOURCE = {"type": "toy", "params": {"image_size": 128, "train_normals": 40, "test_normals": 6, "defects_per_type": 3,
                                    "classes": ["brick"]}}


def build(folder: Path) -> Path:
    recipe = {"name": "bench", "seed": 0, "source": SOURCE, "output": {"image_size": 128, "shard_size": 64},
              "classes": {"brick": {"generate": [{"synthesizer": "cutpaste", "count": 40},
                                                 {"synthesizer": "draem", "count": 40}]}}}
    build_dataset(load_recipe_text(yaml.safe_dump(recipe)), folder / "data", progress=False)
    return folder / "data"


def through_eval(data: Path, epochs: int, round_index: int) -> tuple[float, int]:
    """Training samples/s of one unet unit run by ``anomset eval``."""
    recipe = {"dataset": str(data), "output": str(data.parent / f"eval{round_index}"),
              "test": {"source": SOURCE}, "detectors": [{"type": "unet", "params": {**UNET, "epochs": epochs}}],
              "protocols": ["plain"], "seeds": [0], "metrics": ["image_auroc"]}
    run_eval(load_eval_data(recipe), progress=False, echo=lambda line: None)
    unit = next((data.parent / f"eval{round_index}" / ".anomset" / "eval").rglob("*.json"))
    record = json.loads(unit.read_text())
    return record["train_samples"] * epochs / record["fit_seconds"], record["train_samples"]


def bare_loop(data: Path, epochs: int) -> float:
    """The same training, written directly in torch: samples/s."""
    import torch

    from anomset.evaluate.detectors.unet_net import UNet, dice_loss, focal_loss

    dataset = BuiltDataset(data, "bench")
    train = dataset.samples("brick", "train", dataset.image_size)
    side = UNET["image_size"]
    images = np.stack([cv2.resize(i, (side, side), interpolation=cv2.INTER_AREA) for i in train.images])
    masks = np.stack([cv2.resize((m > 0).astype(np.float32), (side, side), interpolation=cv2.INTER_AREA)
                      for m in train.masks])
    started = time.perf_counter()
    x_all = torch.from_numpy((images.astype(np.float32) / 255.0 - 0.5) / 0.25).permute(0, 3, 1, 2).contiguous()
    y_all = torch.from_numpy(masks)[:, None]
    torch.manual_seed(0)
    model = UNet(UNET["base_channels"], UNET["depth"])
    optimizer = torch.optim.Adam(model.parameters(), lr=UNET["lr"])
    rng = np.random.default_rng(0)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x_all))
        for start in range(0, len(order), UNET["batch_size"]):
            batch = order[start:start + UNET["batch_size"]]
            x, y = x_all[batch], y_all[batch]
            dims = [d for d, flip in ((3, rng.random() < 0.5), (2, rng.random() < 0.5)) if flip]
            if dims:
                x, y = x.flip(dims), y.flip(dims)
            logits = model(x)
            loss = focal_loss(logits, y, 2.0, 0.75) + dice_loss(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return len(x_all) * epochs / (time.perf_counter() - started)


def maps_and_masks(count: int, side: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    maps, masks = [], []
    for _ in range(count):
        mask = np.zeros((side, side), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            centre = tuple(int(v) for v in rng.integers(side // 8, side - side // 8, 2))
            axes = tuple(int(v) for v in rng.integers(side // 64, side // 12, 2))
            cv2.ellipse(mask, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        noise = rng.normal(0, 1, (side // 8, side // 8)).astype(np.float32)
        score = cv2.resize(noise, (side, side), interpolation=cv2.INTER_LINEAR) + 1.5 * (mask > 0)
        maps.append(score.astype(np.float32))
        masks.append(mask)
    return maps, masks


def pro_reference(maps: list[np.ndarray], masks: list[np.ndarray], thresholds: int, max_fpr: float = 0.3) -> float:
    """Per threshold: binarise every map, mean overlap over all regions, FPR over all normal pixels."""
    regions = []  # per image: the flat pixel indices of each ground-truth region (found once)
    for mask in masks:
        count, labels = cv2.connectedComponents((mask > 0).astype(np.uint8), connectivity=8)
        regions.append([np.flatnonzero(labels == r) for r in range(1, count)])
    low, high = min(float(m.min()) for m in maps), max(float(m.max()) for m in maps)
    normals = sum(int((m == 0).sum()) for m in masks)
    fprs, pros = [], []
    for t in np.linspace(high, low, thresholds):
        overlaps, false_positive = [], 0
        for score, mask, inside in zip(maps, masks, regions, strict=True):
            hit = score >= t
            false_positive += int(np.count_nonzero(hit & (mask == 0)))
            flat = hit.ravel()
            overlaps += [float(flat[idx].mean()) for idx in inside]
        fprs.append(false_positive / normals)
        pros.append(float(np.mean(overlaps)))
    fpr, pro = np.concatenate(([0.0], fprs)), np.concatenate(([0.0], pros))
    return M.area_up_to(fpr, pro, max_fpr) / max_fpr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--masks", type=int, default=100)
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--thresholds", type=int, default=100)
    parser.add_argument("--skip-unet", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    if not args.skip_unet:
        with tempfile.TemporaryDirectory() as tmp:
            data = build(Path(tmp))
            bare_loop(data, 1)  # warm-up: torch's first convolutions set up kernels and thread pools
            ratios = []
            for index in range(args.rounds):
                if index % 2 == 0:
                    evaluated, samples = through_eval(data, args.epochs, index)
                    bare = bare_loop(data, args.epochs)
                else:
                    bare = bare_loop(data, args.epochs)
                    evaluated, samples = through_eval(data, args.epochs, index)
                ratios.append(evaluated / bare)
                print(f"round {index}: unet training {samples} samples x {args.epochs} epochs: anomset eval "
                      f"{evaluated:.1f} samples/s, bare torch loop {bare:.1f} samples/s, ratio {evaluated / bare:.3f}")
            print(f"unet training ratio eval/bare (median of {args.rounds}): {statistics.median(ratios):.3f} "
                  "(target >= 0.9)")
    maps, masks = maps_and_masks(args.masks, args.side)
    started = time.perf_counter()
    accumulator = M.PixelMetricAccumulator()
    for score, mask in zip(maps, masks, strict=True):
        accumulator.update(score, mask)
    streamed = accumulator.compute()
    streamed_s = time.perf_counter() - started
    started = time.perf_counter()
    reference = pro_reference(maps, masks, args.thresholds)
    reference_s = time.perf_counter() - started
    print(f"PRO on {args.masks} masks at {args.side}²: streamed {streamed_s:.2f} s (PRO {streamed.pro:.4f} "
          f"± {streamed.pro_error_bound:.4f}), per-threshold reference with {args.thresholds} thresholds "
          f"{reference_s:.2f} s (PRO {reference:.4f}); speed-up {reference_s / streamed_s:.1f}x (target >= 5)")


if __name__ == "__main__":
    main()
