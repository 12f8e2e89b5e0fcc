"""Name → class registries for every pluggable part (sources, masks, synthesizers, detectors)."""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from anomset.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of classes. ``@REGISTRY.register("name")`` adds one; ``get`` finds it.

    Modules that define members are imported lazily (``modules``), so a registry is complete the
    first time it is read without every caller having to import every implementation.
    """

    def __init__(self, kind: str, modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._modules = modules
        self._loaded = False
        self._entries: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        def decorate(cls: type[T]) -> type[T]:
            if name in self._entries and self._entries[name] is not cls:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = cls
            cls.registry_name = name  # type: ignore[attr-defined]
            return cls

        return decorate

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style wildcard."""
        self._load()
        return sorted(n for n in self._entries if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[tuple[str, type[T]]]:
        self._load()
        return iter(sorted(self._entries.items()))

    def get(self, name: str) -> type[T]:
        """The class registered as ``name``; unknown names raise with close-match suggestions."""
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        hint = did_you_mean(name, list(self._entries))
        return f"unknown {self.kind} {name!r}; {hint}known: {', '.join(self.names())}"


def did_you_mean(name: object, known: list[str]) -> str:
    """``"did you mean 'a' or 'b'? "`` for the close matches of ``name`` among ``known`` ('' if none)."""
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""

SOURCES: Registry = Registry("source", ("anomset.sources",))
MASKS: Registry = Registry("mask strategy", ("anomset.masks",))
SYNTHESIZERS: Registry = Registry("synthesizer", ("anomset.synth",))
# Detector modules import torch only when a detector trains, so listing them stays fast.
DETECTORS: Registry = Registry("detector", ("anomset.evaluate.detectors",))
QUALITY_FILTERS: Registry = Registry("quality filter", ("anomset.quality",))
PROTOCOLS: Registry = Registry("protocol", ("anomset.evaluate.protocols",))  # of anomset eval

ALL_REGISTRIES: dict[str, Registry] = {
    "sources": SOURCES,
    "masks": MASKS,
    "synthesizers": SYNTHESIZERS,
    "detectors": DETECTORS,
    "quality": QUALITY_FILTERS,
    "protocols": PROTOCOLS,
}
