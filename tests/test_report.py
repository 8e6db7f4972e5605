"""The accuracy-gain report: every arm on tiny data, the refusal of generators that saw the test
split, the files written, and the CLI."""

import json
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from cgan_augment.cli.main import main
from click.testing import CliRunner

from cgan_augment import DataError, DataSpec, ReportConfig, RunSettings, TrainConfig, load_data, report_from_spec, run_report, train_generator
from cgan_augment.errors import ConfigError
from cgan_augment.report import ARMS, BASELINE_ARMS, CHEAP_ARMS, build_classifier
from cgan_augment.report.arms import _ArmData
from cgan_augment.report.quality import frechet_distance, per_class_quality, precision_recall_density_coverage

SPEC = DataSpec("builtin:digits", image_size=8, test_split=0.3, imbalance=10, seed=0)
TINY_FIT = TrainConfig(steps=2, width=8, z_dim=8, batch_size=16)
CPU = RunSettings(device="cpu")
TINY = dict(steps=3, batch_size=16, quality_samples=12, grid_samples=3)


@pytest.fixture(scope="module")
def split():
    return load_data(SPEC)


@pytest.fixture(scope="module")
def model(split, tmp_path_factory):
    """A tiny generator fitted on SPEC's training split, recorded in its model file."""
    out = tmp_path_factory.mktemp("gen")
    train_generator(split.train, TINY_FIT, out, data_info=SPEC.to_dict(), run=CPU)
    return out / "model.safetensors"


@pytest.fixture(scope="module")
def full_report(split, model, tmp_path_factory):
    from cgan_augment import load_generator

    out = tmp_path_factory.mktemp("report")
    oracle = load_data(DataSpec("builtin:digits", image_size=8, test_split=0.3, seed=0)).train
    calls = []
    result = run_report(split.train, split.test, load_generator(model), ReportConfig(seeds=(0, 1), **TINY),
                        oracle=oracle, out=out, device="cpu", on_progress=lambda *a: calls.append(a))
    return result, out, calls


def test_every_arm_runs_and_reports_sklearn_metrics(full_report, split):
    result, _, calls = full_report
    assert list(result["arms"]) == list(ARMS) and result["skipped"] == {}
    k = len(split.train.classes)
    for arm, entry in result["arms"].items():
        assert set(entry["runs"]) == {"0", "1"}, arm
        for m in ("accuracy", "balanced_accuracy", "macro_f1"):
            values = [entry["runs"][s][m] for s in ("0", "1")]
            assert 0 <= entry[m]["mean"] <= 1 and entry[m]["std"] == pytest.approx(np.std(values, ddof=1)), (arm, m)
        assert len(entry["per_class_recall"]["mean"]) == k
        run = entry["runs"]["0"]
        assert run["balanced_accuracy"] == pytest.approx(float(np.mean(run["per_class_recall"])))
    assert result["arms"]["oracle"]["runs"]["0"]["train_size"] == sum(result["data"]["oracle_counts"])
    assert result["arms"]["oversample"]["runs"]["0"]["train_size"] == sum(result["data"]["train_counts"])
    # progress: classifier steps counted up to the total, never past it
    steps = [c for c in calls if c[0] == "classifiers"]
    assert steps[-1][1] == steps[-1][2] == len(ARMS) * 2 * TINY["steps"]


def test_gains_verdict_and_quality(full_report):
    result, _, _ = full_report
    gains = result["gains"]
    assert gains["best_baseline"] in BASELINE_ARMS
    g = gains["synthetic"]["vs_real"]
    per_seed = [result["arms"]["synthetic"]["runs"][s]["balanced_accuracy"] - result["arms"]["real"]["runs"][s]["balanced_accuracy"]
                for s in ("0", "1")]
    assert g["mean"] == pytest.approx(np.mean(per_seed)) and g["std"] == pytest.approx(np.std(per_seed, ddof=1))
    assert "synthetic" in gains["oracle_gap_recovered"]
    c = result["comparison"]
    best = max(CHEAP_ARMS, key=lambda a: result["arms"][a]["balanced_accuracy"]["mean"])
    assert (c["arm"], c["vs"], c["unit"]) == ("synthetic+strong-aug", best, "seed")
    assert result["verdict"].startswith({"helped": "synthetic data helped: ", "hurt": "synthetic data hurt: ",
                                         "no clear difference": "no clear difference: "}[c["call"]])
    assert "95 % interval [" in result["verdict"] and "over 2 paired seeds" in result["verdict"]
    q = result["quality"]
    assert set(q["per_class"]) == set(result["data"]["classes"])
    # a 2-step generator is far from the real images: a distance of 0 would be the clamp hiding an error
    assert q["mean"]["frechet_distance"] > 0 and 0 <= q["mean"]["precision"] <= 1


