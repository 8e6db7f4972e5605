"""Device resolution: ``auto`` falls back in order; an explicit device this machine lacks is one line."""

import pytest
import torch

from cgan_augment import ConfigError, DeviceError, resolve_device
from cgan_augment.generators.networks import build_generator


def test_auto_picks_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device() == torch.device("cuda")


def test_explicit_devices_are_checked(monkeypatch):
    assert resolve_device("cpu") == resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"^device 'cuda' asked for, but CUDA is not available here; use --device cpu or auto\.$"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(DeviceError, match="has 1 CUDA device"):
        resolve_device("cuda:3")
    for bad in ("tpu", "gpu", ""):
        with pytest.raises(DeviceError, match="device should be auto, cpu, cuda, cuda:N or mps"):
            resolve_device(bad)
    assert issubclass(DeviceError, ConfigError)  # callers catching ConfigError keep working


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_it_is_our_error_not_torchs(tmp_path):
    from cgan_augment import RunSettings, TrainConfig, load_generator, train_generator
    from cgan_augment.data.arrays import ArrayImages

    g = build_generator("mlp", 2, 8, 1, z_dim=8, width=8)
    with pytest.raises(DeviceError, match="CUDA is not available"):
        g.sample([0, 1], device="cuda")
    real = ArrayImages(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), [0, 0, 1, 1], ["a", "b"])
    with pytest.raises(DeviceError, match="CUDA is not available"):
        train_generator(real, TrainConfig(family="mlp", steps=1, width=8, z_dim=8), run=RunSettings(device="cuda"))
    train_generator(real, TrainConfig(family="mlp", steps=1, width=8, z_dim=8, batch_size=4), tmp_path,
                    run=RunSettings(device="cpu"))
    with pytest.raises(DeviceError, match="CUDA is not available"):
        load_generator(tmp_path / "model.safetensors", device="cuda")
