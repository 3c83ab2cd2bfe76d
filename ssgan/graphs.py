"""The two training steps captured as CUDA graphs and replayed once per iteration.

The default networks are small: on a GPU an iteration is hundreds of short kernels, and its
time goes to launching them and to the host reading metrics back, not to arithmetic. A CUDA
graph records a step once and replays it with one launch. Capture needs:

- fixed shapes and addresses: the epoch's orders of the data are copied into static index
  tensors once per epoch, and each step gathers its batches from the device-resident data at
  the rows of an iteration counter that the host fills before the replays;
- no host reads inside a step: the metrics are summed on the device and read once per epoch
  (:meth:`GraphedSteps.totals`), where the loop's NaN guard checks them;
- Adam with ``capturable=True``, its learning rate a device tensor that the schedule fills in
  place (:func:`to_capturable`);
- the EMA of D updated on the device (:class:`DeviceEMA`);
- random numbers from the run's own CUDA generator (``Nets.rand``), registered with each graph,
  whose offset each replay advances as the eager step would;
- one capture at a time in a process, in CUDA's ``thread_local`` mode, so that runs in several
  threads (``--parallel-mode threads``) can capture while the others train.

Each step draws G's noise z inside its graph, where the eager loop draws it, so that the two
paths draw the same numbers from the run's generator in the same order, and with D's noise
and dropout off follow the same trajectory up to floating-point order. A replay is thus the
whole of an iteration's device work: the host launches the counter's fill, the learning
rates' fills and the replays, nothing else. Only :func:`record` and :func:`to_capturable` need
CUDA: the CPU tests replace them (:mod:`ssgan.graphsim`) to run the rest of this path here.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, contextmanager
from typing import Callable, Iterator

import torch
from torch import Tensor, nn

from ssgan.compiling import is_compile_error
from ssgan.config import Config
from ssgan.errors import SSGANError, first_line
from ssgan.steps import Nets, discriminator_step, generator_step

WARMUP = 3  # eager iterations on a side stream before capture (lazy state, cuBLAS workspaces)


def graph_blockers(cfg: Config, device: torch.device, distributed: bool) -> list[str]:
    """Why the steps of ``cfg`` cannot be captured on ``device`` (none: they can)."""
    reasons = []
    if device.type != "cuda":
        reasons.append(f"CUDA graphs need a CUDA device, and this run uses {device.type}")
    if distributed:
        reasons.append("several processes (torchrun) train eagerly")
    if cfg.optimizer != "adam":
        reasons.append(f"--optimizer {cfg.optimizer}: only Adam is captured")
    if cfg.hist_avg_d or cfg.hist_avg_g:
        reasons.append("historical averaging keeps its running mean on the host")
    if cfg.ema_probe:
        reasons.append("--ema-probe's moving averages are updated eagerly")
    return reasons


def use_graphs(cfg: Config, device: torch.device, distributed: bool, warn: Callable[[str], None]) -> bool:
    """Resolve ``cfg.graphs``. ``on`` with a blocker is an error; ``auto`` on CUDA with a blocker
    trains eagerly and says why in one line; on other devices ``auto`` trains eagerly silently."""
    if cfg.graphs == "off":
        return False
    blockers = graph_blockers(cfg, device, distributed)
    if not blockers:
        return True
    if cfg.graphs == "on":
        raise SSGANError(f"--graphs on: the steps cannot be captured ({'; '.join(blockers)}); "
                         "use --graphs auto or --graphs off")
    if device.type == "cuda":
        warn(f"--graphs auto: training eagerly, not as CUDA graphs, because {'; '.join(blockers)}")
    return False


def lr_as_tensor(group: dict, **like) -> None:
    """A param group's learning rate as a tensor (``torch.tensor``'s keywords ``like``) that the
    schedule fills in place; ``initial_lr`` stays a float."""
    lr = float(group["lr"])
    group.setdefault("initial_lr", lr)
    group["lr"] = torch.tensor(lr, **like)


def to_capturable(opt: torch.optim.Optimizer, device: torch.device) -> None:
    """Make an Adam optimizer capturable: its steps on the device, its lr a device tensor."""
    for group in opt.param_groups:
        lr_as_tensor(group, dtype=torch.float32, device=device)
        group["capturable"] = True
    for state in opt.state.values():
        if "step" in state:
            state["step"] = state["step"].to(device=device, dtype=torch.float32)


def _eager_group(group: dict) -> dict:
    """A param group in the eager loop's form, in place: lr a float, not capturable."""
    if isinstance(group.get("lr"), Tensor):
        group["lr"] = float(group["lr"])
    if group.get("capturable"):
        group["capturable"] = False
    return group


