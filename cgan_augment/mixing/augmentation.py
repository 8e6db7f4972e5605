"""The augmentation's settings and defaults, in a module without torch (the report's settings and the
command line's --help read them); calling an :class:`Augmentation` runs :mod:`cgan_augment._util.warps`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._util.constraints import BOOL, CheckedConfig, Interval

if TYPE_CHECKING:
    import torch

__all__ = ["Augmentation", "STRONG_ELASTIC_ALPHA"]

STRONG_ELASTIC_ALPHA = 24.0  # px: the elastic distortion of ``Augmentation.strong`` (Simard et al. 2003)


@dataclass(frozen=True)
class Augmentation(CheckedConfig):
    """A batched augmentation: optional elastic distortion (``elastic_alpha`` > 0), then a random affine.

    ``Augmentation()(x, gen)`` takes float N×C×H×W in [0, 1] on any device and returns the same shape
    there; ``gen`` may be on another device (its draws are moved to the batch's).
    The defaults are the report's ``classic-aug`` affine; :meth:`strong` adds the elastic step.
    """

    degrees: float = 10.0
    translate: float = 0.1
    scale: float = 0.1
    flips: bool = False
    elastic_alpha: float = 0.0
    elastic_sigma: float = 4.0

    _parameter_constraints = {
        "degrees": [Interval(float, 0, 180)],
        "translate": [Interval(float, 0, 1, closed="left")], "scale": [Interval(float, 0, 1, closed="left")],
        "flips": [BOOL],
        "elastic_alpha": [Interval(float, 0)], "elastic_sigma": [Interval(float, 0, closed="neither")],
    }

    @classmethod
    def strong(cls, **overrides) -> "Augmentation":
        """Elastic distortion (alpha 24 px, sigma 4 px) before the affine: 0.960 against 0.943 for
        the affine alone on long-tailed MNIST at imbalance 100 (shared/REFERENCE.md)."""
        return cls(**{"elastic_alpha": STRONG_ELASTIC_ALPHA, **overrides})

    def __call__(self, x: torch.Tensor, gen: torch.Generator, mode: str = "bilinear") -> torch.Tensor:
        """``mode``: ``grid_sample``'s interpolation of both resamplings (bilinear or nearest)."""
        from .._util.warps import elastic_displacement, random_affine, warp

        if self.elastic_alpha > 0:
            n, _, h, w = x.shape
            x = warp(x, elastic_displacement(n, h, w, gen, x.device, self.elastic_alpha, self.elastic_sigma), mode=mode)
        return random_affine(x, gen, self.degrees, self.translate, self.scale, self.flips, mode=mode)
