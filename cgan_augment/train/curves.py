"""Training curves: ``training_curves.png`` drawn from the records of ``log.jsonl``.

Panels, each drawn only when the log holds its numbers:

* the losses of D and G (``loss_d``, ``loss_g``);
* D's mean output on real and on generated images (``d_real``, ``d_fake``): the two drift apart
  when D wins, cross or swing when training is unstable;
* for ``wgan-gp``, the Wasserstein estimate (``w_estimate``, or ``d_real - d_fake`` where a
  record has ``gp`` but no estimate) and the gradient penalty (``gp``): a falling estimate with a
  small penalty is a critic that converges;
* per-class diversity of generated samples (``diversity``) against real images' (``real_diversity``).

Per-step numbers are noisy, so each is drawn twice: its raw values faint, and over them an
exponential moving average with bias correction (the first points are not pulled towards zero),
weight ``alpha = 2 / (span + 1)`` with ``span`` = one 25th of the points (see :func:`smooth`).
After ``--resume`` the log holds the earlier run's records too, so its curves are drawn as well;
a record ``{"step": N, "event": "resume"}`` marks where a run continued (a dotted line).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional, Sequence, Union

from .._util.files import atomic_path
from .._util.pictures import quiet_figure_warnings

__all__ = ["read_log", "smooth", "plot_diversity", "write_training_curves"]

_MAX_RAW_POINTS = 2000  # raw values drawn at most; more only blur into a band and slow the plot down


def read_log(path: Union[str, Path]) -> list[dict]:
    """The records of a ``log.jsonl``, in file order; a torn last line (a run killed mid-write) is skipped."""
    records = []
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "step" in record:
            records.append(record)
    return records


def smooth(values: Sequence[Optional[float]], span: Optional[int] = None) -> list[Optional[float]]:
    """Bias-corrected exponential moving average of ``values`` (``None`` entries are skipped and stay
    ``None``): ``s_t = sum_i (1 - a)^(t-i) x_i / sum_i (1 - a)^(t-i)``, ``a = 2 / (span + 1)``.
    ``span`` defaults to one 25th of the values (at least 1, which returns them unchanged)."""
    present = sum(v is not None for v in values)
    span = max(1, present // 25) if span is None else max(1, int(span))
    keep = 1 - 2 / (span + 1)
    total = weight = 0.0
    out: list[Optional[float]] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        total, weight = keep * total + v, keep * weight + 1
        out.append(total / weight)
    return out


def _series(records: list[dict], key: str) -> tuple[list[int], list[float]]:
    pairs = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return [s for s, _ in pairs], [v for _, v in pairs]


def _w_estimate(records: list[dict]) -> tuple[list[int], list[float]]:
    """The logged Wasserstein estimate, or ``d_real - d_fake`` of the records that carry a penalty."""
    steps, values = _series(records, "w_estimate")
    if steps:
        return steps, values
    pairs = [(r["step"], r["d_real"] - r["d_fake"]) for r in records
             if "gp" in r and isinstance(r.get("d_real"), (int, float)) and isinstance(r.get("d_fake"), (int, float))]
    return [s for s, _ in pairs], [v for _, v in pairs]


def _draw(ax, steps: list[int], values: list[float], label: str, color) -> None:
    """Raw values faint (thinned to at most ``_MAX_RAW_POINTS``), the smoothed curve over them."""
    stride = max(1, math.ceil(len(steps) / _MAX_RAW_POINTS))
    ax.plot(steps[::stride], values[::stride], color=color, alpha=0.25, linewidth=0.6)
    ax.plot(steps, smooth(values), color=color, linewidth=1.5, label=label)


def plot_diversity(ax, records: list[dict], classes: Sequence[str]) -> None:
    """Per-class diversity of the records that carry one, on the matplotlib axes ``ax``; the last
    record's real-image diversity as a dotted line of the same colour."""
    import matplotlib.pyplot as plt

    rows = [r for r in records if isinstance(r.get("diversity"), list)]
    steps = [r["step"] for r in rows]
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for k, name in enumerate(classes):
        values = [r["diversity"][k] if k < len(r["diversity"]) and r["diversity"][k] is not None else float("nan")
                  for r in rows]
        line, = ax.plot(steps, values, color=cmap(k % cmap.N), label=str(name), marker="." if len(rows) < 30 else None)
        real_all = rows[-1].get("real_diversity") or []
        real = real_all[k] if k < len(real_all) else None
        if real is not None:
            ax.axhline(real, color=line.get_color(), linestyle=":", linewidth=0.8)
    ax.set_title("Per-class diversity of samples (dotted: real images)")
    ax.set_ylabel("mean pairwise distance")
    ax.legend(fontsize=6, ncol=max(1, math.ceil(len(classes) / 8)))


