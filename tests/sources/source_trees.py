"""Tiny on-disk dataset trees in the layouts the file sources read (PNG files made with cv2)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE = 48


def image(seed: int, size: int = SIZE) -> np.ndarray:
    """A smooth random RGB image (random noise would be too easy to tell apart from a defect)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(40, 220, (6, 6, 3)).astype(np.uint8)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def blob(seed: int, size: int = SIZE, value: int = 255) -> np.ndarray:
    """A mask with one filled circle."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((size, size), np.uint8)
    center = tuple(int(v) for v in rng.integers(size // 4, 3 * size // 4, 2))
    cv2.circle(mask, center, int(rng.integers(3, size // 6)), value, -1)
    return mask


def write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), array)
    return path


def mvtec_tree(root: Path, classes: tuple[str, ...] = ("bottle", "carpet"), train: int = 4, test_good: int = 2,
               defects: tuple[str, ...] = ("crack", "scratch"), per_type: int = 2) -> Path:
    """root/<class>/{train/good,test/good,test/<type>,ground_truth/<type>/<stem>_mask.png}."""
    seed = 0
    for name in classes:
        for i in range(train):
            write(root / name / "train" / "good" / f"{i:03d}.png", image(seed := seed + 1))
        for i in range(test_good):
            write(root / name / "test" / "good" / f"{i:03d}.png", image(seed := seed + 1))
        for defect in defects:
            for i in range(per_type):
                write(root / name / "test" / defect / f"{i:03d}.png", image(seed := seed + 1))
                write(root / name / "ground_truth" / defect / f"{i:03d}_mask.png", blob(seed))
    (root / "license.txt").write_text("tiny test data\n")
    return root


def loco_tree(root: Path, name: str = "breakfast_box", train: int = 3, validation: int = 2) -> Path:
    """The LOCO layout: several region masks per defect image, with region-id pixel values."""
    seed = 100
    for i in range(train):
        write(root / name / "train" / "good" / f"{i:03d}.png", image(seed := seed + 1))
    for i in range(validation):
        write(root / name / "validation" / "good" / f"{i:03d}.png", image(seed := seed + 1))
    write(root / name / "test" / "good" / "000.png", image(seed := seed + 1))
    for defect in ("logical_anomalies", "structural_anomalies"):
        for i in range(2):
            write(root / name / "test" / defect / f"{i:03d}.png", image(seed := seed + 1))
            gt = root / name / "ground_truth" / defect / f"{i:03d}"
            write(gt / "000.png", blob(seed, value=255))
            write(gt / "001.png", blob(seed + 50, value=37))  # a region id, not 255
    return root


def visa_tree(root: Path, objects: tuple[str, ...] = ("candle", "pcb1"), train: int = 3) -> Path:
    """VisA: root/<object>/Data/{Images,Masks} indexed by root/split_csv/1cls.csv; masks use 0/1."""
    rows = ["object,split,label,image,mask"]
    seed = 200
    for name in objects:
        for i in range(train + 1):
            rel = f"{name}/Data/Images/Normal/{i:04d}.JPG"
            cv2.imwrite(str(_mkdir(root / rel)), image(seed := seed + 1))
            rows.append(f"{name},{'train' if i < train else 'test'},normal,{rel},")
        for i in range(2):
            rel, mask = f"{name}/Data/Images/Anomaly/{i:03d}.JPG", f"{name}/Data/Masks/Anomaly/{i:03d}.png"
            cv2.imwrite(str(_mkdir(root / rel)), image(seed := seed + 1))
            write(root / mask, blob(seed, value=1))
            rows.append(f"{name},test,anomaly,{rel},{mask}")
    (_mkdir(root / "split_csv" / "1cls.csv")).write_text("\n".join(rows) + "\n")
    return root


def folder_tree(root: Path, classes: tuple[str, ...] = ("fabric", "widget"), normals: int = 10,
                defects: tuple[str, ...] = ("dent",), foreground: bool = True) -> Path:
    """root/<class>/{good,defects/<type>,masks/<type>,foreground}; masks alternate <stem>.png / _mask.png."""
    seed = 300
    for name in classes:
        for i in range(normals):
            write(root / name / "good" / f"img{i:02d}.png", image(seed := seed + 1))
            if foreground:
                write(root / name / "foreground" / f"img{i:02d}.png", blob(seed, value=255))
        for defect in defects:
            for i in range(2):
                write(root / name / "defects" / defect / f"d{i}.png", image(seed := seed + 1))
                mask_name = f"d{i}.png" if i % 2 == 0 else f"d{i}_mask.png"
                write(root / name / "masks" / defect / mask_name, blob(seed, value=255))
    return root


def _mkdir(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def surface(seed: int, size: int = SIZE, frame: int = 6) -> np.ndarray:
    """A textured surface with a flat frame round it: the border-colour foreground estimate would
    take the inside for an object, which a texture class must not get."""
    out = cv2.resize(np.random.default_rng(seed).integers(0, 255, (12, 12, 3)).astype(np.uint8), (size, size),
                     interpolation=cv2.INTER_NEAREST)
    out[:frame], out[-frame:], out[:, :frame], out[:, -frame:] = 128, 128, 128, 128
    return out


def mvtec_surface_tree(root: Path, name: str = "steel_sheet", train: int = 4) -> Path:
    """One MVTec-layout class of framed surfaces (a user's own surface set), with one defect type."""
    for i in range(train):
        write(root / name / "train" / "good" / f"{i:03d}.png", surface(400 + i))
    write(root / name / "test" / "good" / "000.png", surface(450))
    write(root / name / "test" / "dent" / "000.png", surface(460))
    write(root / name / "ground_truth" / "dent" / "000_mask.png", blob(460))
    return root


def gray_folder_tree(root: Path, gray: str = "steel", colour: str = "widget", normals: int = 8) -> Path:
    """A ``folder`` tree with a grayscale class of textured surfaces (single-channel PNGs, as grey sets
    are stored) and a colour class; both have foreground masks and one dent defect type."""
    folder_tree(root, classes=(gray, colour), normals=normals)
    images = sorted([*(root / gray / "good").glob("*.png"), *(root / gray / "defects").rglob("*.png")])
    for k, path in enumerate(images):
        small = np.random.default_rng(500 + k).integers(30, 230, (16, 16)).astype(np.uint8)
        assert cv2.imwrite(str(path), cv2.resize(small, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR))
    return root
