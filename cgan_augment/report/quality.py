"""Quality of generated samples, measured in a classifier's feature space.

Inception weights cannot be downloaded everywhere, so the report embeds images with the
penultimate layer of its own ``real``-arm classifier and compares, class by class, generated
samples with held-out real images of the same class:

* the Fréchet distance between Gaussians fitted to the two sets (Heusel et al. 2017);
* precision and recall of Kynkäänniemi et al. 2019 (is a sample inside the k-NN manifold of the
  other set?);
* density and coverage of Naeem et al. 2020 (precision and recall made robust to outliers).

All functions take feature matrices (N×D float tensors) and return plain floats.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch

__all__ = ["frechet_distance", "precision_recall_density_coverage", "per_class_quality"]


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` (N×D) and ``b`` (M×D).

    ``tr(sqrt(S_a S_b))`` is computed as the sum of square roots of the eigenvalues of the
    symmetric matrix ``sqrt(S_a) S_b sqrt(S_a)``, which is stable for the singular covariances
    that small sets give (N < D).
    """
    a, b = a.double().numpy(), b.double().numpy()  # numpy's eigh: torch's is much slower on small CPUs
    d = a.shape[1]
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a = np.cov(a, rowvar=False).reshape(d, d) if len(a) > 1 else np.zeros((d, d))
    cov_b = np.cov(b, rowvar=False).reshape(d, d) if len(b) > 1 else np.zeros((d, d))
    vals, vecs = np.linalg.eigh(cov_a)
    root_a = (vecs * np.sqrt(vals.clip(min=0))) @ vecs.T
    cross = np.sqrt(np.linalg.eigvalsh(root_a @ cov_b @ root_a).clip(min=0)).sum()
    fd = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    return float(max(fd, 0.0))


def _kth_neighbour_radius(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of ``x`` to its k-th nearest other row (N,)."""
    d = torch.cdist(x, x)
    return d.topk(k + 1, dim=1, largest=False).values[:, k]  # column 0 is the point itself


def precision_recall_density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = 5) -> Optional[dict]:
    """Kynkäänniemi 2019 precision/recall and Naeem 2020 density/coverage of ``fake`` against ``real``.

    ``k`` is lowered to fit small sets; returns ``None`` when either set has fewer than 2 rows.
    """
    if len(real) < 2 or len(fake) < 2:
        return None
    real, fake = real.double(), fake.double()
    k_real, k_fake = min(k, len(real) - 1), min(k, len(fake) - 1)
    r_real = _kth_neighbour_radius(real, k_real)  # (N,)
    r_fake = _kth_neighbour_radius(fake, k_fake)  # (M,)
    d = torch.cdist(real, fake)  # (N, M)
    inside_real = d <= r_real[:, None]  # fake j inside the ball of real i
    return {
        "precision": float(inside_real.any(0).double().mean()),
        "recall": float((d <= r_fake[None, :]).any(1).double().mean()),
        "density": float(inside_real.double().sum(0).mean() / k_real),
        "coverage": float(inside_real.any(1).double().mean()),
        "k": k_real,
    }


def per_class_quality(real: torch.Tensor, real_labels: torch.Tensor, fake: torch.Tensor, fake_labels: torch.Tensor,
                      classes: Sequence[str], k: int = 5) -> dict:
    """Per-class Fréchet distance, precision, recall, density and coverage, plus their class means.

    Args:
        real, fake: feature matrices (N×D, M×D). real_labels, fake_labels: class indices (N,), (M,).
        classes: class names, in index order. k: neighbourhood size.

    Returns:
        ``{"per_class": {name: {...}}, "mean": {...}}``; a class with fewer than two items on
        either side gets ``None`` values.
    """
    keys = ("frechet_distance", "precision", "recall", "density", "coverage")
    per_class = {}
    for c, name in enumerate(classes):
        r, f = real[real_labels == c], fake[fake_labels == c]
        row = dict.fromkeys(keys)
        row.update(n_real=int(len(r)), n_fake=int(len(f)))
        if len(r) >= 2 and len(f) >= 2:
            row["frechet_distance"] = frechet_distance(r, f)
            row.update(precision_recall_density_coverage(r, f, k))
        per_class[name] = row
    mean = {}
    for key in keys:
        values = [row[key] for row in per_class.values() if row[key] is not None]
        mean[key] = sum(values) / len(values) if values else None
    return {"per_class": per_class, "mean": mean}
