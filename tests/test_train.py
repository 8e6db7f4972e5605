import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from cgan_augment.cli.main import main
from click.testing import CliRunner
from safetensors.torch import load_file

from cgan_augment import (
    ConfigError,
    DataSpec,
    OutputDirError,
    RunSettings,
    TrainConfig,
    TrainingDiverged,
    TrainingInterrupted,
    load_data,
    load_generator,
    train_generator,
)
from cgan_augment.train.sampler import _StepBatchSampler

FIT = [sys.executable, "-m", "cgan_augment.cli", "fit", "builtin:digits", "--family", "dcgan", "--image-size", "16",
       "--width", "8", "--batch-size", "16", "--checkpoint-every", "10", "--sample-every", "50"]


@pytest.fixture(scope="module")
def digits():
    return load_data(DataSpec("builtin:digits", image_size=16, imbalance=10)).train


def test_fit_writes_model_samples_log_and_generates_requested_classes(digits, tmp_path, tiny_config, tiny_run):
    seen = []
    g = train_generator(digits, tiny_config, tmp_path, run=tiny_run, on_step=lambda s, n, st: seen.append((s, n, st)))
    assert [s for s, _, _ in seen] == [1, 2, 3, 4] and seen[-1][1] == 4
    assert {"loss_d", "loss_g", "images_per_s"} <= set(seen[0][2])
    for name in ("model.safetensors", "checkpoint.safetensors", "samples.png", "log.jsonl", "config.json",
                 "samples/step_000002.png", "samples/step_000004.png"):
        assert (tmp_path / name).exists(), name
    assert not (tmp_path / ".lock").exists()
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss_d" in r] == [1, 2, 3, 4]
    diversity = [r for r in log if "diversity" in r]
    assert [r["step"] for r in diversity] == [2, 4] and len(diversity[0]["diversity"]) == 10
    assert all(0 <= d <= 1 for d in diversity[0]["real_diversity"])
    for name in ("samples_over_time.png", "diversity.png"):
        assert (tmp_path / name).exists(), name
    loaded = load_generator(tmp_path / "model.safetensors")
    assert loaded.classes == digits.classes
    x = loaded.sample([9, 9, 0], seed=1)
    assert x.shape == (3, 1, 16, 16)
    assert torch.equal(x, g.sample([9, 9, 0], seed=1))


@pytest.fixture(scope="module")
def dark_and_bright():
    """Two classes a generator can learn in a few steps: dark 8×8 images and bright ones."""
    from cgan_augment.data.arrays import ArrayImages

    g = torch.Generator().manual_seed(0)
    dark = torch.randint(0, 40, (64, 1, 8, 8), generator=g)
    bright = torch.randint(215, 256, (64, 1, 8, 8), generator=g)
    return ArrayImages(torch.cat([dark, bright]).to(torch.uint8), [0] * 64 + [1] * 64, ["dark", "bright"])


@pytest.mark.parametrize("family,loss,mode_seeking", [("mlp", "bce", 0.0), ("dcgan", "wgan-gp", 0.0),
                                                      ("mlp", "hinge", 0.0), ("dcgan", "hinge", 0.1)])
def test_families_and_losses_learn_their_classes(dark_and_bright, family, loss, mode_seeking):
    stats = []
    g = train_generator(dark_and_bright, TrainConfig(family=family, loss=loss, steps=20, width=8, z_dim=8, batch_size=16,
                                                     lr=2e-3, mode_seeking=mode_seeking),
                        on_step=lambda s, n, st: stats.append(st))
    x = g.sample(["dark"] * 32 + ["bright"] * 32, seed=1)
    assert x.shape == (64, 1, 8, 8)
    assert x[:32].mean() < 0.45 < 0.7 < x[32:].mean()  # an untrained generator gives ~0.5 for both
    # The logged loss against the logged mean logits: relu and softplus are convex, so the mean loss
    # is at least the loss of the mean logit (Jensen), with room only for the logits' spread.
    f = {"hinge": lambda real, fake: max(0.0, 1 - real) + max(0.0, 1 + fake),
         "bce": lambda real, fake: float(torch.nn.functional.softplus(torch.tensor([-real, fake])).sum())}.get(loss)
    if f is not None:
        logged = [st for st in stats if "loss_d" in st]
        assert logged and all(st["loss_d"] >= f(st["d_real"], st["d_fake"]) - 1e-5 for st in logged)


