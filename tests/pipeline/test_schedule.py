"""Which rank renders which shard: own contiguous block first, then the tails of slower ranks' blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from anomset.build.schedule import block, claim_order, my_shards


@dataclass
class SharedClaims:
    """Ranks of one machine as ``FileRanks`` see them: the first to claim a shard gets it."""

    rank: int
    world: int
    taken: set[int] = field(default_factory=set)
    steals: bool = True

    def claim(self, index: int) -> bool:
        if index in self.taken:
            return False
        self.taken.add(index)
        return True


@pytest.mark.parametrize(("count", "world"), [(0, 2), (1, 2), (7, 2), (10, 3), (50, 4)])
def test_blocks_partition_and_every_rank_would_try_every_shard_once(count: int, world: int) -> None:
    blocks = [block(count, r, world) for r in range(world)]
    assert [i for b in blocks for i in b] == list(range(count))
    assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    for rank in range(world):
        order = claim_order(count, rank, world)
        assert sorted(order) == list(range(count))
        assert order[:len(blocks[rank])] == list(blocks[rank])


def test_a_fast_rank_takes_the_tail_of_a_slow_ranks_block() -> None:
    pending = list(range(10))
    taken: set[int] = set()
    fast = my_shards(pending, SharedClaims(0, 2, taken))
    slow = my_shards(pending, SharedClaims(1, 2, taken))
    assert next(slow) == 5
    fast_got = [next(fast) for _ in range(7)]  # its block 0-4, then 9 and 8 from the slow rank's tail
    assert fast_got == [0, 1, 2, 3, 4, 9, 8]
    slow_got = [5, *slow]
    assert slow_got == [5, 6, 7]  # it meets the thief and finds nothing more
    assert list(fast) == []
    assert sorted(fast_got + slow_got) == pending


def test_ranks_that_cannot_steal_keep_to_their_block() -> None:
    pending = list(range(10))
    taken: set[int] = set()
    assert list(my_shards(pending, SharedClaims(0, 2, taken, steals=False))) == [0, 1, 2, 3, 4]
    assert list(my_shards(pending, SharedClaims(1, 2, taken, steals=False))) == [5, 6, 7, 8, 9]
