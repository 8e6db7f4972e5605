"""What the report runs and how: the arms, the classifiers, :class:`ReportConfig`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable, Optional


from ..errors import ConfigError

__all__ = ["ReportConfig", "ARMS", "BASELINE_ARMS", "SYNTHETIC_ARMS", "CLASSIFIERS", "METRICS", "Progress"]

ARMS = ("real", "class-weights", "oversample", "smote", "classic-aug", "strong-aug", "synthetic", "synthetic+aug",
        "synthetic+strong-aug", "synthetic-only", "oracle")
BASELINE_ARMS = ("class-weights", "oversample", "smote", "classic-aug", "strong-aug")
SYNTHETIC_ARMS = ("synthetic", "synthetic+aug", "synthetic+strong-aug", "synthetic-only")
CLASSIFIERS = ("cnn", "logreg", "resnet18")
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")

Progress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class ReportConfig:
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
    alpha: float = 0.25  # best of 0.1 / 0.25 / 0.5 in benchmarks/bench_generators.py (issue 5)
    synthetic_below: Optional[int] = None
    synthetic_target: str = "balance"
    affine_degrees: float = 10.0
    affine_translate: float = 0.1
    affine_scale: float = 0.1
    flips: bool = False
    elastic_alpha: float = 24.0
    elastic_sigma: float = 4.0
    quality_samples: int = 200
    quality_k: int = 5
    grid_samples: int = 10
    eval_batch_size: int = 512

    def __post_init__(self):
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms:
            raise ConfigError(f"arms should be a non-empty list of {', '.join(ARMS)}. Got {unknown[0] if unknown else 'none'!r}.")
        if len(set(self.arms)) != len(self.arms):
            raise ConfigError(f"arms lists an arm twice: {', '.join(self.arms)}.")
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(f"classifier should be one of {', '.join(CLASSIFIERS)}. Got {self.classifier!r}.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds should be one or more distinct integers. Got {list(self.seeds)}.")
        for name in ("steps", "batch_size", "quality_samples", "quality_k", "grid_samples", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} should be a positive integer. Got {value!r}.")
        if not self.lr > 0:
            raise ConfigError(f"lr should be positive. Got {self.lr}.")
        if not 0 <= self.alpha <= 1:
            raise ConfigError(f"alpha should lie in [0, 1]. Got {self.alpha}.")
        if not (0 <= self.affine_degrees <= 180 and 0 <= self.affine_translate < 1 and 0 <= self.affine_scale < 1):
            raise ConfigError("affine_degrees should lie in [0, 180], affine_translate and affine_scale in [0, 1). "
                              f"Got {self.affine_degrees}, {self.affine_translate}, {self.affine_scale}.")

    @classmethod
    def from_dict(cls, values: dict) -> "ReportConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
