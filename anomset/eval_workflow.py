"""``anomset eval``: plan the units, run this rank's share, and on rank 0 merge, plot and re-render the card.

Units (detector × protocol job × seed) are planned identically on every rank from the recipe and
the samples' json; the pending ones are split in a fixed order (unit ``i`` goes to rank
``i mod world``), and each finished unit is stored on its own, so a killed evaluation resumes and
the figures do not depend on the number of processes. The few-shot rule is
``anomset.build.protocol.shown_defect_keys``, the one the build calls; ranks come from
``anomset.build.ranks`` (the only code that reads the launcher's variables).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anomset.build.protocol import shown_defect_keys
from anomset.build.ranks import connect
from anomset.dataset.contract import STATE_DIR
from anomset.errors import AnomsetError, PeerError, RecipeError
from anomset.evaluate import data as D
from anomset.evaluate import report
from anomset.evaluate.detectors.base import DetectorError, TestSet
from anomset.evaluate.protocols import HELD_OUT, ClassInfo, Job
from anomset.evaluate.recipe import PIXEL_METRICS, LoadedEval
from anomset.evaluate.units import HEATMAPS, Unit, UnitStore, run_unit
from anomset.rng import derive_seed


@dataclass
class EvalPlan:
    """Everything the ranks agree on before training: the units, the data identity and the notes."""

    loaded: LoadedEval
    dataset: D.Dataset
    output: Path
    classes: list[str]
    real: dict[str, D.RealTest]
    info: dict[str, ClassInfo]
    units: list[Unit]
    provenance: report.Provenance
    notes: list[str] = field(default_factory=list)


@dataclass
class EvalResult:
    units: int
    computed: int
    results_path: Path | None
    rows: int
    notes: list[str]


def plan_eval(loaded: LoadedEval) -> EvalPlan:
    """Check the recipe against its data and list the units; every problem is one located error."""
    recipe, file = loaded.recipe, loaded.path
    dataset = D.open_dataset(recipe.dataset, file)
    output = loaded.output_folder()
    report.previous_results(output)  # a broken results.json stops the evaluation before any training
    built = dataset.classes()
    classes = recipe.test.classes or built
    source = loaded.source
    try:
        offered = source.classes()
    except AnomsetError as exc:
        raise RecipeError(exc.message, file=file, field="test.source", fix=exc.fix) from None
    for name in classes:
        if name not in built:
            raise RecipeError(f"the dataset has no class {name!r}; it has {', '.join(built)}", file=file,
                              field="test.classes", fix="evaluate classes the dataset was built with")
        if name not in offered:
            raise RecipeError(f"class {name!r} is missing from the test source ({recipe.test.source.type} offers "
                              f"{', '.join(offered) or 'none'})", file=file, field="test.classes",
                              fix="list only classes the test source has, or point test.source at the right data")
    real, info, scored_keys = {}, {}, {}
    for name in classes:
        items = source.items(name)
        keys = {i.key for i in items}
        shown = set(shown_defect_keys(items, recipe.test.shown_defects, recipe.test.shown_selection,
                                      dataset.data_hash))
        shown |= set(dataset.shown.get(name, [])) & keys  # what the build showed its generators is never scored
        real[name] = D.split_real(source, name, shown)
        if not real[name].scored or all(i.is_normal for i in real[name].scored):
            raise RecipeError(f"class {name!r}: the test source has no real defects left to score", file=file,
                              field="test.source", fix="point test.source at data with test defects")
        scored_keys[name] = [i.key for i in real[name].scored]
        info[name] = D.class_info(name, dataset.metas(name, "train"), len(real[name].shown),
                                  dataset.metas(name, "test"))
    notes: list[str] = []
    jobs: list[Job] = []
    for protocol in loaded.protocols:
        planned, said = protocol.plan(info, classes)
        jobs += planned
        notes += said
    units = [Unit(label, job, seed) for label in loaded.detectors for job in jobs for seed in recipe.seeds]
    _check_supervised(loaded, units, info)
    size = _size(loaded, dataset)
    provenance = report.Provenance(
        data_hash=dataset.data_hash, dataset_recipe_hash=dataset.recipe_hash,
        test_fingerprint=D.testset_fingerprint(recipe.test.source.type, source, scored_keys, size),
        eval_hash=loaded.eval_hash, repo=dataset.repo, revision=dataset.revision)
    return EvalPlan(loaded, dataset, output, classes, real, info, units, provenance, notes)


def _size(loaded: LoadedEval, dataset: D.Dataset) -> tuple[int, int]:
    side = loaded.recipe.image_size
    return (side, side) if side else dataset.image_size


def unit_rng(provenance: report.Provenance, unit: Unit) -> np.random.Generator:
    """The draw of a unit's training subset: from the eval hash and the unit itself, never a global state."""
    return np.random.default_rng(derive_seed(provenance.eval_hash, unit.uid, "select"))


