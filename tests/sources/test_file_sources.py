"""Every file-based source on tiny trees: index, keys, load, masks, textures, fingerprint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from source_trees import SIZE, folder_tree, loco_tree, mvtec_tree, visa_tree, write

from anomset.errors import RecipeError, SourceError
from anomset.recipe.load import build_component
from anomset.registry import SOURCES
from anomset.sources.base import Source

TREES = {
    "mvtec_ad": (mvtec_tree, {}),
    "mvtec_loco": (loco_tree, {}),
    "visa": (visa_tree, {}),
    "folder": (folder_tree, {"textures": ["fabric"]}),
}


def make(name: str, root: Path, **params) -> Source:
    tree, defaults = TREES[name]
    tree(root)
    return SOURCES.get(name)(root=str(root), **{**defaults, **params})


@pytest.mark.parametrize("name", sorted(TREES))
def test_contract(name: str, tmp_path: Path) -> None:
    source = make(name, tmp_path / "data")
    classes = source.classes()
    assert classes == sorted(classes) and classes
    for class_name in classes:
        items = source.items(class_name)
        keys = [i.key for i in items]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        assert all(i.class_name == class_name and i.split in ("train", "test") for i in items)
        assert any(i.is_normal and i.split == "train" for i in items)
        assert any(not i.is_normal for i in items)
        for item in items:
            loaded = source.load(item)
            assert loaded.image.dtype == np.uint8 and loaded.image.shape == (SIZE, SIZE, 3)
            if item.is_normal:
                assert loaded.mask is None
            else:
                assert loaded.mask.shape == (SIZE, SIZE)
                assert set(np.unique(loaded.mask)) == {0, 255}
            if loaded.foreground is not None:
                assert set(np.unique(loaded.foreground)) <= {0, 255}
    # A second instance indexes the same way; the fingerprint is stable and follows file changes.
    again = SOURCES.get(name)(**source.resolved_params())
    assert [again.items(c) for c in classes] == [source.items(c) for c in classes]
    before = source.fingerprint()
    assert again.fingerprint() == before != ""
    changed = again._entries(classes[0])[source.items(classes[0])[0].key].image
    changed.write_bytes(changed.read_bytes() + b"\0")
    third = SOURCES.get(name)(**source.resolved_params())
    for class_name in classes:
        third.items(class_name)
    assert third.fingerprint() != before


def test_mvtec_ad_keys_textures_and_masks(tmp_path: Path) -> None:
    source = make("mvtec_ad", tmp_path)
    assert source.classes() == ["bottle", "carpet"]
    assert source.is_texture("carpet") and not source.is_texture("bottle")
    items = source.items("bottle")
    assert [i.key for i in items][:3] == ["bottle/test/crack/000", "bottle/test/crack/001", "bottle/test/good/000"]
    assert sum(i.split == "train" for i in items) == 4
    assert {i.defect_type for i in items} == {"good", "crack", "scratch"}
    crack = next(i for i in items if i.defect_type == "crack")
    assert source.load(crack).mask.any()


def test_mvtec_ad_class_subset_and_unknown_class(tmp_path: Path) -> None:
    mvtec_tree(tmp_path)
    assert SOURCES.get("mvtec_ad")(root=tmp_path, classes=["carpet"]).classes() == ["carpet"]
    with pytest.raises(RecipeError, match=r"source\.params\.classes: unknown class 'cable'.*has: bottle, carpet"):
        build_component(SOURCES, "mvtec_ad", {"root": str(tmp_path), "classes": ["cable"]}, file="r.yaml",
                        field="source.type")


def test_missing_root_names_field_and_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(RecipeError, match=rf"r\.yaml: source\.params\.root: folder not found: {missing}"):
        build_component(SOURCES, "mvtec_ad", {"root": str(missing)}, file="r.yaml", field="source.type")


def test_missing_mask_names_image_and_expected_mask(tmp_path: Path) -> None:
    mvtec_tree(tmp_path)
    (tmp_path / "bottle" / "ground_truth" / "crack" / "001_mask.png").unlink()
    source = SOURCES.get("mvtec_ad")(root=tmp_path)
    with pytest.raises(SourceError) as info:
        source.items("bottle")
    message = str(info.value)
    assert str(tmp_path / "bottle" / "test" / "crack" / "001.png") in message
    assert str(tmp_path / "bottle" / "ground_truth" / "crack" / "001_mask.png") in message


def test_mask_size_mismatch_names_mask(tmp_path: Path) -> None:
    mvtec_tree(tmp_path)
    mask = tmp_path / "bottle" / "ground_truth" / "scratch" / "000_mask.png"
    write(mask, np.zeros((SIZE, SIZE + 8), np.uint8))
    with pytest.raises(SourceError, match=rf"{mask}: mask is {SIZE + 8}x{SIZE} but its image 000.png is"):
        SOURCES.get("mvtec_ad")(root=tmp_path).items("bottle")


def test_empty_class_and_empty_root(tmp_path: Path) -> None:
    mvtec_tree(tmp_path, classes=("bottle",))
    (tmp_path / "cable" / "train" / "good").mkdir(parents=True)
    source = SOURCES.get("mvtec_ad")(root=tmp_path)
    with pytest.raises(SourceError, match=r"cable/train/good: no train/good images"):
        source.items("cable")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match=r"empty: no classes found"):
        SOURCES.get("mvtec_ad")(root=empty).classes()


def test_loco_unites_region_masks_and_joins_validation(tmp_path: Path) -> None:
    source = make("mvtec_loco", tmp_path)
    items = source.items("breakfast_box")
    train = [i.key for i in items if i.split == "train"]
    assert "breakfast_box/validation/good/000" in train and len(train) == 5
    assert {i.defect_type for i in items} == {"good", "logical_anomalies", "structural_anomalies"}
    defect = next(i for i in items if i.defect_type == "logical_anomalies")
    mask = source.load(defect).mask
    gt = tmp_path / "breakfast_box" / "ground_truth" / "logical_anomalies" / defect.key.rsplit("/", 1)[1]
    import cv2

    expected = (cv2.imread(str(gt / "000.png"), 0) > 0) | (cv2.imread(str(gt / "001.png"), 0) > 0)
    assert np.array_equal(mask > 0, expected)
    no_val = SOURCES.get("mvtec_loco")(root=tmp_path, include_validation=False)
    assert sum(i.split == "train" for i in no_val.items("breakfast_box")) == 3


def test_visa_reads_split_csv_and_label_masks(tmp_path: Path) -> None:
    source = make("visa", tmp_path)
    assert source.classes() == ["candle", "pcb1"]
    items = source.items("pcb1")
    assert [i.key for i in items if i.split == "train"] == [f"pcb1/train/good/{i:04d}" for i in range(3)]
    anomaly = next(i for i in items if not i.is_normal)
    assert anomaly.defect_type == "anomaly" and source.load(anomaly).mask.any()  # 0/1 masks read as 0/255


def test_visa_missing_split_file(tmp_path: Path) -> None:
    visa_tree(tmp_path)
    (tmp_path / "split_csv" / "1cls.csv").unlink()
    with pytest.raises(SourceError, match=r"1cls.csv: split file not found"):
        SOURCES.get("visa")(root=tmp_path).items("candle")


def test_folder_even_split_foreground_and_textures(tmp_path: Path) -> None:
    source = make("folder", tmp_path, test_fraction=0.3)
    assert source.is_texture("fabric") and not source.is_texture("widget")
    items = source.items("widget")
    test = [i.key for i in items if i.is_normal and i.split == "test"]
    assert test == ["widget/test/good/img03", "widget/test/good/img06", "widget/test/good/img09"]
    assert {i.key for i in items if not i.is_normal} == {"widget/test/dent/d0", "widget/test/dent/d1"}
    normal = next(i for i in items if i.is_normal)
    assert source.load(normal).foreground.any()
    assert all(i.split == "train" for i in SOURCES.get("folder")(root=tmp_path, test_fraction=0).items("widget")
               if i.is_normal)


def test_folder_explicit_split(tmp_path: Path) -> None:
    for i in range(3):
        write(tmp_path / "part" / "good" / "train" / f"{i}.png", np.zeros((SIZE, SIZE, 3), np.uint8))
    write(tmp_path / "part" / "good" / "test" / "9.png", np.zeros((SIZE, SIZE, 3), np.uint8))
    items = SOURCES.get("folder")(root=tmp_path).items("part")
    assert [(i.split, i.key) for i in items] == [("test", "part/test/good/9")] + [
        ("train", f"part/train/good/{i}") for i in range(3)]


def test_folder_unknown_texture(tmp_path: Path) -> None:
    folder_tree(tmp_path)
    with pytest.raises(RecipeError, match=r"source\.params\.textures: unknown class 'fabirc'.*fabric, widget"):
        build_component(SOURCES, "folder", {"root": str(tmp_path), "textures": ["fabirc"]}, file="r.yaml",
                        field="source.type")


def test_folder_corrupt_image_is_found_when_indexing(tmp_path: Path) -> None:
    folder_tree(tmp_path)
    bad = tmp_path / "widget" / "good" / "img03.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(SourceError, match=rf"{bad}: cannot read image \(corrupt"):
        SOURCES.get("folder")(root=tmp_path).items("widget")


def test_visa_without_split_file_reads_the_folders(tmp_path: Path) -> None:
    visa_tree(tmp_path)
    (tmp_path / "split_csv" / "1cls.csv").unlink()
    source = SOURCES.get("visa")(root=tmp_path, split_file=None, test_fraction=0.5)
    items = source.items("candle")
    assert [(i.split, i.key) for i in items if i.is_normal] == [
        ("test", "candle/test/good/0001"), ("test", "candle/test/good/0003"),
        ("train", "candle/train/good/0000"), ("train", "candle/train/good/0002")]
    anomalies = [i for i in items if not i.is_normal]
    assert len(anomalies) == 2 and all(source.load(i).mask.any() for i in anomalies)
