"""Training on several processes with ``torch.distributed`` (started by ``torchrun``).

:func:`_setup` reads the process group from torchrun's environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``): NCCL on CUDA, gloo on the CPU, and the
``LOCAL_RANK`` GPU as the device. One process without that environment gets ``_Dist()`` (rank 0 of
1) and the fit runs exactly as it always did.

Batch norm across processes: :class:`torch.nn.SyncBatchNorm` on CUDA; on the CPU (where PyTorch's
SyncBatchNorm refuses to run) :class:`_AllReduceBatchNorm` does the same with the differentiable
``torch.distributed.nn.functional.all_reduce``, so 2 gloo processes train what 1 process does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import torch
import torch.distributed as dist
import torch.nn as nn

from .._util.devices import resolve_device
from ..errors import CGANAugmentError, ConfigError, TrainingDiverged

__all__: list = []  # internal: the loop uses it


@dataclass(frozen=True)
class _Dist:
    """This process's place in the run: ``rank`` of ``world`` processes, and whether this module
    made the process group (then it also ends it)."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False
    launcher: int = 0  # pid of the process that started this rank (torchrun's agent), watched; 0: none

    def launcher_gone(self) -> bool:
        """Whether the launcher has died (this process was handed to another parent): a rank it
        started must not train on alone, holding the output folder's lock. A syscall, no signal."""
        return self.launcher > 1 and os.getppid() != self.launcher

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` holds on any rank (a barrier too)."""
        if self.world == 1:
            return flag
        t = torch.tensor(float(flag), device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t > 0)

    def reduce_stats(self, values: torch.Tensor) -> torch.Tensor:
        """Sum of ``values`` (a 1-d float tensor on this rank's device) over all ranks; one
        collective, one copy to the CPU."""
        if self.world > 1:
            dist.all_reduce(values)
        return values.cpu()

    def first_error(self, error: Optional[CGANAugmentError]) -> None:
        """Raise on every rank the error that any rank met (rank 0's first), so that a bad output
        folder on rank 0 stops all processes with its message instead of leaving them waiting."""
        if self.world == 1:
            if error is not None:
                raise error
            return
        found: list = [None] * self.world
        dist.all_gather_object(found, error)
        for e in found:
            if e is not None:
                raise e

    def check_same(self, modules: dict) -> None:
        """Raise if the ranks' copies of ``modules`` differ (as StyleGAN2-ADA checks at every
        snapshot): a rank that resumed from something else, or missed an update, shows here."""
        if self.world == 1:
            return
        sums = torch.stack([t.detach().double().sum() for m in modules.values() for t in m.state_dict().values()
                            if t.is_floating_point()])
        high, low = sums.clone(), sums.clone()
        dist.all_reduce(high, op=dist.ReduceOp.MAX)
        dist.all_reduce(low, op=dist.ReduceOp.MIN)
        if not torch.equal(high, low):
            raise TrainingDiverged("the processes' copies of the networks differ; the run is not in step. "
                                   "Resume from the last checkpoint (--resume) with the same data on every process.")

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _env_world() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def _setup(device_name: str) -> tuple[_Dist, torch.device]:
    """The process group and device of this process. Without torchrun's environment (or with
    ``WORLD_SIZE=1``): one process on ``resolve_device(device_name)``. Under torchrun: the group
    that is already there, or a new one (NCCL when the device resolves to CUDA, gloo otherwise),
    and ``cuda:LOCAL_RANK`` on CUDA."""
    world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else _env_world()
    device = resolve_device(device_name)
    # torchrun starts each worker in its own session, so killing the launcher's process group
    # does not reach them: they watch their parent instead (see _Dist.launcher_gone).
    launcher = os.getppid() if world > 1 or "TORCHELASTIC_RUN_ID" in os.environ else 0
    if world <= 1:
        return _Dist(launcher=launcher), device
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 but this PyTorch build has no torch.distributed; run one process.")
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if local >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {local} but this machine has {torch.cuda.device_count()} CUDA device(s); "
                              "start at most that many processes per node (torchrun --nproc-per-node).")
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise ConfigError(f"training on several processes needs CUDA (NCCL) or the CPU (gloo); got device {device}.")
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return _Dist(dist.get_rank(), dist.get_world_size(), owns, launcher), device


def _differentiable_all_reduce(t: torch.Tensor) -> torch.Tensor:
    """Sum over ranks whose backward sums the ranks' gradients (torch.distributed.nn's all_reduce,
    whose deprecation notice points at a private module; the notice is silenced here)."""
    import warnings

    from torch.distributed.nn.functional import all_reduce

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return all_reduce(t)


def _sync_batch_norm(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with every BatchNorm computing its statistics over the batch of all ranks:
    :class:`torch.nn.SyncBatchNorm` on CUDA, :class:`_AllReduceBatchNorm` elsewhere. The state
    dict keys, parameters and buffers are unchanged (checkpoints and the EMA copy still match)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, _AllReduceBatchNorm.like(child))
        else:
            _sync_batch_norm(child, device)
    return module


class _AllReduceBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm (1d or 2d) whose training statistics are those of the whole batch across ranks:
    the mean and biased variance come from summed per-rank sums (two all_reduces, the variance
    around the global mean). The all_reduce is autograd-aware, so gradients are exact too."""

    @classmethod
    def like(cls, bn: nn.modules.batchnorm._BatchNorm) -> "_AllReduceBatchNorm":
        new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
        new.load_state_dict(bn.state_dict())
        return new.to(next(iter(bn.state_dict().values())).device).train(bn.training)

    def _check_input_dim(self, input):
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-d input (got {input.dim()}-d)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        all_reduce = _differentiable_all_reduce
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor(float(x.numel() // x.shape[1]), device=x.device)
        dist.all_reduce(count)
        mean = all_reduce(x.sum(dims)) / count
        var = all_reduce((x - mean.view(shape)).pow(2).sum(dims)) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * count / max(float(count) - 1, 1.0), m)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

