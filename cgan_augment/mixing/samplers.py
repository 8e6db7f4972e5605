"""How synthetic items enter training: a class-balanced ``Sampler`` and an on-device batch mixer.

Both take the share of synthetic items per class, ``synthetic_fraction``, as

* a float p in [0, 1]: the same for every class that has synthetic items;
* a dict ``{class name or index: p}`` (classes left out get 0);
* a callable ``f(class_size) -> p``, e.g. :func:`by_class_size` (GIT-style: none above a size
  threshold, most for the rarest; Zhou et al. 2022).

The report's synthetic arms use exactly these two, so what it measures is what a user gets.
"""

from __future__ import annotations

from typing import Callable, Iterator, Mapping, Optional, Sequence, Union

import torch
from torch.utils.data import Sampler

from .._util.devices import check_has_values
from ..errors import ConfigError

__all__ = ["ClassBalancedSampler", "BatchMixer", "by_class_size"]

Fraction = Union[float, Mapping, Callable[[int], float]]


def by_class_size(max_fraction: float = 0.5, threshold: int = 40) -> Callable[[int], float]:
    """p(n) = ``max_fraction`` × (1 − n / ``threshold``) for classes of n < ``threshold`` real items, else 0."""
    if not 0 <= max_fraction <= 1 or threshold < 1:
        raise ConfigError(f"by_class_size needs max_fraction in [0, 1] and threshold >= 1. Got {max_fraction}, {threshold}.")

    def fraction(n: int) -> float:
        return max_fraction * max(0.0, 1.0 - n / threshold)

    fraction.__name__ = f"by_class_size(max_fraction={max_fraction}, threshold={threshold})"
    return fraction


def _per_class_fraction(fraction: Fraction, classes: Sequence[str], real_counts: Sequence[int]) -> torch.Tensor:
    """(K,) float tensor of p per class, checked to lie in [0, 1]."""
    k = len(classes)
    if callable(fraction):
        p = [float(fraction(int(n))) for n in real_counts]
    elif isinstance(fraction, Mapping):
        p = [0.0] * k
        for key, value in fraction.items():
            if isinstance(key, str) and key in classes:
                p[classes.index(key)] = float(value)
            elif isinstance(key, int) and not isinstance(key, bool) and 0 <= key < k:
                p[key] = float(value)
            else:
                raise ConfigError(f"synthetic_fraction names class {key!r}, which is not one of {list(classes)}.")
    elif isinstance(fraction, (int, float)) and not isinstance(fraction, bool):
        p = [float(fraction)] * k
    else:
        raise ConfigError(f"synthetic_fraction should be a float, a dict or a callable. Got {fraction!r}.")
    bad = [(classes[i], v) for i, v in enumerate(p) if not 0 <= v <= 1]
    if bad:
        raise ConfigError(f"synthetic_fraction for class {bad[0][0]!r} is {bad[0][1]}; it should lie in [0, 1].")
    return torch.tensor(p, dtype=torch.float64)


def _synthetic_mask(dataset) -> torch.Tensor:
    n = len(dataset)
    if hasattr(dataset, "num_real"):  # SyntheticDataset: real items first
        mask = torch.zeros(n, dtype=torch.bool)
        mask[int(dataset.num_real):] = True
        return mask
    if hasattr(dataset, "is_synthetic"):
        return torch.tensor([bool(dataset.is_synthetic(i)) for i in range(n)])
    return torch.zeros(n, dtype=torch.bool)


