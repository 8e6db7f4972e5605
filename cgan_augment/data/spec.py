"""Where the data comes from and how it is prepared: :class:`DataSpec`, in a module without torch
(the command line reads its defaults for --help without loading torch)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Optional

from .._util.constraints import BOOL, Check, CheckedConfig, Interval, OneOf

__all__ = ["DataSpec"]


@dataclass(frozen=True)
class DataSpec(CheckedConfig):
    """Where the data comes from and how it is prepared; stored in the model file.

    Args:
        source: an ImageFolder directory, an ``.npz`` file, or ``builtin:digits`` / ``builtin:mnist5k`` / ``builtin:fashion5k``.
        image_size: side of the square images; ``None`` picks the smallest of 28/32/64 not below
            the median image side.
        channels: 1 or 3; ``None`` decides from the data (any colour image gives 3).
        imbalance: if set, the training part is made long-tailed: class k keeps
            ``round(n_max * imbalance ** (-k / (K - 1)))`` items (at least 1), drawn with ``seed``.
        test_split: if set, a stratified held-out test part (a fraction in (0, 1) or a count),
            drawn with ``seed`` before the long tail is applied.
        seed: seed of the split and the long-tail draw.
        skip_bad: skip unreadable images (and count them) instead of stopping at the first.
    """

    source: str
    image_size: Optional[int] = None
    channels: Optional[int] = None
    imbalance: Optional[float] = None
    test_split: Optional[float] = None
    seed: int = 0
    skip_bad: bool = False

    _parameter_constraints = {
        "source": [Check(lambda v: isinstance(v, str) and v, "a folder, an .npz file or builtin:NAME")],
        "image_size": [None, Interval(int, 4, 512)],
        "channels": [None, OneOf((1, 3))],
        "imbalance": [None, Interval(float, 1)],
        "test_split": [None, Check(lambda v: not isinstance(v, bool) and (0 < v < 1 or (v >= 1 and float(v).is_integer())),
                                   "a fraction in (0, 1) or a whole count")],
        "seed": [Interval(int)],
        "skip_bad": [BOOL],
    }

    def _normalise(self) -> None:
        if isinstance(self.source, os.PathLike):
            object.__setattr__(self, "source", os.fspath(self.source))

    def to_dict(self) -> dict:
        return asdict(self)
