"""Concept learning on the tiny pipeline: frozen model, masked loss, checkpoints, refusals, resume after SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from anomset.cli import main
from anomset.concepts import checkpoint
from anomset.concepts.frozen import DefectTensors
from anomset.concepts.learn import learn_class, masked_noise_loss
from anomset.concepts.tokens import PositionEncoder, encode, prompt_ids
from tests.concepts.conftest import fewshot_recipe
from tests.helpers import build_env


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def clustered(tmp_path: Path, vit: Path, pipe: Path, **learn) -> Path:
    recipe = fewshot_recipe(tmp_path, vit, pipe, learn=learn)
    assert invoke("cluster", str(recipe), "--class", "washer").exit_code == 0
    return recipe


def test_learn_writes_both_checkpoints_and_leaves_the_model_frozen(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    from diffusers import AutoPipelineForInpainting

    recipe = clustered(tmp_path, vit, tiny_pipe)
    result = invoke("learn", str(recipe), "--method", "gaa", "--method", "anogen", "--class", "washer")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "concepts" / "washer"
    gaa = checkpoint.load(folder / "gaa.safetensors")
    anogen = checkpoint.load(folder / "anogen.safetensors")
    clusters = gaa.meta["groups"]
    assert gaa.tensors["tokens"].shape == (len(clusters), 8, 32) and any(k.startswith("position.") for k in gaa.tensors)
    assert anogen.meta["groups"] == ["hole", "scratch", "stain"] and anogen.tensors["tokens"].shape == (3, 1, 32)
    assert not any(k.startswith("position.") for k in anogen.tensors)
    for meta in (gaa.meta, anogen.meta):
        assert meta["base_model"] == str(tiny_pipe) and meta["revision"] == "" and meta["step"] == 6
        assert len(meta["recipe_hash"]) == 64 and len(meta["concept_hash"]) == 64
    assert not (folder / "gaa.state.safetensors").exists()
    # The base model is untouched: its weights on disk load bit-identical to a fresh copy's.
    fresh = AutoPipelineForInpainting.from_pretrained(tiny_pipe)
    from anomset.concepts.frozen import load_frozen
    from anomset.recipe import load_recipe

    spec = load_recipe(recipe).recipe.concepts
    frozen = load_frozen(spec, torch.device("cpu"), torch.float32)
    for a, b in zip(fresh.text_encoder.parameters(), frozen.text_encoder.parameters(), strict=True):
        assert torch.equal(a, b) and not b.requires_grad
    assert "already learned" in invoke("learn", str(recipe), "--method", "gaa", "--class", "washer").output


def test_learning_moves_only_the_learned_tokens(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    recipe = clustered(tmp_path, vit, tiny_pipe, steps=2, save_every=1, lr=0.5)
    from anomset.concepts.classes import concept_classes
    from anomset.concepts.frozen import load_frozen
    from anomset.concepts.learn import learn_class
    from anomset.recipe import load_recipe

    loaded = load_recipe(recipe)
    spec = loaded.recipe.concepts
    frozen = load_frozen(spec, torch.device("cpu"), torch.float32)
    before = {k: v.clone() for k, v in frozen.text_encoder.state_dict().items()}
    unet_before = {k: v.clone() for k, v in frozen.unet.state_dict().items()}
    klass = concept_classes(loaded, ["washer"])[0]
    learn_class(klass, spec, "gaa", frozen, loaded.recipe_hash, stop_after=1)
    state = checkpoint.load(klass.folder / "gaa.state.safetensors")
    assert state.meta["step"] == 1 and "opt.0.exp_avg" in state.tensors
    assert all(torch.equal(before[k], v) for k, v in frozen.text_encoder.state_dict().items())
    assert all(torch.equal(unet_before[k], v) for k, v in frozen.unet.state_dict().items())


class FakeUnet:
    """Returns a fixed prediction (so the loss's weighting can be checked by hand)."""

    def __init__(self, pred: torch.Tensor) -> None:
        self.pred, self.config = pred, type("C", (), {"in_channels": 9})()

    def __call__(self, inputs, timesteps, encoder_hidden_states):
        return type("O", (), {"sample": self.pred})()


def test_loss_counts_only_latent_cells_inside_the_mask() -> None:
    from diffusers import DDIMScheduler

    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2, :2] = 1.0
    noise = torch.zeros(1, 4, 4, 4)
    pred = torch.zeros(1, 4, 4, 4)
    pred[..., 2:, 2:] = 100.0  # wrong outside the mask only
    pred[..., :2, :2] = 1.0  # error 1 inside
    frozen = type("F", (), {"unet": FakeUnet(pred), "scheduler": DDIMScheduler(), "inpainting": True,
                            "dtype": torch.float32})()
    data = DefectTensors(torch.zeros(1, 4, 4, 4), torch.zeros(1, 4, 4, 4), mask, torch.zeros(1, 1, 8, 8))
    loss = masked_noise_loss(frozen, data, torch.tensor([0]), noise, torch.tensor([10]), torch.zeros(1, 3, 32))
    assert loss.item() == pytest.approx(1.0)


