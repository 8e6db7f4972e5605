"""The ``deform`` family's recipe, :class:`DeformConfig`, in a module without torch, so that the
command line can show its settings and defaults (``fit --help``) without loading the networks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .._util.constraints import CheckedConfig, Interval

__all__ = ["DeformConfig"]


@dataclass(frozen=True)
class DeformConfig(CheckedConfig):
    """How the ``deform`` family is fitted; stored in the model file.

    Args:
        grid: side of the warp's control grid (5: a 28 px image gets a control point every ~6 px).
        temperature: scale of the drawn warps against the fitted distribution (1 = as measured
            between two images of a class; lower keeps the samples closer to their exemplar).
        pairs: same-class pairs registered to learn the distribution.
        min_class_size: pairs come only from classes with at least this many images.
        registration_steps, registration_lr: Adam steps and learning rate of the registration.
        smoothness: weight of the mean squared control displacement in the registration loss.
        sigma: blur (px) of both images in the registration loss.
        trim: fit the Gaussian to this fraction of the warps, dropping the most extreme
            (Mahalanobis distance), which are mostly failed registrations.
        seed: draws the pairs.

    ``family`` (a class attribute, not a setting) names the family whose recipe this is: the
    registry (:mod:`cgan_augment.train.families`) dispatches on it.
    """

    family: ClassVar[str] = "deform"

    grid: int = 5
    temperature: float = 0.75  # with trim 0.95: the best of three recipes (benchmarks/RESULTS.md, issue 11)
    pairs: int = 1000
    min_class_size: int = 40
    registration_steps: int = 100
    registration_lr: float = 0.03
    smoothness: float = 1.0
    sigma: float = 1.5
    trim: float = 0.95
    seed: int = 0

    _parameter_constraints = {
        "grid": [Interval(int, 2, 32)],  # finer than 32 is no longer a smooth warp
        "temperature": [Interval(float, 0, closed="neither")],
        "pairs": [Interval(int, 1)], "min_class_size": [Interval(int, 1)], "registration_steps": [Interval(int, 1)],
        "registration_lr": [Interval(float, 0, closed="neither")],
        "smoothness": [Interval(float, 0)],
        "sigma": [Interval(float, 0, closed="neither")],
        "trim": [Interval(float, 0, 1, closed="right")],
        "seed": [Interval(int)],
    }
