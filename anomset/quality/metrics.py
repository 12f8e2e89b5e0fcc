"""Generation-quality metrics as pure functions on features, logits and distances (numpy only).

- ``kid``: Kernel Inception Distance (Bińkowski et al., 2018): the unbiased MMD² with the cubic
  polynomial kernel ``k(x, y) = (x·y / d + 1)³``, averaged over random subsets, mean ± std.
- ``inception_score``: IS (Salimans et al., 2016): ``exp(E_x KL(p(y|x) || p(y)))`` per split, mean ± std.
- ``perceptual_distances`` + ``ic_lpips``: IC-LPIPS (Ojha et al., 2021): generated images clustered
  around k reference images by perceptual distance, mean pairwise distance inside clusters. The
  distance is LPIPS's uncalibrated variant (channels unit-normalised at every position, squared
  difference summed over channels, spatial mean, sum over layers), *without* LPIPS's learned linear
  weights, on whatever backbone layers are given: figures are comparable between datasets only
  under the same backbone, layers and image size (``metric_features`` records them).

Which network makes the features is the caller's business (``anomset.quality.metric_features``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A figure with its spread over subsets or splits, and what it was computed on."""

    mean: float
    std: float
    parts: int  # subsets (KID) or splits (IS)
    part_size: int  # samples per subset / per split (the smallest split for IS)

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "std": self.std, "parts": self.parts, "part_size": self.part_size}


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> np.ndarray:
    """KID's kernel ``(x·y / d + coef) ** degree`` between the rows of ``x`` and ``y`` (float64)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    return (x @ y.T / x.shape[1] + coef) ** degree


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 3, coef: float = 1.0) -> float:
    """The unbiased MMD² estimate between samples ``x`` (m×d) and ``y`` (n×d); m, n >= 2."""
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"MMD² needs at least 2 samples on each side, got {m} and {n}")
    kxx = polynomial_kernel(x, x, degree, coef)
    kyy = polynomial_kernel(y, y, degree, coef)
    kxy = polynomial_kernel(x, y, degree, coef)
    within_x = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(within_x + within_y - 2.0 * kxy.mean())


def kid(real: np.ndarray, fake: np.ndarray, rng: np.random.Generator, *, subsets: int = 100,
        subset_size: int = 1000) -> Estimate:
    """KID between two feature sets (rows): MMD² over ``subsets`` random subsets of each set.

    Each subset draws ``subset_size`` rows of each set without replacement, as the KID paper's code
    does; the size is capped at the smaller set (``part_size`` says what was used).
    """
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"KID needs two N×d feature arrays of the same d, got {real.shape} and {fake.shape}")
    size = min(subset_size, len(real), len(fake))
    values = [mmd2_unbiased(real[rng.choice(len(real), size, replace=False)],
                            fake[rng.choice(len(fake), size, replace=False)]) for _ in range(subsets)]
    return Estimate(float(np.mean(values)), float(np.std(values)), subsets, size)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def inception_score(logits: np.ndarray, splits: int = 10) -> Estimate:
    """IS from a classifier's logits (N×K): ``exp(mean KL(p(y|x) || p(y)))`` in each of ``splits``
    consecutive parts (``p(y)`` is the part's mean prediction), mean ± std over the parts."""
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2 or len(logits) < splits or splits < 1:
        raise ValueError(f"IS needs N×K logits with N >= splits >= 1, got {logits.shape} and {splits} splits")
    log_p = _log_softmax(logits)
    scores, sizes = [], []
    for part in np.array_split(log_p, splits):
        log_marginal = np.log(np.exp(part).mean(axis=0))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
        sizes.append(len(part))
    return Estimate(float(np.mean(scores)), float(np.std(scores)), splits, min(sizes))


def unit_normalise(features: np.ndarray, eps: float = 1e-10) -> np.ndarray:
    """Each position's channel vector scaled to unit length (LPIPS's ``normalize_tensor``), N×C×h×w."""
    features = np.asarray(features, np.float64)
    return features / (np.sqrt((features**2).sum(axis=1, keepdims=True)) + eps)


def perceptual_distances(a: list[np.ndarray], b: list[np.ndarray] | None = None) -> np.ndarray:
    """LPIPS-style distances between every image of ``a`` and of ``b`` (``a`` itself if None).

    ``a`` and ``b`` hold one N×C×h×w array per layer (same layers, same grid). Per layer: unit-normalise
    channels, squared difference summed over channels, mean over positions; then summed over layers.
    """
    b = a if b is None else b
    if len(a) != len(b) or not a:
        raise ValueError("perceptual distances need the same non-empty list of layers on both sides")
    total = np.zeros((len(a[0]), len(b[0])))
    for layer_a, layer_b in zip(a, b, strict=True):
        if layer_a.shape[1:] != layer_b.shape[1:]:
            raise ValueError(f"layer shapes differ: {layer_a.shape[1:]} vs {layer_b.shape[1:]}")
        positions = layer_a.shape[2] * layer_a.shape[3]
        fa = unit_normalise(layer_a).reshape(len(layer_a), -1)
        fb = unit_normalise(layer_b).reshape(len(layer_b), -1)
        # Σ_p ||a_p − b_p||² = Σ_p ||a_p||² + Σ_p ||b_p||² − 2 a·b, over all positions at once.
        squared = (fa**2).sum(1)[:, None] + (fb**2).sum(1)[None, :] - 2.0 * fa @ fb.T
        total += np.maximum(squared, 0.0) / positions
    return total


@dataclass(frozen=True)
class ClusterDiversity:
    """IC-LPIPS: the mean over clusters of the mean pairwise distance inside each cluster."""

    value: float
    per_cluster: list[float] = field(default_factory=list)  # NaN for a cluster of fewer than 2
    sizes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "per_cluster": self.per_cluster, "sizes": self.sizes}


def ic_lpips(to_references: np.ndarray, pairwise: np.ndarray) -> ClusterDiversity:
    """IC-LPIPS from distances: ``to_references`` (G×k, generated → reference) assigns each generated
    image to its nearest reference; ``pairwise`` (G×G) gives the distances averaged inside clusters.

    Clusters with fewer than 2 members have no pairs: they are reported (NaN) and left out of the
    mean, as the protocol averages over the clusters that have a diversity to measure.
    """
    to_references = np.asarray(to_references, np.float64)
    pairwise = np.asarray(pairwise, np.float64)
    if pairwise.shape != (len(to_references), len(to_references)):
        raise ValueError(f"pairwise must be G×G for G={len(to_references)}, got {pairwise.shape}")
    assigned = to_references.argmin(axis=1)
    per_cluster, sizes = [], []
    for cluster in range(to_references.shape[1]):
        members = np.flatnonzero(assigned == cluster)
        sizes.append(len(members))
        if len(members) < 2:
            per_cluster.append(float("nan"))
            continue
        block = pairwise[np.ix_(members, members)]
        per_cluster.append(float(block[~np.eye(len(members), dtype=bool)].mean()))
    measured = [v for v in per_cluster if not np.isnan(v)]
    return ClusterDiversity(float(np.mean(measured)) if measured else float("nan"), per_cluster, sizes)
