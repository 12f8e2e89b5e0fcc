"""``ksdd2``: the KolektorSDD2 layout on tiny trees: labels from the masks, textures, errors, a build."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from source_recipes import file_recipe, write_recipe
from source_trees import SIZE, blob, image, write

from anomset.cli import main
from anomset.errors import SourceError
from anomset.registry import SOURCES


def ksdd2_tree(root: Path, train: int = 4, test: int = 3, defects: tuple[int, ...] = (1, 5)) -> Path:
    """root/{train,test}/<n>.png with <n>_GT.png; numbers in ``defects`` get a blob (value 1, as 0/1 masks)."""
    n = 10000
    for split, count in (("train", train), ("test", test)):
        for _ in range(count):
            n += 1
            write(root / split / f"{n}.png", image(n))
            mask = blob(n, value=1) if (n - 10000) in defects else np.zeros((SIZE, SIZE), np.uint8)
            write(root / split / f"{n}_GT.png", mask)
    return root


def test_labels_come_from_the_masks(tmp_path: Path) -> None:
    source = SOURCES.get("ksdd2")(root=ksdd2_tree(tmp_path))
    assert source.classes() == ["ksdd2"] and source.is_texture("ksdd2")
    items = source.items("ksdd2")
    assert [i.key for i in items] == sorted(i.key for i in items)
    defects = [i for i in items if not i.is_normal]
    assert [i.key for i in defects] == ["ksdd2/test/defect/10005", "ksdd2/train/defect/10001"]
    assert {i.defect_type for i in defects} == {"defect"}
    assert sum(i.split == "train" and i.is_normal for i in items) == 3
    for item in items:
        loaded = source.load(item)
        assert loaded.image.shape == (SIZE, SIZE, 3)
        if item.is_normal:
            assert loaded.mask is None
        else:
            assert set(np.unique(loaded.mask)) == {0, 255}  # 0/1 masks read as 0/255


def test_fingerprint_follows_a_normal_mask(tmp_path: Path) -> None:
    root = ksdd2_tree(tmp_path)
    source = SOURCES.get("ksdd2")(root=root)
    source.items("ksdd2")
    before = source.fingerprint()
    again = SOURCES.get("ksdd2")(**source.resolved_params())
    again.items("ksdd2")
    assert again.fingerprint() == before and before.startswith("ksdd2:")
    write(root / "train" / "10002_GT.png", blob(3, value=255))  # a normal becomes a defect
    third = SOURCES.get("ksdd2")(root=root)
    assert "ksdd2/train/defect/10002" in [i.key for i in third.items("ksdd2")]
    assert third.fingerprint() != before


def test_wrong_layouts_fail_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match=r"no classes found; expected root/\{train,test\}/<n>\.png"):
        SOURCES.get("ksdd2")(root=empty).classes()

    root = ksdd2_tree(tmp_path / "a")
    (root / "train" / "10003_GT.png").unlink()
    with pytest.raises(SourceError, match=r"10003\.png: image has no mask; expected .*10003_GT\.png"):
        SOURCES.get("ksdd2")(root=root).items("ksdd2")

    root = ksdd2_tree(tmp_path / "b")
    (root / "test" / "10006.png").unlink()
    with pytest.raises(SourceError, match=r"10006_GT\.png: mask has no image"):
        SOURCES.get("ksdd2")(root=root).items("ksdd2")

    root = ksdd2_tree(tmp_path / "c", defects=(1, 2, 3, 4))
    with pytest.raises(SourceError, match="no train normals"):
        SOURCES.get("ksdd2")(root=root).items("ksdd2")

    root = ksdd2_tree(tmp_path / "d")
    write(root / "train" / "10001_GT.png", np.zeros((SIZE, SIZE + 4), np.uint8))
    with pytest.raises(SourceError, match=r"10001_GT\.png: mask is"):
        SOURCES.get("ksdd2")(root=root).items("ksdd2")


def test_build_from_ksdd2(tmp_path: Path) -> None:
    root = ksdd2_tree(tmp_path / "data")
    recipe = file_recipe("ksdd2", root, ["ksdd2"])
    recipe["classes"]["ksdd2"]["real_defects"] = {"train": "all", "test": "all"}
    path = write_recipe(tmp_path / "r.yaml", recipe)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["build", str(path), "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["fingerprint"].startswith("ksdd2:")
    origins = set()
    for shard in manifest["shards"]:
        with tarfile.open(out / shard["path"]) as tar:
            metas = [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(".json")]
        origins |= {(meta["origin"], meta["split"]) for meta in metas}
    assert ("real", "train") in origins and ("real", "test") in origins and ("synthetic", "train") in origins
