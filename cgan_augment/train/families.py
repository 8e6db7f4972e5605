"""Generator families behind one interface: a registry of families and :func:`fit_generator`, which
fits any of them from its recipe.

A family is three things: its recipe (a frozen config dataclass whose ``family`` names it), its
generator class (a :class:`~cgan_augment.Generator` subclass that the model file rebuilds; the
table of those is :mod:`cgan_augment.generators.networks`, so that loading a model needs no
trainer) and its ``fit``::

    fit(dataset, config, out, run, *, data_info, resume, force, on_step, should_stop) -> Generator

with the contract of :func:`fit_generator`. The GAN families (``dcgan``, ``mlp``; recipe
:class:`~cgan_augment.TrainConfig`) fit through the adversarial loop of this package; a family that
is not adversarial fits through its own module in :mod:`cgan_augment.generators` (``deform``:
:func:`~cgan_augment.generators.deform.fit_deform`). The registry lives here, above both, because
it names the GAN loop; adding a family is one module and one line in ``_FAMILIES`` (or, outside
the library, one :func:`register_family` call).

This module loads no torch: the command line reads the families and their recipes from it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from importlib import import_module
from pathlib import Path
from typing import Callable, Optional, Union

from ..errors import ConfigError
from ..generators.deform_config import DeformConfig
from ..generators.recipes import family_name, recipe_dict
from .config import GAN_FAMILIES, RunSettings, TrainConfig

__all__ = ["Family", "register_family", "families", "family", "family_of", "fit_generator", "default_recipe", "recipe_from_dict",
           "recipe_dict", "DEFAULT_RECIPE"]


@dataclass(frozen=True)
class Family:
    """One generator family: its ``name``, its recipe class ``config``, its ``fit`` (the function, or
    ``"module:function"`` imported on first use so that the registry loads no torch) and a line
    that says what it is (``--help`` shows it)."""

    name: str
    config: type
    fit: Union[str, Callable]
    summary: str = ""

    def fit_function(self) -> Callable:
        if isinstance(self.fit, str):
            module, name = self.fit.split(":")
            return getattr(import_module(module), name)
        return self.fit


_GAN_FIT = "cgan_augment.train.loop:fit_gan"
_FAMILIES = {
    "deform": Family("deform", DeformConfig, "cgan_augment.generators.deform:fit_deform",
                     "learned warps of each class's own images, the recommended family (seconds to fit)"),
    "dcgan": Family("dcgan", TrainConfig, _GAN_FIT, "a convolutional GAN with conditional BatchNorm and a projection discriminator"),
    "mlp": Family("mlp", TrainConfig, _GAN_FIT, "an MLP GAN, after Mirza & Osindero 2014"),
}
_BUILTIN = frozenset(_FAMILIES)
assert set(GAN_FAMILIES) <= _BUILTIN

# The recommended recipe: the family that the variation-transfer work measured best on digits
# (benchmarks/RESULTS.md, issue 11). `fit`, `report --fit` and the demo use it.
DEFAULT_RECIPE = DeformConfig()


def register_family(name: str, config: type, fit: Callable, *, generator: Optional[type] = None, summary: str = "") -> Family:
    """Add a family from outside the library: ``config`` its recipe class (a frozen dataclass whose
    ``family`` is ``name``), ``fit`` its fit function, ``generator`` its Generator subclass (so that
    its model files load). Registering the same family again replaces it.

    Raises:
        ConfigError: ``name`` is a built-in family, or ``config`` is not a dataclass naming ``name``.
    """
    if name in _BUILTIN:
        raise ConfigError(f"{name!r} is a built-in family; choose another name.")
    if not (isinstance(config, type) and is_dataclass(config) and getattr(config, "family", None) == name):
        raise ConfigError(f"a family's recipe is a dataclass whose 'family' is {name!r}. Got {config!r}.")
    if generator is not None:
        from ..generators.networks import register_generator

        register_generator(generator)
    _FAMILIES[name] = Family(name, config, fit, summary)
    return _FAMILIES[name]


def families() -> dict:
    """``{name: Family}`` of every family, built-in and registered."""
    return dict(_FAMILIES)


def family(name: str) -> Family:
    """The family named ``name``.

    Raises:
        ConfigError: no such family.
    """
    if not isinstance(name, str) or name not in _FAMILIES:
        raise ConfigError(f"family should be one of {', '.join(_FAMILIES)}. Got {name!r}.")
    return _FAMILIES[name]


def family_of(config) -> Family:
    """The family whose recipe ``config`` is.

    Raises:
        ConfigError: ``config`` is not a recipe (a family's config dataclass instance), names no
            registered family, or is of another class than its family's recipe.
    """
    entry = family(family_name(config))
    if not isinstance(config, entry.config):
        raise ConfigError(f"the {entry.name} family's recipe is a {entry.config.__name__}. Got a {type(config).__name__}.")
    return entry


def default_recipe(name: str):
    """The default recipe of the family ``name`` (for a GAN family, TrainConfig's defaults with that family)."""
    entry = family(name)
    return entry.config(family=name) if "family" in {f.name for f in fields(entry.config)} else entry.config()


def recipe_from_dict(values: dict):
    """The recipe from a model file's ``train_config`` (``{"family": ..., **fields}``); keys that are
    not settings of the family are ignored, missing ones take their defaults."""
    entry = family(values.get("family", "dcgan"))  # files written before deform stored "family" were GANs
    known = {f.name for f in fields(entry.config)}
    return entry.config(**{k: v for k, v in values.items() if k in known})


def fit_generator(dataset, config=DEFAULT_RECIPE, out: Union[str, Path, None] = None, run: RunSettings = RunSettings(), *,
                  data_info: Optional[dict] = None, resume: bool = False, force: bool = False,
                  on_step: Optional[Callable[[int, int, dict], None]] = None,
                  should_stop: Optional[Callable[[], bool]] = None):
    """Fit the generator family whose recipe ``config`` is, on ``dataset``, and return the generator
    (eval mode). The default is the recommended recipe, :data:`DEFAULT_RECIPE` (the deform family).

    Args:
        dataset: map-style dataset of ``(float C×H×W in [0, 1], int label)`` with ``classes``,
            ``targets``, ``image_size`` and ``channels`` (as :func:`cgan_augment.load_data` gives).
        config: the recipe: :class:`~cgan_augment.TrainConfig` (GAN families),
            :class:`~cgan_augment.DeformConfig`, or a registered family's.
        out: folder for ``model.safetensors`` (recipe and family in its ``train_config``),
            ``samples.png``, ``config.json`` and what else the family writes; ``None``: write nothing.
        run: the run settings (device, ...; a family reads those that apply to it).
        data_info: what to record about the data in the model file (e.g. the DataSpec as a dict).
        resume: continue the fit in ``out`` (same recipe and data); a family with no state between
            steps returns its finished model. force: replace a model in ``out`` / take over its lock.
        on_step: called with ``(step, total_steps, stats)`` as the fit goes.
        should_stop: polled as the fit goes; when true the fit stops, keeps what it can resume
            from, and raises :class:`~cgan_augment.TrainingInterrupted`.

    Every family locks ``out`` while it writes, and refuses an ``out`` that holds a model unless
    ``resume`` or ``force`` is given.

    Raises:
        ConfigError: ``config`` is not a registered family's recipe (or a setting is out of range).
        OutputDirError, DeviceError, TrainingDiverged, TrainingCollapsed: as the family's fit says
        (:func:`~cgan_augment.train_generator` for the GAN families).
    """
    entry = family_of(config)
    return entry.fit_function()(dataset, config, out, run, data_info=data_info, resume=resume, force=force,
                                on_step=on_step, should_stop=should_stop)
