"""Loading labeled image data: :func:`load_data` reads what a :class:`DataSpec` names (an ImageFolder
tree, an ``.npz`` file or a bundled ``builtin:`` set) and applies its test split and long tail.

Every dataset it gives yields ``(image, label)`` with ``image`` a float32 tensor C×H×W in [0, 1] and
``label`` an int, and exposes ``classes``, ``class_to_idx`` and ``targets`` like torchvision's
``ImageFolder``, so class counts never need a pass over the images. The readers live in
:mod:`~cgan_augment.data.folders` (ImageFolder) and :mod:`~cgan_augment.data.arrays` (``.npz``, builtins);
what any labeled dataset offers (counts, subsets, tensors) in :mod:`~cgan_augment.data.subsets`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from torch.utils.data import Dataset

from ..errors import DataError
from .arrays import _load_builtin, _load_npz
from .folders import ImageFolderImages, _show
from .spec import DataSpec
from .subsets import LabeledSubset, long_tailed_indices

__all__ = ["DataSpec", "LoadedData", "load_data"]


@dataclass(frozen=True)
class LoadedData:
    """The result of :func:`load_data`: the training part, the held-out test part (or ``None``),
    and the number of skipped files per kind of problem."""

    train: Dataset
    test: Optional[Dataset]
    skipped: dict = field(default_factory=dict)


def load_data(spec: DataSpec) -> LoadedData:
    """Load ``spec.source`` and apply the split and long tail that ``spec`` describes.

    Raises:
        DataError: the source is missing, unreadable, has fewer than two classes, an empty class,
            a bad file (unless ``skip_bad``), mismatched ``x``/``y`` or an out-of-range label.
    """
    source = spec.source
    if source.startswith("builtin:"):
        full = _load_builtin(source.split(":", 1)[1], spec.image_size, spec.channels)
    elif source.lower().endswith(".npz"):
        if not os.path.isfile(source):
            raise DataError(f"{_show(source)}: no such file.")
        full = _load_npz(source, spec.image_size, spec.channels)
    else:
        full = ImageFolderImages(source, spec.image_size, spec.channels, skip_bad=spec.skip_bad)
    if len(full.classes) < 2:
        raise DataError(f"{_show(source)}: only one class ({full.classes[0]!r}); a class-conditional model needs at least two.")
    skipped = dict(getattr(full, "skipped", {}))
    train_idx, test = list(range(len(full))), None
    if spec.test_split is not None:
        from sklearn.model_selection import train_test_split

        size = spec.test_split if spec.test_split < 1 else int(spec.test_split)
        try:
            train_idx, test_idx = train_test_split(train_idx, test_size=size, stratify=full.targets, random_state=spec.seed)
        except ValueError as e:
            raise DataError(f"{_show(source)}: cannot make a stratified test split of {spec.test_split}: {e}") from None
        test = LabeledSubset(full, sorted(test_idx))
    train = LabeledSubset(full, sorted(train_idx))
    if spec.imbalance is not None:
        keep = long_tailed_indices(train.targets, len(full.classes), spec.imbalance, spec.seed)
        train = LabeledSubset(full, [train.indices[i] for i in keep])
    return LoadedData(train=train, test=test, skipped=skipped)
