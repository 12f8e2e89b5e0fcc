"""The backbone: tiny random models saved with save_pretrained and loaded back through the real loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from anomset.errors import RecipeError
from anomset.features.backbone import Backbone, pick_device
from anomset.features.loading import IMAGENET_MEAN, parse_reference
from tests.features.tiny_models import tiny_resnet, tiny_vit


@pytest.fixture(scope="module")
def resnet(tmp_path_factory) -> Path:
    return tiny_resnet(tmp_path_factory.mktemp("resnet"))


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8)


def reference_hidden_states(folder: Path, pixel_values: torch.Tensor, **kwargs) -> tuple[torch.Tensor, ...]:
    """The untruncated model's hidden states, loaded independently of anomset."""
    from transformers import AutoModel

    model = AutoModel.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(pixel_values=pixel_values, output_hidden_states=True, **kwargs).hidden_states


def test_resnet_stages_2_and_3_on_the_stage2_grid(resnet: Path, images: np.ndarray) -> None:
    backbone = Backbone(str(resnet), image_size=64, pool=1, device="cpu")
    feats = backbone.features(images)
    assert feats.shape == (5, 16 + 32, 8, 8) and feats.dtype == torch.float32
    hidden = reference_hidden_states(resnet, backbone.preprocess(images))
    # stage2 as it is, stage3 (4×4) bilinearly resized onto the 8×8 grid: the later blocks were cut
    # off, and that changed nothing upstream.
    assert torch.allclose(feats[:, :16], hidden[2], atol=1e-5)
    upsampled = F.interpolate(hidden[3], size=(8, 8), mode="bilinear", align_corners=False)
    assert torch.allclose(feats[:, 16:], upsampled, atol=1e-5)
    assert len(backbone.net.encoder.stages) == 3


def test_local_average_is_a_3x3_mean_without_padding_bias(resnet: Path, images: np.ndarray) -> None:
    plain = Backbone(str(resnet), layers=["stage2"], image_size=64, pool=1, device="cpu").features(images)
    pooled = Backbone(str(resnet), layers=["stage2"], image_size=64, pool=3, device="cpu").features(images)
    assert torch.allclose(pooled[:, :, 3, 3], plain[:, :, 2:5, 2:5].mean(dim=(2, 3)), atol=1e-6)
    assert torch.allclose(pooled[:, :, 0, 0], plain[:, :, :2, :2].mean(dim=(2, 3)), atol=1e-6)


def test_layers_by_index_are_layers_by_name(resnet: Path, images: np.ndarray) -> None:
    by_name = Backbone(str(resnet), layers=["stage1", "stage3"], image_size=64, device="cpu")
    by_index = Backbone(str(resnet), layers=[1, -2], image_size=64, device="cpu")
    assert by_name.layer_names == ["stem", "stage1", "stage2", "stage3", "stage4"]
    assert torch.equal(by_name.features(images), by_index.features(images))


def test_batching_does_not_change_the_features(resnet: Path, images: np.ndarray) -> None:
    one = Backbone(str(resnet), image_size=64, batch_size=1, device="cpu").features(images)
    all_at_once = Backbone(str(resnet), image_size=64, batch_size=16, device="cpu").features(images)
    assert torch.allclose(one, all_at_once, atol=1e-5)


