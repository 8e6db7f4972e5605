"""The report's arms as plugins: an arm is a name, a training pool, how its batches are drawn,
an optional batched augmentation and mixing step, and its loss. The built-in arms are registered
here; :func:`register_arm` adds a user's own (their own loss, say) under a new name.

This module loads no torch at import (the settings and ``--help`` read it); the losses and mixup
import it when called.

A loss is called as ``loss(logits, targets, ctx)``: ``logits`` (B, K); ``targets`` int64 class
indices (B,), or class probabilities (B, K) when the arm mixes items (mixup); ``ctx`` an
:class:`ArmContext` (the pool's class counts, the settings, the arm's own random generator). A mix
step is called as ``mix(x, targets, ctx)`` on float images in [0, 1] after augmentation, with
``targets`` one-hot (B, K), and returns ``(x, targets)`` of the same shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

from ..errors import ConfigError

__all__ = ["Arm", "ArmContext", "register_arm", "get_arm", "arm_names", "cross_entropy", "class_weighted",
           "logit_adjusted", "mixup", "POOLS", "SAMPLINGS", "AUGMENTS"]

# Training pools the report builds: the real data, SMOTE's resampling of it, the balanced data
# before the long tail, the real data topped up with generated images, generated images alone,
# and the real data with a generated pool that the class-balanced sampler mixes in (``alpha``).
POOLS = ("real", "smote", "oracle", "synthetic", "synthetic-only", "synthetic-mix")
# "instance": shuffled epochs over the pool (each item once per epoch); "balanced": the public
# ClassBalancedSampler (a class drawn uniformly, then an item of it).
SAMPLINGS = ("instance", "balanced")
AUGMENTS = ("", "classic", "strong")  # none; the random affine; elastic distortion, then the affine


@dataclass
class ArmContext:
    """What a loss or mix step may read: ``counts`` (K,) float tensor of the pool's images per class
    on the training device, ``config`` (the :class:`~cgan_augment.report.ReportConfig`), ``rng`` (a
    CPU ``torch.Generator`` seeded from the run's seed, for the arm's own draws) and ``num_classes``."""

    counts: Any
    config: Any
    rng: Any
    num_classes: int


@dataclass(frozen=True)
class Arm:
    """One way of training on the imbalanced data.

    Args:
        name: the arm's name in ``ReportConfig.arms``, ``--arms`` and the report.
        description: one line for the report and the docs.
        pool: one of :data:`POOLS`, or a callable ``pool(images, labels, seed) -> (images, labels)``
            (uint8 N×C×H×W, int64 N) that builds the training pool from the real data.
        sampling: how batches are drawn (:data:`SAMPLINGS`); ``synthetic-mix`` pools always use the
            class-balanced sampler with ``alpha``.
        augment: the batched augmentation (:data:`AUGMENTS`), with the report's settings.
        loss: ``loss(logits, targets, ctx)``; default :func:`cross_entropy`.
        mix: ``mix(x, targets, ctx) -> (x, targets)`` after augmentation, e.g. :func:`mixup`.
        cheap: a recipe without a generator that the verdict's bar is chosen from (see
            :mod:`~cgan_augment.report.gains`); decided by the arm's definition, never its result.
    """

    name: str
    description: str = ""
    pool: Union[str, Callable] = "real"
    sampling: str = "instance"
    augment: str = ""
    loss: Optional[Callable] = None
    mix: Optional[Callable] = None
    cheap: bool = False
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "," in self.name or self.name != self.name.strip():
            raise ConfigError(f"an arm's name should be a non-empty string without commas or outer spaces. Got {self.name!r}.")
        if not callable(self.pool) and self.pool not in POOLS:
            raise ConfigError(f"arm {self.name}: pool should be one of {', '.join(POOLS)} or a callable. Got {self.pool!r}.")
        if self.sampling not in SAMPLINGS:
            raise ConfigError(f"arm {self.name}: sampling should be one of {', '.join(SAMPLINGS)}. Got {self.sampling!r}.")
        if self.augment not in AUGMENTS:
            raise ConfigError(f"arm {self.name}: augment should be one of 'classic', 'strong' or ''. Got {self.augment!r}.")
        for what in ("loss", "mix"):
            if getattr(self, what) is not None and not callable(getattr(self, what)):
                raise ConfigError(f"arm {self.name}: {what} should be callable. Got {getattr(self, what)!r}.")

    @property
    def needs_generator(self) -> bool:
        return self.pool in ("synthetic", "synthetic-only", "synthetic-mix")

    @property
    def class_balanced(self) -> bool:
        """Whether batches are drawn class-balanced (the sampler corrects for the prior)."""
        return self.sampling == "balanced" or self.pool == "synthetic-mix"

    @property
    def prior_corrected(self) -> bool:
        """Whether the loss corrects for the class prior itself (logit adjustment, class weights)."""
        return bool(getattr(self.loss, "prior_corrected", False))

    def signature(self) -> str:
        """What the arm's runs depend on, for the run cache (callables by their qualified names)."""
        name = lambda f: f if isinstance(f, str) or f is None else _qualname(f)  # noqa: E731
        return "|".join(map(str, (self.name, name(self.pool), self.sampling, self.augment, name(self.loss), name(self.mix))))


