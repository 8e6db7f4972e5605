"""What the report runs and how: the arms, the classifiers, the training recipe, :class:`ReportConfig`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from .._util.constraints import Check, CheckedConfig, Interval, OneOf
from ..mixing.augmentation import STRONG_ELASTIC_ALPHA, Augmentation
from .plugins import arm_names

__all__ = ["ReportConfig", "ARMS", "BASELINE_ARMS", "CHEAP_ARMS", "SYNTHETIC_ARMS", "CLASSIFIERS", "METRICS", "Progress",
           "OPTIMIZERS", "SCHEDULES"]

# The built-in arms, in the order the report runs them (plugins.py defines them; register_arm adds more).
ARMS = ("real", "class-weights", "oversample", "smote", "classic-aug", "strong-aug", "la", "la+aug", "la+strong-aug",
        "la+aug+mixup", "synthetic", "synthetic+aug", "synthetic+strong-aug", "synthetic-only", "oracle")
# The cheap recipes (no generator) the verdict's bar is the best of: the field's long-tail recipes.
CHEAP_ARMS = ("classic-aug", "strong-aug", "la", "la+aug", "la+strong-aug", "la+aug+mixup")
BASELINE_ARMS = ("class-weights", "oversample", "smote") + CHEAP_ARMS
SYNTHETIC_ARMS = ("synthetic", "synthetic+aug", "synthetic+strong-aug", "synthetic-only")
CLASSIFIERS = ("cnn", "logreg", "resnet18")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "step")
_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")  # package.module:function, as uvicorn and gunicorn take it
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")


def _floats(v) -> bool:
    return v is None or (len(v) > 0 and all(isinstance(x, float) for x in v))


Progress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class ReportConfig(CheckedConfig):
    """How the report trains and compares its classifiers; saved in ``report.json``.

    Args:
        arms: the arms to run, in order (any of :data:`ARMS`); ``oracle`` runs only when oracle
            data is given, ``smote`` only when imbalanced-learn is installed.
        classifier: ``cnn`` (conv32-conv64-fc128), ``logreg`` or ``resnet18`` (untrained,
            3×3 stem without max-pool for small images), or ``"package.module:function"``, a
            factory ``function(num_classes, channels, image_size)`` returning a fresh ``nn.Module``
            (see :mod:`~cgan_augment.report.factory`; ``run_report(classifier=...)`` takes the
            function itself).
        seeds: the seeds; every arm runs once per seed, and gains are paired by seed.
        steps: optimiser steps per run (the same for every arm).
        batch_size: images per step.
        optimizer: ``adam``, ``adamw`` or ``sgd`` (with ``momentum``, Nesterov off).
        lr: the learning rate; weight_decay: the optimiser's weight decay (L2 for adam and sgd,
            decoupled for adamw); momentum: SGD's momentum.
        schedule: ``constant``; ``cosine`` (from ``lr`` to 0 over ``steps``); ``step`` (× ``step_gamma``
            at half and at three quarters of ``steps``).
        normalize_mean, normalize_std: per-channel values (or one for all channels): the model sees
            ``(x - mean) / std`` of images in [0, 1], as a pretrained network expects; ``None``: [0, 1].
        la_tau: the ``la`` arms' logit adjustment, ``logits + la_tau · log(prior)``.
        mixup_alpha: the mixup arm's ``lambda ~ Beta(mixup_alpha, mixup_alpha)`` (1: uniform).
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
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"
    step_gamma: float = 0.1
    normalize_mean: Optional[tuple] = None
    normalize_std: Optional[tuple] = None
    la_tau: float = 1.0
    mixup_alpha: float = 1.0
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
        "arms": [Check(lambda v: v and len(set(v)) == len(v) and all(a in arm_names() for a in v),
                       f"a non-empty list of distinct arms from {', '.join(ARMS)} (or arms added by register_arm)")],
        "classifier": [Check(lambda v: v in CLASSIFIERS or bool(_FACTORY.match(v)),
                             f"one of {', '.join(CLASSIFIERS)}, or a factory as package.module:function")],
        "seeds": [Check(lambda v: v and len(set(v)) == len(v), "one or more distinct integers")],
        "steps": [Interval(int, 1)], "batch_size": [Interval(int, 1)],
        "optimizer": [OneOf(OPTIMIZERS)], "schedule": [OneOf(SCHEDULES)],
        "lr": [Interval(float, 0, closed="neither")], "weight_decay": [Interval(float, 0)],
        "momentum": [Interval(float, 0, 1, closed="left")], "step_gamma": [Interval(float, 0, 1, closed="right")],
        "normalize_mean": [Check(_floats, "None or one or more numbers, one per channel")],
        "normalize_std": [Check(lambda v: _floats(v) and (v is None or all(x > 0 for x in v)),
                                "None or one or more positive numbers, one per channel")],
        "la_tau": [Interval(float, 0)], "mixup_alpha": [Interval(float, 0, closed="neither")],
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
        for name in ("normalize_mean", "normalize_std"):
            value = getattr(self, name)
            if value is not None:
                value = (value,) if isinstance(value, (int, float)) else value
                try:  # numbers to floats; anything else is left for the check to name
                    value = tuple(float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else x for x in value)
                except TypeError:
                    pass
                object.__setattr__(self, name, value)
        if (self.normalize_mean is None) != (self.normalize_std is None):
            from ..errors import ConfigError

            raise ConfigError("normalize_mean and normalize_std go together: give both or neither.")
