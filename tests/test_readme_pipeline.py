"""The README's recommended-pipeline block runs as written (with a quickly fitted deform model)."""

import pathlib
import re

from cgan_augment import DataSpec, DeformConfig, RunSettings, fit_generator, load_data

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_recommended_pipeline_block_runs(tmp_path):
    text = README.read_text()
    section = text[text.index("## The recommended pipeline"):text.index("## With imbalanced-learn")]
    code = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    data = load_data(DataSpec("builtin:mnist5k", test_split=1000, imbalance=100))
    fit_generator(data.train, DeformConfig(pairs=32, registration_steps=5), tmp_path / "deform", RunSettings(device="cpu"))
    code = code.replace("runs/deform/model.safetensors", str(tmp_path / "deform" / "model.safetensors"))
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert scope["x"].shape == (64, 1, 28, 28)
    assert scope["warped"].any()  # the last batch held generated variants (rare classes drawn often, half of them warped)
    import torch  # the 20 steps trained the classifier well above chance (0.1) on the held-out images

    test_x = torch.stack([data.test[i][0] for i in range(len(data.test))])
    test_y = torch.tensor(data.test.targets)
    with torch.no_grad():
        accuracy = (scope["model"](test_x).argmax(1) == test_y).float().mean().item()
    assert accuracy > 0.3, accuracy
