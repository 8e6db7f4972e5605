"""The report's verdict: paired differences, a 95 % t-interval, a comparison fixed before the
numbers, arms below chance flagged. Pure functions on made-up results: no training."""

import numpy as np
import pytest
from scipy import stats

from cgan_augment.report import ARMS, ReportConfig
from cgan_augment.report.gains import _summarise, paired_interval, primary_comparison, verdict_call


def _runs(values: dict, k: int = 5) -> dict:
    """results[arm][seed] = metrics with the given balanced accuracies per seed."""
    out = {}
    for arm, per_seed in values.items():
        out[arm] = {s: {"accuracy": v, "balanced_accuracy": v, "macro_f1": v, "per_class_recall": [v] * k}
                    for s, v in enumerate(per_seed)}
    return out


def _verdict(values: dict, k: int = 5) -> dict:
    return _summarise(_runs(values, k), {}, {}, None, ReportConfig(seeds=tuple(range(len(next(iter(values.values())))))),
                      [str(i) for i in range(k)])


def test_interval_is_students_t_over_the_pairs():
    d = [0.02, -0.01, 0.035, 0.004]
    iv = paired_interval(d)
    low, high = stats.ttest_1samp(d, 0).confidence_interval(0.95)
    assert (iv["n"], iv["low"], iv["high"]) == (4, pytest.approx(low), pytest.approx(high))
    assert iv["mean"] == pytest.approx(np.mean(d)) and iv["sd"] == pytest.approx(np.std(d, ddof=1))
    assert paired_interval([0.3])["low"] is None
    assert verdict_call({"low": 0.001, "high": 0.02}) == "helped"
    assert verdict_call({"low": -0.02, "high": -0.001}) == "hurt"
    assert verdict_call({"low": -0.001, "high": 0.02}) == "no clear difference"


def test_the_issues_demo_numbers_are_no_clear_difference():
    # mean gain 0.015944, spread 0.015926 over three seeds, one of them negative: "helped" before
    m, s = 0.015944, 0.015926
    gains = [m + s * u for u in (0.57735, 0.57735, -1.1547)]
    base = [0.90, 0.91, 0.92]
    result = _verdict({"real": [0.8] * 3, "classic-aug": base, "synthetic+aug": [b + g for b, g in zip(base, gains)]})
    assert result["comparison"]["call"] == "no clear difference"
    assert result["verdict"] == ("no clear difference: synthetic+aug vs classic-aug, +1.6 points of balanced accuracy, "
                                 "95 % interval [-2.4, +5.6] over 3 paired seeds (the interval includes zero).")


def test_helped_and_hurt_need_the_whole_interval_on_one_side():
    base = [0.90, 0.91, 0.92, 0.89, 0.90]
    up = _verdict({"classic-aug": base, "synthetic+aug": [b + g for b, g in zip(base, [0.03, 0.02, 0.025, 0.03, 0.022])]})
    assert up["verdict"].startswith("synthetic data helped: synthetic+aug vs classic-aug, +2.5 points of balanced accuracy, "
                                    "95 % interval [+2.0, +3.1] over 5 paired seeds.")
    down = _verdict({"classic-aug": base, "synthetic+aug": [b - g for b, g in zip(base, [0.03, 0.02, 0.025, 0.03, 0.022])]})
    assert down["verdict"].startswith("synthetic data hurt: synthetic+aug vs classic-aug, -2.5 points")
    one = _verdict({"classic-aug": [0.9], "synthetic+aug": [0.95]})
    assert one["verdict"] == ("no clear difference: synthetic+aug vs classic-aug, +5.0 points of balanced accuracy from a "
                              "single seed; one pair gives no interval, so run more seeds.")


def test_the_compared_arms_are_fixed_before_the_numbers():
    assert primary_comparison(["real", "oversample", "classic-aug", "synthetic", "synthetic+aug"]) == ("synthetic+aug", ("classic-aug",))
    assert primary_comparison(["real", "oversample", "synthetic"]) == ("synthetic", ("oversample",))
    assert primary_comparison(["real", "synthetic-only"]) == (None, ())
    assert primary_comparison(["real", "synthetic+aug"]) == ("synthetic+aug", ("real",))
    # the recommended pipeline, against every cheap recipe run (the field's long-tail recipes too)
    assert primary_comparison(ARMS) == ("synthetic+strong-aug", ("classic-aug", "strong-aug", "la", "la+aug",
                                                                  "la+strong-aug", "la+aug+mixup"))
    assert primary_comparison(["real", "la", "synthetic"]) == ("synthetic", ("la",))
    # synthetic beats everything here, but the recommended pipeline is what is tested, against the
    # best baseline of its kind (strong-aug beats classic-aug)
    result = _verdict({"classic-aug": [0.80, 0.81, 0.82], "strong-aug": [0.85, 0.86, 0.87], "oversample": [0.7] * 3,
                       "synthetic": [0.99, 0.99, 0.99], "synthetic+aug": [0.851, 0.862, 0.869]})
    c = result["comparison"]
    assert (c["arm"], c["vs"], c["baselines_of_its_kind"]) == ("synthetic+aug", "strong-aug", ["classic-aug", "strong-aug"])


