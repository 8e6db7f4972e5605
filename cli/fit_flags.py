"""The flags of ``fit``: every family's settings, read from its recipe dataclass (defaults live
there only), and the run settings; ``--help`` lists them under one heading per family.

Nothing here loads torch: the recipes and the registry of families are torch-free.
"""

from __future__ import annotations

import dataclasses

import click

from cgan_augment import DeformConfig, RunSettings, TrainConfig
from cgan_augment.errors import ConfigError
from cgan_augment.train.families import DEFAULT_RECIPE, families, family

from .options import config_option, given

GAN_SECTION = "GAN settings (--family dcgan or mlp)"
DEFORM_SECTION = "deform settings (--family deform, the default)"
RUN_SECTION = "Run settings (every family; a family ignores those that do not apply to it)"


class SectionOption(click.Option):
    """An option listed under the heading ``section`` in ``--help``."""

    def __init__(self, *args, section: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.section = section


class SectionedCommand(click.Command):
    """A command whose ``--help`` lists its options under their sections' headings ("Options" for
    those without one), in the order the sections first appear."""

    def format_options(self, ctx, formatter):
        groups: dict = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
            if record is not None:
                groups.setdefault(getattr(param, "section", "") or "Options", []).append(record)
        for title, rows in groups.items():
            with formatter.section(title):
                formatter.write_dl(rows)


def _option(owner, section: str):
    def make(flag, help, **kwargs):
        return config_option(owner, flag, help, cls=SectionOption, section=section, **kwargs)
    return make


def _family_help() -> str:
    return "Generator family. " + "; ".join(f"{name}: {entry.summary}" for name, entry in families().items()) + "."


_gan, _deform, _run = _option(TrainConfig, GAN_SECTION), _option(DeformConfig, DEFORM_SECTION), _option(RunSettings, RUN_SECTION)

FIT_FLAGS = [
    click.option("--family", type=click.Choice(list(families())), help=_family_help() + f" [default: {DEFAULT_RECIPE.family}]"),
    config_option(DeformConfig, "--seed", "Seed of the fit (every family's recipe has one: initialisation, batches, noise, pairs).", type=int),
    _gan("--loss", "GAN loss."),
    _gan("--steps", "Generator updates.", type=int),
    _gan("--batch-size", "Real images per discriminator update.", type=int),
    _gan("--lr", "Adam learning rate of both networks.", type=float),
    _gan("--width", "Channel width multiplier of both networks.", type=int),
    _gan("--ema-decay", "Decay of the moving average of generator weights.", type=float),
    _gan("--balanced/--no-balanced", "Draw real batches class-balanced.", field="balanced", default=None),
    _gan("--diffaugment", 'DiffAugment policy for the discriminator ("" for none).'),
    _gan("--mode-seeking", "Weight of the mode-seeking term against per-class collapse (0 turns it off).", type=float),
    _gan("--beta1", "Adam beta1 of both networks.", type=float),
    _gan("--beta2", "Adam beta2 of both networks.", type=float),
    _deform("--grid", "Side of the warp's control grid.", type=int),
    _deform("--temperature", "Scale of the drawn warps against the fitted distribution (lower: closer to the exemplar).", type=float),
    _deform("--pairs", "Same-class pairs registered to learn the warps.", type=int),
    _deform("--min-class-size", "Pairs come only from classes with at least this many images.", type=int),
    _deform("--registration-steps", "Adam steps of the registration.", type=int),
    _deform("--registration-lr", "Learning rate of the registration.", type=float),
    _deform("--smoothness", "Weight of the displacement penalty in the registration.", type=float),
    _deform("--sigma", "Blur (px) of both images in the registration loss.", type=float),
    _deform("--trim", "Fit the warp distribution to this fraction of the warps, dropping the most extreme.", type=float),
    _run("--sample-every", "Steps between sample grids.", type=int),
    _run("--checkpoint-every", "Steps between checkpoints.", type=int),
    _run("--log-every", "Steps between loss lines in log.jsonl.", type=int),
    _run("--workers", "DataLoader worker processes decoding images.", field="num_workers", type=int),
    _run("--device", "auto, cpu, cuda, cuda:N or mps (under torchrun: each process takes its LOCAL_RANK GPU)."),
    _run("--precision", "fp32, or bf16 (autocast; for GPUs)."),
    _run("--strict", "Stop with an error (exit 1) at the first mode-collapse or stall warning.", is_flag=True, default=None),
]


def fit_flags(fn):
    """Add :data:`FIT_FLAGS` to a command; it receives them as keyword arguments (None: not given)."""
    for decorator in reversed(FIT_FLAGS):
        fn = decorator(fn)
    return fn


def split_fit_options(options: dict, flags: dict):
    """(recipe, RunSettings) from the fit options the user set: the recipe of ``--family`` (default:
    the recommended one) with the settings given. ``flags`` maps option names to their flags, for
    the message.

    Raises:
        ConfigError: a setting of another family was given, or a value out of range.
    """
    set_ = given(**options)
    name = set_.pop("family", DEFAULT_RECIPE.family)
    run_fields = {f.name for f in dataclasses.fields(RunSettings)}
    entry = family(name)
    recipe_fields = {f.name for f in dataclasses.fields(entry.config)} - {"family"}
    foreign = [k for k in set_ if k not in run_fields | recipe_fields]
    if foreign:
        owners = [n for n, e in families().items() if foreign[0] in {f.name for f in dataclasses.fields(e.config)}]
        raise ConfigError(f"{flags.get(foreign[0], foreign[0])} is a setting of the {' and '.join(owners) or 'other'} "
                          f"famil{'ies' if len(owners) > 1 else 'y'}, not of {name}"
                          + (f" (the default family); add {flags.get('family', '--family')} {owners[0]} to fit that one."
                             if name == DEFAULT_RECIPE.family and owners else "."))
    recipe = {k: v for k, v in set_.items() if k in recipe_fields}
    if "family" in {f.name for f in dataclasses.fields(entry.config)}:
        recipe["family"] = name
    return entry.config(**recipe), RunSettings(**{k: v for k, v in set_.items() if k in run_fields})
