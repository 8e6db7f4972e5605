"""Class-conditional generators and discriminators.

Three built-in families (another one adds its class with :func:`register_generator`):

* ``mlp``: Mirza & Osindero (2014): noise joined with a label embedding, MLP generator with
  BatchNorm; MLP discriminator with dropout, the label embedding joined to the flattened image.
* ``dcgan``: a convolutional generator with the label through an embedding and conditional
  BatchNorm, and a convolutional discriminator with spectral normalisation and a projection head
  for the label (Miyato & Koyama 2018).
* ``deform``: exemplar-conditioned: a stored training image of the class, moved by a smooth warp
  drawn from a distribution learned on same-class pairs of the large classes (``deform.py`` fits it).
  It has no discriminator.

Images between modules are float32 N×C×H×W in [0, 1]; the networks work in [-1, 1] and convert
once, at their boundary.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm

from .._util.devices import resolve_device
from .._util.warps import warp_by_params
from ..errors import ConfigError

__all__ = ["Generator", "build_generator", "build_discriminator", "register_generator", "generator_class"]


def _upsampling_plan(image_size: int) -> tuple[int, int]:
    """(number of 2× up/down-sampling stages, side of the smallest feature map)."""
    side, stages = image_size, 0
    while side % 2 == 0 and side // 2 >= 4:
        side, stages = side // 2, stages + 1
    if stages == 0:
        raise ConfigError(f"image_size {image_size} is too small or odd for the dcgan family; use a multiple of 4 such as 28, 32 or 64.")
    return stages, side


class Generator(nn.Module):
    """Base of all generators: maps noise ``z`` (N×z_dim) and labels ``y`` (N,) to images in [0, 1].

    ``classes``, ``image_size``, ``channels`` and ``z_dim`` describe what it makes; ``metadata`` holds
    what the model file recorded (training counts, config, data spec).

    A family's class sets ``family`` (its name), a ``width`` attribute (an int the model file
    stores; its meaning is the family's), ``arch_extras`` (further constructor arguments the model
    file stores), takes ``(num_classes, image_size, channels, z_dim=, width=, **arch_extras)``, keeps
    all its state in parameters and buffers, and implements ``net_forward`` (output in [-1, 1]) or
    ``forward`` (in [0, 1]); one with no parameters overrides ``device``.
    """

    family = ""
    arch_extras: dict = {}  # arch keys a family adds to the base ones in the model file, with their largest value

    def __init__(self, num_classes: int, image_size: int, channels: int, z_dim: int):
        super().__init__()
        self.num_classes, self.image_size, self.channels, self.z_dim = num_classes, image_size, channels, z_dim
        self.classes: list[str] = [str(k) for k in range(num_classes)]
        self.metadata: dict = {}

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.net_forward(z, y) + 1) / 2  # tanh output [-1, 1] -> [0, 1]

    def net_forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def class_index(self, label: Union[int, str]) -> int:
        """Index of a class given by name (str) or by index (int, numpy int)."""
        if isinstance(label, str):
            if label in self.classes:
                return self.classes.index(label)
        elif _is_whole(label):
            if 0 <= label < self.num_classes:
                return int(label)
        else:
            raise ConfigError(f"a class is a name (str) or an index (int). Got {label!r} ({type(label).__name__}).")
        raise ConfigError(f"unknown class {label!r}; this generator knows {self.classes}.")

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """Images for chosen noise: ``z`` (N×z_dim) and labels ``y`` (N,), both on the generator's
        device; returns float N×C×H×W in [0, 1], made in eval mode. Latent walks go through here.

        The hook for families with other inputs: they hold those fixed, chosen by ``seed``, so that
        only ``z`` moves (an exemplar-conditioned family uses one exemplar per class for all of it).
        """
        was_training = self.training
        self.eval()
        try:
            return self(z, y).clamp_(0, 1)
        finally:
            self.train(was_training)

    @torch.no_grad()
    def sample(self, labels: Union[str, Sequence, torch.Tensor, Mapping], seed: Optional[int] = None,
               batch_size: int = 1024, device: Union[str, torch.device, None] = None) -> torch.Tensor:
        """Generate images for ``labels``: one class name, a sequence of class names or indices, an
        integer tensor of indices, or ``{class: count}`` with whole counts >= 1.

        Returns a float32 tensor N×C×H×W in [0, 1] on ``device`` (default: the generator's).
        The same ``seed`` gives the same images for the same labels, batch size and device.
        """
        if isinstance(labels, str):
            labels = [labels]  # one class name, not a sequence of characters
        if isinstance(labels, Mapping):
            bad = next(((c, n) for c, n in labels.items() if not _is_whole(n) or n < 1), None)
            if bad:
                raise ConfigError(f"the count for class {bad[0]!r} should be a positive whole number of images. Got {bad[1]!r}.")
            y = [self.class_index(c) for c, n in labels.items() for _ in range(int(n))]
        elif isinstance(labels, torch.Tensor):
            if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
                raise ConfigError(f"a labels tensor should hold integer class indices. Got dtype {str(labels.dtype).replace('torch.', '')}.")
            y = labels.reshape(-1).tolist()
        elif _is_whole(labels):
            raise ConfigError(f"labels should be a sequence of classes (names or indices) or a dict {{class: count}}. "
                              f"Got the single number {labels!r}: pass [{labels!r}] for one image of class {labels!r}, "
                              f"or {{{labels!r}: n}} for n images of it.")
        elif not isinstance(labels, Iterable):
            raise ConfigError(f"labels should be a class name, a sequence of classes (names or indices) or a dict "
                              f"{{class: count}}. Got {labels!r} ({type(labels).__name__}).")
        else:
            y = [self.class_index(c) for c in labels]
        device = _normalise(resolve_device(device)) if device is not None else self.device
        if _normalise(self.device) != device:
            raise ConfigError(f"generator is on {self.device} but samples were asked on {device}; move it with .to({str(device)!r}).")
        y = torch.as_tensor(y, dtype=torch.int64, device=device)
        if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
            raise ConfigError(f"labels must lie in 0..{self.num_classes - 1}.")
        gen = torch.Generator(device=device)
        if seed is None:
            gen.seed()  # a fresh non-deterministic seed for this generator only (torch.seed() reseeds the caller's global RNG)
        else:
            gen.manual_seed(seed)
        was_training = self.training
        self.eval()
        out = torch.empty(len(y), self.channels, self.image_size, self.image_size, device=device)
        for start in range(0, len(y), batch_size):
            yb = y[start:start + batch_size]
            z = torch.randn(len(yb), self.z_dim, generator=gen, device=device)
            out[start:start + len(yb)] = self(z, yb).clamp_(0, 1)
        self.train(was_training)
        return out


def _is_whole(x) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _normalise(device: torch.device) -> torch.device:
    """``cuda`` and ``cuda:0`` name the same device; compare them as equal."""
    if device.type in ("cuda", "mps") and device.index is None:
        return torch.device(device.type, torch.cuda.current_device() if device.type == "cuda" else 0)
    return device


# ----------------------------------------------------------------------------- mlp


class MLPGenerator(Generator):
    family = "mlp"

    def __init__(self, num_classes: int, image_size: int, channels: int, z_dim: int = 64, width: int = 64):
        super().__init__(num_classes, image_size, channels, z_dim)
        self.width = width
        hidden = 4 * width
        self.embed = nn.Embedding(num_classes, z_dim)
        self.net = nn.Sequential(
            nn.Linear(2 * z_dim, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * hidden), nn.BatchNorm1d(2 * hidden), nn.LeakyReLU(0.2),
            nn.Linear(2 * hidden, channels * image_size * image_size), nn.Tanh(),
        )

    def net_forward(self, z, y):
        x = self.net(torch.cat([z, self.embed(y)], 1))
        return x.view(-1, self.channels, self.image_size, self.image_size)


class MLPDiscriminator(nn.Module):
    def __init__(self, num_classes: int, image_size: int, channels: int, width: int = 64):
        super().__init__()
        hidden = 4 * width
        self.embed = nn.Embedding(num_classes, 32)
        self.net = nn.Sequential(
            nn.Linear(channels * image_size * image_size + 32, 2 * hidden), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2), nn.Dropout(0.3),
            nn.Linear(hidden, 1),
        )

    def forward(self, x, y):
        """x: N×C×H×W in [-1, 1]; returns logits (N,)."""
        return self.net(torch.cat([x.flatten(1), self.embed(y)], 1)).squeeze(1)


# ----------------------------------------------------------------------------- dcgan


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are looked up per class (as in SNGAN / BigGAN generators)."""

    def __init__(self, num_features: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x, y):
        return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class ConvGenerator(Generator):
    family = "dcgan"

    def __init__(self, num_classes: int, image_size: int, channels: int, z_dim: int = 64, width: int = 32):
        super().__init__(num_classes, image_size, channels, z_dim)
        self.width = width
        stages, self.base = _upsampling_plan(image_size)
        widths = [width * 2 ** (stages - i) for i in range(stages + 1)]  # e.g. 4w, 2w, w
        self.embed = nn.Embedding(num_classes, z_dim)
        self.fc = nn.Linear(2 * z_dim, widths[0] * self.base * self.base)
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(c, num_classes) for c in widths)
        self.convs = nn.ModuleList(nn.Conv2d(widths[i], widths[i + 1], 3, padding=1) for i in range(stages))
        self.to_image = nn.Conv2d(widths[-1], channels, 3, padding=1)

    def net_forward(self, z, y):
        h = self.fc(torch.cat([z, self.embed(y)], 1)).view(len(z), -1, self.base, self.base)
        for norm, conv in zip(self.norms, self.convs):
            h = conv(F.interpolate(F.relu(norm(h, y)), scale_factor=2, mode="nearest"))
        return torch.tanh(self.to_image(F.relu(self.norms[-1](h, y))))


