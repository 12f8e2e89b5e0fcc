"""Adaptive multi-round clustering (GAA): KMeans with k chosen by Calinski–Harabasz and Davies–Bouldin,
and clusters denser than the class can support split again.

For ``k = 2..min(k_max, N // 2)`` both indices are computed; CH (higher is better) and DB (lower is better) are each
min–max normalised over the tried k and turned to agree (``ch`` and ``1 − db``), and the k with the
best mean wins. A cluster with more than ``N / (ln(0.1·N) + 0.4)`` members (``N``: the class's
defects) is clustered again, for up to ``max_rounds`` rounds. Fewer than 4 defects give one cluster.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

MIN_TO_SPLIT = 4


def split_threshold(total: int) -> float:
    """Largest cluster size the class supports: ``N / (ln(0.1·N) + 0.4)``; infinite while that
    denominator is at most 1 (then no cluster can exceed N)."""
    if total <= 0:
        return math.inf
    denominator = math.log(0.1 * total) + 0.4
    return total / denominator if denominator > 1.0 else math.inf


@dataclass
class Choice:
    """One KMeans run: the chosen k, its labels, and the scores of every k tried."""

    k: int
    labels: np.ndarray
    scores: dict[int, dict[str, float]] = field(default_factory=dict)


def choose_k(features: np.ndarray, k_max: int, seed: int) -> Choice:
    """KMeans for k = 2..min(k_max, n // 2) and the k where normalised CH and DB agree best.

    k stops at n // 2 (two members a cluster on average): near k = n the CH index diverges (its
    within-cluster dispersion goes to 0) and would pick singletons.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

    n = len(features)
    runs: dict[int, np.ndarray] = {}
    raw: dict[int, tuple[float, float]] = {}
    for k in range(2, min(k_max, n // 2) + 1):
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(features)
        if len(np.unique(labels)) < 2:  # identical points: KMeans cannot make k groups
            continue
        runs[k] = labels
        raw[k] = (float(calinski_harabasz_score(features, labels)), float(davies_bouldin_score(features, labels)))
    if not runs:
        return Choice(1, np.zeros(n, np.int64))
    ch = np.array([raw[k][0] for k in runs])
    db = np.array([raw[k][1] for k in runs])

    def unit(values: np.ndarray) -> np.ndarray:
        span = values.max() - values.min()
        return (values - values.min()) / span if span > 1e-12 else np.ones_like(values)

    agreed = 0.5 * (unit(ch) + (1.0 - unit(db)))
    ks = list(runs)
    best = ks[int(np.argmax(agreed))]  # ties: the smallest k
    scores = {k: {"calinski_harabasz": raw[k][0], "davies_bouldin": raw[k][1], "agreed": float(a)}
              for k, a in zip(ks, agreed, strict=True)}
    return Choice(best, runs[best], scores)


@dataclass
class Clustering:
    """Cluster index per defect (clusters numbered by their first member) and a log of every round."""

    labels: list[int]
    rounds: list[dict] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(set(self.labels))


def adaptive_clusters(features: np.ndarray, k_max: int = 8, max_rounds: int = 3, seed: int = 0) -> Clustering:
    """GAA's multi-round clustering of the rows of ``features`` (see the module docstring)."""
    n = len(features)
    if n < MIN_TO_SPLIT:
        return Clustering([0] * n, [{"round": 0, "note": f"{n} defects (< {MIN_TO_SPLIT}): one cluster"}])
    groups: list[list[int]] = [list(range(n))]
    limit = split_threshold(n)
    log: list[dict] = []
    for round_index in range(max_rounds):
        targets = [g for g in groups if len(g) > limit or (round_index == 0 and len(g) == n)]
        if not targets:
            break
        next_groups = [g for g in groups if all(g is not t for t in targets)]
        for members in targets:
            if len(members) < MIN_TO_SPLIT:
                next_groups.append(members)
                continue
            choice = choose_k(features[members], k_max, seed)
            log.append({"round": round_index, "size": len(members), "k": choice.k,
                        "scores": {str(k): v for k, v in choice.scores.items()}})
            for label in range(choice.k):
                part = [m for m, lab in zip(members, choice.labels, strict=True) if lab == label]
                if part:
                    next_groups.append(part)
        groups = next_groups
    groups.sort(key=min)
    labels = [0] * n
    for index, members in enumerate(groups):
        for m in members:
            labels[m] = index
    return Clustering(labels, [{"threshold": limit if math.isfinite(limit) else None}, *log])


def type_agreement(labels: list[int], types: list[str]) -> dict[str, float]:
    """How the clusters line up with the defect types: adjusted Rand index and purity (a diagnostic, not a target).

    GAA's clusters are meant to be finer than the types, so purity (the share of defects whose cluster's
    most common type is theirs) matters more than the Rand index, which also penalises splitting a type.
    """
    from sklearn.metrics import adjusted_rand_score

    by_cluster: dict[int, list[str]] = {}
    for label, kind in zip(labels, types, strict=True):
        by_cluster.setdefault(label, []).append(kind)
    majority = sum(max(members.count(t) for t in set(members)) for members in by_cluster.values())
    return {"adjusted_rand": round(float(adjusted_rand_score(types, labels)), 4),
            "purity": round(majority / max(len(labels), 1), 4)}
