"""Running the report: every arm × seed, cached per run in ``out/runs``, then the summary and files."""

from __future__ import annotations

import hashlib
import json
import platform
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Optional, Union

import numpy as np
import torch

from .._util.devices import resolve_device
from .._util.files import make_dir, write_text_atomic
from ..data.subsets import class_counts, dataset_tensors, to_uint8
from ..errors import DataError, ReportWarning
from .arms import SAME_WITHOUT_GENERATED, _arm_data, _Skip, without_generated
from .classifiers import _build, _metrics, _predict, _train_classifier, resolve_classifier
from .config import Progress, ReportConfig
from .factory import describe_classifier
from .gains import _summarise
from .outputs import _write_outputs
from .plugins import get_arm
from .quality import per_class_quality

__all__ = ["run_report", "pool_reports", "check_classifier", "recipe_of"]

PAIRED_DRAWS = "(seed, long-tail draw)"


def run_report(train, test, generator=None, config: ReportConfig = ReportConfig(), *, oracle=None,
               out: Union[str, Path, None] = None, device: Union[str, torch.device] = "auto",
               on_progress: Optional[Progress] = None, resume: bool = False, data_info: Optional[dict] = None,
               classifier: Union[str, Callable, None] = None) -> dict:
    """Train the classifier under every arm of ``config`` and compare them on ``test``.

    Args:
        train: the (imbalanced) training data; test: held-out data the generator never saw;
            oracle: optional balanced training data (the ceiling arm). All three are labeled
            datasets with ``classes``, ``targets``, ``image_size`` and ``channels``, items
            ``(float C×H×W in [0, 1], int)``.
        generator: a :class:`~cgan_augment.Generator` for the synthetic arms (``None`` skips them).
        config: the report settings.
        out: folder for ``report.json``, ``report.md``, ``report.html``, ``recall_by_class.png``, ``samples.png``
            and ``runs/`` (one JSON per arm and seed); ``None`` writes nothing.
        device: where the classifiers train.
        on_progress: called as ``(stage, done, total, detail)``; stage ``"classifiers"``
            counts optimiser steps over all runs.
        resume: reuse finished runs in ``out/runs`` made with the same settings, data and generator.
        data_info: what to record about the data (e.g. the DataSpec as a dict).
        classifier: the user's own classifier: a factory ``make_model(num_classes, channels,
            image_size)`` returning a fresh ``nn.Module`` that takes N×C×H×W floats in [0, 1] and
            gives (N, num_classes) logits (``None``: ``config.classifier``, a built-in name or
            ``"package.module:function"``). It is called once per (arm, seed), under that seed,
            and once before any training to check it; ``config`` holds the recipe it trains with.

    Returns:
        The report as a dict (what ``report.json`` holds).

    Raises:
        DataError: train, test, oracle or generator disagree on classes or image shape.
        ClassifierError: the factory cannot be imported or called, or its model is not an
            ``nn.Module`` giving one logit per class (one line naming it).
    """
    started = time.perf_counter()
    device = resolve_device(device)
    _check_compatible(train, test, generator, oracle)
    classes, num_classes = list(train.classes), len(train.classes)
    shape = (train.channels, train.image_size)
    factory = resolve_classifier(config, classifier)
    about_classifier = _check_classifier(factory, config, shape, num_classes, config.seeds[0])
    notices = _double_corrections(config.arms)
    real = dataset_tensors(train)
    test_x, test_y = dataset_tensors(test)
    oracle_t = dataset_tensors(oracle) if oracle is not None else None
    out = Path(out) if out is not None else None
    if out is not None:
        make_dir(out / "runs")

    keys = _run_keys(config, real, (test_x, test_y), oracle_t, generator, about_classifier)
    arms = ["real"] + [a for a in config.arms if a != "real"] if "real" in config.arms else list(config.arms)
    if oracle is None:
        arms = [a for a in arms if a != "oracle"]  # not asked for: no row saying it was skipped
    results, skipped, notes, quality = _run_arms(
        arms, config=config, real=real, test_xy=(test_x, test_y), oracle_t=oracle_t, generator=generator, factory=factory,
        about_classifier=about_classifier, keys=keys, shape=shape, num_classes=num_classes, classes=classes, device=device,
        out=out, resume=resume, on_progress=on_progress)

    same_as = {arm: {"arm": SAME_WITHOUT_GENERATED[arm], "why": why} for arm in results
               for why in [without_generated(arm, real[1], classes, config)] if why}
    result = _summarise(results, skipped, notes, quality, config, classes, same_as=same_as)
    result.update(
        classifier={k: v for k, v in about_classifier.items() if k != "weights"}, recipe=recipe_of(config),
        warnings=notices, data=_data_summary(data_info, train, test, oracle), generator=_generator_summary(generator),
        versions=_versions(), device=str(device), wall_seconds=round(time.perf_counter() - started, 1))
    if out is not None:
        result["files"] = _write_outputs(result, out, real, generator, config)
    return result



