"""From files and flags to a report: check that a model file never saw the test split, fit a
generator or reuse one, and :func:`report_from_spec`. With :mod:`.demo`, the report's only modules that
train a generator (they import :mod:`cgan_augment.train`)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Callable, Optional, Union

import torch

from .._util.devices import resolve_device
from .._util.output import OutputFolder
from ..data.load import load_data
from ..data.spec import DataSpec
from ..data.subsets import _fingerprint
from ..errors import ConfigError, DataError
from ..generators.model_file import load_generator, read_metadata
from ..train import RunSettings, fit_generator
from ..train.families import family_of, recipe_from_dict
from .config import Progress, ReportConfig
from .plugins import get_arm
from .run import _check_compatible, check_classifier, run_report

__all__ = ["report_from_spec", "check_model_split"]


def _same_source(a: str, b: str) -> bool:
    if a.startswith("builtin:") or b.startswith("builtin:"):
        return a == b
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_model_split(meta: dict, spec: DataSpec, train, test_source: Optional[str] = None, name: str = "MODEL") -> None:
    """Refuse a generator that saw the report's test images, or other training images than ``train``.

    Args:
        meta: the model file's metadata (:func:`~cgan_augment.read_metadata`).
        spec: the report's data spec; train: the training split rebuilt from it.
        test_source: the ``--test`` data, when the test set is a separate source.
        name: how to call the model in messages (its path).

    Raises:
        DataError: the model records no data, was trained on all the data or another split,
            on the ``--test`` data itself, or on other training images.
    """
    data = meta.get("data") or {}
    if "source" not in data:
        raise DataError(f"{name}: the model file does not record the data it was trained on, so it cannot be checked "
                        "against the test split; refit it with `cgan-augment fit`, or pass --fit.")
    source = data["source"]
    refit = (f"refit with `cgan-augment fit {spec.source} --test-split {spec.test_split} --data-seed {spec.seed}"
             + (f" --imbalance {spec.imbalance:g}" if spec.imbalance else "") + "`, or pass --fit")
    if test_source is not None:
        if _same_source(source, test_source):
            raise DataError(f"{name}: was trained on {source}, the data given as --test; a generator must never see "
                            "the test images. Use other test data, or --test-split with a model fitted on the same split.")
    elif spec.test_split is not None:
        if data.get("test_split") is None:
            raise DataError(f"{name}: was trained on all of {source} (no test split), so it has seen the test images; {refit}.")
        if not _same_source(source, spec.source) or float(data["test_split"]) != float(spec.test_split) \
                or int(data.get("seed", 0)) != int(spec.seed):
            raise DataError(f"{name}: was trained with test split {data['test_split']} (data seed {data.get('seed')}) of "
                            f"{source}, not the report's {spec.test_split} (data seed {spec.seed}) of {spec.source}, so it "
                            f"may have seen the test images; {refit}.")
    else:
        raise ConfigError("the report needs held-out test data the generator never saw: pass --test TESTDATA or --test-split 0.2.")
    if data.get("train_fingerprint") != _fingerprint(train.indices):
        raise DataError(f"{name}: was trained on other images than this report's training split (another DATA, "
                        f"--imbalance, --data-seed or --skip-bad?); {refit}.")


def _load_test(spec: DataSpec, test: str, train):
    test_spec = DataSpec(test, image_size=train.image_size, channels=train.channels, skip_bad=spec.skip_bad)
    return load_data(test_spec).train


def _fit_or_reuse(train, spec: DataSpec, fit, run: RunSettings, folder: Path, resume: bool, force: bool,
                  on_progress, should_stop):
    """Fit a generator of any family (``fit`` is its recipe) on ``train`` into ``folder``; with
    ``resume``, reuse a finished one made there with the same recipe and training split, or let the
    family continue its fit (:func:`~cgan_augment.fit_generator`)."""
    model = folder / "model.safetensors"
    if resume and model.exists():
        meta = read_metadata(model)
        same = (recipe_from_dict(meta.get("train_config", {})) == fit
                and meta.get("data", {}).get("train_fingerprint") == _fingerprint(train.indices))
        finished = int(meta.get("step", 0)) >= getattr(fit, "steps", 0)  # a recipe without steps fits in one pass
        if same and finished:
            return load_generator(model, device=run.device)

    def on_step(step, total, stats):
        if on_progress:
            on_progress("fit", step, total, f"D {stats['loss_d']:.2f} G {stats['loss_g']:.2f}" if "loss_d" in stats else "")

    return fit_generator(train, fit, folder, run, data_info=spec.to_dict(), resume=resume and model.exists(), force=force,
                         on_step=on_step, should_stop=should_stop)


def report_from_spec(spec: DataSpec, out: Union[str, Path], *, model: Union[str, Path, None] = None,
                fit=None, fit_run: RunSettings = RunSettings(), test: Optional[str] = None,
                config: ReportConfig = ReportConfig(), oracle: bool = False, device: Union[str, torch.device] = "auto",
                on_progress: Optional[Progress] = None, resume: bool = False, force: bool = False,
                should_stop: Optional[Callable[[], bool]] = None, classifier=None) -> dict:
    """Load the data of ``spec``, check or fit the generator, and write the report to ``out``.

    Args:
        spec: the data; with ``spec.test_split`` the held-out part is the test set.
        out: the report folder (a generator fitted here goes to ``out/generator``).
        model: a ``model.safetensors`` fitted on the same training split (checked), or
        fit: a recipe of any family (:class:`~cgan_augment.DeformConfig`, the recommended one,
            :class:`~cgan_augment.TrainConfig`, ...) to fit the generator on the training split
            here (:func:`~cgan_augment.fit_generator`); a report whose arms include no synthetic
            arm needs neither.
        fit_run: the fit's intervals and workers (its device is ``device``).
        test: separate test data (folder, ``.npz`` or ``builtin:``) instead of ``spec.test_split``.
        config: the report settings. oracle: add the oracle arm, trained on the training split
            before the long tail (needs ``spec.imbalance``).
        device, on_progress, resume: as in :func:`run_report`; ``on_progress`` also gets stage
            ``"fit"``; ``resume`` also lets an earlier report in ``out`` be reused. force: redo an
            earlier report in ``out`` and replace its generator in ``out/generator``. A folder
            that no report wrote (no manifest) is never written into.
        should_stop: as in :func:`~cgan_augment.fit_generator`, polled during the fit.
        classifier: as in :func:`run_report` (a factory, or ``None`` for ``config.classifier``);
            checked before anything is written.

    Returns:
        The report as a dict.

    Raises:
        ConfigError: neither or both of ``model`` and ``fit``, of ``test`` and ``spec.test_split``;
            ``oracle`` without ``spec.imbalance``. DataError: a model that saw the test images,
            test data of other classes or image shape. OutputDirError: ``out`` is taken (see above).
        TrainingInterrupted: ``should_stop`` stopped the fit (a checkpoint is in ``out/generator``).
    """
    if fit is not None:
        family_of(fit)  # a recipe of a registered family, checked before any work
    needs_generator = any(get_arm(a).needs_generator for a in config.arms)
    if (model is not None and fit is not None) or (needs_generator and model is None and fit is None):
        raise ConfigError("give exactly one of --model MODEL (a fitted model.safetensors) and --fit (fit one here); "
                          "only a report without synthetic arms needs neither.")
    if (test is None) == (spec.test_split is None):
        raise ConfigError("the report needs exactly one source of held-out test data: --test TESTDATA or --test-split 0.2.")
    if oracle and spec.imbalance is None:
        raise ConfigError("--oracle needs --imbalance: the oracle arm trains on the training split before the long tail.")
    device = resolve_device(device)
    out = Path(out)
    folder = OutputFolder(out, "report", force=force, resume=resume, can_resume=True, ours=("report.json",))
    folder.check()
    loaded = load_data(spec)
    train = loaded.train
    test_ds = loaded.test if test is None else _load_test(spec, test, train)
    generator = None
    if model is not None:
        meta = read_metadata(model)
        check_model_split(meta, spec, train, test, name=str(model))
        generator = load_generator(model, device=device)
    _check_compatible(train, test_ds, generator, None)
    classifier, _ = check_classifier(config, classifier, train.channels, train.image_size, len(train.classes))
    # only once the inputs are known good: a refused run leaves no empty folder behind
    folder.claim({"data": spec.to_dict(), "test": test, "model": str(model) if model else None})
    if fit is not None:
        run = replace(fit_run, device=str(device))
        generator = _fit_or_reuse(train, spec, fit, run, out / "generator", resume, force, on_progress, should_stop)
    oracle_ds = load_data(replace(spec, imbalance=None)).train if oracle else None
    info = dict(spec.to_dict(), test=test, skipped=loaded.skipped, model=str(model) if model else (str(out / "generator" / "model.safetensors") if fit else None))
    return run_report(train, test_ds, generator, config, oracle=oracle_ds, out=out, device=device,
                      on_progress=on_progress, resume=resume, data_info=info, classifier=classifier)
