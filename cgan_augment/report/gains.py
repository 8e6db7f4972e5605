"""From per-seed metrics to the report's numbers: mean ± std per arm, gains paired by seed, the share
of the oracle gap recovered, and the one-line verdict."""

from __future__ import annotations

from dataclasses import asdict
from typing import Optional, Sequence

import numpy as np

from .config import BASELINE_ARMS, METRICS, SYNTHETIC_ARMS

def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _summarise(results, skipped, notes, quality, config, classes, train_y, test_y, oracle_t) -> dict:
    arms = {}
    for arm, runs in results.items():
        seeds = sorted(runs)
        entry = {"runs": {str(s): runs[s] for s in seeds}, "note": notes.get(arm, "")}
        for m in METRICS:
            entry[m] = dict(zip(("mean", "std"), _mean_std([runs[s][m] for s in seeds])))
        recalls = np.asarray([runs[s]["per_class_recall"] for s in seeds])
        entry["per_class_recall"] = {"mean": recalls.mean(0).tolist(),
                                     "std": (recalls.std(0, ddof=1) if len(seeds) > 1 else np.zeros(len(classes))).tolist()}
        arms[arm] = entry
    gains = _gains(results)
    return {
        "verdict": _verdict(gains, results),
        "config": asdict(config),
        "seeds": list(config.seeds),
        "arms": arms,
        "skipped": skipped,
        "gains": gains,
        "quality": quality,
    }


def _paired(results: dict, a: str, b: str) -> Optional[dict]:
    """Balanced-accuracy gain of arm ``a`` over arm ``b``, paired by seed."""
    if a not in results or b not in results:
        return None
    seeds = sorted(set(results[a]) & set(results[b]))
    if not seeds:
        return None
    diffs = [results[a][s]["balanced_accuracy"] - results[b][s]["balanced_accuracy"] for s in seeds]
    mean, std = _mean_std(diffs)
    return {"vs": b, "mean": mean, "std": std, "per_seed": dict(zip(map(str, seeds), diffs))}


def _mean_bacc(results: dict, arm: str) -> float:
    return float(np.mean([r["balanced_accuracy"] for r in results[arm].values()]))


def _best_baseline(results: dict) -> Optional[str]:
    present = [a for a in BASELINE_ARMS if a in results]
    return max(present, key=lambda a: _mean_bacc(results, a)) if present else None


def _gains(results: dict) -> dict:
    """Gains of each synthetic arm over ``real`` and over the best baseline, and the share of the
    gap between ``real`` and ``oracle`` that each arm recovers (balanced accuracy)."""
    best = _best_baseline(results)
    gains = {"best_baseline": best}
    for arm in SYNTHETIC_ARMS:
        if arm in results:
            gains[arm] = {"vs_real": _paired(results, arm, "real"),
                          "vs_best_baseline": _paired(results, arm, best) if best else None}
    if "synthetic+aug" in results and "classic-aug" in results:
        gains["synthetic+aug"]["vs_classic_aug"] = _paired(results, "synthetic+aug", "classic-aug")
    if "synthetic+strong-aug" in results and "strong-aug" in results:
        gains["synthetic+strong-aug"]["vs_strong_aug"] = _paired(results, "synthetic+strong-aug", "strong-aug")
    if "oracle" in results and "real" in results:
        gap = _mean_bacc(results, "oracle") - _mean_bacc(results, "real")
        gains["oracle_gap"] = gap
        gains["oracle_gap_recovered"] = {
            arm: ((_mean_bacc(results, arm) - _mean_bacc(results, "real")) / gap if gap > 0 else None)
            for arm in results if arm not in ("real", "oracle")}
    return gains


def _verdict(gains: dict, results: dict) -> str:
    """One line: did the best synthetic arm beat the best baseline (or ``real``), beyond seed noise?"""
    candidates = [a for a in ("synthetic", "synthetic+aug", "synthetic+strong-aug") if a in results]
    if not candidates:
        return "no synthetic arm was run, so there is no verdict on synthetic data."
    arm = max(candidates, key=lambda a: _mean_bacc(results, a))
    g = gains[arm]["vs_best_baseline"] or gains[arm]["vs_real"]
    if g is None:
        return f"no baseline arm was run beside {arm}, so there is no verdict on synthetic data."
    n = len(g["per_seed"])
    points, spread = 100 * g["mean"], 100 * g["std"]
    helped = g["mean"] > 0 and (n < 2 or g["mean"] > g["std"])
    within_noise = g["mean"] > 0 and not helped
    how = "helped" if helped else ("did not clearly help" if within_noise else "did not help")
    sign = f"{points:+.1f}"
    spread_text = f"± {spread:.1f}" if n > 1 else "± n/a (one seed)"
    tail = " (a gain within seed noise)" if within_noise else ""
    return (f"synthetic data {how}: {sign} points of balanced accuracy, {spread_text}, "
            f"{arm} vs {g['vs']}, paired over {n} seed{'s' if n != 1 else ''}{tail}.")
