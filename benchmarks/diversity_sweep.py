"""Issue 5 quick sweep: per-class diversity of generated samples relative to real ones, after a short fit.

Fits a generator on the long-tailed (IR 100) train split of builtin:mnist5k (test_split 1000,
seed 0) with the TrainConfig fields given as JSON, samples 20 images per class, and prints, per
class, the mean pairwise RMS distance of the samples divided by that of 20 real images of the class
(1.0: as varied as the real images; near 0.3: every sample alike). Writes a grid PNG next to it.

    python benchmarks/diversity_sweep.py base '{"steps": 600, "width": 16, "beta1": 0.5, "beta2": 0.999, "mode_seeking": 0}'
    python benchmarks/diversity_sweep.py ms01 '{"steps": 600, "width": 16, "beta1": 0.5, "beta2": 0.999, "mode_seeking": 0.1}'

The runs in RESULTS.md ran this at one intra-op thread (torch.set_num_threads(1)).
"""

import json
import sys
import time

import torch

from cgan_augment import DataSpec, TrainConfig, load_data, train_generator
from cgan_augment.train.diagnostics import class_diversity
from cgan_augment._util.pictures import save_grid
from cgan_augment.train.maintenance import _real_examples

torch.set_num_threads(1)
name, fields = sys.argv[1], json.loads(sys.argv[2])
train = load_data(DataSpec("builtin:mnist5k", test_split=1000, imbalance=100)).train
real = class_diversity(*_real_examples(train, 20), 10)
started = time.time()
generator = train_generator(train, TrainConfig(**fields))
labels = torch.arange(10).repeat_interleave(20)
samples = generator.sample(labels, seed=0)
ratios = [round(a / b, 2) for a, b in zip(class_diversity(samples, labels, 10), real)]
print(name, fields, "seconds", round(time.time() - started), "diversity/real", ratios, flush=True)
save_grid(samples.view(10, 20, *samples.shape[1:])[:, :10].flatten(0, 1), f"diversity_sweep_{name}.png", nrow=10)
