"""``anomset inspect``: counts read from the shards; every mismatch with manifest.json names the shard."""

from __future__ import annotations

import json
import shutil
import tarfile
from collections import Counter
from pathlib import Path

import pytest
from built_output import build_tiny, copy_of
from click.testing import CliRunner

from anomset.cli import main
from anomset.inspect import inspect_output


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("inspect"))


def run(*args: str):
    return CliRunner().invoke(main, ["inspect", *map(str, args)])


def test_counts_match_manifest(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text())
    result = inspect_output(built)
    assert result.samples == manifest["total_samples"] and result.shards == len(manifest["shards"])
    generators: Counter = Counter()
    defects: Counter = Counter()
    for (cls, split, defect, generator, _), n in result.counts.items():
        generators[(cls, split, generator)] += n
        defects[(cls, split, defect)] += n
    for cls, splits in manifest["counts"].items():
        for split, counts in splits.items():
            assert {g: generators[(cls, split, g)] for g in counts["by_generator"]} == counts["by_generator"]
            assert {d: defects[(cls, split, d)] for d in counts["by_defect_type"]} == counts["by_defect_type"]
            assert sum(n for k, n in result.counts.items() if k[:2] == (cls, split) and k[4]) == counts["anomalies"]


def test_cli_prints_tables(built: Path) -> None:
    result = run(built)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("tiny 1.0.0") and "29 samples" in lines[0]
    assert any(line.split()[:3] == ["brick", "train", "10"] for line in lines)
    assert "by generator" in result.output and "by defect type" in result.output
    assert lines[-1] == "ok: 7 shards match manifest.json (sizes, sha256 and sample counts)"
    assert run(built, "--no-verify").output.splitlines()[-1].endswith("sha256 not checked)")


def _flip_pixel_byte(shard: Path) -> None:
    """Change one byte of an image's data (the tar stays readable, its size stays the same)."""
    with tarfile.open(shard) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith(".image.png"))
    data = bytearray(shard.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0xFF
    shard.write_bytes(bytes(data))


def _error(result) -> str:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 4 and len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_sha256_mismatch_and_no_verify(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path / "out")
    shard = out / "data" / "washer" / "train-000001.tar"
    _flip_pixel_byte(shard)
    assert _error(run(out)) == f"error: {shard}: shard sha256 differs from manifest.json " \
                               "(fix: rerun anomset build to rewrite it)"
    assert run(out, "--no-verify").exit_code == 0


def test_missing_shard(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path / "out")
    shard = out / "data" / "brick" / "test-000001.tar"
    shard.unlink()
    assert f"{shard}: shard listed in manifest.json is missing" in _error(run(out, "--no-verify"))


@pytest.mark.parametrize("name", ["train-000009.tar", "train-000000.tar.partial"])
def test_extra_file(built: Path, tmp_path: Path, name: str) -> None:
    out = copy_of(built, tmp_path / "out")
    extra = out / "data" / "brick" / name
    shutil.copy(out / "data" / "brick" / "train-000000.tar", extra)
    message = _error(run(out))
    assert message.startswith(f"error: {extra}: ")
    assert ("unfinished shard" if name.endswith(".partial") else "not listed in manifest.json") in message


def test_sample_count_mismatch(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path / "out")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["shards"][0]["samples"] += 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    shard = out / manifest["shards"][0]["path"]
    assert f"{shard}: shard holds" in _error(run(out))


def test_truncated_shard(built: Path, tmp_path: Path) -> None:
    out = copy_of(built, tmp_path / "out")
    shard = out / "data" / "brick" / "train-000000.tar"
    shard.write_bytes(shard.read_bytes()[:1000])
    assert f"{shard}: shard is 1000 bytes" in _error(run(out, "--no-verify"))


def test_not_a_build(tmp_path: Path) -> None:
    assert "no manifest.json" in _error(run(tmp_path))
