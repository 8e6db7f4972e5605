"""The report's classifiers: build one (built-in, or the user's factory), train it on an arm's
data under the recipe of :class:`ReportConfig` (optimiser, schedule, input normalisation) with the
arm's loss and mix step, predict, and score with sklearn.metrics."""

from __future__ import annotations

from typing import Callable, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from .arms import _ArmData, _augmenter
from .config import CLASSIFIERS, ReportConfig
from .factory import Normalize, build_user_model, load_factory
from .plugins import ArmContext

__all__ = ["build_classifier", "resolve_classifier"]


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


def resolve_classifier(config: ReportConfig, classifier: Union[str, Callable, None] = None) -> Union[str, Callable]:
    """The built-in name or the factory to build from: ``classifier`` (a factory or a name) if
    given, else ``config.classifier`` (a factory as ``package.module:function`` is imported here)."""
    chosen = config.classifier if classifier is None else classifier
    if isinstance(chosen, str):
        return chosen if chosen in CLASSIFIERS else load_factory(chosen)
    if not callable(chosen):
        raise ConfigError(f"classifier should be a built-in name or a factory function. Got {type(chosen).__name__}.")
    return chosen


def _build(classifier: Union[str, Callable], config: ReportConfig, channels: int, side: int, num_classes: int):
    """(the model the report trains, the network it wraps): a :class:`_Classifier` whose
    ``features`` start with the recipe's input normalisation, if any. A user's network is all
    ``features`` (its logits), with an identity head."""
    if isinstance(classifier, str):
        model = net = build_classifier(classifier, channels, side, num_classes)
    else:
        net = build_user_model(classifier, num_classes, channels, side)
        model = _Classifier(net, nn.Identity())
    if config.normalize_mean is not None:
        model.features = nn.Sequential(Normalize(config.normalize_mean, config.normalize_std, channels), model.features)
    return model, net


def _optimizer(model: nn.Module, config: ReportConfig):
    """The recipe's optimiser and learning-rate schedule (stepped once per optimiser step)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    else:
        kind = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        opt = kind(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.steps)
    elif config.schedule == "step":
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, [config.steps // 2, 3 * config.steps // 4], gamma=config.step_gamma)
    else:
        sched = None
    return opt, sched


def _train_classifier(data: _ArmData, config: ReportConfig, seed: int, shape: tuple, num_classes: int,
                      device: torch.device, tick: Callable[[int], None], classifier=None) -> nn.Module:
    """Train a fresh classifier on ``data`` for ``config.steps`` steps; everything drawn from
    ``seed``. ``classifier``: a built-in name or a factory (default ``config.classifier``), built
    under ``seed``."""
    channels, side = shape
    classifier = config.classifier if classifier is None else classifier
    augment = _augmenter(config, strong=data.augment == "strong-aug") if data.augment else None
    aug_rng = torch.Generator(device=device).manual_seed(seed)
    arm = data.arm
    loss_fn = arm.loss if arm is not None and arm.loss is not None else None
    mix = arm.mix if arm is not None else None
    counts = torch.bincount(data.labels, minlength=num_classes).float().to(device)
    ctx = ArmContext(counts, config, torch.Generator().manual_seed(seed + 7919), num_classes)  # the arm's own draws
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model = _build(classifier, config, channels, side, num_classes)[0].to(device)
        opt, sched = _optimizer(model, config)
        batches = data.batches(config.steps, config.batch_size, seed)
        model.train()
        done = 0
        for step, idx in enumerate(batches, start=1):
            x = data.images.index_select(0, idx).to(device).float().div_(255)  # (B, C, H, W) in [0, 1]
            y = data.labels.index_select(0, idx).to(device)
            if augment is not None:
                x = augment(x, aug_rng)  # one grid_sample per batch, on the device
            if mix is not None:
                x, y = mix(x, F.one_hot(y, num_classes).float(), ctx)  # (B, K) class probabilities
            logits = model(x)
            loss = F.cross_entropy(logits, y) if loss_fn is None else loss_fn(logits, y, ctx)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
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