def test_spliced_tokens_reach_the_encoder_states(tiny_pipe: Path) -> None:
    from diffusers import AutoPipelineForInpainting

    pipe = AutoPipelineForInpainting.from_pretrained(tiny_pipe)
    ids, start = prompt_ids(pipe.tokenizer, "a photo of", 3)
    assert len(ids) == pipe.tokenizer.model_max_length
    a = encode(pipe.text_encoder, ids, start, torch.zeros(1, 3, 32))
    b = encode(pipe.text_encoder, ids, start, torch.ones(1, 3, 32))
    assert not torch.allclose(a[:, start:], b[:, start:]) and torch.allclose(a[:, :start], b[:, :start])  # causal
    positions = PositionEncoder(32, 4)(torch.rand(2, 1, 32, 32))
    assert positions.shape == (2, 4, 32)


def test_too_long_a_prompt_is_one_line(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    recipe = clustered(tmp_path, vit, tiny_pipe, feature_tokens=30)
    result = invoke("learn", str(recipe), "--class", "washer")
    assert result.exit_code == 2 and "concepts.learn.prompt" in result.output and result.output.count("\n") == 1


@pytest.mark.parametrize("option", [{"mixed_precision": "bf16"}, {"gradient_checkpointing": True}])
def test_gpu_only_options_are_refused_on_cpu(tmp_path: Path, vit: Path, tiny_pipe: Path, option: dict) -> None:
    recipe = clustered(tmp_path, vit, tiny_pipe, device="cpu", **option)
    result = invoke("learn", str(recipe), "--class", "washer")
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert f"concepts.learn.{next(iter(option))}" in result.output


def test_micro_batches_that_do_not_split_over_the_ranks_are_one_line(tmp_path: Path, vit: Path,
                                                                     tiny_pipe: Path) -> None:
    from anomset.concepts.classes import concept_classes
    from anomset.concepts.frozen import load_frozen
    from anomset.errors import RecipeError
    from anomset.recipe import load_recipe

    loaded = load_recipe(clustered(tmp_path, vit, tiny_pipe, batch_size=4, micro_batch=2))
    frozen = load_frozen(loaded.recipe.concepts, torch.device("cpu"), torch.float32)
    klass = concept_classes(loaded, ["washer"])[0]
    with pytest.raises(RecipeError, match=r"concepts\.learn\.micro_batch.*multiple of 4"):
        learn_class(klass, loaded.recipe.concepts, "gaa", frozen, loaded.recipe_hash, rank=0, world=4)


def test_a_folder_that_is_no_pipeline_is_one_line(tmp_path: Path, vit: Path) -> None:
    (tmp_path / "no-model").mkdir()
    recipe = clustered(tmp_path, vit, tmp_path / "no-model")
    result = invoke("learn", str(recipe), "--class", "washer")
    assert result.exit_code == 2 and "concepts.model" in result.output and "model_index.json" in result.output


def test_learn_without_clusters_says_to_cluster_first(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    recipe = fewshot_recipe(tmp_path, vit, tiny_pipe)
    result = invoke("learn", str(recipe), "--method", "gaa", "--class", "washer")
    assert result.exit_code == 4 and "anomset cluster" in result.output


def test_learning_resumes_after_sigkill_to_the_same_tensors(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    learn = {"steps": 16, "save_every": 2}
    reference = clustered(tmp_path / "ref", vit, tiny_pipe, **learn) if (tmp_path / "ref").mkdir() is None else None
    assert invoke("learn", str(reference), "--method", "gaa", "--class", "washer").exit_code == 0
    expected = checkpoint.load(tmp_path / "ref" / "concepts" / "washer" / "gaa.safetensors")

    (tmp_path / "run").mkdir()
    recipe = clustered(tmp_path / "run", vit, tiny_pipe, **learn)
    state = tmp_path / "run" / "concepts" / "washer" / "gaa.state.safetensors"
    proc = subprocess.Popen([sys.executable, "-m", "anomset", "learn", str(recipe), "--method", "gaa",
                             "--class", "washer"], env=build_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if state.exists() and checkpoint.load(state).meta["step"] >= 4:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "learning finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = checkpoint.load(state).meta["step"]
    assert 4 <= killed_at < 16
    result = invoke("learn", str(recipe), "--method", "gaa", "--class", "washer")
    assert result.exit_code == 0 and f"steps {killed_at}->16" in result.output
    resumed = checkpoint.load(tmp_path / "run" / "concepts" / "washer" / "gaa.safetensors")
    assert resumed.tensors.keys() == expected.tensors.keys()
    assert all(torch.equal(resumed.tensors[k], expected.tensors[k]) for k in expected.tensors)


@pytest.mark.slow
def test_two_accelerate_ranks_learn_what_one_process_learns(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    from tests.helpers import accelerate_launch

    learn = {"steps": 4, "save_every": 2, "batch_size": 2, "micro_batch": 1}
    results = {}
    for name, launch in (("one", None), ("two", accelerate_launch)):
        (tmp_path / name).mkdir()
        recipe = clustered(tmp_path / name, vit, tiny_pipe, **learn)
        args = ["-m", "anomset", "learn", str(recipe), "--method", "gaa", "--class", "washer"]
        command = launch(*args) if launch else [sys.executable, *args]
        done = subprocess.run(command, env=build_env(), capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        results[name] = checkpoint.load(tmp_path / name / "concepts" / "washer" / "gaa.safetensors")
    one, two = results["one"], results["two"]
    assert one.tensors.keys() == two.tensors.keys()
    # The same micro-batches, shared by the ranks, gradients summed in one order: the same tensors.
    assert all(torch.equal(one.tensors[key], two.tensors[key]) for key in one.tensors)
