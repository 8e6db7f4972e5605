"""Generator families behind one interface (issue 23): a toy family added in this file the way a
new one is added (one module, one registry line: here ``register_family``) works end to end through
``fit_generator``, the model file, ``Generator.sample``, ``SyntheticDataset`` and the report; the
deform family gets a lock, resume and stop requests, and its settings reach ``fit``, ``report --fit``
and ``CGANOverSampler``."""

import json
import os
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch
from cgan_augment.cli.main import main
from click.testing import CliRunner

from cgan_augment import (
    DataSpec,
    DeformConfig,
    Generator,
    ReportConfig,
    RunSettings,
    SyntheticDataset,
    TrainConfig,
    TrainingInterrupted,
    fit_generator,
    load_data,
    load_generator,
    register_family,
    report_from_spec,
)
from cgan_augment._util.constraints import CheckedConfig, Interval
from cgan_augment.data.subsets import dataset_tensors
from cgan_augment.errors import ConfigError, OutputDirError
from cgan_augment.generators.fitting import claim_output, finished_model, save_fitted
from cgan_augment.generators.model_file import read_metadata

CPU = RunSettings(device="cpu")
SPEC = DataSpec("builtin:digits", image_size=8, test_split=0.3, imbalance=10, seed=0)
QUICK = DeformConfig(pairs=16, registration_steps=5, min_class_size=10)


# ----------------------------------------------------------------------------- a toy family: "noise"


@dataclass(frozen=True)
class NoiseConfig(CheckedConfig):
    """The toy family's recipe: a class's mean image plus Gaussian noise of this scale."""

    family: ClassVar[str] = "noise"
    noise: float = 0.1
    seed: int = 0

    _parameter_constraints = {"noise": [Interval(float, 0)], "seed": [Interval(int)]}


class NoiseGenerator(Generator):
    """G(z, y) = mean image of class y + noise · z (z_dim = C·H·W)."""

    family = "noise"

    def __init__(self, num_classes, image_size, channels, z_dim, width=1):
        super().__init__(num_classes, image_size, channels, z_dim)
        self.width = width
        self.register_buffer("means", torch.zeros(num_classes, channels, image_size, image_size))
        self.register_buffer("noise", torch.zeros(()))

    @property
    def device(self):
        return self.means.device

    def forward(self, z, y):
        return (self.means[y] + self.noise * z.view(len(z), *self.means.shape[1:])).clamp(0, 1)


def fit_noise(dataset, config, out, run, *, data_info, resume, force, on_step, should_stop):
    """The family's fit, in one pass: the class means."""
    with claim_output(out, resume=resume, force=force) as folder:
        if folder is not None and resume:
            return finished_model(folder, dataset, config, run.device)
        images, labels = dataset_tensors(dataset)
        c, s = dataset.channels, dataset.image_size
        g = NoiseGenerator(len(dataset.classes), s, c, z_dim=c * s * s)
        for k in range(len(dataset.classes)):
            g.means[k] = images[labels == k].float().mean(0) / 255
        g.noise.fill_(config.noise)
        g.classes = list(dataset.classes)
        on_step(1, 1, {"step": 1}) if on_step else None
        if should_stop is not None and should_stop():
            raise TrainingInterrupted(1)
        if folder is not None:
            save_fitted(g, folder, dataset, config, data_info)
    return g.eval()


register_family("noise", NoiseConfig, fit_noise, generator=NoiseGenerator, summary="a class's mean image plus noise")


@pytest.fixture(scope="module")
def split():
    return load_data(SPEC)


def test_a_toy_family_works_end_to_end(tmp_path, split):
    out = tmp_path / "noise"
    steps = []
    g = fit_generator(split.train, NoiseConfig(noise=0.05), out, CPU, data_info=SPEC.to_dict(),
                      on_step=lambda *a: steps.append(a))
    assert steps == [(1, 1, {"step": 1})] and not (out / ".lock").exists()
    meta = read_metadata(out / "model.safetensors")
    assert meta["arch"]["family"] == "noise" and meta["train_config"] == {"family": "noise", "noise": 0.05, "seed": 0}
    back = load_generator(out / "model.safetensors", device="cpu")  # rebuilt from the generators' class table
    x = back.sample({"3": 5}, seed=1)
    assert isinstance(back, NoiseGenerator) and torch.equal(x, g.sample({"3": 5}, seed=1))
    assert (x - back.means[3]).abs().max() < 0.5 and x.std(0).mean() > 0.01  # the class mean, varied
    synthetic = SyntheticDataset(split.train, out / "model.safetensors", target="balance", seed=0, device="cpu")
    largest = max(synthetic.plan.values(), key=lambda p: p["real"])["real"]
    assert all(p["total"] == largest for p in synthetic.plan.values())
    image, label = synthetic[len(synthetic) - 1]
    assert image.shape == (1, 8, 8) and synthetic.is_synthetic(len(synthetic) - 1)
    config = ReportConfig(arms=("real", "synthetic"), seeds=(0,), steps=3, batch_size=16, quality_samples=12, grid_samples=3)
    result = report_from_spec(SPEC, tmp_path / "rep", fit=NoiseConfig(), config=config, device="cpu")
    assert set(result["arms"]) == {"real", "synthetic"}
    fitted = read_metadata(tmp_path / "rep" / "generator" / "model.safetensors")
    assert fitted["train_config"]["family"] == "noise"
    again = report_from_spec(SPEC, tmp_path / "rep", fit=NoiseConfig(), config=config, device="cpu", resume=True)
    assert again["arms"].keys() == result["arms"].keys()


