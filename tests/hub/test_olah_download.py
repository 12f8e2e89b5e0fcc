"""The download side for real: publish into a local git repo with the Hub layout, serve it with olah,
and read it back through ``load_dataset`` (and streaming) with HF_ENDPOINT pointing at the server.

The repo's history is the one ``anomset push`` produced against the fake HfApi (data commit, card
commit, tag), replayed into git. Plain git blobs are enough: olah serves them without LFS.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from anomset.dataset.reader import iter_decoded
from anomset.hub.push import push

from .fake_hub import FakeHfApi

REPO, TAG = "org/tiny", "v1.0.0"
pytestmark = pytest.mark.skipif(shutil.which("git") is None or shutil.which("olah-cli", path=str(
    Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")) is None, reason="needs git and olah")


def replay_into_git(api: FakeHfApi, repo_id: str, target: Path) -> None:
    """Write the fake repo's commits, in order, into a git repository at ``target`` and copy its tags."""
    repo = api.repos[repo_id]
    chain, oid = [], repo.head
    while oid:
        chain.append(oid)
        oid = repo.parents[oid]
    target.mkdir(parents=True)
    git = ["git", "-C", str(target), "-c", "user.name=anomset", "-c", "user.email=anomset@localhost"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    mapped = {}
    for oid in reversed(chain):
        for path in target.iterdir():
            if path.name != ".git":
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        for rel, data in repo.commits[oid].items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_bytes(data)
        subprocess.run([*git, "add", "-A"], check=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", repo.messages[oid]], check=True)
        mapped[oid] = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                                     text=True).stdout.strip()
    for tag, oid in repo.tags.items():
        subprocess.run([*git, "tag", tag, mapped[oid]], check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def olah_server(built: Path, tmp_path: Path):
    api = FakeHfApi()
    push(built, REPO, api=api, echo=lambda line: None)
    mirrors = tmp_path / "mirrors"
    replay_into_git(api, REPO, mirrors / "datasets" / REPO)
    port = free_port()
    config = tmp_path / "olah.toml"
    config.write_text(f'[basic]\nhost = "127.0.0.1"\nport = {port}\nmirror-netloc = "127.0.0.1:{port}"\n'
                      f'mirror-lfs-netloc = "127.0.0.1:{port}"\nmirrors-path = ["{mirrors}"]\n'
                      f'repos-path = "{tmp_path / "olah-repos"}"\n[accessibility]\noffline = true\n')
    olah = shutil.which("olah-cli", path=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    log = open(tmp_path / "olah.log", "wb")  # noqa: SIM115 (closed below, after the server stops)
    proc = subprocess.Popen([olah, "-c", str(config)], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/api/datasets/{REPO}/refs", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"olah did not start: {(tmp_path / 'olah.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def assert_json_close(got: object, want: object) -> None:
    """Equal JSON, floats within 1e-12: datasets' Json feature goes through ujson, which is off by an ulp
    on some floats (0.9307 comes back as 0.9307000000000001, also from a local folder)."""
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys()
        for key in want:
            assert_json_close(got[key], want[key])
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_json_close(g, w)
    else:
        assert got == want and type(got) is type(want)


CLIENT = r"""
import json, sys
from datasets import load_dataset
from huggingface_hub import hf_hub_download, list_repo_refs
repo, tag, missing_cache = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
try:  # first, with an empty cache: a revision that does not exist must fail, not fall back
    load_dataset(repo, "brick", revision="v9.9.9", cache_dir=missing_cache)
    out["missing"] = "loaded"
except Exception as exc:
    chain = []
    while exc is not None:
        chain.append(type(exc).__name__)
        exc = exc.__cause__ or exc.__context__
    out["missing"] = chain
try:
    hf_hub_download(repo, "README.md", repo_type="dataset", revision="v9.9.9", cache_dir=missing_cache)
    out["missing_file"] = "downloaded"
except Exception as exc:
    out["missing_file"] = type(exc).__name__
out["tags"] = [t.name for t in list_repo_refs(repo, repo_type="dataset").tags]
for config in ("all", "brick"):
    ds = load_dataset(repo, config, revision=tag)
    out[config] = {split: [
        {"key": r["__key__"], "image": list(r["image.png"].convert("RGB").tobytes()[:64]),
         "size": r["image.png"].size, "mask_sum": sum(r["mask.png"].convert("L").tobytes()),
         "cls": r["cls"], "json": r["json"]} for r in ds[split]] for split in ds}
stream = load_dataset(repo, "washer", revision=tag, split="test", streaming=True)
out["stream"] = [{"key": r["__key__"], "cls": r["cls"], "class": r["json"]["class"]} for r in stream]
sys.path.insert(0, sys.argv[4])
from anomset.sources.hf import HfSource
source = HfSource(repo=repo, revision=tag, configs=["washer"])
out["source"] = {c: len(source.items(c)) for c in source.classes()}
print("RESULT" + json.dumps(out))
"""


def test_load_dataset_through_olah_returns_what_was_built(built, olah_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=olah_server, HF_HOME=str(tmp_path / "hf-home"),
               HF_DATASETS_CACHE=str(tmp_path / "hf-datasets"), HF_HUB_DISABLE_TELEMETRY="1")
    root = str(Path(__file__).resolve().parents[2])
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CLIENT, REPO, TAG, str(tmp_path / "empty-cache"), root],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    print(f"olah client: {time.monotonic() - started:.1f}s")

    # datasets reports a missing revision as DatasetNotFoundError; olah answers a bare 404, which the
    # Hub client reads as RepositoryNotFoundError (the real Hub says RevisionNotFoundError)
    assert out["missing"][0] == "DatasetNotFoundError", out["missing"]
    assert out["missing_file"] in ("RevisionNotFoundError", "RepositoryNotFoundError")
    assert out["tags"] == [TAG]
    manifest = json.loads((built / "manifest.json").read_text())
    local = {meta["key"]: (image, mask, meta) for image, mask, meta in iter_decoded(built, manifest)}
    for config in ("all", "brick"):
        for split, rows in out[config].items():
            expected = {k for k, (_, _, m) in local.items()
                        if m["split"] == split and (config == "all" or m["class"] == config)}
            assert {r["key"] for r in rows} == expected, (config, split)
            for r in rows:
                image, mask, meta = local[r["key"]]
                assert r["image"] == list(image.tobytes()[:64]) and tuple(r["size"]) == image.shape[1::-1]
                assert r["mask_sum"] == int(mask.sum())
                assert_json_close(r["json"], meta)
                assert r["cls"] == int(meta["origin"] == "synthetic" or meta["defect_type"] != "good")
    assert sum(len(v) for v in out["all"].values()) == manifest["total_samples"]
    washer_test = sorted(k for k, (_, _, m) in local.items() if m["class"] == "washer" and m["split"] == "test")
    assert sorted(r["key"] for r in out["stream"]) == washer_test
    washer = manifest["counts"]["washer"]
    assert out["source"] == {"washer": sum(s["by_generator"].get(g, 0) for s in washer.values()
                                           for g in ("normal", "real"))}