def test_report_files_hold_the_numbers(full_report):
    result, out, _ = full_report
    for name in ("report.json", "report.md", "recall_by_class.png", "samples.png"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "report.json").read_text())
    assert saved["arms"]["classic-aug"]["balanced_accuracy"] == result["arms"]["classic-aug"]["balanced_accuracy"]
    assert saved["config"]["steps"] == TINY["steps"] and saved["seeds"] == [0, 1]
    assert saved["versions"]["torch"] == torch.__version__ and saved["data"]["train_counts"]
    md = (out / "report.md").read_text()
    assert result["verdict"] in md
    assert ("How the verdict is made: it compares the recommended pipeline, `synthetic+strong-aug`, with the best "
            "cheap recipe") in md and "95 % Student-t interval (n − 1 = 1 degree of freedom)" in md
    assert "so the interval covers the classifier's randomness, not which images the long tail kept." in md
    for arm, over in (("synthetic+aug", "classic-aug"), ("synthetic+strong-aug", "strong-aug")):  # whichever baseline is best
        g = result["gains"][arm][f"vs_{over.replace('-', '_')}"]
        assert f"| {arm} | {over} | {g['mean'] * 100:+.1f} ± {g['std'] * 100:.1f} |" in md, arm
    for arm, entry in result["arms"].items():
        bacc = entry["balanced_accuracy"]
        assert f"| {arm} | {bacc['mean']:.3f} ± {bacc['std']:.3f}" in md, arm
    assert len(list((out / "runs").glob("*__seed*.json"))) == len(ARMS) * 2


def test_runs_are_seeded_and_resumable(split, model, tmp_path):
    from cgan_augment import load_generator

    gen = load_generator(model)
    config = ReportConfig(arms=("real", "classic-aug", "synthetic+aug"), seeds=(3,), **TINY)
    first = run_report(split.train, split.test, gen, config, out=tmp_path, device="cpu")
    again = run_report(split.train, split.test, gen, config, device="cpu")
    for arm in config.arms:
        assert first["arms"][arm]["runs"]["3"]["per_class_recall"] == again["arms"][arm]["runs"]["3"]["per_class_recall"]
    details = []
    resumed = run_report(split.train, split.test, gen, config, out=tmp_path, device="cpu", resume=True,
                         on_progress=lambda s, d, t, detail: details.append(detail))
    assert all("cached" in d for d in details if d != "sample quality")
    assert resumed["arms"]["real"]["balanced_accuracy"] == first["arms"]["real"]["balanced_accuracy"]


def test_skipped_arms_say_why(split, monkeypatch):
    config = ReportConfig(arms=("real", "smote", "synthetic", "oracle"), seeds=(0,), **TINY)
    monkeypatch.setitem(sys.modules, "imblearn", None)  # as if imbalanced-learn were not installed
    result = run_report(split.train, split.test, None, config, device="cpu")
    assert list(result["arms"]) == ["real"]
    assert "imbalanced-learn" in result["skipped"]["smote"]
    assert "generator" in result["skipped"]["synthetic"] and "oracle" not in result["skipped"]  # not asked for: no row
    assert result["verdict"].startswith("no synthetic arm")


def test_samplers_balance_and_mix():
    labels = torch.tensor([0] * 90 + [1] * 10 + [1] * 5 + [2] * 8)
    synthetic = torch.tensor([False] * 100 + [True] * 13)
    images = torch.zeros(len(labels), 1, 4, 4, dtype=torch.uint8)
    balanced = _ArmData(images, labels[:100], "balanced").batches(200, 50, seed=0).flatten()
    share = torch.bincount(labels[balanced]).float() / len(balanced)
    assert abs(share[0] - 0.5) < 0.03  # two classes, drawn uniformly
    for alpha in (0.0, 0.5, 1.0):
        mixed = _ArmData(images, labels, "mixed", synthetic=synthetic, fraction=alpha)
        idx = mixed.batches(200, 60, seed=1).flatten()
        cls, syn = labels[idx], synthetic[idx]
        assert abs((cls == 0).float().mean() - 1 / 3) < 0.03
        assert not syn[cls == 0].any()  # class 0 has no synthetic images
        assert syn[cls == 2].all()  # class 2 has only synthetic images
        assert abs(syn[cls == 1].float().mean() - alpha) < 0.05


