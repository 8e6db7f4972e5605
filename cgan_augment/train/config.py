"""The two settings of a fit: :class:`TrainConfig` (the recipe, stored in the model file) and
:class:`RunSettings` (how the run goes)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Optional

from ..diffaugment import check_policy
from ..errors import ConfigError
from ..losses import check_loss
from ..models import FAMILIES

__all__ = ["TrainConfig", "RunSettings"]


@dataclass(frozen=True)
class TrainConfig:
    """The recipe: what changes the model. Stored in the model file; ``resume`` refuses another one
    (only ``steps`` may grow). Defaults are the recommended settings: those that measured best in
    ``benchmarks/bench_generators.py`` (see ``benchmarks/RESULTS.md``, issue 5).

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

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ConfigError(f"family should be one of {', '.join(FAMILIES)}. Got {self.family!r}.")
        check_loss(self.loss)
        check_policy(self.diffaugment)
        for name in ("steps", "batch_size", "z_dim", "width"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} should be a positive integer. Got {getattr(self, name)!r}.")
        if self.d_steps is not None and self.d_steps < 1:
            raise ConfigError(f"d_steps should be a positive integer. Got {self.d_steps!r}.")
        if not self.lr > 0:
            raise ConfigError(f"lr should be positive. Got {self.lr}.")
        if not (0 <= self.ema_decay < 1 and 0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError("ema_decay, beta1 and beta2 should lie in [0, 1).")

    @property
    def discriminator_steps(self) -> int:
        return self.d_steps if self.d_steps is not None else (5 if self.loss == "wgan-gp" else 1)

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """From a model file's ``train_config`` (keys that are not recipe fields, such as the run
        settings older files stored there, are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class RunSettings:
    """How a fit runs, not what it makes: nothing here changes the model, so a resumed run may use
    other values (``config.json`` records them; the model file does not).

    Args:
        device: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
        num_workers: DataLoader worker processes decoding images.
        sample_every: steps between sample grids (and the per-class diversity log line).
        checkpoint_every: steps between checkpoints (model and checkpoint files).
        log_every: steps between loss lines in ``log.jsonl``.
    """

    device: str = "auto"
    num_workers: int = 0
    sample_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 1

    def __post_init__(self):
        object.__setattr__(self, "device", str(self.device))
        for name in ("sample_every", "checkpoint_every", "log_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"{name} should be a positive integer. Got {getattr(self, name)!r}.")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ConfigError(f"num_workers should be >= 0. Got {self.num_workers!r}.")
