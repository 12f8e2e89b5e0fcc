"""What the commands run end to end: a build and then its card (build and hub never import each other)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from anomset.build.item_cache import DEFAULT_BUDGET_MIB
from anomset.build.launch import BuildResult, run_build
from anomset.recipe.load import LoadedRecipe


def build_dataset(loaded: LoadedRecipe, out_dir: Path | str, *, overwrite: bool = False, progress: bool = True,
                  cache_mib: int = DEFAULT_BUDGET_MIB, on_warning: Callable[[str], None] | None = None) -> BuildResult:
    """Build ``loaded`` into ``out_dir`` (every rank) and, on the main rank, render its dataset card.

    ``on_warning`` gets each degenerate-data warning line once, before any shard is written.
    """
    result = run_build(loaded, out_dir, overwrite=overwrite, progress=progress, cache_mib=cache_mib,
                       on_warning=on_warning)
    if result.manifest is not None:
        from anomset.hub.card import write_card

        write_card(result.out_dir, loaded.resolved, result.manifest)
    return result
