"""Issue 5: do samples of a given generator recipe add to classic augmentation on long-tailed MNIST?

For each generator (a model.safetensors fitted on the long-tailed train split of
``builtin:mnist5k``, test_split=1000, seed 0), train the report's CNN under ``classic-aug`` (the
bar: class-balanced sampling + small random affine) and under ``synthetic+aug`` at each mixing
probability alpha (per batch item: a class uniformly, then a generated image of it with
probability alpha, else a real one; the affine on every item), same budget, seeds 0, 1, 2.
Prints a markdown table of balanced accuracy and the recall of the four rarest classes.

Fit the generators first, e.g.:
    cgan-augment fit builtin:mnist5k --family dcgan --test-split 1000 --imbalance 100 --width 16 --out runs/i5/A16
then:
    python benchmarks/bench_generators.py runs/i5/A16/model.safetensors [more models] --alphas 0.25,0.5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from cgan_augment import DataSpec, load_data, load_generator
from cgan_augment.report import ReportConfig, run_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="model.safetensors files to compare")
    parser.add_argument("--ir", type=float, default=100.0, help="imbalance ratio of the train split")
    parser.add_argument("--alphas", default="0.25,0.5", help="comma-separated mixing probabilities")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--steps", type=int, default=1500, help="classifier optimiser steps per run")
    parser.add_argument("--out", default="benchmarks/runs/generators", help="cache and results folder")
    args = parser.parse_args()

    spec = DataSpec("builtin:mnist5k", test_split=1000, imbalance=args.ir, seed=0)
    data = load_data(spec)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    out = Path(args.out) / f"ir{args.ir:g}"
    rows = []

    started = time.perf_counter()
    base = run_report(data.train, data.test, None, ReportConfig(arms=("classic-aug",), seeds=seeds, steps=args.steps),
                      out=out / "classic-aug", resume=True)
    rows.append(("classic-aug", "-", base["arms"]["classic-aug"]))
    for model in args.models:
        generator = load_generator(model)
        recorded = generator.metadata.get("data", {})
        if (recorded.get("source"), recorded.get("test_split"), recorded.get("seed")) != (spec.source, spec.test_split, spec.seed):
            raise SystemExit(f"{model}: fitted on {recorded.get('source')} test_split={recorded.get('test_split')}, "
                             f"not on this benchmark's train split; refit it with --test-split 1000 --imbalance {args.ir:g}")
        name = Path(model).parent.name
        for alpha in (float(a) for a in args.alphas.split(",")):
            config = ReportConfig(arms=("synthetic+aug",), seeds=seeds, steps=args.steps, alpha=alpha)
            result = run_report(data.train, data.test, generator, config, out=out / f"{name}-a{alpha:g}", resume=True)
            rows.append((name, f"{alpha:g}", result["arms"]["synthetic+aug"]))

    lines = ["| generator | alpha | balanced accuracy | recall 6 | recall 7 | recall 8 | recall 9 |", "|---|---|---|---|---|---|---|"]
    for name, alpha, arm in rows:
        bacc = arm["balanced_accuracy"]
        recall = arm["per_class_recall"]["mean"]
        lines.append(f"| {name} | {alpha} | {bacc['mean']:.3f} ± {bacc['std']:.3f} | "
                     + " | ".join(f"{r:.2f}" for r in recall[6:10]) + " |")
    table = "\n".join(lines)
    print(table)
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(table + "\n")
    (out / "rows.json").write_text(json.dumps([{"generator": n, "alpha": a, "arm": r} for n, a, r in rows], indent=1))


if __name__ == "__main__":
    main()
