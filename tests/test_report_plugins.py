"""Arms as plugins: the field's long-tail baselines behave as their papers define them (logit
adjustment is cross-entropy on shifted logits, mixup mixes), a user's arm runs with its own loss,
and a prior-corrected loss with a class-balanced sampler is warned about."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from cgan_augment import DataSpec, ReportConfig, load_data, run_report
from cgan_augment.data.subsets import dataset_tensors
from cgan_augment.errors import ConfigError, ReportWarning
from cgan_augment.report import Arm, ArmContext, class_weighted, logit_adjusted, mixup, register_arm
from cgan_augment.report.arms import _arm_data
from cgan_augment.report.plugins import _REGISTRY, get_arm

SPEC = DataSpec("builtin:digits", image_size=8, test_split=0.3, imbalance=10, seed=0)
TINY = dict(steps=3, batch_size=16, quality_samples=12, grid_samples=3)


@pytest.fixture(scope="module")
def split():
    return load_data(SPEC)


@pytest.fixture
def registry():
    """Arms registered in a test are removed after it."""
    before = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(before)


def _ctx(counts, **config):
    return ArmContext(torch.tensor(counts, dtype=torch.float32), ReportConfig(**config), torch.Generator().manual_seed(0),
                      len(counts))


def test_logit_adjustment_is_cross_entropy_on_shifted_logits():
    g = torch.Generator().manual_seed(0)
    logits, y = torch.randn(32, 4, generator=g), torch.randint(0, 4, (32,), generator=g)
    counts = [500.0, 120.0, 30.0, 5.0]
    prior = torch.tensor(counts) / sum(counts)
    expected = F.cross_entropy(logits + prior.log(), y)
    assert logit_adjusted()(logits, y, _ctx(counts)) == pytest.approx(float(expected), rel=1e-6)
    assert logit_adjusted(tau=0.5)(logits, y, _ctx(counts)) == pytest.approx(float(F.cross_entropy(logits + 0.5 * prior.log(), y)), rel=1e-6)
    assert logit_adjusted()(logits, y, _ctx(counts, la_tau=0.0)) == pytest.approx(float(F.cross_entropy(logits, y)), rel=1e-6)
    assert abs(float(expected) - float(F.cross_entropy(logits, y))) > 0.1  # the shift matters
    soft = F.one_hot(y, 4).float()  # class probabilities (mixup's targets) give the same loss
    assert logit_adjusted()(logits, soft, _ctx(counts)) == pytest.approx(float(expected), rel=1e-6)
    weights = sum(counts) / (4 * torch.tensor(counts))
    assert class_weighted()(logits, y, _ctx(counts)) == pytest.approx(float(F.cross_entropy(logits, y, weight=weights)), rel=1e-6)


def test_mixup_mixes_each_batch_with_one_lambda():
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(16, 1, 4, 4, generator=g), F.one_hot(torch.randint(0, 3, (16,), generator=g), 3).float()
    ctx = _ctx([1.0, 1.0, 1.0])
    mx, my = mixup()(x, y, ctx)
    assert mx.shape == x.shape and my.shape == y.shape and torch.allclose(my.sum(1), torch.ones(16))
    # every mixed image is lam·x_i + (1 - lam)·x_j for one lam and one permutation j
    flat, mflat = x.flatten(1), mx.flatten(1)
    lams = set()
    for i in range(16):
        fits = [(j, float(((mflat[i] - flat[j]) @ (flat[i] - flat[j])) / max(1e-12, float((flat[i] - flat[j]).pow(2).sum()))))
                for j in range(16)]
        j, lam = next((j, lam) for j, lam in fits if torch.allclose(mflat[i], lam * flat[i] + (1 - lam) * flat[j], atol=1e-5))
        lams.add(round(lam, 4) if j != i else None)
    assert len(lams - {None}) == 1 and 0 <= next(iter(lams - {None})) <= 1
    again = mixup()(x, y, _ctx([1.0, 1.0, 1.0]))
    assert torch.equal(again[0], mx)  # drawn from the arm's own generator: the same seed, the same batch

    def lam(mix):  # with one-hot targets of distinct classes, an item not mapped to itself keeps lam of its own
        eye = torch.eye(8)
        return float(mix(eye.view(8, 1, 1, 8), eye, ctx)[1].diagonal().min())

    uniform = [lam(mixup()) for _ in range(400)]
    assert stats.kstest(uniform, "uniform").pvalue > 0.001  # alpha 1: uniform on [0, 1]
    sharp = [lam(mixup(alpha=0.1)) for _ in range(200)]
    assert np.mean([min(v, 1 - v) < 0.05 for v in sharp]) > 0.5  # small alpha: mostly near 0 or 1
    assert stats.kstest(sharp, "uniform").pvalue < 1e-6


def test_the_field_arms_are_defined_as_the_papers_do(split):
    images, labels = dataset_tensors(split.train)
    config = ReportConfig(**TINY)
    for name, augment, mixes in (("la", "", False), ("la+aug", "classic-aug", False), ("la+strong-aug", "strong-aug", False),
                                 ("la+aug+mixup", "classic-aug", True)):
        data = _arm_data(name, (images, labels), 10, 0, config, None, None, torch.device("cpu"))
        assert data.sampling == "shuffle" and data.augment == augment, name  # instance sampling, no balanced sampler
        assert data.arm.prior_corrected and (data.arm.mix is not None) == mixes and data.arm.cheap
        idx = data.batches(40, 16, seed=0).flatten()
        drawn = torch.bincount(labels[idx], minlength=10).float() / len(idx)
        assert abs(float(drawn[0]) - float((labels == 0).float().mean())) < 0.03  # the prior, not uniform


def test_a_users_arm_trains_with_its_own_loss(split, registry):
    calls = []

    def my_loss(logits, targets, ctx):
        calls.append(tuple(ctx.counts.shape))
        return F.cross_entropy(logits, targets)

    register_arm(Arm("mine", "my loss", loss=my_loss))
    result = run_report(split.train, split.test, None, ReportConfig(arms=("real", "mine"), seeds=(0,), **TINY), device="cpu")
    assert calls == [(10,)] * TINY["steps"] and "mine" in result["arms"]
    with pytest.raises(ConfigError, match="already registered"):
        register_arm(Arm("mine"))
    with pytest.raises(ConfigError, match="sampling should be one of instance, balanced. Got 'uniform'."):
        Arm("x", sampling="uniform")
    with pytest.raises(ConfigError, match="arms should be a non-empty list of distinct arms"):
        ReportConfig(arms=("real", "not-registered"))


def test_a_prior_corrected_loss_with_a_balanced_sampler_is_warned_about(split, registry, tmp_path):
    register_arm(Arm("la+oversample", "la on a class-balanced sampler", sampling="balanced", loss=logit_adjusted()))
    config = ReportConfig(arms=("real", "la+oversample"), seeds=(0,), **TINY)
    with pytest.warns(ReportWarning, match="arm la[+]oversample: its loss .* corrects for the class prior and its batches "
                                           "are drawn class-balanced, which corrects again"):
        result = run_report(split.train, split.test, None, config, out=tmp_path, device="cpu")
    assert len(result["warnings"]) == 1
    assert f"**Warning:** {result['warnings'][0]}" in (tmp_path / "report.md").read_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ReportWarning)  # the built-in arms never correct twice
        run_report(split.train, split.test, None, ReportConfig(arms=("real", "la", "la+aug+mixup", "oversample", "class-weights"),
                                                               seeds=(0,), **TINY), device="cpu")
    assert not get_arm("class-weights").class_balanced and get_arm("class-weights").prior_corrected
