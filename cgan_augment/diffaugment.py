"""Differentiable augmentation for the discriminator (DiffAugment, Zhao et al. 2020).

The same random transform family is applied to real and generated batches before the
discriminator sees them, so that a few real images of a class are not simply memorised; the
generator's gradient flows through the transform. Images are N×C×H×W in any value range.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


__all__ = ["diff_augment", "POLICIES"]

POLICIES = ("translation", "cutout")


def _translation(x: torch.Tensor, generator, ratio: float = 0.125) -> torch.Tensor:
    n, _, h, w = x.shape
    shift = torch.randint(-int(h * ratio), int(h * ratio) + 1, (n, 2), generator=generator).to(x.device)
    # Whole-pixel shifts through grid_sample (exact for integer shifts), zero padding outside.
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = shift[:, 0] * 2.0 / w
    theta[:, 1, 2] = shift[:, 1] * 2.0 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _cutout(x: torch.Tensor, generator, ratio: float = 0.5) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(-(ch // 2), h - ch // 2, (n, 1, 1), generator=generator).to(x.device)
    left = torch.randint(-(cw // 2), w - cw // 2, (n, 1, 1), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (ys >= top) & (ys < top + ch) & (xs >= left) & (xs < left + cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor, policy: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the comma-separated ``policy`` ("translation,cutout") to a batch; "" returns ``x``.

    Random draws come from ``generator`` (a CPU generator, whatever the device of ``x``)."""
    for p in filter(None, policy.split(",")):
        x = _translation(x, generator) if p == "translation" else _cutout(x, generator)
    return x
