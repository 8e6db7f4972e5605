"""The ``cgan-augment`` command line: a thin click layer over the library.

Each command parses its flags into the library's config dataclasses, calls one library function
and prints. User errors (:class:`cgan_augment.CGANAugmentError`) become one line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cgan_augment import __version__

from .options import data_options, data_spec, given, train_option, user_errors
from .progress import Progress


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="cgan-augment")
def main():
    """Rebalance an imbalanced image dataset with a class-conditional GAN.

    \b
    Typical use:
      cgan-augment demo                               # the whole story on bundled digits
      cgan-augment fit data/ --out runs/mydata        # train a generator
      cgan-augment report data/ --test holdout/ --model runs/mydata/model.safetensors --out rep/
      cgan-augment sample runs/mydata/model.safetensors --class cat --n 16 --out cats/
      cgan-augment sample runs/mydata/model.safetensors --walk --out walk.png
      cgan-augment info runs/mydata/model.safetensors

    DATA is a folder with one sub-folder of images per class (torchvision's ImageFolder layout),
    an .npz file with arrays x (N,H,W[,C]) and y (N,), or builtin:digits / builtin:mnist5k.
    """


def _default_out(source: str) -> Path:
    name = source.split(":", 1)[1] if source.startswith("builtin:") else Path(source.rstrip("/")).stem
    return Path("runs") / (name or "model")


@main.command()
@data_options
@click.option("--out", type=click.Path(file_okay=False), help="Output folder. [default: runs/<data name>]")
@train_option("--family", "Model family: dcgan (convolutional) or mlp.", type=click.Choice(["dcgan", "mlp"]))
@train_option("--loss", "GAN loss.", type=click.Choice(["hinge", "bce", "wgan-gp"]))
@train_option("--steps", "Generator updates.", type=int)
@train_option("--batch-size", "Real images per discriminator update.", type=int)
@train_option("--lr", "Adam learning rate of both networks.", type=float)
@train_option("--width", "Channel width multiplier of both networks.", type=int)
@train_option("--ema-decay", "Decay of the moving average of generator weights.", type=float)
@train_option("--balanced/--no-balanced", "Draw real batches class-balanced.", field="balanced", default=None)
@train_option("--diffaugment", 'DiffAugment policy for the discriminator ("" for none).')
@train_option("--mode-seeking", "Weight of the mode-seeking term against per-class collapse (0 turns it off).", type=float)
@train_option("--beta1", "Adam beta1 of both networks.", type=float)
@train_option("--beta2", "Adam beta2 of both networks.", type=float)
@train_option("--seed", "Seed of initialisation, batches and noise.", type=int)
@train_option("--sample-every", "Steps between sample grids.", type=int)
@train_option("--checkpoint-every", "Steps between checkpoints.", type=int)
@train_option("--workers", "DataLoader worker processes decoding images.", field="num_workers", type=int)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.safetensors.")
@click.option("--force", is_flag=True, help="Replace a model already in OUT, or take over its lock.")
@user_errors
def fit(data, image_size, channels, imbalance, test_split, data_seed, skip_bad, out, device, resume, force, **train_options):
    """Fit a class-conditional GAN on DATA and save OUT/model.safetensors.

    \b
    Writes to OUT: model.safetensors (the EMA generator, metadata included),
    checkpoint.safetensors (for --resume), samples.png (one row per class),
    samples/step_N.png, samples_over_time.png, log.jsonl (losses, per-class
    diversity), diversity.png (collapse shows here), config.json.

    \b
    Examples:
      cgan-augment fit builtin:digits --imbalance 20 --steps 300
      cgan-augment fit data/ --out runs/skin --image-size 64 --device cuda
      cgan-augment fit data/ --out runs/skin --steps 6000 --resume
    """
    from cgan_augment import TrainConfig, class_counts, load_data, train_generator

    spec = data_spec(data, image_size, channels, imbalance, test_split, data_seed, skip_bad)
    config = TrainConfig(**given(**train_options))
    loaded = load_data(spec)
    train = loaded.train
    out = Path(out) if out else _default_out(data)
    counts = class_counts(train)
    click.echo(f"data: {len(train)} training images, {len(train.classes)} classes, "
               f"{train.channels}×{train.image_size}×{train.image_size}"
               + (f", {len(loaded.test)} held out" if loaded.test is not None else ""))
    click.echo("  per class: " + ", ".join(f"{c}={n}" for c, n in zip(train.classes, counts)))
    if loaded.skipped:
        click.echo("  skipped: " + ", ".join(f"{n} {kind}" for kind, n in sorted(loaded.skipped.items())))
    with Progress() as progress:
        def on_step(step, total, stats):
            progress("fit", step, total, f"D {stats['loss_d']:.3f}  G {stats['loss_g']:.3f}  {stats['images_per_s']:.0f} img/s")

        train_generator(train, config, out, data_info=dict(spec.to_dict(), skipped=loaded.skipped),
                        resume=resume, force=force, device=device, on_step=on_step)
    click.echo(f"wrote {out / 'model.safetensors'}, {out / 'samples.png'}, {out / 'log.jsonl'}")


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--class", "classes", multiple=True, help="Class name (or index) to sample; repeat for several. [default: every class]")
@click.option("--n", type=int, default=16, show_default=True, help="Images per class (with --walk: images along each walk).")
@click.option("--out", type=click.Path(), required=True, help="Folder for PNG files (OUT/<class>/NNNNN.png), or a .png file for one grid.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the noise.")
@click.option("--walk", is_flag=True, help="Write a latent walk to OUT (a .png): per class, images along a path between two noise vectors.")
@click.option("--walk-grid", "grid_class", help="With --walk: also a 2-D n×n walk of this class, beside OUT as <stem>_<class>_grid.png.")
@click.option("--interpolation", type=click.Choice(["slerp", "linear"]), default="slerp", show_default=True,
              help="With --walk: spherical (stays where Gaussian noise lives) or linear interpolation.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@user_errors
def sample(model, classes, n, out, seed, walk, grid_class, interpolation, device):
    """Generate images of some classes from MODEL (a model.safetensors).

    \b
    Examples:
      cgan-augment sample runs/digits/model.safetensors --class 7 --n 32 --out sevens/
      cgan-augment sample runs/digits/model.safetensors --n 8 --out grid.png
      cgan-augment sample runs/digits/model.safetensors --walk --n 10 --out walk.png --walk-grid 7
    """
    from cgan_augment.errors import ConfigError
    from cgan_augment.export import write_samples
    from cgan_augment.walks import write_walk

    if walk:
        paths = write_walk(model, out, classes=list(classes) or None, n=n, grid_class=grid_class, seed=seed,
                           mode=interpolation, device=device)
        click.echo("wrote " + ", ".join(map(str, paths)))
        return
    if grid_class is not None:
        raise ConfigError("--walk-grid only applies with --walk.")
    paths = write_samples(model, out, classes=list(classes) or None, n=n, seed=seed, device=device)
    click.echo(f"wrote {len(paths)} file(s) under {out}")


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
        click.echo(f"  trained {meta.get('step')} steps: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))


from .augment import augment  # noqa: E402
main.add_command(augment)
from .report import demo, report  # noqa: E402
main.add_command(report)
main.add_command(demo)

if __name__ == "__main__":
    main()