def test_every_family_keeps_the_output_rules(tmp_path, split):
    out = tmp_path / "noise"
    fit_generator(split.train, NoiseConfig(), out, CPU)
    with pytest.raises(OutputDirError, match="holds an earlier fit output; pass resume=True to continue it"):
        fit_generator(split.train, NoiseConfig(), out, CPU)
    before = (out / "model.safetensors").stat().st_mtime_ns
    assert isinstance(fit_generator(split.train, NoiseConfig(), out, CPU, resume=True), NoiseGenerator)
    assert (out / "model.safetensors").stat().st_mtime_ns == before  # a finished model is the result
    with pytest.raises(OutputDirError, match="other settings .*noise=0.1"):
        fit_generator(split.train, NoiseConfig(noise=0.2), out, CPU, resume=True)
    (out / ".lock").write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(OutputDirError, match="another fit"):
        fit_generator(split.train, NoiseConfig(), out, CPU, resume=True)
    fit_generator(split.train, NoiseConfig(noise=0.3), out, CPU, force=True)  # --force takes the lock over
    assert not (out / ".lock").exists()
    assert json.loads((out / "cgan-augment.json").read_text())["command"] == "fit"  # the one guard's manifest
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    for flags in ({}, {"force": True}, {"resume": True}):  # a folder no fit wrote is never written into
        with pytest.raises(OutputDirError, match="was not written by `cgan-augment fit`"):
            fit_generator(split.train, NoiseConfig(), theirs, CPU, **flags)
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]
    with pytest.raises(OutputDirError, match="nothing to resume"):
        fit_generator(split.train, NoiseConfig(), tmp_path / "empty", CPU, resume=True)


def test_recipes_that_are_not_a_familys_are_refused(split):
    for wrong in ({"family": "deform"}, "deform", DeformConfig):
        with pytest.raises(ConfigError, match="recipe"):
            fit_generator(split.train, wrong)
    with pytest.raises(ConfigError, match="DeformConfig"):
        TrainConfig(family="deform")
    with pytest.raises(ConfigError, match="built-in"):
        register_family("deform", DeformConfig, fit_noise)


# ----------------------------------------------------------------------------- the deform family


