"""Batches inside one shard: consecutive samples of one model-backed entry share each model call.

A sample is rendered as a coroutine (``Renderer.sample_steps``) that yields every ``apply`` request of
its redraw policy and is sent the result. One sample alone is driven by ``drive``; a batch by
``drive_together``, which answers the pending requests of all its samples with one ``apply_batch``
call per round (a sample whose candidate failed the filters comes back with its redraw in the next
round). Batches are cut from one shard's plan order only, so their composition, and the bytes, do not
depend on how many processes build the dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from anomset.context import SampleContext

if TYPE_CHECKING:
    from anomset.build.plan import SampleSpec
    from anomset.build.render import Renderer
    from anomset.sample import Sample

# What a sample asks for: apply(image, mask, context, rng).
Request = tuple[np.ndarray, "np.ndarray | None", SampleContext, np.random.Generator]
T = TypeVar("T")


def drive(steps: Generator[Request, Any, T], apply: Callable[..., Any]) -> T:
    """Run one coroutine to its end, answering each request with ``apply(*request)``."""
    try:
        request = next(steps)
        while True:
            request = steps.send(apply(*request))
    except StopIteration as done:
        return done.value


def drive_together(all_steps: Sequence[Generator[Request, Any, T]],
                   apply_batch: Callable[[list, list, list, list], list]) -> list[T]:
    """Run coroutines in lockstep: each round, one ``apply_batch`` over every pending request, in order."""
    results: list[Any] = [None] * len(all_steps)
    pending: dict[int, Request] = {}
    for i, steps in enumerate(all_steps):
        try:
            pending[i] = next(steps)
        except StopIteration as done:
            results[i] = done.value
    while pending:
        order = sorted(pending)
        requests = [pending[i] for i in order]
        answers = apply_batch(*(list(column) for column in zip(*requests, strict=True)))
        for i, answer in zip(order, answers, strict=True):
            try:
                pending[i] = all_steps[i].send(answer)
            except StopIteration as done:
                del pending[i]
                results[i] = done.value
    return results


def batches(renderer: Renderer, specs: Iterable[SampleSpec]) -> Iterator[list[SampleSpec]]:
    """The shard's samples in plan order, grouped: a run of one model-backed entry is cut into batches of
    its ``batch_size``; every other sample is a group of its own."""
    group: list[SampleSpec] = []
    limit = 1
    for spec in specs:
        synth = renderer.synthesizer(spec)
        size = int(getattr(synth, "batch_size", 1)) if synth is not None and synth.model_backed else 1
        same_entry = bool(group) and (group[0].class_name, group[0].entry_index) == (spec.class_name,
                                                                                   spec.entry_index)
        if group and (size == 1 or not same_entry or len(group) >= limit):
            yield group
            group = []
        group.append(spec)
        limit = size
    if group:
        yield group


def render_samples(renderer: Renderer, specs: Iterable[SampleSpec]) -> Iterator[tuple[SampleSpec, Sample]]:
    """Every sample of a shard, in plan order; model-backed entries rendered a batch at a time."""
    for group in batches(renderer, specs):
        synth = renderer.synthesizer(group[0])
        if synth is None or not synth.model_backed:
            yield group[0], renderer.render(group[0])
            continue
        made = drive_together([renderer.sample_steps(spec) for spec in group], synth.apply_batch)  # type: ignore[attr-defined]
        yield from zip(group, made, strict=True)

