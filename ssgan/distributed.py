"""Everything that knows about several processes, in one place.

``ssgan fit`` under ``torchrun`` (which sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``) runs
one process per rank: NCCL with one GPU per local rank on CUDA, gloo on the CPU. The single
process path never touches ``torch.distributed``: every function here is the identity, or
does nothing, when the world has one process.
"""

from __future__ import annotations

import importlib
import inspect
import os
import weakref
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def from_env() -> World:
    """The world torchrun describes in the environment (one process without it)."""
    return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                 int(os.environ.get("LOCAL_RANK", 0)))


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group if torchrun started several processes; return the world and the
    device of this rank (``cuda:LOCAL_RANK`` for CUDA)."""
    world = from_env()
    if not world.active:
        return world, device
    if device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # torch.distributed.nn.functional's collectives take ``group=group.WORLD`` as a default
        # argument, evaluated as the module is imported: imported once the group exists (wrap's
        # DistributedDataParallel imports it, through torch.distributed._shard), those defaults
        # hold the group for good and shutdown could not free it. Imported first, they hold None.
        importlib.import_module("torch.distributed.nn.functional")

        # torchrun's own store outlives an elastic restart: a prefix per attempt keeps the new
        # processes from reading the addresses that the last attempt's processes left there.
        store, rank, size = next(dist.rendezvous("env://"))
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                store=dist.PrefixStore(f"ssgan/attempt{attempt}", store), rank=rank, world_size=size)
    return world, device


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel, which broadcasts rank 0's weights as it wraps.
    Buffers are not synchronised in forward: each rank keeps its own batch-norm statistics.
    torch names that option ``forward_sync_buffers`` since 2.13 and ``broadcast_buffers``
    before (the GPU machines this project is measured on have torch 2.11)."""
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device] if device.type == "cuda" else None
    params = inspect.signature(DDP).parameters
    no_sync = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    wrapped = DDP(module, device_ids=ids, **{no_sync: False})
    _WRAPPED.add(wrapped)
    return wrapped


# The wrappers that hold the group (their reducer and their own reference), for shutdown to let go.
_WRAPPED: weakref.WeakSet = weakref.WeakSet()


def shutdown() -> None:
    """Leave the process group, and free it, on every way out of a command.

    Freeing the group joins gloo's worker threads (NCCL's group is freed alike; not yet tried on
    a GPU). Left running into the interpreter's finalization, a gloo thread that still held the
    last all-reduce's work released its tensors there; a tensor made in Python needs the GIL to
    be freed, and a thread that asks for it during finalization is ended by the interpreter,
    which aborts the process ("terminate called without an active exception", SIGABRT) after a
    complete run: 5 of 157 runs of ``fit --nproc 2`` here, with a core dump showing
    ``ProcessGroupGloo::runLoop`` destroying an ``AsyncAllreduceWork`` in ``take_gil`` beside
    ``Py_FinalizeEx``. The group is freed only when nothing else holds it: DDP wrappers do
    (their reducer, and their own reference), and a run that stopped on an exception keeps its
    wrappers alive in the traceback's frames, so they let go of it here; setup imports the
    functions whose default arguments would hold it."""
    for ddp in list(_WRAPPED):  # (the three attributes that DDP's own pickling leaves out)
        for name in ("reducer", "logger", "process_group"):
            ddp.__dict__.pop(name, None)
    _WRAPPED.clear()
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce(t: Tensor, op: str = "sum") -> Tensor:
    """In place across ranks (``sum`` or ``max``); the identity in one process."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX}[op])
    return t


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def check_batch(batch_size: int, size: int) -> None:
    """The global batch must split evenly over the processes."""
    from ssgan.errors import SSGANError

    if batch_size % size:
        raise SSGANError(f"--batch-size {batch_size} is the global batch and must divide by the {size} processes: "
                         f"use a multiple of {size}")


def broadcast(obj):
    """Rank 0's ``obj`` on every rank (any picklable object)."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def batch_mean(x: Tensor) -> Tensor:
    """Mean over the global batch of a (B, ...) tensor split across ranks.

    Its value is the mean over every rank's rows; its gradient reaches this rank's rows as if
    the global mean were taken here: the other ranks' share is a constant, and the factor of
    the world size that this leaves is exactly what DDP's averaging of gradients divides out.
    The sum over ranks of the resulting gradients equals the one-process gradient.
    """
    local = x.mean(0)
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return local
    total = local.detach().clone()
    dist.all_reduce(total)
    return total / dist.get_world_size() + (local - local.detach())
