"""Reference-detector results, ``benchmarks/results.json``: the schema the evaluation writes and the card renders.

(The top-level ``benchmarks/`` folder of the repository holds throughput scripts; this is about
detector scores on a built dataset.)

Schema (``schema: "anomset.benchmarks/3"``; every number a reference detector produced, none invented;
files of version 2, whose quality rows had no reference and protocol, still read)::

    {
      "schema": "anomset.benchmarks/3",
      "dataset": {"repo": "org/name", "revision": "v1.0.0", "data_hash": "<64 hex>"},
      "results": [                        # one row per detector × protocol × class × setting
        {"detector": "unet", "protocol": "ratio", "class": "brick",
         "setting": {"synthetic_ratio": 0.5},            # protocol knobs; {} when none
         "seeds": [0, 1, 2],
         "metrics": {"image_auroc": {"mean": 0.97, "std": 0.01}, "pixel_pro": {"mean": 0.9, "std": 0.02}},
         "dataset_recipe_hash": "<64 hex>",              # what produced the row (``anomset eval``)
         "test_fingerprint": "<64 hex>", "eval_hash": "<64 hex>"}
      ],
      "quality": [                        # optional: generation quality (``anomset quality``)
        {"class": "brick", "generator": "draem", "reference": "defects",
         "metrics": {"kid": {"mean": 0.01, "std": 0.001}, "is": {...}, "ic_lpips": {...}},
         "protocol": {"name": "anomset.quality/1", "features": {"model": ..., "revision": ..., "layers": ...},
                      "image_size": [224, 224], "samples": {...}, "ic_lpips": {"k": 10}, "seed": 0, ...}}
      ],
      "plots": [{"path": "benchmarks/ratio_sweep.png", "caption": "image AUROC vs synthetic ratio"}]
    }

``dataset.data_hash`` says which data the numbers refer to; the card flags results of other data (a
metadata edit keeps the data hash, so the results stay current).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from anomset.configurable import format_validation_error
from anomset.errors import OutputError

RESULTS_PATH = "benchmarks/results.json"
SCHEMA = "anomset.benchmarks/3"
READABLE_SCHEMAS = r"^anomset\.benchmarks/[23]$"


class StrictModel(BaseModel):
    """Unknown keys are errors; JSON keys that are Python keywords (class, schema) map through aliases."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Stat(StrictModel):
    mean: float
    std: float = Field(ge=0)


class DatasetRef(StrictModel):
    repo: str = ""
    revision: str = ""
    data_hash: str


class ResultRow(StrictModel):
    detector: str
    protocol: str
    class_: str = Field(alias="class")
    setting: dict[str, Any] = Field(default_factory=dict)
    seeds: list[int] = Field(min_length=1)
    metrics: dict[str, Stat] = Field(min_length=1)
    dataset_recipe_hash: str = ""
    test_fingerprint: str = ""
    eval_hash: str = ""

    def key(self) -> tuple[str, str, str, str]:
        """What a row is a figure of: a newer evaluation of the same key replaces it."""
        return self.detector, self.protocol, self.class_, json.dumps(self.setting, sort_keys=True)


class QualityRow(StrictModel):
    class_: str = Field(alias="class")
    generator: str
    reference: str = ""  # what the generated images were compared with (real test defects, normals)
    metrics: dict[str, Stat] = Field(min_length=1)
    protocol: dict[str, Any] = Field(default_factory=dict)  # network ids, revisions, layers, sizes, counts, k, seed


class Plot(StrictModel):
    path: str = Field(pattern=r"^benchmarks/[^/]+\.(png|jpg|svg)$")
    caption: str = ""


class Results(StrictModel):
    schema_: str = Field(alias="schema", pattern=READABLE_SCHEMAS)
    dataset: DatasetRef
    results: list[ResultRow] = Field(default_factory=list)
    quality: list[QualityRow] = Field(default_factory=list)
    plots: list[Plot] = Field(default_factory=list)


def read_results(out_dir: Path | str) -> Results | None:
    """The folder's benchmark results, or None when the dataset has not been evaluated yet."""
    path = Path(out_dir) / RESULTS_PATH
    if not path.is_file():
        return None
    try:
        return Results.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as exc:
        field, message = (format_validation_error(exc) if isinstance(exc, ValidationError)
                          else ("", f"not valid JSON: {exc}"))
        raise OutputError(message, file=str(path), field=field or None,
                          fix=f"rewrite it to the schema in {__name__}") from None


def fmt(stat: Stat) -> str:
    return f"{stat.mean:.3f} ± {stat.std:.3f}"


def tables(results: Results) -> list[dict[str, Any]]:
    """One table per protocol: header metric names and rows of formatted cells (for the template)."""
    out = []
    for protocol in sorted({r.protocol for r in results.results}):
        rows = [r for r in results.results if r.protocol == protocol]
        metrics = sorted({m for r in rows for m in r.metrics})
        out.append({"protocol": protocol, "metrics": metrics, "rows": [
            {"detector": r.detector, "class": r.class_, "seeds": len(r.seeds),
             "setting": ", ".join(f"{k}={v}" for k, v in sorted(r.setting.items())) or "—",
             "cells": [fmt(r.metrics[m]) if m in r.metrics else "—" for m in metrics]}
            for r in sorted(rows, key=lambda r: (r.detector, r.class_, json.dumps(r.setting, sort_keys=True)))]})
    return out


def quality_table(results: Results) -> dict[str, Any]:
    metrics = sorted({m for r in results.quality for m in r.metrics})
    return {"metrics": metrics, "rows": [
        {"class": r.class_, "generator": r.generator, "reference": r.reference or "—",
         "protocol": protocol_summary(r.protocol),
         "cells": [fmt(r.metrics[m]) if m in r.metrics else "—" for m in metrics]}
        for r in sorted(results.quality, key=lambda r: (r.class_, r.generator))]}


def protocol_summary(protocol: dict[str, Any]) -> str:
    """One card cell: networks (id@revision), layers, image size, sample counts, k and seed."""
    if not protocol:
        return "—"

    def network(record: dict[str, Any]) -> str:
        revision = record.get("revision") or (record.get("commit") or "")[:12]
        return f"`{record.get('model', '?')}`" + (f"@{revision}" if revision else "")

    features, classifier = protocol.get("features") or {}, protocol.get("classifier") or {}
    samples = protocol.get("samples") or {}
    size = protocol.get("image_size") or ["?"]
    parts = [f"features {network(features)} {'+'.join(features.get('layers', []))}",
             f"IS {network(classifier)}" if classifier else "", f"{size[0]}px",
             f"n={samples.get('generated', '?')} vs {samples.get('reference', '?')}",
             f"k={(protocol.get('ic_lpips') or {}).get('k', '?')}", f"seed {protocol.get('seed', '?')}"]
    return "; ".join(p for p in parts if p)
