"""What the families' fits share: the rules of their output folder and its lock for the length of
the fit (:func:`claim_output`, the GAN loop's too), and for a family that fits in one process
(not through the GAN loop) ``resume`` of a finished model and the model file written with every
family's metadata (``train_config`` = ``{"family": ..., **recipe}``).

A family's ``fit`` uses them as :func:`~cgan_augment.generators.deform.fit_deform` does::

    single_process("deform")
    with claim_output(out, resume=resume, force=force) as folder:
        if folder is not None and resume:
            return finished_model(folder, dataset, config, device)
        generator = ...  # the fit itself, polling should_stop
        if folder is not None:
            save_fitted(generator, folder, dataset, config, data_info)
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Union

import torch

from .._util.files import make_dir, write_text_atomic
from .._util.output import OutputFolder
from ..data.subsets import _fingerprint, class_counts
from ..errors import ConfigError, OutputDirError
from .model_file import load_generator, read_metadata, save_generator
from .networks import Generator
from .recipes import recipe_dict

__all__ = ["single_process", "claim_output", "finished_model", "data_record", "save_fitted"]

MODEL = "model.safetensors"
FIT_FILES = (MODEL, "checkpoint.safetensors", "log.jsonl", ".lock")  # an earlier (or running) fit, also from before the manifest


def single_process(family: str) -> None:
    """Refuse to run under torchrun with several processes: this family's fit is one process's work."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(f"the {family} family fits in one process; run it without torchrun.")


@contextmanager
def claim_output(out: Union[str, Path, None], *, resume: bool, force: bool, resume_from: str = MODEL) -> Iterator[Optional[Path]]:
    """The folder ``out`` (created) while it is locked for this fit (``out/.lock``), or ``None`` for
    no folder: every family's rules for its output, the GAN loop's included, those of every
    command (:class:`~cgan_augment._util.output.OutputFolder`): an earlier fit's folder is
    continued with ``resume`` or replaced with ``force``; a non-empty folder that no fit wrote is
    never written into; ``resume`` needs ``out/resume_from`` (the GAN loop's checkpoint; a family
    with no state between steps: the model itself).

    Raises:
        OutputDirError: an earlier fit there and neither ``resume`` nor ``force``; a folder no fit
            wrote; ``resume`` and nothing to resume from; another fit holds the lock (and not
            ``force``); the folder cannot be made.
    """
    if out is None:
        yield None
        return
    folder = OutputFolder(out, "fit", force=force, resume=resume, can_resume=True, ours=FIT_FILES,
                          resume_help="continue it", redo_help="replace it")
    folder.check()
    out = folder.path
    if resume and not (out / resume_from).exists():
        raise OutputDirError(f"{out}: nothing to resume (no {resume_from}); run without --resume.")
    make_dir(out)
    with folder.locked():
        folder.write_manifest(out, {})
        yield out


def data_record(dataset, data_info: Optional[dict]) -> dict:
    """What the model file records about the training data: ``data_info`` (e.g. the DataSpec as a
    dict), its size and a fingerprint of its items (which ``report`` checks against its split)."""
    indices = getattr(dataset, "indices", None)
    return dict(data_info or {}, num_train=len(dataset), train_fingerprint=_fingerprint(indices) if indices is not None else None)


def finished_model(out: Path, dataset, config, device: torch.device) -> Generator:
    """``resume`` of a family with no state between steps: the model in ``out``, if it was made with
    this recipe and these training items (a finished model means the fit is done).

    Raises:
        OutputDirError: the model was made with another recipe or on other data.
    """
    meta = read_metadata(out / MODEL)
    saved, wanted = meta.get("train_config", {}), recipe_dict(config)
    diff = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
    if diff:
        raise OutputDirError(f"{out}: the model was made with other settings ({', '.join(f'{k}={saved.get(k)!r}' for k in diff)}); "
                             "resume with the same flags or start a new --out.")
    if (meta.get("data") or {}).get("train_fingerprint") != data_record(dataset, None)["train_fingerprint"]:
        raise OutputDirError(f"{out}: the model was fitted on other data; resume with the same DATA and data flags.")
    return load_generator(out / MODEL, device=device)


def save_fitted(generator: Generator, out: Path, dataset, config, data_info: Optional[dict], extra: Optional[dict] = None,
                run: Optional[dict] = None) -> None:
    """Write ``out/model.safetensors`` (with every family's metadata: class counts, ``train_config``,
    data record, ``step`` 0, and ``extra``) and ``out/config.json``; set ``generator.metadata``."""
    meta = dict(extra or {}, class_counts=class_counts(dataset), train_config=recipe_dict(config),
                data=data_record(dataset, data_info), step=0)
    save_generator(generator, out / MODEL, meta)
    generator.metadata = dict(generator.metadata, **meta)
    write_text_atomic(out / "config.json", json.dumps({"train_config": meta["train_config"], "data": meta["data"],
                                                       "run": run or {}}, indent=2))
