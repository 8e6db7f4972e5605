"""The accuracy-gain report: does synthetic data help a classifier, against honest baselines?

The same classifier is trained with the same budget (optimiser steps, batch size, learning rate)
under each *arm*, a way of using the imbalanced training data, and tested on a held-out split the
generator never saw:

==================  ===========================================================================
``real``            the imbalanced training data as it is (shuffled epochs)
``class-weights``   the same, loss weighted by inverse class frequency
``oversample``      a class-balanced ``WeightedRandomSampler`` over the real images (no copies)
``smote``           imbalanced-learn's SMOTE on flattened pixels (skipped if not installed)
``classic-aug``     the class-balanced sampler plus a small random affine on every item
                    (flips only with ``flips=True``): the cheap bar synthetic data has to clear
``synthetic``       real + :class:`~cgan_augment.synthetic.SyntheticDataset` topped up to balance
``synthetic+aug``   each item draws a class uniformly, then a synthetic image of it with
                    probability ``alpha`` (if the class has any), else a real one; the affine
                    goes on every item
``synthetic-only``  generated images alone (the Classification Accuracy Score)
``oracle``          the balanced data before the long tail, when given: the ceiling
==================  ===========================================================================

Every random choice of a run (initialisation, batches, augmentation, SMOTE, the synthetic pool)
is drawn from the run's own seed. Each arm's training set is held in memory once (uint8) and
batches are gathered from it, so a run costs little beyond the classifier's own compute.

Entry points: :func:`run_report` (datasets and a generator in hand), :func:`make_report` (a
:class:`~cgan_augment.data.DataSpec`, a model file or ``fit=``, files written to ``out``) and
:func:`run_demo`. The library never prints; progress goes to ``on_progress(stage, done, total, detail)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .checkpoint import load_generator, read_metadata
from .files import atomic_path, write_text_atomic
from .data import DataSpec, LabeledSubset, class_counts, fingerprint, load_data
from .devices import resolve_device
from .errors import ConfigError, DataError, OutputDirError
from .quality import per_class_quality

__all__ = ["ReportConfig", "ARMS", "BASELINE_ARMS", "CLASSIFIERS", "run_report", "make_report", "run_demo", "demo_settings",
           "check_model_split", "build_classifier", "format_table"]

ARMS = ("real", "class-weights", "oversample", "smote", "classic-aug", "synthetic", "synthetic+aug",
        "synthetic-only", "oracle")
BASELINE_ARMS = ("class-weights", "oversample", "smote", "classic-aug")
SYNTHETIC_ARMS = ("synthetic", "synthetic+aug", "synthetic-only")
CLASSIFIERS = ("cnn", "logreg", "resnet18")
METRICS = ("accuracy", "balanced_accuracy", "macro_f1")

Progress = Callable[[str, int, int, str], None]


@dataclass(frozen=True)
class ReportConfig:
    """How the report trains and compares its classifiers; saved in ``report.json``.

    Args:
        arms: the arms to run, in order (any of :data:`ARMS`); ``oracle`` runs only when oracle
            data is given, ``smote`` only when imbalanced-learn is installed.
        classifier: ``cnn`` (conv32-conv64-fc128), ``logreg`` or ``resnet18`` (untrained,
            3×3 stem without max-pool for small images).
        seeds: the seeds; every arm runs once per seed, and gains are paired by seed.
        steps: optimiser steps per run (the same for every arm).
        batch_size: images per step. lr: Adam learning rate.
        alpha: in ``synthetic+aug``, the chance that an item of a class with synthetic images is synthetic.
        synthetic_target: the ``target`` handed to ``SyntheticDataset`` for the ``synthetic`` arm.
        affine_degrees, affine_translate, affine_scale: the random affine of the augmented arms:
            rotation in ±degrees, shift up to ``translate`` of the side, scale in 1 ± ``scale``.
        flips: also flip horizontally (only where the data allows it: digits do not).
        quality_samples: generated images per class for the sample-quality measure.
        quality_k: neighbourhood size of precision/recall/density/coverage.
        grid_samples: generated images per class in ``samples.png``.
        eval_batch_size: images per forward pass when testing.
    """

    arms: tuple = ARMS
    classifier: str = "cnn"
    seeds: tuple = (0, 1, 2)
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3
    alpha: float = 0.25  # best of 0.1 / 0.25 / 0.5 in benchmarks/bench_generators.py (issue 5)
    synthetic_target: str = "balance"
    affine_degrees: float = 10.0
    affine_translate: float = 0.1
    affine_scale: float = 0.1
    flips: bool = False
    quality_samples: int = 200
    quality_k: int = 5
    grid_samples: int = 10
    eval_batch_size: int = 512

    def __post_init__(self):
        object.__setattr__(self, "arms", tuple(self.arms))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown or not self.arms:
            raise ConfigError(f"arms should be a non-empty list of {', '.join(ARMS)}. Got {unknown[0] if unknown else 'none'!r}.")
        if len(set(self.arms)) != len(self.arms):
            raise ConfigError(f"arms lists an arm twice: {', '.join(self.arms)}.")
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(f"classifier should be one of {', '.join(CLASSIFIERS)}. Got {self.classifier!r}.")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"seeds should be one or more distinct integers. Got {list(self.seeds)}.")
        for name in ("steps", "batch_size", "quality_samples", "quality_k", "grid_samples", "eval_batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} should be a positive integer. Got {value!r}.")
        if not self.lr > 0:
            raise ConfigError(f"lr should be positive. Got {self.lr}.")
        if not 0 <= self.alpha <= 1:
            raise ConfigError(f"alpha should lie in [0, 1]. Got {self.alpha}.")
        if not (0 <= self.affine_degrees <= 180 and 0 <= self.affine_translate < 1 and 0 <= self.affine_scale < 1):
            raise ConfigError("affine_degrees should lie in [0, 180], affine_translate and affine_scale in [0, 1). "
                              f"Got {self.affine_degrees}, {self.affine_translate}, {self.affine_scale}.")

    @classmethod
    def from_dict(cls, values: dict) -> "ReportConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# ----------------------------------------------------------------------------- classifiers


class _Classifier(nn.Module):
    """``features`` (the embedding the quality measure uses) followed by a linear ``head``."""

    def __init__(self, features: nn.Module, head: nn.Module):
        super().__init__()
        self.features, self.head = features, head

    def forward(self, x):
        return self.head(self.features(x))


def build_classifier(name: str, channels: int, image_size: int, num_classes: int) -> nn.Module:
    """A fresh, untrained classifier taking N×C×H×W images in [0, 1].

    * ``cnn``: conv(C→32, 3×3) → ReLU → max-pool 2 → conv(32→64, 3×3) → ReLU → max-pool 2 →
      linear(→128) → ReLU → linear(→K); its features are the 128 hidden units.
    * ``logreg``: one linear layer on the pixels; its features are its logits.
    * ``resnet18``: torchvision's resnet18, untrained, with a 3×3 stride-1 stem and no max-pool
      so that small images keep their resolution; its features are the 512 pooled units.
    """
    if name == "cnn":
        side = image_size // 4  # two 2× max-pools, floored
        features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * side * side, 128), nn.ReLU())
        return _Classifier(features, nn.Linear(128, num_classes))
    if name == "logreg":
        return _Classifier(nn.Sequential(nn.Flatten(), nn.Linear(channels * image_size * image_size, num_classes)),
                           nn.Identity())
    if name == "resnet18":
        from torchvision.models import resnet18

        net = resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        head, net.fc = net.fc, nn.Identity()
        return _Classifier(net, head)
    raise ConfigError(f"classifier should be one of {', '.join(CLASSIFIERS)}. Got {name!r}.")


# ----------------------------------------------------------------------------- training sets in memory


def _as_tensors(dataset, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 N×C×H×W, int64 N) of a whole dataset; a subset of in-memory arrays is sliced directly."""
    targets = torch.as_tensor(list(dataset.targets), dtype=torch.int64)
    base = getattr(dataset, "dataset", None)
    if isinstance(dataset, LabeledSubset) and isinstance(getattr(base, "images", None), torch.Tensor) \
            and getattr(base, "transform", None) is None:
        return base.images[dataset.indices].contiguous(), targets
    return _gather(dataset, list(range(len(dataset))), chunk), targets


