"""The ``cgan-augment`` command line: a thin click layer over the library.

Each command parses its flags into the library's config dataclasses, calls one library function
and prints. User errors (:class:`cgan_augment.CGANAugmentError`) become one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import click

from cgan_augment import __version__
from cgan_augment._util.choices import INTERPOLATIONS

from .fit_flags import SectionedCommand, fit_flags, split_fit_options
from .options import StopOnSignal, config_option, data_options, data_spec, given, user_errors
from .progress import Progress

# read from source: importing these would load torch
_WRITE_SAMPLES, _WRITE_WALK = "cgan_augment.mixing.export:write_samples", "cgan_augment.generators.walks:write_walk"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cgan-augment")
def main():
    """Rebalance an imbalanced image dataset with a class-conditional generator.

    \b
    Typical use:
      cgan-augment demo                               # the whole story on bundled digits
      cgan-augment fit data/ --out runs/mydata        # fit a generator (deform; --family dcgan: a GAN)
      cgan-augment report data/ --test holdout/ --model runs/mydata/model.safetensors --out rep/
      cgan-augment sample runs/mydata/model.safetensors --class cat --n 16 --out cats/
      cgan-augment sample runs/mydata/model.safetensors --walk --out walk.png
      cgan-augment info runs/mydata/model.safetensors

    DATA is a folder with one sub-folder of images per class (torchvision's ImageFolder layout),
    an .npz file with arrays x (N,H,W[,C]) and y (N,), or builtin:digits / builtin:mnist5k / builtin:fashion5k.
    """


def _silent(*args, **kwargs) -> None:
    pass


def _default_out(source: str) -> Path:
    name = source.split(":", 1)[1] if source.startswith("builtin:") else Path(source.rstrip("/")).stem
    return Path("runs") / (name or "model")


@main.command(cls=SectionedCommand)
@data_options
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. [default: runs/<data name>]")
@fit_flags
@click.option("--resume", is_flag=True, help="Continue the fit in OUT (GAN families: from OUT/checkpoint.safetensors; "
                                              "deform: keep OUT's finished model if it was made with the same settings).")
@click.option("--force", is_flag=True, help="Replace a model already in OUT, or take over its lock.")
@user_errors
def fit(data, image_size, channels, imbalance, test_split, data_seed, skip_bad, out, resume, force, **fit_options):
    """Fit a class-conditional generator on DATA and save OUT/model.safetensors.

    \b
    The default family is deform: learned warps of each class's own images,
    the generator that measured best on long-tailed digits (benchmarks/RESULTS.md,
    issue 11); it fits in seconds to a minute on a CPU. --family dcgan or mlp
    fits a GAN instead. Each family takes its own settings (listed below by family).

    \b
    Writes to OUT: model.safetensors (the generator, its family and recipe in its
    metadata), samples.png (one row per class), config.json; a GAN also writes
    checkpoint.safetensors (for --resume), samples/step_N.png, samples_over_time.png
    and .gif, log.jsonl (losses, D's scores, per-class diversity),
    training_curves.png (drawn from it) and diversity.png (collapse shows here).

    \b
    At every sample grid of a GAN the samples are checked: a class whose samples are
    nearly all alike (mode collapse), or samples that stop changing (stalled or
    diverged training), gives a warning, also kept in log.jsonl and shown by
    `info`; with --strict, training stops there with exit code 1.

    \b
    Examples:
      cgan-augment fit builtin:digits --imbalance 20 --out runs/digits
      cgan-augment fit builtin:digits --imbalance 20 --temperature 0.5 --pairs 2000
      cgan-augment fit data/ --out runs/skin --family dcgan --image-size 64 --device cuda
      cgan-augment fit data/ --out runs/skin --family dcgan --steps 6000 --resume
      torchrun --nproc-per-node 4 $(which cgan-augment) fit data/ --out runs/skin --family dcgan --batch-size 256

    Under torchrun (GAN families only), --batch-size is the global batch (split over
    the processes) and only rank 0 prints and writes.
    """
    first = os.environ.get("RANK", "0") == "0"  # other torchrun ranks train silently
    echo = click.echo if first else _silent
    spec = data_spec(data, image_size, channels, imbalance, test_split, data_seed, skip_bad)
    flags = {p.name: p.opts[0] for p in click.get_current_context().command.params}
    config, run = split_fit_options(fit_options, flags)
    from cgan_augment import class_counts, fit_generator, load_data  # torch loads here, after the flags are checked

    loaded = load_data(spec)
    train = loaded.train
    out = Path(out) if out else _default_out(data)
    counts = class_counts(train)
    echo(f"data: {len(train)} training images, {len(train.classes)} classes, "
         f"{train.channels}×{train.image_size}×{train.image_size}"
         + (f", {len(loaded.test)} held out" if loaded.test is not None else ""))
    echo("  per class: " + ", ".join(f"{c}={n}" for c, n in zip(train.classes, counts)))
    if loaded.skipped:
        echo("  skipped: " + ", ".join(f"{n} {kind}" for kind, n in sorted(loaded.skipped.items())))
    echo(f"family: {config.family}")
    with Progress(file=sys.stderr if first else io.StringIO()) as progress:  # other torchrun ranks train silently
        detail = {"text": ""}

        def on_step(step, total, stats):
            if "loss_d" in stats:  # a GAN's losses are read back every --log-every steps
                detail["text"] = f"D {stats['loss_d']:.3f}  G {stats['loss_g']:.3f}  {stats['images_per_s']:.0f} img/s"
            elif "loss" in stats:
                detail["text"] = f"loss {stats['loss']:.4f}"
            progress("fit", step, total, detail["text"])

        with StopOnSignal() as stop:  # Ctrl-C / SIGTERM: checkpoint (where the family has one), then exit 130
            generator = fit_generator(train, config, out, run, data_info=dict(spec.to_dict(), skipped=loaded.skipped),
                                      resume=resume, force=force, on_step=on_step, should_stop=stop)
    written = [out / f for f in ("model.safetensors", "samples.png", "log.jsonl", "config.json") if (out / f).exists()]
    echo("wrote " + ", ".join(map(str, written)))
    for message in generator.metadata.get("warnings", []):
        echo(f"warning: {message}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--class", "classes", multiple=True, help="Class name (or index) to sample; repeat for several. [default: every class]")
@config_option(_WRITE_SAMPLES, "--n", "Images per class (with --walk: images along each walk, default 8).",
               type=click.IntRange(min=1))
@click.option("--out", type=click.Path(), required=True,
              help="A new folder for PNG files (OUT/<class>/NNNNN.png), or a .png/.jpg file for one grid.")
@config_option(_WRITE_SAMPLES, "--seed", "Seed of the noise.", type=int)
@click.option("--walk", is_flag=True, help="Write a latent walk to OUT (a .png): per class, images along a path between two noise vectors.")
@click.option("--walk-grid", "grid_class", help="With --walk: also a 2-D n×n walk of this class, beside OUT as <stem>_<class>_grid.png.")
@config_option(_WRITE_WALK, "--interpolation", "With --walk: spherical (stays where Gaussian noise lives) or linear.",
               field="mode", dest="interpolation", type=click.Choice(INTERPOLATIONS))
@config_option(_WRITE_SAMPLES, "--device", "auto, cpu, cuda, cuda:N or mps.")
@click.option("--force", is_flag=True, help="Replace an earlier sample output at OUT (never anything else).")
@user_errors
def sample(model, classes, n, out, seed, walk, grid_class, interpolation, device, force):
    """Generate images of some classes from MODEL (a model.safetensors).

    OUT must not exist, be an empty folder, or (with --force) be an earlier sample output: a file
    or folder this command did not write is never written over.

    \b
    Examples:
      cgan-augment sample runs/digits/model.safetensors --class 7 --n 32 --out sevens/
      cgan-augment sample runs/digits/model.safetensors --n 8 --out grid.png
      cgan-augment sample runs/digits/model.safetensors --walk --n 10 --out walk.png --walk-grid 7
    """
    from cgan_augment.errors import ConfigError

    if grid_class is not None and not walk:
        raise ConfigError("--walk-grid only applies with --walk.")
    if walk:
        from cgan_augment.generators.walks import write_walk

        paths = write_walk(model, out, classes=list(classes) or None, grid_class=grid_class, force=force,
                           **given(n=n, seed=seed, mode=interpolation, device=device))
        click.echo("wrote " + ", ".join(map(str, paths)))
        return
    from cgan_augment.mixing.export import write_samples

    paths = write_samples(model, out, classes=list(classes) or None, force=force, **given(n=n, seed=seed, device=device))
    click.echo(f"wrote {out}" if len(paths) == 1 and paths[0] == Path(out) else f"wrote {len(paths)} files under {out}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the raw metadata as JSON.")
@user_errors
def info(model, as_json):
    """Print what MODEL (a model.safetensors) is and how it was made."""
    from cgan_augment import read_metadata

    meta = read_metadata(model)
    if as_json:
        click.echo(json.dumps(meta, indent=2))
        return
    arch = meta["arch"]
    click.echo(f"{model}: cgan-augment {meta.get('kind')} (format {meta['format_version']}, written by {meta.get('library_version')})")
    click.echo(f"  family {arch['family']}, {arch['channels']}×{arch['image_size']}×{arch['image_size']} images in [0, 1], z_dim {arch['z_dim']}, width {arch['width']}")
    counts = meta.get("class_counts") or [None] * len(meta["classes"])
    click.echo(f"  {len(meta['classes'])} classes (training images): " + ", ".join(f"{c}={n}" for c, n in zip(meta["classes"], counts)))
    data = meta.get("data", {})
    if data:
        click.echo("  data: " + ", ".join(f"{k}={v}" for k, v in data.items() if v is not None and v != {} and v is not False))
    cfg = meta.get("train_config", {})
    if cfg:
        done = f"trained {meta.get('step')} steps" if "steps" in cfg else "fitted"  # a recipe without steps fits in one pass
        click.echo(f"  {done}: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    for message in meta.get("warnings", []):
        click.echo(f"  warning: {message}")


from .augment import augment  # noqa: E402

main.add_command(augment)
from .report import demo, report  # noqa: E402

main.add_command(report)
main.add_command(demo)

if __name__ == "__main__":
    main()