@pytest.mark.parametrize("name", ["cnn", "logreg", "resnet18"])
def test_classifiers_take_small_images(name):
    net = build_classifier(name, channels=1, image_size=8, num_classes=3)
    x = torch.rand(2, 1, 8, 8)
    assert net(x).shape == (2, 3) and net.features(x).ndim == 2


def test_quality_measures():
    a = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(a, a + 3) == pytest.approx(36, rel=1e-6)  # only the means differ: 4 × 3²
    same = precision_recall_density_coverage(a, a.clone(), k=3)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = precision_recall_density_coverage(a, a + 100, k=3)
    assert far["precision"] == far["recall"] == far["density"] == far["coverage"] == 0.0
    q = per_class_quality(a, torch.arange(200) % 2, a, torch.arange(200) % 2, ["x", "y"], k=3)
    assert q["mean"]["precision"] == 1.0 and q["per_class"]["y"]["n_real"] == 100


# ----------------------------------------------------------------------------- generators that saw the test split


def _fit_on(spec, out):
    train_generator(load_data(spec).train, TINY_FIT, out, data_info=spec.to_dict(), run=CPU)
    return out / "model.safetensors"


def _model_file_recording(spec, out):
    """A model file whose metadata says it was fitted on ``spec``'s training split, as ``fit`` records
    it, written from an untrained generator: the split check reads the metadata only."""
    from cgan_augment.data.subsets import _fingerprint, class_counts
    from cgan_augment.generators.model_file import save_generator
    from cgan_augment.generators.networks import build_generator

    train = load_data(spec).train
    g = build_generator("mlp", len(train.classes), train.image_size, train.channels, z_dim=8, width=8)
    g.classes = list(train.classes)
    out.mkdir(parents=True)
    save_generator(g, out / "model.safetensors", {"class_counts": class_counts(train), "data": dict(
        spec.to_dict(), num_train=len(train), train_fingerprint=_fingerprint(train.indices))})
    return out / "model.safetensors"


@pytest.mark.parametrize("trained_on, words", [
    (DataSpec("builtin:digits", image_size=8, imbalance=10, seed=0), "has seen the test images"),
    (DataSpec("builtin:digits", image_size=8, test_split=0.3, imbalance=10, seed=1), "may have seen the test images"),
    (DataSpec("builtin:digits", image_size=8, test_split=0.3, imbalance=5, seed=0), "other images than this report"),
])
def test_refuses_a_generator_that_saw_other_images(trained_on, words, tmp_path):
    path = _model_file_recording(trained_on, tmp_path / "gen")
    with pytest.raises(DataError, match=words):
        report_from_spec(SPEC, tmp_path / "rep", model=path, config=ReportConfig(arms=("real",), seeds=(0,), **TINY), device="cpu")
    assert not (tmp_path / "rep").exists()  # a refused run leaves nothing behind


def test_accepts_a_generator_fitted_on_the_same_split(tmp_path, split):
    from cgan_augment import check_model_split, read_metadata

    path = _model_file_recording(SPEC, tmp_path / "gen")  # the control for the refusals above
    check_model_split(read_metadata(path), SPEC, split.train, name=str(path))


