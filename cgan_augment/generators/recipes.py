"""A family's recipe as the model file stores it, without torch (the command line reads it too).

A recipe is a family's frozen config dataclass (:class:`~cgan_augment.TrainConfig` for the GAN
families, :class:`~cgan_augment.DeformConfig`, ...) whose ``family`` (a field or a class attribute)
names its family. The model file's ``train_config`` is ``{"family": ..., **the recipe's fields}``.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass

from ..errors import ConfigError

__all__ = ["recipe_dict", "family_name"]


def family_name(config) -> str:
    """The family a recipe belongs to (its ``family``)."""
    name = getattr(config, "family", None)
    if not is_dataclass(config) or isinstance(config, type) or not isinstance(name, str) or not name:
        raise ConfigError(f"a generator recipe is a family's config dataclass (TrainConfig, DeformConfig, ...). Got {config!r}.")
    return name


def recipe_dict(config) -> dict:
    """``{"family": ..., **fields}``: the recipe as the model file's ``train_config`` holds it."""
    return {"family": family_name(config), **asdict(config)}
