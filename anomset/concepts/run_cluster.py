"""``anomset cluster RECIPE``: cluster every concept class's shown defects and save the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anomset.concepts.classes import concept_classes, concepts_spec
from anomset.concepts.cluster import adaptive_clusters, type_agreement
from anomset.concepts.features import combine_blocks, defect_features, load_vit
from anomset.concepts.store import save_clusters
from anomset.recipe.load import LoadedRecipe


@dataclass
class ClusterSummary:
    class_name: str
    defects: int
    clusters: int
    files: list[Path]


def run_cluster(loaded: LoadedRecipe, only: list[str] | None = None,
                echo: Callable[[str], None] = lambda _: None) -> list[ClusterSummary]:
    """Cluster each class (gaa/anogen classes, or ``only``) and write its files under ``concepts.dir``."""
    spec = concepts_spec(loaded)
    classes = concept_classes(loaded, only)
    c = spec.cluster
    vit = load_vit(c) if c.vit_weight > 0 and any(len(k.defects) >= 4 for k in classes) else None
    weights = {"vit": c.vit_weight, "lab": c.lab_weight, "lbp": c.lbp_weight}
    out = []
    for klass in classes:
        n = len(klass.defects)
        # Fewer than 4 defects are one cluster whatever they look like: no features needed.
        features = combine_blocks(defect_features(klass.defects, c, vit), weights) if n >= 4 else np.zeros((n, 1))
        clustering = adaptive_clusters(features, c.k_max, c.max_rounds, c.seed)
        agreement = type_agreement(clustering.labels, [d.defect_type for d in klass.defects])
        record = {"rounds": clustering.rounds, "features": vit.provenance() if vit is not None else {},
                  "weights": weights, "type_agreement": agreement}
        files = save_clusters(klass.folder, klass.name, klass.cluster_hash, klass.defects, clustering.labels,
                              c.margin, record)
        out.append(ClusterSummary(klass.name, n, clustering.count, files))
        types = len({d.defect_type for d in klass.defects})
        echo(f"{klass.name}: {n} shown defects of {types} types -> {clustering.count} clusters (purity "
             f"{agreement['purity']:.2f}, adjusted Rand {agreement['adjusted_rand']:.2f} against the types; "
             f"{klass.folder})")
    return out
