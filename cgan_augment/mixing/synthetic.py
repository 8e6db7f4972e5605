"""Mix generated per-class samples into a real dataset so that rare classes are topped up.

:class:`SyntheticDataset` wraps any map-style ``(image, label)`` dataset and a generator, makes the
planned synthetic images (:func:`~cgan_augment.mixing.strategy.synthetic_plan`) once (or once per epoch) in
batches on the generator's device, keeps them as one uint8 tensor on the CPU, and serves real
items first, then synthetic ones, each in the real dataset's own format.
:func:`~cgan_augment.mixing.export.write_image_folder` writes such a dataset as an ImageFolder tree.
"""

from __future__ import annotations

import copy
import numbers
import warnings
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .._util.devices import DeviceLike, check_has_values, resolve_device
from ..errors import ConfigError, DataError
from ..generators.model_file import load_generator
from ..generators.networks import Generator
from .item_formats import _describe, _ItemFormat, _same_format
from .strategy import Target, _is_int, synthetic_plan

__all__ = ["SyntheticDataset", "REFRESH_MODES"]

REFRESH_MODES = ("fixed", "epoch")


# ----------------------------------------------------------------------------- the dataset


def _real_targets(real, targets) -> list[int]:
    """Labels of every real item: ``targets`` if given, else ``real.targets``, the label tensor of a
    ``TensorDataset``, or (last resort) one pass over the items."""
    if targets is None:
        targets = getattr(real, "targets", None)
    if targets is None and isinstance(real, TensorDataset) and len(real.tensors) >= 2:
        targets = real.tensors[1]
    if targets is None:
        targets = [real[i][1] for i in range(len(real))]
    if isinstance(targets, (torch.Tensor, np.ndarray)):
        targets = targets.reshape(-1).tolist()
    whole = []
    for i, t in enumerate(targets):
        # floats are accepted only when whole (1.0 is class 1); 1.5 is no class, not class 1
        if isinstance(t, (bool, str, bytes)) or not isinstance(t, numbers.Real) or not float(t).is_integer():
            raise DataError(f"real labels should be integer class indices. Got {t!r} at item {i}.")
        whole.append(int(t))
    targets = whole
    if len(targets) != len(real):
        raise DataError(f"targets should give one label per real item: {len(real)} items. Got {len(targets)} labels.")
    return targets