def _run_arms(arms, *, config, real, test_xy, oracle_t, generator, factory, about_classifier, keys, shape, num_classes,
              classes, device, out, resume, on_progress):
    """Every (arm, seed) run of :func:`run_report`, from the cache where ``resume`` allows:
    (metrics by arm and seed, skipped arms with why, each arm's note, the sample quality or None)."""
    total = len(arms) * len(config.seeds) * config.steps
    done = [0]

    def tick(n: int, detail: str):
        done[0] += n
        if on_progress:
            on_progress("classifiers", done[0], total, detail)

    results, skipped, notes, quality = {}, {}, {}, None
    for arm in arms:
        for seed in config.seeds:
            detail = f"{arm} (seed {seed})"
            need_quality = arm == "real" and seed == config.seeds[0] and quality is None
            cached, quality = _cached_run(out, arm, seed, keys, resume, need_quality, generator, quality)
            if cached is not None:
                results.setdefault(arm, {})[seed] = cached["metrics"]
                notes[arm] = cached.get("note", "")
                tick(config.steps, detail + " cached")
                continue
            try:
                data = _arm_data(arm, real, num_classes, seed, config, generator, oracle_t, device)
            except _Skip as why:
                skipped[arm] = str(why)
                tick(config.steps * len(config.seeds), f"{arm} skipped")
                break
            model, preds, feats, metrics = _train_and_test(data, config, seed, shape, num_classes, device, factory,
                                                           test_xy, lambda n, detail=detail: tick(n, detail))
            results.setdefault(arm, {})[seed] = metrics
            notes[arm] = data.note
            _save_run(out, arm, seed, keys[arm], metrics, data.note, preds)
            if need_quality and generator is not None:
                if on_progress:
                    on_progress("classifiers", done[0], total, "sample quality")
                quality = _sample_quality(model, feats, test_xy[1], generator, config, seed, device, classes, about_classifier)
                _save_quality(out, keys["quality"], quality)
    return results, skipped, notes, quality

def _cached_run(out, arm, seed, keys, resume, need_quality, generator, quality):
    """(the finished run to reuse or None, the sample quality): a cached ``real`` run is reused only
    with its cached quality measure (or without a generator), which needs the run's classifier."""
    cached = _load_run(out, arm, seed, keys[arm]) if resume else None
    if need_quality and cached is not None:
        quality = _load_quality(out, keys["quality"])
        if quality is None and generator is not None:
            cached = None
    return cached, quality


def _train_and_test(data, config, seed, shape, num_classes, device, factory, test, tick):
    """(model, test predictions, test features, metrics with ``seconds`` and ``train_size``) of one run."""
    t0 = time.perf_counter()
    model = _train_classifier(data, config, seed, shape, num_classes, device, tick, classifier=factory)
    preds, feats = _predict(model, test[0], config.eval_batch_size, device)
    metrics = _metrics(test[1].numpy(), preds.numpy(), num_classes)
    metrics["seconds"] = round(time.perf_counter() - t0, 2)
    metrics["train_size"] = len(data.labels)
    return model, preds, feats, metrics


def _data_summary(data_info, train, test, oracle) -> dict:
    return dict(data_info or {}, classes=list(train.classes), image_size=train.image_size, channels=train.channels,
                train_counts=class_counts(train), test_counts=class_counts(test),
                oracle_counts=class_counts(oracle) if oracle is not None else None)


