"""The user's own classifier: a factory ``make_model(num_classes, channels, image_size)`` that
returns a fresh ``nn.Module`` taking N×C×H×W floats in [0, 1] and giving (N, num_classes) logits.

On the command line it is named as ``package.module:function`` (the form uvicorn and gunicorn take),
imported from ``sys.path`` or the working folder. Every way it can be wrong (no such module, no such
attribute, not callable, it raises, it returns something that is not a module, or a module whose
output has the wrong shape) is one :class:`~cgan_augment.errors.ClassifierError` line naming it.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Callable, Optional, Union

import torch
import torch.nn as nn

from ..errors import ClassifierError, ConfigError

__all__ = ["load_factory", "check_model", "describe_classifier", "factory_name", "Normalize"]


def load_factory(spec: str) -> Callable:
    """The callable named by ``"package.module:function"`` (``function`` may be dotted:
    ``module:Class.method``), imported from ``sys.path`` plus the working folder."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ClassifierError(f"--classifier {spec!r}: give a factory as package.module:function (or cnn, logreg, resnet18).")
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):  # the module itself (or a package above it) is missing
            raise ClassifierError(f"--classifier {spec}: no module named {module_name!r} on sys.path or in the working "
                                  f"folder {cwd}.") from None
        raise ClassifierError(f"--classifier {spec}: importing {module_name} failed: {e}.") from None
    except Exception as e:  # noqa: BLE001 - the user's module: any failure is theirs to fix, in one line
        raise ClassifierError(f"--classifier {spec}: importing {module_name} raised {type(e).__name__}: {e}") from None
    finally:
        if added:
            sys.path.remove(cwd)
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ClassifierError(f"--classifier {spec}: module {module_name} has no attribute {attr!r}.")
        target = getattr(target, part)
    if not callable(target):
        raise ClassifierError(f"--classifier {spec}: {attr} is a {type(target).__name__}, not a function that makes a model.")
    return target


def factory_name(factory: Callable) -> str:
    """``module:qualname`` of a factory, as ``--classifier`` takes it."""
    return f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', type(factory).__qualname__)}"


def check_model(model, name: str, num_classes: int, channels: int, image_size: int) -> nn.Module:
    """``model`` if it is an ``nn.Module`` giving (2, ``num_classes``) logits for 2 images of
    C×H×W; else a :class:`ClassifierError` naming ``name`` and what is wrong. The check runs in
    eval mode without gradients (no BatchNorm statistic moves, no random number is drawn)."""
    if not isinstance(model, nn.Module):
        raise ClassifierError(f"classifier factory {name} returned {type(model).__module__}.{type(model).__qualname__}, "
                              "not a torch.nn.Module.")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.full((2, channels, image_size, image_size), 0.5, device=device)
    was_training = model.training
    try:
        with torch.no_grad():
            out = model.eval()(x)
    except Exception as e:  # noqa: BLE001 - the user's network: its failure goes into one line
        msg = " ".join(str(e).split())
        raise ClassifierError(f"classifier factory {name}: its model failed on a batch of 2×{channels}×{image_size}×"
                              f"{image_size} images: {type(e).__name__}: {msg}") from None
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ClassifierError(f"classifier factory {name}: its model's output for 2 images of {channels}×{image_size}×"
                              f"{image_size} is {got}; it must be (2, {num_classes}), one logit per class.")
    return model


def build_user_model(factory: Callable, num_classes: int, channels: int, image_size: int) -> nn.Module:
    """``factory(num_classes, channels, image_size)``, checked by :func:`check_model`."""
    name = factory_name(factory)
    try:
        model = factory(num_classes, channels, image_size)
    except ClassifierError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's factory
        msg = " ".join(str(e).split())
        raise ClassifierError(f"classifier factory {name} raised {type(e).__name__} when called as "
                              f"({num_classes}, {channels}, {image_size}): {msg}") from None
    return check_model(model, name, num_classes, channels, image_size)


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel: the input normalisation of the recipe."""

    def __init__(self, mean, std, channels: int):
        super().__init__()
        for what, v in (("normalize_mean", mean), ("normalize_std", std)):
            if len(v) not in (1, channels):
                raise ConfigError(f"{what} has {len(v)} values; the images have {channels} channel"
                                  f"{'s' if channels != 1 else ''}: give 1 or {channels}.")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return (x - self.mean) / self.std


def describe_classifier(model: nn.Module, classifier: Union[str, Callable], inner: Optional[nn.Module] = None) -> dict:
    """What the report records about the classifier: its name (the built-in name or the factory as
    ``module:function``), the model's class as ``module.QualName``, and its parameter count."""
    net = inner if inner is not None else model
    name = classifier if isinstance(classifier, str) else factory_name(classifier)
    return {"name": name, "builtin": isinstance(classifier, str) and ":" not in classifier,
            "model": f"{type(net).__module__}.{type(net).__qualname__}",
            "parameters": sum(p.numel() for p in net.parameters()),
            "trainable_parameters": sum(p.numel() for p in net.parameters() if p.requires_grad)}
