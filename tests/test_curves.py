"""Training curves from log.jsonl and the animated sample timeline."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cgan_augment import DataSpec, RunSettings, TrainConfig, load_data, train_generator
from cgan_augment.train.curves import _panels, read_log, smooth, write_training_curves
from cgan_augment.train.diagnostics import write_timeline_animation


def test_smooth_is_a_bias_corrected_ema():
    assert smooth([3.0] * 10, span=5) == pytest.approx([3.0] * 10)  # no pull towards zero at the start
    assert smooth([1.0, 2.0, 4.0], span=1) == [1.0, 2.0, 4.0]
    a = 2 / (3 + 1)
    s = smooth([0.0, 1.0], span=3)
    assert s[1] == pytest.approx(1 / (1 + (1 - a)))
    assert smooth([1.0, None, 3.0], span=1) == [1.0, None, 3.0]
    noisy = [float(i % 2) for i in range(200)]  # 0, 1, 0, 1, ...: the EMA settles near 0.5
    assert max(abs(v - 0.5) for v in smooth(noisy)[100:]) < 0.15


def test_read_log_skips_a_torn_last_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "loss_d": 1.0}\n{"step": 2, "loss_d": 0.9}\n{"step": 3, "loss_')
    assert [r["step"] for r in read_log(log)] == [1, 2]


def _records(loss_keys, steps=50, gp=False):
    out = []
    for s in range(1, steps + 1):
        r = {"step": s, "loss_d": 1.0 / s, "loss_g": 0.5, "d_real": 0.3, "d_fake": -0.2}
        if gp:
            r["gp"] = 0.01 * s
        out.append({k: v for k, v in r.items() if k in loss_keys or k == "step"})
        if s % 25 == 0:
            out.append({"step": s, "diversity": [0.2, None], "real_diversity": [0.3, 0.25]})
    return out


def test_panels_follow_what_the_log_holds(tmp_path):
    everything = ("loss_d", "loss_g", "d_real", "d_fake", "gp")
    assert _panels(_records(everything, gp=True)) == ["losses", "scores", "wasserstein", "diversity"]
    assert _panels(_records(("loss_d", "loss_g", "d_real", "d_fake"))) == ["losses", "scores", "diversity"]
    assert _panels([{"step": 1}]) == []
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in _records(everything, gp=True)))
    assert write_training_curves(log, tmp_path / "curves.png", ["a", "b"]) is None
    with Image.open(tmp_path / "curves.png") as im:
        assert im.format == "PNG" and im.size == (1040, 660)  # 2×2 panels
    log.write_text('{"step": 1, "images_per_s": 3}\n')
    assert "nothing logged" in write_training_curves(log, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    data = load_data(DataSpec("builtin:digits", image_size=16, imbalance=10)).train
    train_generator(data, TrainConfig(steps=6, width=8, z_dim=8, batch_size=16), out,
                    run=RunSettings(sample_every=2, checkpoint_every=6))
    return out


def test_a_fit_writes_the_curves_and_the_animation(fitted):
    with Image.open(fitted / "training_curves.png") as curves, Image.open(fitted / "samples_over_time.gif") as gif:
        assert curves.format == "PNG" and gif.format == "GIF" and gif.n_frames == 3


def test_wgan_gp_logs_the_estimate_and_penalty_and_resume_keeps_the_earlier_curves(tmp_path):
    data = load_data(DataSpec("builtin:digits", image_size=16, imbalance=10)).train
    recipe = dict(loss="wgan-gp", width=8, z_dim=8, batch_size=8, d_steps=1)
    run = RunSettings(sample_every=2, checkpoint_every=2)
    train_generator(data, TrainConfig(steps=2, **recipe), tmp_path, run=run)
    train_generator(data, TrainConfig(steps=4, **recipe), tmp_path, run=run, resume=True)
    records = read_log(tmp_path / "log.jsonl")
    steps = [r for r in records if "loss_d" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert all(r["w_estimate"] == pytest.approx(r["d_real"] - r["d_fake"]) and r["gp"] > 0 for r in steps)  # logged, not a placeholder 0
    assert [r for r in records if r.get("event") == "resume"] == [{"step": 2, "event": "resume"}]
    assert _panels(records) == ["losses", "scores", "wasserstein", "diversity"]
    with Image.open(tmp_path / "samples_over_time.gif") as gif:
        assert gif.n_frames == 2  # the grid of step 2 (first run) and of step 4 (after the resume)


def test_curves_from_a_real_fit_log(fitted, tmp_path):
    records = read_log(fitted / "log.jsonl")
    assert _panels(records) == ["losses", "scores", "diversity"]
    assert write_training_curves(fitted / "log.jsonl", tmp_path / "c.png", [str(k) for k in range(10)]) is None
    with Image.open(tmp_path / "c.png") as im:
        pixels = torch.from_numpy(np.asarray(im.convert("L")).copy())
    assert (pixels < 128).float().mean() > 0.01  # something was drawn


def test_timeline_animation_has_a_frame_per_grid(fitted, tmp_path):
    grids = sorted((fitted / "samples").glob("step_*.png"))
    assert len(grids) == 3
    write_timeline_animation(grids, tmp_path / "t.gif")
    with Image.open(tmp_path / "t.gif") as gif, Image.open(grids[-1]) as last:
        assert gif.format == "GIF" and gif.n_frames == 3 and gif.info.get("loop") == 0
        scale = max(1, -(-160 // last.width))
        assert gif.size == (last.width * scale, last.height * scale + 16)
        gif.seek(2)
        frame = gif.convert("L").crop((0, 16, gif.width, gif.height))
        expected = last.convert("L").resize(frame.size, Image.NEAREST)
        assert np.array_equal(np.asarray(frame), np.asarray(expected))  # grayscale grids survive the GIF exactly
        durations = []
        for i in range(3):
            gif.seek(i)
            durations.append(gif.info["duration"])
        assert durations == [500, 500, 1500]
    write_timeline_animation(grids * 3, tmp_path / "few.gif", steps=range(0, 90, 10), max_frames=4)
    with Image.open(tmp_path / "few.gif") as gif:
        assert gif.n_frames == 4
