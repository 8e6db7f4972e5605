"""The accuracy-gain report: does synthetic data help a classifier, against honest baselines?

The same classifier is trained with the same budget (optimiser steps, batch size, learning rate)
under each *arm*, a way of using the imbalanced training data, and tested on a held-out split the
generator never saw:

==================  ===========================================================================
``real``            the imbalanced training data as it is (shuffled epochs)
``class-weights``   the same, loss weighted by inverse class frequency
``oversample``      a class-balanced ``WeightedRandomSampler`` over the real images (no copies)
``smote``           imbalanced-learn's SMOTE on flattened pixels (skipped if not installed)
``classic-aug``     the class-balanced sampler plus a small random affine on every item
                    (flips only with ``flips=True``): the cheap bar synthetic data has to clear
``strong-aug``      the same with elastic distortion before the affine: the higher bar
``la``              logit-adjusted cross-entropy (``logits + la_tau · log(prior)``, Menon et al.
                    2021; Balanced Softmax at tau 1) with plain instance sampling
``la+aug``          ``la`` with the random affine; ``la+strong-aug`` with elastic, then affine
``la+aug+mixup``    ``la+aug`` with input mixup, ``lambda ~ Beta(mixup_alpha, mixup_alpha)`` per batch
``synthetic``       real + :class:`~cgan_augment.mixing.synthetic.SyntheticDataset` topped up to balance
``synthetic+aug``   each item draws a class uniformly, then a synthetic image of it with
                    probability ``alpha`` (if the class has any), else a real one; the affine
                    goes on every item (``ClassBalancedSampler(synthetic_fraction=alpha)``)
``synthetic+strong-aug``  the same mix under the strong augmentation
``synthetic-only``  generated images alone (the Classification Accuracy Score)
``oracle``          the balanced data before the long tail, when given: the ceiling
==================  ===========================================================================

The cheap recipes (classic-aug, strong-aug, the ``la`` arms, the mixup arm) are the verdict's bar:
the recommended pipeline is compared with the best of those run. Arms are plugins
(:mod:`~cgan_augment.report.plugins`): :func:`register_arm` adds one, e.g. with a user's own loss.
The classifier is a built-in one or the user's own factory (:mod:`~cgan_augment.report.factory`),
trained under the recipe of :class:`ReportConfig` (optimiser, learning rate and schedule, weight
decay, input normalisation).

Every random choice of a run (initialisation, batches, augmentation, SMOTE, the synthetic pool)
is drawn from the run's own seed. Each arm's training set is held in memory once (uint8) and
batches are gathered from it, so a run costs little beyond the classifier's own compute.

Entry point: :func:`run_report` (datasets and a generator in hand); from a
:class:`~cgan_augment.data.load.DataSpec` and a model file or ``fit=``, see :mod:`cgan_augment.report.from_files`. The library never prints; progress goes to ``on_progress(stage, done, total, detail)``.


Modules, in import order: ``plugins`` (the arm interface, its losses and mixup, the registry),
``config`` (arms, classifiers, :class:`ReportConfig`), ``arms`` (each arm's data and batches),
``factory`` (the user's classifier), ``classifiers`` (build, train, predict, metrics), ``gains``
(gains and verdict), ``figures`` (the recall heat map, the forest plot), ``html`` (report.html, one
self-contained page), ``outputs`` (report.json, report.md, report.html, figures), ``run``
(:func:`run_report`, run cache).
"""

from .._util.lazy import lazy_exports as _lazy_exports
from .config import ARMS, BASELINE_ARMS, CHEAP_ARMS, CLASSIFIERS, METRICS, SYNTHETIC_ARMS, Progress, ReportConfig
from .plugins import Arm, ArmContext, class_weighted, cross_entropy, logit_adjusted, mixup, register_arm

_EXPORTS = {"build_classifier": "classifiers", "format_table": "outputs", "run_report": "run", "load_factory": "factory"}

__all__ = ["ReportConfig", "run_report", "format_table", "build_classifier", "load_factory", "ARMS", "BASELINE_ARMS",
           "CHEAP_ARMS", "SYNTHETIC_ARMS", "CLASSIFIERS", "METRICS", "Progress",
           "Arm", "ArmContext", "register_arm", "cross_entropy", "class_weighted", "logit_adjusted", "mixup"]


# Names of the heavy modules are imported on first use (PEP 562): the settings stay light.
__getattr__, __dir__ = _lazy_exports(__name__, globals(), _EXPORTS)
