"""Shared fixtures: tiny datasets made on the spot and settings that train in a second or two."""

import numpy as np
import pytest
from PIL import Image

from cgan_augment import RunSettings, TrainConfig


def make_image_folder(root, classes=("a", "b", "c"), per_class=6, size=12, mode="L", seed=0):
    """root/<class>/<i>.png with a class-dependent pattern; returns root."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(classes):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            arr = (rng.random((size, size)) * 60).astype(np.uint8)
            arr[:, k * size // len(classes):(k + 1) * size // len(classes)] = 255  # class stripe
            im = Image.fromarray(arr, mode="L")
            (im.convert(mode) if mode != "L" else im).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path):
    return make_image_folder(tmp_path / "data")


@pytest.fixture
def tiny_config():
    return TrainConfig(steps=4, width=8, z_dim=8, batch_size=16)


@pytest.fixture
def tiny_run():
    """Grids and checkpoints every 2 steps, on the CPU."""
    return RunSettings(device="cpu", sample_every=2, checkpoint_every=2)