class ConvDiscriminator(nn.Module):
    """Spectral-norm convolutional discriminator with a projection head: logit = ψ(h) + ⟨embed(y), h⟩."""

    def __init__(self, num_classes: int, image_size: int, channels: int, width: int = 32):
        super().__init__()
        stages, _ = _upsampling_plan(image_size)
        layers, c = [spectral_norm(nn.Conv2d(channels, width, 3, padding=1)), nn.LeakyReLU(0.2)], width
        for _ in range(stages):
            layers += [spectral_norm(nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
                       spectral_norm(nn.Conv2d(2 * c, 2 * c, 3, padding=1)), nn.LeakyReLU(0.2)]
            c *= 2
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(c, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, c))

    def forward(self, x, y):
        """x: N×C×H×W in [-1, 1]; returns logits (N,)."""
        h = self.features(x).sum(dim=(2, 3))  # (N, c): global sum pooling
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(1)


# ----------------------------------------------------------------------------- deform


class DeformGenerator(Generator):
    """G(x, z, y): a training image x of class y (stored in the model, uint8) warped by
    ``warp_mean + temperature · warp_scale_tril @ z[:, :-1]`` (see ``transforms.warp_by_params``).

    ``width`` is the side of the warp's control grid, ``z_dim`` = 6 + 2·width² + 1: the last noise
    entry picks the exemplar of class y (through the normal CDF), so ``sample`` works as for every
    family and a walk over the other entries keeps the exemplar fixed. Classes need >= 1 exemplar.
    """

    family = "deform"
    arch_extras = {"exemplars": 10_000_000}

    def __init__(self, num_classes: int, image_size: int, channels: int, z_dim: int, width: int = 5, exemplars: int = 1):
        super().__init__(num_classes, image_size, channels, z_dim)
        self.width, self.exemplars = width, exemplars
        dim = 6 + 2 * width * width
        if z_dim != dim + 1:
            raise ConfigError(f"the deform family with a {width}×{width} warp grid needs z_dim {dim + 1}. Got {z_dim}.")
        self.register_buffer("warp_mean", torch.zeros(dim))
        self.register_buffer("warp_scale_tril", torch.zeros(dim, dim))
        self.register_buffer("temperature", torch.ones(()))
        self.register_buffer("exemplar_images", torch.zeros(exemplars, channels, image_size, image_size, dtype=torch.uint8))
        self.register_buffer("exemplar_labels", torch.zeros(exemplars, dtype=torch.int64))

    @property
    def device(self) -> torch.device:
        return self.warp_mean.device

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        counts = torch.bincount(self.exemplar_labels, minlength=self.num_classes)
        if bool((counts[y] == 0).any()):
            missing = int(y[counts[y] == 0][0])
            raise ConfigError(f"class {self.classes[missing]!r} has no exemplar in this deform model; refit it with images of that class.")
        start = torch.cumsum(counts, 0) - counts  # exemplars are stored sorted by class
        u = torch.special.ndtr(z[:, -1]).clamp(0, 1 - 1e-7)
        idx = start[y] + (u * counts[y]).long()
        return self.vary(self.exemplar_images.index_select(0, idx).float().div_(255), z[:, :-1])

    @torch.no_grad()
    def decode(self, z: torch.Tensor, y: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """As :meth:`Generator.decode`, with the exemplar held fixed: the last noise entry (which
        picks it) is replaced by one value per class drawn from ``seed``, so a walk moves the warp only."""
        pick = torch.randn(self.num_classes, generator=torch.Generator().manual_seed(seed)).to(z.device)
        return super().decode(torch.cat([z[:, :-1], pick[y][:, None]], 1), y, seed)

    def vary(self, x: torch.Tensor, z: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Variants of images ``x`` (N×C×H×W in [0, 1], on this model's device): one drawn warp each,
        from ``z`` (N × (z_dim - 1)) or from standard normal noise drawn with ``generator``."""
        if z is None:
            z = torch.randn(len(x), self.z_dim - 1, generator=generator, device=x.device)
        params = self.warp_mean + self.temperature * z @ self.warp_scale_tril.T
        return warp_by_params(x, params, self.width).clamp_(0, 1)


# The generator classes by family: what a model file is rebuilt from (``model_file.load_generator``).
# A family that is not built in adds its class with :func:`register_generator`.
_GENERATORS: dict = {"mlp": MLPGenerator, "dcgan": ConvGenerator, "deform": DeformGenerator}
_DISCRIMINATORS = {"mlp": MLPDiscriminator, "dcgan": ConvDiscriminator}


def register_generator(cls: type) -> type:
    """Make model files of the family ``cls.family`` loadable: ``build_generator`` builds ``cls``
    from the file's arch (the base keys plus ``cls.arch_extras``). Returns ``cls`` (a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Generator) and isinstance(cls.family, str) and cls.family):
        raise ConfigError(f"a generator class is a Generator subclass with a non-empty 'family' name. Got {cls!r}.")
    known = _GENERATORS.get(cls.family)
    if known is not None and known is not cls:
        raise ConfigError(f"the family {cls.family!r} already has the generator class {known.__name__}.")
    _GENERATORS[cls.family] = cls
    return cls


def generator_class(family: str) -> type:
    """The :class:`Generator` subclass of ``family``."""
    if not isinstance(family, str) or family not in _GENERATORS:  # a forged model file's family may be anything
        raise ConfigError(f"family should be one of {', '.join(_GENERATORS)}. Got {family!r}.")
    return _GENERATORS[family]


def build_generator(family: str, num_classes: int, image_size: int, channels: int, z_dim: int, width: int,
                    **family_args) -> Generator:
    """A fresh generator of ``family``; the arguments are what the model file stores to rebuild it
    (``family_args``: the class's ``arch_extras``, e.g. ``exemplars`` for ``deform``)."""
    return generator_class(family)(num_classes, image_size, channels, z_dim=z_dim, width=width, **family_args)


def build_discriminator(family: str, num_classes: int, image_size: int, channels: int, width: int) -> nn.Module:
    """A fresh discriminator of ``family`` taking images in [-1, 1] and labels, giving logits (N,)."""
    generator_class(family)
    if family not in _DISCRIMINATORS:
        raise ConfigError(f"the {family} family has no discriminator: it is not trained adversarially.")
    return _DISCRIMINATORS[family](num_classes, image_size, channels, width=width)
