"""Real folders with one flaw each: checked before the build, recovered after a failed one, warned about."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from source_recipes import file_recipe, write_recipe
from source_trees import SIZE, blob, folder_tree, image, write

from anomset.cli import main
from anomset.errors import SourceError
from anomset.recipe import load_recipe
from anomset.sources.check import cache_dir
from anomset.sources.folder import FolderSource
from anomset.sources.layout import FileSource


def _truncate(path: Path) -> Path:
    """Keep the PNG header, drop half the pixels: only a full decode finds out."""
    _, data = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8))
    path.write_bytes(data.tobytes()[: len(data) // 2])
    return path


def _invoke(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output.strip().splitlines()


def _setup(tmp_path: Path, **params) -> tuple[Path, Path, Path]:
    root = folder_tree(tmp_path / "data", classes=("widget",))
    recipe = write_recipe(tmp_path / "r.yaml", file_recipe("folder", root, ["widget"], **params))
    return root, recipe, tmp_path / "out"


# -- 1a: every file is checked before anything is written --------------------------------------------------------
def test_validate_and_build_catch_a_truncated_png_before_writing(tmp_path: Path) -> None:
    root, recipe, out = _setup(tmp_path)
    bad = _truncate(root / "widget" / "good" / "img03.png")
    expected = (f"error: {bad}: cannot decode image (corrupt, truncated or not an 8/16-bit image) "
                "(fix: replace or remove the file)")
    assert _invoke("validate", str(recipe)) == (3, [expected])
    assert _invoke("build", str(recipe), "--out", str(out), "--no-progress") == (3, [expected])
    assert not out.exists()  # nothing written, not even the state or the lock


def test_several_bad_files_name_the_first_two_and_count_the_rest(tmp_path: Path) -> None:
    root, recipe, _ = _setup(tmp_path)
    second = _truncate(root / "widget" / "good" / "img01.png")
    _truncate(root / "widget" / "good" / "img07.png")
    first = _truncate(root / "widget" / "masks" / "dent" / "d0.png")  # item keys sort test/dent first
    code, lines = _invoke("validate", str(recipe))
    assert code == 3 and lines == [
        f"error: {first}: cannot decode mask (corrupt or not an image); also {second}: cannot decode image "
        "(corrupt, truncated or not an 8/16-bit image) and 1 more (fix: replace or remove the file)"]


def test_a_second_check_decodes_only_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANOMSET_CACHE_DIR", str(tmp_path / "cache"))
    root, recipe, _ = _setup(tmp_path)
    decoded: list[str] = []
    inspect = FileSource.inspect_item

    def counting(self: FileSource, item):  # type: ignore[no-untyped-def]
        decoded.append(item.key)
        return inspect(self, item)

    monkeypatch.setattr(FileSource, "inspect_item", counting)
    assert _invoke("validate", str(recipe))[0] == 0
    assert len(decoded) == 12  # 10 normals and 2 defects
    decoded.clear()
    assert _invoke("validate", str(recipe))[0] == 0
    assert decoded == []  # instant: every answer from the cache
    changed = root / "widget" / "good" / "img02.png"
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    assert _invoke("validate", str(recipe))[0] == 0
    assert decoded == ["widget/train/good/img02"]
    assert list((cache_dir() / "file-checks").glob("*.json"))


# -- 1b: a failed build never pins its source --------------------------------------------------------------------
def test_a_rerun_after_fixing_a_file_that_failed_mid_build_just_builds(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _, recipe, out = _setup(tmp_path)
    load = FolderSource.load
    broken: list[Path] = []

    def failing(self: FolderSource, item):  # type: ignore[no-untyped-def]
        if (out / ".anomset" / "state.json").is_file():  # the first file read once the build started breaks
            broken.append(broken[0] if broken else self.entry(item).image)
            raise SourceError("cannot decode image (corrupt or not an image)", file=str(broken[0]))
        return load(self, item)

    monkeypatch.setattr(FolderSource, "load", failing)
    code, lines = _invoke("build", str(recipe), "--out", str(out), "--no-progress")
    assert code == 3 and lines == [f"error: {broken[0]}: cannot decode image (corrupt or not an image)"]
    assert (out / ".anomset" / "state.json").is_file()
    assert not list((out / ".anomset").glob("done/**/*.json"))  # no shard committed
    monkeypatch.undo()
    broken[0].unlink()  # the fix the error asked for
    code, lines = _invoke("build", str(recipe), "--out", str(out), "--no-progress")
    assert code == 0 and lines[0].startswith("built "), lines
    assert json.loads((out / "manifest.json").read_text())["source"]["fingerprint"]


def _changed_tree(root: Path) -> None:
    (root / "widget" / "good" / "img03.png").unlink()
    write(root / "widget" / "good" / "img05.png", image(5, SIZE + 8))
    write(root / "widget" / "good" / "new.png", image(99))


def test_changed_source_under_a_finished_build_names_the_files(tmp_path: Path) -> None:
    root, recipe, out = _setup(tmp_path, test_fraction=0.5)
    assert _invoke("build", str(recipe), "--out", str(out), "--no-progress")[0] == 0
    _changed_tree(root)
    (root / "widget" / "foreground" / "img03.png").unlink()  # its foreground goes with it
    write(root / "widget" / "foreground" / "img05.png", blob(5, SIZE + 8))
    code, lines = _invoke("build", str(recipe), "--out", str(out), "--no-progress")
    assert code == 4 and lines == [
        f"error: {out}: folder holds a build of this recipe from other source data; the source files changed since "
        "it started: added widget/good/new.png; removed widget/foreground/img03.png, widget/good/img03.png; "
        "resized widget/foreground/img05.png, widget/good/img05.png (fix: restore those files to resume, use a new "
        "--out, or pass --overwrite; --overwrite deletes a finished build (its shards, manifest.json and card): use "
        "a new --out to keep it)"]
    assert _invoke("build", str(recipe), "--out", str(out), "--no-progress", "--overwrite")[0] == 0


def test_changed_source_under_an_unfinished_build_says_overwrite_is_safe(tmp_path: Path) -> None:
    root, recipe, out = _setup(tmp_path)
    assert _invoke("build", str(recipe), "--out", str(out), "--no-progress")[0] == 0
    (out / "manifest.json").unlink()  # as if it had stopped after its shards
    (root / "widget" / "defects" / "dent" / "d1.png").unlink()
    (root / "widget" / "masks" / "dent" / "d1_mask.png").unlink()
    code, lines = _invoke("validate", str(recipe), "--out", str(out))
    assert code == 4 and lines == [
        f"error: {out}: folder holds a build of this recipe from other source data; the source files changed since "
        "it started: removed widget/defects/dent/d1.png, widget/masks/dent/d1_mask.png (fix: restore those files "
        "to resume, use a new --out, or pass --overwrite; --overwrite is safe: it deletes only the 2 shards of an "
        "unfinished build and rebuilds from the current data)"]


# -- 2: all-black masks ------------------------------------------------------------------------------------------
def test_an_all_black_mask_is_refused_naming_the_mask(tmp_path: Path) -> None:
    root, recipe, out = _setup(tmp_path)
    mask = write(root / "widget" / "masks" / "dent" / "d1_mask.png", np.zeros((SIZE, SIZE), np.uint8))
    expected = (f"error: {mask}: defect mask is all black (no defect pixel) (fix: replace the mask, or set "
                "empty_masks: skip in the source params to leave such defects out)")
    assert _invoke("validate", str(recipe)) == (3, [expected])
    assert _invoke("build", str(recipe), "--out", str(out), "--no-progress") == (3, [expected])


def test_empty_masks_skip_leaves_the_defect_out_and_counts_it(tmp_path: Path) -> None:
    root, recipe, out = _setup(tmp_path, empty_masks="skip")
    mask = write(root / "widget" / "masks" / "dent" / "d1_mask.png", np.zeros((SIZE, SIZE), np.uint8))
    code, lines = _invoke("build", str(recipe), "--out", str(out), "--no-progress")
    assert code == 0, lines
    assert lines[0] == f"warning: {mask}: defect mask is all black; the defect is left out (empty_masks: skip)"
    assert lines[1].endswith("; warnings: 1 defect with an all-black mask left out)")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["widget"]["test"]["by_defect_type"]["dent"] == 1
    assert manifest["warnings"] == {"empty_mask": 1}
    assert "defect with an all-black mask left out" in (out / "README.md").read_text()
    strict = file_recipe("folder", root, ["widget"])
    assert load_recipe(write_recipe(tmp_path / "strict.yaml", strict)).recipe_hash != load_recipe(recipe).recipe_hash


# -- 3: degenerate data warns once -------------------------------------------------------------------------------
def _degenerate(tmp_path: Path) -> tuple[Path, Path, list[str]]:
    root = folder_tree(tmp_path / "data", classes=("lone", "widget"), foreground=False)
    for extra in sorted((root / "lone" / "good").iterdir())[1:]:
        extra.unlink()  # lone keeps one normal
    tiny = write(root / "widget" / "good" / "img04.png", np.full((1, 1, 3), 90, np.uint8))
    deep = root / "widget" / "good" / "img06.png"
    assert cv2.imwrite(str(deep), (image(6).astype(np.uint16) * 257))
    recipe = write_recipe(tmp_path / "r.yaml", file_recipe("folder", root, ["lone", "widget"]))
    return recipe, tmp_path / "out", [
        f"warning: {recipe}: classes.lone: the source has no test normals (1 normal image in all), so the test "
        "split holds only anomalies (add normal images to the source)",
        f"warning: {tiny}: image is 1x1, upscaled more than 4x to the output size 64x64",
        f"warning: {deep}: 16-bit image, read as 8-bit by keeping the high byte (value // 256)",
    ]


def test_degenerate_data_gets_one_warning_line_each_and_counts(tmp_path: Path) -> None:
    recipe, out, warnings = _degenerate(tmp_path)
    counted = "warnings: 1 class without test normals, 1 tiny image upscaled, 1 16-bit image scaled to 8 bits"
    code, lines = _invoke("validate", str(recipe))
    assert code == 0 and lines[:3] == warnings and lines[3].endswith(f"; {counted})"), lines
    code, lines = _invoke("build", str(recipe), "--out", str(out), "--no-progress")
    assert code == 0 and lines[:3] == warnings and lines[3].endswith(f"; {counted})"), lines
    assert json.loads((out / "manifest.json").read_text())["warnings"] == {
        "no_test_normals": 1, "tiny_image": 1, "16bit": 1}
    assert counted.removeprefix("warnings: ") in (out / "README.md").read_text()


@pytest.mark.slow
def test_warnings_are_printed_once_by_two_processes_and_nothing_outlives_the_build(tmp_path: Path) -> None:
    recipe, out, warnings = _degenerate(tmp_path)
    launcher = subprocess.Popen([sys.executable, "-m", "anomset", "build", str(recipe), "--out", str(out),
                                 "--no-progress", "--processes", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    _, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 0, stderr
    assert [line for line in stderr.splitlines() if line.startswith("warning:")] == warnings
    assert sorted(p.name for p in (out / ".anomset").iterdir()) == ["done", "source_files.json", "state.json"]
    assert not _old_lock(out).exists()
    assert not list((Path(tempfile.gettempdir()) / "anomset-launches").glob(f"{launcher.pid}-*"))  # ranks met in out


def test_a_build_leaves_no_lock_behind(tmp_path: Path) -> None:
    _, recipe, out = _setup(tmp_path)
    assert _invoke("build", str(recipe), "--out", str(out), "--no-progress")[0] == 0
    assert not (out / ".anomset" / "lock").exists() and not (out / ".anomset" / "ranks").exists()
    assert not _old_lock(out).exists()


def _old_lock(out: Path) -> Path:
    """Where builds used to leave their lock: the temp folder, keyed by the output's real path."""
    key = hashlib.sha256(os.path.realpath(out).encode("utf-8")).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / f"anomset-{key}.lock"