def test_deform_fit_locks_resumes_and_stops(tmp_path, split):
    out = tmp_path / "deform"
    with pytest.raises(TrainingInterrupted, match="interrupted at step 1"):
        fit_generator(split.train, QUICK, out, CPU, should_stop=lambda: True)
    assert not (out / "model.safetensors").exists() and not (out / ".lock").exists()  # nothing half-written
    steps = []
    g = fit_generator(split.train, QUICK, out, CPU, on_step=lambda s, t, stats: steps.append((s, t)))
    assert steps == [(s, 5) for s in range(1, 6)] and g.family == "deform"
    meta = read_metadata(out / "model.safetensors")
    assert meta["train_config"] == {"family": "deform", **asdict(QUICK)} and "deform_config" not in meta
    assert json.loads((out / "config.json").read_text())["train_config"] == meta["train_config"]
    again = fit_generator(split.train, QUICK, out, CPU, resume=True)
    assert torch.equal(again.sample({"0": 3}, seed=0), g.sample({"0": 3}, seed=0))
    with pytest.raises(OutputDirError, match="temperature=0.75"):
        fit_generator(split.train, DeformConfig(**dict(asdict(QUICK), temperature=0.5)), out, CPU, resume=True)
    (out / ".lock").write_text(str(os.getppid()))
    with pytest.raises(OutputDirError, match="another fit"):
        fit_generator(split.train, QUICK, out, CPU, resume=True)
    assert (out / ".lock").read_text() == str(os.getppid())  # the other fit's lock is left alone


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_deform_settings_from_the_command_line(tmp_path):
    data = ["builtin:digits", "--image-size", 8, "--imbalance", 10]
    quick = ["--pairs", 16, "--registration-steps", 5, "--min-class-size", 10]
    result = _cli("fit", *data, *quick, "--temperature", 0.5, "--out", tmp_path / "m")  # deform: the default family
    assert result.exit_code == 0, result.output
    recipe = read_metadata(tmp_path / "m" / "model.safetensors")["train_config"]
    assert recipe == {"family": "deform", **asdict(DeformConfig(pairs=16, registration_steps=5, min_class_size=10, temperature=0.5))}
    assert "fitted: family=deform" in _cli("info", tmp_path / "m" / "model.safetensors").output
    wrong = _cli("fit", *data, "--steps", 5, "--out", tmp_path / "x")
    assert wrong.exit_code == 1 and wrong.output.splitlines()[-1] == (
        "error: --steps is a setting of the dcgan and mlp families, not of deform (the default family); "
        "add --family dcgan to fit that one.")
    wrong = _cli("fit", *data, "--family", "dcgan", "--grid", 4, "--out", tmp_path / "x")
    assert wrong.exit_code == 1 and wrong.output.splitlines()[-1] == "error: --grid is a setting of the deform family, not of dcgan."
    assert not (tmp_path / "x").exists()
    report = _cli("report", *data, "--test-split", 0.3, "--fit", *[f"--fit-set={k.lstrip('-')}={v}" for k, v in zip(quick[::2], quick[1::2])],
                  "--fit-set", "temperature=0.5", "--arms", "real,synthetic", "--seeds", 1, "--steps", 2, "--batch-size", 16,
                  "--device", "cpu", "--out", tmp_path / "rep")
    assert report.exit_code == 0, report.output
    assert read_metadata(tmp_path / "rep" / "generator" / "model.safetensors")["train_config"] == recipe
    bad = _cli("report", *data, "--test-split", 0.3, "--fit", "--fit-set", "loss=bce", "--out", tmp_path / "rep2")
    assert bad.output.splitlines()[-1] == ("error: --fit-set loss is a setting of the dcgan and mlp families, not of deform "
                                           "(the default family); add --fit-family dcgan to fit that one.")


def test_the_resampler_fits_any_family(split):
    from sklearn.datasets import load_digits

    from cgan_augment import CGANOverSampler

    X, y = load_digits(return_X_y=True)
    keep = np.concatenate([np.flatnonzero(y == k)[:int(120 * 0.7 ** k)] for k in range(10)])
    options = {"pairs": 16, "registration_steps": 5, "min_class_size": 10}
    by_name = CGANOverSampler(image_shape=(8, 8), family="deform", train_options=options, random_state=0)
    X_res, y_res = by_name.fit_resample(X[keep], y[keep])
    assert by_name.generator_.family == "deform" and len(X_res) == len(y_res) > len(keep)
    by_recipe = CGANOverSampler(image_shape=(8, 8), config=DeformConfig(**options), random_state=0)
    assert np.array_equal(by_recipe.fit_resample(X[keep], y[keep])[0], X_res)  # the same recipe and seed
    toy = CGANOverSampler(image_shape=(8, 8), config=NoiseConfig(), random_state=0).fit(X[keep], y[keep])
    assert toy.generator_.family == "noise"
    with pytest.raises(ConfigError, match=r"not settings of the deform family's DeformConfig"):
        CGANOverSampler(image_shape=(8, 8), family="deform", steps=5).fit_resample(X[keep], y[keep])
    with pytest.raises(ConfigError, match="either 'config'"):
        CGANOverSampler(image_shape=(8, 8), family="dcgan", config=DeformConfig()).fit_resample(X[keep], y[keep])


def test_the_demo_takes_any_familys_recipe(tmp_path, monkeypatch):
    import dataclasses

    import cgan_augment.report.demo as demo
    from cgan_augment import run_demo

    real_settings = demo.demo_settings

    def tiny(quick=False, seeds=None):  # the demo's machinery at test size
        spec, fit, fit_run, config = real_settings(quick, seeds)
        assert fit == DeformConfig()  # the recommended recipe by default
        return (dataclasses.replace(spec, image_size=8), fit, fit_run,
                dataclasses.replace(config, arms=("real", "synthetic"), steps=3, batch_size=16, quality_samples=12, grid_samples=3))

    monkeypatch.setattr(demo, "demo_settings", tiny)
    with pytest.raises(ConfigError, match="recipe"):
        run_demo(tmp_path / "bad", seeds=1, fit="noise", device="cpu")
    assert not (tmp_path / "bad").exists()
    run_demo(tmp_path / "demo", seeds=1, fit=NoiseConfig(), device="cpu")
    assert read_metadata(tmp_path / "demo" / "draw_0" / "generator" / "model.safetensors")["arch"]["family"] == "noise"
