"""Per-class training diagnostics: sample diversity and the sample grid over time (a PNG and a GIF).

Mode collapse shows first in the rare classes, as generated samples of a class that all look
alike. ``class_diversity`` measures it as the mean pairwise distance between images of a class
(root-mean-square over pixels), to be read against the same measure on real images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import torch

from .._util.files import atomic_path
from .._util.pictures import quiet_figure_warnings, save_grid

__all__ = ["class_diversity", "training_warnings", "write_timeline", "write_diversity_plot", "write_timeline_animation"]

# A class has collapsed when its generated samples differ less than this share of what its real
# images differ (healthy runs measure 0.7-1.3; the collapsed runs of issue 5 0.27-0.34; a run
# blown up by a huge learning rate 0.0).
COLLAPSE_RATIO = 0.05
COLLAPSE_ABSOLUTE = 0.005  # the same, for a class with fewer than two real images to compare with
# Training has stalled when this many sample grids in a row (same noise) differ by less than
# half a grey level anywhere.
STALL_GRIDS = 3
STALL_TOLERANCE = 0.5 / 255


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


def training_warnings(history: Sequence[tuple[int, torch.Tensor, list]], real_diversity: Sequence[Optional[float]],
                      classes: Sequence[str]) -> dict[str, str]:
    """Problems the latest sample grids show, as ``{kind: one-line message}``: ``"collapse"`` when
    some class's generated samples are nearly all alike, ``"stall"`` when the last
    ``STALL_GRIDS`` grids are the same images (the generator stopped changing: diverged or
    saturated). Empty when all looks well.

    Args:
        history: ``(step, images N×C×H×W in [0, 1], per-class diversity)`` of the sample grids so
            far, oldest first, all made from the same fixed noise.
        real_diversity: per-class diversity of real images (``None`` where unknown).
        classes: class names, in index order.
    """
    found: dict[str, str] = {}
    if not history:
        return found
    step, _, diversity = history[-1]
    collapsed = []
    for k, (d, r) in enumerate(zip(diversity, real_diversity)):
        if d is not None and d < (COLLAPSE_RATIO * r if r else COLLAPSE_ABSOLUTE):
            collapsed.append(k)
    if collapsed:
        names = ", ".join(repr(classes[k]) for k in collapsed[:5]) + (f" and {len(collapsed) - 5} more" if len(collapsed) > 5 else "")
        k = collapsed[0]
        real = f", real images {real_diversity[k]:.3f}" if real_diversity[k] else ""
        found["collapse"] = (f"step {step}: mode collapse in {len(collapsed)} of {len(classes)} classes ({names}): their "
                             f"generated samples are nearly all alike (within-class diversity {diversity[k]:.3f}{real}); "
                             "try a lower learning rate, a stronger mode-seeking term or another loss.")
    if len(history) >= STALL_GRIDS:
        last = history[-STALL_GRIDS:]
        if all((a[1] - b[1]).abs().max() < STALL_TOLERANCE for a, b in zip(last, last[1:])):
            steps = ", ".join(str(s) for s, _, _ in last)
            found["stall"] = (f"step {step}: the generated samples have not changed over the last {STALL_GRIDS} sample "
                              f"grids (steps {steps}): training has stalled or diverged; try a lower learning rate.")
    return found


def write_timeline(grids: Sequence[torch.Tensor], path: Path, num_classes: int, classes: Optional[Sequence[str]] = None,
                   steps: Optional[Sequence[int]] = None) -> None:
    """One PNG with a row per class (named by ``classes``) and a column per saved grid (headed by
    its step): the first fixed-noise sample of each class at each step, at least 32 px a side, so
    one can watch a class form (or collapse) over training.
    ``grids``: per step, the grid's images (num_classes·n)×C×H×W, class-major."""
    per_step = [g.view(num_classes, -1, *g.shape[1:])[:, 0] for g in grids]  # (K, C, H, W) each
    cells = torch.stack(per_step, 1).flatten(0, 1)  # class-major: row k = class k over time
    save_grid(cells, path, nrow=len(grids), row_labels=classes, col_labels=[str(s) for s in steps] if steps else None)


def write_diversity_plot(log_path: Path, path: Path, classes: Sequence[str]) -> Optional[str]:
    """Plot per-class diversity of generated samples over training (from ``log.jsonl``) against the
    real images' diversity; returns a note instead when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no diversity plot (pip install matplotlib)"
    from .curves import plot_diversity, read_log

    records = read_log(log_path)
    if not any(isinstance(r.get("diversity"), list) for r in records):
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    plot_diversity(ax, records, classes)
    ax.set_xlabel("step")
    try:
        with quiet_figure_warnings(), atomic_path(path) as tmp:
            fig.tight_layout()
            fig.savefig(tmp, dpi=100, format="png")
    finally:
        plt.close(fig)
    return None


def write_timeline_animation(grids: Sequence[Union[str, Path]], path: Union[str, Path],
                             steps: Optional[Sequence[int]] = None, frame_ms: int = 500,
                             max_frames: int = 40, min_width: int = 160) -> None:
    """An animated GIF of the sample grids over training: one frame per grid PNG (a row per class,
    fixed noise), a caption strip with the step, looping, the last frame held three times as long.

    Args:
        grids: the grid PNGs in training order (e.g. ``samples/step_*.png``), all the same size.
        path: where the GIF goes (written atomically).
        steps: the step of each grid, for the caption (default: parsed from ``step_N`` file names).
        frame_ms: how long each frame shows. max_frames: more grids are thinned evenly (the last kept).
        min_width: small grids are scaled up by a whole factor (nearest neighbour) to at least this width.

    GIF because every browser, viewer and markdown renderer plays it; grayscale grids keep their
    256 grey levels exactly, colour grids are reduced to 256 colours per frame.
    """
    from PIL import Image, ImageDraw, ImageFont

    grids = [Path(g) for g in grids]
    if not grids:
        raise ValueError("write_timeline_animation needs at least one grid")
    if steps is None:
        steps = [int(g.stem.rsplit("_", 1)[-1]) if g.stem.rsplit("_", 1)[-1].isdigit() else i for i, g in enumerate(grids)]
    picked = list(range(len(grids)))
    if len(picked) > max_frames:
        picked = sorted({round(i * (len(grids) - 1) / (max_frames - 1)) for i in range(max_frames)})
    font, caption, frames = ImageFont.load_default(), 16, []
    for i in picked:
        with Image.open(grids[i]) as im:
            im.load()
            mode = "L" if im.mode in ("L", "LA", "I", "I;16", "1") else "RGB"
            grid = im.convert(mode)
        scale = max(1, -(-min_width // grid.width))
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST)
        frame = Image.new(mode, (grid.width, grid.height + caption), 255 if mode == "L" else (255, 255, 255))
        frame.paste(grid, (0, caption))
        ImageDraw.Draw(frame).text((3, 2), f"step {steps[i]}", fill=0 if mode == "L" else (0, 0, 0), font=font)
        frames.append(frame)
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 3]
    with atomic_path(path) as tmp:
        frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0)