def _qualname(f) -> str:
    inner = getattr(f, "func", None)  # functools.partial, and the losses below
    params = getattr(f, "params", None)
    base = f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', type(f).__qualname__)}"
    return base + (f"({inner})" if inner else "") + (f"{params}" if params else "")


# ----------------------------------------------------------------------------- losses and mixing


class _Loss:
    """A named loss: ``prior_corrected`` says whether it corrects for the class prior itself."""

    def __init__(self, name: str, fn: Callable, prior_corrected: bool, **params):
        self.__qualname__, self.__module__ = name, __name__
        self.fn, self.prior_corrected, self.params = fn, prior_corrected, params

    def __call__(self, logits, targets, ctx):
        return self.fn(logits, targets, ctx, **self.params)

    def __repr__(self):
        return f"{self.__qualname__}({', '.join(f'{k}={v}' for k, v in self.params.items())})"


def _ce(logits, targets, ctx):
    import torch.nn.functional as F

    return F.cross_entropy(logits, targets)


def _weighted(logits, targets, ctx):
    import torch
    import torch.nn.functional as F

    counts = ctx.counts
    weight = torch.where(counts > 0, counts.sum() / (len(counts) * counts.clamp(min=1)), torch.zeros_like(counts))
    return F.cross_entropy(logits, targets, weight=weight.to(logits.dtype))


def _logit_adjusted(logits, targets, ctx, tau=None):
    import torch.nn.functional as F

    tau = ctx.config.la_tau if tau is None else tau
    prior = ctx.counts.clamp(min=1) / ctx.counts.sum()  # an absent class counts as one image: no log(0)
    return F.cross_entropy(logits + tau * prior.log().to(logits.dtype), targets)


def cross_entropy() -> _Loss:
    """Plain cross-entropy."""
    return _Loss("cross_entropy", _ce, False)


def class_weighted() -> _Loss:
    """Cross-entropy weighted by inverse class frequency, ``n / (K · n_c)`` (sklearn's "balanced")."""
    return _Loss("class_weighted", _weighted, True)


def logit_adjusted(tau: Optional[float] = None) -> _Loss:
    """Logit-adjusted cross-entropy (Menon et al., ICLR 2021): cross-entropy on
    ``logits + tau · log(prior)``, the prior being the pool's class frequencies; at ``tau`` = 1 it
    is Balanced Softmax (Ren et al., NeurIPS 2020). ``None``: the report's ``la_tau``. Predictions
    use the plain logits. Meant for instance sampling: with a class-balanced sampler it corrects
    twice, and the report warns."""
    return _Loss("logit_adjusted", _logit_adjusted, True, **({} if tau is None else {"tau": float(tau)}))


