"""``anomset inspect --areas``: mask-area quantiles of the shown real defects next to each generator's."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from anomset.cli import main
from anomset.inspect import inspect_output, shown_defect_areas
from tests.conftest import tiny_recipe, write_recipe


def test_areas_table_compares_shown_defects_with_generators(tmp_path: Path) -> None:
    recipe = tiny_recipe()
    recipe["source"]["params"]["defects_per_type"] = 3
    recipe["classes"]["washer"].update(shown_defects=0.34, generate=[
        {"synthesizer": "real_paste", "count": 5}, {"synthesizer": "draem", "count": 4}])
    path = write_recipe(tmp_path / "r.yaml", recipe)
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress"]).exit_code == 0
    shown = shown_defect_areas(out)
    assert set(shown) == {"washer"} and len(shown["washer"]) == 3  # one of the three of each of 3 types
    areas = inspect_output(out).areas
    pasted = []
    for shard in sorted((out / "data" / "washer").glob("train-*.tar")):
        with tarfile.open(shard) as tar:
            metas = [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
        pasted += [m["mask_area"] for m in metas if m["generator"] == "real_paste"]
    assert sorted(areas[("washer", "real_paste")]) == sorted(pasted) and len(pasted) == 5
    result = CliRunner().invoke(main, ["inspect", str(out), "--areas"])
    assert result.exit_code == 0, result.output
    lines = result.output.split("mask area (pixels)\n", 1)[1].splitlines()
    assert lines[0].split() == ["class", "generator", "n", "min", "p10", "median", "p90", "max"]
    shown_row = next(line.split() for line in lines if "real shown" in line)
    assert shown_row[:4] == ["washer", "real", "shown", "3"]
    assert int(shown_row[6]) == int(np.rint(np.median(shown["washer"])))
    paste_row = next(line.split() for line in lines if line.split()[:1] == ["real_paste"])
    assert paste_row[1:] == [str(v) for v in (5, *(int(np.rint(q)) for q in
                                                   np.quantile(pasted, [0, 0.1, 0.5, 0.9, 1])))]
