"""The report's files: ``report.json``, ``report.md`` (with :func:`format_table`), the per-class
recall figure and the real | generated sample grid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .._util.files import atomic_path, write_text_atomic
from .._util.pictures import quiet_figure_warnings, save_grid
from .config import ReportConfig, SYNTHETIC_ARMS
from .gains import verdict_method
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
    data, cfg = result["data"], result["config"]
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
        f"Classifier: {cfg['classifier']}, {cfg['steps']} Adam steps (lr {cfg['lr']}) at batch {cfg['batch_size']} for every arm; "
        + (f"seeds {', '.join(map(str, result['seeds']))}; mean ± standard deviation over seeds."
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
    md += ["## Per-class recall (mean over seeds)", "",
           "| arm | " + " | ".join(f"{c} (n={n})" for c, n in zip(classes, data["train_counts"])) + " |",
           "|---|" + "---|" * len(classes)]
    for arm, entry in result["arms"].items():
        md.append(f"| {arm} | " + " | ".join(f"{r:.2f}" for r in entry["per_class_recall"]["mean"]) + " |")
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
        md += [f"![per-class recall by arm]({files['figure']})", ""]
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
        note = _recall_figure(out / "recall_by_class.png", result)
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


def _recall_figure(path: Path, result: dict) -> Optional[str]:
    """Per-class recall by arm as grouped bars; returns a note instead when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install matplotlib)"
    classes, counts = result["data"]["classes"], result["data"]["train_counts"]
    arms = list(result["arms"])
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(classes) + 2), 4), dpi=120)
    width = 0.8 / max(1, len(arms))
    x = np.arange(len(classes))
    for i, arm in enumerate(arms):
        r = result["arms"][arm]["per_class_recall"]
        ax.bar(x + (i - (len(arms) - 1) / 2) * width, r["mean"], width, yerr=r["std"], label=arm, capsize=1)
    ax.set_xticks(x, [f"{c}\nn={n}" for c, n in zip(classes, counts)])
    ax.set_ylabel("recall (test)")
    ax.set_ylim(0, 1.05)
    ax.set_title("Per-class recall by arm (mean ± std over seeds); n = training images")
    ax.legend(fontsize=7, ncol=min(5, len(arms)), loc="lower left")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return None
