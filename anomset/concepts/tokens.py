"""Learned tokens in a frozen text encoder: prompts ``<prefix> <feature tokens> <position tokens>``.

The vocabulary is never touched: the prompt is tokenised with placeholders where the learned tokens
go, and a forward hook on the token-embedding layer replaces the placeholders' embeddings with the
learned vectors. So every weight of the text encoder stays frozen and bit-identical (no vocabulary
row can drift, which adding tokens and zeroing the other rows' gradients only approximates), and the
same code serves training and generation (``prompt_embeds`` for the pipeline).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from anomset.errors import RecipeError


def prompt_ids(tokenizer: Any, prefix: str, learned: int, field: str = "concepts.learn") -> tuple[list[int], int]:
    """Token ids ``[bos, prefix..., placeholder × learned, eos, pad...]`` and where the placeholders start."""
    ids = tokenizer(prefix, truncation=False)["input_ids"]
    body, eos = ids[:-1], ids[-1]
    length = tokenizer.model_max_length
    if len(body) + learned + 1 > length:
        raise RecipeError(f"'{prefix}' plus {learned} learned tokens needs {len(body) + learned + 1} positions; "
                          f"the text encoder has {length}", field=f"{field}.prompt",
                          fix="shorten the prompt or use fewer feature/position tokens")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    placeholder = body[-1]  # any valid id: its embedding is replaced
    sequence = body + [placeholder] * learned + [eos]
    return sequence + [pad] * (length - len(sequence)), len(body)


def token_names(prefix: str, groups: list[str], count: int) -> list[str]:
    """Readable names of learned tokens, for the recorded prompt (``<washer-c0-0>``...)."""
    return [f"<{prefix}-{g}-{i}>" for g in groups for i in range(count)]


@contextlib.contextmanager
def spliced(text_encoder: Any, start: int, vectors: torch.Tensor) -> Iterator[None]:
    """While active, token embeddings ``start : start + T`` of every prompt are ``vectors`` (B×T×D)."""

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        out = output.clone()
        out[:, start:start + vectors.shape[1]] = vectors.to(out.dtype)
        return out

    handle = text_encoder.get_input_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def encode(text_encoder: Any, ids: list[int], start: int, vectors: torch.Tensor) -> torch.Tensor:
    """``B×L×D`` encoder states of the prompt with ``vectors`` (B×T×D) spliced in at ``start``."""
    device = next(text_encoder.parameters()).device
    batch = torch.tensor([ids] * vectors.shape[0], device=device)
    with spliced(text_encoder, start, vectors):
        return text_encoder(batch)[0]


def empty_prompt(text_encoder: Any, tokenizer: Any, batch: int) -> torch.Tensor:
    """The unconditional (empty prompt) states, for classifier-free guidance."""
    device = next(text_encoder.parameters()).device
    ids = tokenizer("", padding="max_length", max_length=tokenizer.model_max_length, return_tensors="pt").input_ids
    with torch.no_grad():
        return text_encoder(ids.to(device))[0].expand(batch, -1, -1)


class PositionEncoder(nn.Module):
    """A mask → ``tokens`` embeddings: a 3-stage CNN, a pyramid (stage k pooled to a 4/2/1 grid), linear heads.

    Shallow stages keep where the mask is (a 4×4 grid), the deepest one its overall shape; each head
    reads the whole pyramid and writes one token. Heads start at ``init`` (a word's embedding), so
    position tokens begin as ordinary words.
    """

    GRIDS = (4, 2, 1)

    def __init__(self, dim: int, tokens: int = 4, width: int = 16, init: torch.Tensor | None = None) -> None:
        super().__init__()
        chans = [1, width, 2 * width, 4 * width]
        self.stages = nn.ModuleList(nn.Sequential(nn.Conv2d(chans[i], chans[i + 1], 3, stride=2, padding=1),
                                                  nn.GroupNorm(4, chans[i + 1]), nn.SiLU()) for i in range(3))
        features = sum(c * g * g for c, g in zip(chans[1:], self.GRIDS, strict=True))
        self.heads = nn.ModuleList(nn.Linear(features, dim) for _ in range(tokens))
        with torch.no_grad():
            for head in self.heads:
                head.weight.mul_(0.1)
                head.bias.copy_(init if init is not None else torch.zeros(dim))

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        """``B×1×S×S`` masks in [0, 1] → ``B×tokens×dim``."""
        x, pyramid = masks, []
        for stage, grid in zip(self.stages, self.GRIDS, strict=True):
            x = stage(x)
            pyramid.append(nn.functional.adaptive_avg_pool2d(x, grid).flatten(1))
        joint = torch.cat(pyramid, dim=1)
        return torch.stack([head(joint) for head in self.heads], dim=1)


def word_embedding(text_encoder: Any, tokenizer: Any, word: str) -> torch.Tensor:
    """Mean input embedding of ``word``'s tokens (how learned tokens are initialised)."""
    ids = tokenizer(word, add_special_tokens=False)["input_ids"] or [tokenizer.bos_token_id]
    table = text_encoder.get_input_embeddings().weight
    return table[torch.tensor(ids, device=table.device)].float().mean(0).detach().cpu()
