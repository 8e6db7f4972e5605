"""Model and checkpoint files: safetensors with JSON metadata, written atomically, never pickled.

``model.safetensors`` holds the EMA generator's tensors; its metadata key ``cgan_augment`` holds a
JSON object with everything needed to rebuild it (format version, family and hyper-parameters,
class names and training counts, image size, channels, value range, the training config and data
spec, the library version). ``checkpoint.safetensors`` adds the discriminator, the raw generator
and the optimiser states (flattened to tensors) so that training resumes exactly.

Every file is checked against the metadata (keys, shapes, dtypes) before any tensor is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Union

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .._util.devices import DeviceLike, resolve_device
from .._util.files import atomic_path
from ..errors import ConfigError, ModelFileError, OutputDirError
from .networks import Generator, build_generator, generator_class

__all__ = ["FORMAT_VERSION", "save_generator", "load_generator", "read_metadata", "save_checkpoint", "load_checkpoint"]

FORMAT_VERSION = 1
META_KEY = "cgan_augment"
ARCH_KEYS = ("family", "num_classes", "image_size", "channels", "z_dim", "width")
MAX_ARCH = {"num_classes": 100_000, "image_size": 512, "channels": 3, "z_dim": 4096, "width": 1024}


def _library_version() -> str:
    from .._version import __version__

    return __version__


def _atomic_save(tensors: dict, path: Union[str, Path], metadata: dict) -> None:
    """Write a safetensors file through a temporary file in the same folder, then rename it into
    place, so a crash or full disk never leaves a half-written file at ``path``."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    with atomic_path(path, fsync=True) as tmp:
        try:
            save_file(tensors, tmp, metadata={META_KEY: json.dumps(metadata)})
        except SafetensorError as e:
            raise OutputDirError(f"{path}: could not write ({e}); the previous file, if any, is unchanged.") from None


def _read_header(path: Union[str, Path]) -> tuple[dict, dict]:
    """(metadata, {key: (dtype, shape)}) from the file's header, without reading any tensor."""
    path = str(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file.")
    try:
        with safe_open(path, framework="pt") as f:
            raw = f.metadata() or {}
            shapes = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:  # truncated, forged or not safetensors at all
        raise ModelFileError(f"{path}: not a valid safetensors file ({e}).") from None
    if META_KEY not in raw:
        raise ModelFileError(f"{path}: safetensors file without cgan-augment metadata; was it written by `cgan-augment fit`?")
    try:
        meta = json.loads(raw[META_KEY])
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: cgan-augment metadata is not valid JSON ({e}).") from None
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: cgan-augment metadata should be a JSON object.")
    return meta, shapes


def _check_arch(path, meta: dict) -> dict:
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {meta.get('format_version')!r} is not supported (this is version {FORMAT_VERSION}); "
                             "upgrade cgan-augment or refit the model.")
    arch = meta.get("arch")
    extra = _arch_extras(path, arch.get("family")) if isinstance(arch, dict) else {}
    if not isinstance(arch, dict) or set(arch) != set(ARCH_KEYS) | set(extra):
        raise ModelFileError(f"{path}: metadata 'arch' should have exactly the keys {', '.join((*ARCH_KEYS, *extra))}.")
    for k, top in {**MAX_ARCH, **extra}.items():
        if not isinstance(arch[k], int) or isinstance(arch[k], bool) or not 1 <= arch[k] <= top:
            raise ModelFileError(f"{path}: metadata arch.{k} = {arch[k]!r} is not an integer in 1..{top}.")
    classes = meta.get("classes")
    if (not isinstance(classes, list) or len(classes) != arch["num_classes"] or not all(isinstance(c, str) for c in classes)
            or len(set(classes)) != len(classes)):
        raise ModelFileError(f"{path}: metadata 'classes' should list {arch['num_classes']} distinct class names.")
    return arch


def _arch_extras(path, family) -> dict:
    """The arch keys the family adds (with their largest values); a family no class is registered for is refused."""
    try:
        return generator_class(family).arch_extras
    except ConfigError as e:
        raise ModelFileError(f"{path}: metadata arch.family: {e}") from None


def _check_tensors(path, expected: dict, shapes: dict, prefix: str = "") -> None:
    """Compare the header's keys, dtypes and shapes with those of a model built on the meta device."""
    found = {k[len(prefix):]: v for k, v in shapes.items() if k.startswith(prefix)}
    missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    if missing:
        raise ModelFileError(f"{path}: tensor {prefix + missing[0]!r} is missing ({len(missing)} missing in all).")
    if extra:
        raise ModelFileError(f"{path}: unexpected tensor {prefix + extra[0]!r} ({len(extra)} unexpected in all).")
    for k, t in expected.items():
        dtype, shape = found[k]
        want, got = str(t.dtype).replace("torch.", ""), _dtype_name(dtype)
        if tuple(t.shape) != shape or got != want:
            raise ModelFileError(f"{path}: tensor {prefix + k!r} is {got}{list(shape)}, expected {want}{list(t.shape)}.")


