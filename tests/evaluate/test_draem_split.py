"""draem_split: the parity split, what each side trains, the toy defects, seeds and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from anomset.evaluate.detectors import DetectorError, TrainSet
from anomset.evaluate.detectors.draem_net import ReconstructiveNet, ssim
from anomset.evaluate.detectors.draem_split import parity_split
from anomset.evaluate.metrics import auroc
from anomset.registry import DETECTORS
from tests.evaluate.toy_sets import defect_set, pixel_auroc

FAST = {"image_size": 32, "reconstruction_width": 8, "discriminator_width": 8, "depth": 2, "epochs": 12,
        "batch_size": 8, "lr": 3e-3, "score_window": 5, "device": "cpu"}


def test_parity_split_follows_the_normals_key_order() -> None:
    data = defect_set(0, normals=4, anomalies=4)
    # shuffle the rows: the split follows the normals' keys, not the row order
    order = np.array([5, 2, 7, 0, 3, 6, 1, 4])
    metas = [data.metas[i] for i in order] + [{"key": "x", "source_key": "not-in-the-set"}]
    train = TrainSet(np.concatenate([data.images[order], data.images[4:5]]),
                     np.concatenate([data.masks[order], data.masks[4:5]]), np.append(data.labels[order], 1),
                     [data.defect_types[i] for i in order] + ["square"], [data.keys[i] for i in order] + ["x"], metas)
    recon, target, disc = parity_split(train)
    normals_by_key = sorted((k for k, y in zip(train.keys, train.labels, strict=True) if y == 0))
    odd = {normals_by_key[1], normals_by_key[3]}
    for row, clean in zip(recon, target, strict=True):
        assert train.keys[clean] in odd and train.labels[clean] == 0
        assert train.metas[row]["source_key"] == train.metas[clean]["source_key"]
    assert len(recon) == 2 + 2  # odd normals 1 and 3, and the anomalies made from them
    assert 8 in disc and sorted([*recon, *disc]) == list(range(9))  # the unpaired anomaly: discriminator side


def test_the_discriminator_side_never_trains_the_reconstruction() -> None:
    """Other images on the even side change the discriminator but not one reconstructor weight."""
    train = defect_set(0, normals=6, anomalies=6)
    _, _, disc = parity_split(train)
    other = train.images.copy()
    other[disc] = np.random.default_rng(9).integers(70, 130, other[disc].shape).astype(np.uint8)
    changed = TrainSet(other, train.masks, train.labels, train.defect_types, train.keys, train.metas)
    a = DETECTORS.get("draem_split")(**{**FAST, "epochs": 2}).fit(train)
    b = DETECTORS.get("draem_split")(**{**FAST, "epochs": 2}).fit(changed)
    for pa, pb in zip(a.reconstructor_.parameters(), b.reconstructor_.parameters(), strict=True):
        assert torch.equal(pa, pb)
    # nor its batch-norm statistics: the even side passes through in eval mode, as a test image does
    for (name, ba), bb in zip(a.reconstructor_.named_buffers(), b.reconstructor_.buffers(), strict=True):
        assert torch.equal(ba, bb), name
    assert any(not torch.equal(pa, pb) for pa, pb in
               zip(a.discriminator_.parameters(), b.discriminator_.parameters(), strict=True))


def test_draem_split_learns_the_toy_defects() -> None:
    train, test = defect_set(0, normals=16, anomalies=32), defect_set(1, normals=12, anomalies=12)
    detector = DETECTORS.get("draem_split")(**FAST, seed=1)
    assert detector.fit(train) is detector
    first, last = detector.losses_[0], detector.losses_[-1]
    assert last["l2"] < first["l2"] and last["focal"] < first["focal"]
    image_scores, maps = detector.score(test.images)
    assert image_scores.shape == (24,) and maps.shape == (24, 32, 32) and maps.dtype == np.float32
    assert auroc(image_scores, test.labels) > 0.9
    assert pixel_auroc(maps, test.masks) > 0.9


def test_draem_split_is_seeded() -> None:
    train, test = defect_set(0, normals=4, anomalies=4), defect_set(1, normals=2, anomalies=2)
    params = {**FAST, "epochs": 2, "seed": 2}
    a = DETECTORS.get("draem_split")(**params).fit(train).score(test.images)
    b = DETECTORS.get("draem_split")(**params).fit(train).score(test.images)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = DETECTORS.get("draem_split")(**{**params, "seed": 3}).fit(train).score(test.images)
    assert not np.array_equal(c[1], a[1])
    big = np.repeat(np.repeat(test.images, 2, axis=1), 2, axis=2)
    assert DETECTORS.get("draem_split")(**params).fit(train).score(big)[1].shape == (4, 64, 64)


def test_ssim_and_the_reconstructor_shapes() -> None:
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    assert torch.isclose(ssim(x, x), torch.tensor(1.0)) and ssim(x, 1 - x) < 0.5
    assert ReconstructiveNet(4, 3)(x).shape == x.shape


def test_draem_split_bad_input() -> None:
    cls = DETECTORS.get("draem_split")
    with pytest.raises(ValidationError, match="multiple of 2\\*\\*depth"):
        cls(image_size=36, depth=3)
    with pytest.raises(ValidationError, match="must be odd"):
        cls(score_window=4)
    with pytest.raises(DetectorError, match="call fit before score"):
        cls().score(np.zeros((1, 8, 8, 3), np.uint8))
    data = defect_set(0, normals=1, anomalies=2)
    with pytest.raises(DetectorError, match="at least 2 normals"):
        cls(**FAST).fit(data)


def test_score_window_defaults_to_draems_share_of_the_image() -> None:
    params = DETECTORS.get("draem_split").Params
    # DRAEM's 21 px at 256 px, the same share at other sizes (always odd, at least 1); a given one is kept
    assert [params(image_size=s, depth=3).window for s in (16, 64, 128, 256, 512)] == [1, 5, 11, 21, 41]
    assert params(image_size=64, depth=3, score_window=9).window == 9


def test_draems_step_decay_and_unweighted_focal_loss() -> None:
    """DRAEM's schedule: the rate ×0.2 from 80% of the epochs and again from 90%; its focal loss weighs
    anomalous and normal pixels alike."""
    train = defect_set(0, normals=4, anomalies=4)
    detector = DETECTORS.get("draem_split")(**{**FAST, "epochs": 10, "lr": 1e-3}).fit(train)
    assert np.allclose(detector.lrs_, [1e-3] * 8 + [2e-4, 4e-5])
    one = DETECTORS.get("draem_split")(**{**FAST, "epochs": 1, "lr": 1e-3}).fit(train)
    assert one.lrs_ == [1e-3]  # a one-epoch schedule is never decayed
    assert DETECTORS.get("draem_split")().params.focal_alpha == 0.5


def test_an_epoch_is_a_pass_over_the_whole_training_set() -> None:
    """The split halves each side's rows, not each network's updates: len(train)/batch steps an epoch, as
    DRAEM steps both networks on every batch of the set."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    train = defect_set(0, normals=6, anomalies=10)
    recon, _, disc = parity_split(train)
    steps = []
    handle = register_optimizer_step_post_hook(lambda optimizer, args, kwargs: steps.append(1))
    try:
        DETECTORS.get("draem_split")(**{**FAST, "epochs": 2, "batch_size": 4}).fit(train)
    finally:
        handle.remove()
    assert len(steps) == 2 * -(-len(train) // 4) > 2 * -(-max(len(recon), len(disc)) // 4)