def pool_reports(reports: list, config: ReportConfig, label: str = "") -> dict:
    """One report from several made on different long-tail draws (and test splits) of the same
    data, each with its own seed: every run becomes a ``(seed, draw)`` pair, and the verdict pairs
    the arms per ``(seed, draw)``. ``label`` (e.g. "quick demo") heads the verdict.

    Args:
        reports: results of :func:`run_report` (``data`` holds the draw's data ``seed``).
        config: the settings they share (``seeds`` aside).
    """
    results, skipped, notes, draws = {}, {}, {}, []
    # an arm equals its baseline in the pooled report only if it does in every draw
    same_as = {a: s for a, s in (reports[0].get("same_as") or {}).items() if all(a in (r.get("same_as") or {}) for r in reports)}
    for rep in reports:
        draw = rep["data"].get("seed")
        draws.append(draw)
        for arm, entry in rep["arms"].items():
            notes.setdefault(arm, entry.get("note", ""))
            for seed, metrics in entry["runs"].items():
                results.setdefault(arm, {})[f"({seed}, {draw})"] = metrics
        skipped.update(rep["skipped"])
    first = reports[0]
    pooled = _summarise(results, {a: w for a, w in skipped.items() if a not in results}, notes, None, config,
                        first["data"]["classes"], unit=PAIRED_DRAWS, same_as=same_as)
    if label:
        pooled["verdict"] = f"[{label}] {pooled['verdict']}"
    # each pair fits its own generator: the pooled report keeps only what they share, their family
    families = {(((r.get("generator") or {}).get("arch")) or {}).get("family") for r in reports}
    shared = {"arch": {"family": families.pop()}} if len(families) == 1 and None not in families else None
    pooled.update(classifier=first.get("classifier"), recipe=first.get("recipe"), warnings=first.get("warnings", []))
    pooled.update(seeds=sorted({k for runs in results.values() for k in runs}), draws=draws, label=label,
                  data=dict(first["data"], seed=None), generator=shared, versions=first["versions"], device=first["device"],
                  wall_seconds=round(sum(r["wall_seconds"] for r in reports), 1))
    return pooled


def recipe_of(config: ReportConfig) -> dict:
    """The training recipe every arm shares, as the report records it."""
    keys = ["optimizer", "lr", "weight_decay"] + (["momentum"] if config.optimizer == "sgd" else []) + ["schedule"]
    keys += (["step_gamma"] if config.schedule == "step" else []) + ["steps", "batch_size", "normalize_mean", "normalize_std"]
    return {k: getattr(config, k) for k in keys}


def check_classifier(config: ReportConfig, classifier, channels: int, image_size: int, num_classes: int):
    """(the built-in name or factory to train, its description): ``classifier`` or
    ``config.classifier`` resolved and built once, so that a bad factory fails before anything is
    written (:class:`~cgan_augment.errors.ClassifierError`)."""
    factory = resolve_classifier(config, classifier)
    return factory, _check_classifier(factory, config, (channels, image_size), num_classes, config.seeds[0])


