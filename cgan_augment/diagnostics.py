"""Per-class training diagnostics: sample diversity and the sample grid over time.

Mode collapse shows first in the rare classes, as generated samples of a class that all look
alike. ``class_diversity`` measures it as the mean pairwise distance between images of a class
(root-mean-square over pixels), to be read against the same measure on real images.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

import torch

from .files import atomic_path
from .images import save_grid

__all__ = ["class_diversity", "write_timeline", "write_diversity_plot"]


def class_diversity(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[Optional[float]]:
    """Mean pairwise RMS distance between images (N×C×H×W in [0, 1]) of each class; ``None`` for a
    class with fewer than two images."""
    out = []
    for k in range(num_classes):
        x = images[labels == k].flatten(1)
        if len(x) < 2:
            out.append(None)
            continue
        d = torch.cdist(x, x) / x.shape[1] ** 0.5
        out.append(round(float(d.sum() / (len(x) * (len(x) - 1))), 5))
    return out


def write_timeline(grids: Sequence[torch.Tensor], path: Path, num_classes: int) -> None:
    """One PNG with a row per class and a column per saved grid: the first fixed-noise sample of
    each class at each step, so one can watch a class form (or collapse) over training.
    ``grids``: per step, the grid's images (num_classes·n)×C×H×W, class-major."""
    per_step = [g.view(num_classes, -1, *g.shape[1:])[:, 0] for g in grids]  # (K, C, H, W) each
    cells = torch.stack(per_step, 1).flatten(0, 1)  # class-major: row k = class k over time
    save_grid(cells, path, nrow=len(grids))


def write_diversity_plot(log_path: Path, path: Path, classes: Sequence[str]) -> Optional[str]:
    """Plot per-class diversity of generated samples over training (from ``log.jsonl``) against the
    real images' diversity; returns a note instead when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no diversity plot (pip install matplotlib)"
    rows = [json.loads(line) for line in Path(log_path).read_text().splitlines() if '"diversity"' in line]
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for k, name in enumerate(classes):
        values = [r["diversity"][k] for r in rows]
        line, = ax.plot(steps, [v if v is not None else float("nan") for v in values], color=cmap(k % cmap.N), label=name)
        real = rows[-1]["real_diversity"][k]
        if real is not None:
            ax.axhline(real, color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("mean pairwise distance within class")
    ax.set_title("Generated-sample diversity per class (dotted: real images)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return None
