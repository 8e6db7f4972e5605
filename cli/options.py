"""Shared pieces of the click commands: error handling, the DATA flags, defaults shown from the
config dataclasses (defaults live there and nowhere else)."""

from __future__ import annotations

import functools
import sys
from dataclasses import fields

import click

from cgan_augment import DataSpec, TrainConfig
from cgan_augment.errors import CGANAugmentError, TrainingInterrupted


def user_errors(fn):
    """Print library errors as ``error: ...`` (exit 1); Ctrl-C as a short note (exit 130)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CGANAugmentError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(1)
        except TrainingInterrupted as e:
            click.echo(f"\n{e}", err=True)
            sys.exit(130)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)

    return wrapper


def default_of(cls, name: str) -> str:
    """The default of a config field, for --help (defaults live in the dataclass only)."""
    value = next(f.default for f in fields(cls) if f.name == name)
    return repr(value) if isinstance(value, str) else str(value)


def train_option(flag: str, help: str, field: str = "", **kwargs):
    """A fit option whose --help shows the TrainConfig default."""
    field = field or flag.lstrip("-").replace("-", "_")
    return click.option(flag, field, help=f"{help} [default: {default_of(TrainConfig, field)}]", **kwargs)


def given(**options) -> dict:
    """Only the options the user set, so the dataclass defaults apply to the rest."""
    return {k: v for k, v in options.items() if v is not None}


def data_options(fn):
    for decorator in reversed([
        click.argument("data"),
        click.option("--image-size", type=int, help="Side of the square images. [default: smallest of 28/32/64 not below the median image side]"),
        click.option("--channels", type=click.Choice(["1", "3"]), help="1 (grayscale) or 3 (RGB). [default: from the data]"),
        click.option("--imbalance", type=float, help="Make a long-tailed copy: largest/smallest class ratio R (class k keeps n_max·R^(-k/(K-1)))."),
        click.option("--test-split", type=float, help="Hold out a stratified test part (fraction, or a count if >= 1) that training never sees."),
        click.option("--data-seed", type=int, help=f"Seed of the test split and long-tail draw. [default: {default_of(DataSpec, 'seed')}]"),
        click.option("--skip-bad", is_flag=True, help="Skip unreadable images (and count them) instead of stopping at the first."),
    ]):
        fn = decorator(fn)
    return fn


def data_spec(data, image_size, channels, imbalance, test_split, data_seed, skip_bad):
    return DataSpec(**given(source=data, image_size=image_size, channels=int(channels) if channels else None,
                            imbalance=imbalance, test_split=test_split, seed=data_seed), skip_bad=skip_bad)