def _seed_for(seed: int, epoch: int, k: int, chunk: int) -> int:
    """An independent 63-bit seed per (seed, epoch, class, batch)."""
    return int(np.random.SeedSequence([seed, epoch, k, chunk]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class SyntheticDataset(Dataset):
    """A real dataset with generated items appended so that its classes reach a target size.

    Index layout: items ``0 .. num_real - 1`` are the real items in their order, then come the
    synthetic ones, grouped by class in class order. ``targets`` covers both, so
    :func:`cgan_augment.class_counts`, ``WeightedRandomSampler`` and stratified splits work as on
    an ImageFolder.

    Items are ``(image, label)`` (``(image, label, is_synthetic)`` with ``return_source=True``),
    ``label`` an int. Synthetic images come in the real items' format, learned from ``real[0]``: a
    tensor of the same dtype and shape (floats in [0, 1], uint8 in 0..255), a numpy array, or a PIL
    image of the same mode; ``transform`` is then applied to synthetic items only (e.g. the
    ``Normalize`` the real dataset's own transform ends with). The first synthetic item, after
    ``transform``, must match ``real[0]`` in kind, dtype and shape.

    Classes are matched by name when ``real`` has ``classes`` (every real class must be one of the
    generator's), else by index (labels must lie below the generator's number of classes, and
    the generator's class names are used).

    The pool is made in batches of ``batch_size`` on ``device``, one seeded stream per (seed,
    epoch, class, batch): the same seed, device and batch size give the same images. It is kept
    as one uint8 tensor on the CPU, which DataLoader workers read (CUDA tensors never cross into
    them). ``refresh="epoch"`` keeps the pool in shared memory and refills it in place on
    ``set_epoch(e)``, so even persistent workers see the new images; call it in the main process
    between epochs, as with ``DistributedSampler.set_epoch``.

    Example::

        tf = T.Compose([T.Resize(28), T.ToTensor(), T.Normalize([0.5], [0.5])])
        real = torchvision.datasets.ImageFolder("data/", transform=tf)   # yields Normalized 1×28×28
        ds = SyntheticDataset(real, "runs/data/model.safetensors", 0.5,
                              transform=T.Normalize([0.5], [0.5]), refresh="epoch")
        loader = DataLoader(ds, batch_size=64, shuffle=True, num_workers=2)
        for epoch in range(epochs):
            ds.set_epoch(epoch)
            for x, y in loader: ...

    Args:
        real: map-style dataset of ``(image, label)``. Class counts come from ``targets`` (this
            argument), else ``real.targets``, else the labels of a ``TensorDataset``, else one pass
            over ``real``.
        generator: a :class:`Generator` or the path of a ``model.safetensors``.
        target: see :func:`synthetic_plan`.
        seed: seed of the pool (a whole number >= 0).
        transform: applied to synthetic images only.
        device: where to generate: ``auto`` (CUDA, then MPS, then CPU), a device name, or ``None``
            (the generator's own device). A generator on another device is copied there; the
            original is left alone.
        refresh: ``"fixed"`` (one pool) or ``"epoch"`` (a new pool on each ``set_epoch``).
        batch_size: images per generator forward pass.
        resize: resize (antialiased) and convert channels of generated images to the real size
            instead of raising when they differ.
        return_source: items are ``(image, label, is_synthetic)``.
        targets: labels of the real items, for datasets without ``targets``.

    Raises:
        ConfigError: a bad ``target``, ``refresh``, ``seed``, ``batch_size``, or a ``transform``
            that fails or changes the format. DataError: an empty real dataset, images of an
            unsupported kind, a real class or label the generator does not know, or a size or
            channel mismatch without ``resize=True``.
    """

    def __init__(self, real, generator: Union[Generator, str, Path], target: Target = "balance", *,
                 seed: int = 0, transform: Optional[Callable] = None, device: Optional[DeviceLike] = "auto",
                 refresh: str = "fixed", batch_size: int = 1024, resize: bool = False,
                 return_source: bool = False, targets: Optional[Sequence[int]] = None):
        if refresh not in REFRESH_MODES:
            raise ConfigError(f"'refresh' should be one of {', '.join(map(repr, REFRESH_MODES))}. Got {refresh!r} instead.")
        if not _is_int(seed) or seed < 0:
            raise ConfigError(f"'seed' should be a whole number >= 0. Got {seed!r} instead.")
        if not _is_int(batch_size) or batch_size < 1:
            raise ConfigError(f"'batch_size' should be a positive whole number. Got {batch_size!r} instead.")
        if transform is not None and not callable(transform):
            raise ConfigError(f"'transform' should be callable or None. Got {type(transform).__name__} instead.")
        self.generator, self.device = _resolve_generator(generator, device)
        self.real, self.transform, self.seed, self.refresh = real, transform, int(seed), refresh
        self.batch_size, self.resize, self.return_source = int(batch_size), bool(resize), bool(return_source)
        self.num_real = len(real)
        if self.num_real == 0:
            raise DataError("the real dataset is empty; it needs at least one item to learn the image format from.")

        real_targets = _real_targets(real, targets)
        real_classes = getattr(real, "classes", None)
        self.classes, self._gen_index = _match_classes(real_classes, real_targets, self.generator)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        counts = [0] * len(self.classes)
        for t in real_targets:
            counts[t] += 1
        self._plan = synthetic_plan(counts, target, self.classes)

        first = real[0]
        if not isinstance(first, (tuple, list)) or len(first) < 2:
            raise DataError(f"real items should be (image, label) pairs. Got {type(first).__name__}.")
        self._format = _ItemFormat(first[0])
        g = self.generator
        self._pool_shape = self._format.shape if self.resize else (g.channels, g.image_size, g.image_size)
        self._check_format(first[0])

        self.synthetic_targets = [k for k, p in enumerate(self._plan.values()) for _ in range(p["synthetic"])]
        self.num_synthetic = len(self.synthetic_targets)
        self.targets = real_targets + self.synthetic_targets
        self.channels = getattr(real, "channels", self._format.shape[0])
        self.image_size = getattr(real, "image_size", self._format.shape[1])
        # One byte per pixel on the CPU: N 28×28 grayscale images cost N×784 bytes (4× less than
        # float32), no Python object per item, and workers can read it (CUDA tensors must not
        # cross into worker processes). Items are converted to the real format on access.
        self._pool = torch.empty((self.num_synthetic, *self._pool_shape), dtype=torch.uint8)
        if refresh == "epoch":
            # Shared memory, refilled in place: workers, persistent ones too, see each new pool.
            self._pool.share_memory_()
        self.epoch = 0
        self._fill_pool(0)

    # ------------------------------------------------------------------ setup helpers

    def _fit(self, x: torch.Tensor) -> torch.Tensor:
        """Generator output (float N×C×S×S in [0, 1], on device) -> the pool's C×H×W."""
        c, h, w = self._pool_shape
        if x.shape[1] != c:
            from torchvision.transforms.v2 import functional as TF

            x = TF.rgb_to_grayscale(x) if c == 1 else x.repeat(1, 3, 1, 1)
        if x.shape[-2:] != (h, w):
            x = torch.nn.functional.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        return x

    def _check_format(self, real_image) -> None:
        """Make one synthetic probe image, pass it through ``transform`` and compare it with a real one."""
        g = self.generator
        made = (g.channels, g.image_size, g.image_size)
        if self.transform is None and made != self._format.shape and not self.resize:
            mismatch = (f"the generator makes {'×'.join(map(str, made))} images (C×H×W) but the real images are "
                        f"{'×'.join(map(str, self._format.shape))}")
            raise DataError(f"{mismatch}; pass resize=True to resize generated images to the real size "
                            "(or a 'transform' that does).",
                            cli_message=f"{mismatch}; pass --resize to resize generated images to the real size, "
                                        "or load DATA at the generator's size (leave out --image-size and --channels).")
        probe = self._format.convert(torch.zeros((1, *self._pool_shape), dtype=torch.uint8))[0]
        if self.transform is not None:
            try:
                probe = self.transform(probe)
            except Exception as e:  # noqa: BLE001 - any failure of user code is reported as one line
                raise ConfigError(f"'transform' failed on a synthetic image ({_describe(probe)}): "
                                  f"{type(e).__name__}: {e}") from None
        if not _same_format(probe, real_image):
            raise ConfigError(f"synthetic images would be {_describe(probe)} but the real images are {_describe(real_image)}; "
                              "'transform' should turn the first into the second.")
        if (self.transform is None and isinstance(real_image, torch.Tensor) and real_image.is_floating_point()
                and (real_image.min() < 0 or real_image.max() > 1)):
            warnings.warn("real images have values outside [0, 1] (normalised?) but synthetic images come in [0, 1]; "
                          "pass the same normalisation as 'transform'.", stacklevel=3)

    def _fill_pool(self, epoch: int) -> None:
        """Generate the pool for ``epoch`` in place, class by class, ``batch_size`` images at a time."""
        if self.num_synthetic and self.generator is None:
            raise ConfigError("this copy of the SyntheticDataset has no generator (it was pickled, e.g. into a "
                              "DataLoader worker); call set_epoch on the original in the main process.")
        pos = 0
        for k, p in enumerate(self._plan.values()):
            for chunk, start in enumerate(range(0, p["synthetic"], self.batch_size)):
                m = min(self.batch_size, p["synthetic"] - start)
                labels = torch.full((m,), self._gen_index[k], dtype=torch.int64)
                x = self.generator.sample(labels, seed=_seed_for(self.seed, epoch, k, chunk),
                                          batch_size=self.batch_size, device=self.device)
                x = self._fit(x)  # (m, C, H, W) in [0, 1]
                self._pool[pos:pos + m] = x.mul_(255).round_().to(torch.uint8).cpu()
                pos += m

    # ------------------------------------------------------------------ public API

    @property
    def plan(self) -> dict[str, dict[str, int]]:
        """``{class: {"real": n, "synthetic": m, "total": n + m}}`` in class order (a copy)."""
        return {c: dict(p) for c, p in self._plan.items()}

    @property
    def pool(self) -> torch.Tensor:
        """The synthetic images, uint8 N×C×H×W on the CPU, in index order (do not modify)."""
        return self._pool

    def set_epoch(self, epoch: int) -> None:
        """With ``refresh="epoch"``, make the pool of ``epoch`` (seeded by ``(seed, epoch)``); with
        ``"fixed"``, only record it."""
        if not _is_int(epoch) or epoch < 0:
            raise ConfigError(f"'epoch' should be a whole number >= 0. Got {epoch!r} instead.")
        if self.refresh == "epoch" and epoch != self.epoch:
            self._fill_pool(int(epoch))
        self.epoch = int(epoch)

    def is_synthetic(self, index: int) -> bool:
        """Whether item ``index`` is generated (negative indices count from the end)."""
        return self._index(index) >= self.num_real

    def __len__(self) -> int:
        return self.num_real + self.num_synthetic

    def _index(self, i) -> int:
        n = len(self)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for a SyntheticDataset of {n} items.")
        return i + n if i < 0 else i

    def __getitem__(self, index: int):
        i = self._index(index)
        if i < self.num_real:
            x, y = self.real[i][:2]
        else:
            j = i - self.num_real
            x = self._format.convert(self._pool[j:j + 1])[0]
            x, y = (self.transform(x) if self.transform is not None else x), self.synthetic_targets[j]
        return (x, int(y), i >= self.num_real) if self.return_source else (x, int(y))

    def __getitems__(self, indices: list[int]) -> list:
        """A whole batch at once: real items through ``real.__getitems__`` when it has one, synthetic
        ones gathered from the pool and converted in a few tensor operations."""
        n_real, n = self.num_real, len(self)
        idx = list(indices) if indices and min(indices) >= 0 and max(indices) < n else [self._index(i) for i in indices]
        real_at = [p for p, i in enumerate(idx) if i < n_real]
        syn_at = [p for p, i in enumerate(idx) if i >= n_real] if len(real_at) < len(idx) else []
        out: list = [None] * len(idx)
        if real_at:
            wanted = [idx[p] for p in real_at]
            getitems = getattr(self.real, "__getitems__", None)
            items = getitems(wanted) if getitems else [self.real[i] for i in wanted]
            for p, item in zip(real_at, items):
                out[p] = (item[0], int(item[1]), False) if self.return_source else (item[0], int(item[1]))
        if syn_at:
            js = [idx[p] - n_real for p in syn_at]
            images, t, ys = self._format.take(self._pool, js), self.transform, self.synthetic_targets
            if t is not None:
                images = [t(x) for x in images]
            if self.return_source:
                for p, j, x in zip(syn_at, js, images):
                    out[p] = (x, ys[j], True)
            else:
                for p, j, x in zip(syn_at, js, images):
                    out[p] = (x, ys[j])
        return out

    def __getstate__(self):
        # A generator on an accelerator must not travel into worker processes; workers only read
        # the CPU pool. The copy can serve items but not set_epoch.
        state = dict(self.__dict__)
        if state["generator"] is not None and state["generator"].device.type != "cpu":
            state["generator"] = None
        return state

    def __repr__(self) -> str:
        syn = ", ".join(f"{c}+{p['synthetic']}" for c, p in self._plan.items() if p["synthetic"])
        return (f"SyntheticDataset({self.num_real} real + {self.num_synthetic} synthetic items, "
                f"{len(self.classes)} classes, refresh={self.refresh!r}" + (f"; added {syn}" if syn else "") + ")")


def _resolve_generator(generator, device) -> tuple[Generator, torch.device]:
    """(the generator on the device to generate on, that device as the generator reports it,
    e.g. ``cuda:0`` for ``cuda``)."""
    if isinstance(generator, (str, Path)):
        generator = load_generator(generator, device=device if device is not None else "auto")
        return generator, generator.device
    if not isinstance(generator, Generator):
        raise ConfigError(f"'generator' should be a cgan_augment Generator or the path of a model.safetensors. "
                          f"Got {type(generator).__name__} instead.")
    check_has_values(generator.device, "the SyntheticDataset's generator")
    if device is not None:
        device = resolve_device(device)
        if device.type != generator.device.type or (device.index is not None and device != generator.device):
            generator = copy.deepcopy(generator).to(device)  # leave the caller's model where it is
    return generator, generator.device


def _match_classes(real_classes, targets: list[int], generator: Generator) -> tuple[list[str], list[int]]:
    """(class names in real order, generator index of each real class)."""
    if real_classes is not None:
        names = [str(c) for c in real_classes]
        unknown = [c for c in names if c not in generator.classes]
        if unknown:
            raise DataError(f"the real dataset has class {unknown[0]!r} that the generator does not know "
                            f"(generator classes: {generator.classes}); fit the generator on data with the same classes.")
        bad = [t for t in targets if not 0 <= t < len(names)]
        if bad:
            raise DataError(f"real label {bad[0]} is out of range for the real dataset's {len(names)} classes.")
        return names, [generator.classes.index(c) for c in names]
    bad = [t for t in targets if not 0 <= t < generator.num_classes]
    if bad:
        raise DataError(f"real label {bad[0]} has no class in the generator, which knows {generator.num_classes} "
                        f"classes (labels 0..{generator.num_classes - 1}).")
    return list(generator.classes), list(range(generator.num_classes))