def test_refuses_a_generator_trained_on_the_test_data(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez(tmp_path / "a.npz", x=d.images[:300].astype(np.float32) / 16, y=d.target[:300])
    np.savez(tmp_path / "b.npz", x=d.images[300:500].astype(np.float32) / 16, y=d.target[300:500])
    spec_a = DataSpec(str(tmp_path / "a.npz"), image_size=8)
    path = _fit_on(spec_a, tmp_path / "gen")
    config = ReportConfig(arms=("real", "synthetic"), seeds=(0,), **TINY)
    with pytest.raises(DataError, match="the data given as --test"):
        report_from_spec(spec_a, tmp_path / "rep", model=path, test=str(tmp_path / "a.npz"), config=config, device="cpu")
    result = report_from_spec(spec_a, tmp_path / "rep", model=path, test=str(tmp_path / "b.npz"), config=config, device="cpu")
    assert sum(result["data"]["test_counts"]) == 200 and "synthetic" in result["arms"]


def test_make_report_checks_its_arguments(tmp_path, model):
    config = ReportConfig(arms=("real",), seeds=(0,), **TINY)
    with pytest.raises(ConfigError, match="exactly one of --model"):
        report_from_spec(SPEC, tmp_path, config=ReportConfig(arms=("real", "synthetic"), **TINY))
    with pytest.raises(ConfigError, match="exactly one of --model"):
        report_from_spec(SPEC, tmp_path, model=model, fit=TINY_FIT, config=config)
    with pytest.raises(ConfigError, match="--test TESTDATA or --test-split"):
        report_from_spec(DataSpec("builtin:digits", image_size=8), tmp_path, model=model, config=config)
    with pytest.raises(ConfigError, match="--oracle needs --imbalance"):
        report_from_spec(DataSpec("builtin:digits", image_size=8, test_split=0.3), tmp_path, model=model, config=config, oracle=True)
    with pytest.raises(ConfigError, match="arms"):
        ReportConfig(arms=("real", "mixup"))


# ----------------------------------------------------------------------------- CLI


def _cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_report_with_fit_and_oracle(tmp_path):
    out = tmp_path / "rep"
    result = _cli("report", "builtin:digits", "--image-size", 8, "--imbalance", 10, "--test-split", 0.3, "--fit",
                  "--fit-family", "dcgan", "--fit-steps", 2, "--fit-width", 8, "--oracle", "--arms", "real,classic-aug,synthetic,oracle",
                  "--seeds", 2, "--steps", 3, "--batch-size", 16, "--device", "cpu", "--out", out)
    assert result.exit_code == 0, result.output
    assert "| classic-aug |" in result.output and "report.md" in result.output
    assert (out / "generator" / "model.safetensors").exists()
    saved = json.loads((out / "report.json").read_text())
    assert saved["verdict"] in result.output and ": synthetic vs real, " in saved["verdict"]  # no baseline of its kind ran
    assert set(saved["arms"]) == {"real", "classic-aug", "synthetic", "oracle"} and saved["seeds"] == [0, 1]


def test_cli_report_refuses_in_one_line(tmp_path, model):
    result = _cli("report", "builtin:digits", "--image-size", 8, "--imbalance", 10, "--test-split", 0.3, "--data-seed", 1,
                  "--model", model, "--steps", 3, "--out", tmp_path / "rep")
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "test images" in lines[-1] and "Traceback" not in result.output
    assert "demo" in _cli("--help").output


def test_strong_arms_with_a_deform_generator(split):
    """strong-aug is a baseline; synthetic+strong-aug mixes a deform model's variants only into
    the classes under synthetic_below, through the public ClassBalancedSampler."""
    from cgan_augment.data.subsets import dataset_tensors
    from cgan_augment.generators.deform import DeformConfig, fit_deform_generator
    from cgan_augment.report.arms import _arm_data

    images, labels = dataset_tensors(split.train)
    g = fit_deform_generator(images, labels, split.train.classes, DeformConfig(pairs=16, registration_steps=5, min_class_size=5))
    config = ReportConfig(arms=("real", "strong-aug", "synthetic+strong-aug"), seeds=(0,), synthetic_below=40, alpha=1.0, **TINY)
    result = run_report(split.train, split.test, g, config, device="cpu")
    assert set(result["arms"]) == {"real", "strong-aug", "synthetic+strong-aug"} and result["skipped"] == {}
    data = _arm_data("synthetic+strong-aug", (images, labels), 10, 0, config, g, None, torch.device("cpu"))
    assert data.augment == "strong-aug"
    idx = data.batches(50, 32, seed=0).flatten()
    counts = torch.bincount(labels, minlength=10)
    drawn_syn = data.synthetic[idx]
    for c in range(10):
        in_c = data.labels[idx] == c
        if counts[c] >= 40:
            assert not drawn_syn[in_c].any(), c  # large classes: real items only
        elif in_c.any():
            assert drawn_syn[in_c].all(), c  # alpha 1: rare classes draw only synthetic items


def test_report_never_writes_over_a_folder_it_did_not_write(tmp_path, model):
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "report.md").write_text("my notes")
    args = ["report", "builtin:digits", "--image-size", 8, "--imbalance", 10, "--test-split", 0.3, "--model", model,
            "--arms", "real,synthetic", "--seeds", 1, "--steps", 2, "--device", "cpu"]
    for extra in ([], ["--force"]):
        result = _cli(*args, "--out", theirs, *extra)
        assert result.exit_code == 1 and result.output.splitlines()[-1] == (
            f"error: {theirs}: folder is not empty and was not written by `cgan-augment report` (no cgan-augment.json); "
            "it is left alone, even with --force. Choose a new or empty --out.")
    assert (theirs / "report.md").read_text() == "my notes"
    ours = tmp_path / "ours"
    assert _cli(*args, "--out", ours).exit_code == 0
    again = _cli(*args, "--out", ours)
    assert again.exit_code == 1 and again.output.splitlines()[-1] == (
        f"error: {ours}: holds an earlier report output; pass --resume to reuse its finished runs, --force to redo it, "
        "or choose another --out.")
    assert _cli(*args, "--out", ours, "--resume").exit_code == 0 and _cli(*args, "--out", ours, "--force").exit_code == 0


