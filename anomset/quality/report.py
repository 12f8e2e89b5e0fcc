"""``anomset quality OUT``: IS, IC-LPIPS and KID of each class's generators in a built folder, against the
class's real test defects (or its test normals), under one pinned protocol recorded beside every figure.

Protocol ``anomset.quality/1`` (every number below is an argument, recorded in each row):

- Generated set: the synthetic anomalies (label 1) of one class and generator, in manifest order, at
  most ``max_samples``. Reference set: the class's real test defects in the build (``reference:
  defects``; a class without any falls back to its test normals, and the row says so) or its test
  normals (``reference: normals``), at most ``max_samples``.
- KID: global-average-pooled features of ``layers`` of ``backbone`` (no local pooling), images resized
  to ``image_size``; ``kid_subsets`` subsets of ``kid_subset_size`` (capped at the smaller set), seeded.
- IS: ``classifier``'s logits (an ``AutoModelForImageClassification``) at ``image_size``, over
  ``min(is_splits, n)`` splits.
- IC-LPIPS: the first ``lpips_samples`` generated images each join the nearest of ``k`` reference
  images (drawn with ``seed``) by the uncalibrated LPIPS distance on ``layers`` of ``backbone``; the
  figure is the mean pairwise distance inside clusters, ± the spread over clusters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from anomset.dataset.contract import IMAGE_MEMBER, JSON_MEMBER
from anomset.dataset.files import write_json_atomic
from anomset.dataset.reader import decode_image, decode_json, iter_built, read_manifest
from anomset.errors import AnomsetError, OutputError
from anomset.sample import generator_label

PROTOCOL = "anomset.quality/1"
DEFECTS, NORMALS = "defects", "normals"


@dataclass(frozen=True)
class QualityProtocol:
    """Everything that decides the figures; written next to each of them."""

    backbone: str = "microsoft/resnet-50"
    revision: str | None = None
    layers: tuple[str, ...] = ("stage2", "stage3")
    classifier: str = "microsoft/resnet-50"
    classifier_revision: str | None = None
    image_size: int = 224
    reference: str = DEFECTS
    max_samples: int = 1000
    lpips_samples: int = 100
    k: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    is_splits: int = 10
    seed: int = 0
    device: str = "auto"
    batch_size: int = 32


@dataclass
class ClassImages:
    generated: dict[str, list[np.ndarray]]  # generator → images
    defects: list[np.ndarray]
    normals: list[np.ndarray]


def collect(out: Path, manifest: dict[str, Any], class_name: str, limit: int) -> ClassImages:
    """The class's generated anomalies per generator and its real test defects and test normals (at most
    ``limit`` each, in manifest order); only the images that are used are decoded."""
    images = ClassImages({}, [], [])
    for shard, key, members in iter_built(out, manifest, (IMAGE_MEMBER, JSON_MEMBER),
                                          lambda s: s["class"] == class_name):
        meta = decode_json(members, shard, key)
        if meta.get("origin") == "synthetic" and meta.get("mask_area", 0) > 0:
            target = images.generated.setdefault(generator_label(meta["generator"], meta["origin"]), [])
        elif meta.get("split") == "test" and meta.get("origin") == "real":
            target = images.defects
        elif meta.get("split") == "test" and meta.get("origin") == "normal":
            target = images.normals
        else:
            continue
        if len(target) < limit:
            target.append(decode_image(members, shard, key))
    return images


def quality_rows(out_dir: Path | str, protocol: QualityProtocol) -> list[dict[str, Any]]:
    """One row per class and generator: ``{class, generator, reference, metrics, protocol}``."""
    from anomset.features.backbone import Backbone
    from anomset.quality import metric_features as mf
    from anomset.quality import metrics

    out = Path(out_dir)
    manifest = read_manifest(out)
    p = protocol
    backbone = Backbone(p.backbone, revision=p.revision, layers=list(p.layers), image_size=p.image_size, pool=1,
                        device=p.device, batch_size=p.batch_size, field="quality.backbone")
    rows = []
    for class_name in sorted(manifest["counts"]):
        images = collect(out, manifest, class_name, p.max_samples)
        reference_kind = p.reference
        reference = images.defects if p.reference == DEFECTS else images.normals
        if p.reference == DEFECTS and len(reference) < 2:
            reference_kind, reference = "normals (the class has fewer than 2 real test defects)", images.normals
        for generator, generated in sorted(images.generated.items()):
            if len(generated) < 2 or len(reference) < 2:
                continue  # KID, IS splits and clusters need at least two images on each side
            rng = np.random.default_rng(p.seed)
            kid = metrics.kid(mf.kid_features(backbone, reference), mf.kid_features(backbone, generated), rng,
                              subsets=p.kid_subsets, subset_size=p.kid_subset_size)
            logits, classifier = mf.classifier_logits(p.classifier, generated, revision=p.classifier_revision,
                                                      image_size=p.image_size, device=p.device,
                                                      batch_size=p.batch_size)
            inception = metrics.inception_score(logits, splits=min(p.is_splits, len(generated)))
            few = generated[:p.lpips_samples]
            picked = sorted(rng.choice(len(reference), size=min(p.k, len(reference)), replace=False).tolist())
            fake_maps = mf.perceptual_maps(backbone, few)
            ref_maps = mf.perceptual_maps(backbone, [reference[i] for i in picked])
            diversity = metrics.ic_lpips(metrics.perceptual_distances(fake_maps, ref_maps),
                                         metrics.perceptual_distances(fake_maps))
            measured = [v for v in diversity.per_cluster if not np.isnan(v)]
            ic = ({"mean": diversity.value, "std": float(np.std(measured))} if measured else None)
            figures = {"kid": {"mean": kid.mean, "std": kid.std},
                       "is": {"mean": inception.mean, "std": inception.std}}
            if ic is not None:
                figures["ic_lpips"] = ic
            rows.append({
                "class": class_name, "generator": generator, "reference": reference_kind, "metrics": figures,
                "protocol": {
                    "name": PROTOCOL, "seed": p.seed, "image_size": [p.image_size, p.image_size],
                    "features": backbone.provenance(), "classifier": classifier,
                    "samples": {"generated": len(generated), "reference": len(reference),
                                "max_samples": p.max_samples},
                    "kid": {"subsets": kid.parts, "subset_size": kid.part_size, "kernel": "(x.y/d + 1)^3"},
                    "is": {"splits": inception.parts, "split_size": inception.part_size},
                    "ic_lpips": {"k": len(picked), "generated": len(few), "cluster_sizes": diversity.sizes,
                                 "clusters_measured": len(measured),
                                 "distance": "uncalibrated LPIPS: unit-normalised channels, no learned weights"},
                    "data_hash": manifest.get("data_hash", ""),
                }})
    return rows


def write_quality(out_dir: Path | str, rows: list[dict[str, Any]]) -> Path:
    """Put ``rows`` into ``benchmarks/results.json`` ``quality`` (replacing earlier quality rows, keeping the
    detector results and plots as they are); the file is validated against its schema before it is written."""
    from anomset.hub.detector_results import RESULTS_PATH, SCHEMA, Results

    out = Path(out_dir)
    path = out / RESULTS_PATH
    manifest = read_manifest(out)
    data: dict[str, Any]
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise OutputError(f"not valid JSON: {exc}", file=str(path), fix="fix or delete it") from None
        data["schema"] = SCHEMA  # the quality rows need the current schema; detector rows are unchanged
    else:
        data = {"schema": SCHEMA, "dataset": {"data_hash": manifest.get("data_hash", "")}}
    data["quality"] = rows
    try:
        Results.model_validate(data)
    except ValueError as exc:
        raise OutputError(f"benchmarks/results.json would not match its schema: {str(exc).splitlines()[0]}",
                          file=str(path), fix="fix or delete the file and rerun") from None
    write_json_atomic(path, data)
    return path


def run_quality(out_dir: Path | str, protocol: QualityProtocol) -> tuple[Path, list[dict[str, Any]]]:
    """Compute the rows and write them into results.json; returns (path, rows). The command re-renders the card."""
    out = Path(out_dir)
    rows = quality_rows(out, protocol)
    if not rows:
        raise AnomsetError("no class has 2 or more generated anomalies and 2 or more reference images",
                           file=str(out), fix="build more samples, or use --reference normals")
    return write_quality(out, rows), rows
