"""The ``anomset`` command: a thin shell over the library. Errors become one line and an exit code."""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from anomset import __version__
from anomset.build.item_cache import DEFAULT_BUDGET_MIB
from anomset.errors import AnomsetError, OutputError
from anomset.quality.command import quality_options


class _Terminated(BaseException):
    """SIGTERM, raised where the build is so that its shard in progress is removed on the way out."""


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def _friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ``AnomsetError`` into ``error: <one line>`` on stderr and its exit code, no traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except AnomsetError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; rerun the same command to resume", err=True)
            sys.exit(130)
        except _Terminated:
            click.echo("stopped by SIGTERM; rerun the same command to resume", err=True)
            sys.exit(128 + signal.SIGTERM)

    return wrapper


@click.group()
@click.version_option(__version__, prog_name="anomset")
def main() -> None:
    """Build synthetic industrial anomaly datasets and publish them on the Hugging Face Hub."""
    import cv2

    # OpenCV logs decoder warnings of its own (e.g. a truncated PNG) before anomset's one-line error.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: the recipe's output.dir).")
@click.option("--overwrite", is_flag=True, help="Delete a build of a different recipe in the output folder.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
@click.option("--processes", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Processes on this machine (0: one per core). GPU and multi-machine builds use accelerate launch.")
@click.option("--cache-memory", "cache_mib", type=click.IntRange(min=0), default=DEFAULT_BUDGET_MIB,
              show_default=True, metavar="MIB",
              help="Memory per process for decoded source images at the output size (speed only, not the data).")
@click.option("--push", "push_after", is_flag=True, help="Push to the Hub after a successful build.")
@click.option("--repo", help="Hub dataset repo for --push (default: the recipe's hub.repo).")
@click.option("--tag", help="Version tag for --push (default: v + the recipe's version).")
@_friendly
def build(recipe: Path, out_dir: Path | None, overwrite: bool, no_progress: bool, processes: int, cache_mib: int,
          push_after: bool, repo: str | None, tag: str | None) -> None:
    """Build the dataset described by RECIPE (resumes an interrupted build of the same recipe)."""
    from anomset.build.local_launch import available_cores, run_ranks
    from anomset.build.ranks import launched_world_size
    from anomset.recipe import load_recipe
    from anomset.workflow import build_dataset

    signal.signal(signal.SIGTERM, _raise_terminated)
    loaded = load_recipe(recipe)
    if push_after and not (repo or loaded.recipe.hub.repo):
        raise OutputError("--push needs a repo", file=str(recipe), field="hub.repo",
                          fix="pass --repo org/name or set hub.repo in the recipe")
    target = out_dir or (Path(loaded.recipe.output.dir) if loaded.recipe.output.dir else None)
    if target is None:
        raise OutputError("no output folder", file=str(recipe), field="output.dir",
                          fix="pass --out DIR or set output.dir in the recipe")
    processes = processes or available_cores()
    if processes > 1:
        if launched_world_size() > 1:
            raise AnomsetError("--processes cannot be combined with accelerate launch or torchrun",
                               fix="drop --processes: the launcher already starts the processes")
        flags = [*(["--overwrite"] if overwrite else []), *(["--no-progress"] if no_progress else []),
                 "--cache-memory", str(cache_mib)]
        code = run_ranks(["build", str(recipe), "--out", str(target), *flags], processes)
        if code:
            sys.exit(code)  # the ranks said why
    else:
        from anomset.sources.check import describe_counts

        result = build_dataset(loaded, target, overwrite=overwrite, progress=not no_progress, cache_mib=cache_mib,
                               on_warning=functools.partial(click.echo, err=True))
        if result.manifest is None:
            return  # not the main process
        skipped = result.shards_total - result.shards_written
        note = f" ({skipped} already done)" if skipped else ""
        procs = f", {result.processes} processes" if result.processes > 1 else ""
        warned = f"; warnings: {describe_counts(result.warnings)}" if result.warnings else ""
        click.echo(f"built {result.manifest['total_samples']} samples in {result.shards_total} shards{note}{procs} "
                   f"-> {result.out_dir} (rendering took {result.render_seconds:.1f} s{warned})")
        from anomset.build.manifest import fallback_lines

        for line in fallback_lines(result.manifest):
            click.echo(line)
    if push_after:
        from anomset.hub.push import push as push_folder

        push_folder(target, repo or loaded.recipe.hub.repo or "", tag=tag, private=loaded.recipe.hub.private,
                    echo=click.echo)


@main.command()
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder to check as build would (default: the recipe's output.dir).")
@click.option("--overwrite", is_flag=True, help="Check as build --overwrite would.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar of the file check.")
@_friendly
def validate(recipe: Path, out_dir: Path | None, overwrite: bool, no_progress: bool) -> None:
    """Check RECIPE, every source file it reads and its output folder, as build would, writing nothing."""
    from anomset.build.inputs import input_fingerprints
    from anomset.build.launch import prepare, source_files
    from anomset.build.state import OutputState
    from anomset.recipe import load_recipe
    from anomset.sources.check import describe_counts

    if _validate_eval(recipe):
        return
    loaded = load_recipe(recipe)
    prepared = prepare(loaded, progress=not no_progress)
    for line in prepared.report.lines():
        click.echo(line, err=True)
    target = out_dir or (Path(loaded.recipe.output.dir) if loaded.recipe.output.dir else None)
    where = ""
    if target is not None:
        action = OutputState(target).check(loaded.data_hash, loaded.data, input_fingerprints(loaded, prepared.source),
                                           overwrite, source_files(prepared.source))
        where = f", {target}: {action}"
    plan = prepared.plan
    samples = sum(len(s.samples) for s in plan)
    counts = prepared.report.counts()
    warned = f"; warnings: {describe_counts(counts)}" if counts else ""
    click.echo(f"ok: {recipe} ({len(loaded.recipe.classes)} classes, {samples} samples in {len(plan)} shards, "
               f"data_hash {loaded.data_hash[:12]}{where}{warned})")


def _validate_eval(recipe: Path) -> bool:
    """Validate RECIPE as an eval recipe if it is one (it names a dataset to evaluate)."""
    from anomset.evaluate.recipe import is_eval_recipe, load_eval_data, read_yaml

    data = read_yaml(recipe)
    if not is_eval_recipe(data):
        return False
    from anomset.eval_workflow import plan_eval

    plan = plan_eval(load_eval_data(data, str(recipe)))
    for note in plan.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"ok: {recipe} (eval recipe: {len(plan.classes)} classes, {len(plan.units)} units, "
               f"eval_hash {plan.loaded.eval_hash[:12]})")
    return True


@main.command("eval")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--no-progress", is_flag=True, help="Hide the progress bars.")
@click.option("--processes", "-j", type=click.IntRange(min=0), default=1, show_default=True,
              help="Processes on this machine (0: one per core); units are split across them. Or accelerate launch.")
@_friendly
def eval_(recipe: Path, no_progress: bool, processes: int) -> None:
    """Train and score the reference detectors of the eval RECIPE; write benchmarks/ and the card (resumable)."""
    from anomset.build.local_launch import available_cores, run_ranks
    from anomset.build.ranks import launched_world_size
    from anomset.eval_workflow import run_eval
    from anomset.evaluate.recipe import load_eval_recipe

    signal.signal(signal.SIGTERM, _raise_terminated)
    loaded = load_eval_recipe(recipe)
    processes = processes or available_cores()
    if processes > 1:
        if launched_world_size() > 1:
            raise AnomsetError("--processes cannot be combined with accelerate launch or torchrun",
                               fix="drop --processes: the launcher already starts the processes")
        code = run_ranks(["eval", str(recipe), *(["--no-progress"] if no_progress else [])], processes)
        if code:
            sys.exit(code)
        return
    result = run_eval(loaded, progress=not no_progress, echo=click.echo)
    if result.results_path is not None:
        click.echo(f"evaluated {result.units} units ({result.computed} computed here) -> {result.results_path} "
                   f"({result.rows} rows)")


@main.command("list")
@click.argument("kind", required=False)
@click.argument("pattern", required=False, default="*")
@_friendly
def list_(kind: str | None, pattern: str) -> None:
    """List registered sources, masks, synthesizers, detectors (optionally KIND and a wildcard PATTERN)."""
    from anomset.errors import RecipeError
    from anomset.registry import ALL_REGISTRIES

    if kind is not None and kind not in ALL_REGISTRIES:
        raise RecipeError(f"unknown kind {kind!r}; choose from {', '.join(ALL_REGISTRIES)}")
    for name, registry in ALL_REGISTRIES.items():
        if kind not in (None, name):
            continue
        click.echo(f"{name}:")
        names = registry.names(pattern)
        if not names:
            click.echo("  (none yet)")
        for entry in names:
            click.echo(f"  {entry:<20} {registry.get(entry).describe()}")


@main.command("inspect")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--no-verify", is_flag=True, help="Skip the sha256 of every shard (sizes and counts are still checked).")
@click.option("--areas", is_flag=True,
              help="Also compare mask areas: the real defects shown to generators (read again from the source) "
                   "and each generator's.")
@_friendly
def inspect_(out_dir: Path, no_verify: bool, areas: bool) -> None:
    """Count the samples of a built OUT_DIR per class, split, generator and defect type; check its shards."""
    from anomset.inspect import format_areas, format_inspection, inspect_output, shown_defect_areas

    result = inspect_output(out_dir, verify=not no_verify)
    click.echo(format_inspection(result))
    if areas:
        click.echo("\n" + format_areas(result, shown_defect_areas(out_dir)))


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--out", "png", type=click.Path(dir_okay=False, path_type=Path),
              help="PNG to write (default: <OUT_DIR name>-preview.png in the current folder).")
@click.option("--update-card", is_flag=True,
              help="Write the grid as the card's OUT_DIR/assets/preview.png instead (published by push).")
@click.option("--class", "class_name", help="Only this class.")
@click.option("--split", type=click.Choice(["train", "test"]), help="Only this split.")
@click.option("-n", "count", type=click.IntRange(1, 400), default=16, show_default=True, help="Samples to show.")
@_friendly
def preview(out_dir: Path, png: Path | None, update_card: bool, class_name: str | None, split: str | None,
            count: int) -> None:
    """Draw a grid of samples of a built OUT_DIR, each with its mask outlined and beside it."""
    from anomset.preview import CARD_PREVIEW, default_png, write_preview

    targets = [*([png] if png else []), *([out_dir / CARD_PREVIEW] if update_card else [])] or [default_png(out_dir)]
    for target in targets:
        shown = write_preview(out_dir, target, class_name=class_name, split=split, count=count)
        click.echo(f"wrote {target} ({shown} samples)")


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--repo", help="Hub repo named in the load snippet (default: the recipe's hub.repo).")
@click.option("--tag", help="Revision named in the load snippet.")
@_friendly
def card(out_dir: Path, repo: str | None, tag: str | None) -> None:
    """Render OUT_DIR/README.md (the dataset card) and its assets, keeping hand edits."""
    from anomset.hub.card import update_card

    path, kept = update_card(out_dir, repo_id=repo, revision=tag)
    note = f" (kept your edits to: {', '.join(kept)})" if kept else ""
    click.echo(f"wrote {path}{note}")


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--repo", help="Hub dataset repo, org/name (default: the recipe's hub.repo).")
@click.option("--tag", help="Version tag (default: v + the recipe's version); existing tags are refused.")
@click.option("--private", is_flag=True, default=None, help="Create the repo private (default: recipe hub.private).")
@click.option("--dry-run", is_flag=True, help="Print what would be uploaded; contact nothing.")
@_friendly
def push(out_dir: Path, repo: str | None, tag: str | None, private: bool | None, dry_run: bool) -> None:
    """Publish the built OUT_DIR on the Hugging Face Hub as a new, immutable version."""
    from anomset.build.ranks import is_main_process
    from anomset.dataset.reader import read_resolved
    from anomset.hub.push import push as push_folder

    if not is_main_process():
        return  # under a launcher, rank 0 alone publishes

    hub = read_resolved(out_dir).get("hub") or {}
    repo = repo or hub.get("repo")
    if not repo:
        raise OutputError("no repo to push to", file=str(out_dir / "recipe.yaml"), field="hub.repo",
                          fix="pass --repo org/name or set hub.repo in the recipe")
    push_folder(out_dir, repo, tag=tag, private=bool(hub.get("private")) if private is None else private,
                dry_run=dry_run, echo=click.echo)


@main.command("quality")
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@quality_options
@_friendly
def quality(out_dir: Path, **options: Any) -> None:
    """IS, IC-LPIPS and KID per class and generator of a built OUT_DIR (benchmarks/results.json, card)."""
    from anomset.quality.command import run_quality_command

    run_quality_command(out_dir, options, click.echo)


@main.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["mvtec"]), default="mvtec", show_default=True,
              help="Folder layout to write.")
@_friendly
def export(out_dir: Path, target: Path, fmt: str) -> None:
    """Write the built OUT_DIR to the folder TARGET in the MVTec AD layout, with a samples.jsonl sidecar."""
    from anomset.evaluate.export import export_mvtec

    result = export_mvtec(out_dir, target)
    classes = len({class_name for class_name, _, _ in result.counts})
    click.echo(f"exported {result.samples} samples of {classes} classes ({fmt} layout) -> {result.target}")


@main.command("cluster")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--class", "classes", multiple=True, help="Only this class (repeatable; default: gaa/anogen classes).")
@_friendly
def cluster_(recipe: Path, classes: tuple[str, ...]) -> None:
    """Cluster the real defects each class shows to generators (GAA); writes under concepts.dir."""
    from anomset.build.ranks import is_main_process
    from anomset.concepts.run_cluster import run_cluster
    from anomset.recipe import load_recipe

    if not is_main_process():
        return  # under a launcher, rank 0 alone clusters (it is quick and writes shared files)
    run_cluster(load_recipe(recipe), list(classes) or None, echo=click.echo)


@main.command("learn")
@click.argument("recipe", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--class", "classes", multiple=True, help="Only this class (repeatable; default: gaa/anogen classes).")
@click.option("--method", "methods", multiple=True, type=click.Choice(["gaa", "anogen"]),
              help="Learn this method's concepts (default: those the class's entries use).")
@_friendly
def learn_(recipe: Path, classes: tuple[str, ...], methods: tuple[str, ...]) -> None:
    """Learn few-shot anomaly concepts (after anomset cluster); resumable, accelerate launch for ranks."""
    from anomset.concepts.run_learn import run_learn
    from anomset.recipe import load_recipe

    signal.signal(signal.SIGTERM, _raise_terminated)
    run_learn(load_recipe(recipe), list(classes) or None, list(methods) or None, echo=click.echo)


def run() -> None:
    """Entry point for ``python -m anomset`` under accelerate/torchrun (same as ``main``)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