# -- 4: one validation path --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("extra", "expected"), [
    ({"output": {"dir": ""}}, "output.dir: empty folder name; leave output.dir out and pass --out, or name a folder"),
    ({"license": "../../etc/passwd"}, "license: '../../etc/passwd' is not a Hub licence identifier; use one from "
     "huggingface.co/docs/hub/repositories-licenses, or 'other' with license_name and license_link"),
    ({"license": "cc-by-4"}, "license: 'cc-by-4' is not a Hub licence identifier; did you mean 'cc-by-4.0' or "
     "'cc-by-3.0' or 'cc-by-2.5'? use one from huggingface.co/docs/hub/repositories-licenses, or 'other' with "
     "license_name and license_link"),
    ({"license": "other"}, "license_link: license 'other' needs license_name and license_link (a URL, or LICENSE "
     "in the repo)"),
])
def test_validate_and_build_refuse_the_same_recipes(tmp_path: Path, extra: dict, expected: str) -> None:
    root = folder_tree(tmp_path / "data", classes=("widget",))
    recipe = write_recipe(tmp_path / "r.yaml", {**file_recipe("folder", root, ["widget"]), **extra})
    line = f"error: {recipe}: {expected}"
    assert _invoke("validate", str(recipe)) == (2, [line])
    assert _invoke("build", str(recipe), "--out", str(tmp_path / "out"), "--no-progress") == (2, [line])