def _gather(dataset, indices: list, chunk: int = 512) -> torch.Tensor:
    """uint8 images of ``dataset[indices]``, fetched in batches where the dataset serves them."""
    parts = []
    for start in range(0, len(indices), chunk):
        idx = indices[start:start + chunk]
        items = dataset.__getitems__(idx) if hasattr(dataset, "__getitems__") else [dataset[i] for i in idx]
        parts.append(_to_uint8(torch.stack([x for x, _ in items])))
    if not parts:
        raise DataError("empty dataset: nothing to train or test on.")
    return torch.cat(parts)


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return (x.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8)


@dataclass
class _ArmData:
    """One arm's training pool and how batches are drawn from it."""

    images: torch.Tensor  # (M, C, H, W) uint8
    labels: torch.Tensor  # (M,) int64
    sampling: str  # "shuffle" (epochs of permutations), "balanced" (WeightedRandomSampler), "mixed"
    augment: bool = False
    class_weights: Optional[torch.Tensor] = None
    synthetic: Optional[torch.Tensor] = None  # (M,) bool, for "mixed"
    note: str = ""

    def batches(self, steps: int, batch_size: int, alpha: float, rng: torch.Generator) -> torch.Tensor:
        """Pool indices of every step: (steps, batch_size) int64."""
        total, n = steps * batch_size, len(self.labels)
        if self.sampling == "shuffle":
            idx = torch.cat([torch.randperm(n, generator=rng) for _ in range(-(-total // n))])[:total]
        elif self.sampling == "balanced":
            from torch.utils.data import WeightedRandomSampler

            counts = torch.bincount(self.labels).double()
            weights = 1.0 / counts[self.labels]  # each present class gets the same total weight
            idx = torch.as_tensor(list(WeightedRandomSampler(weights, total, replacement=True, generator=rng)))
        else:
            idx = self._mixed(total, alpha, rng)
        return idx.view(steps, batch_size)

    def _mixed(self, total: int, alpha: float, rng: torch.Generator) -> torch.Tensor:
        """A class uniformly; then, where the class has synthetic images, a synthetic one with
        probability ``alpha``, else a real one; uniformly within the chosen group."""
        groups = {}  # (class, is_synthetic) -> pool indices
        for c in torch.unique(self.labels).tolist():
            for syn in (False, True):
                members = torch.nonzero((self.labels == c) & (self.synthetic == syn)).squeeze(1)
                if len(members):
                    groups[(c, syn)] = members
        present = sorted({c for c, _ in groups})
        cls = torch.as_tensor(present)[torch.randint(len(present), (total,), generator=rng)]
        coin = torch.rand(total, generator=rng) < alpha
        pick = torch.rand(total, generator=rng)
        idx = torch.empty(total, dtype=torch.int64)
        for c in present:
            in_c = cls == c
            if (c, True) in groups and (c, False) in groups:
                syn_mask = in_c & coin
            else:
                syn_mask = in_c & ((c, True) in groups)
            for syn, mask in ((True, syn_mask), (False, in_c & ~syn_mask)):
                if mask.any():
                    members = groups[(c, syn)]
                    idx[mask] = members[(pick[mask] * len(members)).long().clamp(max=len(members) - 1)]
        return idx


def _smote(images: torch.Tensor, labels: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    from imblearn.over_sampling import SMOTE

    smallest = int(torch.bincount(labels).min())
    if smallest < 2:
        raise _Skip(f"SMOTE needs at least 2 images per class; the smallest class has {smallest}")
    k = min(5, smallest - 1)
    x = images.flatten(1).numpy().astype(np.float32) / 255
    xs, ys = SMOTE(k_neighbors=k, random_state=seed).fit_resample(x, labels.numpy())
    x_new = torch.from_numpy(np.round(np.clip(xs, 0, 1) * 255).astype(np.uint8)).view(-1, *images.shape[1:])
    return x_new, torch.as_tensor(ys, dtype=torch.int64), f"k_neighbors={k}"


class _Skip(Exception):
    """An arm that cannot run here; the message says why (it goes into the report)."""


def _augmenter(config: ReportConfig):
    """Per-item random affine (and flip), from torchvision.transforms.v2, on the global RNG
    (which the run seeds inside a forked RNG state)."""
    from torchvision.transforms import v2

    steps = [v2.RandomAffine(degrees=config.affine_degrees, translate=(config.affine_translate,) * 2,
                             scale=(1 - config.affine_scale, 1 + config.affine_scale))]
    if config.flips:
        steps.append(v2.RandomHorizontalFlip())
    transform = v2.Compose(steps)
    return lambda x: torch.stack([transform(item) for item in x])


def _arm_data(arm: str, real: tuple, num_classes: int, seed: int, config: ReportConfig, generator,
              oracle: Optional[tuple], device: torch.device) -> _ArmData:
    """The training pool of ``arm`` for ``seed`` (random draws from ``seed`` only)."""
    images, labels = real
    if arm == "real":
        return _ArmData(images, labels, "shuffle")
    if arm == "class-weights":
        counts = torch.bincount(labels, minlength=num_classes).double()
        weights = torch.where(counts > 0, len(labels) / (num_classes * counts.clamp(min=1)), torch.zeros_like(counts))
        return _ArmData(images, labels, "shuffle", class_weights=weights.float())
    if arm == "oversample":
        return _ArmData(images, labels, "balanced")
    if arm == "classic-aug":
        return _ArmData(images, labels, "balanced", augment=True)
    if arm == "smote":
        try:
            import imblearn  # noqa: F401
        except ImportError:
            raise _Skip("imbalanced-learn is not installed (pip install imbalanced-learn)") from None
        x, y, note = _smote(images, labels, seed)
        return _ArmData(x, y, "shuffle", note=note)
    if arm == "oracle":
        if oracle is None:
            raise _Skip("no oracle data given (the balanced data before the long tail)")
        return _ArmData(oracle[0], oracle[1], "shuffle")
    if generator is None:
        raise _Skip("no generator given")
    if arm == "synthetic-only":
        n = int(torch.bincount(labels).max())
        y = torch.arange(generator.num_classes).repeat_interleave(n)
        x = _to_uint8(generator.sample(y.to(device), seed=seed))
        return _ArmData(x, y, "shuffle", note=f"{n} generated images per class")
    syn_x, syn_y = _synthetic_pool(real, generator, config.synthetic_target, seed, device)
    x, y = torch.cat([images, syn_x]), torch.cat([labels, syn_y])
    is_syn = torch.cat([torch.zeros(len(labels), dtype=torch.bool), torch.ones(len(syn_y), dtype=torch.bool)])
    note = f"{len(syn_y)} synthetic images"
    if arm == "synthetic":
        return _ArmData(x, y, "shuffle", note=note)
    return _ArmData(x, y, "mixed", augment=True, synthetic=is_syn, note=note + f", alpha={config.alpha}")


def _synthetic_pool(real: tuple, generator, target, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The synthetic images and labels a ``SyntheticDataset`` over the real pool adds (uint8, int64)."""
    from .data import ArrayImages
    from .synthetic import SyntheticDataset

    images, labels = real
    ds = SyntheticDataset(ArrayImages(images, labels.tolist(), generator.classes), generator, target,
                          seed=seed, device=device)
    return ds.pool.clone(), torch.as_tensor(ds.synthetic_targets, dtype=torch.int64)


# ----------------------------------------------------------------------------- one run


def _train_classifier(data: _ArmData, config: ReportConfig, seed: int, shape: tuple, num_classes: int,
                      device: torch.device, tick: Callable[[int], None]) -> nn.Module:
    """Train a fresh classifier on ``data`` for ``config.steps`` steps; everything drawn from ``seed``."""
    channels, side = shape
    augment = _augmenter(config) if data.augment else None
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = build_classifier(config.classifier, channels, side, num_classes).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=config.lr)
        batches = data.batches(config.steps, config.batch_size, config.alpha, torch.Generator().manual_seed(seed))
        weight = data.class_weights.to(device) if data.class_weights is not None else None
        model.train()
        done = 0
        for step, idx in enumerate(batches, start=1):
            x = data.images.index_select(0, idx).float().div_(255)  # (B, C, H, W) in [0, 1]
            if augment is not None:
                x = augment(x)
            loss = F.cross_entropy(model(x.to(device)), data.labels.index_select(0, idx).to(device), weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if not torch.isfinite(loss):
                raise ConfigError(f"the classifier's loss became {loss.item()} at step {step}; try a lower lr.")
            if step % 25 == 0 or step == config.steps:
                tick(step - done)
                done = step
    return model.eval()


@torch.no_grad()
def _predict(model: nn.Module, images: torch.Tensor, batch_size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes (N,), features (N×D)) of uint8 images."""
    preds, feats = [], []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].float().div_(255).to(device)
        f = model.features(x)
        preds.append(model.head(f).argmax(1).cpu())
        feats.append(f.flatten(1).cpu())
    return torch.cat(preds), torch.cat(feats)


def _metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, recall_score

    labels = list(range(num_classes))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class_recall": [float(r) for r in recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)],
    }


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


# ----------------------------------------------------------------------------- the report


def run_report(train, test, generator=None, config: ReportConfig = ReportConfig(), *, oracle=None,
               out: Union[str, Path, None] = None, device: Union[str, torch.device] = "cpu",
               on_progress: Optional[Progress] = None, resume: bool = False, data_info: Optional[dict] = None) -> dict:
    """Train the classifier under every arm of ``config`` and compare them on ``test``.

    Args:
        train: the (imbalanced) training data; test: held-out data the generator never saw;
            oracle: optional balanced training data (the ceiling arm). All three are labeled
            datasets with ``classes``, ``targets``, ``image_size`` and ``channels``, items
            ``(float C×H×W in [0, 1], int)``.
        generator: a :class:`~cgan_augment.Generator` for the synthetic arms (``None`` skips them).
        config: the report settings.
        out: folder for ``report.json``, ``report.md``, ``recall_by_class.png``, ``samples.png``
            and ``runs/`` (one JSON per arm and seed); ``None`` writes nothing.
        device: where the classifiers train.
        on_progress: called as ``(stage, done, total, detail)``; stage ``"classifiers"``
            counts optimiser steps over all runs.
        resume: reuse finished runs in ``out/runs`` made with the same settings, data and generator.
        data_info: what to record about the data (e.g. the DataSpec as a dict).

    Returns:
        The report as a dict (what ``report.json`` holds).

    Raises:
        DataError: train, test, oracle or generator disagree on classes or image shape.
    """
    started = time.perf_counter()
    device = resolve_device(device)
    _check_compatible(train, test, generator, oracle)
    classes, num_classes = list(train.classes), len(train.classes)
    shape = (train.channels, train.image_size)
    real = _as_tensors(train)
    test_x, test_y = _as_tensors(test)
    oracle_t = _as_tensors(oracle) if oracle is not None else None
    out = Path(out) if out is not None else None
    if out is not None:
        _make_dir(out / "runs")

    keys = _run_keys(config, real, (test_x, test_y), oracle_t, generator)
    arms = ["real"] + [a for a in config.arms if a != "real"] if "real" in config.arms else list(config.arms)
    total = len(arms) * len(config.seeds) * config.steps
    done = [0]

    def tick(n: int, detail: str):
        done[0] += n
        if on_progress:
            on_progress("classifiers", done[0], total, detail)

    results, skipped, notes, quality = {}, {}, {}, None
    for arm in arms:
        for seed in config.seeds:
            detail = f"{arm} (seed {seed})"
            cached = _load_run(out, arm, seed, keys[arm]) if resume else None
            need_quality = arm == "real" and seed == config.seeds[0] and quality is None
            if need_quality and cached is not None:
                quality = _load_quality(out, keys["quality"])
                if quality is None and generator is not None:
                    cached = None  # the quality measure needs this run's classifier again
            if cached is not None:
                results.setdefault(arm, {})[seed] = cached["metrics"]
                notes[arm] = cached.get("note", "")
                tick(config.steps, detail + " cached")
                continue
            try:
                data = _arm_data(arm, real, num_classes, seed, config, generator, oracle_t, device)
            except _Skip as why:
                skipped[arm] = str(why)
                tick(config.steps * len(config.seeds), f"{arm} skipped")
                break
            t0 = time.perf_counter()
            model = _train_classifier(data, config, seed, shape, num_classes, device, lambda n: tick(n, detail))
            preds, feats = _predict(model, test_x, config.eval_batch_size, device)
            metrics = _metrics(test_y.numpy(), preds.numpy(), num_classes)
            metrics["seconds"] = round(time.perf_counter() - t0, 2)
            metrics["train_size"] = len(data.labels)
            results.setdefault(arm, {})[seed] = metrics
            notes[arm] = data.note
            _save_run(out, arm, seed, keys[arm], metrics, data.note, preds)
            if need_quality and generator is not None:
                if on_progress:
                    on_progress("classifiers", done[0], total, "sample quality")
                quality = _sample_quality(model, feats, test_y, generator, config, seed, device, classes)
                _save_quality(out, keys["quality"], quality)

    result = _summarise(results, skipped, notes, quality, config, classes, real[1], test_y, oracle_t)
    result.update(
        data=dict(data_info or {}, classes=classes, image_size=train.image_size, channels=train.channels,
                  train_counts=class_counts(train), test_counts=class_counts(test),
                  oracle_counts=class_counts(oracle) if oracle is not None else None),
        generator=_generator_summary(generator),
        versions=_versions(), device=str(device),
        wall_seconds=round(time.perf_counter() - started, 1),
    )
    if out is not None:
        result["files"] = _write_outputs(result, out, real, generator, config)
    return result


def _check_compatible(train, test, generator, oracle) -> None:
    for name, ds in (("test", test), ("oracle", oracle)):
        if ds is None:
            continue
        if list(ds.classes) != list(train.classes):
            raise DataError(f"{name} data has classes {list(ds.classes)} but the training data has {list(train.classes)}; "
                            "they must be the same classes in the same order.")
        if (ds.channels, ds.image_size) != (train.channels, train.image_size):
            raise DataError(f"{name} images are {ds.channels}×{ds.image_size}×{ds.image_size} but training images are "
                            f"{train.channels}×{train.image_size}×{train.image_size}; pass the same --image-size and --channels.")
    if generator is not None:
        if list(generator.classes) != list(train.classes):
            raise DataError(f"the generator knows classes {list(generator.classes)} but the data has {list(train.classes)}; "
                            "use a model fitted on this data.")
        if (generator.channels, generator.image_size) != (train.channels, train.image_size):
            raise DataError(f"the generator makes {generator.channels}×{generator.image_size}×{generator.image_size} images "
                            f"but the data is {train.channels}×{train.image_size}×{train.image_size}; pass the model's "
                            "--image-size and --channels.")


def _sample_quality(model, test_feats, test_y, generator, config, seed, device, classes) -> dict:
    """Per-class quality of generated images against the held-out test images, in the feature
    space of the ``real``-arm classifier (seed ``seed``)."""
    y = torch.arange(generator.num_classes).repeat_interleave(config.quality_samples)
    fake = _to_uint8(generator.sample(y.to(device), seed=10_000 + seed))
    _, fake_feats = _predict(model, fake, config.eval_batch_size, device)
    q = per_class_quality(test_feats, test_y, fake_feats, y, classes, k=config.quality_k)
    q.update(reference="held-out test images", feature_space=f"{config.classifier} penultimate layer, real arm, seed {seed}",
             samples_per_class=config.quality_samples)
    return q


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
    if "oracle" in results and "real" in results:
        gap = _mean_bacc(results, "oracle") - _mean_bacc(results, "real")
        gains["oracle_gap"] = gap
        gains["oracle_gap_recovered"] = {
            arm: ((_mean_bacc(results, arm) - _mean_bacc(results, "real")) / gap if gap > 0 else None)
            for arm in results if arm not in ("real", "oracle")}
    return gains


def _verdict(gains: dict, results: dict) -> str:
    """One line: did the best synthetic arm beat the best baseline (or ``real``), beyond seed noise?"""
    candidates = [a for a in ("synthetic", "synthetic+aug") if a in results]
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


# ----------------------------------------------------------------------------- caching of runs


def _tensor_hash(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        if t is not None:
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _run_keys(config, real, test, oracle, generator) -> dict:
    """Per arm, what its cached runs depend on: settings (not the arm list or seeds), the data, and
    the generator only for the synthetic arms and the oracle data only for the oracle arm."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("arms", "seeds")}
    base = [json.dumps(settings, sort_keys=True), _tensor_hash(*real), _tensor_hash(*test), torch.__version__]
    gen = "-"
    if generator is not None:
        gen = _tensor_hash(*[p.detach().cpu() for p in generator.state_dict().values()])
    extra = {arm: [] for arm in ARMS}
    for arm in SYNTHETIC_ARMS:
        extra[arm] = [gen]
    extra["oracle"] = [_tensor_hash(*oracle) if oracle is not None else "-"]
    extra["quality"] = [gen]
    return {arm: hashlib.sha256("|".join(base + [arm] + parts).encode()).hexdigest()[:16] for arm, parts in extra.items()}


def _run_path(out: Path, arm: str, seed: int) -> Path:
    return out / "runs" / f"{arm.replace('+', '_plus_')}__seed{seed}.json"


def _load_run(out: Optional[Path], arm: str, seed: int, key: str) -> Optional[dict]:
    if out is None:
        return None
    try:
        saved = json.loads(_run_path(out, arm, seed).read_text())
    except (OSError, ValueError):
        return None
    return saved if saved.get("key") == key else None


def _save_run(out, arm, seed, key, metrics, note, preds) -> None:
    if out is not None:
        _write_text(_run_path(out, arm, seed), json.dumps(
            {"key": key, "arm": arm, "seed": seed, "metrics": metrics, "note": note, "predictions": preds.tolist()}))


def _load_quality(out, key) -> Optional[dict]:
    if out is None:
        return None
    try:
        saved = json.loads((out / "runs" / "quality.json").read_text())
    except (OSError, ValueError):
        return None
    return saved["quality"] if saved.get("key") == key else None


def _save_quality(out, key, quality) -> None:
    if out is not None:
        _write_text(out / "runs" / "quality.json", json.dumps({"key": key, "quality": quality}))


# ----------------------------------------------------------------------------- output files


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputDirError(f"{path}: cannot create the output folder ({e.strerror}).") from None


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


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
                     f"{recall[worst]:.2f} ({result['data']['classes'][worst]}) | {entry.get('note', '')} |")
    for arm, why in result["skipped"].items():
        lines.append(f"| {arm} | skipped | | | | {why} |")
    return "\n".join(lines)


def _markdown(result: dict) -> str:
    data, cfg = result["data"], result["config"]
    classes = data["classes"]
    n_seeds = len(result["seeds"])
    md = [
        "# Accuracy-gain report", "",
        f"**Verdict: {result['verdict']}**", "",
        f"Data: {data.get('source', 'given datasets')}"
        + (f" (imbalance {data['imbalance']:g})" if data.get("imbalance") else "") + f": {sum(data['train_counts'])} training images "
        f"({', '.join(f'{c}={n}' for c, n in zip(classes, data['train_counts']))}), "
        f"{sum(data['test_counts'])} held-out test images"
        + (f", oracle {sum(data['oracle_counts'])} images" if data.get("oracle_counts") else "") + ".",
        f"Classifier: {cfg['classifier']}, {cfg['steps']} Adam steps (lr {cfg['lr']}) at batch {cfg['batch_size']} for every arm; "
        f"seeds {', '.join(map(str, result['seeds']))}; mean ± standard deviation over seeds. Device: {result['device']}.",
        "", format_table(result), "",
    ]
    gains = result["gains"]
    rows = []
    for arm in SYNTHETIC_ARMS:
        if arm in gains:
            for key, label in (("vs_real", "real"), ("vs_best_baseline", f"best baseline ({gains['best_baseline']})"),
                               ("vs_classic_aug", "classic-aug")):
                g = gains[arm].get(key)
                if g:
                    rows.append(f"| {arm} | {label} | {g['mean'] * 100:+.1f} ± {g['std'] * 100:.1f} |")
    if rows:
        md += ["## Gains (points of balanced accuracy, paired by seed)", "", "| arm | over | gain |", "|---|---|---|", *rows, ""]
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
    md += [f"{n_seeds} seed{'s' if n_seeds != 1 else ''}, {result['wall_seconds']:.0f} s wall time; every number is in report.json."]
    return "\n".join(md) + "\n"


def _write_outputs(result: dict, out: Path, real: tuple, generator, config: ReportConfig) -> dict:
    files = {"json": "report.json", "markdown": "report.md"}
    if generator is not None:
        _sample_grid(out / "samples.png", real, generator, config)
        files["samples"] = "samples.png"
    note = _recall_figure(out / "recall_by_class.png", result)
    if note:
        files["figure_note"] = note
    else:
        files["figure"] = "recall_by_class.png"
    result["files"] = files
    _write_text(out / "report.json", json.dumps(result, indent=2))
    _write_text(out / "report.md", _markdown(result))
    return files


def _sample_grid(path: Path, real: tuple, generator, config: ReportConfig, n_real: int = 5) -> None:
    """One row per class: up to ``n_real`` real training images (blank where the class has fewer),
    a blank, then ``config.grid_samples`` generated images."""
    from .images import save_grid

    images, labels = real
    k, n = generator.num_classes, config.grid_samples
    y = torch.arange(k).repeat_interleave(n)
    fake = generator.sample(y.to(generator.device), seed=0).cpu()
    blank = torch.ones(images.shape[1:])
    rows = []
    for c in range(k):
        mine = images[labels == c][:n_real].float() / 255
        rows += list(mine) + [blank] * (n_real - len(mine)) + [blank] + list(fake[c * n:(c + 1) * n])
    save_grid(torch.stack(rows), path, nrow=n_real + 1 + n)


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


def _generator_summary(generator) -> Optional[dict]:
    if generator is None:
        return None
    meta = getattr(generator, "metadata", {}) or {}
    return {k: meta.get(k) for k in ("arch", "train_config", "step", "data", "class_counts", "library_version")}


def _versions() -> dict:
    import sklearn
    import torchvision

    from ._version import __version__

    versions = {"cgan_augment": __version__, "python": platform.python_version(), "torch": torch.__version__,
                "torchvision": torchvision.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__,
                "platform": platform.platform()}
    try:
        import imblearn

        versions["imbalanced-learn"] = imblearn.__version__
    except ImportError:
        versions["imbalanced-learn"] = None
    return versions


# ----------------------------------------------------------------------------- from files and flags


def _same_source(a: str, b: str) -> bool:
    if a.startswith("builtin:") or b.startswith("builtin:"):
        return a == b
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_model_split(meta: dict, spec: DataSpec, train, test_source: Optional[str] = None, name: str = "MODEL") -> None:
    """Refuse a generator that saw the report's test images, or other training images than ``train``.

    Args:
        meta: the model file's metadata (:func:`~cgan_augment.read_metadata`).
        spec: the report's data spec; train: the training split rebuilt from it.
        test_source: the ``--test`` data, when the test set is a separate source.
        name: how to call the model in messages (its path).

    Raises:
        DataError: the model records no data, was trained on all the data or another split,
            on the ``--test`` data itself, or on other training images.
    """
    data = meta.get("data") or {}
    if "source" not in data:
        raise DataError(f"{name}: the model file does not record the data it was trained on, so it cannot be checked "
                        "against the test split; refit it with `cgan-augment fit`, or pass --fit.")
    source = data["source"]
    refit = (f"refit with `cgan-augment fit {spec.source} --test-split {spec.test_split} --data-seed {spec.seed}"
             + (f" --imbalance {spec.imbalance:g}" if spec.imbalance else "") + "`, or pass --fit")
    if test_source is not None:
        if _same_source(source, test_source):
            raise DataError(f"{name}: was trained on {source}, the data given as --test; a generator must never see "
                            "the test images. Use other test data, or --test-split with a model fitted on the same split.")
    elif spec.test_split is not None:
        if data.get("test_split") is None:
            raise DataError(f"{name}: was trained on all of {source} (no test split), so it has seen the test images; {refit}.")
        if not _same_source(source, spec.source) or float(data["test_split"]) != float(spec.test_split) \
                or int(data.get("seed", 0)) != int(spec.seed):
            raise DataError(f"{name}: was trained with test split {data['test_split']} (data seed {data.get('seed')}) of "
                            f"{source}, not the report's {spec.test_split} (data seed {spec.seed}) of {spec.source}, so it "
                            f"may have seen the test images; {refit}.")
    else:
        raise ConfigError("the report needs held-out test data the generator never saw: pass --test TESTDATA or --test-split 0.2.")
    if data.get("train_fingerprint") != fingerprint(train.indices):
        raise DataError(f"{name}: was trained on other images than this report's training split (another DATA, "
                        f"--imbalance, --data-seed or --skip-bad?); {refit}.")


def _load_test(spec: DataSpec, test: str, train):
    test_spec = DataSpec(test, image_size=train.image_size, channels=train.channels, skip_bad=spec.skip_bad)
    return load_data(test_spec).train


def _fit_or_reuse(train, spec: DataSpec, fit, folder: Path, device, resume: bool, force: bool, on_progress):
    """Fit a generator on ``train`` into ``folder``; with ``resume``, reuse or continue one made there
    with the same settings and training split."""
    from .train import TrainConfig, train_generator

    model = folder / "model.safetensors"
    if resume and model.exists():
        meta = read_metadata(model)
        same = (TrainConfig.from_dict(meta.get("train_config", {})) == fit
                and meta.get("data", {}).get("train_fingerprint") == fingerprint(train.indices))
        if same and int(meta.get("step", 0)) >= fit.steps:
            return load_generator(model, device=device)
    resume = resume and (folder / "checkpoint.safetensors").exists()

    def on_step(step, total, stats):
        if on_progress:
            on_progress("fit", step, total, f"D {stats['loss_d']:.2f} G {stats['loss_g']:.2f}")

    return train_generator(train, fit, folder, data_info=spec.to_dict(), device=device, resume=resume,
                           force=force, on_step=on_step)


def make_report(spec: DataSpec, out: Union[str, Path], *, model: Union[str, Path, None] = None, fit=None,
           test: Optional[str] = None, config: ReportConfig = ReportConfig(), oracle: bool = False,
           device: Union[str, torch.device] = "auto", on_progress: Optional[Progress] = None,
           resume: bool = False, force: bool = False) -> dict:
    """Load the data of ``spec``, check or fit the generator, and write the report to ``out``.

    Args:
        spec: the data; with ``spec.test_split`` the held-out part is the test set.
        out: the report folder (a generator fitted here goes to ``out/generator``).
        model: a ``model.safetensors`` fitted on the same training split (checked), or
        fit: a :class:`~cgan_augment.TrainConfig` to fit the generator on the training split here;
            a report whose arms include no synthetic arm needs neither.
        test: separate test data (folder, ``.npz`` or ``builtin:``) instead of ``spec.test_split``.
        config: the report settings. oracle: add the oracle arm, trained on the training split
            before the long tail (needs ``spec.imbalance``).
        device, on_progress, resume: as in :func:`run_report`; ``on_progress`` also gets stage
            ``"fit"``. force: replace a generator already in ``out/generator``.

    Returns:
        The report as a dict.

    Raises:
        ConfigError: neither or both of ``model`` and ``fit``, of ``test`` and ``spec.test_split``;
            ``oracle`` without ``spec.imbalance``. DataError: a model that saw the test images.
    """
    needs_generator = any(a in SYNTHETIC_ARMS for a in config.arms)
    if (model is not None and fit is not None) or (needs_generator and model is None and fit is None):
        raise ConfigError("give exactly one of --model MODEL (a fitted model.safetensors) and --fit (fit one here); "
                          "only a report without synthetic arms needs neither.")
    if (test is None) == (spec.test_split is None):
        raise ConfigError("the report needs exactly one source of held-out test data: --test TESTDATA or --test-split 0.2.")
    if oracle and spec.imbalance is None:
        raise ConfigError("--oracle needs --imbalance: the oracle arm trains on the training split before the long tail.")
    device = resolve_device(device)
    out = Path(out)
    loaded = load_data(spec)
    train = loaded.train
    test_ds = loaded.test if test is None else _load_test(spec, test, train)
    generator = None
    if model is not None:
        meta = read_metadata(model)
        check_model_split(meta, spec, train, test, name=str(model))
        generator = load_generator(model, device=device)
    _make_dir(out)  # only once the inputs are known good: a refused run leaves no empty folder behind
    if fit is not None:
        generator = _fit_or_reuse(train, spec, fit, out / "generator", device, resume, force, on_progress)
    oracle_ds = load_data(replace(spec, imbalance=None)).train if oracle else None
    info = dict(spec.to_dict(), test=test, skipped=loaded.skipped, model=str(model) if model else (str(out / "generator" / "model.safetensors") if fit else None))
    return run_report(train, test_ds, generator, config, oracle=oracle_ds, out=out, device=device,
                      on_progress=on_progress, resume=resume, data_info=info)


# ----------------------------------------------------------------------------- demo

# The digits are 8×8 at heart; 16×16 keeps every detail and costs a third of 28×28.
DEMO_SPEC = DataSpec("builtin:digits", image_size=16, test_split=0.3, imbalance=20, seed=0)


def demo_settings():
    """(DataSpec, TrainConfig, ReportConfig) of :func:`run_demo`, sized to finish in under 5 minutes
    on 2 CPU cores: a width-16 DCGAN for 1,000 steps, the CNN for 400 steps per arm, 3 seeds."""
    from .train import TrainConfig

    fit = TrainConfig(family="dcgan", width=16, steps=1000, sample_every=250, checkpoint_every=1000)
    config = ReportConfig(steps=400, seeds=(0, 1, 2))
    return DEMO_SPEC, fit, config


def run_demo(out: Union[str, Path] = "runs/demo", *, device: Union[str, torch.device] = "auto",
         on_progress: Optional[Progress] = None, resume: bool = False) -> dict:
    """The whole story on the bundled digits: long-tailed train split (imbalance 20), held-out
    stratified test split (30%), fit a generator, report every arm including the oracle."""
    spec, fit, config = demo_settings()
    return make_report(spec, out, fit=fit, config=config, oracle=True, device=device, on_progress=on_progress,
                  resume=resume, force=True)
