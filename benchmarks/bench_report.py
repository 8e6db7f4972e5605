"""Benchmark of the accuracy-gain report (issue 4) on long-tailed MNIST-5k and digits.

Arms without a generator (real, class-weights, oversample, smote, classic-aug, oracle) run
without fitting one, so the baselines can be measured first. Each case is one report folder under ``--out`` (default ``benchmarks/runs/report``), cached and
resumable: the generator is fitted once per (dataset, imbalance) into ``<case>/generator`` and
every finished (arm, seed) run is kept in ``<case>/runs``; run the same command again to continue
or to add arms and seeds. Cases:

* ``mnist5k``: ``builtin:mnist5k``, 1,000 stratified test images (seed 0), train part long-tailed
  at each ``--ir`` (default 100 and 10): class sizes 400 … 4 at IR 100;
* ``digits``: ``builtin:digits``, 30 % stratified test split, long-tailed at IR 20 (the demo's data).

The generator uses the current ``fit`` defaults (``TrainConfig()``) unless ``--fit-steps`` /
``--fit-width`` say otherwise; the classifier is the reference CNN, 1,500 steps at batch 64.

    python benchmarks/bench_report.py                         # everything (hours on 2 CPU cores)
    python benchmarks/bench_report.py --datasets mnist5k --ir 100
    python benchmarks/bench_report.py --datasets mnist5k --ir 100 --arms real,classic-aug --seeds 0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

from cgan_augment import DataSpec, TrainConfig
from cgan_augment.report.from_files import report_from_spec
from cgan_augment.report import ARMS, ReportConfig, format_table


def cases(datasets: list[str], irs: list[float]) -> list[tuple[str, DataSpec]]:
    out = []
    if "mnist5k" in datasets:
        out += [(f"mnist5k_ir{ir:g}", DataSpec("builtin:mnist5k", test_split=1000, imbalance=ir, seed=0)) for ir in irs]
    if "digits" in datasets:
        out.append(("digits_ir20", DataSpec("builtin:digits", test_split=0.3, imbalance=20, seed=0)))
    return out


def _finished_generator(folder: Path):
    """The case's generator if it finished its own steps: the cache survives later changes of the
    fit defaults (its settings are in its metadata and in report.json)."""
    from cgan_augment import read_metadata

    path = folder / "model.safetensors"
    if not path.exists():
        return None
    meta = read_metadata(path)
    return path if int(meta.get("step", 0)) >= int(meta.get("train_config", {}).get("steps", 1)) else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="mnist5k,digits", help="comma list of mnist5k, digits")
    p.add_argument("--ir", default="100,10", help="imbalance ratios of mnist5k (comma list)")
    p.add_argument("--arms", default=",".join(ARMS), help="comma list of arms")
    p.add_argument("--seeds", default="0,1,2", help="comma list of seeds")
    p.add_argument("--steps", type=int, default=1500, help="classifier steps per run")
    p.add_argument("--fit-steps", type=int, help="generator steps [default: TrainConfig default]")
    p.add_argument("--fit-width", type=int, help="generator width [default: TrainConfig default]")
    p.add_argument("--refit", action="store_true", help="fit a new generator even if the case folder has a finished one")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default="benchmarks/runs/report")
    args = p.parse_args(argv)

    fit = TrainConfig()
    if args.fit_steps:
        fit = replace(fit, steps=args.fit_steps)
    if args.fit_width:
        fit = replace(fit, width=args.fit_width)
    config = ReportConfig(arms=tuple(args.arms.split(",")), seeds=tuple(int(s) for s in args.seeds.split(",")),
                          steps=args.steps)
    summary = {}
    for name, spec in cases(args.datasets.split(","), [float(x) for x in args.ir.split(",")]):
        t0 = time.time()
        last = [None]

        def progress(stage, done, total, detail, last=last, name=name):
            if (stage, detail) != last[0] and (stage == "classifiers" or done % 250 == 0 or done == total):
                last[0] = (stage, detail)
                print(f"[{time.strftime('%H:%M:%S')}] {name} {stage} {done}/{total} {detail}", file=sys.stderr, flush=True)

        synthetic = any(a.startswith("synthetic") for a in config.arms)
        model = _finished_generator(Path(args.out) / name / "generator") if synthetic and not args.refit else None
        if model is not None:
            print(f"{name}: reusing {model} (pass --refit to fit a new one)", file=sys.stderr)
        result = report_from_spec(spec, Path(args.out) / name, model=model, fit=fit if synthetic and model is None else None,
                             config=config, oracle=True, device=args.device,
                        on_progress=progress, resume=True)
        wall = time.time() - t0
        print(f"\n## {name}  ({wall / 60:.1f} min this invocation)\n\n{result['verdict']}\n\n{format_table(result)}\n", flush=True)
        summary[name] = {"verdict": result["verdict"], "wall_seconds": wall,
                         "balanced_accuracy": {a: e["balanced_accuracy"] for a, e in result["arms"].items()}}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
