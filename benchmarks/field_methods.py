"""Methods tried by benchmarks/beat_the_field.py (issue 20) beyond the learned warps.

* :class:`Appearance`: stroke thickness and brightness learned from the large classes and moved to
  the rare ones (a warp cannot thicken a stroke or change how dark a garment is).
* :func:`select_hardest`: classifier-in-the-loop choice among K warps of each item.
* :func:`head_retrain`: after training, the last layer retrained on features of real images,
  with or without features sampled by distribution calibration (Yang et al., ICLR 2021).

Images are float32 N×1×H×W in [0, 1]; every random draw takes the generator it is given.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _ink(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(1).mean(1).clamp_min(1e-4)


def _dilate(x):
    return F.max_pool2d(x, 3, 1, 1)


def _erode(x):
    return -F.max_pool2d(-x, 3, 1, 1)


class Appearance:
    """Per-image appearance deviations of the large classes, applied to rare-class items.

    For every image of a class with at least ``min_size`` images: the log of its ink (mean pixel)
    over its class's median ink (stroke thickness / garment size), and the log of its 95th-percentile
    brightness over its class's median (contrast). A rare item draws one (thickness, contrast) pair
    from that pool (jointly, so the pool's correlation is kept) and is moved to it: the ink target
    by blending towards a 3×3 dilation or erosion (only as far as one 3×3 step goes), the brightness
    by scaling the pixels.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, min_size: int = 40, contrast: bool = True):
        ink, bright, = [], []
        for c in torch.unique(y):
            xc = x[y == c]
            if len(xc) < min_size:
                continue
            i = _ink(xc).log()
            b = torch.quantile(xc.flatten(1), 0.95, dim=1).clamp_min(1e-3).log()
            ink.append(i - i.median())
            bright.append(b - b.median())
        self.ink = torch.cat(ink)
        self.bright = torch.cat(bright) if contrast else torch.zeros_like(self.ink)

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        pick = torch.randint(len(self.ink), (len(x),), generator=gen)
        target = _ink(x) * self.ink[pick].exp()
        grow, shrink = _dilate(x), _erode(x)
        up = ((target - _ink(x)) / (_ink(grow) - _ink(x)).clamp_min(1e-4)).clamp(0, 1)
        down = ((_ink(x) - target) / (_ink(x) - _ink(shrink)).clamp_min(1e-4)).clamp(0, 1)
        thick = target > _ink(x)
        t = torch.where(thick, up, down).view(-1, 1, 1, 1)
        other = torch.where(thick.view(-1, 1, 1, 1), grow, shrink)
        out = x + t * (other - x)
        return (out * self.bright[pick].exp().view(-1, 1, 1, 1)).clamp(0, 1)


@torch.no_grad()
def select_hardest(model, candidates: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """From ``candidates`` (K·N×C×H×W, K warps of each of N items, item-major within each warp),
    per item the one the classifier finds hardest (highest loss) among those it still assigns to
    the item's class; when it assigns none of them, the easiest (the warp least likely to have
    left the class)."""
    was_training = model.training
    model.eval()
    logits = model(candidates)
    model.train(was_training)
    n = len(labels)
    loss = F.cross_entropy(logits, labels.repeat(k), reduction="none").view(k, n)
    right = (logits.argmax(1) == labels.repeat(k)).view(k, n)
    score = torch.where(right, loss, -loss - 1e6)  # any assigned warp beats every unassigned one
    best = score.argmax(0)
    return candidates.view(k, n, *candidates.shape[1:])[best, torch.arange(n)]


@torch.no_grad()
def _features(model, x: torch.Tensor, augment, gen, views: int) -> torch.Tensor:
    model.eval()
    out = []
    for v in range(views):
        xv = augment(x, gen) if (augment is not None and v > 0) else x
        out.append(torch.cat([model.features(xv[i:i + 512]) for i in range(0, len(xv), 512)]))
    return torch.stack(out)  # views × N × D


def calibrated_samples(feats: torch.Tensor, y: torch.Tensor, counts: torch.Tensor, rare_below: int, per_class: int,
                       gen: torch.Generator, k: int = 2, alpha: float = 0.2, power: float = 0.5):
    """Distribution calibration: for a rare class, each base feature borrows the covariance of the
    ``k`` large classes whose means are nearest to it (Tukey-transformed features, power 0.5), and
    ``per_class`` features are drawn from the calibrated Gaussians. Returns (features, labels)
    in the original (un-transformed) feature space."""
    z = feats.clamp_min(0).pow(power)
    big = [int(c) for c in torch.nonzero(counts >= rare_below).squeeze(1)]
    means = torch.stack([z[y == c].mean(0) for c in big])
    covs = torch.stack([torch.cov(z[y == c].T) for c in big])
    eye = torch.eye(z.shape[1])
    xs, ys = [], []
    for c in torch.nonzero(counts < rare_below).squeeze(1).tolist():
        base = z[y == c]
        each = max(1, per_class // len(base))
        for f in base:
            near = torch.topk(-(means - f).norm(dim=1), k).indices
            mean = (means[near].sum(0) + f) / (k + 1)
            cov = covs[near].mean(0) + alpha * eye
            chol = torch.linalg.cholesky(cov)
            draw = mean + torch.randn(each, len(f), generator=gen) @ chol.T
            xs.append(draw.clamp_min(0).pow(1 / power))
            ys.append(torch.full((each,), c))
    return torch.cat(xs), torch.cat(ys)


def head_retrain(model, x: torch.Tensor, y: torch.Tensor, augment, seed: int, rare_below: int, sampled: bool,
                 views: int = 10, steps: int = 500, batch: int = 256, lr: float = 1e-3) -> torch.nn.Module:
    """A copy of ``model`` whose last layer is retrained (Adam, class-balanced batches, from the
    trained weights) on the frozen features of the real training images (``views`` augmented
    views each), plus, when ``sampled``, as many calibrated features per rare class as its real
    views. Everything but the features differs only by the sampled features, so comparing
    ``sampled`` True and False isolates what they add."""
    import copy

    gen = torch.Generator().manual_seed(10_000 + seed)
    feats = _features(model, x, augment, gen, views)
    fy = y.repeat(views)
    flat = feats.reshape(-1, feats.shape[-1])
    counts = torch.bincount(y, minlength=int(y.max()) + 1)
    if sampled:
        sx, sy = calibrated_samples(feats[0], y, counts, rare_below, per_class=views * 40, gen=gen)
        flat, fy = torch.cat([flat, sx]), torch.cat([fy, sy])
    head = copy.deepcopy(model.head)
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    members = [torch.nonzero(fy == c).squeeze(1) for c in range(len(counts))]
    for _ in range(steps):
        cls = torch.randint(len(counts), (batch,), generator=gen)
        pick = torch.rand(batch, generator=gen)
        idx = torch.stack([members[c][min(int(p * len(members[c])), len(members[c]) - 1)]
                           for c, p in zip(cls.tolist(), pick.tolist())])
        loss = F.cross_entropy(head(flat[idx]), cls)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    out = copy.deepcopy(model)
    out.head = head
    return out.eval()


def np_t_interval(d: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95 % t-interval of paired differences ``d``."""
    from scipy import stats

    if len(d) < 2:
        return float(d.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)