def _mixup(x, targets, ctx, alpha=None):
    """Input mixup (Zhang et al., ICLR 2018): one ``lambda ~ Beta(alpha, alpha)`` per batch (alpha 1:
    uniform), each item mixed with one of a random permutation of the batch, targets likewise."""
    import torch
    from scipy.stats import beta

    alpha = ctx.config.mixup_alpha if alpha is None else alpha
    u = float(torch.rand((), generator=ctx.rng))
    lam = float(beta.ppf(u, alpha, alpha))  # inverse CDF: the draw comes from the arm's own generator
    perm = torch.randperm(len(x), generator=ctx.rng).to(x.device)
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm]


def mixup(alpha: Optional[float] = None) -> _Loss:
    """A mix step for :class:`Arm`: input mixup with ``lambda ~ Beta(alpha, alpha)`` drawn once per
    batch from the arm's generator (``None``: the report's ``mixup_alpha``; 1 is uniform)."""
    return _Loss("mixup", _mixup, False, **({} if alpha is None else {"alpha": float(alpha)}))


# ----------------------------------------------------------------------------- the registry

_REGISTRY: dict = {}


def register_arm(arm: Arm, *, replace: bool = False) -> Arm:
    """Add ``arm`` to the arms ``ReportConfig`` accepts (``replace``: over one of the same name)."""
    if not isinstance(arm, Arm):
        raise ConfigError(f"register_arm takes an Arm. Got {type(arm).__name__}.")
    if arm.name in _REGISTRY and not replace:
        raise ConfigError(f"an arm named {arm.name!r} is already registered; choose another name or pass replace=True.")
    _REGISTRY[arm.name] = arm
    return arm


def get_arm(name: str) -> Arm:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"no arm named {name!r}; known arms: {', '.join(_REGISTRY)}.") from None


def arm_names() -> tuple:
    """Every registered arm's name, built-in ones first."""
    return tuple(_REGISTRY)


for _arm in (
    Arm("real", "the imbalanced training data as it is (shuffled epochs)"),
    Arm("class-weights", "the same, loss weighted by inverse class frequency", loss=class_weighted()),
    Arm("oversample", "a class-balanced sampler over the real images (no copies)", sampling="balanced"),
    Arm("smote", "imbalanced-learn's SMOTE on flattened pixels (skipped if not installed)", pool="smote"),
    Arm("classic-aug", "the class-balanced sampler plus a random affine on every item", sampling="balanced",
        augment="classic", cheap=True),
    Arm("strong-aug", "the same with elastic distortion before the affine", sampling="balanced", augment="strong",
        cheap=True),
    Arm("la", "logit-adjusted cross-entropy (tau = la_tau), instance sampling", loss=logit_adjusted(), cheap=True),
    Arm("la+aug", "la with the random affine", augment="classic", loss=logit_adjusted(), cheap=True),
    Arm("la+strong-aug", "la with elastic distortion, then the affine", augment="strong", loss=logit_adjusted(),
        cheap=True),
    Arm("la+aug+mixup", "la+aug with input mixup (lambda ~ Beta(mixup_alpha, mixup_alpha), one per batch)",
        augment="classic", loss=logit_adjusted(), mix=mixup(), cheap=True),
    Arm("synthetic", "real + SyntheticDataset topped up to balance", pool="synthetic"),
    Arm("synthetic+aug", "classic-aug with a share alpha of the rare classes' draws generated", pool="synthetic-mix",
        sampling="balanced", augment="classic"),
    Arm("synthetic+strong-aug", "the same mix under the strong augmentation: the recommended pipeline",
        pool="synthetic-mix", sampling="balanced", augment="strong"),
    Arm("synthetic-only", "generated images alone (the Classification Accuracy Score)", pool="synthetic-only"),
    Arm("oracle", "the balanced data before the long tail, when given: the ceiling", pool="oracle"),
):
    register_arm(_arm)
del _arm
