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
   :class:`~cgan_augment.models.DeformGenerator` that holds it with every training image as an
   exemplar: G(x, z, y) = warp(x, mean + temperature · L z). A warp moves ink; it cannot draw a
   4 from a 9, and it works for a class of one image.

Images are float32 N×C×H×W in [0, 1]; warps are in ``grid_sample``'s normalised units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .errors import ConfigError, DataError
from .models import DeformGenerator
from .transforms import gaussian_blur, warp_by_params

__all__ = ["DeformConfig", "fit_deform_generator", "register_pairs", "same_class_pairs"]


@dataclass(frozen=True)
class DeformConfig:
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
    temperature: float = 0.5
    pairs: int = 1000
    min_class_size: int = 40
    registration_steps: int = 100
    registration_lr: float = 0.03
    smoothness: float = 1.0
    sigma: float = 1.5
    trim: float = 1.0
    seed: int = 0

    def __post_init__(self):
        for name in ("grid", "pairs", "min_class_size", "registration_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (2 if name == "grid" else 1):
                raise ConfigError(f"DeformConfig.{name} should be a positive integer{' >= 2' if name == 'grid' else ''}. Got {value!r}.")
        if self.grid > 32:
            raise ConfigError(f"DeformConfig.grid {self.grid} is finer than a smooth warp needs; use 3 to 16.")
        for name in ("temperature", "registration_lr", "sigma"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"DeformConfig.{name} should be positive. Got {getattr(self, name)!r}.")
        if self.smoothness < 0 or not 0 < self.trim <= 1:
            raise ConfigError(f"DeformConfig.smoothness should be >= 0 and trim in (0, 1]. Got {self.smoothness}, {self.trim}.")


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
                         device="cpu") -> DeformGenerator:
    """Fit the warp distribution on ``images`` (uint8 or float N×C×H×W) with int ``labels`` and
    return a :class:`DeformGenerator` (on ``device``) holding every image as an exemplar."""
    images = images if images.dtype == torch.uint8 else (images.clamp(0, 1) * 255).round().to(torch.uint8)
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