def to_eager(opt: torch.optim.Optimizer) -> None:
    """Undo :func:`to_capturable`: lr a float again, and the step counts where the eager kernel
    keeps them: the fused kernel on its parameters' device, the others on the CPU."""
    for group in opt.param_groups:
        _eager_group(group)
        for p in group["params"]:
            state = opt.state.get(p, {})
            if "step" in state:
                state["step"] = state["step"].to(device=p.device if group.get("fused") else "cpu", dtype=torch.float32)


def capture_or_none(cfg: Config, nets: Nets, amp, x_lab: Tensor, y_lab: Tensor, x_unl: Tensor, gan: bool, iters: int,
                    warn: Callable[[str], None]) -> "GraphedSteps | None":
    """:class:`GraphedSteps`, or, where the capture fails under ``--graphs auto``, None after one
    line that says why (the nets are left as the eager loop wants them); ``on`` stops instead."""
    try:
        return GraphedSteps(cfg, nets, amp, x_lab, y_lab, x_unl, gan, iters)
    except RuntimeError as e:
        if is_compile_error(e):  # not the capture's failure: eager training would meet it too
            raise
        reason = first_line(str(e)) or type(e).__name__
        if cfg.graphs == "on":
            raise SSGANError(f"--graphs on: capturing the steps failed ({reason}); use --graphs off") from None
        for opt in (nets.opt_d, nets.opt_g):
            to_eager(opt)
            opt.zero_grad(set_to_none=True)
        nets.ema_update = None
        warn(f"--graphs auto: capturing the steps failed ({reason}); training eagerly")
        return None


def portable_state(state: dict) -> dict:
    """An optimizer's ``state_dict()`` in the eager loop's form (lr a float, not capturable),
    so that a checkpoint resumes on any device, captured or not."""
    return {**state, "param_groups": [_eager_group(dict(group)) for group in state["param_groups"]]}


class DeviceEMA:
    """The moving average of D's weights, updated without a host read: the eager loop's weight
    ``1 - min(decay, (1 + n) / (10 + n))`` computed on the device, and a copy at the first update."""

    def __init__(self, ema: torch.optim.swa_utils.AveragedModel, model: nn.Module, decay: float):
        device = next(model.parameters()).device
        ema.n_averaged = ema.n_averaged.to(device)  # a CPU counter would be read back, not captured
        pairs = list(zip([*ema.module.parameters(), *ema.module.buffers()], [*model.parameters(), *model.buffers()]))
        self.avg = [a for a, c in pairs if a.is_floating_point()]
        self.cur = [c for a, c in pairs if a.is_floating_point()]
        self.counters = [(a, c) for a, c in pairs if not a.is_floating_point()]
        self.ema, self.decay = ema, decay

    @torch.no_grad()
    def update(self) -> None:
        n = self.ema.n_averaged.to(torch.float32)
        weight = torch.where(n == 0, torch.ones_like(n), 1.0 - torch.clamp((1.0 + n) / (10.0 + n), max=self.decay))
        step = torch._foreach_sub(self.cur, self.avg)
        torch._foreach_mul_(step, weight)
        torch._foreach_add_(self.avg, step)
        for a, c in self.counters:
            a.copy_(c)
        self.ema.n_averaged.add_(1)


def side_stream(device: torch.device) -> torch.cuda.Stream | None:
    """A stream of its own for a warm-up and the capture that follows it (None off CUDA)."""
    return torch.cuda.Stream(device) if device.type == "cuda" else None


