"""Write one shard: render its samples, stream them into ``.partial``, rename, mark done."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from anomset.build.batching import render_samples
from anomset.build.manifest import entry_order
from anomset.build.plan import ShardSpec
from anomset.build.render import Renderer
from anomset.build.select import ShardSelection
from anomset.build.shards import encode_sample, write_tar
from anomset.build.state import OutputState
from anomset.dataset.contract import PARTIAL_SUFFIX
from anomset.sample import SampleMeta, generator_label

# Per generation entry and shard: samples, tries beyond the first, samples whose first try failed,
# samples made from another normal than planned (merged into manifest.json, shown by build and card).
FALLBACK_STATS = {"samples": 0, "redraws": 0, "redrawn": 0, "replaced_sources": 0}


def fallback_stats(meta: SampleMeta) -> dict[str, int]:
    """One synthetic sample's contribution to ``FALLBACK_STATS``."""
    return {"samples": 1, "redraws": meta.redraws, "redrawn": int(meta.redraws > 0),
            "replaced_sources": int(meta.source_key != meta.planned_source_key)}


def write_shard(shard: ShardSpec, renderer: Renderer, state: OutputState, compression: int,
                on_sample: Callable[[], None] = lambda: None) -> dict[str, Any]:
    """Render and write ``shard``; returns its done-record (also stored as its marker)."""
    by_generator: Counter[str] = Counter()
    by_defect: Counter[str] = Counter()
    anomalies = 0
    by_entry: dict[str, Counter[str]] = {}
    selection = ShardSelection(shard, renderer)  # quality filters: keep_top choices, audit rows

    def members():
        nonlocal anomalies
        # Entries with a quality rule go through the selection one sample at a time (keep_top batches its
        # own candidates; min_score audits each sample's tries); the others are batched as planned.
        for spec, sample in render_samples(renderer, shard.samples, render=selection.render,
                                           alone=selection.has_rule):
            by_generator[generator_label(sample.meta.generator, sample.meta.origin)] += 1
            by_defect[sample.meta.defect_type] += 1
            anomalies += sample.label
            if spec.entry_index >= 0:
                tally = by_entry.setdefault(f"generate[{spec.entry_index}]", Counter(FALLBACK_STATS))
                tally.update(fallback_stats(sample.meta))
            yield spec.key, encode_sample(sample, compression)
            on_sample()

    final = state.out / shard.relpath
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(final.name + PARTIAL_SUFFIX)
    try:
        sha256, size = write_tar(partial, members())
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, final)
    record = {
        "path": shard.relpath, "class": shard.class_name, "split": shard.split,
        "samples": len(shard.samples), "anomalies": anomalies, "bytes": size, "sha256": sha256,
        "by_generator": dict(sorted(by_generator.items())), "by_defect_type": dict(sorted(by_defect.items())),
        "grayscale": renderer.pools[shard.class_name].grayscale,
        "foreground": renderer.pools[shard.class_name].foreground_mode,
        "by_entry": {k: dict(v) for k, v in sorted(by_entry.items(), key=lambda kv: entry_order(kv[0]))},
    }
    if selection.audit:
        record["candidates"] = selection.audit
    state.mark_done(shard.relpath, record)
    return record
