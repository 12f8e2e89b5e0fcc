"""Which rank renders which pending shard. Any split gives the same bytes: a shard depends only on its spec."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")


class Claims(Protocol):
    rank: int
    world: int
    steals: bool

    def claim(self, index: int) -> bool: ...


def block(count: int, rank: int, world: int) -> range:
    """Rank ``rank``'s contiguous block of ``count`` items (block sizes differ by at most one)."""
    return range(rank * count // world, (rank + 1) * count // world)


def claim_order(count: int, rank: int, world: int) -> list[int]:
    """The order in which ``rank`` tries to claim: its own block forward, then the other blocks' tails.

    Contiguous blocks rather than ``pending[rank::world]``: the plan is sorted by class, so a rank
    keeps to few classes and loads each class's images (and a learned generator's state) once.
    Owners walk forward and thieves backward, so they meet at the end of the owner's work.
    """
    order = list(block(count, rank, world))
    for other in range(1, world):
        order += reversed(block(count, (rank + other) % world, world))
    return order


def my_shards(pending: Sequence[T], ranks: Claims) -> Iterator[T]:
    """The pending shards this rank renders: each is claimed by exactly one rank.

    Ranks that can steal (one machine) take shards left in slower ranks' blocks once their own is
    done, since shards differ in cost (NSA is several times slower than CutPaste, say); the others
    render their own block only.
    """
    if ranks.steals:
        order: Sequence[int] = claim_order(len(pending), ranks.rank, ranks.world)
    else:
        order = block(len(pending), ranks.rank, ranks.world)
    for index in order:
        if ranks.claim(index):
            yield pending[index]
