"""Fixtures the detector tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.features.tiny_models import tiny_resnet


@pytest.fixture(scope="module")
def resnet(tmp_path_factory) -> Path:
    """A tiny random ResNet saved with ``save_pretrained`` (one per test module)."""
    return tiny_resnet(tmp_path_factory.mktemp("resnet"))