def _check_supervised(loaded: LoadedEval, units: list[Unit], info: dict[str, ClassInfo]) -> None:
    for unit in units:
        cls, _ = loaded.detectors[unit.detector]
        if not cls.SUPERVISED:
            continue
        protocol = next(p for p in loaded.protocols if p.registry_name == unit.job.protocol)
        rows = protocol.select(info[unit.job.class_name], unit.job.setting, np.random.default_rng(0))
        if not any(info[unit.job.class_name].rows[i].label for i in rows):
            index = list(loaded.detectors).index(unit.detector)
            raise RecipeError(f"{unit.detector} is supervised but class {unit.job.class_name!r} has no train "
                              f"anomalies under protocol {unit.job.protocol}", file=loaded.path,
                              field=f"detectors[{index}]",
                              fix="evaluate a build with synthetic anomalies in its train split")


class _Data:
    """Per-rank lazy cache of pixels: each class's train pool, real test set and held-out anomalies."""

    def __init__(self, plan: EvalPlan) -> None:
        self.plan = plan
        self.size = _size(plan.loaded, plan.dataset)
        self._pool: dict[str, D.Samples] = {}
        self._real: dict[str, tuple[D.Samples, bool]] = {}
        self._held: dict[tuple[str, str], D.Samples] = {}

    def pool(self, name: str) -> D.Samples:
        if name not in self._pool:
            train = self.plan.dataset.samples(name, "train", self.size)
            shown, _ = D.load_items(self.plan.loaded.source, self.plan.real[name].shown, self.size)
            self._pool[name] = D.Samples(np.concatenate([train.images, shown.images]),
                                         np.concatenate([train.masks, shown.masks]), train.metas + shown.metas)
        return self._pool[name]

    def real(self, name: str) -> tuple[D.Samples, bool]:
        if name not in self._real:
            self._real[name] = D.load_items(self.plan.loaded.source, self.plan.real[name].scored, self.size)
        return self._real[name]

    def held_out(self, name: str, generator: str) -> TestSet:
        """The real test normals beside the generator's test-split anomalies, else its train-split ones."""
        if (name, generator) not in self._held:
            split = "test" if self.plan.info[name].held_out.get(generator) else "train"
            samples = self.plan.dataset.samples(name, split, self.size)
            rows = np.array([i for i, m in enumerate(samples.metas) if m.get("generator") == generator
                             and m.get("origin") == "synthetic" and m.get("defect_type") != "good"], np.int64)
            self._held[(name, generator)] = samples.subset(rows)
        real, _ = self.real(name)
        normals = real.subset(np.array([i for i, m in enumerate(real.metas) if m["defect_type"] == "good"], np.int64))
        anomalies = self._held[(name, generator)]
        joined = D.Samples(np.concatenate([normals.images, anomalies.images]),
                           np.concatenate([normals.masks, anomalies.masks]), normals.metas + anomalies.metas)
        return D.as_test_set(joined)


def run_eval(loaded: LoadedEval, *, progress: bool = True, echo: Callable[[str], None] = print) -> EvalResult:
    """Run every pending unit of this rank's share; on rank 0, merge into results.json, plot, re-render the card."""
    plan = plan_eval(loaded)
    store = UnitStore(plan.output, loaded.eval_hash, {
        "data_hash": plan.provenance.data_hash, "test_fingerprint": plan.provenance.test_fingerprint})
    ranks = connect("eval", plan.output / STATE_DIR / "ranks")
    try:
        pending = [u for u in plan.units if store.load(u) is None]
        mine = pending[ranks.rank::ranks.world]
        if ranks.is_main:
            for note in plan.notes:
                echo(f"note: {note}")
            done = len(plan.units) - len(pending)
            echo(f"{len(plan.units)} units ({done} already done), {ranks.world} process(es)")
        try:
            _run_units(plan, store, mine, ranks, progress)
        except BaseException:
            ranks.fail()
            ranks.agree(False)  # peers waiting for this rank's vote learn that it failed
            raise
        if not ranks.agree(True):
            raise PeerError(ranks.rank)
        if not ranks.is_main:
            return EvalResult(len(plan.units), len(mine), None, 0, plan.notes)
        path, rows, notes = _merge(plan, store, echo)
        return EvalResult(len(plan.units), len(mine), path, rows, plan.notes + notes)
    finally:
        ranks.close()


