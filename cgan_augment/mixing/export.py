"""Files out of a generator: a rebalanced ImageFolder tree (``cgan-augment augment``) and sample
PNGs per class or as one grid (``cgan-augment sample``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch

from .._util.devices import DeviceLike, resolve_device
from .._util.output import OutputFile, OutputFolder
from .._util.pictures import save_grid, save_png
from .._util.safe_names import class_file_names
from ..errors import ConfigError, OutputDirError
from ..generators.model_file import load_generator
from .synthetic import SyntheticDataset

__all__ = ["write_image_folder", "check_out_folder", "write_samples", "MARKER", "SYNTHETIC_PREFIX"]


MARKER = "augment.json"
SYNTHETIC_PREFIX = "synthetic_"


def _source_file(ds, i: int) -> Optional[tuple[str, str]]:
    """(file path, name under its class folder) of real item ``i`` when it comes straight from an
    image file (ImageFolder-like datasets, through subsets), else ``None``."""
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

    if isinstance(image, Image.Image):
        image.save(path)
        return
    x = torch.as_tensor(np.asarray(image)) if isinstance(image, np.ndarray) else image
    if isinstance(image, np.ndarray) and x.ndim == 3:
        x = x.permute(2, 0, 1)  # numpy images are H×W×C
    x = x.unsqueeze(0) if x.ndim == 2 else x
    save_png(x.float() / 255 if not x.is_floating_point() else x, path)


def _augment_folder(out: Union[str, Path], force: bool) -> OutputFolder:
    # augment.json is its manifest and record; one without "command" is an output from before the manifest
    return OutputFolder(out, "augment", force=force, ours=(MARKER,), manifest=MARKER)


def check_out_folder(out: Union[str, Path], force: bool = False, real=None) -> bool:
    """Check that ``out`` can receive a :func:`write_image_folder` tree (call it before generating):
    every command's rules (:class:`~cgan_augment._util.output.OutputFolder`), and not inside the
    image folder of ``real``.

    Returns:
        Whether ``out`` holds an earlier output that ``force`` lets us replace.

    Raises:
        OutputDirError: ``out`` is a file, a non-empty folder that ``augment`` did not write, an
            earlier output without ``force``, or lies inside the image folder of ``real``.
    """
    out = Path(out)
    root = _image_root(real) if real is not None else None
    if root is not None and (out.resolve() == root or root in out.resolve().parents):
        raise OutputDirError(f"{out}: lies inside the real image folder {root}; write the augmented copy elsewhere.")
    return _augment_folder(out, force).check()


def _real_names(dataset: SyntheticDataset, keep: bool) -> list[tuple[int, str, Optional[str]]]:
    """(class, file name under its class folder, source file to copy or None) per real item.

    Raises:
        ConfigError: a real file is already named like a synthetic one.
    """
    names: list[tuple[int, str, Optional[str]]] = []
    taken: set = set()
    for i, label in enumerate(dataset.targets[:dataset.num_real]):
        src = _source_file(dataset.real, i)
        if src is None:
            names.append((label, f"real_{i:05d}.png", None))
        elif keep:
            names.append((label, src[1], src[0]))
        else:
            stem = str(Path(src[1]).with_suffix(".png"))
            name = stem if (label, stem) not in taken else src[1] + ".png"  # a.jpg beside a.png: a.jpg.png
            names.append((label, name, None))
        taken.add((label, names[-1][1]))
    clash = next(((k, n) for k, n, _ in names if Path(n).name.startswith(SYNTHETIC_PREFIX)), None)
    if clash:
        raise ConfigError(f"real file {clash[1]!r} of class {dataset.classes[clash[0]]!r} is named like a synthetic "
                          f"one ({SYNTHETIC_PREFIX}*.png); is DATA an earlier augment output? Rename it or use the original data.")
    return names


def write_image_folder(dataset: SyntheticDataset, out: Union[str, Path], *, keep_real_files: bool = False,
                       link: bool = False, force: bool = False, info: Optional[dict] = None,
                       on_item: Optional[Callable[[int, int], None]] = None) -> dict[str, int]:
    """Write ``dataset`` (real and synthetic items) as an ImageFolder tree that any framework reads::

        out/augment.json                 the plan, and ``info``
        out/<class>/<real file name>.png real items from files, as the dataset serves them
        out/<class>/real_00012.png       real items that did not come from a file (arrays, builtins)
        out/<class>/synthetic_00000.png  synthetic items, numbered per class

    By default the folder is uniform: every real item is written as PNG the way the dataset
    serves it (for :func:`~cgan_augment.load_data` data: converted and resized exactly as the
    model's training data were), so real and synthetic images share one size and mode. Real items
    from files keep their name (extension ``.png``) and sub-folders under their class folder.
    With ``keep_real_files`` the original files are copied instead (or linked with ``link``).

    The tree is built in a temporary folder beside ``out`` and renamed into place at the end, so
    ``out`` is never left half-written; an earlier output is renamed aside, not deleted, until the
    new tree is in place (:meth:`~cgan_augment._util.output.OutputFolder.staged`).

    Args:
        dataset: the SyntheticDataset to write.
        out: the folder to create; it must not exist or be empty, or (with ``force``) hold an
            earlier output of this function (it is then replaced).
        keep_real_files: copy real image files as they are (their own sizes and modes).
        link: with ``keep_real_files`` (implied): hard-link real files instead of copying them (a
            symbolic link where a hard link is not possible, e.g. across file systems).
        info: more JSON-able facts to record in ``augment.json`` (data source, model, seed).
        on_item: called with ``(done, total)`` after each file.

    Returns:
        Files written per class, ``{class: count}``.

    Raises:
        OutputDirError: ``out`` is not empty (and not an earlier output with ``force``), lies
            inside the real image folder, or cannot be written. ConfigError: a real file is
            already named like a synthetic one (``synthetic_*.png``).
    """
    out = Path(out)
    keep = keep_real_files or link
    folders = class_file_names(dataset.classes)  # class names are never paths as they are
    check_out_folder(out, force=force, real=dataset.real)
    names = _real_names(dataset, keep)
    total, done, written = len(dataset), 0, {c: 0 for c in dataset.classes}
    record = dict(info or {}, plan=dataset.plan, seed=dataset.seed, real_files="linked" if link else
                  ("copied" if keep else "converted"))
    if folders != list(dataset.classes):  # a name that could not be a folder: say which folder holds it
        record["class_folders"] = dict(zip(dataset.classes, folders))
    with _augment_folder(out, force).staged(record) as tmp:
        for folder in folders:
            (tmp / folder).mkdir()
        for i, (label, name, src) in enumerate(names):
            dst = tmp / folders[label] / name
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
        for j, label in enumerate(dataset.synthetic_targets):
            save_png(dataset.pool[j].float() / 255, tmp / folders[label] / f"{SYNTHETIC_PREFIX}{per_class[label]:05d}.png")
            per_class[label] += 1
            written[dataset.classes[label]] += 1
            done += 1
            if on_item:
                on_item(done, total)
    return written


# ----------------------------------------------------------------------------- sample files


_SAMPLE_MARK = "sample grid"
_OTHER_PICTURES = (".webp", ".gif", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")


def write_samples(model: Union[str, Path], out: Union[str, Path], classes: Optional[Sequence[str]] = None,
                  n: int = 16, seed: int = 0, device: DeviceLike = "auto", force: bool = False) -> list[Path]:
    """Sample ``n`` images of each class in ``classes`` (names or indices; default all) from the
    model file ``model``. ``out`` ending in ``.png``, ``.jpg`` or ``.jpeg`` gets one grid in that
    format (one row per class, named); otherwise the folder ``out`` gets ``<class>/00000.png``…
    and a manifest. Nothing is written over files this function did not write: an existing grid
    or non-empty folder is replaced only with ``force`` and only if an earlier call wrote it.
    Returns the paths written.

    Raises:
        ConfigError: ``n`` below 1, an unknown class, ``out`` naming another picture format.
        OutputDirError: ``out`` exists (see above) or cannot be written.
    """
    from .._util.pictures import GRID_SUFFIXES

    if n < 1:
        raise ConfigError(f"n should be a positive number of images. Got {n}.",
                          cli_message=f"--n should be a positive number of images. Got {n}.")
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix in _OTHER_PICTURES:
        raise ConfigError(f"{out}: one grid is written as .png or .jpg; give such a file name, or a folder for one file per image.")
    grid = suffix in GRID_SUFFIXES
    target = OutputFile(out, "sample", _SAMPLE_MARK, "sample grid", force=force) if grid else OutputFolder(out, "sample", force=force)
    target.check()
    generator = load_generator(model, device=resolve_device(device))
    wanted = list(classes) if classes else list(generator.classes)
    labels = [generator.class_index(int(c) if isinstance(c, str) and c not in generator.classes and c.isdigit() else c)
              for c in wanted]
    folders = class_file_names(generator.classes, source=str(model))  # a forged model file's names are never paths
    images = generator.sample(torch.tensor(labels).repeat_interleave(n), seed=seed).cpu()
    if grid:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputDirError(f"{out}: cannot write here ({e.strerror}).") from None
        save_grid(images, out, nrow=n, row_labels=[generator.classes[k] for k in labels], mark=_SAMPLE_MARK)
        return [out]
    names = []
    with target.staged({"model": str(model), "classes": [generator.classes[k] for k in labels], "n": n, "seed": seed}) as tmp:
        for i, label in enumerate(labels):
            (tmp / folders[label]).mkdir(exist_ok=True)
            for j in range(n):
                names.append(Path(folders[label]) / f"{j:05d}.png")
                save_png(images[i * n + j], tmp / names[-1])
    return [out / name for name in names]
