"""The two settings of a fit: :class:`TrainConfig` (the recipe, stored in the model file) and
:class:`RunSettings` (how the run goes)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .._util.choices import LOSSES, POLICIES
from .._util.constraints import BOOL, Check, CheckedConfig, Interval, OneOf

__all__ = ["TrainConfig", "RunSettings", "GAN_FAMILIES"]

GAN_FAMILIES = ("dcgan", "mlp")  # the families this recipe fits (through the adversarial loop)


@dataclass(frozen=True)
class TrainConfig(CheckedConfig):
    """The GAN families' recipe: what changes the model. Stored in the model file; ``resume``
    refuses another one (only ``steps`` may grow). Defaults are the settings that measured best for
    a GAN in ``benchmarks/bench_generators.py`` (``benchmarks/RESULTS.md``, issue 5). The
    recommended family is ``deform`` (:class:`~cgan_augment.DeformConfig`); fit either with
    :func:`~cgan_augment.fit_generator`.

    Args:
        family: ``dcgan`` (conv, conditional BatchNorm, spectral-norm projection discriminator) or ``mlp``.
        loss: ``hinge``, ``bce`` (non-saturating) or ``wgan-gp``.
        steps: generator updates in all.
        batch_size: real images per discriminator update.
        lr: Adam learning rate of both networks.
        beta1, beta2: Adam betas.
        d_steps: discriminator updates per generator update (``None``: 5 for wgan-gp, else 1).
        gp_weight: weight of the gradient penalty (wgan-gp only).
        z_dim: noise dimension.
        width: channel width multiplier of both networks.
        ema_decay: decay of the generator-weights moving average (ramped up over the first steps).
        balanced: draw real batches class-balanced (a class uniformly, then one of its images).
        diffaugment: DiffAugment policy applied before the discriminator ("" to turn it off).
        mode_seeking: weight of the mode-seeking term (Mao et al. 2019): the generator is pushed to
            make images that differ as much as their noise vectors do, for the same class, which
            counters a generator that ignores its noise (every sample of a class alike).
        seed: seed of initialisation, batches, noise and augmentation.
    """

    family: str = "dcgan"
    loss: str = "hinge"
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.0
    beta2: float = 0.9
    d_steps: Optional[int] = None
    gp_weight: float = 10.0
    z_dim: int = 64
    width: int = 16
    ema_decay: float = 0.999
    balanced: bool = True
    diffaugment: str = "translation,cutout"
    mode_seeking: float = 0.1
    seed: int = 0

    _parameter_constraints = {
        "family": [Check(lambda v: v in GAN_FAMILIES, f"one of {', '.join(GAN_FAMILIES)} (the GAN families; "
                         "the deform family's recipe is DeformConfig)")],
        "loss": [OneOf(LOSSES)],
        "steps": [Interval(int, 1)], "batch_size": [Interval(int, 1)], "z_dim": [Interval(int, 1)], "width": [Interval(int, 1)],
        "lr": [Interval(float, 0, closed="neither")],
        "beta1": [Interval(float, 0, 1, closed="left")], "beta2": [Interval(float, 0, 1, closed="left")],
        "d_steps": [None, Interval(int, 1)],
        "gp_weight": [Interval(float, 0)],
        "ema_decay": [Interval(float, 0, 1, closed="left")],
        "balanced": [BOOL],
        "diffaugment": [Check(lambda v: isinstance(v, str) and all(p in POLICIES for p in filter(None, v.split(","))),
                              f"a comma-separated subset of {', '.join(POLICIES)} (or empty)")],
        "mode_seeking": [Interval(float, 0)],
        "seed": [Interval(int)],
    }

    @property
    def discriminator_steps(self) -> int:
        return self.d_steps if self.d_steps is not None else (5 if self.loss == "wgan-gp" else 1)


@dataclass(frozen=True)
class RunSettings(CheckedConfig):
    """How a fit runs, not what it makes: nothing here changes the model, so a resumed run may use
    other values (``config.json`` records them; the model file does not).

    Args:
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        num_workers: DataLoader worker processes decoding images.
        sample_every: steps between sample grids (and the per-class diversity log line).
        checkpoint_every: steps between checkpoints (model and checkpoint files).
        log_every: steps between loss lines in ``log.jsonl``; the losses are read back from the
            device only then (and at grid and checkpoint steps): one synchronisation per window.
        strict: stop with :class:`~cgan_augment.TrainingCollapsed` at the first mode-collapse or
            stall warning (after writing that step's files) instead of training on.
        precision: ``fp32``, or ``bf16`` (autocast of the forward passes to bfloat16; for GPUs).
    """

    device: str = "auto"
    num_workers: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 1
    strict: bool = False
    precision: str = "fp32"

    _parameter_constraints = {
        "precision": [OneOf(("fp32", "bf16"))],
        "num_workers": [Interval(int, 0)],
        "sample_every": [Interval(int, 1)], "checkpoint_every": [Interval(int, 1)], "log_every": [Interval(int, 1)],
        "strict": [BOOL],
    }

    def _normalise(self) -> None:
        object.__setattr__(self, "device", str(self.device))  # a torch.device too; checked when the fit resolves it
