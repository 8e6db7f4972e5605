"""Class names from a forged model file or .npz never become paths as they are: every writer
goes through one safe-name function, and names that would collide after it are refused in one
line. Before the fix, ``write_samples`` made ``OUT/../../escaped`` (outside OUT) and
``write_image_folder`` failed or wrote outside its temporary tree."""

import numpy as np
import pytest

from cgan_augment import DataError, DataSpec, SyntheticDataset, load_data, load_generator
from cgan_augment._util.safe_names import class_file_name, class_file_names
from cgan_augment.generators.model_file import save_generator
from cgan_augment.generators.networks import build_generator
from cgan_augment.generators.walks import write_walk
from cgan_augment.mixing.export import write_image_folder, write_samples

EVIL = ["../../escaped", "a/b", "..", "ok"]


def _forged_model(path, classes):
    g = build_generator("mlp", len(classes), 8, 1, z_dim=4, width=8)
    g.classes = list(classes)
    save_generator(g, path, {})
    return path


def _files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_the_safe_name_keeps_ordinary_names_and_defuses_the_rest():
    assert [class_file_name(c) for c in ["cat", "Ankle boot", "7", "naïve", "a.b"]] == ["cat", "Ankle boot", "7", "naïve", "a.b"]
    assert [class_file_name(c) for c in EVIL + ["", ".hidden", "x\\y", "t\nab"]] == \
        ["_._.._escaped", "a_b", "_.", "ok", "_", "_hidden", "x_y", "t_ab"]
    assert len(class_file_name("é" * 300).encode()) <= 200


@pytest.mark.parametrize("classes", [EVIL, ["../../escaped", "ok"]])
def test_sample_from_a_forged_model_file_writes_only_inside_out(tmp_path, classes):
    model = _forged_model(tmp_path / "forged.safetensors", classes)
    out = tmp_path / "deep" / "er" / "out"
    write_samples(model, out, n=2, device="cpu")
    assert [p for p in _files(tmp_path) if not p.startswith("deep/er/out/")] == ["forged.safetensors"]
    assert sorted({p.split("/")[0] for p in _files(out)} - {"cgan-augment.json"}) == sorted(class_file_names(classes))
    assert all(len(p.split("/")) == 2 for p in _files(out) if p != "cgan-augment.json")  # OUT/<class>/NNNNN.png only


def test_walk_grid_of_a_forged_class_stays_beside_out(tmp_path):
    model = _forged_model(tmp_path / "forged.safetensors", EVIL)
    (tmp_path / "w").mkdir()
    written = write_walk(model, tmp_path / "w" / "walk.png", n=2, grid_class="../../escaped", device="cpu")
    assert [p.parent for p in written] == [tmp_path / "w"] * 2
    assert written[1].name == "walk__._.._escaped_grid.png"


def test_colliding_names_are_refused_in_one_line(tmp_path):
    model = _forged_model(tmp_path / "forged.safetensors", ["a/b", "a_b"])
    with pytest.raises(DataError) as info:
        write_samples(model, tmp_path / "out", n=1, device="cpu")
    assert str(info.value) == f"{model}: classes 'a/b' and 'a_b' would both be written as 'a_b'; rename one of them."
    assert not (tmp_path / "out").exists()


def test_augment_of_a_forged_npz_writes_only_inside_out(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "forged.npz", x=rng.integers(0, 256, (12, 8, 8), dtype=np.uint8),
             y=np.array([0] * 6 + [1] * 4 + [2] * 1 + [3] * 1), classes=np.array(EVIL))
    real = load_data(DataSpec(str(tmp_path / "forged.npz"), image_size=8)).train
    g = load_generator(_forged_model(tmp_path / "m.safetensors", EVIL), device="cpu")
    out = tmp_path / "deep" / "out"
    written = write_image_folder(SyntheticDataset(real, g, "balance"), out)
    assert written == {c: 6 for c in EVIL}  # keyed by class name, as before
    assert not (tmp_path / "escaped").exists()
    folders = {p.split("/")[0] for p in _files(out)} - {"augment.json"}
    assert folders == set(class_file_names(EVIL))
    import json

    assert json.loads((out / "augment.json").read_text())["class_folders"]["../../escaped"] == "_._.._escaped"
