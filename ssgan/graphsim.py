"""The captured path of the training loop on a machine without CUDA, with a graph's semantics.

A CUDA graph records the kernels that its function launches, once, and replays those kernels
on the same memory: nothing the function computes in Python is done again. A replay therefore
keeps every Python value it was captured with (a float learning rate, a branch taken, a
counter), and a capture fails outright on a host read (``.item()``, an operator whose output
shape depends on values) or on host data copied to the device (``torch.tensor(data)``).

:class:`TracedGraph` keeps those semantics on the CPU. Recording runs the function once under
a ``TorchDispatchMode`` that logs every operator with its arguments, refuses the operators a
capture refuses, and afterwards puts back every tensor the recording changed and the random
states it drew from, the global generator's and those an operator was given (a capture
executes no kernel); a replay runs the logged operators again on the same tensors, writing
each result into the tensor the recording made, and draws afresh from the same generators,
as a graph that registered them does. :func:`simulate` puts it in place of
:func:`ssgan.graphs.record`, so that the tests (tests/conftest.py's ``simulated``)
and ``benchmarks/ops.py`` run the rest of the captured path here. It cannot tell which tensors
would live on the host on CUDA (all are CPU tensors here), and it does not model the memory
pool that the two graphs share.
"""

from __future__ import annotations

import weakref
from contextlib import ExitStack, contextmanager
from typing import Callable
from unittest.mock import patch

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_flatten

from ssgan.graphs import lr_as_tensor

# operators that read a device value on the host, or whose output's shape depends on values
# (so that the host waits for the device): a capture refuses them
HOST_READS = frozenset({"_local_scalar_dense", "is_nonzero", "equal", "allclose", "nonzero", "masked_select",
                        "unique", "_unique", "_unique2", "unique_consecutive", "unique_dim"})
# torch.tensor(data) inside a step: on CUDA a copy from pageable host memory, which synchronises
HOST_DATA = frozenset({"lift_fresh", "lift_fresh_copy"})


class CaptureRefused(RuntimeError):
    """What CUDA says when a captured function does what a capture cannot hold."""


def _tensors(tree) -> list[torch.Tensor]:
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


def _refused(func, args) -> str | None:
    """Why a capture refuses operator ``func`` on ``args`` (None: it does not)."""
    name = func.overloadpacket.__name__
    if name in HOST_READS:
        return "reads a device value on the host"
    if name in HOST_DATA:
        return "copies host data to the device"
    if name in ("index", "index_put", "index_put_") and any(
            t.dtype in (torch.bool, torch.uint8) for t in _tensors(args[1])):
        return "indexes by a mask, whose number of rows the host must read"
    return None


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        # (operator, args, kwargs, its output tensors), in the order they ran; the outputs held
        # weakly meanwhile, so that autograd hands a gradient to .grad as it does uncaptured
        # (it copies one that something else holds)
        self.ops = []
        self.saved = {}  # storage address -> (storage, its copy before the recording touched it)
        self.generators = {}  # id -> (a generator an operator drew from, its state before the recording)
        self.global_rng = None  # the global generator's state before the first operator that drew from it
        self.made = set()  # addresses of the storages that the recorded operators made

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        what = _refused(func, args)
        if what:
            raise CaptureRefused(f"operation not permitted when stream is capturing (simulated: {func} {what})")
        # every storage an operator is given, saved before its first use: some operators write
        # to arguments that their schema does not mark (batch norm's running statistics)
        for t in _tensors((args, kwargs)):
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key not in self.made and key not in self.saved:
                self.saved[key] = (storage, storage.clone())
        gens = [g for g in tree_flatten((args, kwargs))[0] if isinstance(g, torch.Generator)]
        for gen in gens:
            if id(gen) not in self.generators:
                self.generators[id(gen)] = (gen, gen.get_state())
        if not gens and torch.Tag.nondeterministic_seeded in func.tags and self.global_rng is None:
            self.global_rng = torch.get_rng_state()
        out = func(*args, **kwargs)
        self.made.update(t.untyped_storage().data_ptr() for t in _tensors(out))
        self.ops.append((func, args, kwargs, [weakref.ref(t) for t in _tensors(out)]))
        return out


class TracedGraph:
    """Stands in for :class:`torch.cuda.CUDAGraph` as :func:`ssgan.graphs.record` returns it."""

    def __init__(self, fn: Callable[[], object], pool=None, stream=None, generators=()):
        recorder = _Recorder()
        try:
            with recorder:
                fn()
        finally:  # as if no kernel had run: what the recording changed is put back
            with torch.no_grad():
                for storage, copy in recorder.saved.values():
                    storage.copy_(copy)
            # the global generator only if the recording drew from it: runs in other threads may
            # be drawing from it meanwhile (their set-ups), which a capture leaves alone
            if recorder.global_rng is not None:
                torch.set_rng_state(recorder.global_rng)
            for gen, state in recorder.generators.values():
                gen.set_state(state)
        # the outputs that outlived the recording (None: freed, read by nothing later)
        self.ops = [(func, args, kwargs, [ref() for ref in refs]) for func, args, kwargs, refs in recorder.ops]

    @torch.no_grad()
    def replay(self) -> None:
        for func, args, kwargs, outputs in self.ops:
            for recorded, new in zip(outputs, _tensors(func(*args, **kwargs))):
                if recorded is not None and (new.data_ptr() != recorded.data_ptr() or new.stride() != recorded.stride()):
                    with _disable_current_modes():  # the simulation's own copy: unseen by a counting mode
                        recorded.copy_(new)  # (in place operators and views wrote where the recording did)

    def pool(self) -> None:
        return None


class Recall:
    """A looser stand-in, for compiled networks: torch.compile steps aside under a dispatch
    mode, so a trace would replay the eager operators, not the compiled kernels. Recording runs
    nothing; a replay calls the function again, Python and all."""

    def __init__(self, fn: Callable[[], object], pool=None, stream=None, generators=()):
        self.replay = fn

    def pool(self) -> None:
        return None


def _lr_as_tensor(opt: torch.optim.Optimizer, device: torch.device) -> None:
    """:func:`ssgan.graphs.to_capturable` for a CPU Adam, which cannot be made capturable: its
    learning rate a tensor that the schedule fills in place (float64: the same steps as a float)."""
    for group in opt.param_groups:
        lr_as_tensor(group, dtype=torch.float64)


@contextmanager
def simulate(when: Callable[[object], bool] = lambda cfg: cfg.graphs == "on", graph: type = TracedGraph):
    """Inside, :func:`ssgan.train.train` takes the captured path on the CPU wherever
    ``when(cfg)``, with ``graph`` (:class:`TracedGraph` or :class:`Recall`) for the graphs;
    outside, everything is as before."""
    import ssgan.graphs
    import ssgan.runs
    import ssgan.train

    with ExitStack() as stack:
        for module, name, value in [(ssgan.graphs, "record", graph), (ssgan.graphs, "to_capturable", _lr_as_tensor),
                                    (ssgan.train, "use_graphs", lambda cfg, device, distributed, warn: when(cfg)),
                                    (ssgan.runs, "use_graphs", lambda *args: None)]:
            stack.enter_context(patch.object(module, name, value))
        yield
