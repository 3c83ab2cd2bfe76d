"""``--compile``: the two networks through ``torch.compile``, for fewer and fused kernels a step.

On a GPU an iteration of the default networks is a few hundred small kernels (weight
normalisation, noise, activations and their backward around each matrix product), each too
short to keep the device busy; Inductor fuses the elementwise work into a few kernels around
the matrix products. It combines with ``--graphs``: the compiled kernels are captured like
any others. On this 2-core CPU, where the matrix products take most of a step, it is slower
(README, "On a GPU").

The networks are compiled in place (:meth:`torch.nn.Module.compile`): their ``state_dict``,
hence checkpoints, are the eager ones; the EMA copy of D is made before, and evaluation runs
it uncompiled. Each way a network is called (train or eval mode, with or without gradients)
compiles once, in the first epoch's time. Compiled arithmetic rounds differently and
compiled noise comes from another random stream, so results are not bit-identical to the
eager networks.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Callable, TypeVar

from torch import nn

from ssgan.errors import SSGANError, first_line

BACKEND = "inductor"
F = TypeVar("F", bound=Callable)


# Each way of calling a network (gradients on or off, D's weights frozen, autocast and its
# cache, train or eval mode) is one compiled variant of its forward, kept per process; past
# torch's limit of 8 a network would run eagerly again, with one warning (a second training in
# the same process, with autocast's cache on where the first had it off, goes past 8)
RECOMPILE_LIMIT = 64


def prepare_compile() -> None:
    """Set this process up for compiling as ``--compile`` does: room for :data:`RECOMPILE_LIMIT`
    variants of a compiled function, and Inductor's CUDA note silenced."""
    import torch._dynamo

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    # Inductor's C++ build on a CPU-only machine logs "No CUDA runtime is found" once, a note
    # about building CUDA extensions that has nothing to do with these networks (and would
    # break --quiet)
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def compile_networks(*nets: nn.Module) -> None:
    """Compile each network in place; the first call of each traces and compiles it."""
    prepare_compile()
    for net in nets:
        net.compile(backend=BACKEND)


def is_compile_error(e: BaseException) -> bool:
    """Whether ``e`` came from torch.compile (tracing, the backend, or its C++/Triton build)."""
    exc = sys.modules.get("torch._dynamo.exc")  # loaded by the first compiled call
    return exc is not None and isinstance(e, exc.TorchDynamoException)


class CompileFailed(SSGANError):
    """torch.compile could not compile a network; the message is one line."""


def compile_failure(e: BaseException) -> CompileFailed:
    """The one line that replaces a torch.compile traceback."""
    cause = getattr(e, "inner_exception", None) or e  # the backend's own error, under Dynamo's wrapper
    line = first_line(str(cause))
    reason = f"{type(cause).__name__}: {line}" if line else type(cause).__name__
    return CompileFailed(f"--compile: torch.compile failed ({reason}); train without --compile")


def one_line_failures(fn: F) -> F:
    """``fn`` with a torch.compile failure raised as :func:`compile_failure`'s one line."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except RuntimeError as e:
            if is_compile_error(e):
                raise compile_failure(e) from None
            raise
    return wrapper  # type: ignore[return-value]
