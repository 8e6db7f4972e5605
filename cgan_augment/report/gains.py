"""From per-run metrics to the report's numbers: mean ± std per arm, gains paired by run, the share
of the oracle gap recovered, arms below chance, and the verdict: the recommended pipeline against
the best *cheap recipe* that was run (classic-aug, strong-aug, the logit-adjusted arms, the mixup
arm, and any registered arm declared ``cheap``), paired per (seed, long-tail draw), with a 95 %
Student-t interval over the pairs. Which arms are compared is fixed before any number is seen;
only which of the cheap recipes is the bar is read from the results (the best by mean), and the
report says so."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Optional, Sequence

import numpy as np

from .config import BASELINE_ARMS, CHEAP_ARMS, METRICS, SYNTHETIC_ARMS
from .plugins import arm_names, get_arm

__all__ = ["classifier_line", "paired_interval", "verdict_call", "primary_comparison", "verdict_method", "cheap_arms", "PRIMARY_ORDER",
           "SAME_KIND"]

# The synthetic arm whose gain the verdict tests, in order of preference among those run: the
# recommended pipeline (strong augmentation with a share of generated images for the rare
# classes; README, "The recommended pipeline") first. Which arm is tested depends only on which
# arms were run, never on their results.
PRIMARY_ORDER = ("synthetic+strong-aug", "synthetic+aug", "synthetic")
# The baselines each synthetic arm is compared with: for the augmented mixes, every cheap recipe
# (the field's long-tail recipes: what a practitioner would try first, without a generator); for
# the plain top-up, the other ways of rebalancing the data without augmentation.
SAME_KIND = {
    "synthetic+aug": CHEAP_ARMS,
    "synthetic+strong-aug": CHEAP_ARMS,
    "synthetic": ("oversample", "class-weights", "smote", "la"),
}


def cheap_arms(arms_run: Sequence[str]) -> tuple:
    """The cheap recipes among ``arms_run``: the built-in ones, then registered arms declared ``cheap``."""
    extra = [a for a in arms_run if a not in CHEAP_ARMS and a in arm_names() and get_arm(a).cheap]
    return tuple(a for a in CHEAP_ARMS if a in arms_run) + tuple(extra)
CONFIDENCE = 0.95


def paired_interval(differences: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Mean of paired differences and its two-sided Student-t interval (n − 1 degrees of freedom).

    Returns ``{"n", "mean", "sd", "low", "high", "confidence"}``; ``sd``, ``low`` and ``high`` are
    ``None`` for fewer than two pairs (no interval can be given).
    """
    d = np.asarray(list(differences), dtype=np.float64)
    n = len(d)
    if n == 0:
        raise ValueError("paired_interval needs at least one difference.")
    mean = float(d.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "sd": None, "low": None, "high": None, "confidence": confidence}
    from scipy.stats import t

    sd = float(d.std(ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half, "confidence": confidence}


def verdict_call(interval: dict) -> str:
    """``"helped"`` when the interval lies above zero, ``"hurt"`` below, else ``"no clear difference"``."""
    if interval["low"] is not None and interval["low"] > 0:
        return "helped"
    if interval["high"] is not None and interval["high"] < 0:
        return "hurt"
    return "no clear difference"


def primary_comparison(arms_run: Sequence[str]) -> tuple[Optional[str], tuple]:
    """(the synthetic arm the verdict tests, the baselines it is compared with that were run: for
    the augmented mixes every cheap recipe, for ``synthetic`` the plain rebalancing baselines),
    decided from the names (and registered definitions) of the arms run alone. Without any of
    them, ``real`` is the baseline."""
    arm = next((a for a in PRIMARY_ORDER if a in arms_run), None)
    if arm is None:
        return None, ()
    same = cheap_arms(arms_run) if SAME_KIND[arm] is CHEAP_ARMS else tuple(b for b in SAME_KIND[arm] if b in arms_run)
    return arm, same or (("real",) if "real" in arms_run else ())


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def _summarise(results, skipped, notes, quality, config, classes, unit: str = "seed", same_as: Optional[dict] = None) -> dict:
    """The report's numbers from ``results[arm][run key] = metrics``; ``unit`` names what a run key
    stands for (``"seed"``, or ``"(seed, long-tail draw)"`` when the draws vary too); ``same_as``
    maps a synthetic arm that got no generated image to ``{"arm": the baseline it equals, "why"}``."""
    same_as = dict(same_as or {})
    arms = {}
    for arm, runs in results.items():
        seeds = sorted(runs, key=str)
        entry = {"runs": {str(s): runs[s] for s in seeds}, "note": notes.get(arm, ""), "flag": ""}
        if arm in same_as:
            entry["note"] = "; ".join(filter(None, [entry["note"], f"no generated image used: trains exactly what {same_as[arm]['arm']} trains"]))
        for m in METRICS:
            entry[m] = dict(zip(("mean", "std"), _mean_std([runs[s][m] for s in seeds])))
        recalls = np.asarray([runs[s]["per_class_recall"] for s in seeds])
        entry["per_class_recall"] = {"mean": recalls.mean(0).tolist(),
                                     "std": (recalls.std(0, ddof=1) if len(seeds) > 1 else np.zeros(len(classes))).tolist()}
        arms[arm] = entry
    gains = _gains(results)
    below = _below_chance(arms, len(classes))
    for arm, chance in below.items():
        flag = f"below chance (balanced accuracy {arms[arm]['balanced_accuracy']['mean']:.3f} < 1/{len(classes)} = {chance:.3f})"
        arms[arm]["flag"] = flag
    verdict, comparison = _verdict(results, unit, same_as)
    return {
        "same_as": same_as,
        "verdict": verdict,
        "comparison": comparison,
        "config": asdict(config),
        "seeds": list(config.seeds),
        "pairing": unit,
        "arms": arms,
        "below_chance": sorted(below),
        "skipped": skipped,
        "gains": gains,
        "quality": quality,
    }


def _below_chance(arms: dict, num_classes: int) -> dict:
    """Arms whose mean balanced accuracy is below chance (1/K), with that chance level."""
    chance = 1.0 / num_classes
    return {arm: chance for arm, entry in arms.items() if entry["balanced_accuracy"]["mean"] < chance}


def _paired(results: dict, a: str, b: str) -> Optional[dict]:
    """Balanced-accuracy gain of arm ``a`` over arm ``b``, paired by run (seed, or seed and draw)."""
    if a not in results or b not in results:
        return None
    keys = sorted(set(results[a]) & set(results[b]), key=str)
    if not keys:
        return None
    diffs = [results[a][k]["balanced_accuracy"] - results[b][k]["balanced_accuracy"] for k in keys]
    mean, std = _mean_std(diffs)
    return {"vs": b, "mean": mean, "std": std, "per_seed": dict(zip(map(str, keys), diffs)),
            "interval": paired_interval(diffs)}


def _mean_bacc(results: dict, arm: str) -> float:
    return float(np.mean([r["balanced_accuracy"] for r in results[arm].values()]))


def _best_of(results: dict, candidates: Sequence[str]) -> Optional[str]:
    present = [a for a in candidates if a in results]
    return max(present, key=lambda a: _mean_bacc(results, a)) if present else None


def _best_baseline(results: dict) -> Optional[str]:
    return _best_of(results, tuple(BASELINE_ARMS) + cheap_arms(list(results)))


def _gains(results: dict) -> dict:
    """Gains of each synthetic arm over ``real`` and over the best baseline, and the share of the
    gap between ``real`` and ``oracle`` that each arm recovers (balanced accuracy)."""
    best, cheap = _best_baseline(results), _best_of(results, cheap_arms(list(results)))
    gains = {"best_baseline": best, "best_cheap": cheap}
    for arm in SYNTHETIC_ARMS:
        if arm in results:
            gains[arm] = {"vs_real": _paired(results, arm, "real"),
                          "vs_best_baseline": _paired(results, arm, best) if best else None}
            if cheap and cheap != best:
                gains[arm]["vs_best_cheap"] = _paired(results, arm, cheap)
    if "synthetic+aug" in results and "classic-aug" in results:
        gains["synthetic+aug"]["vs_classic_aug"] = _paired(results, "synthetic+aug", "classic-aug")
    if "synthetic+strong-aug" in results and "strong-aug" in results:
        gains["synthetic+strong-aug"]["vs_strong_aug"] = _paired(results, "synthetic+strong-aug", "strong-aug")
    if "oracle" in results and "real" in results:
        gap = _mean_bacc(results, "oracle") - _mean_bacc(results, "real")
        gains["oracle_gap"] = gap
        gains["oracle_gap_recovered"] = {
            arm: ((_mean_bacc(results, arm) - _mean_bacc(results, "real")) / gap if gap > 0 else None)
            for arm in results if arm not in ("real", "oracle")}
    return gains


def _verdict(results: dict, unit: str = "seed", same_as: Optional[dict] = None) -> tuple[str, Optional[dict]]:
    """(one line, the comparison behind it): the recommended pipeline against the best cheap recipe
    run (or the best baseline of its kind), paired per run, called from the 95 % interval of the
    paired differences; no comparison when that arm used no generated image (``same_as``)."""
    arm, same = primary_comparison(list(results))
    if arm is None:
        return "no synthetic arm was run, so there is no verdict on synthetic data.", None
    if arm in (same_as or {}):
        twin = same_as[arm]
        return (f"nothing was tested: {arm} used no generated image ({twin['why']}), so it trained exactly what "
                f"{twin['arm']} trains; there is no verdict on synthetic data."), None
    if not same:
        return f"no baseline arm was run beside {arm}, so there is no verdict on synthetic data.", None
    vs = max(same, key=lambda b: _mean_bacc(results, b))  # the best one: a harder bar, never an easier one
    g = _paired(results, arm, vs)
    if g is None:
        return f"{arm} and {vs} share no {unit}, so there is no verdict on synthetic data.", None
    iv = g["interval"]
    call = verdict_call(iv)
    units = f"paired {unit}s" if not unit.startswith("(") else f"{unit} pairs"
    points = f"{100 * iv['mean']:+.1f} points of balanced accuracy"
    cheap = SAME_KIND[arm] is CHEAP_ARMS and vs != "real"
    if len(same) > 1:
        vs_text = f"{vs} (the best of {len(same)} {'cheap recipes' if cheap else 'baselines of its kind'} by mean)"
    else:
        vs_text = vs
    if iv["low"] is None:
        text = (f"no clear difference: {arm} vs {vs_text}, {points} from a single {unit.strip('()')}; one pair gives no interval, "
                "so run more seeds.")
    else:
        head = {"helped": "synthetic data helped", "hurt": "synthetic data hurt",
                "no clear difference": "no clear difference"}[call]
        text = (f"{head}: {arm} vs {vs_text}, {points}, 95 % interval [{100 * iv['low']:+.1f}, {100 * iv['high']:+.1f}] "
                f"over {iv['n']} {units}" + (" (the interval includes zero)." if call == "no clear difference" else "."))
    comparison = {"arm": arm, "vs": vs, "baselines_of_its_kind": list(same), "bar": "cheap" if cheap else "same kind",
                  "unit": unit, "call": call,
                  "differences": g["per_seed"], "interval": iv}
    return text, comparison


def verdict_method(result: dict) -> list:
    """How the verdict of ``result`` was made: markdown lines (a paragraph, and the arms below
    chance), for report.md and report.html."""
    same = [f"`{a}` used no generated image ({s['why']}): it trained exactly what `{s['arm']}` trains, on the same "
            "images with the same draws, so its numbers equal that arm's by construction and say nothing about generated data."
            for a, s in (result.get("same_as") or {}).items()]
    c = result.get("comparison")
    if not c:
        return [*same, ""] if same else []
    iv = c["interval"]
    others = [b for b in c["baselines_of_its_kind"] if b != c["vs"]]
    kind = "cheap recipe" if c.get("bar") == "cheap" else "baseline of its kind"
    baseline = (f"the best {kind}, `{c['vs']}`" + (f" (better here than {', '.join(f'`{b}`' for b in others)})" if others else "")
                if c["vs"] != "real" else "`real` (no baseline of its kind was run)")
    pairs = ", ".join(f"{k}: {100 * v:+.1f}" for k, v in c["differences"].items())
    fixed = ("That comparison is fixed before any result is seen, by which arms were run"
             + (" (the cheap recipes are classic-aug, strong-aug, the logit-adjusted arms la, la+aug and la+strong-aug, "
                "the mixup arm la+aug+mixup, and any arm registered as cheap; each ran under the same seeds and data)"
                if c.get("bar") == "cheap" else "") + ".")
    if others:
        fixed += (" Only which of them is the bar is read from the results: the best by mean balanced accuracy over these "
                  "same runs. That choice favours the bar (the highest of several noisy means), which makes \"helped\" "
                  "harder to reach and \"hurt\" easier; the interval below does not correct for the choice.")
    unit = c["unit"] + (" pair" if c["unit"].startswith("(") else "")
    lines = [
        f"How the verdict is made: it compares the recommended pipeline, `{c['arm']}`, with {baseline}. {fixed} "
        f"Each {unit} trained both arms on the same data with the same seed, and the verdict rests on the paired "
        f"differences of balanced accuracy (points: {pairs})"
        + (f": their mean and a {100 * iv['confidence']:.0f} % Student-t interval (n − 1 = {iv['n'] - 1} "
           f"degree{'s' if iv['n'] != 2 else ''} of freedom). \"Helped\" means the whole interval lies above zero, \"hurt\" "
           "below zero; otherwise there is no clear difference." if iv["low"] is not None else "; one pair gives no interval."),
    ]
    if c["unit"] == "seed":
        lines[0] += (" The long-tail draw and the test split are the same in every pair, so the interval covers the "
                     "classifier's randomness, not which images the long tail kept.")
    below = result.get("below_chance") or []
    if below:
        lines.append("")
        lines.append(f"Below chance (balanced accuracy under 1/{len(result['data']['classes'])}): "
                     + ", ".join(f"`{a}`" for a in below) + "; such an arm learned nothing useful about the test classes.")
    return lines + ([""] + same if same else []) + [""]


def classifier_line(result: dict) -> str:
    """"Classifier: ... ; recipe: ..." (plain text): what was trained, and how, for every arm."""
    cfg = result["config"]
    about = result.get("classifier") or {"name": cfg["classifier"], "builtin": True}
    r = result.get("recipe") or {k: cfg.get(k) for k in ("optimizer", "lr", "weight_decay", "schedule", "steps", "batch_size")}
    name = about["name"] + (f" ({about['model']}, {about['parameters']:,} parameters)" if about.get("model") else "")
    opt = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD"}.get(r.get("optimizer") or "adam", r.get("optimizer"))
    opt += f" (momentum {r['momentum']:g})" if r.get("momentum") is not None else ""
    parts = [f"{opt}, lr {r['lr']:g}" + (f", weight decay {r['weight_decay']:g}" if r.get("weight_decay") else ""),
             {"cosine": "cosine schedule to 0", "step": f"lr × {r.get('step_gamma', 0.1):g} at 1/2 and 3/4 of the steps"}.get(
                 r.get("schedule"), "constant lr"),
             f"{r['steps']} steps at batch {r['batch_size']}"]
    if r.get("normalize_mean") is not None:
        parts.append(f"inputs normalised by mean {list(r['normalize_mean'])}, std {list(r['normalize_std'])}")
    return (f"Classifier: {'built-in ' if about.get('builtin') else 'your factory '}{name}; recipe: {', '.join(parts)}; "
            "the same for every arm.")
