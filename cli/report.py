"""``cgan-augment report`` and ``cgan-augment demo``: the accuracy-gain report from the command line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from cgan_augment import TrainConfig
from cgan_augment.errors import ConfigError
from cgan_augment.report import ReportConfig
from cgan_augment.train.families import DEFAULT_RECIPE, default_recipe, families

from .fit_flags import split_fit_options
from .options import StopOnSignal, config_option, data_options, data_spec, default_of, given, user_errors
from .progress import Progress

# read from source: importing the pipeline would load torch
_REPORT_FROM_SPEC, _RUN_DEMO = "cgan_augment.report.from_files:report_from_spec", "cgan_augment.report.demo:run_demo"


def _numbers(ctx, param, value):
    """``0.5`` or ``0.485,0.456,0.406`` -> a tuple of floats (None when unset)."""
    if value is None:
        return None
    try:
        return tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"give numbers separated by commas, e.g. 0.485,0.456,0.406. Got {value!r}.") from None


def _print_result(result: dict, out: Path) -> None:
    from cgan_augment.report import format_table

    click.echo("\n" + format_table(result))
    for arm, why in result["skipped"].items():
        click.echo(f"note: {arm} skipped: {why}")
    if result.get("files", {}).get("figure_note"):
        click.echo(f"note: no figure: {result['files']['figure_note']}")
    for arm in result.get("below_chance", []):
        click.echo(f"note: {arm} is below chance (balanced accuracy {result['arms'][arm]['balanced_accuracy']['mean']:.3f} "
                   f"< 1/{len(result['data']['classes'])})")
    click.echo(f"\n{result['verdict']}")
    names = [f for k, f in result.get("files", {}).items() if k != "figure_note"]
    click.echo(f"wrote {', '.join(str(out / f) for f in names)}")


@click.command()
@data_options
@click.option("--model", type=click.Path(dir_okay=False), help="The generator (model.safetensors), fitted on the same training split.")
@click.option("--fit", "fit_here", is_flag=True, help="Fit the generator here, on the training split, into OUT/generator.")
@click.option("--fit-family", type=click.Choice(list(families())),
              help=f"With --fit: the generator family (see `fit --help`). [default: {DEFAULT_RECIPE.family}]")
@config_option(TrainConfig, "--fit-steps", "With --fit and a GAN family: generator steps.", field="steps", dest="fit_steps", type=int)
@config_option(TrainConfig, "--fit-width", "With --fit and a GAN family: generator width.", field="width", dest="fit_width", type=int)
@click.option("--fit-set", "fit_settings", multiple=True, metavar="NAME=VALUE",
              help="With --fit: any other setting of the family's recipe or the fit's run, as `fit` names it "
                   "(e.g. temperature=0.5, registration-steps=50); repeat for several.")
@click.option("--test", "test_data", help="Separate test data (folder, .npz or builtin:NAME) instead of --test-split.")
@click.option("--oracle", is_flag=True, help="With --imbalance: add the oracle arm, trained on the training split before the long tail.")
@config_option(ReportConfig, "--classifier", "Downstream classifier: cnn, logreg, resnet18, or your own factory as "
               "package.module:function, called as function(num_classes, channels, image_size) and returning a fresh "
               "torch.nn.Module (imported from sys.path or the working folder).")
@config_option(ReportConfig, "--optimizer", "The classifier's optimiser (sgd: with --momentum).")
@config_option(ReportConfig, "--lr", "Learning rate.", type=float)
@config_option(ReportConfig, "--weight-decay", "Weight decay.", type=float)
@config_option(ReportConfig, "--momentum", "SGD momentum.", type=float)
@config_option(ReportConfig, "--schedule", "Learning-rate schedule: constant, cosine (to 0), step (x0.1 at 1/2 and 3/4).")
@config_option(ReportConfig, "--normalize-mean", "Input normalisation mean, one number or one per channel (with --normalize-std).",
               callback=_numbers)
@config_option(ReportConfig, "--normalize-std", "Input normalisation std, one number or one per channel.", callback=_numbers)
@config_option(ReportConfig, "--la-tau", "The la arms' logit adjustment tau.", type=float)
@config_option(ReportConfig, "--mixup-alpha", "The mixup arm's Beta(alpha, alpha) (1: uniform).", type=float)
@click.option("--seeds", type=click.IntRange(min=1), help=f"Number of seeds (0..N-1). [default: {len(default_of(ReportConfig, 'seeds'))}]")
@config_option(ReportConfig, "--steps", "Classifier optimiser steps per arm and seed.", type=int)
@config_option(ReportConfig, "--batch-size", "Classifier batch size.", type=int)
@click.option("--arms", help=f"Comma-separated arms to run. [default: {','.join(default_of(ReportConfig, 'arms'))}]")
@config_option(ReportConfig, "--alpha", "synthetic+aug, synthetic+strong-aug: chance an item of a class with synthetic images is synthetic.", type=float)
@config_option(ReportConfig, "--synthetic-below", "Only classes with fewer real images than this get synthetic items in those arms (0: every class).", type=int)
@config_option(ReportConfig, "--flips/--no-flips", "Flip images horizontally in the augmented arms (only if the data allows it; digits do not).",
               field="flips", default=None)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Report folder.")
@config_option(_REPORT_FROM_SPEC, "--device", "auto, cpu, cuda, cuda:N or mps.")
@click.option("--resume", is_flag=True, help="Reuse finished runs (and a generator fitted with --fit) in OUT made with the same settings.")
@click.option("--force", is_flag=True, help="Redo an earlier report in OUT (and replace its --fit generator); a folder no report wrote is never touched.")
@user_errors
def report(data, image_size, channels, imbalance, test_split, data_seed, skip_bad, model, fit_here, fit_family, fit_steps,
           fit_width, fit_settings, test_data, oracle, classifier, optimizer, lr, weight_decay, momentum, schedule, normalize_mean, normalize_std,
           la_tau, mixup_alpha, seeds, steps, batch_size, arms, alpha, synthetic_below, flips, out, device, resume, force):
    """Does synthetic data help a classifier on DATA? Train the same classifier (a built-in one or
    your own, with your recipe) under each arm and compare them on held-out test data the
    generator never saw. The arms run by default:

    \b
      real                  the imbalanced data as it is
      class-weights         loss weighted by inverse class frequency
      oversample            class-balanced sampler
      smote                 SMOTE on pixels
      classic-aug           class-balanced sampler + random affine
      strong-aug            the same with elastic distortion first
      la                    logit-adjusted cross-entropy, instance sampling
      la+aug                la + random affine
      la+strong-aug         la + elastic distortion and affine
      la+aug+mixup          la+aug with input mixup
      synthetic             real + generated images up to balance
      synthetic+aug         classic-aug with generated images for rare classes
      synthetic+strong-aug  the same under strong-aug: the recommended pipeline
      synthetic-only        generated images alone
      oracle                the balanced data before the long tail (--oracle)

    The verdict compares synthetic+strong-aug with the best cheap recipe run (classic-aug,
    strong-aug, the la arms, the mixup arm).

    \b
    Writes to OUT: report.html (one self-contained page), report.md (table and verdict),
    report.json (every number), recall_by_class.png, samples.png (real | generated, one row
    per class), runs/ (one file per arm and seed).

    \b
    Examples:
      cgan-augment fit data/ --test-split 0.2 --out runs/mydata
      cgan-augment report data/ --test-split 0.2 --model runs/mydata/model.safetensors --out runs/mydata/report
      cgan-augment report builtin:digits --imbalance 20 --test-split 0.3 --fit --oracle --out runs/digits-report
      cgan-augment report builtin:digits --imbalance 20 --test-split 0.3 --fit --fit-set temperature=0.5 --out rep-t05/
      cgan-augment report data/ --test holdout/ --model runs/mydata/model.safetensors --classifier resnet18 --out rep/
      cgan-augment report data/ --test-split 0.2 --model runs/mydata/model.safetensors --classifier mymodels:make_model \\
          --optimizer sgd --lr 0.01 --schedule cosine --normalize-mean 0.5 --normalize-std 0.25 --out rep/
    """
    spec = data_spec(data, image_size, channels, imbalance, test_split, data_seed, skip_bad)
    if (fit_family or fit_steps or fit_width or fit_settings) and not fit_here:
        raise ConfigError("--fit-family, --fit-steps, --fit-width and --fit-set only apply with --fit.")
    config = ReportConfig(**given(classifier=classifier, optimizer=optimizer, lr=lr, weight_decay=weight_decay,
                                  momentum=momentum, schedule=schedule, normalize_mean=normalize_mean,
                                  normalize_std=normalize_std, la_tau=la_tau, mixup_alpha=mixup_alpha,
                                  steps=steps, batch_size=batch_size, alpha=alpha, flips=flips,
                                  synthetic_below=synthetic_below or None,
                                  seeds=tuple(range(seeds)) if seeds else None,
                                  arms=tuple(a.strip() for a in arms.split(",") if a.strip()) if arms else None))
    if synthetic_below == 0:  # 0 on the command line: synthetic items for every class
        config = dataclasses.replace(config, synthetic_below=None)
    fit, fit_run = _fit_recipe(fit_family, fit_steps, fit_width, fit_settings) if fit_here else (None, None)
    out = Path(out)
    from cgan_augment.report.from_files import report_from_spec  # torch loads here, after the flags are checked

    with Progress() as progress, StopOnSignal(armed=lambda: progress.stage == "fit") as stop:
        result = report_from_spec(spec, out, model=model, fit=fit, **given(fit_run=fit_run), test=test_data, config=config, oracle=oracle,
                                  on_progress=progress, resume=resume, force=force, should_stop=stop, **given(device=device))
    _print_result(result, out)


def _fit_recipe(family, steps, width, settings) -> tuple:
    """(recipe, run settings or None) of ``report --fit`` from its flags (``--fit-set NAME=VALUE``:
    the value read as JSON where it is a number or true/false, else as text)."""
    options = {"family": family, "steps": steps, "width": width}
    flags = {"family": "--fit-family", "steps": "--fit-steps", "width": "--fit-width"}
    for item in settings:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--fit-set takes NAME=VALUE (e.g. temperature=0.5). Got {item!r}.")
        key = name.strip().lstrip("-").replace("-", "_")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
        flags[key] = f"--fit-set {name.strip()}"
    recipe, run = split_fit_options(options, flags)
    return recipe, (run if run != type(run)() else None)


@click.command()
@config_option(_RUN_DEMO, "--out", "Output folder.", type=click.Path(file_okay=False))
@click.option("--quick", is_flag=True, help="A smoke test: 2 pairs, 150 classifier steps (the verdict says so).")
@click.option("--seeds", type=click.IntRange(min=1), help="Number of (seed, long-tail draw) pairs. [default: 3, with --quick 2]")
@click.option("--family", type=click.Choice(list(families())),
              help=f"The generator family, with its default recipe (see `fit --help`). [default: {DEFAULT_RECIPE.family}]")
@config_option(_RUN_DEMO, "--device", "auto, cpu, cuda, cuda:N or mps.")
@click.option("--resume", is_flag=True, help="Reuse the finished runs and generators of an earlier demo in OUT (same settings only).")
@click.option("--force", is_flag=True, help="Redo an earlier demo in OUT; a folder no demo wrote is never touched.")
@user_errors
def demo(out, quick, seeds, family, device, resume, force):
    """The whole story in a few minutes on the bundled digits, repeated on 3 (seed, long-tail draw)
    pairs: for each, hold out a stratified 30% test split, make the rest long-tailed (imbalance 20),
    fit the recommended generator on it (the deform family; --family picks another), and train the same classifier under every arm (baselines,
    synthetic arms, the balanced oracle). The verdict pairs the recommended pipeline with the best
    cheap recipe (classic-aug, strong-aug, the la arms, the mixup arm) per pair, with a 95% interval.

    \b
    Examples:
      cgan-augment demo --out runs/demo
      cgan-augment demo --quick
      cgan-augment demo --seeds 5 --resume      # two more pairs; the first three are reused
    """
    from cgan_augment.report.demo import demo_settings, run_demo

    spec, fit, _, config = demo_settings(quick, seeds)
    fit = default_recipe(family) if family else fit
    generator = f"{fit.family} ({families()[fit.family].summary})"
    click.echo(f"demo{' (quick: a smoke test, not a measurement)' if quick else ''}: {spec.source}, imbalance "
               f"{spec.imbalance:g}, test split {spec.test_split}; generator {generator}; classifier {config.classifier}, "
               f"{config.steps} steps; {len(config.seeds)} (seed, long-tail draw) pairs")
    out = Path(out or default_of(_RUN_DEMO, "out"))
    with Progress() as progress, StopOnSignal(armed=lambda: (progress.stage or "").startswith("fit")) as stop:
        result = run_demo(out, quick=quick, seeds=seeds, fit=fit, on_progress=progress, resume=resume, force=force,
                          should_stop=stop, **given(device=device))
    _print_result(result, out)
    click.echo("each pair's report, generator and sample grid: "
               + ", ".join(str(out / f"draw_{d}") for d in result["draws"]))
