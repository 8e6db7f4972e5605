"""The demo: the whole story on the bundled digits, paired per (seed, long-tail draw), in a few minutes
on a CPU (:func:`run_demo`, its settings in :func:`demo_settings`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional, Union

import torch

from .._util.devices import resolve_device
from .._util.files import check_output_folder, make_dir, write_manifest
from ..data.spec import DataSpec
from ..errors import ConfigError
from ..train import RunSettings, TrainConfig
from .config import Progress, ReportConfig
from .from_files import report_from_spec
from .outputs import _write_outputs
from .run import pool_reports

__all__ = ["run_demo", "demo_settings", "DEMO_SPEC"]


# The digits are 8×8 at heart; 16×16 keeps every detail and costs a third of 28×28.
DEMO_SPEC = DataSpec("builtin:digits", image_size=16, test_split=0.3, imbalance=20, seed=0)


def demo_settings(quick: bool = False, seeds: Optional[int] = None) -> tuple[DataSpec, TrainConfig, RunSettings, ReportConfig]:
    """(data, fit recipe, fit run settings, report settings) of :func:`run_demo`: the deform family
    (learned warps, the recommended generator; seconds to fit) and the CNN for 400 steps per arm,
    on 3 (seed, long-tail draw) pairs; ``quick``: 150 steps on 2 pairs (a smoke test, not a
    measurement). ``seeds`` sets the number of pairs. The report's ``seeds`` are the pairs' numbers."""
    if seeds is not None and (not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1):
        raise ConfigError(f"seeds should be a positive number of (seed, long-tail draw) pairs. Got {seeds!r}.",
                          cli_message=f"--seeds should be a positive number of (seed, long-tail draw) pairs. Got {seeds!r}.")
    fit = TrainConfig(family="deform")
    fit_run = RunSettings(sample_every=250, checkpoint_every=1000)
    steps, n = (150, 2) if quick else (400, 3)
    config = ReportConfig(steps=steps, seeds=tuple(range(seeds if seeds is not None else n)))
    return DEMO_SPEC, fit, fit_run, config


def run_demo(out: Union[str, Path] = "runs/demo", *, quick: bool = False, seeds: Optional[int] = None,
             device: Union[str, torch.device] = "auto", on_progress: Optional[Progress] = None, resume: bool = False,
             force: bool = False, should_stop: Optional[Callable[[], bool]] = None) -> dict:
    """The whole story on the bundled digits, paired per (seed, long-tail draw): for each pair r, the
    data drawn with seed r (a stratified 30 % test split, the rest made long-tailed at imbalance
    20), a generator fitted on its training part, every arm trained with seed r and tested; then
    one verdict over the pairs (:func:`~cgan_augment.report.run.pool_reports`).

    Writes ``out/draw_r/`` (each pair's report, generator, runs) and the pooled ``report.md``,
    ``report.json`` and ``recall_by_class.png`` in ``out``.

    Args:
        quick: fewer classifier steps and pairs; the verdict says so.
        seeds: the number of (seed, draw) pairs (default 3, quick 2).
        resume: reuse an earlier demo's finished runs and generators in ``out`` made with the same settings.
        force: redo an earlier demo in ``out``. A folder no demo wrote is never written into.

    Raises:
        OutputDirError: ``out`` holds something else, or an earlier demo without ``resume``/``force``.
    """
    spec, fit, fit_run, config = demo_settings(quick, seeds)
    device = resolve_device(device)
    out = Path(out)
    check_output_folder(out, "demo", force=force, resume=resume, can_resume=True, also_ours=("report.json",))
    make_dir(out)
    write_manifest(out, "demo", {"quick": quick, "pairs": list(config.seeds)})
    reports = []
    for i, r in enumerate(config.seeds):
        def progress(stage, done, total, detail, _i=i):
            if on_progress:
                on_progress(f"{stage} (pair {_i + 1}/{len(config.seeds)})", done, total, detail)

        reports.append(report_from_spec(replace(spec, seed=r), out / f"draw_{r}", fit=fit, fit_run=fit_run,
                                        config=replace(config, seeds=(r,)), oracle=True, device=device,
                                        on_progress=progress, resume=resume, force=force, should_stop=should_stop))
    label = f"quick demo, {len(config.seeds)} pairs × {config.steps} classifier steps: a smoke test, not a measurement" if quick else ""
    result = pool_reports(reports, config, label=label)
    result["files"] = _write_outputs(result, out, None, None, config)
    return result
