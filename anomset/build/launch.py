"""Run a build on one process or across accelerate/torchrun ranks (``ranks`` says how they meet)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anomset.build.audit import write_audit
from anomset.build.inputs import SOURCE, input_fingerprints
from anomset.build.item_cache import DEFAULT_BUDGET_MIB, MIB, ItemCache
from anomset.build.manifest import build_manifest
from anomset.build.plan import ShardSpec, make_plan
from anomset.build.protocol import show_defects_to_generators, shown_defect_keys
from anomset.build.ranks import Ranks, connect, local_device
from anomset.build.render import Renderer
from anomset.build.schedule import block, my_shards
from anomset.build.state import OutputState
from anomset.build.worker import write_shard
from anomset.dataset.contract import MANIFEST, QUALITY_DIR
from anomset.dataset.files import write_atomic, write_json_atomic
from anomset.errors import AnomsetError, PeerError, RecipeError
from anomset.recipe.load import LoadedRecipe
from anomset.sources.base import Source, SourceItem
from anomset.sources.check import CheckReport, check_source, split_findings
from anomset.sources.layout import FileSource


@dataclass
class BuildResult:
    out_dir: Path
    action: str  # new, resume, restart (a build that committed no shard) or overwrite
    shards_total: int
    shards_written: int
    processes: int
    render_seconds: float  # wall time of the parallel phase (all ranks writing shards)
    manifest: dict[str, Any] | None
    warnings: dict[str, int]  # degenerate-data findings per kind (``sources.check.KINDS``)


def open_source(loaded: LoadedRecipe, report: CheckReport | None = None,
                progress: bool = False) -> tuple[Source, dict[str, list[SourceItem]]]:
    """The recipe's source with the recipe's classes indexed and every file they read checked.

    Defects left out by the check (``empty_masks: skip``) are dropped, then the defects shown to
    generators move to the train split (see ``protocol``). ``report`` receives the check's findings.
    """
    source = loaded.components.source
    available = source.classes()
    for name in sorted(loaded.recipe.classes):
        if name not in available:
            raise RecipeError(f"the source has no class {name!r}; it has: {', '.join(available)}",
                              file=loaded.path, field=f"classes.{name}",
                              fix="remove the class or point the source at data that has it")
    raw = {name: source.items(name) for name in sorted(loaded.recipe.classes)}
    checked = check_source(source, raw, tuple(loaded.recipe.output.image_size), progress=progress)
    if report is not None:
        report.findings += checked.findings
        report.skipped |= checked.skipped
    shown = shown_defects(loaded, source, checked.skipped)
    return source, {name: show_defects_to_generators([i for i in raw[name] if i.key not in checked.skipped],
                                                     shown[name]) for name in shown}


def shown_defects(loaded: LoadedRecipe, source: Source, skipped: set[str] | frozenset[str] = frozenset()
                  ) -> dict[str, list[str]]:
    """Per recipe class, the keys of the real defects shown to generators (``protocol``'s rule), among the
    items the file check kept (``skipped``: left out by ``empty_masks: skip``)."""
    return {name: shown_defect_keys([i for i in source.items(name) if i.key not in skipped], plan.shown_defects,
                                    plan.shown_selection, loaded.data_hash)
            for name, plan in sorted(loaded.recipe.classes.items())}


@dataclass
class Prepared:
    """Everything a build needs before it touches the output folder; ``anomset validate`` stops here."""

    source: Source
    index: dict[str, list[SourceItem]]
    plan: list[ShardSpec]
    renderer: Renderer
    report: CheckReport
    skipped: set[str]  # defects the file check left out (``empty_masks: skip``)


def prepare(loaded: LoadedRecipe, cache_mib: int = DEFAULT_BUDGET_MIB, progress: bool = False,
            probe: bool = True) -> Prepared:
    """Open and check the source, plan every shard and instantiate every component (all checks that need
    no output folder).

    ``cache_mib`` bounds the memory this process keeps decoded source items in (speed only, never bytes).
    ``probe``: render one sample per generation entry (``Renderer.probe``); a multi-process build does it
    on rank 0 only.
    """
    report = CheckReport()
    source, index = open_source(loaded, report, progress)
    plan = make_plan(loaded, index)
    test_samples: dict[str, int] = {}
    for shard in plan:
        if shard.split == "test":
            test_samples[shard.class_name] = test_samples.get(shard.class_name, 0) + len(shard.samples)
    report.findings += split_findings(loaded.path, index, test_samples)
    renderer = Renderer(loaded, source, index, ItemCache(cache_mib * MIB), device=local_device)
    if probe:
        renderer.probe()  # an entry that cannot produce at all stops here, before anything is written
    return Prepared(source, index, plan, renderer, report, set(report.skipped))


def source_files(source: Source) -> dict[str, int] | None:
    """The files a file source's build reads, with their sizes (what the build state records)."""
    return source.file_sizes() if isinstance(source, FileSource) else None


def run_build(loaded: LoadedRecipe, out_dir: Path | str, *, overwrite: bool = False,
              progress: bool = True, cache_mib: int = DEFAULT_BUDGET_MIB,
              on_warning: Callable[[str], None] | None = None) -> BuildResult:
    """Build ``loaded`` into ``out_dir``: resumes a same-recipe build, refuses a foreign folder.

    ``on_warning`` gets each degenerate-data warning line once (on rank 0), before any shard.
    """
    state = OutputState(out_dir)
    existed = state.out.exists()
    ranks = connect("build", root=state.ranks_dir)
    try:
        return _run(ranks, loaded, state, overwrite, progress, cache_mib, on_warning)
    finally:
        ranks.close()
        state.tidy(remove_out=not existed)


def _prepare_ranked(ranks: Ranks, loaded: LoadedRecipe, cache_mib: int, progress: bool) -> Prepared:
    """Rank 0 checks the source files and probes every entry first; the others wait, then find every
    answer in the check's cache and set up only the classes they build."""
    if ranks.world == 1:
        return prepare(loaded, cache_mib, progress)
    error: AnomsetError | None = None
    prepared = None
    if ranks.is_main:
        try:
            prepared = prepare(loaded, cache_mib, progress)
        except AnomsetError as exc:
            error = exc
    if not ranks.agree(error is None):
        if error is not None:
            raise error
        raise PeerError(ranks.rank)
    return prepared or prepare(loaded, cache_mib, probe=False)


def _run(ranks: Ranks, loaded: LoadedRecipe, state: OutputState, overwrite: bool, progress: bool,
         cache_mib: int, on_warning: Callable[[str], None] | None) -> BuildResult:
    _limit_threads()
    with state.exclusive() if ranks.is_main else contextlib.nullcontext():
        prepared = _prepare_ranked(ranks, loaded, cache_mib, progress)
        plan, renderer = prepared.plan, prepared.renderer
        renderer.fit_folder = state.dir / QUALITY_DIR  # learned filters' fits, shared by the ranks
        if ranks.is_main and on_warning is not None:
            for line in prepared.report.lines():
                on_warning(line)
        inputs = input_fingerprints(loaded, prepared.source)
        files = source_files(prepared.source)
        # every rank: read-only, same answer
        action = state.check(loaded.data_hash, loaded.data, inputs, overwrite, files)
        ranks.barrier()  # every rank has looked at the folder before rank 0 changes it
        if ranks.is_main:
            state.initialize(loaded.data_hash, loaded.data, inputs, action, files)
            write_atomic(state.out / "recipe.yaml", loaded.to_yaml().encode("utf-8"))
            state.verify_and_clean([s.relpath for s in plan])
        ranks.barrier()
        started = time.perf_counter()
        pending = [s for s in plan if not state.is_done(s.relpath)]
        ranks.barrier()  # every rank has the same pending list (claims index it) before any shard is written
        expected = sum(len(pending[i].samples) for i in block(len(pending), ranks.rank, ranks.world))
        error: AnomsetError | None = None
        try:
            _write_shards(my_shards(pending, ranks), expected, renderer, state, loaded.recipe.output.png_compression,
                          progress and ranks.is_main, before_each=ranks.check,
                          label="build" if ranks.world == 1 else f"build, rank 0 of {ranks.world}")
        except AnomsetError as exc:
            error = exc
            if not isinstance(exc, PeerError):
                ranks.fail()
        finally:
            renderer.teardown()  # models loaded by this rank's synthesizers
        if not ranks.agree(error is None):
            if error is not None:
                raise error
            raise PeerError(ranks.rank)
        render_seconds = time.perf_counter() - started
        manifest = None
        if ranks.is_main:
            manifest = finalize(loaded, inputs, shown_defects(loaded, prepared.source, prepared.skipped), plan,
                                state, prepared.report.counts())
        ranks.barrier()
    return BuildResult(state.out, action, len(plan), len(pending), ranks.world, render_seconds, manifest,
                       prepared.report.counts())


def finalize(loaded: LoadedRecipe, inputs: dict[str, str], shown: dict[str, list[str]], plan: list[ShardSpec],
             state: OutputState, warnings: dict[str, int] | None = None) -> dict[str, Any]:
    """Rank 0: merge shard records into manifest.json and return it (the command layer renders the card).

    ``inputs`` are the fingerprints taken when the build started (the ones its state records);
    ``shown`` the real defects shown to generators, per class; ``warnings`` the degenerate-data
    findings per kind (the card counts them).
    """
    records = []
    for shard in plan:
        record = state.read_marker(shard.relpath)
        if record is None:
            raise AnomsetError(f"shard {shard.relpath} has no done-marker after the build",
                               fix="rerun the build to finish it")
        records.append(record)
    recipe = loaded.recipe
    manifest = build_manifest(recipe.name, recipe.version, loaded.recipe_hash,
                              {"type": recipe.source.type, "fingerprint": inputs[SOURCE]}, records,
                              data_hash=loaded.data_hash, locations={k: v for k, v in inputs.items() if k != SOURCE},
                              shown_defects=shown)
    if warnings:
        manifest["warnings"] = dict(warnings)
    audit = write_audit(state, records, loaded.resolved)
    if audit is not None:
        manifest["quality"] = audit
    write_json_atomic(state.out / MANIFEST, manifest)
    return manifest


def _write_shards(shards: Iterable[ShardSpec], expected: int, renderer: Renderer, state: OutputState,
                  compression: int, show_progress: bool, before_each: Callable[[], None], label: str) -> None:
    """Write ``shards``; the bar starts at ``expected`` samples and follows what this rank really takes."""
    from tqdm.auto import tqdm

    with tqdm(total=expected, unit="pair", desc=label, disable=not show_progress or expected == 0,
              dynamic_ncols=True) as bar:
        for shard in shards:
            before_each()
            bar.total = max(bar.total, bar.n + len(shard.samples))  # a shard taken from a slower rank
            write_shard(shard, renderer, state, compression, on_sample=lambda: bar.update(1))
        bar.total = bar.n  # shards of its own that faster ranks took


def _limit_threads() -> None:
    """One thread per process: the build parallelises by process, and oversubscribed cv2 is slower."""
    import os
    import sys

    import cv2

    cv2.setNumThreads(1)
    # Learned quality filters (ARS) score on torch: one thread too, so a CPU build's scores, and the
    # keep_top choices they make, are the same whatever the number of processes.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
