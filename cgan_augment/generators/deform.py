"""Fitting the ``deform`` family: the variation inside the large classes, carried to the rare ones.

A label-conditioned generator cannot learn a class from four images. What differs between two
images of one class (slant, proportions, local bends of the strokes) is largely the same for every
class, so it can be learned where there are many images and applied where there are few
(Hauberg et al. 2016, "Dreaming more data"; Zhou et al. 2022, "Do deep networks transfer
invariances across classes?").

1. :func:`register_pairs` finds, for pairs (a, b) of images of one class, the smooth warp that
   turns a into b: an affine map plus a displacement field on a coarse grid of control points
   (gradient descent through ``grid_sample``, all pairs at once).
2. :func:`fit_deform_generator` fits a Gaussian to those warps and returns a
   :class:`~cgan_augment.generators.networks.DeformGenerator` that holds it with every training image as an
   exemplar: G(x, z, y) = warp(x, mean + temperature · L z). A warp moves ink; it cannot draw a
   4 from a 9, and it works for a class of one image.

Images are float32 N×C×H×W in [0, 1]; warps are in ``grid_sample``'s normalised units.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Union

import torch

from .model_file import save_generator
from .._util.constraints import CheckedConfig, Interval
from .._util.devices import DeviceLike, resolve_device
from ..errors import ConfigError, DataError, OutputDirError
from .._util.files import make_dir, write_text_atomic
from .._util.pictures import save_grid
from ..data.subsets import _fingerprint, class_counts, dataset_tensors, to_uint8
from .networks import DeformGenerator
from .._util.warps import gaussian_blur, warp_by_params

__all__ = ["DeformConfig", "fit_deform", "fit_deform_generator", "register_pairs", "same_class_pairs"]


@dataclass(frozen=True)
class DeformConfig(CheckedConfig):
    """How the ``deform`` family is fitted; stored in the model file.

    Args:
        grid: side of the warp's control grid (5: a 28 px image gets a control point every ~6 px).
        temperature: scale of the drawn warps against the fitted distribution (1 = as measured
            between two images of a class; lower keeps the samples closer to their exemplar).
        pairs: same-class pairs registered to learn the distribution.
        min_class_size: pairs come only from classes with at least this many images.
        registration_steps, registration_lr: Adam steps and learning rate of the registration.
        smoothness: weight of the mean squared control displacement in the registration loss.
        sigma: blur (px) of both images in the registration loss.
        trim: fit the Gaussian to this fraction of the warps, dropping the most extreme
            (Mahalanobis distance), which are mostly failed registrations.
        seed: draws the pairs.
    """

    grid: int = 5
    temperature: float = 0.75  # with trim 0.95: the best of three recipes (benchmarks/RESULTS.md, issue 11)
    pairs: int = 1000
    min_class_size: int = 40
    registration_steps: int = 100
    registration_lr: float = 0.03
    smoothness: float = 1.0
    sigma: float = 1.5
    trim: float = 0.95
    seed: int = 0

    _parameter_constraints = {
        "grid": [Interval(int, 2, 32)],  # finer than 32 is no longer a smooth warp
        "temperature": [Interval(float, 0, closed="neither")],
        "pairs": [Interval(int, 1)], "min_class_size": [Interval(int, 1)], "registration_steps": [Interval(int, 1)],
        "registration_lr": [Interval(float, 0, closed="neither")],
        "smoothness": [Interval(float, 0)],
        "sigma": [Interval(float, 0, closed="neither")],
        "trim": [Interval(float, 0, 1, closed="right")],
        "seed": [Interval(int)],
    }


def register_pairs(a: torch.Tensor, b: torch.Tensor, grid: int = 5, steps: int = 100, lr: float = 0.03,
                   sigma: float = 1.5, smoothness: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The warp parameters (N, 6 + 2·grid²) that best turn each ``a[i]`` into ``b[i]``, and the
    remaining error per pair (N,): mean squared difference of the blurred images.

    Least squares on images blurred with ``sigma`` px (a wider basin than thin strokes), plus
    ``smoothness`` × the mean square of the control displacements (keeps the field small where the
    images give no evidence). Deterministic on CPU.
    """
    if a.shape != b.shape or a.dim() != 4:
        raise ConfigError(f"register_pairs needs two N×C×H×W batches of one shape. Got {tuple(a.shape)} and {tuple(b.shape)}.")
    params = torch.zeros(len(a), 6 + 2 * grid * grid, device=a.device, requires_grad=True)
    target = gaussian_blur(b, sigma)
    opt = torch.optim.Adam([params], lr=lr)
    for _ in range(steps):
        err = (gaussian_blur(warp_by_params(a, params, grid), sigma) - target).pow(2).flatten(1).mean(1)
        loss = err.sum() + smoothness * params[:, 6:].pow(2).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        err = (gaussian_blur(warp_by_params(a, params, grid), sigma) - target).pow(2).flatten(1).mean(1)
    return params.detach(), err


