"""Shared pieces of the click commands: error handling, the DATA flags, options whose defaults and
choices are read from the library (config dataclasses and signatures: defaults live there only),
and SIGINT/SIGTERM as a stop flag."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import signal
import sys
import threading
from typing import Callable

import click

from cgan_augment import DataSpec, RunSettings, TrainConfig
from cgan_augment._util.constraints import OneOf
from cgan_augment.errors import CGANAugmentError, TrainingInterrupted


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Our warnings as ``warning: ...``; any other library's as one ``note: ...`` line (no source line)."""
    from cgan_augment.errors import CGANAugmentWarning

    text = " ".join(str(message).split())
    if issubclass(category, CGANAugmentWarning):
        click.echo(f"\nwarning: {text}", err=True)
    else:
        click.echo(f"\nnote: {text} ({category.__name__})", err=True)


def user_errors(fn):
    """Print library errors as ``error: ...`` (exit 1), warnings as one line each, Ctrl-C as a
    short note (exit 130)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except CGANAugmentError as e:
            click.echo(f"error: {e.cli_message}", err=True)
            sys.exit(1)
        except TrainingInterrupted as e:
            click.echo(f"\n{e}", err=True)
            sys.exit(130)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            sys.exit(130)

    return wrapper


def default_of(owner, name: str):
    """The library's default of ``name``: a field of a config dataclass, or a parameter of a
    function or of a class's ``__init__`` (defaults live there and nowhere else). ``owner`` may be
    ``"module:name"``: the default is then read from that module's source, which is not imported
    (so that --help and argument errors answer without loading torch)."""
    if isinstance(owner, str):
        return _source_parameters(owner)[name]
    if dataclasses.is_dataclass(owner):
        return next(f.default for f in dataclasses.fields(owner) if f.name == name)
    return inspect.signature(owner.__init__ if isinstance(owner, type) else owner).parameters[name].default


@functools.lru_cache(maxsize=None)
def _source_parameters(target: str) -> dict:
    """``{parameter: default}`` (``inspect.Parameter.empty`` where none) of the function, or the
    class's ``__init__``, named by ``"module:name"``, read with ``ast`` from the module's source.
    Defaults an option shows must be literals (numbers, strings, tuples, None)."""
    import ast
    import importlib.util
    from pathlib import Path

    module, name = target.split(":")
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    node = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == name)
    if isinstance(node, ast.ClassDef):
        node = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    args = node.args
    positional = args.posonlyargs + args.args
    found = {a.arg: inspect.Parameter.empty for a in positional + args.kwonlyargs}
    def value(node):
        try:
            return ast.literal_eval(node)
        except ValueError:
            return _NOT_LITERAL  # e.g. ReportConfig(): never asked for by an option

    for a, d in zip(positional[len(positional) - len(args.defaults):], args.defaults):
        found[a.arg] = value(d)
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        if d is not None:
            found[a.arg] = value(d)
    found.pop("self", None)
    return found


class _NotLiteral:
    def __repr__(self):
        return "<a default that is not a literal>"


_NOT_LITERAL = _NotLiteral()


def _shown(value) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def config_option(owners, flag: str, help: str, field: str = "", dest: str = "", **kwargs):
    """A click option for ``field`` (default: the flag's name; the command receives it as ``dest``,
    default ``field``) of the first of ``owners`` (config dataclasses, classes or functions, or
    ``"module:name"`` for those of modules that load torch) that has it. Unset it stays None, so the library's own
    default applies (see :func:`given`); --help shows that default, and a field declared with a
    fixed set of values (``OneOf``) offers those as its choices."""
    field = field or flag.lstrip("-").replace("-", "_")
    owners = owners if isinstance(owners, (tuple, list)) else (owners,)
    owner = next(o for o in owners if _has(o, field))
    accepted = [c for c in getattr(owner, "_parameter_constraints", {}).get(field, []) if c is not None]
    if "type" not in kwargs and len(accepted) == 1 and isinstance(accepted[0], OneOf):
        kwargs["type"] = click.Choice([str(v) for v in accepted[0].values])
    default = default_of(owner, field)
    shown = f" [default: {_shown(default)}]" if default is not None else ""
    return click.option(flag, dest or field, help=help + shown, **kwargs)


def _has(owner, name: str) -> bool:
    if isinstance(owner, str):
        return name in _source_parameters(owner)
    if dataclasses.is_dataclass(owner):
        return any(f.name == name for f in dataclasses.fields(owner))
    return name in inspect.signature(owner.__init__ if isinstance(owner, type) else owner).parameters


def split_fit_options(options: dict) -> tuple[TrainConfig, RunSettings]:
    """The recipe and the run settings from the fit options the user set."""
    run_fields = {f.name for f in dataclasses.fields(RunSettings)}
    set_ = given(**options)
    return (TrainConfig(**{k: v for k, v in set_.items() if k not in run_fields}),
            RunSettings(**{k: v for k, v in set_.items() if k in run_fields}))


class StopOnSignal:
    """SIGINT/SIGTERM turned into a flag that the library polls as ``should_stop`` (a fit then
    writes a checkpoint and stops). While ``armed()`` is false (nothing polls the flag), or at a
    second signal, the signal interrupts at once (KeyboardInterrupt). Handlers are installed in
    the main thread only and restored on exit."""

    def __init__(self, armed: Callable[[], bool] = lambda: True):
        self.armed, self.requested, self.previous = armed, False, {}

    def __call__(self) -> bool:
        return self.requested

    def _handle(self, signum, frame):
        if self.requested or not self.armed():
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def given(**options) -> dict:
    """Only the options the user set, so the dataclass defaults apply to the rest."""
    return {k: v for k, v in options.items() if v is not None}


def data_options(fn):
    for decorator in reversed([
        click.argument("data"),
        click.option("--image-size", type=int, help="Side of the square images. [default: smallest of 28/32/64 not below the median image side]"),
        config_option(DataSpec, "--channels", "1 (grayscale) or 3 (RGB). [default: from the data]"),
        click.option("--imbalance", type=float, help="Make a long-tailed copy: largest/smallest class ratio R (class k keeps n_max·R^(-k/(K-1)))."),
        click.option("--test-split", type=float, help="Hold out a stratified test part (fraction, or a count if >= 1) that training never sees."),
        config_option(DataSpec, "--data-seed", "Seed of the test split and long-tail draw.", field="seed", dest="data_seed", type=int),
        click.option("--skip-bad", is_flag=True, help="Skip unreadable images (and count them) instead of stopping at the first."),
    ]):
        fn = decorator(fn)
    return fn


def data_spec(data, image_size, channels, imbalance, test_split, data_seed, skip_bad):
    return DataSpec(**given(source=data, image_size=image_size, channels=int(channels) if channels else None,
                            imbalance=imbalance, test_split=test_split, seed=data_seed), skip_bad=skip_bad)
