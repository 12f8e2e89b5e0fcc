"""Model folder fingerprints: content not place, cached across processes, and what concepts hashes make of them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from anomset.concepts.identity import cluster_hash, concept_hash
from anomset.concepts.spec import ConceptsSpec
from anomset.features import fingerprint
from anomset.features.fingerprint import model_fingerprint
from tests.features.tiny_models import tiny_resnet, tiny_vit


def _retrain(folder: Path) -> None:
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, other content
    weights.write_bytes(bytes(data))


def test_fingerprint_follows_content_not_place_and_is_cached_on_disk(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    here = tiny_resnet(tmp_path / "here")
    there = tmp_path / "there"
    shutil.copytree(here, there)
    first = model_fingerprint(here)
    assert first.startswith("model:") and model_fingerprint(there) == first
    assert model_fingerprint(tiny_resnet(tmp_path / "other", seed=1)) != first
    monkeypatch.setattr(fingerprint, "_SEEN", {})  # a new process: the user's cache folder answers
    monkeypatch.setattr(fingerprint, "weights_sha256", lambda folder: pytest.fail("hashed again"))
    assert model_fingerprint(here) == first
    monkeypatch.undo()
    _retrain(here)
    assert model_fingerprint(here) != first  # the size and mtime signature changed


def test_concept_hashes_keep_a_moved_model_folder_and_change_with_its_weights(tmp_path: Path) -> None:
    tiny_vit(tmp_path / "a" / "vit")
    tiny_resnet(tmp_path / "a" / "model")  # stands in for the pipeline: only its files are hashed here
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    source = {"type": "toy", "params": {}}

    def hashes(where: str) -> tuple[str, str]:
        spec = ConceptsSpec(dir="c", model=str(tmp_path / where / "model"),
                            cluster={"backbone": str(tmp_path / where / "vit")})
        clusters = cluster_hash(source, (64, 64), "washer", ["k1"], spec)
        return clusters, concept_hash(clusters, spec, "gaa")

    assert hashes("a") == hashes("b")
    _retrain(tmp_path / "b" / "model")
    assert hashes("b")[0] == hashes("a")[0] and hashes("b")[1] != hashes("a")[1]
    _retrain(tmp_path / "b" / "vit")
    assert hashes("b")[0] != hashes("a")[0]
    hub = ConceptsSpec(dir="c", model="org/inpaint")
    assert concept_hash("x", hub, "gaa") != concept_hash("x", ConceptsSpec(dir="c", model="org/other"), "gaa")
