import json
import struct

import pytest
import torch

from cgan_augment import DataSpec, ModelFileError, load_data, load_generator, read_metadata, train_generator


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    from cgan_augment import TrainConfig

    out = tmp_path_factory.mktemp("model")
    data = load_data(DataSpec("builtin:digits", image_size=16, imbalance=5))
    train_generator(data.train, TrainConfig(steps=3, width=8, z_dim=8, batch_size=16), out, data_info=data_spec_dict())
    return out / "model.safetensors"


def data_spec_dict():
    return DataSpec("builtin:digits", image_size=16, imbalance=5).to_dict()


def test_model_file_rebuilds_without_other_files(model_path):
    meta = read_metadata(model_path)
    assert meta["format_version"] == 1 and meta["kind"] == "generator"
    assert meta["classes"] == [str(k) for k in range(10)]
    assert meta["class_counts"][0] == 178 and meta["arch"]["image_size"] == 16
    assert meta["value_range"] == [0.0, 1.0] and meta["data"]["imbalance"] == 5
    g = load_generator(model_path)
    x = g.sample({"3": 4, "9": 2}, seed=0)
    assert x.shape == (6, 1, 16, 16) and not g.training


def test_no_pickle_anywhere_in_the_package():
    import pathlib

    import cgan_augment

    root = pathlib.Path(cgan_augment.__file__).parent
    for path in list(root.rglob("*.py")) + list((root.parent / "cli").rglob("*.py")):
        text = path.read_text()
        for forbidden in ("import pickle", "pickle.load", "allow_pickle=True", "import dill", "import joblib"):
            assert forbidden not in text, f"{path}: {forbidden}"
        for line in text.splitlines():
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}: {line}"


def _header(path):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _write(path, header, body):
    data = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(data)) + data + body)


def _refused(path, *words):
    with pytest.raises(ModelFileError) as info:
        load_generator(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for w in words:
        assert w in message, message


def test_not_safetensors_truncated_and_missing(tmp_path, model_path):
    (tmp_path / "x.safetensors").write_text("hello, I am not a model")
    _refused(tmp_path / "x.safetensors", "not a valid safetensors")
    raw = model_path.read_bytes()
    (tmp_path / "t.safetensors").write_bytes(raw[: len(raw) // 2])
    _refused(tmp_path / "t.safetensors", "not a valid safetensors")
    _refused(tmp_path / "none.safetensors", "no such")


def test_forged_headers(tmp_path, model_path):
    header, body = _header(model_path)
    meta = json.loads(header["__metadata__"]["cgan_augment"])

    h = dict(header, __metadata__={})
    _write(tmp_path / "nometa.safetensors", h, body)
    _refused(tmp_path / "nometa.safetensors", "without cgan-augment metadata")

    h = dict(header, __metadata__={"cgan_augment": "{not json"})
    _write(tmp_path / "badjson.safetensors", h, body)
    _refused(tmp_path / "badjson.safetensors", "not valid JSON")

    forged = dict(meta, arch=dict(meta["arch"], width=16))  # shapes now disagree with the metadata
    _write(tmp_path / "shape.safetensors", dict(header, __metadata__={"cgan_augment": json.dumps(forged)}), body)
    _refused(tmp_path / "shape.safetensors", "expected")

    forged = dict(meta, arch=dict(meta["arch"], image_size=10**9))  # would allocate terabytes
    _write(tmp_path / "huge.safetensors", dict(header, __metadata__={"cgan_augment": json.dumps(forged)}), body)
    _refused(tmp_path / "huge.safetensors", "image_size")

    from safetensors.torch import load_file, save_file

    tensors = load_file(model_path)
    key = sorted(tensors)[0]
    save_file({k: v for k, v in tensors.items() if k != key}, tmp_path / "missing.safetensors", header["__metadata__"])
    _refused(tmp_path / "missing.safetensors", "missing")

    save_file(dict(tensors, evil=torch.zeros(3)), tmp_path / "extra.safetensors", header["__metadata__"])
    _refused(tmp_path / "extra.safetensors", "unexpected tensor 'evil'")

    key = next(k for k in header if k != "__metadata__" and header[k]["dtype"] == "F32")
    wrong = dict(header)
    wrong[key] = dict(header[key], dtype="I32")
    _write(tmp_path / "dtype.safetensors", wrong, body)
    _refused(tmp_path / "dtype.safetensors", "int32")

    big = dict(header)
    entry = dict(header[key])
    entry["shape"] = [2**40]
    entry["data_offsets"] = [0, 2**42]
    big[key] = entry
    _write(tmp_path / "bigdecl.safetensors", big, body)
    _refused(tmp_path / "bigdecl.safetensors")


def test_only_file_problems_become_damaged_file_errors(model_path, monkeypatch):
    """A MemoryError or a bug of ours is not reported as a damaged file."""
    import cgan_augment.generators.model_file as ck

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(ck, "load_file", out_of_memory)
    with pytest.raises(MemoryError):
        load_generator(model_path)
    monkeypatch.setattr(ck, "safe_open", lambda *a, **k: (_ for _ in ()).throw(KeyError("our bug")))
    with pytest.raises(KeyError):
        read_metadata(model_path)
