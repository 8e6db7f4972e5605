"""Latent walks: images decoded along a path through a generator's noise space, per class.

A generator that learned a smooth manifold changes its images gradually along a walk; one that
memorised a few images jumps between them, and a class whose row hardly changes ignores its
noise (collapse). Every class walks between the same noise vectors, so rows are comparable.

Interpolation is spherical (``slerp``) by default: Gaussian noise in many dimensions lies near a
sphere of radius sqrt(z_dim), and the straight line between two such points passes well inside
it, through noise the generator hardly ever saw (White 2016, "Sampling Generative Networks");
``linear`` is there to compare. The images come from :meth:`Generator.decode`, the hook a family
with other inputs (an exemplar) overrides to hold them fixed while the noise moves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import torch

from .._util.devices import resolve_device
from .._util.output import OutputFile
from .._util.pictures import save_grid
from .._util.safe_names import class_file_name
from ..errors import ConfigError, OutputDirError
from .model_file import load_generator
from .networks import Generator

__all__ = ["INTERPOLATIONS", "interpolate", "latent_walk", "latent_grid", "write_walk"]

_WALK_MARK = "latent walk"  # stored in the PNGs, so that --force replaces only our own

from .._util.choices import INTERPOLATIONS  # noqa: E402  (defined without torch, for the command line)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor, mode: str = "slerp") -> torch.Tensor:
    """Points between noise vectors ``z0`` and ``z1`` (each (D,)) at fractions ``t`` (T,) in [0, 1]:
    returns (T, D). ``slerp`` follows the great circle (norms interpolated linearly), ``linear`` the chord."""
    _check_mode(mode)
    t = t.to(z0.dtype)[:, None]
    if mode == "linear":
        return (1 - t) * z0 + t * z1
    n0, n1 = z0.norm(), z1.norm()
    cos = torch.dot(z0 / n0, z1 / n1).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega < 1e-4:  # (anti)parallel to within float error: the chord is the arc
        return (1 - t) * z0 + t * z1
    direction = (torch.sin((1 - t) * omega) * (z0 / n0) + torch.sin(t * omega) * (z1 / n1)) / torch.sin(omega)
    return direction * ((1 - t) * n0 + t * n1)


def _check_mode(mode: str) -> None:
    if mode not in INTERPOLATIONS:
        raise ConfigError(f"interpolation should be one of {', '.join(INTERPOLATIONS)}. Got {mode!r}.")


def _check_n(n: int, what: str) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ConfigError(f"{what} should be at least 2. Got {n!r}.")


def _noise(generator: Generator, count: int, seed: int) -> torch.Tensor:
    """``count`` noise vectors drawn on the CPU from ``seed``: the same walk on every device."""
    return torch.randn(count, generator.z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def latent_walk(generator: Generator, classes: Optional[Sequence[Union[int, str]]] = None, n: int = 8,
                seed: int = 0, mode: str = "slerp") -> torch.Tensor:
    """Each class's images along one walk of ``n`` points between two noise vectors drawn from ``seed``.

    Args:
        generator: any :class:`~cgan_augment.Generator` (its :meth:`~Generator.decode` renders).
        classes: names or indices (default: every class), one row each.
        n: images per walk, ends included. mode: ``slerp`` or ``linear``.

    Returns:
        float (K·n)×C×H×W in [0, 1] on the generator's device, class-major (row k = class k).
    """
    _check_n(n, "the number of images along a walk")
    labels = [generator.class_index(c) for c in (classes if classes else range(generator.num_classes))]
    z0, z1 = _noise(generator, 2, seed)
    path = interpolate(z0, z1, torch.linspace(0, 1, n), mode)  # (n, z_dim)
    z = path.repeat(len(labels), 1).to(generator.device)
    y = torch.tensor(labels, dtype=torch.int64).repeat_interleave(n).to(generator.device)
    return generator.decode(z, y, seed=seed)


@torch.no_grad()
def latent_grid(generator: Generator, cls: Union[int, str], n: int = 8, seed: int = 0, mode: str = "slerp") -> torch.Tensor:
    """A 2-D n×n sheet of one class's noise space: four corner noise vectors from ``seed``, each row
    interpolated between the left and right edges, which are interpolated between the corners.

    Returns:
        float (n·n)×C×H×W in [0, 1] on the generator's device, row-major.
    """
    _check_n(n, "the side of a walk grid")
    label = generator.class_index(cls)
    top_left, top_right, bottom_left, bottom_right = _noise(generator, 4, seed + 1)
    t = torch.linspace(0, 1, n)
    left, right = interpolate(top_left, bottom_left, t, mode), interpolate(top_right, bottom_right, t, mode)
    z = torch.cat([interpolate(left[i], right[i], t, mode) for i in range(n)]).to(generator.device)
    y = torch.full((n * n,), label, dtype=torch.int64, device=generator.device)
    return generator.decode(z, y, seed=seed)


def write_walk(model: Union[str, Path, Generator], out: Union[str, Path],
               classes: Optional[Sequence[Union[int, str]]] = None, n: int = 8, grid_class: Union[int, str, None] = None,
               seed: int = 0, mode: str = "slerp", device: str = "auto", force: bool = False) -> list[Path]:
    """Write a latent walk as one PNG with a row per class (its name on the left), and optionally a
    2-D grid for one class.

    Args:
        model: a ``model.safetensors`` path or a :class:`~cgan_augment.Generator`.
        out: the walk PNG (must end in ``.png``); the grid goes beside it as ``<stem>_<class>_grid.png``.
        classes: names or indices of the rows (default: every class); a digit string that is not a
            class name is taken as an index.
        n: images per walk (and the grid's side). grid_class: the class of the 2-D grid (``None``: no grid).
        seed, mode: as in :func:`latent_walk`. device: where a model file is loaded.
        force: replace an earlier walk (or grid) at those paths; a file this function did not
            write is never written over.

    Returns:
        The paths written.
    """
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"a latent walk is written as one PNG; --out should end in .png. Got {str(out)!r}.")
    _check_mode(mode)
    _check_n(n, "--n (images along a walk)")
    generator = model if isinstance(model, Generator) else load_generator(model, device=resolve_device(device))
    pick = lambda c: int(c) if isinstance(c, str) and c not in generator.classes and c.isdigit() else c  # noqa: E731
    labels = [generator.class_index(pick(c)) for c in classes] if classes else list(range(generator.num_classes))
    rows = latent_walk(generator, labels, n=n, seed=seed, mode=mode)
    grid = None
    if grid_class is not None:
        label = generator.class_index(pick(grid_class))
        grid = (out.with_name(f"{out.stem}_{class_file_name(generator.classes[label])}_grid.png"),
                latent_grid(generator, label, n=n, seed=seed, mode=mode))
    for path, what in [(out, "latent walk")] + ([(grid[0], "latent grid")] if grid is not None else []):
        OutputFile(path, "sample", _WALK_MARK, what, force=force).check()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputDirError(f"{out.parent}: cannot create the output folder ({e.strerror}).") from None
    save_grid(rows, out, nrow=n, row_labels=[generator.classes[k] for k in labels], mark=_WALK_MARK)
    written = [out]
    if grid is not None:
        save_grid(grid[1], grid[0], nrow=n, mark=_WALK_MARK)
        written.append(grid[0])
    return written
