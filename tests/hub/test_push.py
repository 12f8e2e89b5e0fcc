"""The upload sequence against a fake HfApi that enforces the Hub's rules."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import DatasetCard

from anomset.errors import PublishError
from anomset.hub import push as push_mod
from anomset.hub.push import push, upload_paths

from .fake_hub import FakeHfApi

REPO = "org/tiny"


def run_push(out, api, **kwargs):
    sleeps: list[float] = []
    lines: list[str] = []
    result = push(out, REPO, api=api, echo=lines.append, sleep=sleeps.append, **kwargs)
    return result, sleeps, lines


def test_push_sequence_commits_data_then_card_then_tags(built):
    (built / "data" / "brick" / "stray.tar.partial").write_bytes(b"half")
    api = FakeHfApi()
    result, _, _ = run_push(built, api)
    names = api.names()
    # the tag is looked up before the card is rendered for repo@tag, and again once the repo exists
    assert names == ["list_repo_refs", "create_repo", "list_repo_refs", "repo_info", "list_repo_files",
                     "create_commit", "get_paths_info", "create_commit", "create_tag"]
    data_call, card_call = [kw for n, kw in api.calls if n == "create_commit"]
    assert "README.md" not in data_call["paths"] and card_call["paths"] == ["README.md"]
    assert not any(p.startswith(".anomset") or p.endswith(".partial") for p in data_call["paths"])
    assert {"manifest.json", "recipe.yaml", "assets/preview.png"} <= set(data_call["paths"])
    repo = api.repos[REPO]
    # the card commit sits on the verified data commit, and the tag names the card commit
    assert repo.parents[result.card_commit] == result.data_commits[-1]
    assert card_call["parent_commit"] == result.data_commits[-1]
    assert repo.tags["v1.0.0"] == result.card_commit == repo.head
    remote = api.files(REPO, "v1.0.0")
    local = set(upload_paths(built)) | {"README.md", ".gitattributes"}
    assert set(remote) == local
    for path in local - {".gitattributes"}:
        assert remote[path] == (built / path).read_bytes(), path
    card = DatasetCard(remote["README.md"].decode())
    assert f'load_dataset("{REPO}", "brick", revision="v1.0.0")' in card.text


def test_manifest_shards_match_remote_bytes(built):
    api = FakeHfApi()
    run_push(built, api)
    manifest = json.loads((built / "manifest.json").read_text())
    remote = api.files(REPO, "v1.0.0")
    for shard in manifest["shards"]:
        assert len(remote[shard["path"]]) == shard["bytes"]


def test_existing_tag_is_refused_before_any_upload(built):
    api = FakeHfApi()
    run_push(built, api)
    commits_before = len(api.repos[REPO].commits)
    api.calls.clear()
    with pytest.raises(PublishError, match=r"already has version v1\.0\.0.*immutable.*bump"):
        run_push(built, api)
    assert "create_commit" not in api.names()
    assert len(api.repos[REPO].commits) == commits_before


def test_a_refused_push_leaves_the_local_card_alone(built):
    api = FakeHfApi()
    run_push(built, api)
    card = (built / "README.md").read_bytes()
    api.repos["someone/else"] = api.repos[REPO]
    with pytest.raises(PublishError, match=r"someone/else already has version v1\.0\.0"):
        push(built, "someone/else", api=api, echo=lambda line: None, sleep=lambda s: None)
    assert (built / "README.md").read_bytes() == card  # not re-rendered for someone/else


def test_tag_created_by_someone_else_meanwhile_is_refused(built):
    api = FakeHfApi()

    def sneak_tag(fake, repo_id):
        fake.repos[repo_id].tags.setdefault("v1.0.0", fake.repos[repo_id].head)

    api.on_commit = sneak_tag
    with pytest.raises(PublishError, match="immutable"):
        run_push(built, api)


def test_a_new_tag_is_accepted_and_old_extra_files_are_removed(built):
    api = FakeHfApi()
    run_push(built, api)
    extra = "data/brick/train-000009.tar"
    (built / extra).write_bytes((built / "data/brick/train-000000.tar").read_bytes())
    with pytest.raises(PublishError, match="not in the manifest"):  # a stray shard would join the globs
        run_push(built, api, tag="v1.0.1")
    (built / extra).unlink()
    api.create_commit(REPO, [push_mod_add(extra, b"old shard")], commit_message="old version", repo_type="dataset")
    result, _, _ = run_push(built, api, tag="v1.0.1")
    assert result.deleted == [extra]
    assert extra not in api.files(REPO, "v1.0.1")


def push_mod_add(path, data):
    from huggingface_hub import CommitOperationAdd

    return CommitOperationAdd(path, data)


def test_rate_limits_and_commit_races_are_retried_with_backoff(built):
    api = FakeHfApi()
    api.fail("create_commit", 429, retry_after="7")
    api.fail("get_paths_info", 503)
    raced = []

    def other_writer(fake, repo_id):
        if not raced:  # once: someone commits between our head read and our commit
            raced.append(True)
            repo = fake.repos[repo_id]
            fake._new_commit(repo, {**repo.commits[repo.head], "notes.txt": b"hi"}, "someone else")

    api.on_commit = other_writer
    result, sleeps, lines = run_push(built, api)
    assert result is not None and api.repos[REPO].tags["v1.0.0"] == result.card_commit
    assert sleeps[0] == 7.0  # Retry-After honoured
    assert len(sleeps) == 3 and sleeps[1:] == [2.0, 1.0]  # 412 after the 429 doubles; verify starts at 1 s
    assert "notes.txt" in api.files(REPO, "v1.0.0")
    assert any("HTTP 412" in line for line in lines)


def test_retries_are_bounded(built):
    api = FakeHfApi()
    api.fail("create_commit", *[429] * 10)
    with pytest.raises(PublishError, match="after 5 attempts: HTTP 429"):
        run_push(built, api)
    assert "create_tag" not in api.names()


def test_remote_damage_stops_before_card_and_tag(built):
    api = FakeHfApi()
    api.corrupt["data/washer/test-000000.tar"] = b"truncated"
    with pytest.raises(PublishError, match=r"do not match.*washer/test-000000\.tar"):
        run_push(built, api)
    assert api.names().count("create_commit") == 1 and "create_tag" not in api.names()
    assert "README.md" not in api.files(REPO)


def test_non_lfs_files_are_verified_by_git_oid(built):
    api = FakeHfApi()
    api.corrupt["recipe.yaml"] = (built / "recipe.yaml").read_bytes().replace(b"tiny", b"tinY")
    with pytest.raises(PublishError, match=r"recipe\.yaml git oid differs"):
        run_push(built, api)


def test_data_is_split_into_commits_within_file_limits(built, monkeypatch):
    monkeypatch.setattr(push_mod, "MAX_FILES_PER_COMMIT", 4)
    api = FakeHfApi(max_files_per_commit=4)
    result, _, _ = run_push(built, api)
    n_files = len(upload_paths(built))
    assert len(result.data_commits) == -(-n_files // 4) > 1
    repo = api.repos[REPO]
    for parent, child in zip(result.data_commits, result.data_commits[1:], strict=False):
        assert repo.parents[child] == parent


def test_fake_hub_enforces_its_rules(built):
    api = FakeHfApi(max_files_per_commit=2)
    api.create_repo(REPO, repo_type="dataset")
    ops = [push_mod_add(f"a{i}.txt", b"x") for i in range(3)]
    with pytest.raises(Exception, match="400"):
        api.create_commit(REPO, ops, commit_message="m", repo_type="dataset")
    with pytest.raises(Exception, match="412"):
        api.create_commit(REPO, ops[:1], commit_message="m", repo_type="dataset", parent_commit="0" * 40)
    with pytest.raises(Exception, match="404"):
        api.create_commit("org/none", ops[:1], commit_message="m", repo_type="dataset")
    api.create_tag(REPO, tag="v1", repo_type="dataset")
    with pytest.raises(Exception, match="409"):
        api.create_tag(REPO, tag="v1", repo_type="dataset")


def test_dry_run_lists_files_and_calls_nothing(built):
    api = FakeHfApi()
    card_before = (built / "README.md").read_bytes()
    (built / "x.partial").write_bytes(b"")
    result, _, lines = run_push(built, api, dry_run=True)
    assert result is None and api.calls == []
    text = "\n".join(lines)
    assert "data/brick/train-000000.tar" in text and "manifest.json" in text and "v1.0.0" in text
    assert ".anomset" not in text and ".partial" not in text
    assert (built / "README.md").read_bytes() == card_before


def test_damaged_local_shard_is_refused(built):
    shard = built / "data" / "brick" / "test-000000.tar"
    data = bytearray(shard.read_bytes())
    data[1000] ^= 0xFF
    shard.write_bytes(bytes(data))
    api = FakeHfApi()
    with pytest.raises(PublishError, match=r"differs from manifest\.json"):
        run_push(built, api)
    assert api.calls == []


def test_unauthorized_gives_login_fix(built):
    api = FakeHfApi()
    api.fail("create_repo", 401)
    with pytest.raises(PublishError, match="hf auth login"):
        run_push(built, api)