def _panels(records: list[dict]) -> list[str]:
    """The panels the records have numbers for, in drawing order."""
    panels = []
    if any("loss_d" in r or "loss_g" in r for r in records):
        panels.append("losses")
    if any("d_real" in r for r in records):
        panels.append("scores")
    if _w_estimate(records)[0] or _series(records, "gp")[0]:
        panels.append("wasserstein")
    if any(isinstance(r.get("diversity"), list) for r in records):
        panels.append("diversity")
    return panels


def write_training_curves(log_path: Union[str, Path], path: Union[str, Path],
                          classes: Optional[Sequence[str]] = None, title: Optional[str] = None) -> Optional[str]:
    """Draw the training curves of ``log_path`` (a ``log.jsonl``) into the PNG ``path`` (atomically).

    Args:
        log_path: the training log; records are dicts with a ``step`` and any of the keys above.
        path: where the PNG goes.
        classes: class names for the diversity legend (default: ``0..K-1``).
        title: a line above the panels (e.g. the family and loss).

    Returns:
        ``None`` when written, or a note saying why not (matplotlib missing, nothing logged yet).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no training curves (pip install matplotlib)"
    records = read_log(log_path)
    panels = _panels(records)
    if not panels:
        return "nothing logged yet: no training curves"
    if classes is None:
        width = max((len(r["diversity"]) for r in records if isinstance(r.get("diversity"), list)), default=0)
        classes = [str(k) for k in range(width)]
    resumed = [r["step"] for r in records if r.get("event") == "resume"]

    cols = 1 if len(panels) == 1 else 2
    rows = math.ceil(len(panels) / cols)
    fig = plt.figure(figsize=(5.2 * cols, 3.3 * rows), dpi=100)
    layout = fig.add_gridspec(rows, cols)
    # an odd last panel takes the whole row
    axes = [fig.add_subplot(layout[i // cols, i % cols] if i < len(panels) - 1 or len(panels) % cols == 0 else layout[i // cols, :])
            for i in range(len(panels))]
    for ax, panel in zip(axes, panels):
        if panel == "losses":
            for key, label, color in (("loss_d", "D loss", "tab:blue"), ("loss_g", "G loss", "tab:orange")):
                steps, values = _series(records, key)
                if steps:
                    _draw(ax, steps, values, label, color)
            ax.set_title("Losses")
        elif panel == "scores":
            for key, label, color in (("d_real", "on real images", "tab:green"), ("d_fake", "on generated images", "tab:red")):
                steps, values = _series(records, key)
                if steps:
                    _draw(ax, steps, values, label, color)
            ax.set_title("D's mean output (logit)")
        elif panel == "wasserstein":
            steps, values = _w_estimate(records)
            if steps:
                _draw(ax, steps, values, "Wasserstein estimate", "tab:purple")
            steps, values = _series(records, "gp")
            if steps:
                right = ax.twinx()
                _draw(right, steps, values, "gradient penalty (right axis)", "tab:gray")
                right.set_ylabel("penalty")
                handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
                ax.legend(handles=handles, fontsize=7, loc="upper right")
            ax.set_title("WGAN-GP critic")
        else:
            plot_diversity(ax, records, classes)
        if panel != "wasserstein" and panel != "diversity":
            ax.legend(fontsize=7, loc="upper right")
        for step in resumed:
            ax.axvline(step, color="black", linestyle=":", linewidth=0.8)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    heading = title or "Training curves"
    if resumed:
        heading += f" (dotted: resumed at step {', '.join(map(str, resumed))})"
    fig.suptitle(heading + "; faint: raw values, solid: smoothed", fontsize=9)
    try:
        with quiet_figure_warnings(), atomic_path(path) as tmp:
            fig.tight_layout()
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return None
