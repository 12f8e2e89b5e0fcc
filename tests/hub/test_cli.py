"""``anomset card`` / ``push`` / ``build --push`` through the CLI, and token hygiene."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from anomset.cli import main
from anomset.hub import push as push_mod
from tests.conftest import tiny_recipe, write_recipe

from .fake_hub import FakeHfApi

TOKEN = "hf_TopSecretToken0123456789abcdef"


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeHfApi:
    api = FakeHfApi()
    monkeypatch.setattr(push_mod, "make_api", lambda: api)
    monkeypatch.setattr(push_mod.time, "sleep", lambda s: None)
    return api


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def all_text_under(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def test_push_cli_publishes_with_recipe_defaults(built, fake_api):
    result = invoke("push", built)
    assert result.exit_code == 0, result.output
    assert "published" in result.output and fake_api.repos["org/tiny"].tags.keys() == {"v1.0.0"}
    again = invoke("push", built)
    assert again.exit_code == 6 and "immutable" in again.output and "Traceback" not in again.output
    assert len(again.output.strip().splitlines()) == 1


def test_push_cli_on_a_rank_other_than_zero_publishes_nothing(built, fake_api, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    result = invoke("push", built)
    assert result.exit_code == 0 and fake_api.calls == []


def test_push_cli_dry_run_and_bad_repo(built, fake_api):
    result = invoke("push", built, "--repo", "org/other", "--tag", "v2", "--dry-run")
    assert result.exit_code == 0 and "would publish" in result.output and "org/other as v2" in result.output
    assert fake_api.calls == []
    bad = invoke("push", built, "--repo", "not-a-repo")
    assert bad.exit_code == 6 and bad.output.startswith("error: invalid repo id")


def test_token_never_appears_in_output_logs_or_files(built, fake_api, monkeypatch, caplog):
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    caplog.set_level(logging.DEBUG)
    outputs = [invoke("push", built, "--dry-run").output]
    # a server error that echoes the token back must be redacted
    fake_api.fail("create_repo", 403, message=f"token {TOKEN} has no write access")
    failed = invoke("push", built)
    assert failed.exit_code == 6 and "hf_***" in failed.output
    outputs.append(failed.output)
    ok = invoke("push", built)
    assert ok.exit_code == 0
    outputs += [ok.output, invoke("card", built).output]
    remote = "\n".join(b.decode("latin-1") for b in fake_api.files("org/tiny", "v1.0.0").values())
    for text in [*outputs, caplog.text, all_text_under(built), remote]:
        assert TOKEN not in text
        assert TOKEN[3:15] not in text


def test_real_client_takes_the_token_from_huggingface_hub(monkeypatch):
    from huggingface_hub.utils import get_token

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    api = push_mod.make_api()
    assert api.token is None  # anomset passes nothing: huggingface_hub resolves it per request
    assert get_token() == TOKEN


def test_card_cli_reports_kept_edits(built):
    card = built / "README.md"
    card.write_text(card.read_text().replace("## Limitations\n", "## Limitations\n\nMine.\n"))
    result = invoke("card", built)
    assert result.exit_code == 0 and "kept your edits to: limitations" in result.output
    assert "Mine." in card.read_text()


def test_build_push_publishes_after_the_build(tmp_path, fake_api):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(version="2.1.0", hub={"repo": "org/built"}))
    result = invoke("build", recipe, "--out", tmp_path / "out", "--no-progress", "--push")
    assert result.exit_code == 0, result.output
    assert "built" in result.output and "published" in result.output
    assert fake_api.repos["org/built"].tags.keys() == {"v2.1.0"}
    tagged = fake_api.files("org/built", "v2.1.0")
    assert 'revision="v2.1.0"' in tagged["README.md"].decode()


def test_build_push_without_repo_fails_before_building(tmp_path, fake_api):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe())
    result = invoke("build", recipe, "--out", tmp_path / "out", "--push")
    assert result.exit_code == 4 and "hub.repo" in result.output
    assert not (tmp_path / "out").exists()
