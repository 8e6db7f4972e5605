"""What the report runs and how: the arms, the classifiers, :class:`ReportConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .._util.constraints import Check, CheckedConfig, Interval, OneOf
from ..mixing.augmentation import STRONG_ELASTIC_ALPHA, Augmentation

__all__ = ["ReportConfig", "ARMS", "BASELINE_ARMS", "SYNTHETIC_ARMS", "CLASSIFIERS", "METRICS", "Progress"]

ARMS = ("real", "class-weights", "oversample", "smote", "classic-aug", "strong-aug", "synthetic", "synthetic+aug",
        "synthetic+strong-aug", "synthetic-only", "oracle")
BASELINE_ARMS = ("class-weights", "oversample", "smote", "classic-aug", "strong-aug")
SYNTHETIC_ARMS = ("synthetic", "synthetic+aug", "synthetic+strong-aug", "synthetic-only")
CLASSIFIERS = ("cnn", "logreg", "resnet18")
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")

Progress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class ReportConfig(CheckedConfig):
    """How the report trains and compares its classifiers; saved in ``report.json``.

    Args:
        arms: the arms to run, in order (any of :data:`ARMS`); ``oracle`` runs only when oracle
            data is given, ``smote`` only when imbalanced-learn is installed.
        classifier: ``cnn`` (conv32-conv64-fc128), ``logreg`` or ``resnet18`` (untrained,
            3×3 stem without max-pool for small images).
        seeds: the seeds; every arm runs once per seed, and gains are paired by seed.
        steps: optimiser steps per run (the same for every arm).
        batch_size: images per step. lr: Adam learning rate.
        alpha: in ``synthetic+aug`` and ``synthetic+strong-aug``, the chance that an item of a class
            with synthetic images is synthetic (``ClassBalancedSampler(synthetic_fraction=alpha)``).
        synthetic_below: if set, only classes with fewer real images than this get synthetic items
            in those arms (GIT's threshold: the large classes already show their variation).
        synthetic_target: the ``target`` handed to ``SyntheticDataset`` for the ``synthetic`` arm.
        affine_degrees, affine_translate, affine_scale: the random affine of the augmented arms:
            rotation in ±degrees, shift up to ``translate`` of the side, scale in 1 ± ``scale``.
        flips: also flip horizontally (only where the data allows it: digits do not).
        elastic_alpha, elastic_sigma: the elastic distortion (px) that ``strong-aug`` and
            ``synthetic+strong-aug`` apply before the affine (Simard et al. 2003).
        quality_samples: generated images per class for the sample-quality measure.
        quality_k: neighbourhood size of precision/recall/density/coverage.
        grid_samples: generated images per class in ``samples.png``.
        eval_batch_size: images per forward pass when testing.
    """

    arms: tuple = ARMS
    classifier: str = "cnn"
    seeds: tuple = (0, 1, 2)
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    alpha: float = 0.5  # with synthetic_below=40: the measured recipe of the deform family (benchmarks/RESULTS.md, issue 11)
    synthetic_below: Optional[int] = 40
    synthetic_target: str = "balance"
    affine_degrees: float = Augmentation.degrees  # the augmentation's own defaults (augmentation.py)
    affine_translate: float = Augmentation.translate
    affine_scale: float = Augmentation.scale
    flips: bool = Augmentation.flips
    elastic_alpha: float = STRONG_ELASTIC_ALPHA
    elastic_sigma: float = Augmentation.elastic_sigma
    quality_samples: int = 200
    quality_k: int = 5
    grid_samples: int = 10
    eval_batch_size: int = 512

    _parameter_constraints = {
        "arms": [Check(lambda v: v and len(set(v)) == len(v) and all(a in ARMS for a in v),
                       f"a non-empty list of distinct arms from {', '.join(ARMS)}")],
        "classifier": [OneOf(CLASSIFIERS)],
        "seeds": [Check(lambda v: v and len(set(v)) == len(v), "one or more distinct integers")],
        "steps": [Interval(int, 1)], "batch_size": [Interval(int, 1)],
        "lr": [Interval(float, 0, closed="neither")],
        "alpha": [Interval(float, 0, 1)],
        "synthetic_below": [None, Interval(int, 1)],
        **{f"affine_{k}": Augmentation._parameter_constraints[k] for k in ("degrees", "translate", "scale")},
        **{k: Augmentation._parameter_constraints[k] for k in ("flips", "elastic_alpha", "elastic_sigma")},
        "quality_samples": [Interval(int, 1)], "quality_k": [Interval(int, 1)],
        "grid_samples": [Interval(int, 1)], "eval_batch_size": [Interval(int, 1)],
    }

    def _normalise(self) -> None:
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
