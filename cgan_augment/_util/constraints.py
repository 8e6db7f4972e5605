"""Accepted values of configuration fields, declared as data and checked once.

As imbalanced-learn's ``_parameter_constraints``: each config dataclass lists, per field, the
values it accepts (``None``, an :class:`Interval`, a :class:`OneOf`, or a :class:`Check`), and
its ``__post_init__`` calls :func:`check_fields`. The message names the field, what it accepts
and what it got: ``steps should be a positive integer. Got 0.``
"""

from __future__ import annotations

import math
import numbers
from dataclasses import fields
from typing import Any, Callable, ClassVar, Mapping, Optional, Sequence

from ..errors import ConfigError

__all__ = ["Interval", "OneOf", "Check", "check_fields", "CheckedConfig", "BOOL"]


class Interval:
    """Numbers of ``kind`` (``int`` or ``float``; bools never, floats finite) between ``low`` and
    ``high`` (``None``: unbounded); ``closed`` says which ends belong: both, left, right, neither."""

    def __init__(self, kind: type, low: Optional[float] = None, high: Optional[float] = None, closed: str = "both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def __call__(self, value) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral if self.kind is int else numbers.Real):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        return self.high is None or value < self.high or (value == self.high and self.closed in ("right", "both"))

    def __str__(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        if self.low is None and self.high is None:
            return noun
        if self.high is None:
            if self.low == 0 and self.closed in ("right", "neither"):
                return f"a positive {noun.split()[-1]}"
            if self.kind is int and self.low == 1:
                return "a positive integer"
            return f"{noun} {'>=' if self.closed in ('left', 'both') else '>'} {self.low:g}"
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        return f"{noun} in {left}{low}, {'inf' if self.high is None else f'{self.high:g}'}{right}"


class OneOf:
    """One of a fixed set of values (names of families, losses, arms...)."""

    def __init__(self, values: Sequence):
        self.values = tuple(values)

    def __call__(self, value) -> bool:
        return isinstance(value, type(self.values[0])) and value in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.values))


class Check:
    """Anything ``test`` accepts, described by ``description`` (e.g. a non-empty tuple of distinct arms)."""

    def __init__(self, test: Callable[[Any], bool], description: str):
        self.test, self.description = test, description

    def __call__(self, value) -> bool:
        try:
            return bool(self.test(value))
        except (TypeError, ValueError):
            return False

    def __str__(self) -> str:
        return self.description


def check_fields(obj, constraints: Mapping[str, Sequence]) -> None:
    """Raise :class:`~cgan_augment.errors.ConfigError` for the first field of ``obj`` whose value
    none of its accepted constraints takes (``None`` in the list accepts ``None``)."""
    for name, accepted in constraints.items():
        value = getattr(obj, name)
        if any(value is None if c is None else c(value) for c in accepted):
            continue
        what = " or ".join("None" if c is None else str(c) for c in accepted)
        raise ConfigError(f"{name} should be {what}. Got {value!r}.")


BOOL = Check(lambda v: isinstance(v, bool), "True or False")


class CheckedConfig:
    """Base of the frozen config dataclasses: ``__post_init__`` normalises (``_normalise``, e.g.
    lists to tuples) and then checks every field against ``_parameter_constraints``."""

    _parameter_constraints: ClassVar[dict] = {}

    def __post_init__(self):
        self._normalise()
        check_fields(self, self._parameter_constraints)

    def _normalise(self) -> None:
        """Bring values to their canonical type in place (``object.__setattr__``: frozen)."""

    @classmethod
    def from_dict(cls, values: Mapping):
        """From a saved dict (``report.json``, a model file); keys that are not fields are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})
