"""Choosing the device once: ``auto`` picks CUDA, then MPS, then the CPU.

Every module may import this one; it imports only torch and :mod:`cgan_augment.errors`.
"""

from __future__ import annotations

from typing import Union

import torch

from ..errors import DeviceError

__all__ = ["resolve_device", "DeviceLike", "check_has_values"]

DeviceLike = Union[str, torch.device]


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def check_has_values(device: DeviceLike, what: str) -> None:
    """Refuse in one line a ``device`` whose tensors hold shapes but no values (``meta``): nothing
    can be generated there or copied off it, and torch's own message would come from deep inside.

    Raises:
        DeviceError: ``device`` is the meta device; ``what`` names the culprit ("the generator").
    """
    if torch.device(device).type == "meta":
        raise DeviceError(f"{what} is on the meta device, which holds shapes but no values; load it with "
                          "load_generator(path, device=...) or move it to cpu, cuda or mps.")


def resolve_device(device: DeviceLike = "auto") -> torch.device:
    """The ``torch.device`` to use for ``device``: ``auto`` picks CUDA, then MPS, then CPU;
    ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are checked to be available here.

    Raises:
        DeviceError: an unknown name, or a device this machine does not have (one line, naming
            the device and the flag to use instead, never torch's own driver message).
    """
    name = str(device)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(name)
    except (RuntimeError, ValueError):
        raise DeviceError(f"device should be auto, cpu, cuda, cuda:N or mps. Got {name!r}.") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available here; use --device cpu or auto.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                              f"device(s) (cuda:0..cuda:{torch.cuda.device_count() - 1}).")
    elif resolved.type == "mps":
        if not _mps_available():
            raise DeviceError(f"device {name!r} asked for, but MPS is not available here; use --device cpu or auto.")
    elif resolved.type != "cpu":
        raise DeviceError(f"device should be auto, cpu, cuda, cuda:N or mps. Got {name!r}.")
    return resolved
