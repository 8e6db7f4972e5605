"""Benchmark of the report with the user's own classifier (issue 22), small enough for one CPU thread.

1. Pre-train a torchvision ``resnet18`` adapted to 28 px (1-channel 3×3 stride-1 stem, no max-pool)
   on the *large* classes of long-tailed MNIST-5k (the classes with at least ``--large`` training
   images), and save its weights, as a user's own earlier training would.
2. The user's factory, :func:`make_model`: that network with those weights and a new last layer.
3. Fit the recommended generator (the ``deform`` family) on the training split.
4. ``run_report(..., classifier=make_model)`` under the recipe (SGD with momentum, cosine schedule,
   weight decay, MNIST's mean/std normalisation) on ``--arms`` × ``--seeds``: wall time per arm and
   seed, and the verdict.
5. The report's overhead: the same model and recipe trained and tested by a plain PyTorch loop on
   the same data (shuffled epochs, no augmentation), against ``run_report`` with the ``real`` arm
   alone (one seed, writing its files), in this one run: plain, report, plain, and the ratio of
   the report's wall time to the mean of the two plain runs. Both draw the same batches from the
   same seed, so their balanced accuracies agree too.

Data: ``builtin:mnist5k``, stratified test split of 1,000 (seed 0), training part long-tailed at
IR 100 (400 … 4 images a class).

    OMP_NUM_THREADS=1 python benchmarks/bench_your_model.py --out benchmarks/runs/your_model
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

WEIGHTS = Path(os.environ.get("BENCH_WEIGHTS", "pretrained_resnet18.pt"))  # set by main() before the report runs
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)


def make_net(num_classes: int, channels: int, image_size: int) -> nn.Module:
    """torchvision's resnet18 for small images: a 3×3 stride-1 stem, no max-pool."""
    from torchvision.models import resnet18

    net = resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return net


def make_model(num_classes: int, channels: int, image_size: int) -> nn.Module:
    """The user's factory: the pre-trained body from ``WEIGHTS``, a new head for these classes."""
    net = make_net(num_classes, channels, image_size)
    weights = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    del weights["fc.weight"], weights["fc.bias"]
    net.load_state_dict(weights, strict=False)
    return net


def _recipe(config, params):
    opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.steps)


