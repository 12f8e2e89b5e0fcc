"""Concept learning: per group learned feature tokens (+ a shared position encoder for gaa) on a frozen model.

``gaa``: groups are the class's clusters, each with ``feature_tokens`` vectors, and one position encoder
maps a defect's mask to ``position_tokens`` more; the prompt is ``<prefix> <feature> <position>``.
``anogen``: groups are the defect types, ``anogen_tokens`` vectors each, no position tokens.
The loss is the noise-prediction error inside the real defect's mask only (latent cells it touches).
In fp16 the loss is scaled dynamically (a GradScaler) so the learned tokens' gradients do not underflow.

Every step draws its batch, noise and timesteps from a generator seeded by (seed, class, method,
step) and cuts it into micro-batches; the ranks share the micro-batches, and their gradients are
gathered and summed in micro-batch order. So a step is the same arithmetic whatever the number of
processes (bit-identical on the same hardware), and a resumed run continues exactly where the last
saved state left off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from anomset.concepts import checkpoint
from anomset.concepts.classes import ConceptClass
from anomset.concepts.frozen import DTYPES, DefectTensors, Frozen, defect_tensors
from anomset.concepts.identity import concept_hash
from anomset.concepts.spec import ConceptsSpec
from anomset.concepts.store import load_clusters
from anomset.concepts.tokens import PositionEncoder, encode, prompt_ids, word_embedding
from anomset.errors import RecipeError
from anomset.rng import derive_seed


class ConceptModel(torch.nn.Module):
    """What is learned: ``tokens`` (groups × T × D) and, for gaa, the position encoder."""

    def __init__(self, groups: int, tokens: int, dim: int, init: torch.Tensor, init_std: float,
                 position_tokens: int, generator: torch.Generator) -> None:
        super().__init__()
        start = init.view(1, 1, dim).expand(groups, tokens, dim)
        self.tokens = torch.nn.Parameter(start + init_std * torch.randn(groups, tokens, dim, generator=generator))
        self.position: PositionEncoder | None = None
        if position_tokens:
            # torch layers initialise from the global RNG: seed it from our generator, then restore it.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
                self.position = PositionEncoder(dim, position_tokens, init=init)

    def vectors(self, groups: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
        """``B × (T [+ P]) × D`` learned vectors for samples of ``groups`` (with their masks for gaa)."""
        chosen = self.tokens[groups]
        if self.position is None or masks is None:
            return chosen
        return torch.cat([chosen, self.position(masks).to(chosen.dtype)], dim=1)


def groups_for(klass: ConceptClass, method: str) -> tuple[list[str], list[int]]:
    """(group names, group index per shown defect): clusters for gaa, defect types for anogen."""
    if method == "gaa":
        saved = load_clusters(klass.folder, klass.cluster_hash)
        names = saved.clusters
        return names, [names.index(saved.assignment[d.key]) for d in klass.defects]
    names = sorted({d.defect_type for d in klass.defects})
    return names, [names.index(d.defect_type) for d in klass.defects]


def check_device(spec: ConceptsSpec, device: torch.device) -> None:
    """GPU-only options refused on a CPU, in one line each."""
    learn = spec.learn
    if device.type == "cpu" and learn.mixed_precision != "no":
        raise RecipeError(f"mixed_precision {learn.mixed_precision} needs a GPU, and this process runs on the CPU",
                          field="concepts.learn.mixed_precision", fix="set mixed_precision: 'no' on a CPU")
    if device.type == "cpu" and learn.gradient_checkpointing:
        raise RecipeError("gradient_checkpointing saves GPU memory; this process runs on the CPU",
                          field="concepts.learn.gradient_checkpointing", fix="set gradient_checkpointing: false")


def masked_noise_loss(frozen: Frozen, data: DefectTensors, index: torch.Tensor, noise: torch.Tensor,
                      timesteps: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared noise-prediction error over the latent cells inside each defect's mask."""
    latents = data.latents[index]
    noisy = frozen.scheduler.add_noise(latents, noise, timesteps)
    inputs = torch.cat([noisy, data.latent_mask[index], data.masked[index]], 1) if frozen.inpainting else noisy
    dtype = frozen.dtype
    pred = frozen.unet(inputs.to(dtype), timesteps, encoder_hidden_states=states.to(dtype)).sample.float()
    if frozen.scheduler.config.prediction_type == "v_prediction":
        target = frozen.scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    weight = data.latent_mask[index]
    error = ((pred - target) ** 2 * weight).sum((1, 2, 3))
    return error / (weight.sum((1, 2, 3)) * pred.shape[1]).clamp_min(1.0)


@dataclass
class LearnResult:
    class_name: str
    method: str
    groups: list[str]
    steps_done: int  # steps run by this call (0: the checkpoint was already complete)
    start_step: int
    seconds: float
    final_loss: float


