"""Mix generated per-class samples into a real dataset so that rare classes are topped up.

:func:`synthetic_plan` turns a flexible ``target`` (``"balance"``, a ratio, a dict or a callable)
into one canonical per-class plan, the way imbalanced-learn resolves ``sampling_strategy``.
:class:`SyntheticDataset` wraps any map-style ``(image, label)`` dataset and a generator, makes the
planned synthetic images once (or once per epoch) in batches on the generator's device, keeps them
as one uint8 tensor on the CPU, and serves real items first, then synthetic ones, each in the
real dataset's own format. :func:`write_image_folder` writes such a dataset as an ImageFolder tree
(``cgan-augment augment``).
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .devices import resolve_device
from .errors import ConfigError, DataError
from .files import current_umask
from .models import Generator

__all__ = ["SyntheticDataset", "synthetic_plan", "format_plan", "write_image_folder", "check_out_folder", "TARGET_FORMS", "REFRESH_MODES"]

TARGET_FORMS = "'balance', a float in (0, 1], a dict {class: wanted_total} or a callable counts -> dict"
REFRESH_MODES = ("fixed", "epoch")
_SERIAL_NUMEL = 32768 - 1  # torch's at::internal::GRAIN_SIZE: smaller element-wise ops run on one thread

Target = Union[str, float, Mapping, Callable[[dict], Mapping]]


# ----------------------------------------------------------------------------- the plan


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def synthetic_plan(class_counts: Union[Sequence[int], Mapping[str, int]], target: Target = "balance",
                   classes: Optional[Sequence[str]] = None) -> dict[str, dict[str, int]]:
    """Resolve ``target`` into how many synthetic items each class gets.

    Real items are never dropped: a class only ever gains items.

    Args:
        class_counts: real items per class, a sequence in class-index order or a mapping
            ``{class name: count}`` (its order is the class order).
        target: ``"balance"`` (every class topped up to the largest), a float ``r`` in (0, 1]
            (every class topped up to at least ``ceil(r × largest)``), a dict
            ``{class: wanted_total}`` (classes by name or index; classes not named are left as they
            are), or a callable given ``{class name: count}`` and returning such a dict.
        classes: class names for a sequence of counts (default ``"0"``, ``"1"``, …).

    Returns:
        ``{class name: {"real": n, "synthetic": m, "total": n + m}}`` in class order.

    Raises:
        ConfigError: a target of another form, a ratio outside (0, 1], a dict naming an unknown
            class, a count that is not a positive whole number or is below the real count.
    """
    if isinstance(class_counts, Mapping):
        names, counts = [str(c) for c in class_counts], list(class_counts.values())
    else:
        counts = list(class_counts)
        names = [str(c) for c in classes] if classes is not None else [str(k) for k in range(len(counts))]
    if not counts:
        raise ConfigError("class_counts should name at least one class. Got none.")
    if len(names) != len(counts):
        raise ConfigError(f"classes should give one name per count: {len(counts)} counts. Got {len(names)} names.")
    if any(not _is_int(n) or n < 0 for n in counts):
        raise ConfigError(f"class_counts should be whole numbers >= 0. Got {counts}.")
    counts = [int(n) for n in counts]
    n_max = max(counts)

    if callable(target) and not isinstance(target, (str, Mapping)):
        wanted = target(dict(zip(names, counts)))
        if not isinstance(wanted, Mapping):
            raise ConfigError(f"When 'target' is a callable, it should return a dict {{class: wanted_total}}. "
                              f"Got {type(wanted).__name__} instead.")
        totals = _totals_from_dict(wanted, names, counts, "returned by the 'target' callable")
    elif isinstance(target, str):
        if target != "balance":
            raise ConfigError(f"When 'target' is a string, it should be 'balance'. Got {target!r} instead.")
        totals = [n_max] * len(counts)
    elif isinstance(target, numbers.Real) and not isinstance(target, bool):
        r = float(target)
        if not 0 < r <= 1:
            raise ConfigError(f"When 'target' is a float, it should be in the range (0, 1]. Got {target} instead.")
        floor = math.ceil(round(r * n_max, 9))  # round first: 0.3 * 10 is 3.0000000000000004, not 4
        totals = [max(n, floor) for n in counts]
    elif isinstance(target, Mapping):
        totals = _totals_from_dict(target, names, counts, "in 'target'")
    else:
        raise ConfigError(f"'target' should be {TARGET_FORMS}. Got {type(target).__name__} instead.")
    return {c: {"real": n, "synthetic": t - n, "total": t} for c, n, t in zip(names, counts, totals)}


def _totals_from_dict(wanted: Mapping, names: list[str], counts: list[int], where: str) -> list[int]:
    totals = list(counts)
    for key, value in wanted.items():
        if isinstance(key, str) and key in names:
            k = names.index(key)
        elif _is_int(key) and 0 <= key < len(names):
            k = int(key)
        else:
            raise ConfigError(f"Class {key!r} {where} is not a class of the data; the classes are {names}.")
        if not _is_int(value) or value <= 0:
            raise ConfigError(f"The wanted total for class {names[k]!r} {where} should be a positive whole number. "
                              f"Got {value!r} instead.")
        if value < counts[k]:
            raise ConfigError(f"The wanted total for class {names[k]!r} {where} is {value}, below its {counts[k]} "
                              f"real items; real items are never dropped, so ask for at least {counts[k]}.")
        totals[k] = int(value)
    return totals


def format_plan(plan: Mapping[str, Mapping[str, int]]) -> str:
    """The plan as a fixed-width text table (one row per class and a total row)."""
    rows = [(str(c), p["real"], p["synthetic"], p["total"]) for c, p in plan.items()]
    rows.append(("total", *(sum(r[i] for r in rows) for i in (1, 2, 3))))
    w = max(5, *(len(r[0]) for r in rows))
    lines = [f"{'class':<{w}}  {'real':>8}  {'synthetic':>9}  {'total':>8}"]
    lines += [f"{c:<{w}}  {a:>8}  {b:>9}  {t:>8}" for c, a, b, t in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- item formats


def _describe(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"{str(x.dtype).replace('torch.', '')} tensor of shape {'×'.join(map(str, x.shape))}"
    if isinstance(x, np.ndarray):
        return f"{x.dtype} numpy array of shape {'×'.join(map(str, x.shape))}"
    try:
        from PIL import Image

        if isinstance(x, Image.Image):
            return f"PIL image, mode {x.mode}, {x.size[0]}×{x.size[1]}"
    except ImportError:  # pragma: no cover
        pass
    return type(x).__name__


class _ItemFormat:
    """How real images look, learned from one real item: the kind (tensor, numpy, PIL), dtype and
    layout. Converts uint8 N×C×H×W pool images to that kind, in its natural range: float in [0, 1],
    uint8 in 0..255, PIL in its own mode."""

    def __init__(self, image):
        from PIL import Image

        self.squeeze = False  # real images have no channel axis (H×W)
        if isinstance(image, torch.Tensor):
            self.kind, self.dtype = "tensor", image.dtype
            if image.ndim == 2:
                self.squeeze, (h, w), c = True, image.shape, 1
            elif image.ndim == 3:
                c, h, w = image.shape
            else:
                raise DataError(f"real images should be tensors C×H×W or H×W. Got {_describe(image)}.")
            if not (image.is_floating_point() or image.dtype == torch.uint8):
                raise DataError(f"real image tensors should be float or uint8. Got {_describe(image)}.")
        elif isinstance(image, np.ndarray):
            self.kind, self.dtype = "numpy", image.dtype
            if image.ndim == 2:
                self.squeeze, (h, w), c = True, image.shape, 1
            elif image.ndim == 3:
                h, w, c = image.shape  # numpy images are channels-last, as PIL and OpenCV give them
            else:
                raise DataError(f"real numpy images should be H×W or H×W×C. Got {_describe(image)}.")
            if not (np.issubdtype(image.dtype, np.floating) or image.dtype == np.uint8):
                raise DataError(f"real numpy images should be float or uint8. Got {_describe(image)}.")
        elif isinstance(image, Image.Image):
            self.kind, self.dtype = "pil", None
            self.mode = image.mode
            w, h = image.size
            c = 1 if image.mode in ("1", "L", "LA", "I", "I;16", "F") else 3  # P, RGBA, CMYK… are colour
        else:
            raise DataError(f"real images should be tensors, numpy arrays or PIL images. Got {_describe(image)}.")
        self.shape = (int(c), int(h), int(w))

    def take(self, pool: torch.Tensor, rows: list[int]) -> list:
        """Images ``pool[rows]`` in the real kind. Tensors are gathered and converted in one kernel
        per chunk of under 32768 values, below torch's parallel grain size: work per batch is small,
        and in a busy main process (workers=0) parallel regions of tiny ops cost more than they save."""
        if self.kind != "tensor" or not self.dtype.is_floating_point:
            return self.convert(pool[torch.as_tensor(rows)])
        per = max(1, _SERIAL_NUMEL // max(1, pool[0].numel()))
        out: list = []
        for chunk in torch.as_tensor(rows).split(per):
            x = pool.index_select(0, chunk)
            # true division turns uint8 into float32 in one pass; other float dtypes need a cast
            x = torch.div(x, 255) if self.dtype == torch.float32 else x.to(self.dtype).div_(255)
            out += (x.squeeze(1) if self.squeeze else x).unbind(0)
        return out

    def convert(self, x: torch.Tensor) -> list:
        """uint8 N×C×H×W (CPU) -> list of N images in the real kind."""
        if self.kind == "tensor":
            x = x.to(self.dtype).div_(255) if self.dtype.is_floating_point else x
            return list((x.squeeze(1) if self.squeeze else x).unbind(0))
        if self.kind == "numpy":
            a = x.permute(0, 2, 3, 1).numpy()
            a = a[..., 0] if self.squeeze else a
            if np.issubdtype(self.dtype, np.floating):
                a = a.astype(self.dtype) / self.dtype.type(255)
            return list(np.ascontiguousarray(a))
        from PIL import Image

        a = x.permute(0, 2, 3, 1).numpy()
        base = "L" if a.shape[-1] == 1 else "RGB"
        out = [Image.fromarray(im[..., 0] if base == "L" else im, mode=base) for im in a]
        return out if self.mode == base else [im.convert(self.mode) for im in out]


def _same_format(a, b) -> bool:
    from PIL import Image

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape
    if isinstance(a, Image.Image) and isinstance(b, Image.Image):
        return a.mode == b.mode and a.size == b.size
    return type(a) is type(b)


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
    try:
        targets = [int(t) for t in targets]
    except (TypeError, ValueError):
        raise DataError("real labels should be integer class indices.") from None
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
        device: where to generate (default: the generator's device; for a path, CUDA then MPS then
            CPU). A generator on another device is copied there; the original is left alone.
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
                 seed: int = 0, transform: Optional[Callable] = None, device: Union[str, torch.device, None] = None,
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
            raise DataError(
                f"the generator makes {'×'.join(map(str, made))} images (C×H×W) but the real images are "
                f"{'×'.join(map(str, self._format.shape))}; pass resize=True to resize generated images "
                "to the real size (or a 'transform' that does).")
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
        from .checkpoint import load_generator

        generator = load_generator(generator, device=resolve_device(device if device is not None else "auto"))
        return generator, generator.device
    if not isinstance(generator, Generator):
        raise ConfigError(f"'generator' should be a cgan_augment Generator or the path of a model.safetensors. "
                          f"Got {type(generator).__name__} instead.")
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


# ----------------------------------------------------------------------------- writing an ImageFolder

MARKER = "augment.json"
SYNTHETIC_PREFIX = "synthetic_"


def _source_file(ds, i: int) -> Optional[tuple[str, str]]:
    """(file path, name under its class folder) of real item ``i`` when it comes straight from an
    image file (ImageFolder-like datasets, through subsets), else ``None``."""
    import os

    while hasattr(ds, "indices") and hasattr(ds, "dataset"):  # LabeledSubset, torch Subset
        ds, i = ds.dataset, ds.indices[i]
    samples, root = getattr(ds, "samples", None), getattr(ds, "root", None)
    if not samples or root is None or getattr(ds, "classes", None) is None:
        return None
    path, label = samples[i][0], samples[i][1]
    rel = os.path.relpath(path, os.path.join(str(root), ds.classes[label]))
    return path, (rel if not rel.startswith("..") else os.path.basename(path))


def _image_root(ds) -> Optional[Path]:
    while hasattr(ds, "indices") and hasattr(ds, "dataset"):
        ds = ds.dataset
    root = getattr(ds, "root", None)
    return Path(root).resolve() if root is not None and getattr(ds, "samples", None) else None


def _save_image(image, path: Path) -> None:
    from PIL import Image

    from .images import save_png

    if isinstance(image, Image.Image):
        image.save(path)
        return
    x = torch.as_tensor(np.asarray(image)) if isinstance(image, np.ndarray) else image
    if isinstance(image, np.ndarray) and x.ndim == 3:
        x = x.permute(2, 0, 1)  # numpy images are H×W×C
    x = x.unsqueeze(0) if x.ndim == 2 else x
    save_png(x.float() / 255 if not x.is_floating_point() else x, path)


def check_out_folder(out: Union[str, Path], force: bool = False, real=None) -> bool:
    """Check that ``out`` can receive a :func:`write_image_folder` tree (call it before generating).

    Returns:
        Whether ``out`` holds an earlier output that ``force`` lets us replace.

    Raises:
        OutputDirError: ``out`` is a file, is not empty (and not an earlier output with ``force``),
            or lies inside the image folder of ``real``.
    """
    from .errors import OutputDirError

    out = Path(out)
    root = _image_root(real) if real is not None else None
    if root is not None and (out.resolve() == root or root in out.resolve().parents):
        raise OutputDirError(f"{out}: lies inside the real image folder {root}; write the augmented copy elsewhere.")
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"{out}: exists and is not a folder.")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise OutputDirError(f"{out}: folder is not empty; choose a new folder, or pass --force to replace an "
                                 "earlier augment output.")
        if not (out / MARKER).is_file():
            raise OutputDirError(f"{out}: folder is not empty and is not an earlier augment output (no {MARKER}); "
                                 "it is left alone even with --force. Choose a new or empty folder.")
        return True
    return False


def write_image_folder(dataset: SyntheticDataset, out: Union[str, Path], *, link: bool = False, force: bool = False,
                       info: Optional[dict] = None, on_item: Optional[Callable[[int, int], None]] = None) -> dict[str, int]:
    """Write ``dataset`` (real and synthetic items) as an ImageFolder tree that any framework reads::

        out/augment.json                 the plan, and ``info``
        out/<class>/<real file name>     real image files, copied (or linked with ``link=True``)
        out/<class>/real_00012.png       real items that did not come from a file (arrays, builtins)
        out/<class>/synthetic_00000.png  synthetic items, numbered per class

    The tree is built in a temporary folder beside ``out`` and renamed into place at the end, so
    ``out`` is never left half-written. Real items from files keep their name (and sub-folders)
    under their class folder; other real items and synthetic ones are PNG (images in [0, 1]).

    Args:
        dataset: the SyntheticDataset to write.
        out: the folder to create; it must not exist or be empty, or (with ``force``) hold an
            earlier output of this function (it is then replaced).
        link: hard-link real files instead of copying them (a symbolic link where a hard link is
            not possible, e.g. across file systems).
        info: more JSON-able facts to record in ``augment.json`` (data source, model, seed).
        on_item: called with ``(done, total)`` after each file.

    Returns:
        Files written per class, ``{class: count}``.

    Raises:
        OutputDirError: ``out`` is not empty (and not an earlier output with ``force``), lies
            inside the real image folder, or cannot be written. ConfigError: a real file is
            already named like a synthetic one (``synthetic_*.png``).
    """
    import json
    import os
    import shutil
    import tempfile

    from .errors import OutputDirError

    out = Path(out)
    replace = check_out_folder(out, force=force, real=dataset.real)
    names: list[tuple[int, str, Optional[str]]] = []  # (class, name, source file) per real item
    for i, label in enumerate(dataset.targets[:dataset.num_real]):
        src = _source_file(dataset.real, i)
        names.append((label, src[1], src[0]) if src else (label, f"real_{i:05d}.png", None))
    clash = next(((k, n) for k, n, _ in names if Path(n).name.startswith(SYNTHETIC_PREFIX)), None)
    if clash:
        raise ConfigError(f"real file {clash[1]!r} of class {dataset.classes[clash[0]]!r} is named like a synthetic "
                          f"one ({SYNTHETIC_PREFIX}*.png); is DATA an earlier augment output? Rename it or use the original data.")

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    except OSError as e:
        raise OutputDirError(f"{out}: cannot create the output folder ({e.strerror}).") from None
    total, done, written = len(dataset), 0, {c: 0 for c in dataset.classes}
    try:
        for c in dataset.classes:
            (tmp / c).mkdir()
        for i, (label, name, src) in enumerate(names):
            dst = tmp / dataset.classes[label] / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src is None:
                _save_image(dataset.real[i][0], dst)
            elif link:
                try:
                    os.link(src, dst)
                except OSError:
                    os.symlink(os.path.abspath(src), dst)
            else:
                shutil.copyfile(src, dst)
            written[dataset.classes[label]] += 1
            done += 1
            if on_item:
                on_item(done, total)
        per_class = [0] * len(dataset.classes)
        from .images import save_png

        for j, label in enumerate(dataset.synthetic_targets):
            save_png(dataset.pool[j].float() / 255, tmp / dataset.classes[label] / f"{SYNTHETIC_PREFIX}{per_class[label]:05d}.png")
            per_class[label] += 1
            written[dataset.classes[label]] += 1
            done += 1
            if on_item:
                on_item(done, total)
        record = dict(info or {}, plan=dataset.plan, seed=dataset.seed, linked=link)
        (tmp / MARKER).write_text(json.dumps(record, indent=2) + "\n")
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it 0700
        if replace:
            shutil.rmtree(out)
        elif out.is_dir():
            out.rmdir()  # empty
        os.replace(tmp, out)
    except OSError as e:
        raise OutputDirError(f"{out}: could not write ({e.strerror or e}); nothing was left in {out}.") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return written
