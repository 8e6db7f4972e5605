"""Progress of long work on stderr: click's bar on a terminal, plain lines anywhere else.

A bar redrawn in place is noise in a log file or CI output (and click draws nothing but the label
when stderr is not a terminal), so there each stage prints one plain line every ``every`` steps
(by default about 20 lines a stage) and at its end::

    fit: 250/1000 (25%) 41 s, about 2 min left  D 1.912  G 0.412  203 img/s
"""

from __future__ import annotations

import math
import sys
import time
from typing import Optional, TextIO

import click


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


class Progress:
    """``progress(stage, done, total, detail)``: one display per stage, in the order stages come.

    Args:
        file: where to write (default: stderr).
        every: steps between plain lines (default: a 20th of the stage's total).
        plain: force plain lines (``True``) or the bar (``False``); default: the bar on a terminal only.
    """

    def __init__(self, file: Optional[TextIO] = None, every: Optional[int] = None, plain: Optional[bool] = None):
        self.file = file or sys.stderr
        self.every = every
        self.plain = plain if plain is not None else not (hasattr(self.file, "isatty") and self.file.isatty())
        self.stage, self.bar = None, None

    def __call__(self, stage: str, done: int, total: int, detail: str = "") -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.started, self.printed = stage, time.monotonic(), 0
            if not self.plain:
                self.bar = click.progressbar(length=total, label=stage, show_pos=True, file=self.file,
                                             item_show_func=lambda s: s)
                self.bar.__enter__()
        if self.bar is not None:
            self.bar.current_item = detail
            self.bar.update(done - self.bar.pos)
            return
        every = self.every or max(1, math.ceil(total / 20))
        if done // every > self.printed // every or (done >= total and self.printed < total):
            self.printed = done
            elapsed = time.monotonic() - self.started
            left = f", about {_duration(elapsed / done * (total - done))} left" if 0 < done < total else ""
            percent = f" ({100 * done // total}%)" if total else ""
            click.echo(f"{stage}: {done}/{total}{percent} {_duration(elapsed)}{left}" + (f"  {detail}" if detail else ""),
                       file=self.file)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
