"""The report's files: ``report.json``, ``report.md`` (with :func:`format_table`), the per-class
recall figure and the real | generated sample grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .._util.files import write_text_atomic
from .._util.pictures import quiet_figure_warnings, save_grid
from .config import SYNTHETIC_ARMS, ReportConfig
from .figures import class_order, recall_heatmap, recall_reference
from .gains import classifier_line, verdict_method
from .html import write_report_html

__all__ = ["format_table"]


def _pm(entry: Optional[dict], scale: float = 1.0, digits: int = 3) -> str:
    if not entry:
        return "–"
    return f"{entry['mean'] * scale:.{digits}f} ± {entry['std'] * scale:.{digits}f}"


def format_table(result: dict) -> str:
    """The main table of a report (markdown): one row per arm, metrics as mean ± std over seeds."""
    lines = ["| arm | balanced accuracy | accuracy | macro-F1 | worst-class recall | note |", "|---|---|---|---|---|---|"]
    for arm, entry in result["arms"].items():
        recall = entry["per_class_recall"]["mean"]
        worst = int(np.argmin(recall))
        lines.append(f"| {arm} | {_pm(entry['balanced_accuracy'])} | {_pm(entry['accuracy'])} | {_pm(entry['macro_f1'])} | "
                     f"{recall[worst]:.2f} ({result['data']['classes'][worst]}) | "
                     f"{'; '.join(filter(None, [entry.get('note', ''), entry.get('flag', '')]))} |")
    for arm, why in result["skipped"].items():
        lines.append(f"| {arm} | skipped | | | | {why} |")
    return "\n".join(lines)


def _markdown(result: dict) -> str:
    data = result["data"]
    classes = data["classes"]
    n_seeds = len(result["seeds"])
    md = [
        "# Accuracy-gain report" + (f" ({result['label']})" if result.get("label") else ""), "",
        f"**Verdict: {result['verdict']}**", "",
        *verdict_method(result),
        f"Data: {data.get('source', 'given datasets')}"
        + (f" (imbalance {data['imbalance']:g})" if data.get("imbalance") else "") + f": {sum(data['train_counts'])} training images "
        f"({', '.join(f'{c}={n}' for c, n in zip(classes, data['train_counts']))}), "
        f"{sum(data['test_counts'])} held-out test images"
        + (f", oracle {sum(data['oracle_counts'])} images" if data.get("oracle_counts") else "") + ".",
        *[f"**Warning:** {w}" for w in result.get("warnings") or []], *([""] if result.get("warnings") else []),
        classifier_line(result) + " "
        + (f"Seeds {', '.join(map(str, result['seeds']))}; mean ± standard deviation over seeds."
           if not result.get("draws") else
           f"{n_seeds} (seed, long-tail draw) pairs {', '.join(result['seeds'])}: each draw has its own long-tail "
           "sample and test split (data seed = the draw) and its own generator; mean ± standard deviation over the "
           "pairs. Each draw's own report, generator and sample grid are in "
           + ", ".join(f"`draw_{d}/`" for d in result["draws"]) + ".")
        + f" Device: {result['device']}.",
        "", format_table(result), "",
    ]
    gains = result["gains"]
    rows = []
    for arm in SYNTHETIC_ARMS:
        if arm in gains:
            for key, label in (("vs_real", "real"), ("vs_best_baseline", f"best baseline ({gains['best_baseline']})"),
                               ("vs_best_cheap", f"best cheap recipe ({gains.get('best_cheap')})"),
                               ("vs_classic_aug", "classic-aug"), ("vs_strong_aug", "strong-aug")):
                g = gains[arm].get(key)
                if g:
                    iv = g["interval"]
                    ci = f"[{iv['low'] * 100:+.1f}, {iv['high'] * 100:+.1f}]" if iv["low"] is not None else "–"
                    rows.append(f"| {arm} | {label} | {g['mean'] * 100:+.1f} ± {g['std'] * 100:.1f} | {ci} |")
    if rows:
        md += [f"## Gains (points of balanced accuracy, paired by {result.get('pairing', 'seed')})", "",
               "| arm | over | gain (mean ± std) | 95 % interval |", "|---|---|---|---|", *rows, ""]
    if gains.get("oracle_gap_recovered"):
        md += [f"Share of the real → oracle gap ({gains['oracle_gap'] * 100:.1f} points) recovered: "
               + ", ".join(f"{a} {v * 100:.0f}%" for a, v in gains["oracle_gap_recovered"].items() if v is not None) + ".", ""]
    order, ref = class_order(data["train_counts"]), recall_reference(result)
    md += ["## Per-class recall (mean over seeds)", "",
           "Classes from the largest to the smallest; in the figure, each cell is coloured by the gain over "
           f"`{ref}` (blue helped, red hurt)." if ref else "Classes from the largest to the smallest.", "",
           "| arm | " + " | ".join(f"{classes[k]} (n={data['train_counts'][k]})" for k in order) + " |",
           "|---|" + "---|" * len(classes)]
    for arm, entry in result["arms"].items():
        md.append(f"| {arm} | " + " | ".join(f"{entry['per_class_recall']['mean'][k]:.2f}" for k in order) + " |")
    md.append("")
    q = result.get("quality")
    if q:
        md += ["## Generated samples", "",
               f"Measured in the feature space of the {q['feature_space']}, against the {q['reference']}, "
               f"{q['samples_per_class']} samples per class. Lower Fréchet distance and higher precision/recall/"
               "density/coverage are better.", "",
               "| class | Fréchet distance | precision | recall | density | coverage |", "|---|---|---|---|---|---|"]
        fmt = lambda v, d=2: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
        for c, row in list(q["per_class"].items()) + [("mean", q["mean"])]:
            md.append(f"| {c} | {fmt(row['frechet_distance'], 1)} | {fmt(row['precision'])} | {fmt(row['recall'])} | "
                      f"{fmt(row['density'])} | {fmt(row['coverage'])} |")
        md.append("")
    files = result.get("files", {})
    if files.get("figure"):
        md += [f"![per-class recall by arm, coloured by the gain over the best baseline]({files['figure']})", ""]
    elif files.get("figure_note"):
        md += [f"(No figure: {files['figure_note']}.)", ""]
    if files.get("samples"):
        md += [f"![samples: real images left, generated right, one row per class]({files['samples']})", ""]
    runs = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}" if not result.get("draws") else f"{n_seeds} (seed, draw) pairs"
    md += [f"{runs}, {result['wall_seconds']:.0f} s wall time; every number is in report.json."]
    return "\n".join(md) + "\n"


def _write_outputs(result: dict, out: Path, real: tuple, generator, config: ReportConfig) -> dict:
    files = {"json": "report.json", "markdown": "report.md"}
    if generator is not None:
        _sample_grid(out / "samples.png", real, generator, config)
        files["samples"] = "samples.png"
    with quiet_figure_warnings():
        note = recall_heatmap(out / "recall_by_class.png", result)
    if note:
        files["figure_note"] = note
    else:
        files["figure"] = "recall_by_class.png"
    files["html"] = "report.html"
    result["files"] = files
    write_text_atomic(out / "report.json", json.dumps(result, indent=2))
    write_text_atomic(out / "report.md", _markdown(result))
    write_report_html(result, out)
    return files


def _sample_grid(path: Path, real: tuple, generator, config: ReportConfig, n_real: int = 5) -> None:
    """One row per class: up to ``n_real`` real training images (blank where the class has fewer),
    a blank, then ``config.grid_samples`` generated images."""
    images, labels = real
    k, n = generator.num_classes, config.grid_samples
    y = torch.arange(k).repeat_interleave(n)
    fake = generator.sample(y.to(generator.device), seed=0).cpu()
    blank = torch.ones(images.shape[1:])
    rows = []
    for c in range(k):
        mine = images[labels == c][:n_real].float() / 255
        rows += list(mine) + [blank] * (n_real - len(mine)) + [blank] + list(fake[c * n:(c + 1) * n])
    save_grid(torch.stack(rows), path, nrow=n_real + 1 + n, row_labels=generator.classes)