def test_other_license_with_name_and_link_reaches_the_card(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "data", classes=("widget",))
    recipe = write_recipe(tmp_path / "r.yaml", {**file_recipe("folder", root, ["widget"]), "license": "other",
                                                "license_name": "acme-data", "license_link": "LICENSE"})
    out = tmp_path / "out"
    assert _invoke("build", str(recipe), "--out", str(out), "--no-progress")[0] == 0
    card = (out / "README.md").read_text()
    assert "license: other" in card and "license_name: acme-data" in card and "license_link: LICENSE" in card


def test_validate_checks_the_output_folder_as_build_does(tmp_path: Path) -> None:
    root = folder_tree(tmp_path / "data", classes=("widget",))
    taken = tmp_path / "taken"
    (taken / "notes.txt").parent.mkdir()
    (taken / "notes.txt").write_text("mine")
    recipe = write_recipe(tmp_path / "r.yaml", {**file_recipe("folder", root, ["widget"]),
                                                "output": {"dir": str(taken), "image_size": 64}})
    line = (f"error: {taken}: folder is not empty and was not made by anomset; refusing to write into it "
            "(fix: choose an empty or new --out folder)")
    assert _invoke("validate", str(recipe)) == (4, [line])
    assert _invoke("build", str(recipe), "--no-progress") == (4, [line])
    code, lines = _invoke("validate", str(recipe), "--out", str(tmp_path / "fresh"))
    assert code == 0 and lines[-1].startswith(f"ok: {recipe} (") and f"{tmp_path / 'fresh'}: new" in lines[-1]
