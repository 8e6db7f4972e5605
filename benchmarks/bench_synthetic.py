"""Overhead of SyntheticDataset (issue 3): DataLoader iteration, pool generation, pool memory.

* Iteration: one epoch of a DataLoader over a SyntheticDataset (long-tailed 28×28 grayscale real
  set topped up to balance) against one epoch over a plain ``TensorDataset`` holding exactly the
  same items as float32 tensors, same batch size, shuffle and workers. Runs alternate between the
  two (so load from other processes hits both alike); the ratio of medians is reported.
* Generation: samples/s of ``Generator.sample`` alone at ``--gen-batch`` (the generator's forward
  throughput) and of building the SyntheticDataset pool (forward + uint8 conversion + copy into
  the CPU pool), on ``--device``.
* Memory: bytes of the pool against N × C × H × W.

The generator is a freshly initialised dcgan of ``--width`` (default 32, the ``fit`` default when
RESULTS.md's figures were measured; ``fit``'s default is now 16) and z_dim 64: speed does not
depend on training.

    python benchmarks/bench_synthetic.py                       # 2-core CPU: about a minute
    python benchmarks/bench_synthetic.py --workers 0,2 --batch-size 64,256 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

from cgan_augment import ArrayImages, SyntheticDataset, resolve_device
from cgan_augment.data.subsets import long_tailed_indices
from cgan_augment.generators.networks import build_generator


def make_real(n_max: int, imbalance: float, seed: int = 0) -> ArrayImages:
    g = torch.Generator().manual_seed(seed)
    targets = [k for k in range(10) for _ in range(n_max)]
    keep = long_tailed_indices(targets, 10, imbalance, seed)
    images = torch.randint(0, 256, (len(keep), 1, 28, 28), dtype=torch.uint8, generator=g)
    return ArrayImages(images, [targets[i] for i in keep], [str(k) for k in range(10)])


def epoch_seconds(loader) -> float:
    start = time.perf_counter()
    n = 0
    for _, y in loader:
        n += len(y)
    assert n == len(loader.dataset)
    return time.perf_counter() - start


def bench_iteration(ds: SyntheticDataset, batch_sizes, workers_list, repeats: int) -> list[dict]:
    # the same items as float32 tensors, in the same order
    xs = torch.stack([x for x, _ in ds.__getitems__(list(range(len(ds))))])
    plain = TensorDataset(xs, torch.as_tensor(ds.targets))
    rows = []
    for workers in workers_list:
        for bs in batch_sizes:
            # persistent workers: the epochs timed are steady-state iteration, not worker start-up
            loaders = [DataLoader(d, batch_size=bs, shuffle=True, num_workers=workers, persistent_workers=workers > 0,
                                  generator=torch.Generator().manual_seed(0)) for d in (ds, plain)]
            epoch_seconds(loaders[0]), epoch_seconds(loaders[1])  # warm-up (and worker start)
            t_syn, t_plain = [], []
            for _ in range(repeats):
                t_syn.append(epoch_seconds(loaders[0]))
                t_plain.append(epoch_seconds(loaders[1]))
            del loaders
            s, p = statistics.median(t_syn), statistics.median(t_plain)
            rows.append({"workers": workers, "batch_size": bs, "items": len(ds), "synthetic_s": round(s, 4),
                         "tensordataset_s": round(p, 4), "ratio": round(s / p, 3),
                         "synthetic_items_per_s": round(len(ds) / s), "tensordataset_items_per_s": round(len(ds) / p)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def bench_generation(real, device, gen_batch: int, n: int, repeats: int, width: int) -> dict:
    torch.manual_seed(0)
    generator = build_generator("dcgan", 10, 28, 1, z_dim=64, width=width).to(device).eval()
    labels = torch.arange(n) % 10
    generator.sample(labels[:gen_batch], seed=0, batch_size=gen_batch)  # warm-up
    forward, pool = [], []
    for r in range(repeats):
        t = time.perf_counter()
        generator.sample(labels, seed=r, batch_size=gen_batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        forward.append(time.perf_counter() - t)
        # a real set whose balance plan asks for ~n synthetic images
        t = time.perf_counter()
        ds = SyntheticDataset(real, generator, "balance", seed=r, batch_size=gen_batch, device=device)
        pool.append(time.perf_counter() - t)
    f, p = statistics.median(forward), statistics.median(pool)
    row = {"device": str(device), "gen_batch": gen_batch, "forward_samples_per_s": round(n / f),
           "pool_samples_per_s": round(ds.num_synthetic / p), "pool_images": ds.num_synthetic,
           "pool_bytes": ds.pool.nelement() * ds.pool.element_size(),
           "bytes_per_image": ds.pool.nelement() * ds.pool.element_size() // max(1, ds.num_synthetic)}
    print(json.dumps(row), flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-max", type=int, default=1000, help="images of the largest real class")
    ap.add_argument("--imbalance", type=float, default=10.0)
    ap.add_argument("--batch-size", default="64,256", help="comma-separated DataLoader batch sizes")
    ap.add_argument("--workers", default="0,2", help="comma-separated DataLoader worker counts")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gen-batch", type=int, default=1024)
    ap.add_argument("--width", type=int, default=32, help="generator width (32: as RESULTS.md was measured)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch.set_num_threads for the iteration part (0: leave as is; workers always use 1)")
    ap.add_argument("--no-generation", action="store_true", help="skip the generation part")
    args = ap.parse_args()
    default_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    real = make_real(args.n_max, args.imbalance)
    torch.manual_seed(0)
    generator = build_generator("dcgan", 10, 28, 1, z_dim=64, width=args.width).eval()
    ds = SyntheticDataset(real, generator, "balance", seed=0)
    print(json.dumps({"real": ds.num_real, "synthetic": ds.num_synthetic, "torch": torch.__version__,
                      "iteration_threads": torch.get_num_threads(), "generation_threads": default_threads}), flush=True)
    bench_iteration(ds, [int(b) for b in args.batch_size.split(",")], [int(w) for w in args.workers.split(",")], args.repeats)
    torch.set_num_threads(default_threads)
    if not args.no_generation:
        bench_generation(real, device, args.gen_batch, ds.num_synthetic, min(3, args.repeats), args.width)


if __name__ == "__main__":
    main()
