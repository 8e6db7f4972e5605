"""A report whose synthetic arm used no generated image (every class at or above synthetic_below)
says so in report.md, report.html and the verdict, instead of calling "hurt" or "no clear
difference" on a comparison of an arm with itself (before the fix nothing said so)."""

import pytest

from cgan_augment import DataSpec, ReportConfig, load_data, run_report
from cgan_augment.generators.networks import build_generator

TINY = dict(steps=3, batch_size=16, quality_samples=12, grid_samples=3)


@pytest.fixture(scope="module")
def balanced_report(tmp_path_factory):
    split = load_data(DataSpec("builtin:digits", image_size=8, test_split=0.3, seed=0))  # every class ~125 images
    g = build_generator("mlp", 10, 8, 1, z_dim=8, width=8)
    g.classes = list(split.train.classes)
    out = tmp_path_factory.mktemp("report")
    config = ReportConfig(arms=("real", "strong-aug", "synthetic+strong-aug"), seeds=(0, 1), synthetic_below=40, **TINY)
    return run_report(split.train, split.test, g, config, out=out, device="cpu"), out


def test_an_arm_without_generated_images_equals_its_baseline_and_is_not_tested(balanced_report):
    result, out = balanced_report
    same, base = result["arms"]["synthetic+strong-aug"]["runs"], result["arms"]["strong-aug"]["runs"]
    metrics = ("accuracy", "balanced_accuracy", "macro_f1", "per_class_recall")  # not seconds, nor the pool size
    assert {s: {m: r[m] for m in metrics} for s, r in same.items()} == {s: {m: r[m] for m in metrics} for s, r in base.items()}
    assert len({r["balanced_accuracy"] for r in base.values()}) == 2  # the seeds differ: the equality is not trivial
    why = "every class with generated images has at least synthetic_below=40 real images"
    assert result["same_as"] == {"synthetic+strong-aug": {"arm": "strong-aug", "why": why}}
    assert result["verdict"] == (f"nothing was tested: synthetic+strong-aug used no generated image ({why}), so it "
                                 "trained exactly what strong-aug trains; there is no verdict on synthetic data.")
    assert result["comparison"] is None
    md, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    assert f"**Verdict: {result['verdict']}**" in md
    assert "`synthetic+strong-aug` used no generated image" in md and "trains exactly what strong-aug trains |" in md
    assert "<code>synthetic+strong-aug</code> used no generated image" in html
    assert "nothing was tested" in html and "no generated image used: trains exactly what strong-aug trains" in html


def test_the_resume_cache_is_keyed_on_the_library_version(monkeypatch):
    """Before the fix a report --resume after an upgrade reused the runs of the old version."""
    import torch

    import cgan_augment._version as version
    from cgan_augment.report.run import _run_keys

    data = (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]))
    before = _run_keys(ReportConfig(), data, data, None, None)
    monkeypatch.setattr(version, "__version__", version.__version__ + ".post1")
    after = _run_keys(ReportConfig(), data, data, None, None)
    assert all(before[arm] != after[arm] for arm in before)


def test_the_method_says_what_picking_the_best_baseline_does():
    """It said the pick "can only make the verdict more cautious", which is false for "hurt"."""
    from cgan_augment.report.gains import _summarise, verdict_method

    runs = lambda vals: {s: {"accuracy": v, "balanced_accuracy": v, "macro_f1": v, "per_class_recall": [v, v]}  # noqa: E731
                         for s, v in enumerate(vals)}
    result = _summarise({"classic-aug": runs([0.8, 0.82, 0.81]), "strong-aug": runs([0.9, 0.91, 0.92]),
                         "synthetic+strong-aug": runs([0.85, 0.86, 0.87])}, {}, {}, None, ReportConfig(seeds=(0, 1, 2)), ["a", "b"])
    assert result["comparison"]["vs"] == "strong-aug" and result["comparison"]["call"] == "hurt"
    text = " ".join(verdict_method(result))
    assert "more cautious" not in text and 'makes "helped" harder to reach and "hurt" easier' in text
