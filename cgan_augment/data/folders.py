"""Images in torchvision's ImageFolder layout (one sub-folder per class), read from disk: class
folder discovery, image decoding with one clear error per bad file, and :class:`ImageFolderImages`.

Items are ``(float32 C×H×W in [0, 1], int label)``; ``classes``, ``class_to_idx`` and ``targets``
are those torchvision's ``ImageFolder`` finds, so class counts never need a pass over the images.
"""

from __future__ import annotations

import os
import statistics
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from ..errors import DataError
from .subsets import class_counts

__all__ = ["ImageFolderImages", "IMAGE_EXTENSIONS"]

# torchvision's IMG_EXTENSIONS and GIF (its first frame); matched case-insensitively, as torchvision does
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
DEFAULT_SIZES = (28, 32, 64)
MAX_PIXELS = 40_000_000  # refuse before decoding: a "huge" header must not allocate gigabytes
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


def _show(path) -> str:
    """A file name safe to print on one line, even when it is not valid UTF-8 or holds control
    characters (a newline in a folder name would split the one-line error)."""
    text = os.fsdecode(path).encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


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