def _run_units(plan: EvalPlan, store: UnitStore, units: list[Unit], ranks: Any, progress: bool) -> None:
    from tqdm.auto import tqdm

    data = _Data(plan)
    metrics = plan.loaded.recipe.metrics
    protocols = {p.registry_name: p for p in plan.loaded.protocols}
    position = ranks.rank if ranks.world > 1 else 0
    with tqdm(total=len(units), unit="unit", desc=f"eval (rank {ranks.rank})" if ranks.world > 1 else "eval",
              disable=not progress or not units, position=position, leave=True) as bar:
        for unit in units:
            ranks.check()
            job = unit.job
            info = plan.info[job.class_name]
            pool = data.pool(job.class_name)
            rows = protocols[job.protocol].select(info, job.setting, unit_rng(plan.provenance, unit))
            train = pool.subset(rows).image_set()
            targets = []
            for target in job.targets:
                if target.kind == HELD_OUT:
                    targets.append((target.setting, data.held_out(target.scored_class, target.generator), True))
                else:
                    samples, masked = data.real(target.scored_class)
                    targets.append((target.setting, D.as_test_set(samples), masked))
            cls, params = plan.loaded.detectors[unit.detector]
            draws_maps = job.protocol == "plain" and unit.seed == min(plan.loaded.recipe.seeds)
            try:
                record = run_unit(unit, cls, params, train, targets, metrics,
                                  keep_maps=HEATMAPS if draws_maps else 0,
                                  status=lambda line: bar.set_postfix_str(line, refresh=True))
            except DetectorError as exc:
                index = list(plan.loaded.detectors).index(unit.detector)
                raise RecipeError(f"{unit.label()}: {exc.message}", file=plan.loaded.path,
                                  field=f"detectors[{index}]", fix=exc.fix) from None
            record["pixel_metrics"] = all(t[2] for t in targets)
            store.save(unit, record)
            bar.update(1)


def _merge(plan: EvalPlan, store: UnitStore, echo: Callable[[str], None]) -> tuple[Path, int, list[str]]:
    notes = []
    records = [(u, r) for u in plan.units if (r := store.load(u)) is not None]
    unmasked = sorted({u.job.class_name for u, r in records if not r.get("pixel_metrics", True)})
    wanted_pixels = [m for m in plan.loaded.recipe.metrics if m in PIXEL_METRICS]
    if unmasked and wanted_pixels:
        notes.append(f"pixel metrics skipped: the test source gives no masks for {', '.join(unmasked)} "
                     "(image metrics kept)")
    rows = report.detector_rows(records, plan.provenance)
    previous = report.previous_results(plan.output)
    for protocol in plan.loaded.protocols:
        if protocol.registry_name == "correlation":
            extra, said = report.correlation_rows(rows, previous, protocol.params.detector_metric, plan.provenance)
            rows += extra
            notes += said
    examples = {}
    data = _Data(plan)
    for name in sorted({u.job.class_name for u, _ in records if u.job.protocol == "plain"}):
        samples, _ = data.real(name)
        examples[name] = [(m["key"], samples.images[i], samples.masks[i]) for i, m in enumerate(samples.metas)
                          if m["defect_type"] != "good"][:HEATMAPS]
    plot_list = report.write_plots(plan.output, records, rows, examples)
    results = report.merge_results(previous, rows, plot_list, plan.provenance)
    path = report.write_results(plan.output, results)
    for note in notes:
        echo(f"note: {note}")
    if plan.loaded.dataset_folder() is not None and plan.output == plan.loaded.dataset_folder():
        from anomset.hub.card import write_card

        write_card(plan.output)
    return path, len(rows), notes