def test_refused_report_leaves_no_empty_folder(tmp_path, model):
    x = np.zeros((12, 8, 8), np.uint8)
    np.savez(tmp_path / "other.npz", x=x, y=np.arange(12) % 3, classes=np.array(["cat", "dog", "cow"]))
    result = _cli("report", "builtin:digits", "--image-size", 8, "--imbalance", 10, "--test", tmp_path / "other.npz",
                  "--arms", "real,oversample", "--seeds", 1, "--steps", 2, "--device", "cpu", "--out", tmp_path / "rep")
    assert result.exit_code == 1 and "test data has classes ['cat', 'dog', 'cow']" in result.output.splitlines()[-1]
    assert not (tmp_path / "rep").exists()


# ----------------------------------------------------------------------------- the demo


@pytest.fixture
def tiny_demo(monkeypatch):
    """The demo's machinery at test size: 8 px digits, a 2-step MLP GAN, three arms, 3 classifier steps."""
    import cgan_augment.report.demo as pipeline

    real_settings = pipeline.demo_settings

    def tiny(quick=False, seeds=None):
        spec, _, fit_run, config = real_settings(quick, seeds)
        arms = ("real", "strong-aug", "synthetic+strong-aug")
        return (replace(spec, image_size=8), TINY_FIT, replace(fit_run, device="cpu"),
                replace(config, arms=arms, **dict(TINY, steps=3)))

    monkeypatch.setattr(pipeline, "demo_settings", tiny)


def test_demo_pairs_seeds_with_long_tail_draws_resumes_and_never_overwrites(tmp_path, tiny_demo):
    from cgan_augment import run_demo

    out = tmp_path / "demo"
    first = run_demo(out, seeds=2, device="cpu")
    assert first["seeds"] == ["(0, 0)", "(1, 1)"] and first["comparison"]["unit"] == "(seed, long-tail draw)"
    assert first["verdict"].startswith(("synthetic data helped: synthetic+strong-aug vs strong-aug",
                                        "synthetic data hurt: synthetic+strong-aug vs strong-aug",
                                        "no clear difference: synthetic+strong-aug vs strong-aug"))
    assert "over 2 (seed, long-tail draw) pairs" in first["verdict"]
    draws = [json.loads((out / f"draw_{r}" / "report.json").read_text())["data"] for r in (0, 1)]
    assert [d["seed"] for d in draws] == [0, 1]  # each pair its own long-tail draw
    assert (out / "report.md").read_text().count("(seed, long-tail draw)") >= 2
    result = _cli("demo", "--out", out, "--seeds", 2, "--device", "cpu")
    assert result.exit_code == 1 and result.output.splitlines()[-1] == (
        f"error: {out}: holds an earlier demo output; pass --resume to reuse its finished runs, --force to redo it, "
        "or choose another --out.")
    details = []
    more = run_demo(out, seeds=3, device="cpu", resume=True, on_progress=lambda s, d, t, detail: details.append((s, detail)))
    assert more["seeds"] == ["(0, 0)", "(1, 1)", "(2, 2)"]
    first_two = [d for s, d in details if s.startswith("classifiers") and "pair 3/3" not in s and d != "sample quality"]
    assert first_two and all("cached" in d for d in first_two)  # pairs 1 and 2 reused
    assert not any(s.startswith("fit (pair 1") for s, _ in details)  # and their generators too
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    refused = _cli("demo", "--out", theirs, "--force", "--device", "cpu")
    assert refused.exit_code == 1 and "was not written by `cgan-augment demo`" in refused.output
    assert sorted(p.name for p in theirs.iterdir()) == ["notes.txt"]


def test_quick_demo_says_so_in_its_verdict(tmp_path, tiny_demo):
    from cgan_augment import run_demo

    result = run_demo(tmp_path / "q", quick=True, device="cpu")
    assert result["verdict"].startswith("[quick demo, 2 pairs × 3 classifier steps: a smoke test, not a measurement] ")
    assert (tmp_path / "q" / "report.md").read_text().startswith("# Accuracy-gain report (quick demo, 2 pairs")
