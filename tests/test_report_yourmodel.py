"""Your classifier, your recipe: a user's factory through run_report and the CLI, each bad factory
as one line, the recipe (optimiser, schedule, normalisation) as trained and as recorded."""

import json
import re
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from cgan_augment.cli.main import main
from click.testing import CliRunner

from cgan_augment import DataSpec, ReportConfig, load_data, run_report
from cgan_augment.errors import ClassifierError, ConfigError
from cgan_augment.report.classifiers import _optimizer

SPEC = DataSpec("builtin:digits", image_size=8, test_split=0.3, imbalance=10, seed=0)
TINY = dict(steps=3, batch_size=16, quality_samples=12, grid_samples=3)
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="module")
def split():
    return load_data(SPEC)


class Recorder(nn.Module):
    """A small net that remembers the range of what it was fed."""

    def __init__(self, num_classes, channels, image_size):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(channels * image_size * image_size, num_classes))
        self.seen = []

    def forward(self, x):
        self.seen.append((float(x.min()), float(x.max())))
        return self.net(x)


def test_a_users_factory_is_called_per_arm_and_seed_under_that_seed(split, tmp_path):
    calls, models = [], []

    def make_model(num_classes, channels, image_size):
        calls.append((num_classes, channels, image_size))
        models.append(Recorder(num_classes, channels, image_size))
        models[-1].init = models[-1].net[1].weight.detach().clone()
        return models[-1]

    config = ReportConfig(arms=("real", "la"), seeds=(0, 1), optimizer="sgd", lr=0.05, schedule="cosine",
                          normalize_mean=(0.5,), normalize_std=(0.5,), **TINY)
    result = run_report(split.train, split.test, None, config, classifier=make_model, out=tmp_path, device="cpu")
    assert calls == [(10, 1, 8)] * (1 + 2 * 2)  # the check, then one per (arm, seed)
    inits = [m.init for m in models]
    assert torch.equal(inits[0], inits[1]) and torch.equal(inits[1], inits[3])  # seed 0: check, real, la
    assert not torch.equal(inits[1], inits[2])  # seed 1 differs
    lows = [lo for m in models[1:] for lo, _ in m.seen]
    assert min(lows) < -0.5  # the model saw (x - 0.5) / 0.5, not [0, 1]
    about = result["classifier"]
    assert about["name"].endswith(":test_a_users_factory_is_called_per_arm_and_seed_under_that_seed.<locals>.make_model")
    assert about["model"] == f"{__name__}.Recorder" and about["parameters"] == 64 * 10 + 10 and not about["builtin"]
    assert result["recipe"] == {"optimizer": "sgd", "lr": 0.05, "weight_decay": 0.0, "momentum": 0.9, "schedule": "cosine",
                                "steps": 3, "batch_size": 16, "normalize_mean": (0.5,), "normalize_std": (0.5,)}
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["classifier"]["parameters"] == 650 and saved["recipe"]["optimizer"] == "sgd"
    line = ("Classifier: your factory " + about["name"] + f" ({__name__}.Recorder, 650 parameters); recipe: SGD "
            "(momentum 0.9), lr 0.05, cosine schedule to 0, 3 steps at batch 16, inputs normalised by mean [0.5], "
            "std [0.5]; the same for every arm.")
    assert line in (tmp_path / "report.md").read_text()
    assert line.replace("<", "&lt;").replace(">", "&gt;") in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize("optimizer, schedule, lrs", [
    ("adam", "constant", [0.1] * 8),
    ("sgd", "step", [0.1] * 4 + [0.01] * 2 + [0.001] * 2),
    ("adamw", "cosine", [0.1 * (1 + __import__("math").cos(__import__("math").pi * s / 8)) / 2 for s in range(8)]),
])
def test_the_recipe_builds_the_optimiser_and_schedule(optimizer, schedule, lrs):
    model = nn.Linear(2, 2)
    opt, sched = _optimizer(model, ReportConfig(optimizer=optimizer, schedule=schedule, lr=0.1, steps=8, weight_decay=0.01))
    assert type(opt).__name__ == {"adam": "Adam", "sgd": "SGD", "adamw": "AdamW"}[optimizer]
    assert opt.param_groups[0]["weight_decay"] == 0.01
    seen = []
    for _ in range(8):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched:
            sched.step()
    assert seen == pytest.approx(lrs)


def test_recipe_settings_are_checked():
    with pytest.raises(ConfigError, match="normalize_mean and normalize_std go together"):
        ReportConfig(normalize_mean=(0.5,))
    with pytest.raises(ConfigError, match="normalize_std should be None or one or more positive numbers"):
        ReportConfig(normalize_mean=(0.5,), normalize_std=(0.0,))
    with pytest.raises(ConfigError, match="optimizer should be one of adam, adamw, sgd. Got 'rmsprop'."):
        ReportConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="classifier should be one of cnn, logreg, resnet18, or a factory"):
        ReportConfig(classifier="resnet50")
    assert ReportConfig(normalize_mean=0.5, normalize_std=1).normalize_std == (1.0,)


# ----------------------------------------------------------------------------- the command line

FACTORIES = '''
import torch.nn as nn

def good(num_classes, channels, image_size):
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * image_size * image_size, num_classes))

def not_a_module(num_classes, channels, image_size):
    return [1, 2, 3]

def wrong_shape(num_classes, channels, image_size):
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * image_size * image_size, 1000))

def raises(num_classes, channels, image_size):
    raise FileNotFoundError("my_weights.pt")

constant = 3
'''