def _dtype_name(safetensors_dtype: str) -> str:
    return {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64",
            "I32": "int32", "U8": "uint8", "I8": "int8", "BOOL": "bool", "I16": "int16"}.get(safetensors_dtype, safetensors_dtype)


def _load_tensors(path) -> dict:
    """All tensors of a file whose header was checked (on the CPU)."""
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:  # the header passed, so the body is damaged
        raise ModelFileError(f"{path}: could not read tensors ({e}).") from None


def _meta_generator(arch: dict) -> Generator:
    with torch.device("meta"):
        return build_generator(**arch)


def read_metadata(path: Union[str, Path]) -> dict:
    """The metadata of a model file, checked, without reading its tensors."""
    meta, shapes = _read_header(path)
    arch = _check_arch(path, meta)
    if meta.get("kind") == "generator":
        _check_tensors(path, _meta_generator(arch).state_dict(), shapes)
    return meta


def save_generator(generator: Generator, path: Union[str, Path], metadata: dict) -> None:
    """Write ``generator``'s weights and ``metadata`` (merged with its arch) to ``path`` atomically."""
    meta = dict(metadata, format_version=FORMAT_VERSION, kind="generator", library_version=_library_version(),
                value_range=[0.0, 1.0], arch=_generator_arch(generator), classes=list(generator.classes))
    _atomic_save(generator.state_dict(), path, meta)


def _generator_arch(generator: Generator) -> dict:
    arch = {"family": generator.family, "num_classes": generator.num_classes, "image_size": generator.image_size,
            "channels": generator.channels, "z_dim": generator.z_dim, "width": generator.width}
    return {**arch, **{k: getattr(generator, k) for k in type(generator).arch_extras}}


def load_generator(path: Union[str, Path], device: DeviceLike = "auto") -> Generator:
    """Rebuild the generator stored in ``path`` (a ``model.safetensors``) on ``device``, in eval mode.

    Raises:
        DeviceError: ``device`` is not available here.
        ModelFileError: the file is missing, not safetensors, truncated, lacks or has malformed
            metadata, or its tensors disagree with the metadata.
    """
    device = resolve_device(device)
    meta = read_metadata(path)
    if meta.get("kind") != "generator":
        raise ModelFileError(f"{path}: this is a {meta.get('kind')!r} file, not a generator; use model.safetensors.")
    state = _load_tensors(path)
    generator = build_generator(**meta["arch"])
    generator.load_state_dict(state)
    generator.classes = [str(c) for c in meta["classes"]]
    generator.metadata = meta
    return generator.to(device).eval()


# ----------------------------------------------------------------------------- training checkpoints


def _flatten_optimizer(prefix: str, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """(tensors, json-able param_groups) for an optimiser's state."""
    sd = optimizer.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            tensors[f"{prefix}.{idx}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, sd["param_groups"]


def _unflatten_optimizer(prefix: str, tensors: dict, param_groups: list) -> dict:
    state: dict = {}
    for key, value in tensors.items():
        if key.startswith(prefix + "."):
            idx, name = key[len(prefix) + 1:].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    return {"state": state, "param_groups": param_groups}


def save_checkpoint(path: Union[str, Path], modules: dict, optimizers: dict, metadata: dict) -> None:
    """Write modules' state dicts (keys ``NAME.param``) and optimisers' states to ``path`` atomically."""
    tensors, groups = {}, {}
    for name, module in modules.items():
        tensors.update({f"{name}.{k}": v for k, v in module.state_dict().items()})
    for name, opt in optimizers.items():
        t, groups[name] = _flatten_optimizer(name, opt)
        tensors.update(t)
    _atomic_save(tensors, path, dict(metadata, format_version=FORMAT_VERSION, kind="checkpoint",
                                    library_version=_library_version(), optimizer_groups=groups))


def load_checkpoint(path: Union[str, Path], modules: dict, optimizers: dict) -> dict:
    """Restore ``modules`` and ``optimizers`` (built to match) from ``path``; returns its metadata."""
    meta, shapes = _read_header(path)
    _check_arch(path, meta)
    if meta.get("kind") != "checkpoint":
        raise ModelFileError(f"{path}: not a training checkpoint (kind {meta.get('kind')!r}).")
    for name, module in modules.items():
        expected = {k: v for k, v in module.state_dict().items()}
        present = {k: v for k, v in shapes.items() if k.startswith(name + ".")}
        _check_tensors(path, expected, present, prefix=name + ".")
    tensors = _load_tensors(path)
    for name, module in modules.items():
        module.load_state_dict({k[len(name) + 1:]: v for k, v in tensors.items() if k.startswith(name + ".")})
    groups = meta.get("optimizer_groups", {})
    for name, opt in optimizers.items():
        opt.load_state_dict(_unflatten_optimizer(name, tensors, groups[name]))
    return meta