class ClassBalancedSampler(Sampler[int]):
    """Indices of ``dataset``: each draw picks a class uniformly, then a synthetic item of that
    class with probability p(class) (where it has any), else a real one, uniformly within the group.

    Epochs: after ``set_epoch(e)`` every iteration draws epoch e's order, a function of
    ``(seed, e)`` only (as with ``DistributedSampler``). Without ``set_epoch`` the sampler advances
    by itself: its k-th iteration (k = 0, 1, ...) draws epoch k's order, so a loop that forgets
    ``set_epoch`` still sees a fresh order, and every item of a large class, over the epochs.

    Args:
        dataset: any labelled dataset: labels are read as :class:`SyntheticDataset` reads them
            (``targets``, else a ``TensorDataset``'s label tensor, else one pass over the items);
            synthetic items are those past ``num_real`` (as in ``SyntheticDataset``) or flagged by
            ``is_synthetic(i)``; without either it is plain class-balanced oversampling.
        synthetic_fraction: p per class (see the module docstring).
        num_samples: draws per epoch (default ``len(dataset)``).
        warmup_epochs: epochs before epoch ``warmup_epochs`` draw no synthetic items.
        seed: the draws of epoch e depend on (seed, e) only.

    Raises:
        ConfigError: an empty dataset, a bad ``synthetic_fraction`` or ``num_samples``.
        DataError: labels that are not integer class indices.
    """

    def __init__(self, dataset, synthetic_fraction: Fraction = 0.25, *, num_samples: Optional[int] = None,
                 warmup_epochs: int = 0, seed: int = 0):
        from .synthetic import _real_targets

        targets = torch.as_tensor(_real_targets(dataset, None) if len(dataset) else [], dtype=torch.int64)
        if len(targets) == 0:
            raise ConfigError("ClassBalancedSampler needs a dataset with at least one item.")
        classes = list(getattr(dataset, "classes", [str(k) for k in range(int(targets.max()) + 1)]))
        synthetic = _synthetic_mask(dataset)
        real_counts = torch.bincount(targets[~synthetic], minlength=len(classes))
        self.fraction = _per_class_fraction(synthetic_fraction, classes, real_counts.tolist())
        self.num_samples = len(targets) if num_samples is None else int(num_samples)
        if self.num_samples < 1:
            raise ConfigError(f"num_samples should be a positive integer. Got {num_samples!r}.")
        self.warmup_epochs, self.seed, self.epoch = int(warmup_epochs), int(seed), 0
        self._epoch_set, self._iterations = False, 0  # without set_epoch, iteration k draws epoch k
        self._groups = {}  # (class, is_synthetic) -> item indices
        for c in torch.unique(targets).tolist():
            for syn in (False, True):
                members = torch.nonzero((targets == c) & (synthetic == syn)).squeeze(1)
                if len(members):
                    self._groups[(c, syn)] = members
        self._present = torch.tensor(sorted({c for c, _ in self._groups}))

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s order from now on (at every iteration, until the next call)."""
        self.epoch, self._epoch_set = int(epoch), True

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        epoch = self.epoch if self._epoch_set else self._iterations
        self._iterations += 1
        return iter(self.draw(self.num_samples, epoch).tolist())

    def draw(self, n: int, epoch: Optional[int] = None) -> torch.Tensor:
        """``n`` indices of ``epoch`` (default: the one ``set_epoch`` gave, else 0) as int64, as
        ``__iter__`` yields them."""
        epoch = self.epoch if epoch is None else int(epoch)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        cls = self._present[torch.randint(len(self._present), (n,), generator=gen)]
        use_synthetic = epoch >= self.warmup_epochs
        coin = torch.rand(n, generator=gen, dtype=torch.float64) < self.fraction[cls]
        pick = torch.rand(n, generator=gen, dtype=torch.float64)
        idx = torch.empty(n, dtype=torch.int64)
        for c in self._present.tolist():
            in_c = cls == c
            has_real, has_syn = (c, False) in self._groups, (c, True) in self._groups
            syn = in_c & coin if (has_real and has_syn and use_synthetic) else in_c & (not has_real)
            for flag, mask in ((True, syn), (False, in_c & ~syn)):
                if mask.any():
                    members = self._groups[(c, flag)]
                    idx[mask] = members[(pick[mask] * len(members)).long().clamp(max=len(members) - 1)]
        return idx


class BatchMixer:
    """Replaces items of a real batch with generated ones, on the batch's device, for loops that
    keep no synthetic pool.

    ``mixer(x, y)`` takes images N×C×H×W in [0, 1] and class indices (N,) in the generator's class
    order, and returns ``(x_mixed, y, is_synthetic)``: item i is replaced with probability p(y[i])
    by a variant of itself (families with ``vary``, e.g. ``deform``) or by a fresh sample of its
    class. ``class_counts`` (real items per class) feeds a callable ``synthetic_fraction``.
    The noise comes from a generator on the batch's device seeded with ``seed``. The generator may
    sit on another device than the batch (a model loaded on the GPU, a DataLoader batch on the CPU):
    its inputs are moved to it and its images back to the batch's device.

    Raises (on call):
        DeviceError: the generator or the batch is on the meta device (no values).
    """

    def __init__(self, generator, synthetic_fraction: Fraction = 0.25, *, class_counts: Optional[Sequence[int]] = None,
                 seed: int = 0):
        self.generator = generator.eval()  # BatchNorm generators sample with their running statistics
        counts = list(class_counts) if class_counts is not None else [0] * generator.num_classes
        if callable(synthetic_fraction) and class_counts is None:
            raise ConfigError("a callable synthetic_fraction needs class_counts (real items per class).")
        self.fraction = _per_class_fraction(synthetic_fraction, list(generator.classes), counts).float()
        self.seed = int(seed)
        self._rng: Optional[torch.Generator] = None

    @torch.no_grad()
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        g = self.generator
        check_has_values(g.device, "the BatchMixer's generator")
        check_has_values(x.device, "the batch given to BatchMixer")
        if self._rng is None or self._rng.device != x.device:
            self._rng = torch.Generator(device=x.device).manual_seed(self.seed)
        p = self.fraction.to(x.device)[y]
        swap = torch.rand(len(y), generator=self._rng, device=x.device) < p
        if not bool(swap.any()):
            return x, y, swap
        x, n = x.clone(), int(swap.sum())
        # Noise is drawn on the batch's device (the same numbers wherever the generator sits), then
        # moved to the generator's; its images come back to the batch's device.
        if hasattr(g, "vary"):
            z = torch.randn(n, g.z_dim - 1, generator=self._rng, device=x.device)
            made = g.vary(x[swap].to(g.device), z=z.to(g.device))
        else:
            z = torch.randn(n, g.z_dim, generator=self._rng, device=x.device)
            made = g(z.to(g.device), y[swap].to(g.device)).clamp(0, 1)
        x[swap] = made.to(x.device, x.dtype)
        return x, y, swap
