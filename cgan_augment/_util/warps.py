"""Batched image augmentation on the images' own device: one ``grid_sample`` per batch.

Images are float32 N×C×H×W in [0, 1]; every function draws its per-item parameters from the
``torch.Generator`` it is given, on the generator's device, and moves them to the images' device
(a CPU generator serves a GPU batch), so a seeded generator gives the same batch on the same device. These replace per-item ``torchvision.transforms.v2`` calls in the training loops
of the report, where a per-item CPU transform cost several times the classifier's own compute.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["random_affine", "elastic_displacement", "warp", "warp_by_params", "gaussian_blur"]

_IDENTITY = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0))


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device) -> torch.Tensor:
    return _rand((n,), gen, device) * (high - low) + low


def _rand(shape: tuple, gen: torch.Generator, device) -> torch.Tensor:
    """Uniform [0, 1) numbers drawn on ``gen``'s device (torch refuses a generator of another
    device), then moved to ``device``: a no-op when they are the same."""
    return torch.rand(shape, generator=gen, device=gen.device).to(device)


def _identity_grid(n: int, h: int, w: int, device) -> torch.Tensor:
    """(N, H, W, 2) sampling grid of the identity, in ``grid_sample``'s normalised coordinates."""
    theta = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], device=device).expand(n, 2, 3)
    return F.affine_grid(theta, (n, 1, h, w), align_corners=False)


def warp(x: torch.Tensor, displacement: torch.Tensor, theta: Optional[torch.Tensor] = None,
         mode: str = "bilinear", padding: str = "zeros") -> torch.Tensor:
    """``x`` (N×C×H×W) resampled (``mode``: ``grid_sample``'s bilinear or nearest) at the affine
    ``theta`` (N×2×3, output -> input, normalised coordinates; identity when None) plus
    ``displacement`` (N×2×H×W, normalised units, x then y). Outside the image reads as 0 with
    ``padding="zeros"``, as the nearest edge pixel with ``"border"`` (``grid_sample``'s padding modes)."""
    n, _, h, w = x.shape
    if theta is None:
        grid = _identity_grid(n, h, w, x.device)
    else:
        grid = F.affine_grid(theta, (n, 1, h, w), align_corners=False)
    grid = grid + displacement.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, mode=mode, padding_mode=padding, align_corners=False)


def warp_by_params(x: torch.Tensor, params: torch.Tensor, grid: int, padding: str = "border") -> torch.Tensor:
    """``x`` (N×C×H×W) warped by parameter vectors ``params`` (N, 6 + 2·grid²): the first 6 are
    added to the identity affine (2×3, output -> input), the rest are a ``grid`` × ``grid``
    displacement field (x then y, normalised units), upsampled bicubically to the image size.
    Outside the image reads as the nearest edge pixel (``padding="border"``), so a warp that reaches
    past the border continues the background, whatever its colour, instead of painting black."""
    n = len(params)
    theta = torch.tensor(_IDENTITY, dtype=params.dtype, device=params.device) + params[:, :6].view(n, 2, 3)
    ctrl = params[:, 6:].view(n, 2, grid, grid)
    return warp(x, F.interpolate(ctrl, size=x.shape[-2:], mode="bicubic", align_corners=True), theta, padding=padding)


def random_affine(x: torch.Tensor, gen: torch.Generator, degrees: float = 10.0, translate: float = 0.1,
                  scale: float = 0.1, flips: bool = False, mode: str = "bilinear") -> torch.Tensor:
    """A random affine per item: rotation in ±``degrees``, shift up to ``translate`` of the side,
    scale in 1 ± ``scale``, and a horizontal flip with probability 1/2 when ``flips``
    (the parameters of ``torchvision.transforms.v2.RandomAffine``)."""
    n, device = len(x), x.device
    angle = _uniform(n, -degrees, degrees, gen, device) * (math.pi / 180)
    s = _uniform(n, 1 - scale, 1 + scale, gen, device)
    tx, ty = (_uniform(n, -translate, translate, gen, device) * 2 for _ in range(2))  # fraction of side -> [-1, 1] units
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s  # the grid maps output to input: inverse scale
    flip = torch.where(_rand((n,), gen, device) < 0.5, -1.0, 1.0) if flips else torch.ones(n, device=device)
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    return F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False), mode=mode,
                         padding_mode="zeros", align_corners=False)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of N×C×H×W with zero padding (kernel radius ceil(3σ))."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, radius), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(radius, 0), groups=c)


def elastic_displacement(n: int, h: int, w: int, gen: torch.Generator, device, alpha: float = 24.0,
                         sigma: float = 4.0) -> torch.Tensor:
    """Simard et al. (2003) elastic field: uniform noise in [-1, 1] per pixel (one field per image,
    drawn in order from ``gen``), smoothed by ``torchvision``'s ``gaussian_blur`` (kernel
    2·ceil(2σ)+1 taps, 17 at σ 4, reflect padding: shared/REFERENCE.md's elastic step), scaled by
    ``alpha`` px; returned as N×2×H×W in normalised units."""
    from torchvision.transforms.v2.functional import gaussian_blur as tv_blur

    field = _rand((n, 2, h, w), gen, device) * 2 - 1
    # Reflect padding needs the pad below the side: small images get a shorter kernel.
    size = min(2 * math.ceil(2 * sigma) + 1, 2 * (min(h, w) - 1) - 1) | 1
    field = tv_blur(field, [size, size], [sigma, sigma]) * alpha
    return field * torch.tensor([2 / w, 2 / h], device=device).view(1, 2, 1, 1)
