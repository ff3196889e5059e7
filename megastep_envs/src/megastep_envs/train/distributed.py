"""Data-parallel training across processes: one env batch per process, gradients averaged.

Launched by ``torchrun --nproc-per-node N -m megastep_envs.train ...``, which
sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and
``MASTER_PORT`` in every process. Each process steps its own envs (seeded
differently) and computes the PPO gradients of its own samples; the learner's
network is wrapped in torch's own
:class:`~torch.nn.parallel.DistributedDataParallel`, which averages the
gradients in buckets while the backward pass still runs, so every process
applies the same update to the same parameters and they stay identical. NCCL
carries the all-reduce between GPUs, gloo between CPU processes. Only rank 0
logs and writes checkpoints.

Several hosts are one torchrun per host, meeting at a rendezvous point::

    torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST0:29400 \
        --rdzv-id myrun -m megastep_envs.train explorer --out runs/explorer

run on each host with the same arguments (``HOST0`` is any one of them,
reachable from the others).

Without those variables (a plain ``megastep train``) every function here is a
no-op for a world of one process.
"""
from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from megastep_core.errors import MegastepError


class DistributedError(MegastepError, RuntimeError):
    """The processes of a data-parallel run disagree, or cannot be started."""


@dataclass(frozen=True)
class Process:
    """Where this process sits in a data-parallel run.

    :ivar rank: 0 to ``world_size - 1``; rank 0 logs and checkpoints.
    :ivar local_rank: the index of this process on its host, which picks its GPU.
    :ivar world_size: how many processes train together.
    :ivar device: this process's device.
    """

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on the one process that logs, shows progress and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _int_variable(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"environment variable {name} must be an integer, got {value!r}") from None


def start(device: torch.device) -> Process:
    """Joins the process group that torchrun set up, or returns a world of one.

    :param device: the device asked for (already resolved, ``cpu`` or ``cuda``).
        Under torchrun on CUDA, each process takes GPU ``LOCAL_RANK``.
    """
    world_size = _int_variable("WORLD_SIZE", 1)
    rank = _int_variable("RANK", 0)
    local_rank = _int_variable("LOCAL_RANK", 0)
    if world_size < 1 or not 0 <= rank < world_size:
        raise DistributedError(f"RANK={rank} and WORLD_SIZE={world_size} do not describe a process of the run")
    if world_size == 1:
        return Process(device=device)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DistributedError(
                f"process with LOCAL_RANK={local_rank} has no GPU of its own: torch sees "
                f"{torch.cuda.device_count()}; start at most that many processes per host"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # NCCL moves CUDA tensors between GPUs; gloo is the CPU transport
        if device.type == "cuda":
            dist.init_process_group(backend="nccl", device_id=device)
        else:
            dist.init_process_group(backend="gloo")
    return Process(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def stop(process: Process, finished: bool = True) -> None:
    """Leaves the process group, if this process joined one.

    :param finished: whether this process ran to the end, as every other one should have: then the processes
        wait for each other first, so that none tears down its connections while another still uses them
        (rank 0 writing the checkpoint). Seen without it: under gloo on a 2-core machine, a process that
        left first was aborted now and then ("terminate called without an active exception"). After an
        error, a process leaves without waiting for the others, which may never come. The group is then
        collected at once: an object that still refers to it (DDP's reducer, in a reference cycle) would
        otherwise end its threads during the interpreter's shutdown, which also aborted a process now and
        then, after its run had finished.
    """
    if process.distributed and dist.is_initialized():
        gc.collect()
        if finished:
            dist.barrier()
        dist.destroy_process_group()
        gc.collect()


def data_parallel(process: Process, model: torch.nn.Module) -> torch.nn.Module:
    """``model`` wrapped for data-parallel training when there are several processes, else ``model`` itself.

    DDP copies rank 0's parameters and buffers to every process when it wraps, and from then on averages the
    gradients during each backward pass. Acting calls the bare ``model``: it needs no gradients.
    """
    if not process.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, gradient_as_bucket_view=True)


def mean_over_processes(process: Process, values: torch.Tensor) -> torch.Tensor:
    """The element-wise mean of ``values`` over all processes (for logging: returns, throughput)."""
    if not process.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / process.world_size


def sum_over_processes(process: Process, values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over all processes (for counts: env steps, episodes)."""
    if not process.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def check_parameters_agree(process: Process, module: torch.nn.Module) -> None:
    """Raises :class:`DistributedError` if any process's parameters differ from rank 0's.

    Cheap (one small all-gather of checksums), so training runs it at every
    checkpoint: a silent divergence would otherwise only show as bad learning.
    """
    if not process.distributed:
        return
    with torch.no_grad():
        local = torch.stack([p.double().sum() for p in module.parameters()]
                            + [p.double().abs().sum() for p in module.parameters()])
    gathered = [torch.empty_like(local) for _ in range(process.world_size)]
    dist.all_gather(gathered, local)
    for rank, other in enumerate(gathered):
        if not torch.equal(other, gathered[0]):
            raise DistributedError(f"the parameters of rank {rank} differ from rank 0's: the processes diverged")
