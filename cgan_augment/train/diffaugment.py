"""Differentiable augmentation for the discriminator (DiffAugment, Zhao et al. 2020).

The same random transform family is applied to real and generated batches before the
discriminator sees them, so that a few real images of a class are not simply memorised; the
generator's gradient flows through the transform. Images are N×C×H×W in any value range.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["diff_augment", "POLICIES"]

from .._util.choices import POLICIES  # noqa: E402  (defined without torch, for the settings)


def _randint(low: int, high: int, size: tuple, generator, like: torch.Tensor, shard: tuple) -> torch.Tensor:
    """Integers for the whole batch of all ``world`` ranks, drawn on the generator's device (the
    device of ``like`` without one); this rank keeps its slice. So item i of the global batch gets
    the same numbers whatever the number of processes."""
    rank, world = shard
    n = size[0]
    device = generator.device if generator is not None else like.device
    full = torch.randint(low, high, (n * world, *size[1:]), generator=generator, device=device)
    return full[rank * n:(rank + 1) * n].to(like.device)


def _translation(x: torch.Tensor, generator, shard: tuple, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    shift = _randint(-int(h * ratio), int(h * ratio) + 1, (n, 2), generator, x, shard)
    # Whole-pixel shifts through grid_sample (exact for integer shifts), zero padding outside.
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = shift[:, 0] * 2.0 / w
    theta[:, 1, 2] = shift[:, 1] * 2.0 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _cutout(x: torch.Tensor, generator, shard: tuple, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = _randint(-(ch // 2), h - ch // 2, (n, 1, 1), generator, x, shard)
    left = _randint(-(cw // 2), w - cw // 2, (n, 1, 1), generator, x, shard)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor, policy: str, generator: torch.Generator | None = None,
                 shard: tuple[int, int] = (0, 1)) -> torch.Tensor:
    """Apply the comma-separated ``policy`` ("translation,cutout") to a batch; "" returns ``x``.

    Random draws come from ``generator``, on its device (a CUDA generator keeps them on the GPU).
    ``shard=(rank, world)``: ``x`` is slice ``rank`` of a batch of ``world`` equal slices; the
    numbers are drawn for the whole batch, so the result does not depend on ``world``."""
    for p in filter(None, policy.split(",")):
        x = _translation(x, generator, shard) if p == "translation" else _cutout(x, generator, shard)
    return x
