"""The periodic work of a fit that writes files: log lines, sample grids and checkpoints on a
schedule, the EMA generator with standing BatchNorm statistics, and the run's small files."""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .._util.files import write_text_atomic
from .._util.pictures import read_grid, save_grid
from ..errors import CGANAugmentWarning, TrainingWarning
from ..generators.model_file import save_checkpoint, save_generator
from ..generators.networks import Generator
from .config import RunSettings, TrainConfig
from .curves import write_training_curves
from .diagnostics import STALL_GRIDS, class_diversity, training_warnings, write_diversity_plot, write_timeline, write_timeline_animation


def _standing_stats(generator: Generator, seed: int, batches: int = 4, batch_size: int = 128) -> Generator:
    """A copy of ``generator`` whose BatchNorm statistics are averaged over fresh batches of its
    own activations (class-balanced labels), so that eval-mode samples match train-mode ones."""
    g = copy.deepcopy(generator)
    norms = [m for m in g.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return g.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    rng = torch.Generator().manual_seed(seed)
    g.train()
    with torch.no_grad():
        for _ in range(batches):
            y = torch.arange(batch_size) % g.num_classes
            z = torch.randn(batch_size, g.z_dim, generator=rng)
            g(z.to(g.device), y.to(g.device))
    for m in norms:
        m.momentum = 0.1
    return g.eval()


@dataclass
class _Nets:
    """Everything a step changes: both networks, the EMA generator and both optimisers."""

    G: Generator
    D: torch.nn.Module
    G_ema: Generator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    G_train: Optional[torch.nn.Module] = None  # what a step calls: DDP wrappers with several processes
    D_train: Optional[torch.nn.Module] = None

    @property
    def modules(self) -> dict:
        return {"G": self.G, "D": self.D, "G_ema": self.G_ema}

    @property
    def optimizers(self) -> dict:
        return {"opt_g": self.opt_g, "opt_d": self.opt_d}


class _Maintenance:
    """The periodic work of a run that writes files (rank 0 with an ``out``): log lines every
    ``log_every`` steps, a sample grid every ``sample_every``, a checkpoint every
    ``checkpoint_every``, and all of them at the last step."""

    GRID_ROWS = 10

    def __init__(self, out: Path, nets: _Nets, dataset, config: TrainConfig, run: RunSettings, meta: dict, start: int):
        self.out, self.nets, self.config, self.run, self.meta = out, nets, config, run, meta
        self.classes, self.num_classes = list(dataset.classes), len(dataset.classes)
        n = self.GRID_ROWS
        self.grid_noise = torch.randn(self.num_classes * n, config.z_dim, generator=torch.Generator().manual_seed(config.seed))
        self.grid_labels = torch.arange(self.num_classes).repeat_interleave(n)
        self.real_diversity = class_diversity(*_real_examples(dataset, n), self.num_classes)
        (out / "samples").mkdir(exist_ok=True)
        _trim_log(out / "log.jsonl", start)
        self.log = open(out / "log.jsonl", "a")
        if start:  # the earlier run's lines stay; the curves mark where this one continues
            self.log.write(json.dumps({"step": start, "event": "resume"}) + "\n")
        self._standing: dict = {}
        self._noted: set = set()
        self.history: list = []  # (step, images, diversity) of the last sample grids, for the guard
        self.raised: set = set()  # kinds of warning given in this run: each once
        self.alarm: list = []  # this run's warnings, which stop a strict run

    def close(self) -> None:
        self.log.close()

    def eval_generator(self, step: int) -> Generator:
        """The EMA generator with standing BatchNorm statistics, computed once per step (the grid,
        the checkpoint and the return value of the same step share it)."""
        if self._standing.get("step") != step:
            g = _standing_stats(self.nets.G_ema, self.config.seed)
            g.classes = list(self.classes)
            self._standing = {"step": step, "generator": g}
        return self._standing["generator"]

    def after_step(self, step: int, stats: dict) -> None:
        """What the schedule asks for after ``step``."""
        last = step == self.config.steps
        if step % self.run.log_every == 0 or last:
            self.log.write(json.dumps(stats) + "\n")
        if step % self.run.sample_every == 0 or last:
            self.grid(step)
        if step % self.run.checkpoint_every == 0 or last:
            self.checkpoint(step)

    def grid(self, step: int) -> None:
        """``samples/step_N.png``, ``samples.png``, ``samples_over_time.png`` and ``.gif``, a diversity
        log line, ``diversity.png``, ``training_curves.png`` (from the whole log, earlier runs
        included), and the collapse and stall checks (:meth:`guard`)."""
        g, out, n = self.eval_generator(step), self.out, self.GRID_ROWS
        device = self.nets.G.device
        with torch.no_grad():
            images = g(self.grid_noise.to(device), self.grid_labels.to(device)).clamp(0, 1).cpu()
        save_grid(images, out / "samples" / f"step_{step:06d}.png", nrow=n, row_labels=self.classes)
        save_grid(images, out / "samples.png", nrow=n, row_labels=self.classes)
        frames = {int(p.stem.split("_")[1]): read_grid(p, self.num_classes * n, n, images.shape[1:], row_labels=self.classes)
                  for p in sorted((out / "samples").glob("step_*.png"))}
        frames = {s: f for s, f in frames.items() if f is not None}  # grids of another layout are left out
        write_timeline(list(frames.values()), out / "samples_over_time.png", self.num_classes, classes=self.classes,
                       steps=list(frames))
        diversity = class_diversity(images, self.grid_labels, self.num_classes)
        self.log.write(json.dumps({"step": step, "diversity": diversity, "real_diversity": self.real_diversity}) + "\n")
        self.guard(step, images, diversity)
        self.log.flush()
        note = write_diversity_plot(out / "log.jsonl", out / "diversity.png", self.classes)
        if note and note not in self._noted:  # e.g. no matplotlib: say so once, not at every grid
            self._noted.add(note)
            warnings.warn(note, CGANAugmentWarning, stacklevel=2)
        write_training_curves(out / "log.jsonl", out / "training_curves.png", self.classes,
                              title=f"{self.config.family}, {self.config.loss} loss")
        write_timeline_animation(sorted((out / "samples").glob("step_*.png")), out / "samples_over_time.gif")

    def guard(self, step: int, images: torch.Tensor, diversity: list) -> None:
        """Collapse and stall checks on this step's grid (:func:`~cgan_augment.train.diagnostics.training_warnings`):
        each kind of problem warned once per run, as a TrainingWarning, a log line and an entry of
        the model file's ``warnings``."""
        self.history = (self.history + [(step, images, diversity)])[-STALL_GRIDS:]
        for kind, message in training_warnings(self.history, self.real_diversity, self.classes).items():
            if kind not in self.raised and message not in self.meta["warnings"]:
                self.raised.add(kind)
                self.meta["warnings"].append(message)
                self.alarm.append(message)
                self.log.write(json.dumps({"step": step, "warning": message}) + "\n")
                warnings.warn(message, TrainingWarning, stacklevel=2)

    def checkpoint(self, step: int) -> None:
        self.log.flush()
        state = dict(self.meta, step=step)
        # Model first: wherever a kill lands, a checkpoint on disk implies a model on disk.
        save_generator(self.eval_generator(step), self.out / "model.safetensors", state)
        save_checkpoint(self.out / "checkpoint.safetensors", self.nets.modules, self.nets.optimizers, state)


def _real_examples(dataset, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``per_class`` real images of each class (the first ones), for diversity reference."""
    picked, seen = [], {}
    for i, t in enumerate(dataset.targets):
        if seen.get(t, 0) < per_class:
            seen[t] = seen.get(t, 0) + 1
            picked.append(i)
    items = [dataset[i] for i in picked]
    return torch.stack([x for x, _ in items]), torch.tensor([y for _, y in items])


def _write_json(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2))


def _trim_log(path: Path, keep_until: int) -> None:
    """Drop log lines of steps after the checkpoint we resume from (they will be redone), and a
    torn line (the log is written through a buffer, so a kill can leave half of one), as
    :func:`~cgan_augment.curves.read_log` skips it."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("step", 0) <= keep_until:
            kept.append(line)
    write_text_atomic(path, "".join(line + "\n" for line in kept))
