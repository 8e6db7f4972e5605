"""The synthetic plan: how many generated items each class gets.

:func:`synthetic_plan` turns a flexible ``target`` (``"balance"``, a ratio, a dict or a callable)
into one canonical per-class plan, the way imbalanced-learn resolves ``sampling_strategy``; real
items are never dropped. :func:`format_plan` prints it as a table.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Callable, Optional, Sequence, Union

from .errors import ConfigError

__all__ = ["synthetic_plan", "format_plan", "TARGET_FORMS", "Target"]

TARGET_FORMS = "'balance', a float in (0, 1], a dict {class: wanted_total} or a callable counts -> dict"

Target = Union[str, float, Mapping, Callable[[dict], Mapping]]


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def synthetic_plan(class_counts: Union[Sequence[int], Mapping[str, int]], target: Target = "balance",
                   classes: Optional[Sequence[str]] = None) -> dict[str, dict[str, int]]:
    """Resolve ``target`` into how many synthetic items each class gets.

    Real items are never dropped: a class only ever gains items.

    Args:
        class_counts: real items per class, a sequence in class-index order or a mapping
            ``{class name: count}`` (its order is the class order).
        target: ``"balance"`` (every class topped up to the largest), a float ``r`` in (0, 1]
            (every class topped up to at least ``ceil(r × largest)``), a dict
            ``{class: wanted_total}`` (classes by name or index; classes not named are left as they
            are), or a callable given ``{class name: count}`` and returning such a dict.
        classes: class names for a sequence of counts (default ``"0"``, ``"1"``, …).

    Returns:
        ``{class name: {"real": n, "synthetic": m, "total": n + m}}`` in class order.

    Raises:
        ConfigError: a target of another form, a ratio outside (0, 1], a dict naming an unknown
            class, a count that is not a positive whole number or is below the real count.
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
    counts = [int(n) for n in counts]
    n_max = max(counts)

    if callable(target) and not isinstance(target, (str, Mapping)):
        wanted = target(dict(zip(names, counts)))
        if not isinstance(wanted, Mapping):
            raise ConfigError(f"When 'target' is a callable, it should return a dict {{class: wanted_total}}. "
                              f"Got {type(wanted).__name__} instead.")
        totals = _totals_from_dict(wanted, names, counts, "returned by the 'target' callable")
    elif isinstance(target, str):
        if target != "balance":
            raise ConfigError(f"When 'target' is a string, it should be 'balance'. Got {target!r} instead.")
        totals = [n_max] * len(counts)
    elif isinstance(target, numbers.Real) and not isinstance(target, bool):
        r = float(target)
        if not 0 < r <= 1:
            raise ConfigError(f"When 'target' is a float, it should be in the range (0, 1]. Got {target} instead.")
        floor = math.ceil(round(r * n_max, 9))  # round first: 0.3 * 10 is 3.0000000000000004, not 4
        totals = [max(n, floor) for n in counts]
    elif isinstance(target, Mapping):
        totals = _totals_from_dict(target, names, counts, "in 'target'")
    else:
        raise ConfigError(f"'target' should be {TARGET_FORMS}. Got {type(target).__name__} instead.")
    return {c: {"real": n, "synthetic": t - n, "total": t} for c, n, t in zip(names, counts, totals)}


def _totals_from_dict(wanted: Mapping, names: list[str], counts: list[int], where: str) -> list[int]:
    totals = list(counts)
    for key, value in wanted.items():
        if isinstance(key, str) and key in names:
            k = names.index(key)
        elif _is_int(key) and 0 <= key < len(names):
            k = int(key)
        else:
            raise ConfigError(f"Class {key!r} {where} is not a class of the data; the classes are {names}.")
        if not _is_int(value) or value <= 0:
            raise ConfigError(f"The wanted total for class {names[k]!r} {where} should be a positive whole number. "
                              f"Got {value!r} instead.")
        if value < counts[k]:
            raise ConfigError(f"The wanted total for class {names[k]!r} {where} is {value}, below its {counts[k]} "
                              f"real items; real items are never dropped, so ask for at least {counts[k]}.")
        totals[k] = int(value)
    return totals


def format_plan(plan: Mapping[str, Mapping[str, int]]) -> str:
    """The plan as a fixed-width text table (one row per class and a total row)."""
    rows = [(str(c), p["real"], p["synthetic"], p["total"]) for c, p in plan.items()]
    rows.append(("total", *(sum(r[i] for r in rows) for i in (1, 2, 3))))
    w = max(5, *(len(r[0]) for r in rows))
    lines = [f"{'class':<{w}}  {'real':>8}  {'synthetic':>9}  {'total':>8}"]
    lines += [f"{c:<{w}}  {a:>8}  {b:>9}  {t:>8}" for c, a, b, t in rows]
    return "\n".join(lines)
