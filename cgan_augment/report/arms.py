"""The arms' training data: each arm's pool in memory (uint8) and how its batches are drawn
(shuffled epochs, or the public :class:`~cgan_augment.mixing.samplers.ClassBalancedSampler`, with or
without synthetic items), SMOTE, the batched augmentations, and the synthetic pool a :class:`~cgan_augment.SyntheticDataset` adds.
What each arm uses is its :class:`~cgan_augment.report.plugins.Arm` definition."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch

from ..data.arrays import ArrayImages
from ..data.subsets import to_uint8
from ..mixing.augmentation import Augmentation
from ..mixing.samplers import ClassBalancedSampler
from ..mixing.strategy import synthetic_plan
from ..mixing.synthetic import SyntheticDataset
from .config import ReportConfig
from .plugins import Arm, get_arm


@dataclass
class _ArmData:
    """One arm's training pool and how batches are drawn from it."""

    images: torch.Tensor  # (M, C, H, W) uint8
    labels: torch.Tensor  # (M,) int64
    sampling: str  # "shuffle" (epochs of permutations), "balanced" or "mixed" (ClassBalancedSampler)
    augment: str = ""  # "", "classic-aug" (affine) or "strong-aug" (elastic, then affine)
    fraction: object = 0.0  # synthetic_fraction of the "mixed" sampler
    synthetic: Optional[torch.Tensor] = None  # (M,) bool, for "mixed"

    note: str = ""
    arm: Optional[Arm] = None  # its loss and mix step

    def batches(self, steps: int, batch_size: int, seed: int) -> torch.Tensor:
        """Pool indices of every step: (steps, batch_size) int64, drawn from ``seed`` only."""
        total, n = steps * batch_size, len(self.labels)
        if self.sampling == "shuffle":
            rng = torch.Generator().manual_seed(seed)
            idx = torch.cat([torch.randperm(n, generator=rng) for _ in range(-(-total // n))])[:total]
        else:  # "balanced" (no synthetic items) or "mixed": the public sampler users get
            view = _PoolView(self.labels, self.synthetic)
            idx = ClassBalancedSampler(view, self.fraction if self.sampling == "mixed" else 0.0, seed=seed).draw(total)
        return idx.view(steps, batch_size)


class _PoolView:
    """``targets`` and ``is_synthetic`` of an arm's pool, for :class:`ClassBalancedSampler`."""

    def __init__(self, labels: torch.Tensor, synthetic: Optional[torch.Tensor]):
        self.targets = labels.tolist()
        self._synthetic = synthetic

    def __len__(self) -> int:
        return len(self.targets)

    def is_synthetic(self, i: int) -> bool:
        return self._synthetic is not None and bool(self._synthetic[i])


def _smote(images: torch.Tensor, labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    from imblearn.over_sampling import SMOTE

    smallest = int(torch.bincount(labels).min())
    if smallest < 2:
        raise _Skip(f"SMOTE needs at least 2 images per class; the smallest class has {smallest}")
    k = min(5, smallest - 1)
    x = images.flatten(1).numpy().astype(np.float32) / 255
    xs, ys = SMOTE(k_neighbors=k, random_state=seed).fit_resample(x, labels.numpy())
    x_new = torch.from_numpy(np.round(np.clip(xs, 0, 1) * 255).astype(np.uint8)).view(-1, *images.shape[1:])
    return x_new, torch.as_tensor(ys, dtype=torch.int64), f"k_neighbors={k}"


class _Skip(Exception):
    """An arm that cannot run here; the message says why (it goes into the report)."""


def _augmenter(config: ReportConfig, strong: bool) -> Augmentation:
    """The batched augmentation of an augmented arm: the affine, after elastic distortion if ``strong``."""
    return Augmentation(config.affine_degrees, config.affine_translate, config.affine_scale, config.flips,
                        config.elastic_alpha if strong else 0.0, config.elastic_sigma)


def _synthetic_fraction(config: ReportConfig, real_labels: torch.Tensor):
    """``alpha`` for every class with synthetic items, or only below ``synthetic_below`` real images."""
    if config.synthetic_below is None:
        return config.alpha
    counts = torch.bincount(real_labels)
    return {c: (config.alpha if int(n) < config.synthetic_below else 0.0) for c, n in enumerate(counts.tolist())}


def _arm_data(arm: Union[str, Arm], real: tuple, num_classes: int, seed: int, config: ReportConfig, generator,
              oracle: Optional[tuple], device: torch.device) -> _ArmData:
    """The training pool of ``arm`` (a registered name or an :class:`Arm`) for ``seed`` (random
    draws from ``seed`` only), with how its batches are drawn and augmented."""
    arm = get_arm(arm) if isinstance(arm, str) else arm
    sampling = {"instance": "shuffle", "balanced": "balanced"}[arm.sampling]
    augment = {"": "", "classic": "classic-aug", "strong": "strong-aug"}[arm.augment]
    x, y, note = _pool(arm, real, seed, config, generator, oracle, device)
    data = _ArmData(x, y, sampling, augment=augment, note=note, arm=arm)
    if arm.pool == "synthetic-mix":
        images, labels = real
        syn_x, syn_y = _synthetic_pool(real, generator, config.synthetic_target, seed, device)
        data.images, data.labels = torch.cat([images, syn_x]), torch.cat([labels, syn_y])
        data.synthetic = torch.cat([torch.zeros(len(labels), dtype=torch.bool), torch.ones(len(syn_y), dtype=torch.bool)])
        data.sampling, data.fraction = "mixed", _synthetic_fraction(config, labels)
        below = "" if config.synthetic_below is None else f" for classes under {config.synthetic_below} real images"
        data.note = f"{len(syn_y)} synthetic images, alpha={config.alpha}{below}"
    return data


def _pool(arm: Arm, real: tuple, seed: int, config: ReportConfig, generator, oracle, device) -> tuple:
    """(images, labels, note) of the arm's pool (the synthetic-mix pool's real part)."""
    images, labels = real
    if callable(arm.pool):
        x, y = arm.pool(images, labels, seed)
        return x, torch.as_tensor(y, dtype=torch.int64), ""
    if arm.pool in ("real", "synthetic-mix") and not (arm.pool == "synthetic-mix" and generator is None):
        return images, labels, ""
    if arm.pool == "smote":
        try:
            import imblearn  # noqa: F401
        except ImportError:
            raise _Skip("imbalanced-learn is not installed (pip install imbalanced-learn)") from None
        return _smote(images, labels, seed)
    if arm.pool == "oracle":
        if oracle is None:
            raise _Skip("no oracle data given (the balanced data before the long tail)")
        return oracle[0], oracle[1], ""
    if generator is None:
        raise _Skip("no generator given")
    if arm.pool == "synthetic-only":
        n = int(torch.bincount(labels).max())
        y = torch.arange(generator.num_classes).repeat_interleave(n)
        x = to_uint8(generator.sample(y.to(device), seed=seed))
        return x, y, f"{n} generated images per class"
    syn_x, syn_y = _synthetic_pool(real, generator, config.synthetic_target, seed, device)  # "synthetic"
    return torch.cat([images, syn_x]), torch.cat([labels, syn_y]), f"{len(syn_y)} synthetic images"


# What each synthetic arm trains when no class gets a generated image: the same pool, sampler,
# augmentation and draws as this baseline, so its numbers equal the baseline's by construction.
SAME_WITHOUT_GENERATED = {"synthetic": "real", "synthetic+aug": "classic-aug", "synthetic+strong-aug": "strong-aug"}


def without_generated(arm: str, labels: torch.Tensor, classes: list, config: ReportConfig) -> str:
    """Why no class gets a generated image in ``arm``'s training ("" when some class does), from
    the real labels and the settings alone (the plan of the synthetic pool and the sampler's
    share per class; no generator runs)."""
    if arm not in SAME_WITHOUT_GENERATED:
        return ""
    counts = torch.bincount(labels, minlength=len(classes)).tolist()
    topped = [k for k, p in enumerate(synthetic_plan(counts, config.synthetic_target, classes).values()) if p["synthetic"]]
    if not topped:
        return f"synthetic_target {config.synthetic_target!r} adds no image to these class counts"
    if arm == "synthetic":
        return ""
    fraction = _synthetic_fraction(config, labels)
    share = lambda k: fraction if not isinstance(fraction, dict) else fraction.get(k, 0.0)  # noqa: E731
    if any(share(k) > 0 or counts[k] == 0 for k in topped):  # a class with no real image draws only generated ones
        return ""
    if config.alpha <= 0:
        return "alpha is 0"
    return f"every class with generated images has at least synthetic_below={config.synthetic_below} real images"


def _synthetic_pool(real: tuple, generator, target, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The synthetic images and labels a ``SyntheticDataset`` over the real pool adds (uint8, int64)."""
    images, labels = real
    ds = SyntheticDataset(ArrayImages(images, labels.tolist(), generator.classes), generator, target,
                          seed=seed, device=device)
    return ds.pool.clone(), torch.as_tensor(ds.synthetic_targets, dtype=torch.int64)