def test_arms_below_chance_are_flagged():
    result = _verdict({"real": [0.6, 0.62], "synthetic-only": [0.097, 0.097], "synthetic+aug": [0.7, 0.71]})
    assert result["below_chance"] == ["synthetic-only"]
    assert result["arms"]["synthetic-only"]["flag"] == "below chance (balanced accuracy 0.097 < 1/5 = 0.200)"
    assert result["arms"]["real"]["flag"] == ""


def test_reports_of_several_draws_pool_into_seed_draw_pairs():
    from cgan_augment.report.run import pool_reports

    config = ReportConfig(seeds=(0, 1, 2))
    reports = []
    for r, (base, gain) in enumerate([(0.90, 0.02), (0.85, 0.03), (0.93, 0.025)]):
        rep = _summarise(_runs({"strong-aug": [base], "synthetic+strong-aug": [base + gain]}), {}, {}, None, config,
                         [str(i) for i in range(5)])
        for arm in rep["arms"]:  # the runs of draw r carry seed r
            rep["arms"][arm]["runs"] = {str(r): rep["arms"][arm]["runs"]["0"]}
        rep.update(data={"seed": r, "classes": [str(i) for i in range(5)]}, versions={}, device="cpu", wall_seconds=1.0,
                   generator={"arch": {"family": "deform"}, "step": 0})
        reports.append(rep)
    pooled = pool_reports(reports, config, label="quick demo")
    assert pooled["generator"] == {"arch": {"family": "deform"}}  # each pair's own generator; the family they share
    reports[1]["generator"] = {"arch": {"family": "dcgan"}}
    assert pool_reports(reports, config)["generator"] is None
    assert pooled["seeds"] == ["(0, 0)", "(1, 1)", "(2, 2)"] and pooled["draws"] == [0, 1, 2]
    assert pooled["comparison"]["differences"] == pytest.approx({"(0, 0)": 0.02, "(1, 1)": 0.03, "(2, 2)": 0.025})
    assert pooled["verdict"] == ("[quick demo] synthetic data helped: synthetic+strong-aug vs strong-aug, +2.5 points of "
                                 "balanced accuracy, 95 % interval [+1.3, +3.7] over 3 (seed, long-tail draw) pairs.")


def test_the_bar_is_the_best_cheap_recipe_and_the_text_says_it_was_chosen():
    """The verdict tests synthetic+strong-aug against the best of the cheap recipes run (here a
    logit-adjusted arm, better than strong-aug), and says that the bar was picked by its mean."""
    result = _verdict({"real": [0.70, 0.71, 0.72], "oversample": [0.95, 0.95, 0.95],  # not a cheap recipe: never the bar
                       "strong-aug": [0.85, 0.86, 0.87], "la+strong-aug": [0.88, 0.89, 0.90],
                       "la+aug+mixup": [0.87, 0.88, 0.86], "synthetic+strong-aug": [0.885, 0.893, 0.899]})
    c = result["comparison"]
    assert (c["arm"], c["vs"], c["bar"]) == ("synthetic+strong-aug", "la+strong-aug", "cheap")
    assert c["baselines_of_its_kind"] == ["strong-aug", "la+strong-aug", "la+aug+mixup"]
    assert result["verdict"].startswith("no clear difference: synthetic+strong-aug vs la+strong-aug (the best of 3 cheap "
                                        "recipes by mean), +0.2 points")
    assert result["gains"]["best_cheap"] == "la+strong-aug" and result["gains"]["best_baseline"] == "oversample"
    assert result["gains"]["synthetic+strong-aug"]["vs_best_cheap"]["vs"] == "la+strong-aug"
    from cgan_augment.report.gains import verdict_method

    text = verdict_method(dict(result, data={"classes": list("abcde")}))[0]
    assert "with the best cheap recipe, `la+strong-aug` (better here than `strong-aug`, `la+aug+mixup`)" in text
    assert "That choice favours the bar" in text and "makes \"helped\" harder to reach and \"hurt\" easier" in text


def test_a_registered_cheap_arm_joins_the_bar():
    from cgan_augment.report.plugins import _REGISTRY, Arm, register_arm

    register_arm(Arm("my-loss", "a user's loss", cheap=True))
    try:
        assert primary_comparison(["strong-aug", "my-loss", "synthetic+strong-aug"]) == (
            "synthetic+strong-aug", ("strong-aug", "my-loss"))
    finally:
        del _REGISTRY["my-loss"]
