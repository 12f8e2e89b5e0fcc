"""Load a diffusers inpainting pipeline once per process: check the reference, choose dtype and device, say what it is.

A reference is a local folder written by ``save_pretrained`` (it must hold ``model_index.json``) or a
Hub id (read through the Hub client, so its local cache works offline). Every problem becomes one
``RecipeError`` line. Loaded pipelines are shared by every synthesizer of the process that asks for the
same (model, revision, dtype, device, offload): a rank building several classes loads its model once.
Torch and diffusers are imported inside the functions: this module is imported when a recipe is validated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anomset.errors import RecipeError
from anomset.features.loading import HUB_ID, ModelRef

# The documented default: Stable Diffusion 1.5 inpainting (no weights ship with anomset).
DEFAULT_INPAINT_MODEL = "stable-diffusion-v1-5/stable-diffusion-inpainting"
PIPELINE_INDEX = "model_index.json"
DTYPES = ("float32", "bfloat16", "float16")
# Half precision on a CPU is refused: many CPU kernels lack float16 and those that have it are slow.
GPU_ONLY_DTYPES = ("float16",)
WEIGHT_SUFFIXES = (".safetensors", ".bin")
# What a sample records as the model of a local folder: its place is a location (not the data), its
# ``weights_sha256`` says which weights it holds.
LOCAL_MODEL = "local"
FIX = ("pass a folder written by a diffusers pipeline's save_pretrained (model_index.json + component folders) "
       "or a Hub id that is in the local cache")


def _looks_like_path(reference: str) -> bool:
    return reference.startswith(("/", ".", "~")) or "\\" in reference or reference.count("/") > 1


def parse_pipeline_reference(reference: str, revision: str | None = None) -> ModelRef:
    """A ``ModelRef`` for a pipeline folder or a Hub id, checked without loading anything (no network).

    Raises ``ValueError`` (a recipe validator, which the recipe loader locates) for a folder that is not
    a diffusers pipeline, or a string that is neither a folder nor a Hub id.
    """
    path = Path(reference).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{reference}: is a file, not a diffusers pipeline folder (fix: {FIX})")
        index = path / PIPELINE_INDEX
        if not index.is_file():
            raise ValueError(f"{reference}: not a diffusers pipeline folder, it has no {PIPELINE_INDEX} (fix: {FIX})")
        try:
            data = json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ValueError(f"{reference}: its {PIPELINE_INDEX} is not valid JSON (fix: {FIX})") from None
        if not isinstance(data, dict) or "_class_name" not in data or "unet" not in data:
            raise ValueError(f"{reference}: its {PIPELINE_INDEX} names no pipeline class with a unet (fix: {FIX})")
        return ModelRef(reference, path.resolve(), revision)
    if _looks_like_path(reference) or not HUB_ID.match(reference):
        raise ValueError(f"{reference}: no such pipeline folder, and not a Hub id (fix: {FIX})")
    return ModelRef(reference, None, revision)


def check_device_options(device: str, dtype: str, cpu_offload: bool, field: str) -> None:
    """Refuse, in one line, options that need an accelerator when ``device`` is the CPU."""
    if dtype not in DTYPES:
        raise RecipeError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}", field=f"{field}.dtype")
    if not device.startswith("cpu"):
        return
    if dtype in GPU_ONLY_DTYPES:
        raise RecipeError(f"dtype {dtype} needs a GPU, and this process runs on the CPU", field=f"{field}.dtype",
                          fix="use dtype: float32 (or bfloat16) on a CPU, or build on a machine with a GPU")
    if cpu_offload:
        raise RecipeError("cpu_offload moves model parts between the GPU and the CPU; this process has no GPU",
                          field=f"{field}.cpu_offload", fix="set cpu_offload: false on a CPU")


@dataclass
class LoadedPipeline:
    """A pipeline on its device, and what identifies it (recorded in every sample it makes)."""

    pipe: Any
    ref: ModelRef
    device: str
    dtype: str
    provenance: dict[str, Any] = field(default_factory=dict)
    users: int = 0


_PIPELINES: dict[tuple[str, str, str, str, bool], LoadedPipeline] = {}


def acquire_pipeline(ref: ModelRef, *, device: str, dtype: str = "float32", cpu_offload: bool = False,
                     field: str = "params") -> LoadedPipeline:
    """The inpainting pipeline of ``ref`` on ``device``: loaded on the first call, shared afterwards.

    ``field`` is where the options sit in the recipe (errors name ``<field>.model``, ``<field>.dtype``).
    Every ``acquire_pipeline`` is matched by a ``release_pipeline``; the last release frees it.
    """
    check_device_options(device, dtype, cpu_offload, field)
    key = (ref.location, ref.revision or "", dtype, device, cpu_offload)
    loaded = _PIPELINES.get(key)
    if loaded is None:
        loaded = _load(ref, device, dtype, cpu_offload, field)
        _PIPELINES[key] = loaded
    loaded.users += 1
    return loaded


def release_pipeline(loaded: LoadedPipeline) -> None:
    """One user fewer; the pipeline (and its accelerator memory) is freed when none is left."""
    loaded.users -= 1
    if loaded.users > 0:
        return
    for key, held in list(_PIPELINES.items()):
        if held is loaded:
            del _PIPELINES[key]
    if not loaded.device.startswith("cpu"):
        import torch

        loaded.pipe = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _load(ref: ModelRef, device: str, dtype: str, cpu_offload: bool, field: str) -> LoadedPipeline:
    import torch
    from diffusers import AutoPipelineForInpainting

    if device.startswith("cpu") and "OMP_NUM_THREADS" not in os.environ:
        # Builds parallelise by process; more torch threads per process oversubscribe the cores (a tiny
        # inpainting call runs ~30x slower with 2 threads on a busy 2-core box, ENVIRONMENT.md).
        torch.set_num_threads(1)
    kwargs: dict[str, Any] = {"revision": ref.revision, _dtype_keyword(): getattr(torch, dtype)}
    index = _pipeline_index(ref, f"{field}.model")
    if "safety_checker" in index:
        # Industrial close-ups are not what the NSFW checker was trained on; it would only blank samples.
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        with _quiet_loading():
            pipe = AutoPipelineForInpainting.from_pretrained(ref.location, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecipeError(f"{ref.name}: cannot load it as a diffusers inpainting pipeline: {first[:200]}",
                          field=f"{field}.model", fix=FIX) from None
    if cpu_offload:
        pipe.enable_model_cpu_offload(device=device)
    else:
        pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return LoadedPipeline(pipe, ref, device, dtype, provenance(ref, index, pipe))


def _dtype_keyword() -> str:
    """``dtype`` on diffusers that know it (it deprecates ``torch_dtype``), else ``torch_dtype``."""
    import diffusers
    from packaging.version import Version

    return "dtype" if Version(diffusers.__version__) >= Version("0.42") else "torch_dtype"


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No loading bars from diffusers and transformers (they would break the build's progress line)."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        diffusers_logging.enable_progress_bar()
        transformers_logging.enable_progress_bar()


def _pipeline_index(ref: ModelRef, field: str) -> dict[str, Any]:
    """The pipeline's ``model_index.json`` (from the folder, or the Hub client's cache)."""
    if ref.folder is not None:
        path: Path | None = ref.folder / PIPELINE_INDEX
    else:
        try:
            path = Path(_hub_file(ref, PIPELINE_INDEX))
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RecipeError(f"{ref.name}: cannot read its {PIPELINE_INDEX}: {first[:200]}", field=field,
                              fix=FIX) from None
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[union-attr]


def _hub_file(ref: ModelRef, filename: str) -> str:
    from huggingface_hub import hf_hub_download

    return hf_hub_download(ref.name, filename, revision=ref.revision)


def hub_commit(ref: ModelRef) -> str:
    """The commit a Hub reference resolves to (its cache snapshot's name); '' for a folder or when unknown."""
    if ref.folder is not None:
        return ""
    try:
        path = Path(_hub_file(ref, PIPELINE_INDEX))
    except Exception:
        return ""
    return path.parent.name if path.parent.parent.name == "snapshots" else ""


def weights_sha256(folder: Path) -> str:
    """sha256 over every weight file of a pipeline folder (relative name and content), which no commit names."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES)):
        digest.update(path.relative_to(folder).as_posix().encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def provenance(ref: ModelRef, index: dict[str, Any], pipe: Any) -> dict[str, Any]:
    """What identifies the loaded pipeline: model id (``local`` for a folder), revision, Hub commit or local
    weights hash, class. No path: the same weights anywhere give the same record."""
    record: dict[str, Any] = {
        "model": ref.name if ref.folder is None else LOCAL_MODEL,
        "revision": ref.revision or "",
        "commit": hub_commit(ref),
        "pipeline": type(pipe).__name__,
        "diffusers_version": str(index.get("_diffusers_version", "")),
    }
    if ref.folder is not None:
        record["weights_sha256"] = weights_sha256(ref.folder)
    return record
