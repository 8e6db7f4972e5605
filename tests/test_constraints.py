"""Declared constraints: each interval end, each kind, and the messages users read."""

from dataclasses import dataclass

import pytest

from cgan_augment import ConfigError, DataSpec, ReportConfig, RunSettings, TrainConfig
from cgan_augment._util.constraints import BOOL, Check, CheckedConfig, Interval, OneOf


@pytest.mark.parametrize("interval, inside, outside, text", [
    (Interval(int, 1), [1, 7, 10**9], [0, -1, 1.5, True, "3"], "a positive integer"),
    (Interval(int, 0), [0, 3], [-1, False], "an integer >= 0"),
    (Interval(int, 4, 512), [4, 512], [3, 513], "an integer in [4, 512]"),
    (Interval(float, 0, closed="neither"), [1e-9, 3], [0, -1, float("inf"), float("nan")], "a positive number"),
    (Interval(float, 0, 1, closed="left"), [0, 0.5], [1, 1.0, -0.1], "a number in [0, 1)"),
    (Interval(float, 0, 1, closed="right"), [1, 1.0, 0.5], [0, 0.0], "a number in (0, 1]"),
    (Interval(int), [-5, 0, 5], [0.5, None], "an integer"),
])
def test_interval_ends_kinds_and_description(interval, inside, outside, text):
    assert all(interval(v) for v in inside) and not any(interval(v) for v in outside)
    assert str(interval) == text


def test_check_fields_message_names_field_accepted_and_received():
    @dataclass(frozen=True)
    class Demo(CheckedConfig):
        kind: str = "a"
        size: object = None
        flag: bool = False
        _parameter_constraints = {"kind": [OneOf(("a", "b"))], "size": [None, Interval(int, 1)], "flag": [BOOL]}

    Demo(kind="b", size=3, flag=True)
    with pytest.raises(ConfigError, match=r"^kind should be one of a, b\. Got 'c'\.$"):
        Demo(kind="c")
    with pytest.raises(ConfigError, match=r"^size should be None or a positive integer\. Got 0\.$"):
        Demo(size=0)
    with pytest.raises(ConfigError, match=r"^flag should be True or False\. Got 1\.$"):
        Demo(flag=1)
    assert Demo.from_dict({"kind": "b", "unknown": 1}) == Demo(kind="b")
    assert not Check(lambda v: v > 0, "positive")("x")  # a test that raises TypeError just says no


@pytest.mark.parametrize("make, message", [
    (lambda: TrainConfig(loss="l2"), "loss should be one of bce, hinge, wgan-gp. Got 'l2'."),
    (lambda: TrainConfig(steps=0), "steps should be a positive integer. Got 0."),
    (lambda: TrainConfig(beta2=1.0), "beta2 should be a number in [0, 1). Got 1.0."),
    (lambda: TrainConfig(diffaugment="translation,zoom"), "diffaugment should be a comma-separated subset of translation, cutout"),
    (lambda: RunSettings(num_workers=-1), "num_workers should be an integer >= 0. Got -1."),
    (lambda: ReportConfig(arms=("real", "mixup")), "arms should be a non-empty list of distinct arms from real,"),
    (lambda: ReportConfig(arms=("real", "real")), "arms should be a non-empty list of distinct arms"),
    (lambda: ReportConfig(seeds=()), "seeds should be one or more distinct integers. Got ()."),
    (lambda: ReportConfig(alpha=1.5), "alpha should be a number in [0, 1]. Got 1.5."),
    (lambda: DataSpec("x", channels=2), "channels should be None or one of 1, 3. Got 2."),
    (lambda: DataSpec("x", test_split=0), "test_split should be None or a fraction in (0, 1) or a whole count. Got 0."),
])
def test_config_messages(make, message):
    with pytest.raises(ConfigError) as e:
        make()
    assert str(e.value).startswith(message) and "\n" not in str(e.value)
