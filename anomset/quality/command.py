"""The ``anomset quality`` command's options and body (``cli.py`` only registers it; imports stay light)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

_OPTIONS = [
    click.option("--backbone", default="microsoft/resnet-50", show_default=True,
                 help="Hub id or save_pretrained folder: KID features and IC-LPIPS distances."),
    click.option("--revision", help="Hub revision of --backbone."),
    click.option("--layers", default="stage2,stage3", show_default=True, help="Backbone layers, comma-separated."),
    click.option("--classifier", default="microsoft/resnet-50", show_default=True,
                 help="Hub id or folder of an image classifier (AutoModelForImageClassification): IS."),
    click.option("--classifier-revision", help="Hub revision of --classifier."),
    click.option("--image-size", type=click.IntRange(16, 2048), default=224, show_default=True),
    click.option("--reference", type=click.Choice(["defects", "normals"]), default="defects", show_default=True,
                 help="Compare with each class's real test defects or its test normals."),
    click.option("--max-samples", type=click.IntRange(2), default=1000, show_default=True,
                 help="Images per generated and per reference set (manifest order)."),
    click.option("--lpips-samples", type=click.IntRange(2), default=100, show_default=True,
                 help="Generated images clustered for IC-LPIPS."),
    click.option("-k", "k", type=click.IntRange(1), default=10, show_default=True,
                 help="IC-LPIPS reference images (cluster centres)."),
    click.option("--kid-subsets", type=click.IntRange(1), default=100, show_default=True),
    click.option("--kid-subset-size", type=click.IntRange(2), default=1000, show_default=True),
    click.option("--is-splits", type=click.IntRange(1), default=10, show_default=True),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option("--device", default="auto", show_default=True),
]


def quality_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the protocol's options to ``command``."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def run_quality_command(out_dir: Path, options: dict[str, Any], echo: Callable[[str], None]) -> None:
    """Compute the figures, write them into ``benchmarks/results.json``, re-render the card, print a line each."""
    from anomset.hub.card import write_card
    from anomset.quality.report import QualityProtocol, run_quality

    layers = tuple(x.strip() for x in options.pop("layers").split(",") if x.strip())
    path, rows = run_quality(out_dir, QualityProtocol(layers=layers, **options))
    write_card(out_dir)
    for row in rows:
        figures = ", ".join(f"{m} {v['mean']:.4g} ± {v['std']:.2g}" for m, v in sorted(row["metrics"].items()))
        echo(f"{row['class']} / {row['generator']} vs {row['reference']}: {figures}")
    echo(f"wrote {path}")