def learn_class(klass: ConceptClass, spec: ConceptsSpec, method: str, frozen: Frozen, recipe_hash: str,
                rank: int = 0, world: int = 1, echo: Callable[[str], None] = lambda _: None,
                stop_after: int | None = None) -> LearnResult:
    """Learn (or finish learning) one class's concepts of ``method``; rank 0 writes the files.

    ``stop_after`` (tests, benchmarks): run at most that many steps in this call.
    """
    learn = spec.learn
    micro = learn.micro_batch or learn.batch_size
    if learn.batch_size % micro:
        raise RecipeError(f"micro_batch {micro} does not divide batch_size {learn.batch_size}",
                          field="concepts.learn.micro_batch", fix="use a divisor of batch_size")
    chunks = learn.batch_size // micro
    if chunks % world:
        raise RecipeError(f"batch_size {learn.batch_size} in micro-batches of {micro} ({chunks}) does not split "
                          f"over {world} processes", field="concepts.learn.micro_batch",
                          fix=f"set micro_batch so that batch_size / micro_batch is a multiple of {world}")
    names, group_of = groups_for(klass, method)
    digest = concept_hash(klass.cluster_hash, spec, method)
    final = checkpoint.concept_path(klass.folder, method)
    if final.is_file() and checkpoint.load(final).meta.get("concept_hash") == digest:
        return LearnResult(klass.name, method, names, 0, learn.steps, 0.0, float("nan"))
    tokens = learn.feature_tokens if method == "gaa" else learn.anogen_tokens
    position_tokens = learn.position_tokens if method == "gaa" else 0
    ids, start = prompt_ids(frozen.tokenizer, learn.prompt, tokens + position_tokens)
    init = word_embedding(frozen.text_encoder, frozen.tokenizer, learn.init_word)
    generator = torch.Generator().manual_seed(derive_seed(learn.seed, klass.name, method, "init"))
    model = ConceptModel(len(names), tokens, frozen.dim, init, learn.init_std, position_tokens, generator)
    model.to(frozen.device)
    params = list(model.parameters())
    optimizer = torch.optim.AdamW(params, lr=learn.lr, weight_decay=0.0)
    scaler = loss_scaler(frozen)
    step = _resume(klass, method, digest, model, optimizer, scaler)
    data = defect_tensors(frozen, klass.defects, learn.resolution, learn.mask_size)
    group_index = torch.tensor(group_of, device=frozen.device)
    if learn.gradient_checkpointing:
        frozen.unet.enable_gradient_checkpointing()
        frozen.unet.train()  # diffusers checkpoints only in train mode; the UNet has no dropout or batch norm
    meta = {"method": method, "class": klass.name, "groups": names, "tokens": tokens,
            "position_tokens": position_tokens, "prompt": learn.prompt, "dim": frozen.dim,
            "base_model": spec.model, "revision": spec.revision or "", "recipe_hash": recipe_hash,
            "concept_hash": digest, "cluster_hash": klass.cluster_hash, "steps": learn.steps,
            "mask_size": learn.mask_size, "resolution": learn.resolution}
    begun, first = time.perf_counter(), step
    mine = range(rank * chunks // world, (rank + 1) * chunks // world)  # this rank's micro-batches
    loss_value = float("nan")
    n_timesteps = int(frozen.scheduler.config.num_train_timesteps)
    while step < learn.steps and (stop_after is None or step - first < stop_after):
        draws = torch.Generator().manual_seed(derive_seed(learn.seed, klass.name, method, "step", step))
        index = torch.randint(len(klass.defects), (learn.batch_size,), generator=draws)
        noise = torch.randn((learn.batch_size, *data.latents.shape[1:]), generator=draws)
        timesteps = torch.randint(0, n_timesteps, (learn.batch_size,), generator=draws)
        grads, parts = [], []
        for chunk in mine:
            part = slice(chunk * micro, (chunk + 1) * micro)
            i, n, t = (x[part].to(frozen.device) for x in (index, noise, timesteps))
            with torch.autocast(frozen.device.type, dtype=frozen.dtype, enabled=frozen.dtype != torch.float32):
                vectors = model.vectors(group_index[i], data.masks[i.cpu()].to(frozen.device))
                losses = masked_noise_loss(frozen, data, i, n, t, encode(frozen.text_encoder, ids, start, vectors))
            loss = losses.sum() / learn.batch_size  # this micro-batch's part of the global mean
            grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(scaler.scale(loss), params,
                                                                             allow_unused=True,
                                                                             materialize_grads=True)]))
            parts.append(loss.detach())
        gradient, total = _sum_in_order(torch.stack(grads), torch.stack(parts), world)
        _set_grads(params, gradient)
        scaler.step(optimizer)  # fp16: unscales, and skips the step when the sum overflowed
        scaler.update()
        step += 1
        loss_value = float(total)
        if rank == 0 and (step % learn.save_every == 0 or step == learn.steps):
            _save_state(klass, method, model, optimizer, {**meta, "step": step, "loss": loss_value,
                                                          **_scaler_meta(scaler)})
            echo(f"{klass.name} {method}: step {step}/{learn.steps}, loss {loss_value:.4f}")
    if step >= learn.steps and rank == 0:
        checkpoint.save(final, _tensors(model), {**meta, "step": step, "loss": loss_value, **_scaler_meta(scaler)})
        checkpoint.state_path(klass.folder, method).unlink(missing_ok=True)
    return LearnResult(klass.name, method, names, step - first, first, time.perf_counter() - begun, loss_value)