@contextmanager
def on_side(side: torch.cuda.Stream | None) -> Iterator[None]:
    """Run the block's kernels on ``side``, after what the current stream has queued and before
    what it queues next (``side`` None: on the current stream, as on the CPU)."""
    if side is None:
        yield
        return
    current = torch.cuda.current_stream(side.device)
    side.wait_stream(current)
    try:
        with torch.cuda.stream(side):
            yield
    finally:
        current.wait_stream(side)


def record(fn: Callable[[], object], pool=None, stream=None, generators: tuple[torch.Generator, ...] = ()
           ) -> torch.cuda.CUDAGraph:
    """Capture ``fn``'s kernels as a CUDA graph on ``stream`` (the warm-up's, whose library
    handles and workspaces already exist), sharing ``pool``, the memory of an earlier graph
    that replays in turn with it, and drawing from ``generators`` (besides the default one).
    ``replay()`` runs the kernels again on the same tensors. Only this thread's work is
    checked for what a capture forbids: other threads may run their own steps meanwhile."""
    graph = torch.cuda.CUDAGraph()
    for gen in generators:
        graph.register_generator_state(gen)
    with torch.cuda.graph(graph, pool=pool, stream=stream, capture_error_mode="thread_local"):
        fn()
    return graph


CAPTURING = threading.Lock()  # one warm-up and capture at a time in a process (torch.cuda.graph synchronises the device)


def _stack(values: dict[str, Tensor | float], device: torch.device) -> Tensor:
    return torch.stack([v.float() if isinstance(v, Tensor) else torch.full((), float(v), device=device)
                        for v in values.values()])


class GraphedSteps:
    """The D step and the G step as two CUDA graphs that gather their batches by the epoch's
    orders (``lab``, ``unl``, ``gen``: rows of ``x_lab`` and ``x_unl``, as the eager loop takes
    them) and draw their noise; their metrics are summed on the device. Build it after the
    weights and optimizer states are loaded."""

    def __init__(self, cfg: Config, nets: Nets, amp: Callable[[], AbstractContextManager], x_lab: Tensor,
                 y_lab: Tensor, x_unl: Tensor, gan: bool, iters: int):
        device = x_unl.device
        self.cfg, self.nets, self.amp, self.gan, self.device = cfg, nets, amp, gan, device
        self.x_lab, self.y_lab, self.x_unl = x_lab, y_lab, x_unl
        bs = cfg.batch_size
        for opt in (nets.opt_d, nets.opt_g):
            to_capturable(opt, device)
        nets.ema_update = DeviceEMA(nets.ema, nets.D, cfg.ema_decay).update
        saved = _Snapshot(nets, device)  # before anything draws a random number
        # the static orders, the first rows in turn for the warm-up, and the iteration counter
        self.orders = {"lab": torch.arange(iters * bs, device=device) % len(x_lab),
                       "unl": torch.arange(len(x_unl), device=device), "gen": torch.arange(len(x_unl), device=device)}
        self.it = torch.zeros((), dtype=torch.long, device=device)
        self.rows = torch.arange(bs, device=device)
        with CAPTURING:
            self._capture(saved)

    def _at(self) -> Tensor:
        """The positions of this iteration's batch in the epoch's orders."""
        return self.it * self.cfg.batch_size + self.rows

    def _d(self) -> dict[str, Tensor | float]:
        at = self._at()
        lab = self.orders["lab"][at]
        xu = self.x_unl[self.orders["unl"][at]] if self.gan else None
        z = self.nets.G.sample_z(self.cfg.batch_size, self.nets.rand, device=self.device) if self.gan else None
        return discriminator_step(self.cfg, self.nets, self.x_lab[lab], self.y_lab[lab], xu, z, self.amp)

    def _g(self) -> dict[str, Tensor | float]:
        z = self.nets.G.sample_z(self.cfg.batch_size, self.nets.rand, device=self.device)
        return generator_step(self.cfg, self.nets, self.x_unl[self.orders["gen"][self._at()]], z, self.amp)

    def _capture(self, saved: "_Snapshot") -> None:
        nets = self.nets
        side = side_stream(self.device)
        try:
            with on_side(side):
                for _ in range(WARMUP):
                    d_keys = list(self._d())
                    g_keys = list(self._g()) if self.gan else []
        finally:
            saved.restore()  # the warm-up's updates are undone: training starts from the loaded state
        self.d_keys, self.g_keys = d_keys, g_keys
        self.d_sum = torch.zeros(len(d_keys), device=self.device)
        self.g_sum = torch.zeros(len(g_keys), device=self.device)
        self.g_out = torch.zeros_like(self.g_sum)
        self.d_count = self.g_count = 0
        for opt in (nets.opt_d, nets.opt_g):
            opt.zero_grad(set_to_none=True)
        gens = tuple(g for g in nets.generators if g.device.type == "cuda")
        self.d_graph = record(lambda: self.d_sum.add_(_stack(self._d(), self.device)), stream=side, generators=gens)
        self.g_graph = None
        if self.gan:
            self.g_graph = record(lambda: self.g_out.copy_(_stack(self._g(), self.device)), self.d_graph.pool(), side,
                                  gens)

    def start_epoch(self, orders: dict[str, Tensor], sums: dict[str, float], counts: dict[str, int]) -> None:
        """Take the epoch's orders, and start the sums from those of a checkpoint written inside
        an epoch (or from zero)."""
        for k, order in orders.items():
            self.orders[k].copy_(order)
        self.d_sum.copy_(torch.tensor([sums.get(k, 0.0) for k in self.d_keys]))
        if self.g_keys:
            self.g_sum.copy_(torch.tensor([sums.get(k, 0.0) for k in self.g_keys]))
        self.d_count = counts.get(self.d_keys[0], 0)
        self.g_count = counts.get(self.g_keys[0], 0) if self.g_keys else 0

    def step(self, it: int, g: bool) -> None:
        """Iteration ``it`` of the epoch: the D step, then (``g``) ``g_steps`` G steps, as replays."""
        self.it.fill_(it)
        self.d_graph.replay()
        self.d_count += 1
        if g:
            for _ in range(self.cfg.g_steps):
                self.g_graph.replay()
            self.g_sum.add_(self.g_out)  # as the eager loop logs, the iteration's last G step
            self.g_count += 1

    def totals(self) -> tuple[dict[str, float], dict[str, int]]:
        """The epoch's metric sums and counts so far, in one read from the device."""
        values = torch.cat([self.d_sum, self.g_sum]).tolist()
        keys = self.d_keys + self.g_keys
        counts = {k: self.d_count for k in self.d_keys} | {k: self.g_count for k in self.g_keys if self.g_count}
        return {k: v for k, v in zip(keys, values) if k in counts}, counts


