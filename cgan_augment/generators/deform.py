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

from pathlib import Path
from typing import Callable, Optional, Union

import torch

from .._util.devices import DeviceLike, resolve_device
from .._util.pictures import save_grid
from .._util.warps import gaussian_blur, warp_by_params
from ..data.subsets import dataset_tensors, to_uint8
from ..errors import ConfigError, DataError, TrainingInterrupted
from .deform_config import DeformConfig
from .fitting import claim_output, finished_model, save_fitted, single_process
from .networks import DeformGenerator
from .recipes import recipe_dict

__all__ = ["DeformConfig", "fit_deform", "fit_deform_generator", "register_pairs", "same_class_pairs"]

StepCallback = Optional[Callable[[int, int, dict], None]]
StopCallback = Optional[Callable[[], bool]]


def register_pairs(a: torch.Tensor, b: torch.Tensor, grid: int = 5, steps: int = 100, lr: float = 0.03,
                   sigma: float = 1.5, smoothness: float = 1.0, *, on_step: StepCallback = None,
                   should_stop: StopCallback = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The warp parameters (N, 6 + 2·grid²) that best turn each ``a[i]`` into ``b[i]``, and the
    remaining error per pair (N,): mean squared difference of the blurred images.

    Least squares on images blurred with ``sigma`` px (a wider basin than thin strokes), plus
    ``smoothness`` × the mean square of the control displacements (keeps the field small where the
    images give no evidence). Deterministic on CPU. After every step, ``on_step(step, steps,
    {"step", "loss"})`` is called and ``should_stop()`` polled; when it says so,
    :class:`~cgan_augment.TrainingInterrupted` is raised (there is nothing to keep).
    """
    if a.shape != b.shape or a.dim() != 4:
        raise ConfigError(f"register_pairs needs two N×C×H×W batches of one shape. Got {tuple(a.shape)} and {tuple(b.shape)}.")
    params = torch.zeros(len(a), 6 + 2 * grid * grid, device=a.device, requires_grad=True)
    target = gaussian_blur(b, sigma)
    opt = torch.optim.Adam([params], lr=lr)
    for step in range(1, steps + 1):
        err = (gaussian_blur(warp_by_params(a, params, grid), sigma) - target).pow(2).flatten(1).mean(1)
        loss = err.sum() + smoothness * params[:, 6:].pow(2).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if on_step is not None:
            on_step(step, steps, {"step": step, "loss": float(loss.detach()) / len(a)})
        if should_stop is not None and should_stop():
            raise TrainingInterrupted(step)
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
                         device: DeviceLike = "auto", *, on_step: StepCallback = None,
                         should_stop: StopCallback = None) -> DeformGenerator:
    """Fit the warp distribution on ``images`` (uint8 or float N×C×H×W) with int ``labels`` and
    return a :class:`DeformGenerator` (on ``device``) holding every image as an exemplar.
    ``on_step`` and ``should_stop`` follow the registration (:func:`register_pairs`)."""
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
                                 config.registration_lr, config.sigma, config.smoothness, on_step=on_step,
                                 should_stop=should_stop)
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
    g.metadata = {"train_config": recipe_dict(config), "registration_error": float(err.mean()),
                  "class_counts": torch.bincount(labels, minlength=len(classes)).tolist()}
    return g.to(device).eval()


def fit_deform(dataset, config: DeformConfig = DeformConfig(), out: Union[str, Path, None] = None, run=None, *,
               data_info: Optional[dict] = None, resume: bool = False, force: bool = False,
               on_step: StepCallback = None, should_stop: StopCallback = None) -> DeformGenerator:
    """The ``deform`` family's ``fit`` (:func:`cgan_augment.fit_generator` calls it for a
    :class:`DeformConfig`): fit on a labeled ``dataset`` (as :func:`~cgan_augment.load_data` gives)
    and, with ``out``, write ``model.safetensors``, ``samples.png`` (per class: exemplar, then
    variants of it) and ``config.json`` there. Seconds to a minute on a CPU for 28 px images.

    Args:
        run: the run settings (:class:`~cgan_augment.RunSettings`); only ``device`` is read (None: "auto").
        data_info: what to record about the data in the model file (e.g. the DataSpec as a dict).
        resume: the fit has no state between steps, so a finished model in ``out`` made with this
            recipe on these images is the result: it is loaded and returned, nothing is written.
        force: replace a model already in ``out`` / take over its lock.
        on_step, should_stop: called and polled after every registration step; a stop raises
            :class:`~cgan_augment.TrainingInterrupted` before anything is written.

    Raises:
        OutputDirError: ``out`` is locked, holds a model (neither ``resume`` nor ``force``), has
            none to resume, holds one made otherwise (``resume``), or cannot be written.
        ConfigError: run under torchrun with several processes. DataError: no class is large enough.
    """
    single_process("deform")
    device = resolve_device(getattr(run, "device", "auto"))
    with claim_output(out, resume=resume, force=force) as folder:
        if folder is not None and resume:
            return finished_model(folder, dataset, config, device)
        images, labels = dataset_tensors(dataset)
        g = fit_deform_generator(images, labels, list(dataset.classes), config, device=device, on_step=on_step,
                                 should_stop=should_stop)
        if folder is not None:
            save_fitted(g, folder, dataset, config, data_info, {"registration_error": g.metadata["registration_error"]},
                        run={"device": str(device)})
            _write_samples(g, folder / "samples.png", config.seed, device)
    return g


def _write_samples(g: DeformGenerator, path: Path, seed: int, device: torch.device, rows: int = 10) -> None:
    """Per class, its first exemplar and ``rows - 1`` variants of it, one row per class."""
    counts = torch.bincount(g.exemplar_labels, minlength=g.num_classes)
    first = torch.cumsum(counts, 0) - counts
    exemplars = g.exemplar_images[first.clamp(max=len(g.exemplar_labels) - 1)].to(device).float().div(255)
    variants = g.vary(exemplars.repeat_interleave(rows - 1, 0), generator=torch.Generator(device=device).manual_seed(seed))
    grid = torch.cat([exemplars.unsqueeze(1), variants.view(g.num_classes, rows - 1, *exemplars.shape[1:])], 1)
    save_grid(grid.flatten(0, 1), path, nrow=rows, row_labels=g.classes)
