"""CGANOverSampler against RandomOverSampler and SMOTE in one imbalanced-learn Pipeline (issue 15).

Data: scikit-learn's 1,797 digits as flattened 8×8 rows (values 0..16). Per seed: a stratified
30 % test split (random_state = seed), then the training part made long-tailed (class k keeps
round(n_max · IR^(-k/9)) rows, drawn with the seed; class order shuffled by the seed, so the rare
classes differ from seed to seed). Every arm of a seed sees the same split and rows (paired).

Arms: the same ``Pipeline([sampler, classifier])`` with no sampler, RandomOverSampler, SMOTE and
CGANOverSampler at each ``--steps`` (every sampler: sampling_strategy "auto", random_state = seed).
Reported: balanced accuracy on the test split, mean ± sd over seeds; per-seed paired differences of
each CGAN arm to SMOTE and to RandomOverSampler; the sampler's ``fit_resample`` time (wall and CPU
seconds), timed inside the Pipeline.

    OMP_NUM_THREADS=1 python benchmarks/bench_resampler.py                 # ~10 min on a 2-core CPU
    python benchmarks/bench_resampler.py --steps 200 --seeds 2             # a quick look
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split

from cgan_augment import CGANOverSampler
from cgan_augment.data.subsets import long_tailed_indices


class Timed(BaseEstimator):
    """A sampler step that records how long its sampler's ``fit_resample`` took (wall and CPU)."""

    def __init__(self, sampler=None):
        self.sampler = sampler

    def fit_resample(self, X, y):
        wall, cpu = time.perf_counter(), time.process_time()
        out = self.sampler.fit_resample(X, y)
        self.wall_s_, self.cpu_s_ = time.perf_counter() - wall, time.process_time() - cpu
        return out


def long_tailed_split(seed: int, imbalance: float):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    order = np.random.default_rng(seed).permutation(10)  # which digit is rare changes with the seed
    rank = np.argsort(order)[y_train]  # class order[k] gets the k-th size
    keep = long_tailed_indices(rank.tolist(), 10, imbalance, seed)
    return X_train[keep], y_train[keep], X_test, y_test


def classifier(name: str, seed: int):
    if name == "lr":
        return LogisticRegression(max_iter=5000)
    return HistGradientBoostingClassifier(random_state=seed)


def arms(seed: int, steps: list[int], device: str) -> dict:
    out = {"none": None, "RandomOverSampler": RandomOverSampler(random_state=seed), "SMOTE": SMOTE(random_state=seed)}
    for s in steps:
        out[f"CGANOverSampler ({s} steps)"] = CGANOverSampler(image_shape=(8, 8), steps=s, random_state=seed, device=device)
    return out


def mean_sd(values) -> str:
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values) if len(values) > 1 else 0:.3f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", default="1000,4000", help="CGANOverSampler steps, comma-separated (4000: the fit default)")
    p.add_argument("--imbalance", type=float, default=20)
    p.add_argument("--classifier", choices=["lr", "hgb"], default="lr")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", default="benchmarks/runs/resampler.json")
    args = p.parse_args()
    steps = [int(s) for s in args.steps.split(",")]

    rows = []  # (seed, arm, bacc, wall_s, cpu_s)
    for seed in range(args.seeds):
        X_train, y_train, X_test, y_test = long_tailed_split(seed, args.imbalance)
        sizes = np.bincount(y_train, minlength=10)
        print(f"seed {seed}: {len(y_train)} training rows, per digit {sizes.tolist()}", flush=True)
        for arm, sampler in arms(seed, steps, args.device).items():
            step = [("resample", Timed(sampler))] if sampler is not None else []
            pipe = Pipeline(step + [("classify", classifier(args.classifier, seed))])
            pipe.fit(X_train, y_train)
            bacc = balanced_accuracy_score(y_test, pipe.predict(X_test))
            wall, cpu = (pipe["resample"].wall_s_, pipe["resample"].cpu_s_) if sampler is not None else (0.0, 0.0)
            rows.append({"seed": seed, "arm": arm, "balanced_accuracy": bacc, "resample_wall_s": wall, "resample_cpu_s": cpu})
            print(f"  {arm:32s} balanced accuracy {bacc:.3f}  resample {wall:7.2f} s wall, {cpu:7.2f} s CPU", flush=True)

    names = list(dict.fromkeys(r["arm"] for r in rows))
    by = {a: [r for r in rows if r["arm"] == a] for a in names}
    print(f"\nlong-tailed digits (IR {args.imbalance:g}), classifier {args.classifier}, {args.seeds} seeds")
    print("| arm | balanced accuracy | resampling wall s | resampling CPU s |")
    print("|---|---|---|---|")
    for a in names:
        print(f"| {a} | {mean_sd([r['balanced_accuracy'] for r in by[a]])} | "
              f"{mean_sd([r['resample_wall_s'] for r in by[a]])} | {mean_sd([r['resample_cpu_s'] for r in by[a]])} |")
    print("\npaired differences (CGAN arm minus baseline, per seed)")
    print("| arm | − SMOTE | wins | − RandomOverSampler | wins | − none | wins |")
    print("|---|---|---|---|---|---|---|")
    for a in names:
        if not a.startswith("CGAN"):
            continue
        cells = []
        for base in ("SMOTE", "RandomOverSampler", "none"):
            d = [x["balanced_accuracy"] - b["balanced_accuracy"] for x, b in zip(by[a], by[base])]
            cells += [f"{statistics.mean(d):+.3f} ± {statistics.stdev(d) if len(d) > 1 else 0:.3f}",
                      f"{sum(v > 0 for v in d)}/{len(d)}"]
        print(f"| {a} | " + " | ".join(cells) + " |")
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