def pretrain(images: torch.Tensor, labels: torch.Tensor, large: list, steps: int, batch: int, path: Path) -> float:
    """Train ``make_net`` on the classes in ``large`` only (Adam 1e-3, seed 0); save its weights."""
    keep = torch.isin(labels, torch.tensor(large))
    x_all, y_all = images[keep], labels[keep]
    torch.manual_seed(0)
    net = make_net(10, images.shape[1], images.shape[-1])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    net.train()
    for _ in range(steps):
        idx = torch.randint(0, len(y_all), (batch,), generator=rng)
        x = (x_all[idx].float() / 255 - MNIST_MEAN[0]) / MNIST_STD[0]
        loss = F.cross_entropy(net(x), y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save(net.state_dict(), path)
    return time.perf_counter() - t0


def plain_loop(train, test, config, seed: int) -> tuple[float, float]:
    """The same model, recipe and data in a plain loop: (wall seconds for training + testing, balanced accuracy)."""
    from sklearn.metrics import balanced_accuracy_score

    from cgan_augment.data.subsets import dataset_tensors

    t0 = time.perf_counter()
    images, labels = dataset_tensors(train)
    test_x, test_y = dataset_tensors(test)
    torch.manual_seed(seed)
    model = make_model(10, images.shape[1], images.shape[-1])
    opt, sched = _recipe(config, model.parameters())
    rng = torch.Generator().manual_seed(seed)
    n, total = len(labels), config.steps * config.batch_size
    order = torch.cat([torch.randperm(n, generator=rng) for _ in range(-(-total // n))])[:total].view(config.steps, -1)
    mean, std = torch.tensor(MNIST_MEAN).view(1, -1, 1, 1), torch.tensor(MNIST_STD).view(1, -1, 1, 1)
    model.train()
    for idx in order:
        x = (images[idx].float() / 255 - mean) / std
        loss = F.cross_entropy(model(x), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    preds = []
    with torch.no_grad():
        for start in range(0, len(test_y), config.eval_batch_size):
            x = (test_x[start:start + config.eval_batch_size].float() / 255 - mean) / std
            preds.append(model(x).argmax(1))
    bacc = balanced_accuracy_score(test_y.numpy(), torch.cat(preds).numpy())
    return time.perf_counter() - t0, float(bacc)


def main(argv=None) -> int:
    global WEIGHTS
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arms", default="strong-aug,la+strong-aug,synthetic+strong-aug")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--steps", type=int, default=30, help="classifier steps per run (fine-tuning)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--pretrain-steps", type=int, default=40)
    p.add_argument("--large", type=int, default=50, help="pre-train on the classes with at least this many images")
    p.add_argument("--deform-pairs", type=int, default=1000, help="DeformConfig.pairs of the generator")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/runs/your_model")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    from cgan_augment import DataSpec, DeformConfig, ReportConfig, fit_deform, load_data, run_report
    from cgan_augment.data.subsets import class_counts, dataset_tensors

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started, load_before = time.perf_counter(), os.getloadavg()
    data = load_data(DataSpec("builtin:mnist5k", test_split=1000, imbalance=100, seed=0))
    counts = class_counts(data.train)
    large = [c for c, n in enumerate(counts) if n >= args.large]
    images, labels = dataset_tensors(data.train)
    WEIGHTS = out / "pretrained_resnet18.pt"
    pre_s = pretrain(images, labels, large, args.pretrain_steps, args.batch_size, WEIGHTS)

    t0 = time.perf_counter()
    generator = fit_deform(data.train, DeformConfig(pairs=args.deform_pairs), device="cpu")
    fit_s = time.perf_counter() - t0

    config = ReportConfig(arms=tuple(args.arms.split(",")), seeds=tuple(int(s) for s in args.seeds.split(",")),
                          steps=args.steps, batch_size=args.batch_size, optimizer="sgd", lr=args.lr, momentum=0.9,
                          weight_decay=5e-4, schedule="cosine", normalize_mean=MNIST_MEAN, normalize_std=MNIST_STD)
    t0 = time.perf_counter()
    result = run_report(data.train, data.test, generator, config, classifier=make_model, out=out / "report", device="cpu")
    report_s = time.perf_counter() - t0

    # overhead: plain loop, report (real arm, seed 0, writing its files), plain loop again: the
    # report's time against the mean of the two plain runs around it (the machine's load drifts)
    plains = [plain_loop(data.train, data.test, config, seed=0)]
    one = ReportConfig(**{**{k: getattr(config, k) for k in config.__dataclass_fields__}, "arms": ("real",), "seeds": (0,)})
    t0 = time.perf_counter()
    real = run_report(data.train, data.test, None, one, classifier=make_model, out=out / "report_real", device="cpu")
    real_s = time.perf_counter() - t0
    plains.append(plain_loop(data.train, data.test, config, seed=0))
    plain = {"seconds": sum(p[0] for p in plains) / 2, "each": [round(p[0], 2) for p in plains],
             "balanced_accuracy": plains[0][1]}

    summary = {
        "command": "OMP_NUM_THREADS=1 python benchmarks/bench_your_model.py " + " ".join(argv or os.sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, threads {torch.get_num_threads()}, torch {torch.__version__}",
        "train_counts": counts, "pretrained_on_classes": large, "pretrain_seconds": round(pre_s, 1),
        "deform_fit_seconds": round(fit_s, 1), "classifier": result["classifier"], "recipe": result["recipe"],
        "seconds_per_arm_and_seed": {a: {s: r["seconds"] for s, r in e["runs"].items()} for a, e in result["arms"].items()},
        "balanced_accuracy": {a: e["balanced_accuracy"] for a, e in result["arms"].items()},
        "verdict": result["verdict"], "report_wall_seconds": round(report_s, 1),
        "overhead": {"plain_loop_seconds": round(plain["seconds"], 2), "plain_loop_each": plain["each"],
                     "plain_balanced_accuracy": plain["balanced_accuracy"],
                     "report_real_arm_wall_seconds": round(real_s, 2),
                     "report_real_arm_run_seconds": real["arms"]["real"]["runs"]["0"]["seconds"],
                     "report_real_balanced_accuracy": real["arms"]["real"]["balanced_accuracy"]["mean"],
                     "ratio_wall": round(real_s / plain["seconds"], 3),
                     "ratio_run": round(real["arms"]["real"]["runs"]["0"]["seconds"] / plain["seconds"], 3)},
        "total_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 1),
        "load_average_1min": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