def same_class_pairs(targets: torch.Tensor, n_pairs: int, min_class_size: int, gen: torch.Generator) -> torch.Tensor:
    """(n_pairs, 2) indices of two distinct items of one class, the class drawn uniformly among the
    classes with at least ``min_class_size`` (and 2) items."""
    classes = [c for c in torch.unique(targets).tolist() if int((targets == c).sum()) >= max(2, min_class_size)]
    if not classes:
        raise DataError(f"no class has {max(2, min_class_size)} or more images to learn warps from; "
                        "lower DeformConfig.min_class_size.")
    members = [torch.nonzero(targets == c).squeeze(1) for c in classes]
    which = torch.randint(len(classes), (n_pairs,), generator=gen)
    pairs = torch.empty(n_pairs, 2, dtype=torch.int64)
    for k, m in enumerate(members):
        rows = torch.nonzero(which == k).squeeze(1)
        if len(rows):
            first = torch.randint(len(m), (len(rows),), generator=gen)
            second = (first + 1 + torch.randint(len(m) - 1, (len(rows),), generator=gen)) % len(m)
            pairs[rows] = torch.stack([m[first], m[second]], 1)
    return pairs


def _trimmed(params: torch.Tensor, keep: float) -> torch.Tensor:
    if keep >= 1:
        return params
    centred = params - params.mean(0)
    cov = torch.cov(centred.T) + 1e-6 * torch.eye(params.shape[1])
    dist = (centred @ torch.linalg.inv(cov) * centred).sum(1)
    return params[dist <= torch.quantile(dist, keep)]


def fit_deform_generator(images: torch.Tensor, labels: torch.Tensor, classes: list, config: DeformConfig = DeformConfig(),
                         device: DeviceLike = "auto") -> DeformGenerator:
    """Fit the warp distribution on ``images`` (uint8 or float N×C×H×W) with int ``labels`` and
    return a :class:`DeformGenerator` (on ``device``) holding every image as an exemplar."""
    device = resolve_device(device)
    images = images if images.dtype == torch.uint8 else to_uint8(images)
    labels = torch.as_tensor(labels, dtype=torch.int64)
    order = torch.argsort(labels, stable=True)
    images, labels = images[order], labels[order]
    gen = torch.Generator().manual_seed(config.seed)
    pairs = same_class_pairs(labels, config.pairs, config.min_class_size, gen)
    x = images.to(device).float().div_(255)
    pairs = pairs.to(device)
    params, err = register_pairs(x[pairs[:, 0]], x[pairs[:, 1]], config.grid, config.registration_steps,
                                 config.registration_lr, config.sigma, config.smoothness)
    params = _trimmed(params.double().cpu(), config.trim)
    dim = params.shape[1]
    cov = torch.cov(params.T) + 1e-6 * torch.eye(dim, dtype=torch.float64)
    n, c, h, _ = images.shape
    g = DeformGenerator(len(classes), h, c, z_dim=dim + 1, width=config.grid, exemplars=n)
    g.warp_mean.copy_(params.mean(0).float())
    g.warp_scale_tril.copy_(torch.linalg.cholesky(cov).float())
    g.temperature.fill_(config.temperature)
    g.exemplar_images.copy_(images)
    g.exemplar_labels.copy_(labels)
    g.classes = [str(k) for k in classes]
    g.metadata = {"deform_config": asdict(config), "registration_error": float(err.mean()),
                  "class_counts": torch.bincount(labels, minlength=len(classes)).tolist()}
    return g.to(device).eval()


def fit_deform(dataset, config: DeformConfig = DeformConfig(), out: Union[str, Path, None] = None, *,
               data_info: Optional[dict] = None, force: bool = False, device: DeviceLike = "auto") -> DeformGenerator:
    """Fit the ``deform`` family on a labeled ``dataset`` (as :func:`~cgan_augment.load_data` gives)
    and, with ``out``, write ``model.safetensors``, ``samples.png`` (per class: exemplar, then
    variants of it) and ``config.json`` there. Seconds to a minute on a CPU for 28 px images.

    Raises:
        OutputDirError: ``out`` already holds a model and ``force`` is not set, or cannot be created.
    """
    device = resolve_device(device)
    out = Path(out) if out is not None else None
    if out is not None and not force and (out / "model.safetensors").exists():
        raise OutputDirError(f"{out}: already holds a model.safetensors; pass --force to replace it, or choose another --out.")
    images, labels = dataset_tensors(dataset)
    g = fit_deform_generator(images, labels, list(dataset.classes), config, device=device)
    if out is None:
        return g
    make_dir(out)
    indices = getattr(dataset, "indices", None)
    data_meta = dict(data_info or {}, num_train=len(dataset),
                     train_fingerprint=_fingerprint(indices) if indices is not None else None)
    save_generator(g, out / "model.safetensors", {"class_counts": class_counts(dataset), "train_config": {"family": "deform", **asdict(config)},
                                                   "data": data_meta, "step": 0,
                                                   "registration_error": g.metadata["registration_error"]})
    rows = 10
    first = torch.cumsum(torch.bincount(g.exemplar_labels, minlength=g.num_classes), 0) - torch.bincount(g.exemplar_labels, minlength=g.num_classes)
    exemplars = g.exemplar_images[first.clamp(max=len(g.exemplar_labels) - 1)].to(device).float().div(255)
    variants = g.vary(exemplars.repeat_interleave(rows - 1, 0), generator=torch.Generator(device=device).manual_seed(config.seed))
    grid = torch.cat([exemplars.unsqueeze(1), variants.view(g.num_classes, rows - 1, *exemplars.shape[1:])], 1)
    save_grid(grid.flatten(0, 1), out / "samples.png", nrow=rows, row_labels=g.classes)
    write_text_atomic(out / "config.json", json.dumps({"train_config": {"family": "deform", **asdict(config)},
                                                        "data": data_meta, "device": str(device)}, indent=2))
    return g
