"""What any labeled dataset offers, whatever its reader: class counts, subsets that keep the
labels, a long-tailed subset, the whole set as uint8 tensors, and a fingerprint of its items.

A labeled dataset yields ``(image, label)`` with ``image`` a float32 tensor C×H×W in [0, 1] and
exposes ``classes``, ``class_to_idx`` and ``targets`` like torchvision's ``ImageFolder``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import DataError

__all__ = ["class_counts", "LabeledSubset", "to_uint8", "dataset_tensors", "long_tailed_indices"]


def class_counts(dataset) -> list[int]:
    """Items per class, in class-index order, read from ``dataset.targets`` (no image is opened)."""
    counts = Counter(int(t) for t in dataset.targets)
    return [counts.get(k, 0) for k in range(len(dataset.classes))]


class LabeledSubset(Dataset):
    """A subset of a labeled dataset that keeps ``classes``, ``class_to_idx`` and ``targets``."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = [int(i) for i in indices]
        self.classes = dataset.classes
        self.class_to_idx = dataset.class_to_idx
        self.targets = [dataset.targets[i] for i in self.indices]
        self.image_size, self.channels = dataset.image_size, dataset.channels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]

    def __getitems__(self, indices: list[int]):
        parent = [self.indices[i] for i in indices]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(parent)
        return [self.dataset[i] for i in parent]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] (any shape, any device) as uint8 0..255 on the CPU (clamped, rounded)."""
    return (images.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)


def dataset_tensors(dataset, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 N×C×H×W, int64 N) of a whole labeled dataset (items ``(float C×H×W in [0, 1], label)``):
    a :class:`LabeledSubset` of in-memory :class:`ArrayImages` is sliced directly, anything else is
    fetched in batches of ``chunk`` (through ``__getitems__`` where the dataset has it).

    Raises:
        DataError: the dataset is empty.
    """
    targets = torch.as_tensor(list(dataset.targets), dtype=torch.int64)
    base = getattr(dataset, "dataset", None)
    if isinstance(dataset, LabeledSubset) and isinstance(getattr(base, "images", None), torch.Tensor) \
            and getattr(base, "transform", None) is None:
        return base.images[dataset.indices].contiguous(), targets
    parts = []
    for start in range(0, len(dataset), chunk):
        idx = list(range(start, min(start + chunk, len(dataset))))
        items = dataset.__getitems__(idx) if hasattr(dataset, "__getitems__") else [dataset[i] for i in idx]
        parts.append(to_uint8(torch.stack([x for x, _ in items])))
    if not parts:
        raise DataError("empty dataset: nothing to train or test on.")
    return torch.cat(parts), targets


def long_tailed_indices(targets: Sequence[int], num_classes: int, imbalance: float, seed: int) -> list[int]:
    """Indices of a long-tailed subset: class k keeps ``round(n_max * imbalance ** (-k / (K-1)))``
    (at least 1, at most what it has), drawn without replacement with ``seed``."""
    targets = np.asarray(targets)
    n_max = int(max(np.sum(targets == k) for k in range(num_classes)))
    rng = np.random.default_rng(seed)
    keep = []
    for k in range(num_classes):
        members = np.flatnonzero(targets == k)
        n = max(1, round(n_max * imbalance ** (-k / max(1, num_classes - 1))))
        keep += sorted(rng.choice(members, size=min(n, len(members)), replace=False).tolist())
    return sorted(keep)


def _fingerprint(indices: Sequence[int]) -> str:
    """A short stable hash of a list of item indices (records which items a model was trained on)."""
    return hashlib.sha256(",".join(map(str, indices)).encode()).hexdigest()[:16]
