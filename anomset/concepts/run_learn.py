"""``anomset learn RECIPE``: learn every concept class's tokens, on one process or accelerate ranks."""

from __future__ import annotations

from collections.abc import Callable

from anomset.concepts.classes import concept_classes, concepts_spec
from anomset.concepts.learn import LearnResult, check_device, device_and_dtype, learn_class
from anomset.concepts.spec import METHODS
from anomset.errors import RecipeError
from anomset.recipe.load import LoadedRecipe


def run_learn(loaded: LoadedRecipe, only: list[str] | None = None, methods: list[str] | None = None,
              echo: Callable[[str], None] = lambda _: None, stop_after: int | None = None) -> list[LearnResult]:
    """Learn the concepts of each class (its entries' methods, or ``methods``); resumes what was saved.

    Under ``accelerate launch`` every rank computes a slice of each step's batch (data parallel); rank
    0 writes the files. A plain run is one process.
    """
    import torch
    from accelerate import PartialState

    spec = concepts_spec(loaded)
    for method in methods or []:
        if method not in METHODS:
            raise RecipeError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    wanted = spec.learn.device
    cpu = wanted.startswith("cpu") or (wanted == "auto" and not torch.cuda.is_available())
    state = PartialState(cpu=cpu)
    device, dtype = device_and_dtype(spec, cpu)
    if not cpu:
        device = state.device
    check_device(spec, device)
    if cpu:
        torch.set_num_threads(1)  # small convolutions on a shared CPU: one thread each (ENVIRONMENT.md)
    from anomset.concepts.frozen import load_frozen

    classes = concept_classes(loaded, only)
    frozen = load_frozen(spec, device, dtype)
    results = []
    say = echo if state.is_main_process else (lambda _: None)
    for klass in classes:
        for method in methods or klass.methods:
            result = learn_class(klass, spec, method, frozen, loaded.recipe_hash, state.process_index,
                                 state.num_processes, say, stop_after)
            state.wait_for_everyone()
            if result.steps_done == 0 and result.start_step == spec.learn.steps:
                say(f"{klass.name} {method}: already learned ({klass.folder})")
            elif result.steps_done:
                rate = result.steps_done / max(result.seconds, 1e-9)
                say(f"{klass.name} {method}: {len(result.groups)} groups, steps {result.start_step}->"
                    f"{result.start_step + result.steps_done} ({rate:.2f} steps/s), loss {result.final_loss:.4f}")
            results.append(result)
    return results