class _Snapshot:
    """Copies of every tensor that a training step changes, restored in place (the graphs
    keep the addresses); optimizer state that did not exist yet is restored to zeros, which
    is Adam's fresh state. Random state: the run's own generators; torch's global one only
    where the steps draw from it (compiled networks, which have no generator of their own):
    elsewhere another run in this process may be seeding it and drawing its initial weights
    meanwhile (``--parallel-mode threads``), which a restore would overwrite."""

    def __init__(self, nets: Nets, device: torch.device):
        modules = (nets.D, nets.G, nets.ema)
        self.tensors = [t for m in modules for t in (*m.parameters(), *m.buffers())]
        self.saved = [t.detach().clone() for t in self.tensors]
        self.opts = [(opt, {p: {k: v.clone() for k, v in st.items() if isinstance(v, Tensor)}
                            for p, st in opt.state.items()}) for opt in (nets.opt_d, nets.opt_g)]
        self.device = device
        self.rng = None
        if nets.rand is None:
            self.rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()
        self.own = [(g, g.get_state()) for g in nets.generators]

    @torch.no_grad()
    def restore(self) -> None:
        for t, s in zip(self.tensors, self.saved):
            t.copy_(s)
        for opt, before in self.opts:
            for p, state in opt.state.items():
                for k, v in state.items():
                    if isinstance(v, Tensor):
                        v.copy_(before[p][k]) if p in before else v.zero_()
        if self.rng is not None:
            if self.device.type == "cuda":
                torch.cuda.set_rng_state(self.rng, self.device)
            else:
                torch.set_rng_state(self.rng)
        for gen, state in self.own:
            gen.set_state(state)