def test_inputs_are_resized_and_grayscale_is_repeated(resnet: Path) -> None:
    backbone = Backbone(str(resnet), image_size=32, device="cpu")
    gray = np.full((100, 80), 128, np.uint8)
    x = backbone.preprocess([gray])
    assert x.shape == (1, 3, 32, 32)
    expected = (128 / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor((0.229, 0.224, 0.225))
    assert torch.allclose(x[0, :, 5, 5], expected, atol=1e-5)


def test_normalisation_comes_from_the_preprocessor_config_when_there_is_one(tmp_path: Path) -> None:
    folder = tiny_resnet(tmp_path / "m", preprocessor={"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]})
    backbone = Backbone(str(folder), image_size=16, device="cpu")
    assert backbone.norm_source == "preprocessor_config.json"
    assert torch.allclose(backbone.preprocess([np.full((16, 16, 3), 255, np.uint8)]), torch.tensor(2.0))


@pytest.mark.parametrize(("kind", "prefix"), [("vit", 1), ("dinov2", 1), ("dinov2_registers", 5)])
def test_vit_patch_tokens_become_a_grid(tmp_path: Path, images: np.ndarray, kind: str, prefix: int) -> None:
    folder = tiny_vit(tmp_path / kind, kind=kind)
    backbone = Backbone(str(folder), layers=["stage2"], image_size=64, pool=1, device="cpu")
    feats = backbone.features(images)
    assert feats.shape == (5, 16, 8, 8)
    extra = {"interpolate_pos_encoding": True} if kind == "vit" else {}
    tokens = reference_hidden_states(folder, backbone.preprocess(images), **extra)[2]
    assert tokens.shape[1] == prefix + 64  # class (+ register) tokens first, then the 8×8 patches
    # patch token (row 2, column 5) sits at grid cell [2, 5]
    assert torch.allclose(feats[:, :, 2, 5], tokens[:, prefix + 2 * 8 + 5], atol=1e-5)


def test_provenance_identifies_network_and_extraction(tmp_path: Path, resnet: Path) -> None:
    record = Backbone(str(resnet), image_size=64, device="cpu").provenance()
    assert record["model"] == str(resnet) and record["model_type"] == "resnet"
    assert record["layers"] == ["stage2", "stage3"] and record["image_size"] == [64, 64] and record["pool"] == 3
    assert record["normalisation"] == "imagenet-default" and len(record["config_sha256"]) == 64
    again = Backbone(str(resnet), image_size=64, device="cpu").provenance()
    assert again == record  # stable across loads
    other = tiny_resnet(tmp_path / "wider", widths=(8, 16, 32, 128))
    changed = Backbone(str(other), image_size=64, device="cpu").provenance()
    assert changed["config_sha256"] != record["config_sha256"]
    reseeded = tiny_resnet(tmp_path / "reseeded", seed=1)
    same_config = Backbone(str(reseeded), image_size=64, device="cpu").provenance()
    assert same_config["config_sha256"] == record["config_sha256"]
    assert same_config["weights_sha256"] != record["weights_sha256"]


def test_auto_device_is_cpu_without_cuda() -> None:
    assert pick_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device("cpu") == "cpu"


def test_a_folder_that_is_not_a_model_is_one_line_naming_it(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RecipeError) as caught:
        Backbone(str(tmp_path), device="cpu")
    message = str(caught.value)
    assert str(tmp_path) in message and "config.json" in message and "fix:" in message and "\n" not in message


def test_config_without_weights_is_one_line(tmp_path: Path, resnet: Path) -> None:
    (tmp_path / "config.json").write_text((resnet / "config.json").read_text())
    with pytest.raises(RecipeError) as caught:
        Backbone(str(tmp_path), device="cpu")
    assert str(tmp_path) in str(caught.value) and "from_pretrained" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_broken_config_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(RecipeError) as caught:
        Backbone(str(tmp_path), device="cpu")
    assert str(tmp_path) in str(caught.value) and "\n" not in str(caught.value)


def test_an_uncached_hub_id_offline_is_one_line() -> None:
    with pytest.raises(RecipeError) as caught:
        Backbone("anomset-tests/no-such-model", device="cpu")
    assert "anomset-tests/no-such-model" in str(caught.value) and "\n" not in str(caught.value)


def test_an_unknown_layer_lists_the_layers(resnet: Path) -> None:
    with pytest.raises(RecipeError, match="has no layer 'layer9'; it has stem, stage1, stage2, stage3, stage4"):
        Backbone(str(resnet), layers=["layer9"], device="cpu")


@pytest.mark.parametrize("reference", ["./missing/folder", "/no/such/dir", "not a hub id!"])
def test_references_that_are_neither_folder_nor_hub_id(reference: str) -> None:
    with pytest.raises(ValueError, match="no such model folder, and not a Hub id"):
        parse_reference(reference)


def test_a_hub_id_parses_without_network() -> None:
    ref = parse_reference("microsoft/resnet-50", "main")
    assert not ref.is_local and ref.location == "microsoft/resnet-50" and ref.revision == "main"
