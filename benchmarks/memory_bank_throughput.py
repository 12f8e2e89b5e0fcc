"""memory_bank scoring of a toy test set against brute-force ``torch.cdist`` nearest neighbours, same features.

Builds a random ResNet from a config (no download; ResNet-18's shape by default), saves it with
``save_pretrained`` and loads it back through the real loader, fits ``memory_bank`` on one toy class's
train normals (rendered by the built-in ``toy`` source), then times, round by round in alternating
order, on that class's test images (normals and the toy's own defects):

  (1) ``MemoryBankDetector.score``: features, batched matmul kNN on the coreset, maps;
  (2) the same features, then ``torch.cdist`` to the **whole** normal patch bank and ``min`` (query
      chunks only so that the distance block fits in memory), then the same maps.

It prints images/s of both and the ratio (1)/(2) (target >= 1), the kNN step alone both ways (and the
matmul kNN on the whole bank, to separate the structure from the coreset), and the coreset's recall
of the exact nearest-neighbour distance: mean ``d_exact / d_coreset`` over test patches (1 = exact),
the share of patches within 10 % of the exact distance, and image / pixel AUROC with either bank.
One thread, CPU, about a minute with the defaults.

    python benchmarks/memory_bank_throughput.py [--cls brick] [--train 20] [--size 160] [--ratio 0.1]
                                                [--widths 64,128,256,512] [--depths 2,2,2,2] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import build_resnet  # noqa: E402  (benchmarks/ is on the path when run as a script)


def toy_sets(class_name: str, train: int, size: int):
    """The toy source's train normals and test images (normals + rendered defects) of one class."""
    from anomset.evaluate.detectors import TestSet, TrainSet
    from anomset.registry import SOURCES

    source = SOURCES.get("toy")(image_size=size, train_normals=train, test_normals=20, defects_per_type=6,
                                classes=[class_name])
    sets = {}
    for split, cls in (("train", TrainSet), ("test", TestSet)):
        items = [item for item in source.items(class_name) if item.split == split]
        loaded = [source.load(item) for item in items]
        masks = [x.mask if x.mask is not None else np.zeros(x.image.shape[:2], np.uint8) for x in loaded]
        sets[split] = cls(np.stack([x.image for x in loaded]), np.stack(masks),
                          np.array([not item.is_normal for item in items], np.int64),
                          [item.defect_type for item in items], [item.key for item in items])
    return sets["train"], sets["test"]


def brute_force_score(detector, images: np.ndarray, full_bank):
    """Scores as ``memory_bank`` gives them, but nearest neighbours by ``torch.cdist`` to the whole bank."""
    from anomset.evaluate.detectors.patch_features import as_patches, full_size_maps

    grid = detector.embed(images)
    n, _, h, w = grid.shape
    distances = brute_force_nn(as_patches(grid), full_bank)
    patch_scores = distances.view(n, h * w)
    maps = full_size_maps(patch_scores.view(n, h, w), detector.params.image_size, images.shape[1:3],
                          detector.params.smoothing_sigma)
    return patch_scores.max(1).values.double().numpy(), maps.numpy().astype(np.float32)


def brute_force_nn(queries, bank, chunk: int = 1024):
    import torch

    return torch.cat([torch.cdist(queries[s:s + chunk], bank).min(1).values for s in range(0, len(queries), chunk)])


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cls", default="brick", help="toy class (brick, gravel, board, washer)")
    parser.add_argument("--train", type=int, default=20, help="train normals in the bank")
    parser.add_argument("--size", type=int, default=160, help="image and backbone input side")
    parser.add_argument("--ratio", type=float, default=0.1, help="coreset_ratio")
    parser.add_argument("--widths", default="64,128,256,512")
    parser.add_argument("--depths", default="2,2,2,2")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch

    from anomset.evaluate.detectors.knn import knn
    from anomset.evaluate.detectors.patch_features import as_patches
    from anomset.evaluate.metrics import PixelMetricAccumulator, auroc
    from anomset.registry import DETECTORS

    torch.set_num_threads(1)
    train, test = toy_sets(args.cls, args.train, args.size)
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_resnet(Path(tmp) / "resnet", [int(v) for v in args.widths.split(",")],
                              [int(v) for v in args.depths.split(",")])
        detector = DETECTORS.get("memory_bank")(backbone=str(folder), image_size=args.size, coreset_ratio=args.ratio,
                                                device="cpu", seed=0)
        fit_s, _ = timed(lambda: detector.fit(train))
        full_bank = as_patches(detector.embed(train.images))
        print(f"{args.cls}: {len(train)} train normals, {len(test)} test images ({test.anomalies} defective), "
              f"{args.size}px; bank {detector.bank_.shape[0]} of {full_bank.shape[0]} patches × "
              f"{full_bank.shape[1]} channels; fit (features + coreset) {fit_s:.1f} s")

        ours, brute = [], []
        for round_index in range(args.rounds):
            order = (0, 1) if round_index % 2 == 0 else (1, 0)
            for which in order:
                if which == 0:
                    seconds, ours_out = timed(lambda: detector.score(test.images))
                    ours.append(seconds)
                else:
                    seconds, brute_out = timed(lambda: brute_force_score(detector, test.images, full_bank))
                    brute.append(seconds)
        t_ours, t_brute = statistics.median(ours), statistics.median(brute)
        print(f"scoring, end to end: memory_bank {len(test) / t_ours:.2f} img/s, brute-force cdist "
              f"{len(test) / t_brute:.2f} img/s, ratio {t_brute / t_ours:.2f} (target >= 1)")

        queries = as_patches(detector.embed(test.images))
        knn_core, (d_core, _) = timed(lambda: knn(queries, detector.bank_, 1, detector.bank_norms_))
        knn_full, (d_mm_full, _) = timed(lambda: knn(queries, full_bank, 1))
        cdist_full, d_exact = timed(lambda: brute_force_nn(queries, full_bank))
        print(f"kNN step alone ({queries.shape[0]} query patches): matmul kNN on the coreset {knn_core:.2f} s, "
              f"matmul kNN on the whole bank {knn_full:.2f} s, cdist on the whole bank {cdist_full:.2f} s "
              f"(ratios {cdist_full / knn_core:.1f} and {cdist_full / knn_full:.2f})")
        d_core = d_core[:, 0]
        recall = (d_exact / d_core.clamp_min(1e-12)).clamp(max=1)
        within = float((d_core <= 1.1 * d_exact + 1e-6).float().mean())
        print(f"coreset recall of the exact NN distance: mean d_exact/d_coreset {float(recall.mean()):.3f}, "
              f"{100 * within:.1f} % of patches within 10 %; matmul vs cdist max |Δd| "
              f"{float((d_mm_full[:, 0] - d_exact).abs().max()):.2e}")

        def pixel_auroc(maps: np.ndarray) -> float:
            acc = PixelMetricAccumulator()
            for m, g in zip(maps, test.masks, strict=True):
                acc.update(m, g)
            return acc.compute().auroc

        print(f"image AUROC coreset {auroc(ours_out[0], test.labels):.3f} vs whole bank "
              f"{auroc(brute_out[0], test.labels):.3f}; pixel AUROC {pixel_auroc(ours_out[1]):.3f} vs "
              f"{pixel_auroc(brute_out[1]):.3f} (random-weight backbone: agreement matters, not the level)")


if __name__ == "__main__":
    main()
