"""Memory-bank primitives in torch: exact batched k-nearest-neighbour distances and PatchCore's greedy coreset.

Distances come from one matrix product per query chunk (``|q|² + |b|² − 2 q·bᵀ``) followed by
``topk``: no ``N×M×C`` difference tensor, and the chunk bounds memory whatever the bank size. The
coreset is the greedy k-center selection of PatchCore on a seeded Johnson–Lindenstrauss projection.
Imported only when a detector fits or scores (torch at module level).
"""

from __future__ import annotations

import math

import torch

# Elements of the chunk × bank distance block held at once (float32: 64 MiB).
CHUNK_ELEMENTS = 1 << 24


def squared_norms(bank: torch.Tensor) -> torch.Tensor:
    """Row-wise ``|b|²`` (computed once per bank and reused by every query chunk)."""
    return bank.pow(2).sum(1)


def knn(queries: torch.Tensor, bank: torch.Tensor, k: int = 1, bank_norms: torch.Tensor | None = None,
        chunk_elements: int = CHUNK_ELEMENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distances (ascending, ``Q×k``) and indices of each query's ``k`` nearest bank rows.

    float32 throughout (half-precision products lose the small distances that matter).
    """
    if bank.shape[0] == 0:
        raise ValueError("the memory bank is empty")
    k = min(k, bank.shape[0])
    queries = queries.float()
    bank = bank.float()
    norms = squared_norms(bank) if bank_norms is None else bank_norms
    rows = max(1, chunk_elements // max(1, bank.shape[0]))
    distances, indices = [], []
    for start in range(0, queries.shape[0], rows):
        q = queries[start:start + rows]
        d2 = torch.addmm(norms[None, :], q, bank.T, beta=1.0, alpha=-2.0).add_(q.pow(2).sum(1, keepdim=True))
        values, index = torch.topk(d2, k, dim=1, largest=False, sorted=True)
        distances.append(values.clamp_min_(0).sqrt_())
        indices.append(index)
    return torch.cat(distances), torch.cat(indices)


def random_projection(dim: int, target: int, generator: torch.Generator, device: str | torch.device) -> torch.Tensor:
    """A ``dim×target`` Gaussian projection scaled by ``1/√target`` (distances kept in expectation)."""
    matrix = torch.randn(dim, target, generator=generator) / math.sqrt(target)
    return matrix.to(device)


def greedy_coreset(features: torch.Tensor, count: int, generator: torch.Generator,
                   projection_dim: int = 128) -> torch.Tensor:
    """Indices (in selection order) of ``count`` rows chosen by greedy k-center (PatchCore's coreset).

    Each step adds the row farthest from everything chosen so far, measured on a random projection
    to ``projection_dim`` dimensions (none when the features are already that small). The first row
    is drawn from ``generator``, so the selection is seeded.
    """
    n = features.shape[0]
    if count >= n:
        return torch.arange(n, device=features.device)
    x = features.float()
    if projection_dim and x.shape[1] > projection_dim:
        x = x @ random_projection(x.shape[1], projection_dim, generator, x.device)
    norms = squared_norms(x)
    first = int(torch.randint(n, (1,), generator=generator))
    chosen = torch.empty(count, dtype=torch.long, device=x.device)
    chosen[0] = first
    nearest = (norms - 2 * (x @ x[first]) + norms[first]).clamp_min_(0)
    for step in range(1, count):
        pick = torch.argmax(nearest)
        chosen[step] = pick
        nearest = torch.minimum(nearest, (norms - 2 * (x @ x[pick]) + norms[pick]).clamp_min_(0))
    return chosen
