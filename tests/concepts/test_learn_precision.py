"""The GPU-only learning options, run on the CPU by calling ``learn_class`` directly (the CLI refuses them there).

bf16 and fp16 frozen models, fp16 loss scaling that survives a resume, and gradient checkpointing that
gives the gradients of a plain run. On a GPU box these are the code paths ``mixed_precision`` and
``gradient_checkpointing`` select.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from anomset.cli import main
from anomset.concepts import checkpoint
from anomset.concepts.classes import concept_classes
from anomset.concepts.frozen import load_frozen
from anomset.concepts.learn import learn_class
from anomset.recipe import load_recipe
from tests.concepts.conftest import fewshot_recipe


def prepared(tmp_path: Path, vit: Path, pipe: Path, dtype: torch.dtype, **learn):
    tmp_path.mkdir(parents=True, exist_ok=True)
    recipe = fewshot_recipe(tmp_path, vit, pipe, learn={"steps": 3, "save_every": 1, **learn})
    assert CliRunner().invoke(main, ["cluster", str(recipe), "--class", "washer"]).exit_code == 0
    loaded = load_recipe(recipe)
    spec = loaded.recipe.concepts
    return loaded, spec, load_frozen(spec, torch.device("cpu"), dtype), concept_classes(loaded, ["washer"])[0]


def learned_tokens(klass) -> torch.Tensor:
    return checkpoint.load(klass.folder / "gaa.safetensors").tensors["tokens"]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_learning_keeps_fp32_tokens_close_to_the_fp32_run(tmp_path: Path, vit: Path, tiny_pipe: Path,
                                                                         dtype: torch.dtype) -> None:
    runs = {}
    for name, kind in (("fp32", torch.float32), ("half", dtype)):
        loaded, spec, frozen, klass = prepared(tmp_path / name, vit, tiny_pipe, kind)
        weights = {k: v.clone() for k, v in frozen.unet.state_dict().items()}
        result = learn_class(klass, spec, "gaa", frozen, loaded.recipe_hash)
        assert result.steps_done == 3 and torch.isfinite(torch.tensor(result.final_loss))
        assert all(torch.equal(weights[k], v) for k, v in frozen.unet.state_dict().items())
        runs[name] = (result.final_loss, learned_tokens(klass), checkpoint.load(klass.folder / "gaa.safetensors"))
    (loss32, tokens32, _), (loss_half, tokens_half, saved) = runs["fp32"], runs["half"]
    assert tokens_half.dtype == torch.float32
    assert abs(loss_half - loss32) < 0.1 * loss32
    assert not torch.equal(tokens_half, tokens32)  # the half model really ran in half precision
    # Adam moves every coordinate about lr (5e-3) a step: zero, NaN or wrongly scaled gradients in half
    # precision would leave most coordinates far apart; rounding noise flips only the near-zero ones.
    assert ((tokens_half - tokens32).abs() < 1e-3).float().mean() > 0.9
    if dtype == torch.float16:
        assert saved.meta["loss_scale"] > 1.0  # the final state is saved with the scaler's state


def test_fp16_loss_scale_survives_a_resume(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    loaded, spec, frozen, klass = prepared(tmp_path / "a", vit, tiny_pipe, torch.float16)
    learn_class(klass, spec, "gaa", frozen, loaded.recipe_hash, stop_after=2)
    state = checkpoint.load(klass.folder / "gaa.state.safetensors")
    assert state.meta["step"] == 2 and state.meta["loss_scale"] > 1.0
    learn_class(klass, spec, "gaa", frozen, loaded.recipe_hash)
    resumed = learned_tokens(klass)
    loaded, spec, frozen, klass = prepared(tmp_path / "b", vit, tiny_pipe, torch.float16)
    learn_class(klass, spec, "gaa", frozen, loaded.recipe_hash)
    assert torch.equal(resumed, learned_tokens(klass))


def test_gradient_checkpointing_gives_the_plain_runs_tokens(tmp_path: Path, vit: Path, tiny_pipe: Path) -> None:
    tokens = {}
    for on in (False, True):
        loaded, spec, frozen, klass = prepared(tmp_path / str(on), vit, tiny_pipe, torch.float32,
                                               gradient_checkpointing=on)
        learn_class(klass, spec, "gaa", frozen, loaded.recipe_hash)
        assert frozen.unet.is_gradient_checkpointing == on
        tokens[on] = learned_tokens(klass)
    assert torch.allclose(tokens[True], tokens[False], atol=1e-6)
