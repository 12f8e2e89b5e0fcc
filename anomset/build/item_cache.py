"""Source items at the output size, kept for a whole build within a memory budget.

A synthetic sample starts from one normal image and often borrows others (NSA, CutPaste from another
normal, real defects shown to generators). Decoding a large source PNG costs far more than rendering
the sample, so each rank keeps every item it has decoded, at the output size, until the budget is
spent; only then does it drop the least recently used. The budget changes speed, never bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads the default budget without importing the source stack
    from anomset.sources.base import LoadedItem

MIB = 1 << 20
# Per process. At 256² an object item (image, foreground, one or two regions) takes about 0.3 MiB,
# so 2 GiB holds roughly 7,000 of them: every class of MVTec AD, LOCO or VisA at that size.
DEFAULT_BUDGET_MIB = 2048


def item_bytes(item: LoadedItem) -> int:
    """Memory held by the arrays of ``item``."""
    arrays = [item.image, item.mask, item.foreground, *item.regions]
    return sum(a.nbytes for a in arrays if a is not None)


class ItemCache:
    """A least-recently-used store of loaded items bounded by their total bytes."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_MIB * MIB) -> None:
        self.budget_bytes = budget_bytes
        self.used_bytes = 0
        self.decodes = 0  # how many items had to be loaded (misses)
        self.evictions = 0
        self._items: OrderedDict[Hashable, tuple[LoadedItem, int]] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, load: Callable[[], LoadedItem]) -> LoadedItem:
        """The item stored under ``key``, loading (and storing) it on a miss."""
        held = self._items.get(key)
        if held is not None:
            self._items.move_to_end(key)
            return held[0]
        self.decodes += 1
        item = load()
        self.put(key, item)
        return item

    def put(self, key: Hashable, item: LoadedItem) -> None:
        """Store ``item``; older items go first when the budget would be exceeded.

        An item larger than the whole budget is not kept (the caller still has it).
        """
        size = item_bytes(item)
        if key in self._items:
            self.used_bytes -= self._items.pop(key)[1]
        if size > self.budget_bytes:
            return
        while self._items and self.used_bytes + size > self.budget_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self.used_bytes -= dropped
            self.evictions += 1
        self._items[key] = (item, size)
        self.used_bytes += size
