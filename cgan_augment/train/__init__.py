"""Training a class-conditional GAN: :class:`TrainConfig` (the recipe), :class:`RunSettings` (how
the run goes) and :func:`train_generator`.

The loop is shaped like StyleGAN2-ADA's ``training_loop``: :func:`_build` makes the networks and
optimisers, :func:`_step` is one optimisation step, and :class:`_Maintenance` does the periodic
work on a schedule (log lines, sample grids, checkpoints every N steps). The loop stops when a
``should_stop`` callback says so; the library installs no signal handlers (the CLI turns
SIGINT/SIGTERM into that callback).

One step = ``d_steps`` discriminator updates and one generator update, Adam for both, DiffAugment
on everything the discriminator sees, an exponential moving average (EMA) of the generator's
weights that is what gets saved and sampled. Every random draw of step ``s`` comes from a seed
derived from ``(config.seed, s)``, so a run resumed from a checkpoint repeats exactly what an
uninterrupted run would have done (bit for bit on CPU).

Files written to ``out`` (rank 0 only, each atomically): ``model.safetensors`` (EMA generator),
``checkpoint.safetensors`` (everything for ``resume``), ``samples.png`` and ``samples/step_N.png``
(one row per class, fixed noise), ``samples_over_time.png`` and ``.gif``, ``log.jsonl`` (losses, D's
mean logits on real and generated images, for wgan-gp the Wasserstein estimate and the penalty,
per-class diversity), ``training_curves.png`` and ``diversity.png`` drawn from it, ``config.json``.

Modules, in import order: ``config`` (:class:`TrainConfig`, :class:`RunSettings`), ``distributed``
(process group, DDP wrapping, rank-0 writes, all-reduced stop flags under torchrun), ``sampler``
(one real batch per step), ``maintenance`` (grids, logs, checkpoints on a schedule), ``step``
(``_step``, one optimisation step), ``loop`` (:func:`train_generator`, ``_build``).
"""

from .._util.lazy import lazy_exports as _lazy_exports
from .config import RunSettings, TrainConfig

_EXPORTS = {"train_generator": "loop"}

__all__ = ["TrainConfig", "RunSettings", "train_generator"]


# Names of the heavy modules are imported on first use (PEP 562): the settings stay light.
__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)