ARGS = ["report", "builtin:digits", "--image-size", "8", "--imbalance", "10", "--test-split", "0.3", "--arms", "real,la",
        "--seeds", "1", "--steps", "3", "--batch-size", "16", "--device", "cpu"]


@pytest.fixture
def in_project(tmp_path, monkeypatch):
    """A working folder holding the user's package ``mymodels/factories.py``."""
    (tmp_path / "mymodels").mkdir()
    (tmp_path / "mymodels" / "__init__.py").write_text("")
    (tmp_path / "mymodels" / "factories.py").write_text(FACTORIES)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    import sys

    for name in [m for m in sys.modules if m.startswith("mymodels")]:
        del sys.modules[name]


def test_cli_runs_a_factory_from_the_working_folder(in_project):
    result = CliRunner().invoke(main, ARGS + ["--classifier", "mymodels.factories:good", "--optimizer", "sgd",
                                              "--schedule", "step", "--normalize-mean", "0.1", "--normalize-std", "0.3",
                                              "--out", "rep"])
    assert result.exit_code == 0, result.output
    saved = json.loads((in_project / "rep" / "report.json").read_text())
    assert saved["classifier"]["name"] == "mymodels.factories:good" and saved["classifier"]["parameters"] == 650
    assert saved["config"]["classifier"] == "mymodels.factories:good" and saved["recipe"]["schedule"] == "step"
    assert saved["recipe"]["normalize_mean"] == [0.1]


@pytest.mark.parametrize("spec, message", [
    ("mymodels.nothere:good", "error: --classifier mymodels.nothere:good: no module named 'mymodels.nothere' on sys.path "
                              "or in the working folder"),
    ("mymodels.factories:missing", "error: --classifier mymodels.factories:missing: module mymodels.factories has no "
                                   "attribute 'missing'."),
    ("mymodels.factories:constant", "error: --classifier mymodels.factories:constant: constant is a int, not a function "
                                    "that makes a model."),
    ("mymodels.factories:not_a_module", "error: classifier factory mymodels.factories:not_a_module returned builtins.list, "
                                        "not a torch.nn.Module."),
    ("mymodels.factories:wrong_shape", "error: classifier factory mymodels.factories:wrong_shape: its model's output for 2 "
                                       "images of 1×8×8 is (2, 1000); it must be (2, 10), one logit per class."),
    ("mymodels.factories:raises", "error: classifier factory mymodels.factories:raises raised FileNotFoundError when called "
                                  "as (10, 1, 8): my_weights.pt"),
    ("no-colon", "error: classifier should be one of cnn, logreg, resnet18, or a factory as package.module:function. "
                 "Got 'no-colon'."),
])
def test_each_bad_factory_is_one_line_naming_it(in_project, spec, message):
    result = CliRunner().invoke(main, ARGS + ["--classifier", spec, "--out", "rep"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith(message), lines[-1]
    assert not (in_project / "rep").exists()  # refused before anything was written


def test_a_bad_factory_from_python_is_a_config_error(split):
    with pytest.raises(ClassifierError, match="returned builtins.list") as e:
        run_report(split.train, split.test, None, ReportConfig(arms=("real",), seeds=(0,), **TINY),
                   classifier=lambda k, c, s: [k], device="cpu")
    assert isinstance(e.value, ConfigError)


def test_help_lists_every_default_arm():
    """In the description itself, not only in --arms' default list."""
    text = " ".join(CliRunner().invoke(main, ["report", "--help"]).output.split("Options:")[0].split())
    listed = set(re.findall(r"(?<![\w+-])([a-z]+(?:[-+][a-z]+)*)(?![\w+-])", text))
    missing = [a for a in ReportConfig().arms if a not in listed]
    assert not missing, missing


# ----------------------------------------------------------------------------- the README's example


def _readme_block(marker: str) -> str:
    text = README.read_text()
    start = text.index(marker)
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


def test_the_readme_factory_example_runs_as_written(tmp_path, monkeypatch):
    """The README's 'your own classifier' block, run as written, after this test writes the
    weights file it loads (the same small net, trained for nothing: its tensors are what matter)."""
    code = _readme_block("<!-- example: your classifier")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(textwrap.dedent(code.split("# -- the report --")[0]), "README.md", "exec"), namespace)
    pretrained = namespace["make_net"](10, 1, 16)  # the user's network as they trained it before
    with torch.no_grad():
        for p in pretrained.parameters():
            p.fill_(0.01)
    torch.save(pretrained.state_dict(), tmp_path / "my_weights.pt")
    exec(compile(code, "README.md", "exec"), namespace)
    result = namespace["result"]
    model = namespace["make_model"](10, 1, 16)
    first = next(iter(model.parameters()))
    assert torch.all(first == 0.01)  # the weights file was loaded into the body
    assert result["classifier"]["name"] == "__main__:make_model" or result["classifier"]["name"].endswith(":make_model")
    assert set(result["arms"]) == {"real", "strong-aug", "la+strong-aug", "la+aug+mixup"}
    assert (tmp_path / "runs" / "my-report" / "report.html").exists()


def test_the_readme_arm_example_runs_as_written(split):
    from cgan_augment.report.plugins import _REGISTRY

    namespace = {}
    try:
        exec(compile(_readme_block("<!-- example: your own arm"), "README.md", "exec"), namespace)
        config = namespace["config"]
        assert "focal+strong-aug" in config.arms
        result = run_report(split.train, split.test, None, ReportConfig(arms=("real", "focal+strong-aug"), seeds=(0,), **TINY),
                            device="cpu")
        assert "focal+strong-aug" in result["arms"] and result["skipped"] == {}
    finally:
        _REGISTRY.pop("focal+strong-aug", None)