def test_same_seed_same_model_on_cpu(digits, tiny_config):
    config = tiny_config
    a = train_generator(digits, config).state_dict()
    b = train_generator(digits, config).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = train_generator(digits, TrainConfig(**{**config.__dict__, "seed": 1})).state_dict()
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_balanced_sampler_draws_classes_uniformly():
    targets = [0] * 90 + [1] * 9 + [2] * 1
    batches = list(_StepBatchSampler(targets, 300, balanced=True, seed=0, start=0, stop=3))
    labels = torch.tensor([targets[i] for b in batches for i in b])
    assert torch.bincount(labels).min() > 250  # ~300 each
    instance = list(_StepBatchSampler(targets, 300, balanced=False, seed=0, start=0, stop=3))
    assert torch.bincount(torch.tensor([targets[i] for b in instance for i in b]), minlength=3)[2] < 30
    assert list(_StepBatchSampler(targets, 8, True, 0, 1, 3)) == batches_8(targets)[1:]


def batches_8(targets):
    return list(_StepBatchSampler(targets, 8, True, 0, 0, 3))


def test_should_stop_writes_a_checkpoint_and_resume_matches_uninterrupted(digits, tmp_path, tiny_config):
    run = RunSettings(device="cpu", sample_every=100, checkpoint_every=100)  # no checkpoint before the stop
    full = train_generator(digits, tiny_config, tmp_path / "full", run=run)
    steps_seen = []
    with pytest.raises(TrainingInterrupted, match="interrupted at step 3; checkpoint saved in .*--resume") as stopped:
        train_generator(digits, tiny_config, tmp_path / "resumed", run=run, on_step=lambda s, n, st: steps_seen.append(s),
                        should_stop=lambda: steps_seen[-1] >= 3)
    assert stopped.value.step == 3 and json.loads(load_meta(tmp_path / "resumed" / "checkpoint.safetensors"))["step"] == 3
    assert not (tmp_path / "resumed" / ".lock").exists()
    # run settings are not the recipe: a resumed run may change them (workers too)
    resumed = train_generator(digits, tiny_config, tmp_path / "resumed", resume=True,
                              run=RunSettings(device="cpu", num_workers=1, sample_every=1))
    a, b = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (tmp_path / "resumed" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss_d" in r] == [1, 2, 3, 4]
    assert json.loads((tmp_path / "resumed" / "config.json").read_text())["run"]["num_workers"] == 1


def test_maintenance_follows_the_schedule(digits, tmp_path):
    config = TrainConfig(steps=5, width=8, z_dim=8, batch_size=8)
    train_generator(digits, config, tmp_path, run=RunSettings(device="cpu", log_every=3, sample_every=4, checkpoint_every=100))
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss_d" in r] == [3, 5]  # every 3rd step, and the last
    assert [r["step"] for r in log if "diversity" in r] == [4, 5]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["step_000004.png", "step_000005.png"]
    assert json.loads(load_meta(tmp_path / "checkpoint.safetensors"))["step"] == 5
    meta = json.loads(load_meta(tmp_path / "model.safetensors"))
    assert "sample_every" not in meta["train_config"] and meta["train_config"]["steps"] == 5  # the recipe only


def test_sigkill_then_resume_continues_from_checkpoint_bit_for_bit(tmp_path):
    """A real SIGKILL of a fit in its own process; the reference and the resumed run go in-process."""
    steps = ["--steps", "80"]
    assert CliRunner().invoke(main, [*FIT[3:], *steps, "--out", str(tmp_path / "ref")]).exit_code == 0
    out = tmp_path / "killed"
    proc = subprocess.Popen(FIT + steps + ["--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.safetensors").exists() and time.time() < deadline:
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    checkpoint_step = json.loads(load_meta(out / "checkpoint.safetensors"))["step"]
    assert checkpoint_step < 80, "the run finished before it could be killed; make it longer"
    load_generator(out / "model.safetensors")  # the last good model is intact
    resumed = CliRunner().invoke(main, [*FIT[3:], *steps, "--out", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss_d" in r] == list(range(1, 81))
    a, b = load_file(tmp_path / "ref" / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def load_meta(path):
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return f.metadata()["cgan_augment"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_make_the_cli_write_a_checkpoint_and_exit_130(tmp_path, sig):
    """The CLI turns the signal into the library's should_stop (in-process: a thread sends it)."""
    out = tmp_path / "run"
    log = out / "log.jsonl"

    def send_when_training():
        deadline = time.time() + 60
        while (not log.exists() or log.stat().st_size == 0) and time.time() < deadline:
            time.sleep(0.02)
        os.kill(os.getpid(), sig)

    threading.Thread(target=send_when_training, daemon=True).start()
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(main, [*FIT[3:], "--steps", "100000", "--checkpoint-every", "100000", "--out", str(out)])
    assert result.exit_code == 130 and "--resume" in result.output and "Traceback" not in result.output, result.output
    step = json.loads(load_meta(out / "checkpoint.safetensors"))["step"]
    assert 1 <= step < 100000
    assert not (out / ".lock").exists()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers  # restored


def test_existing_model_is_never_overwritten_without_resume_or_force(digits, tmp_path, tiny_config):
    train_generator(digits, tiny_config, tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()
    with pytest.raises(OutputDirError, match="holds an earlier fit output"):
        train_generator(digits, TrainConfig(steps=1, width=8, z_dim=8), tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    with pytest.raises(OutputDirError, match="other settings"):
        train_generator(digits, TrainConfig(steps=8, width=8, z_dim=8, batch_size=16, lr=1e-3), tmp_path, resume=True)
    assert (tmp_path / "model.safetensors").read_bytes() == before


def test_second_run_on_same_out_is_refused_by_the_lock(digits, tmp_path, tiny_config):
    tmp_path.joinpath(".lock").write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(OutputDirError, match="another fit"):
        train_generator(digits, tiny_config, tmp_path)
    train_generator(digits, tiny_config, tmp_path, force=True)
    tmp_path.joinpath(".lock").write_text("999999999")  # stale: that process is gone
    train_generator(digits, tiny_config, tmp_path, force=True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_out_gives_a_clear_error(digits, tmp_path, tiny_config):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(OutputDirError):
            train_generator(digits, tiny_config, tmp_path / "sub")
    finally:
        tmp_path.chmod(0o700)


def test_failed_write_keeps_the_old_model(digits, tmp_path, tiny_config, monkeypatch):
    train_generator(digits, tiny_config, tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()
    import cgan_augment.generators.model_file as ck

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck, "save_file", full_disk)
    with pytest.raises(OutputDirError, match="No space left"):
        train_generator(digits, tiny_config, tmp_path, force=True)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


class PoisonedAfter(torch.utils.data.Dataset):
    """Real digits until ``poison`` is set, then NaN images (as a corrupt float file would give)."""

    def __init__(self, base):
        self.base, self.poison = base, False
        self.classes, self.targets = base.classes, base.targets
        self.image_size, self.channels = base.image_size, base.channels

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        x, y = self.base[i]
        return (x * float("nan") if self.poison else x), y


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_checkpoint(digits, tmp_path):
    data = PoisonedAfter(digits)
    config = TrainConfig(steps=10, width=8, z_dim=8, batch_size=8)

    def on_step(step, total, stats):
        data.poison = step >= 3

    with pytest.raises(TrainingDiverged, match="diverged at step 4"):
        train_generator(data, config, tmp_path, run=RunSettings(checkpoint_every=2, sample_every=100), on_step=on_step)
    assert json.loads(load_meta(tmp_path / "checkpoint.safetensors"))["step"] == 2
    g = load_generator(tmp_path / "model.safetensors")
    assert all(torch.isfinite(p).all() for p in g.state_dict().values())


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="loss should be one of"):
        TrainConfig(loss="l2")
    with pytest.raises(ConfigError, match="steps should be a positive integer"):
        TrainConfig(steps=0)


# ----------------------------------------------------------------------------- collapse and stall guard


def _grid(values, classes=2, per_class=4):
    """A fake grid: class-major images whose pixels are the given per-image values."""
    return torch.tensor(values, dtype=torch.float32).view(classes * per_class, 1, 1, 1).expand(-1, 1, 4, 4).clone()


def test_training_warnings_flag_collapse_and_stall_only():
    from cgan_augment.train.diagnostics import class_diversity, training_warnings

    labels = torch.arange(2).repeat_interleave(4)
    healthy = _grid([0.1, 0.5, 0.9, 0.3, 0.2, 0.6, 0.8, 0.4])
    real = class_diversity(healthy, labels, 2)
    assert training_warnings([(10, healthy, real)], real, ["cat", "dog"]) == {}
    half = _grid([0.1, 0.5, 0.9, 0.3, 0.5, 0.5, 0.5, 0.501])  # dog: all alike
    found = training_warnings([(20, half, class_diversity(half, labels, 2))], real, ["cat", "dog"])
    assert found == {"collapse": f"step 20: mode collapse in 1 of 2 classes ('dog'): their generated samples are nearly "
                                 f"all alike (within-class diversity 0.001, real images {real[1]:.3f}); try a lower "
                                 "learning rate, a stronger mode-seeking term or another loss."}
    same = [(s, healthy + 0.0009, real) for s in (30, 40)] + [(50, healthy, real)]
    assert training_warnings(same[-2:], real, ["cat", "dog"]) == {}  # two grids are not enough
    assert training_warnings(same, real, ["cat", "dog"]) == {
        "stall": "step 50: the generated samples have not changed over the last 3 sample grids (steps 30, 40, 50): "
                 "training has stalled or diverged; try a lower learning rate."}
    moving = same[:2] + [(50, healthy + 0.01, real)]
    assert training_warnings(moving, real, ["cat", "dog"]) == {}


def test_a_blown_up_run_warns_in_log_and_model_file_and_strict_stops_it(digits, tmp_path, tiny_config, tiny_run):
    from dataclasses import replace

    from cgan_augment.errors import TrainingCollapsed, TrainingWarning

    config = replace(tiny_config, lr=1e6, steps=6)
    with pytest.warns(TrainingWarning) as caught:
        g = train_generator(digits, config, tmp_path / "loud", run=tiny_run)
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith("step 2: mode collapse in 10 of 10 classes ('0', '1', '2', '3', '4' and 5 more)")
    assert messages[1].startswith("step 6: the generated samples have not changed over the last 3 sample grids (steps 2, 4, 6)")
    assert g.metadata["warnings"] == messages == load_generator(tmp_path / "loud" / "model.safetensors").metadata["warnings"]
    log = [json.loads(line) for line in (tmp_path / "loud" / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["warning"]) for r in log if "warning" in r] == [(2, messages[0]), (6, messages[1])]
    with pytest.warns(TrainingWarning), pytest.raises(TrainingCollapsed) as stopped:
        train_generator(digits, config, tmp_path / "strict", run=replace(tiny_run, strict=True))
    assert str(stopped.value) == (f"training stopped (strict=True) at {messages[0].rstrip('.')}; "
                                  f"the files of this step are kept in {tmp_path / 'strict'}.")
    assert load_generator(tmp_path / "strict" / "model.safetensors").metadata["step"] == 2


@pytest.mark.parametrize("size", [32, 64])
def test_colour_images_train_through_the_conv_family(tmp_path, size):
    from conftest import make_image_folder

    root = make_image_folder(tmp_path / "rgb", per_class=4, size=size, mode="RGB")
    data = load_data(DataSpec(str(root), image_size=size)).train
    assert (data.channels, data.image_size) == (3, size)
    g = train_generator(data, TrainConfig(steps=2, width=4, z_dim=8, batch_size=8), tmp_path / "out",
                        run=RunSettings(device="cpu"))
    x = load_generator(tmp_path / "out" / "model.safetensors").sample(["a", "c"], seed=0)
    assert x.shape == (2, 3, size, size) and torch.equal(x, g.sample(["a", "c"], seed=0))


def test_resume_after_a_kill_that_tore_the_last_log_line(digits, tmp_path, tiny_config):
    """A kill between the log's buffer and the disk leaves half a line; resuming drops it (before
    the fix json.loads raised on it: a traceback instead of a resumed run)."""
    run = RunSettings(device="cpu", sample_every=100, checkpoint_every=2)
    steps_seen = []
    with pytest.raises(TrainingInterrupted):
        train_generator(digits, tiny_config, tmp_path, run=run, on_step=lambda s, n, st: steps_seen.append(s),
                        should_stop=lambda: steps_seen[-1] >= 2)
    with open(tmp_path / "log.jsonl", "a") as log:
        log.write('{"step": 3, "loss_d": 1.2')  # torn: no closing brace, no newline
    train_generator(digits, tiny_config, tmp_path, run=run, resume=True)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss_d" in r] == list(range(1, tiny_config.steps + 1))


def test_resume_with_another_width_names_the_setting(digits, tmp_path, tiny_config):
    """Before the fix the weights were loaded first and the run stopped at a tensor-shape mismatch."""
    from dataclasses import replace

    train_generator(digits, tiny_config, tmp_path, run=RunSettings(device="cpu", sample_every=100, checkpoint_every=2))
    with pytest.raises(OutputDirError) as info:
        train_generator(digits, replace(tiny_config, width=16, steps=6), tmp_path, resume=True, run=RunSettings(device="cpu"))
    assert "other settings (width=8)" in str(info.value) and "\n" not in str(info.value)


def test_sample_without_a_seed_leaves_the_global_rng_alone():
    """Before the fix seed=None called torch.seed(), which reseeds the caller's global RNG."""
    from cgan_augment.generators.networks import build_generator

    g = build_generator("mlp", 2, 8, 1, z_dim=4, width=8)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    first, second = g.sample([0, 1]), g.sample([0, 1])
    assert torch.equal(torch.rand(3), expected)
    assert not torch.equal(first, second)  # still a fresh draw each time
