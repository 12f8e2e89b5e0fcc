"""Quality selection inside one shard: ``keep_top`` draws more candidates than the plan needs and keeps
the best; ``min_score`` (the redraw stage of ``render``) is only recorded here. Both leave an audit row
per candidate drawn.

``keep_top = k`` on an entry with ``n`` samples in a shard draws ``ceil(n / k)`` candidates. Candidate
``j`` is hosted by the entry's sample ``j mod n`` of the shard (its planned normal, its redraw policy)
and draws from its own generator seeded by (data hash, host key, "candidate", ``j div n``). All are
scored in batches; the ``n`` best (ties: lower ``j`` first) fill the entry's slots in candidate order.
Everything depends only on the shard's plan, so the bytes do not depend on the number of processes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from anomset.build.batching import drive_together
from anomset.build.plan import SampleSpec, ShardSpec
from anomset.build.render import Renderer
from anomset.quality.base import Candidate
from anomset.recipe.load import QualityRule
from anomset.rng import derive_seed
from anomset.sample import Sample

KEEP_TOP, MIN_SCORE = "keep_top", "min_score"
# Candidates rendered before each scoring call (a filter's own batch_size param, when it has one, wins).
DEFAULT_BATCH = 16


def candidates_needed(n: int, keep_top: float) -> int:
    """``ceil(n / keep_top)``, exact for decimal shares (0.1 is a tenth, not 0.1000000000000000055)."""
    return math.ceil(n / Fraction(repr(keep_top)))


def candidate_seed(data_hash: str, host_key: str, index: int) -> int:
    """The seed of the ``index``-th candidate hosted by the planned sample ``host_key``."""
    return derive_seed(data_hash, host_key, "candidate", index)


@dataclass
class Scored:
    order: int  # candidate index within the entry's candidates of the shard
    score: float
    sample: Sample | None  # dropped candidates let go of their pixels at once


def _rank(score: float) -> float:
    return score if score == score else float("-inf")  # NaN never beats a number


class ShardSelection:
    """Renders one shard's samples through its entries' quality rules, and keeps the audit of that."""

    def __init__(self, shard: ShardSpec, renderer: Renderer) -> None:
        self.shard = shard
        self.renderer = renderer
        self.rules: dict[int, QualityRule] = {
            i: rule for (cls, i), rule in renderer.loaded.components.quality.items() if cls == shard.class_name}
        self.audit: list[dict[str, Any]] = []
        self._chosen: dict[str, Sample] = {}
        self._done: set[int] = set()

    def has_rule(self, spec: SampleSpec) -> bool:
        """Whether ``spec``'s entry has a quality rule (its samples are rendered by this selection)."""
        return spec.entry_index in self.rules

    def render(self, spec: SampleSpec) -> Sample:
        """The sample for ``spec``: chosen among its entry's candidates (keep_top) or rendered (others)."""
        rule = self.rules.get(spec.entry_index)
        if rule is not None and rule.keep_top is not None:
            if spec.entry_index not in self._done:
                self._select(spec.entry_index, rule)
            return self._chosen.pop(spec.key)
        if rule is not None:
            self.renderer.take_scores()  # scores left by anything else (the probe) are not this sample's
        sample = self.renderer.render(spec)
        if rule is not None:
            self._record_tries(spec, sample, rule)
        return sample

    # ---- min_score: the render's redraw stage scored every try ----------------------------------
    def _record_tries(self, spec: SampleSpec, sample: Sample, rule: QualityRule) -> None:
        tries = self.renderer.take_scores()
        for number, (score, passed) in enumerate(tries):
            self.audit.append(self._row(spec.entry_index, rule, MIN_SCORE, spec.key, number, score, passed,
                                        spec.key if passed else "", sample.meta.seed))
        if tries and tries[-1][1] and rule.filter.score_field:
            setattr(sample.meta, rule.filter.score_field, float(tries[-1][0]))

    # ---- keep_top: draw, score in batches, keep the best ---------------------------------------
    def _select(self, entry_index: int, rule: QualityRule) -> None:
        self._done.add(entry_index)
        slots = [s for s in self.shard.samples if s.entry_index == entry_index]
        n = len(slots)
        total = candidates_needed(n, rule.keep_top)  # type: ignore[arg-type]
        batch = int(getattr(rule.filter.params, "batch_size", DEFAULT_BATCH))
        best: list[Scored] = []
        rows: list[dict[str, Any]] = []
        data_hash = self.renderer.loaded.data_hash
        for start in range(0, total, batch):
            drawn = self._draw(slots, range(start, min(start + batch, total)), data_hash)
            scores = rule.filter.score_batch([self._candidate(sample) for _, _, sample in drawn])
            for (j, host, sample), score in zip(drawn, scores, strict=True):
                rows.append(self._row(entry_index, rule, KEEP_TOP, host.key, j // n, float(score), False, "",
                                      sample.meta.seed, order=j))
                best.append(Scored(j, float(score), sample))
            best.sort(key=lambda s: (-_rank(s.score), s.order))
            for dropped in best[n:]:
                dropped.sample = None
            best = best[:n]
        kept = sorted(best, key=lambda s: s.order)
        by_order = {row["order"]: row for row in rows}
        for slot, chosen in zip(slots, kept, strict=True):
            sample = chosen.sample
            assert sample is not None
            sample.meta.key = slot.key
            if rule.filter.score_field:
                setattr(sample.meta, rule.filter.score_field, chosen.score)
            self._chosen[slot.key] = sample
            by_order[chosen.order].update(kept=True, sample=slot.key)
        self.audit += rows

    def _draw(self, slots: list[SampleSpec], orders: range, data_hash: str) -> list[tuple[int, SampleSpec, Sample]]:
        """Candidates ``orders`` of an entry, each on its host slot with its own seed; a model-backed
        synthesizer renders them in one batch (its apply requests answered together)."""
        n = len(slots)
        hosts = [(j, slots[j % n], candidate_seed(data_hash, slots[j % n].key, j // n)) for j in orders]
        synth = self.renderer.synthesizer(slots[0])
        if synth is not None and synth.model_backed:
            made = drive_together([self.renderer.sample_steps(host, seed) for _, host, seed in hosts],
                                  synth.apply_batch)  # type: ignore[attr-defined]
        else:
            made = [self.renderer.render(host, seed=seed) for _, host, seed in hosts]
        return [(j, host, sample) for (j, host, _), sample in zip(hosts, made, strict=True)]

    def _candidate(self, sample: Sample) -> Candidate:
        pool = self.renderer.pools[self.shard.class_name]
        return Candidate(self.shard.class_name, pool.load(sample.meta.source_key).image, sample.image, sample.mask)

    def _row(self, entry_index: int, rule: QualityRule, how: str, host: str, candidate: int, score: float,
             kept: bool, sample: str, seed: int, order: int | None = None) -> dict[str, Any]:
        row = {"class": self.shard.class_name, "split": self.shard.split, "entry": f"generate[{entry_index}]",
               "filter": rule.filter.registry_name, "rule": how, "host": host, "candidate": candidate,
               "seed": seed, "score": score, "kept": kept, "sample": sample}
        if order is not None:
            row["order"] = order
        return row


def audit_rows(records: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every candidate row of the shards' done-records, in shard order (``quality/candidates.jsonl``)."""
    for record in sorted(records, key=lambda r: r["path"]):
        for row in record.get("candidates", []):
            yield {"shard": record["path"], **{k: v for k, v in row.items() if k != "order"}}