def loss_scaler(frozen: Frozen) -> torch.amp.GradScaler:
    """Dynamic loss scaling when the frozen model runs in fp16 (its gradients would underflow); a no-op otherwise.

    Every rank sees the same summed gradient, so every rank takes (or skips) the same steps.
    """
    return torch.amp.GradScaler(frozen.device.type, enabled=frozen.dtype == torch.float16)


def _scaler_meta(scaler: torch.amp.GradScaler) -> dict[str, Any]:
    if not scaler.is_enabled():
        return {}
    state = scaler.state_dict()
    return {"loss_scale": float(state["scale"]), "loss_scale_tracker": int(state["_growth_tracker"])}


def _sum_in_order(grads: torch.Tensor, losses: torch.Tensor, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every rank's micro-batch gradients (``chunks × P``) and losses summed in global micro-batch order.

    Gathering them and adding in one fixed order (not an all-reduce, whose order depends on the number
    of processes) makes a step bit-identical on 1 or N processes of the same hardware.
    """
    if world > 1:
        import torch.distributed as dist

        gathered = [torch.empty_like(grads) for _ in range(world)]
        dist.all_gather(gathered, grads.contiguous())
        lost = [torch.empty_like(losses) for _ in range(world)]
        dist.all_gather(lost, losses.contiguous())
        grads, losses = torch.cat(gathered), torch.cat(lost)
    total, loss = grads[0].clone(), losses[0].clone()
    for row, value in zip(grads[1:], losses[1:], strict=True):
        total += row
        loss += value
    return total, loss


def _set_grads(params: list[torch.nn.Parameter], flat: torch.Tensor) -> None:
    offset = 0
    for p in params:
        p.grad = flat[offset:offset + p.numel()].view_as(p).clone()
        offset += p.numel()


def _tensors(model: ConceptModel) -> dict[str, torch.Tensor]:
    out = {"tokens": model.tokens.detach()}
    if model.position is not None:
        out.update({f"position.{k}": v for k, v in model.position.state_dict().items()})
    return out


def _save_state(klass: ConceptClass, method: str, model: ConceptModel, optimizer: torch.optim.Optimizer,
                meta: dict[str, Any]) -> None:
    tensors = _tensors(model)
    for index, state in optimizer.state_dict()["state"].items():
        for name, value in state.items():
            tensors[f"opt.{index}.{name}"] = torch.as_tensor(value).float()
    checkpoint.save(checkpoint.state_path(klass.folder, method), tensors, meta)


def _resume(klass: ConceptClass, method: str, digest: str, model: ConceptModel,
            optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler) -> int:
    """Load the last saved state of the same concept hash; the step to continue from (0: none)."""
    path = checkpoint.state_path(klass.folder, method)
    if not path.is_file():
        return 0
    saved = checkpoint.load(path)
    if saved.meta.get("concept_hash") != digest:
        return 0  # learned for other settings: start over (the file is replaced at the first save)
    with torch.no_grad():
        model.tokens.copy_(saved.tensors["tokens"])
        if model.position is not None:
            model.position.load_state_dict(saved.sub("position."))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in saved.sub("opt.").items():
        index, name = key.split(".", 1)
        state.setdefault(int(index), {})[name] = value
    full = optimizer.state_dict()
    full["state"] = state
    optimizer.load_state_dict(full)
    if scaler.is_enabled() and "loss_scale" in saved.meta:
        scaler.load_state_dict({**scaler.state_dict(), "scale": float(saved.meta["loss_scale"]),
                                "_growth_tracker": int(saved.meta["loss_scale_tracker"])})
    return int(saved.meta["step"])


def device_and_dtype(spec: ConceptsSpec, cpu: bool) -> tuple[torch.device, torch.dtype]:
    """The device accelerate gives this process, and the frozen model's dtype."""
    return torch.device("cpu") if cpu else torch.device("cuda"), DTYPES[spec.learn.mixed_precision]
