"""The README's recommended-pipeline block runs as written (with a quickly fitted deform model)."""

import re
import pathlib

from cgan_augment import DataSpec, load_data
from cgan_augment.generators.deform import DeformConfig, fit_deform

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_recommended_pipeline_block_runs(tmp_path):
    text = README.read_text()
    section = text[text.index("## The recommended pipeline"):text.index("## With imbalanced-learn")]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    data = load_data(DataSpec("builtin:mnist5k", test_split=1000, imbalance=100))
    fit_deform(data.train, DeformConfig(pairs=32, registration_steps=5), tmp_path / "deform", device="cpu")
    code = code.replace("runs/deform/model.safetensors", str(tmp_path / "deform" / "model.safetensors"))
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["loss"].item() > 0 and scope["x"].shape == (64, 1, 28, 28)
