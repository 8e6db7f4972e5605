"""The synthetic plan: how many generated items each class gets, in one vocabulary everywhere.

:func:`resolve_sampling_strategy` turns imbalanced-learn's ``sampling_strategy`` forms (a string,
a float, a dict, a callable) into one canonical ``{class: n_to_add}``. The same forms are accepted by
``CGANOverSampler(sampling_strategy=...)``, ``SyntheticDataset(target=...)`` (through
:func:`synthetic_plan`, which adds class names and indices as keys) and ``cgan-augment augment
--target`` (through :func:`parse_target`, without callables). Real items are never dropped.
:func:`format_plan` prints a plan as a table.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Callable, Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError

__all__ = ["resolve_sampling_strategy", "synthetic_plan", "parse_target", "format_plan",
           "STRATEGY_STRINGS", "TARGET_FORMS", "Target"]

STRATEGY_STRINGS = ("auto", "minority", "not minority", "not majority", "all", "balance")
TARGET_FORMS = ("'auto', 'minority', 'not minority', 'not majority', 'all' (or 'balance'), a float in (0, 1], "
                "a dict {class: wanted_total} or a callable y -> such a dict")

Target = Union[str, float, Mapping, Callable[[np.ndarray], Mapping]]


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _plain(c):
    """numpy scalars as Python values, so messages read ``'a'``/``3`` rather than ``np.str_('a')``."""
    return c.item() if isinstance(c, np.generic) else c


def resolve_sampling_strategy(counts: Mapping, strategy: Target, y=None, *, name: str = "sampling_strategy") -> dict:
    """Turn ``strategy`` into ``{class: n_to_add}`` for the real ``counts`` (``{class: n}``, in class
    order; the result keeps that order). The forms are imbalanced-learn's, with its numbers:

    - ``"auto"`` / ``"not majority"``: every class but the majority up to the majority's count;
      ``"all"`` (or ``"balance"``): every class; ``"minority"``: the smallest class only;
      ``"not minority"``: every class but the smallest.
    - a float ``r`` in (0, 1]: every class but the majority up to ``floor(r × majority count)``.
      imbalanced-learn takes a float for two classes only and raises when a class is already
      above that; here any number of classes works, and such a class gets 0.
    - a dict ``{class: wanted_total}``: the classes named, up to their total (at least their count);
      a callable: called with ``y``, the label of every real item (built from ``counts``, grouped
      by class, when not given), returning such a dict.

    Args:
        name: the parameter's name in messages (``sampling_strategy``, ``target``, ``--target``).

    Raises:
        ConfigError: another form, a ratio outside (0, 1], a class not in ``counts``, or a wanted
            total that is not a whole number or is below the class's count.
    """
    classes = list(counts)
    if not classes:
        raise ConfigError(f"'{name}' needs at least one class to resolve. Got none.")
    sizes = [int(counts[c]) for c in classes]
    n_max = max(sizes)
    majority, minority = classes[sizes.index(n_max)], classes[sizes.index(min(sizes))]

    if isinstance(strategy, str):
        chosen = {"auto": lambda c: c != majority, "not majority": lambda c: c != majority,
                  "all": lambda c: True, "balance": lambda c: True,
                  "minority": lambda c: c == minority, "not minority": lambda c: c != minority}.get(strategy)
        if chosen is None:
            raise ConfigError(f"When '{name}' is a string, it should be one of {list(STRATEGY_STRINGS)}. "
                              f"Got {strategy!r} instead.")
        return {c: n_max - n for c, n in zip(classes, sizes) if chosen(c)}
    if isinstance(strategy, numbers.Real) and not isinstance(strategy, bool):
        if not 0 < float(strategy) <= 1:
            raise ConfigError(f"When '{name}' is a float, it should be in the range (0, 1]. Got {strategy} instead.")
        floor = math.floor(round(float(strategy) * n_max, 9))  # round first: 0.29 * 100 is 28.999999999999996
        return {c: max(0, floor - n) for c, n in zip(classes, sizes) if c != majority}
    if isinstance(strategy, Mapping):
        wanted, where = strategy, f"in '{name}'"
    elif callable(strategy):
        wanted = strategy(y if y is not None else np.repeat(np.array(classes, dtype=object), sizes))
        where = f"returned by the '{name}' callable"
        if not isinstance(wanted, Mapping):
            raise ConfigError(f"When '{name}' is a callable, it should return a dict {{class: wanted_total}}. "
                              f"Got {type(wanted).__name__} instead.")
    else:
        raise ConfigError(f"'{name}' should be {TARGET_FORMS}. Got {type(strategy).__name__} instead.")

    unknown = [k for k in wanted if k not in counts]
    if unknown:
        raise ConfigError(f"Class {_plain(unknown[0])!r} {where} is not a class of the data; the classes are "
                          f"{[_plain(c) for c in classes]}.")
    for k, total in wanted.items():
        if not _is_int(total) or total < 0:
            raise ConfigError(f"The wanted total for class {_plain(k)!r} {where} should be a whole number >= 0. "
                              f"Got {total!r} instead.")
        if total < counts[k]:
            raise ConfigError(f"The wanted total for class {_plain(k)!r} {where} should be at least its real count: "
                              f"there are {counts[k]} real items and {total} are asked (real items are never dropped).")
    return {c: int(wanted[c]) - int(counts[c]) for c in classes if c in wanted}


def synthetic_plan(class_counts: Union[Sequence[int], Mapping[str, int]], target: Target = "balance",
                   classes: Optional[Sequence[str]] = None) -> dict[str, dict[str, int]]:
    """Resolve ``target`` into how many synthetic items each class gets.

    Args:
        class_counts: real items per class, a sequence in class-index order or a mapping
            ``{class name: count}`` (its order is the class order).
        target: any form of :func:`resolve_sampling_strategy` (default ``"balance"``: every class
            up to the largest). Dict keys, also those a callable returns, are class names or
            indices; a callable gets the class name of every real item.
        classes: class names for a sequence of counts (default ``"0"``, ``"1"``, …).

    Returns:
        ``{class name: {"real": n, "synthetic": m, "total": n + m}}`` in class order.

    Raises:
        ConfigError: counts that are not whole numbers >= 0, or a bad ``target`` (see
            :func:`resolve_sampling_strategy`).
    """
    if isinstance(class_counts, Mapping):
        names, counts = [str(c) for c in class_counts], list(class_counts.values())
    else:
        counts = list(class_counts)
        names = [str(c) for c in classes] if classes is not None else [str(k) for k in range(len(counts))]
    if not counts:
        raise ConfigError("class_counts should name at least one class. Got none.")
    if len(names) != len(counts):
        raise ConfigError(f"classes should give one name per count: {len(counts)} counts. Got {len(names)} names.")
    if any(not _is_int(n) or n < 0 for n in counts):
        raise ConfigError(f"class_counts should be whole numbers >= 0. Got {counts}.")

    def by_name(wanted):
        """Keys given as class indices become names."""
        if not isinstance(wanted, Mapping):
            return wanted
        return {(names[k] if _is_int(k) and 0 <= k < len(names) else k): v for k, v in wanted.items()}

    if isinstance(target, Mapping):
        target = by_name(target)
    elif callable(target) and not isinstance(target, str):
        target = (lambda f: lambda y: by_name(f(y)))(target)
    added = resolve_sampling_strategy(dict(zip(names, (int(n) for n in counts))), target, name="target")
    return {c: {"real": int(n), "synthetic": added.get(c, 0), "total": int(n) + added.get(c, 0)}
            for c, n in zip(names, counts)}


def parse_target(text: str) -> Target:
    """The command line's ``--target``: a string form, a float, or ``name=total,name=total`` (a dict).

    Raises:
        ConfigError: a text of none of these forms.
    """
    text = text.strip()
    if text in STRATEGY_STRINGS:
        return text
    if "=" in text:
        wanted = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, _, value = part.partition("=")
            if not key.strip() or not value.strip().isdigit():
                raise ConfigError(f"--target as a dict should be NAME=TOTAL pairs separated by commas, such as "
                                  f"'cat=500,dog=300'. Got {text!r} instead.")
            wanted[key.strip()] = int(value)
        return wanted
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"--target should be {', '.join(map(repr, STRATEGY_STRINGS))}, a ratio in (0, 1] or "
                          f"NAME=TOTAL pairs ('cat=500,dog=300'). Got {text!r} instead.") from None


def format_plan(plan: Mapping[str, Mapping[str, int]]) -> str:
    """The plan as a fixed-width text table (one row per class and a total row)."""
    rows = [(str(c), p["real"], p["synthetic"], p["total"]) for c, p in plan.items()]
    rows.append(("total", *(sum(r[i] for r in rows) for i in (1, 2, 3))))
    w = max(5, *(len(r[0]) for r in rows))
    lines = [f"{'class':<{w}}  {'real':>8}  {'synthetic':>9}  {'total':>8}"]
    lines += [f"{c:<{w}}  {a:>8}  {b:>9}  {t:>8}" for c, a, b, t in rows]
    return "\n".join(lines)
