"""The report's pictures, made to be read at a glance:

* the per-class recall heat map (``recall_by_class.png``): arms × classes, each cell coloured by the
  arm's recall minus that of the best baseline (a diverging colour map centred at 0: blue helped,
  red hurt), classes ordered by training size with their counts on the axis;
* the forest plot of the gains (inline SVG in report.html): every comparison's paired mean and
  95 % interval on one axis, zero marked.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Optional

import numpy as np

from .._util.files import atomic_path

__all__ = ["recall_reference", "class_order", "gain_colour", "forest_rows", "forest_svg", "recall_heatmap"]

# RdBu's ends and middle: red for a loss, white for none, blue for a gain (colour-blind safe)
_NEG, _MID, _POS = (178, 24, 43), (247, 247, 247), (33, 102, 172)


def recall_reference(result: dict) -> Optional[str]:
    """The arm whose recall the heat map subtracts: the best baseline, else ``real``, else none."""
    best = (result.get("gains") or {}).get("best_baseline")
    if best in result["arms"]:
        return best
    return "real" if "real" in result["arms"] else None


def class_order(counts: list) -> list:
    """Class indices from the largest training class to the smallest (ties in class order)."""
    return sorted(range(len(counts)), key=lambda k: (-counts[k], k))


def _recall_gains(result: dict) -> tuple[list, np.ndarray, np.ndarray, Optional[str]]:
    """(arms, recall [arm][class], recall minus the reference's [arm][class], reference)."""
    arms = list(result["arms"])
    recall = np.array([result["arms"][a]["per_class_recall"]["mean"] for a in arms], dtype=float)
    ref = recall_reference(result)
    gain = recall - recall[arms.index(ref)] if ref else np.zeros_like(recall)
    return arms, recall, gain, ref


def gain_colour(gain: float, scale: float) -> str:
    """CSS ``rgb()`` of a gain on the diverging scale: white at 0, full red/blue at ±``scale``."""
    t = max(-1.0, min(1.0, gain / scale)) if scale > 0 else 0.0
    end = _POS if t > 0 else _NEG
    rgb = [round(m + abs(t) * (e - m)) for m, e in zip(_MID, end)]
    return f"rgb({rgb[0]}, {rgb[1]}, {rgb[2]})"


def gain_scale(gain: np.ndarray) -> float:
    """The colour scale's half-width: the largest |gain|, at least 0.05 (so noise stays pale)."""
    return max(0.05, float(np.abs(gain).max()) if gain.size else 0.0)


def recall_heatmap(path: Path, result: dict) -> Optional[str]:
    """Write the heat map PNG; returns a note instead when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    classes, counts = result["data"]["classes"], result["data"]["train_counts"]
    order = class_order(counts)
    arms, recall, gain, ref = _recall_gains(result)
    recall, gain = recall[:, order], gain[:, order]
    scale = gain_scale(gain)
    fig, ax = plt.subplots(figsize=(2.6 + 0.62 * len(order), 1.1 + 0.32 * len(arms)), dpi=120)
    im = ax.imshow(gain, cmap="RdBu", vmin=-scale, vmax=scale, aspect="auto")
    for i in range(len(arms)):
        for j in range(len(order)):
            ax.text(j, i, f"{recall[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(gain[i, j]) > 0.6 * scale else "#1d232b")
    ax.set_xticks(range(len(order)), [f"{classes[k]}\nn={counts[k]}" for k in order], fontsize=7)
    ax.set_yticks(range(len(arms)), [f"{a}  (reference)" if a == ref else a for a in arms], fontsize=8)
    ax.tick_params(length=0)
    ax.set_xlabel("class, largest to smallest (n = training images)", fontsize=8)
    bar = fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label(f"recall minus {ref}'s" if ref else "recall gain", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    ax.set_title(f"Test recall per class (numbers); colour: gain over {ref or 'nothing'} (blue helped, red hurt)",
                 fontsize=9)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return None


def forest_rows(result: dict) -> list:
    """One row per comparison in ``result["gains"]``, the verdict's first: ``{arm, vs, label,
    mean, low, high, n, verdict}`` in points of balanced accuracy (low/high ``None`` for one pair)."""
    rows, seen = [], set()
    c = result.get("comparison")
    gains = result.get("gains") or {}
    entries = [(c["arm"], {"vs_verdict": {"vs": c["vs"], "mean": c["interval"]["mean"], "interval": c["interval"]}})] if c else []
    entries += [(arm, e) for arm, e in gains.items() if isinstance(e, dict) and arm != "oracle_gap_recovered"]
    for arm, entry in entries:
        for key, g in entry.items():
            if not key.startswith("vs_") or not g or (arm, g["vs"]) in seen:
                continue
            seen.add((arm, g["vs"]))
            iv = g.get("interval") or {}
            scaled = lambda v: None if v is None else 100 * v  # noqa: E731
            rows.append({"arm": arm, "vs": g["vs"], "label": f"{arm} over {g['vs']}", "mean": 100 * g["mean"],
                         "low": scaled(iv.get("low")), "high": scaled(iv.get("high")), "n": iv.get("n"),
                         "verdict": key == "vs_verdict"})
    return rows


def forest_svg(result: dict, width: int = 720) -> str:
    """The forest plot as an inline ``<svg id="forest">`` (empty string when there is nothing to
    compare): a row per comparison, its mean as a dot, its 95 % interval as a bar, zero as a line."""
    rows = forest_rows(result)
    if not rows:
        return ""
    values = [0.0] + [v for r in rows for v in (r["mean"], r["low"], r["high"]) if v is not None]
    lo, hi = min(values), max(values)
    pad = max(0.5, 0.08 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    left, right, top, row_h = 250, width - 150, 28, 24
    x = lambda v: left + (v - lo) / (hi - lo) * (right - left)  # noqa: E731
    height = top + row_h * len(rows) + 34
    e = lambda t: html.escape(str(t), quote=True)  # noqa: E731
    out = [f'<svg id="forest" viewBox="0 0 {width} {height}" width="100%" '
           f'style="max-width:{width}px" role="img" aria-label="forest plot of the paired gains in balanced accuracy">',
           f'<text x="{left}" y="14" font-size="11" fill="#5b6572">gain in balanced accuracy (points), mean and 95 % interval</text>']
    for t in _ticks(lo, hi):
        out.append(f'<line class="tick" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top - 6}" y2="{height - 26}" stroke="#eef0f3"/>'
                   f'<text x="{x(t):.1f}" y="{height - 12}" font-size="10" text-anchor="middle" fill="#5b6572">{t:+g}</text>')
    out.append(f'<line class="zero" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="{top - 8}" y2="{height - 24}" stroke="#1d232b" '
               'stroke-dasharray="3 3"/>')
    for i, r in enumerate(rows):
        y = top + row_h * i + row_h / 2
        side = r["low"] is not None and (r["low"] > 0 or r["high"] < 0)
        colour = ("#1b7f3b" if r["low"] > 0 else "#b42318") if side else "#5b6572"
        weight = ' font-weight="600"' if r["verdict"] else ""
        label = r["label"] + ("  (verdict)" if r["verdict"] else "")
        bounds = {k: "" if r[k] is None else f"{r[k]:.4f}" for k in ("low", "high")}
        out.append(f'<g class="row" data-mean="{r["mean"]:.4f}" data-low="{bounds["low"]}" data-high="{bounds["high"]}">')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="11" text-anchor="end"{weight}>{e(label)}</text>')
        if r["low"] is not None:
            out.append(f'<line class="ci" x1="{x(r["low"]):.1f}" x2="{x(r["high"]):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'stroke="{colour}" stroke-width="2.5"/>')
            text = f'{r["mean"]:+.1f} [{r["low"]:+.1f}, {r["high"]:+.1f}]'
        else:
            text = f'{r["mean"]:+.1f} (one pair: no interval)'
        out.append(f'<circle class="mean" cx="{x(r["mean"]):.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
        out.append(f'<text x="{right + 10}" y="{y + 4:.1f}" font-size="11"{weight}>{e(text)}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _ticks(lo: float, hi: float) -> list:
    """About five round tick values between ``lo`` and ``hi``."""
    raw = (hi - lo) / 5
    step = min((s * 10 ** np.floor(np.log10(raw)) for s in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    first = np.ceil(lo / step) * step
    return [round(float(t), 6) for t in np.arange(first, hi + 1e-9, step)]