def _check_classifier(factory, config: ReportConfig, shape: tuple, num_classes: int, seed: int) -> dict:
    """Build the classifier once under ``seed`` (a bad factory fails here, before any training or
    file) and describe it; ``weights`` is a hash of its initial state (a changed weights file
    behind the same factory name gives other cached runs)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, net = _build(factory, config, shape[0], shape[1], num_classes)
    about = describe_classifier(model, factory, net)
    about["weights"] = _tensor_hash(*[t.detach().cpu().float() for t in model.state_dict().values()])
    return about


def _double_corrections(arms) -> list:
    """A line, also given as a :class:`ReportWarning`, for every arm whose loss corrects for the
    class prior while its batches are drawn class-balanced: that corrects twice."""
    lines = []
    for name in arms:
        arm = get_arm(name)
        if arm.prior_corrected and arm.class_balanced:
            lines.append(f"arm {name}: its loss ({arm.loss!r}) corrects for the class prior and its batches are drawn "
                         "class-balanced, which corrects again: the rare classes are over-weighted twice (use instance "
                         "sampling with a prior-corrected loss).")
            warnings.warn(ReportWarning(lines[-1]), stacklevel=3)
    return lines


def _check_compatible(train, test, generator, oracle) -> None:
    for name, ds in (("test", test), ("oracle", oracle)):
        if ds is None:
            continue
        if list(ds.classes) != list(train.classes):
            raise DataError(f"{name} data has classes {list(ds.classes)} but the training data has {list(train.classes)}; "
                            "they must be the same classes in the same order.")
        if (ds.channels, ds.image_size) != (train.channels, train.image_size):
            raise DataError(f"{name} images are {ds.channels}×{ds.image_size}×{ds.image_size} but training images are "
                            f"{train.channels}×{train.image_size}×{train.image_size}; pass the same --image-size and --channels.")
    if generator is not None:
        if list(generator.classes) != list(train.classes):
            raise DataError(f"the generator knows classes {list(generator.classes)} but the data has {list(train.classes)}; "
                            "use a model fitted on this data.")
        if (generator.channels, generator.image_size) != (train.channels, train.image_size):
            raise DataError(f"the generator makes {generator.channels}×{generator.image_size}×{generator.image_size} images "
                            f"but the data is {train.channels}×{train.image_size}×{train.image_size}; pass the model's "
                            "--image-size and --channels.")


def _sample_quality(model, test_feats, test_y, generator, config, seed, device, classes, about: dict) -> dict:
    """Per-class quality of generated images against the held-out test images, in the feature
    space of the ``real``-arm classifier (seed ``seed``)."""
    y = torch.arange(generator.num_classes).repeat_interleave(config.quality_samples)
    fake = to_uint8(generator.sample(y.to(device), seed=10_000 + seed))
    _, fake_feats = _predict(model, fake, config.eval_batch_size, device)
    q = per_class_quality(test_feats, test_y, fake_feats, y, classes, k=config.quality_k)
    layer = "penultimate layer" if about["builtin"] and about["name"] != "logreg" else "logits"
    q.update(reference="held-out test images", feature_space=f"{about['name']} {layer}, real arm, seed {seed}",
             samples_per_class=config.quality_samples)
    return q


def _generator_summary(generator) -> Optional[dict]:
    if generator is None:
        return None
    meta = getattr(generator, "metadata", {}) or {}
    return {k: meta.get(k) for k in ("arch", "train_config", "step", "data", "class_counts", "library_version")}


def _versions() -> dict:
    import sklearn
    import torchvision

    from .._version import __version__

    versions = {"cgan_augment": __version__, "python": platform.python_version(), "torch": torch.__version__,
                "torchvision": torchvision.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__,
                "platform": platform.platform()}
    try:
        import imblearn

        versions["imbalanced-learn"] = imblearn.__version__
    except ImportError:
        versions["imbalanced-learn"] = None
    return versions


# ----------------------------------------------------------------------------- caching of runs


def _tensor_hash(*tensors) -> str:
    h = hashlib.sha256()
    for t in tensors:
        if t is not None:
            h.update(t.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _run_keys(config, real, test, oracle, generator, about_classifier: Optional[dict] = None) -> dict:
    """Per arm, what its cached runs depend on: settings (not the arm list or seeds), the
    classifier (its name, class and initial weights), the data, the arm's definition, and the
    generator only for the synthetic arms and the oracle data only for the oracle arm."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("arms", "seeds")}
    from .._version import __version__  # a fixed bug's runs are not reused by the next version

    base = [json.dumps(settings, sort_keys=True), json.dumps(about_classifier or {}, sort_keys=True), _tensor_hash(*real),
            _tensor_hash(*test), torch.__version__, __version__]
    gen = "-"
    if generator is not None:
        gen = _tensor_hash(*[p.detach().cpu() for p in generator.state_dict().values()])
    extra = {}
    for name in config.arms:
        arm = get_arm(name)
        extra[name] = [arm.signature()] + ([gen] if arm.needs_generator else [])
        if arm.pool == "oracle":
            extra[name].append(_tensor_hash(*oracle) if oracle is not None else "-")
    extra["quality"] = [gen]
    return {arm: hashlib.sha256("|".join(base + [arm] + parts).encode()).hexdigest()[:16] for arm, parts in extra.items()}


def _run_path(out: Path, arm: str, seed: int) -> Path:
    return out / "runs" / f"{arm.replace('+', '_plus_')}__seed{seed}.json"


def _load_run(out: Optional[Path], arm: str, seed: int, key: str) -> Optional[dict]:
    if out is None:
        return None
    try:
        saved = json.loads(_run_path(out, arm, seed).read_text())
    except (OSError, ValueError):
        return None
    return saved if saved.get("key") == key else None


def _save_run(out, arm, seed, key, metrics, note, preds) -> None:
    if out is not None:
        write_text_atomic(_run_path(out, arm, seed), json.dumps(
            {"key": key, "arm": arm, "seed": seed, "metrics": metrics, "note": note, "predictions": preds.tolist()}))


def _load_quality(out, key) -> Optional[dict]:
    if out is None:
        return None
    try:
        saved = json.loads((out / "runs" / "quality.json").read_text())
    except (OSError, ValueError):
        return None
    return saved["quality"] if saved.get("key") == key else None


def _save_quality(out, key, quality) -> None:
    if out is not None:
        write_text_atomic(out / "runs" / "quality.json", json.dumps({"key": key, "quality": quality}))
