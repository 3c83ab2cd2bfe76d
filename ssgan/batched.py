"""Several seeds' training steps as one: S networks of one architecture with their weights
stacked along a new first dimension, and each step vmapped over the seeds (:mod:`torch.func`).

On a GPU the default networks are small: an iteration is hundreds of short kernels, and S
seeds run side by side (``--parallel``, processes or threads) launch S times as many. Stacked,
S seeds launch the kernels of one, each S times larger (a batched matrix product where one seed
has a matrix product), so that the launches are shared and the kernels fill more of the device.

The objective is the one of :mod:`ssgan.steps` (:func:`~ssgan.steps.discriminator_loss`,
:func:`~ssgan.steps.generator_objective`), run per seed by ``vmap``: each seed sees its own
batches, its own G and D. The seeds' losses are summed before the backward pass; their weights
are apart, so each seed gets its own gradient, and Adam and the EMA, which work element by
element, update each seed as they would alone. With D's noise and dropout off, seed s therefore
follows the trajectory it follows alone, up to the rounding of the batched kernels
(tests/test_batched.py). The random numbers inside the networks (D's noise, dropout) are drawn
independently per seed (``randomness="different"``) from the stack's generator, not from the
seed's own stream: a stacked seed is a run of the same distribution as ``--seed s`` alone, not
the same numbers.

What is stacked and what is not: :class:`SeedStack` holds the stacked weights as ordinary
parameters and buffers, so that torch's Adam, the EMA (``AveragedModel``) and a state dict take
them as they take one network's; :func:`stack_nets` builds the stacked :class:`~ssgan.steps.Nets`
from the seeds' own (after their initialisation, or loaded from their checkpoints) and
:func:`unstack_into` writes the stacked state back into them, where the loop's evaluation and
checkpoints find it. Options whose state or randomness is not per seed are refused
(:func:`stack_blockers`). :class:`SeedGroup` is ``--parallel-mode stacked``: the runs of
several seeds, each with its own loop in a thread, whose steps it runs stacked, as CUDA graphs
where the run's options allow them.
"""

from __future__ import annotations

import copy
import threading
from contextlib import AbstractContextManager
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.optim.swa_utils import AveragedModel

from ssgan import graphs, steps
from ssgan.config import Config
from ssgan.diagnostics import HistoricalAverage, first_and_last_weight_names
from ssgan.errors import SSGANError, first_line
from ssgan.models import resolve_arch
from ssgan.models.layers import use_generator
from ssgan.steps import Nets


def stack_blockers(cfg: Config, in_shape: tuple[int, ...]) -> list[str]:
    """Why the seeds of ``cfg``, on examples of ``in_shape``, cannot be stacked (none: they can)."""
    reasons = []
    cfg = resolve_arch(cfg, tuple(in_shape))
    if cfg.arch != "mlp":
        reasons.append(f"--arch {cfg.arch}: only the mlp networks are stacked")
    if cfg.optimizer != "adam":
        reasons.append(f"--optimizer {cfg.optimizer}: only Adam is stacked")
    if cfg.hist_avg_d or cfg.hist_avg_g:
        reasons.append("historical averaging keeps one running mean per network")
    if cfg.translate:
        reasons.append("--translate draws its shifts from the run's own generator")
    if cfg.compile:
        reasons.append("--compile compiles one network")
    if cfg.ema_probe:
        reasons.append("--ema-probe keeps its moving averages per network")
    return reasons


def check_stackable(cfg: Config, in_shape: tuple[int, ...]) -> None:
    """Stop with one line if the runs of ``cfg`` cannot be stacked (``--parallel-mode stacked``)."""
    if blockers := stack_blockers(cfg, in_shape):
        raise SSGANError(f"--parallel-mode stacked cannot stack these runs ({'; '.join(blockers)}): "
                         "use --parallel-mode threads or processes")


def _flat(name: str) -> str:
    return name.replace(".", ":")  # a module's own parameter names cannot hold dots


class SeedStack(nn.Module):
    """S copies of one network (the same architecture and options, each its own weights), whose
    parameters and buffers are stacked along a new first dimension and held as this module's
    own, under the network's names with ':' for '.'. :meth:`call` is one seed's network as a
    function of its slices, to run under ``vmap``; :meth:`member` is seed s as a module."""

    def __init__(self, modules: Sequence[nn.Module], generator: torch.Generator | None = None):
        super().__init__()
        if len({type(m) for m in modules}) != 1 or len({tuple(m.state_dict()) for m in modules}) != 1:
            raise ValueError("SeedStack needs networks of one architecture")
        template = copy.deepcopy(modules[0]).to("meta")
        use_generator(template, generator)  # under vmap each seed draws its own numbers from it
        self.__dict__["template"] = template  # not a submodule: its (empty) weights are not this module's
        params, buffers = stack_module_state(list(modules))
        for name, t in params.items():
            self.register_parameter(_flat(name), nn.Parameter(t.detach(), requires_grad=t.requires_grad))
        for name, t in buffers.items():
            self.register_buffer(_flat(name), t)
        self.param_names, self.buffer_names = list(params), list(buffers)

    def train(self, mode: bool = True) -> "SeedStack":
        super().train(mode)
        self.template.train(mode)
        return self

    def state(self, detach: bool = False) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """The stacked parameters and buffers under the network's own names (``detach``: the
        parameters without their gradients, for a pass that must not train them)."""
        params = {n: getattr(self, _flat(n)) for n in self.param_names}
        if detach:
            params = {n: p.detach() for n, p in params.items()}
        return params, {n: getattr(self, _flat(n)) for n in self.buffer_names}

    def grad_norms(self, prefix: str) -> dict[str, Tensor]:
        """Each seed's gradient norms of its first and last dense weights (``diagnostics.grad_norms``), shape (S,)."""
        first, last = (getattr(self, _flat(n)).grad for n in first_and_last_weight_names(self.template))
        return {f"grad_{prefix}_first": torch.linalg.vector_norm(first.flatten(1), dim=1),
                f"grad_{prefix}_last": torch.linalg.vector_norm(last.flatten(1), dim=1)}

    def call(self, params: dict[str, Tensor], buffers: dict[str, Tensor]) -> Callable:
        """The network with weights ``params`` and ``buffers`` (one seed's slices, inside vmap)."""
        return lambda *args, **kwargs: functional_call(self.template, (params, buffers), args, kwargs)

    def member(self, s: int, into: nn.Module | None = None) -> nn.Module:
        """Seed ``s``'s weights in a network of the architecture: ``into``, or a new one on the
        stack's device."""
        if into is None:
            into = copy.deepcopy(self.template).to_empty(device=next(self.parameters()).device)
        params, buffers = self.state()
        own = {**params, **buffers}
        with torch.no_grad():
            for name, t in (*into.named_parameters(), *into.named_buffers()):
                t.copy_(own[name][s])
        return into


def _in_dims(*tensors: Tensor | None) -> tuple:
    return tuple(None if t is None else 0 for t in tensors)


def discriminator_step(cfg: Config, nets: Nets, xl: Tensor, yl: Tensor, xu: Tensor | None, z: Tensor | None,
                       amp: Callable[[], AbstractContextManager]) -> dict[str, Tensor]:
    """One update of the S seeds' D, whose batches come stacked, ``(S, B, ...)``; also updates
    the EMA. Each metric comes back per seed, a tensor of shape (S,)."""
    D, G = nets.D, nets.G

    def one(pd, bd, pg, bg, xl, yl, xu, z):
        return steps.discriminator_loss(cfg, G.call(pg, bg), D.call(pd, bd), xl, yl, xu, z, amp,
                                        entropy_scale=nets.entropy_scale)

    loss, values = vmap(one, in_dims=(0, 0, 0, 0) + _in_dims(xl, yl, xu, z), randomness="different")(
        *D.state(), *G.state(detach=True), xl, yl, xu, z)
    nets.opt_d.zero_grad(set_to_none=True)
    loss.sum().backward()  # the seeds' weights are apart: each gets the gradient of its own loss
    values = steps.d_values_with_norms(values, D.grad_norms("d"))
    nets.opt_d.step()
    nets.update_ema()
    return values


def generator_step(cfg: Config, nets: Nets, xr: Tensor, z: Tensor,
                   amp: Callable[[], AbstractContextManager]) -> dict[str, Tensor]:
    """One update of the S seeds' G on stacked noise ``z`` against stacked real batches ``xr``;
    D's weights enter detached, so that only G's gradients are computed."""
    D, G = nets.D, nets.G

    def one(pg, bg, pd, bd, xr, z):
        with amp():
            return steps.generator_objective(cfg, G.call(pg, bg), D.call(pd, bd), xr, z)

    loss = vmap(one, randomness="different")(*G.state(), *D.state(detach=True), xr, z)
    nets.opt_g.zero_grad(set_to_none=True)
    loss.sum().backward()
    values = {"loss_gen": loss.detach(), **G.grad_norms("g")}
    nets.opt_g.step()
    return values


def _stack_optimizer(opt: torch.optim.Optimizer, stack: SeedStack, seeds: Sequence[nn.Module],
                     opts: Sequence[torch.optim.Optimizer]) -> None:
    """Give ``opt`` (over ``stack``'s trainable parameters) the seeds' optimizer states, stacked."""
    params = [dict(m.named_parameters()) for m in seeds]
    for name in stack.param_names:
        states = [o.state.get(p[name]) for p, o in zip(params, opts)]
        if all(st is None for st in states):
            continue
        if any(st is None for st in states):
            raise ValueError(f"the seeds' optimizers have not all updated {name}")
        steps_taken = {float(st["step"]) for st in states}
        if len(steps_taken) != 1:
            raise ValueError(f"the seeds' optimizers have taken different numbers of steps ({sorted(steps_taken)})")
        opt.state[getattr(stack, _flat(name))] = {
            k: states[0][k].clone() if k == "step" else torch.stack([st[k] for st in states]) for k in states[0]}


def stack_nets(cfg: Config, seeds: Sequence[Nets], generator: torch.Generator | None = None) -> Nets:
    """The seeds' networks, EMAs and optimizer states stacked into one :class:`Nets` whose steps
    are this module's; each seed's ``Nets`` keeps its own networks (:func:`unstack_into` writes
    the stacked state back into them). D's noise and dropout draw from ``generator`` (None:
    torch's global one). The options must allow it (:func:`stack_blockers`)."""
    from ssgan.train import _ema_update, _optimizer  # the loop's own choices of optimizer and EMA

    G, D = SeedStack([n.G for n in seeds], generator), SeedStack([n.D for n in seeds], generator)
    G.train(seeds[0].G.training), D.train(seeds[0].D.training)
    ema = AveragedModel(D, multi_avg_fn=_ema_update(cfg.ema_decay), use_buffers=True)
    averaged = {int(n.ema.n_averaged) for n in seeds}
    if len(averaged) != 1:
        raise ValueError(f"the seeds' EMAs have averaged different numbers of steps ({sorted(averaged)})")
    ema.n_averaged.copy_(seeds[0].ema.n_averaged)
    ema.module.load_state_dict(SeedStack([n.ema.module for n in seeds]).state_dict())
    opt_d = _optimizer(cfg, D.parameters(), cfg.lr_d, cfg.beta1_d)
    opt_g = _optimizer(cfg, G.parameters(), cfg.lr_g, cfg.beta1_g)
    for opt, stack, nets_of, opts_of in ((opt_d, D, [n.D for n in seeds], [n.opt_d for n in seeds]),
                                         (opt_g, G, [n.G for n in seeds], [n.opt_g for n in seeds])):
        for key in ("lr", "initial_lr"):  # a schedule may have moved the rate
            if key in opts_of[0].param_groups[0]:
                opt.param_groups[0][key] = opts_of[0].param_groups[0][key]
        _stack_optimizer(opt, stack, nets_of, opts_of)
    stacked = Nets(G, D, G, D, ema, opt_d, opt_g, HistoricalAverage([], 0.0), HistoricalAverage([], 0.0))
    if seeds[0].entropy_scale is not None:
        stacked.entropy_scale = seeds[0].entropy_scale.clone()
    return stacked


def unstack_into(stacked: Nets, seeds: Sequence[Nets], slots: Sequence[int] | None = None) -> None:
    """Write the stacked weights, EMAs and optimizer states back into the seeds' own ``Nets``
    (``slots``: the places in the stack of those given; all of them, in order, by default). The
    learning rates stay the seeds' own: each seed's loop sets its rate, the stack copies it."""
    for s, nets in zip(range(len(seeds)) if slots is None else slots, seeds):
        stacked.G.member(s, nets.G)
        stacked.D.member(s, nets.D)
        stacked.ema.module.member(s, nets.ema.module)
        nets.ema.n_averaged.copy_(stacked.ema.n_averaged)
        for opt, stack, module, own in ((stacked.opt_d, stacked.D, nets.D, nets.opt_d),
                                        (stacked.opt_g, stacked.G, nets.G, nets.opt_g)):
            params = dict(module.named_parameters())
            for name in stack.param_names:
                state = opt.state.get(getattr(stack, _flat(name)))
                if state:
                    own.state[params[name]] = {k: v.clone() if k == "step" else v[s].clone()
                                               for k, v in state.items()}


class SeedGroup:
    """The runs of several seeds, each in a thread of this process with its own loop
    (:func:`ssgan.train.train`: data order, evaluation, checkpoints, signals), whose steps run
    stacked. A run joins with its networks (:meth:`member`) and drives its :class:`GroupMember`
    as the loop drives a captured run's steps (``start_epoch``, ``step``, ``totals``): each step
    waits until every run still in the group has handed in its batches, and the last to arrive
    runs the stacked step for all. The metrics are summed on the device, per seed, and each run
    reads its own once per epoch, so that the host need not wait for the device at each step.
    Before a run evaluates or writes a checkpoint it takes its own state back (:meth:`sync`).
    A run that ends, or fails, leaves (:meth:`leave`; every thread must, once): the others go
    on, its place in the stack then fed with another run's batches and never read again.

    Each run draws G's noise from its own generator, as alone; D's noise and dropout come from
    one generator of the group's, seeded from its seeds, drawn per seed under vmap. Each run's
    checkpoint keeps that generator's state, from which a group of the runs resumed continues
    (for checkpoints without it, ``start``, the epoch and iteration where they continue, is
    added to the seed).

    A signal stops every run of the group after the same step (:attr:`signal`), so that their
    checkpoints are at one place and the runs can be resumed as a group again."""

    def __init__(self, seeds: Sequence[int], device: torch.device, start: tuple[int, ...] = ()):
        from ssgan.train import _noise_seed

        self.seeds = list(seeds)
        self.expected = len(seeds)
        self.joined: dict[int, tuple[Config, Nets]] = {}  # thread -> its run, until the stack is built
        self.generator = torch.Generator(device=device).manual_seed(_noise_seed(*seeds, *start))
        # the signal that the runs had seen when they handed in the batches of the last step:
        # the same answer for all of them, where each run's own look at the flag may fall on
        # either side of the signal's arrival
        self.signal: int | None = None
        self.noise_states: dict[int, Tensor] = {}  # thread -> the generator's state its checkpoint kept
        self.cond = threading.Condition()
        self.slots: dict[int, int] = {}  # thread -> place in the stack
        self.members: list[tuple[Config, Nets]] = []
        self.active: set[int] = set()
        self.pending: dict[int, tuple] = {}
        self.generation = 0
        # the metrics' sums since each run's epoch began: (keys, tensor of shape (keys, seeds)) per step kind
        self.sums: dict[str, tuple[list[str], Tensor]] = {}
        self.g_steps_done = 0
        self.stacked: Nets | None = None
        self.error: Exception | None = None  # what failed the group's step, which every member raises
        self.capture, self.warn = False, lambda _: None  # the first run to join sets them

    def join(self, cfg: Config, nets: Nets, capture: bool = False, warn: Callable[[str], None] = lambda _: None,
             noise_state: Tensor | None = None) -> None:
        """Join with this thread's run; returns once every run of the group has joined and the
        stack is built. ``capture`` (the first run's decides): the stacked steps run as CUDA
        graphs after a few eager ones, as one run's do (:mod:`ssgan.graphs`); a capture that
        fails says why through ``warn`` and the steps stay eager. ``noise_state``: the state of
        the group's generator that a resumed run's checkpoint kept (:attr:`generator`), from
        which the group's D noise continues as if it had never stopped."""
        with self.cond:
            if not self.joined:
                self.capture, self.warn = capture, warn
            self.joined[threading.get_ident()] = (cfg, nets)
            if noise_state is not None:
                self.noise_states[threading.get_ident()] = noise_state
            self._build_if_all_joined()
            while self.stacked is None and self.error is None:
                self.cond.wait()
            self._raise_error()

    def leave(self) -> None:
        """This thread's run is over (or never joined): the group goes on without it."""
        with self.cond:
            slot = self.slots.pop(threading.get_ident(), None)
            if slot is None:
                self.expected -= 1
                self.joined.pop(threading.get_ident(), None)
                self._build_if_all_joined()
            else:
                self.active.discard(slot)
                self._step_if_all_in()
            self.cond.notify_all()

    def sync(self, nets: Nets) -> None:
        """Write this run's place in the stack back into its own networks."""
        with self.cond:
            unstack_into(self.stacked, [nets], [self.slots[threading.get_ident()]])

    def member(self, cfg: Config, nets: Nets, amp: Callable[[], AbstractContextManager], x_lab: Tensor,
               y_lab: Tensor, x_unl: Tensor, gan: bool, capture: bool = False,
               warn: Callable[[str], None] = lambda _: None, stop=None,
               noise_state: Tensor | None = None) -> "GroupMember":
        """Join with this thread's run (:meth:`join`) and return the run's side of the group
        (``stop``: the run's :class:`ssgan.train.StopFlag`, whose signal it hands in with its batches)."""
        self.join(cfg, nets, capture, warn, noise_state)
        return GroupMember(self, cfg, nets, amp, x_lab, y_lab, x_unl, gan, stop)

    def step(self, kind: str, batches: tuple, amp, signum: int | None = None) -> None:
        """Hand in this run's batches for a D (``d``) or G (``g``) step, with the signal this run
        has seen (``signum``); returns once the stacked step of every run has been run (on a
        GPU: launched)."""
        with self.cond:
            self.pending[self.slots[threading.get_ident()]] = (kind, batches, amp, signum)
            generation = self.generation
            self._step_if_all_in()
            while self.generation == generation and self.error is None:
                self.cond.wait()
            self._raise_error()

    def reset_sums(self) -> None:
        """This run's epoch begins: its metrics' sums start from zero."""
        with self.cond:
            for _, sums in self.sums.values():
                sums[:, self.slots[threading.get_ident()]] = 0

    def totals(self) -> dict[str, float]:
        """This run's metric sums since :meth:`reset_sums`, in one read from the device."""
        with self.cond:
            slot = self.slots[threading.get_ident()]
            keys = [k for kind in ("d", "g") if kind in self.sums for k in self.sums[kind][0]]
            if not keys:
                return {}
            values = torch.cat([self.sums[kind][1][:, slot] for kind in ("d", "g") if kind in self.sums]).tolist()
            return dict(zip(keys, values))

    def _raise_error(self) -> None:
        if isinstance(self.error, torch.OutOfMemoryError):  # each run says so, as one alone does
            raise torch.OutOfMemoryError(f"{first_line(str(self.error))} (the stacked step of {len(self.members)} seeds)")
        if self.error is not None:
            raise RuntimeError(f"the stacked step of the seeds failed: {type(self.error).__name__}: {self.error}")

    def _build_if_all_joined(self) -> None:
        """Stack the runs in the order of their seeds (whichever thread came first), so that a
        group of the same seeds trains the same numbers in every place."""
        if self.stacked is not None or not self.joined or len(self.joined) < self.expected:
            return
        order = sorted(self.joined, key=lambda thread: self.seeds.index(self.joined[thread][0].seed))
        self.slots = {thread: i for i, thread in enumerate(order)}
        self.members = [self.joined[thread] for thread in order]
        kept = [self.noise_states[thread] for thread in order if thread in self.noise_states]
        if kept:  # resumed: every run stopped after the same step, so each kept the same state
            self.generator.set_state(kept[0])
        self.active = set(range(len(order)))
        cfg, _ = self.members[0]
        if any(c.replace(seed=0) != cfg.replace(seed=0) for c, _ in self.members):
            self.error = ValueError("the runs of a group must differ in their seeds alone")
        else:
            try:
                self.stacked = stack_nets(cfg, [nets for _, nets in self.members], self.generator)
                if self.capture:
                    self._make_capturable(cfg)
            except Exception as e:  # every member hears of it, not the last to join alone
                self.error = e
        self.cond.notify_all()

    def _step_if_all_in(self) -> None:
        """Run the stacked step once every active run has handed in its batches."""
        if self.stacked is None or not self.pending or set(self.pending) != self.active:
            return
        kinds = {kind for kind, _, _, _ in self.pending.values()}
        self.signal = max((signum or 0 for *_, signum in self.pending.values()), default=0) or None
        try:
            if len(kinds) != 1:
                raise RuntimeError(f"runs asked for different steps at once ({sorted(kinds)})")
            kind = kinds.pop()
            values = self._run(kind)
            stacked = torch.stack([v.float() for v in values.values()])  # (keys, seeds), on the device
            if kind not in self.sums:
                self.sums[kind] = (list(values), torch.zeros_like(stacked))
            if kind == "d":
                self.sums[kind][1].add_(stacked)
            else:  # as the loop logs them: an iteration's last G step
                self.g_steps_done += 1
                if self.g_steps_done % self.members[0][0].g_steps == 0:
                    self.sums[kind][1].add_(stacked)
        except Exception as e:
            self.error = e
        self.pending = {}
        self.generation += 1
        self.cond.notify_all()

    def _make_capturable(self, cfg: Config) -> None:
        """Adam capturable, its rate a device tensor, and the EMA updated on the device."""
        device = next(self.stacked.D.parameters()).device
        for opt in (self.stacked.opt_d, self.stacked.opt_g):
            graphs.to_capturable(opt, device)
        self.stacked.ema_update = graphs.DeviceEMA(self.stacked.ema, self.stacked.D, cfg.ema_decay).update
        self.graphs: dict[str, object] = {}
        self.inputs: dict[str, list] = {}
        self.outputs: dict[str, dict[str, Tensor]] = {}
        self.eager_steps = {"d": 0, "g": 0}
        self.side = graphs.side_stream(device)

    def _run(self, kind: str) -> dict[str, Tensor]:
        stacked, first = self.stacked, min(self.pending)
        cfg, lead = self.members[first]
        amp = self.pending[first][2]
        for mine, theirs in ((stacked.opt_d, lead.opt_d), (stacked.opt_g, lead.opt_g)):  # the schedule's rate
            if isinstance(mine.param_groups[0]["lr"], Tensor):  # captured: filled in place
                mine.param_groups[0]["lr"].fill_(theirs.param_groups[0]["lr"])
            else:
                mine.param_groups[0]["lr"] = theirs.param_groups[0]["lr"]
        if stacked.entropy_scale is not None:
            stacked.entropy_scale.copy_(lead.entropy_scale)
        # a place whose run has left is fed the first run's batches; its results are never read
        per_slot = [self.pending.get(s, self.pending[first])[1] for s in range(len(self.members))]
        if self.capture and kind in self.graphs:  # the batches stacked into the graph's own tensors, its kernels again
            for mine, parts in zip(self.inputs[kind], zip(*per_slot)):
                if mine is not None:
                    torch.stack(parts, out=mine)
            self.graphs[kind].replay()
            return self.outputs[kind]
        batches = [None if parts[0] is None else torch.stack(parts) for parts in zip(*per_slot)]

        def step(batches=batches) -> dict[str, Tensor]:
            if kind == "d":
                return discriminator_step(cfg, stacked, *batches, amp)
            return generator_step(cfg, stacked, *batches, amp)

        if not self.capture:
            return step()
        if self.eager_steps[kind] < graphs.WARMUP:  # real steps, on the stream the capture will use
            self.eager_steps[kind] += 1
            with graphs.on_side(self.side):
                return step()
        return self._record(kind, batches, step)

    def _record(self, kind: str, batches: list, step) -> dict[str, Tensor]:
        """Capture ``step`` on the group's own copies of the batches (the first graph's memory
        shared by the second), then replay it for this step; a failed capture leaves the group
        eager (its line says why)."""
        self.inputs[kind] = [None if b is None else b.clone() for b in batches]
        pool = next(iter(self.graphs.values())).pool() if self.graphs else None
        gens = (self.generator,) if self.generator.device.type == "cuda" else ()
        try:
            with graphs.CAPTURING:
                graph = graphs.record(lambda: self.outputs.__setitem__(kind, step(self.inputs[kind])), pool, self.side,
                                      gens)
        except RuntimeError as e:
            self.capture = False  # stays eager from here: Adam and the EMA work as well uncaptured
            self.warn(f"--graphs auto: capturing the stacked steps failed ({first_line(str(e))}); training eagerly")
            return step()
        self.graphs[kind] = graph
        graph.replay()
        return self.outputs[kind]


class GroupMember:
    """One run's side of a :class:`SeedGroup`, driven by the loop as it drives a captured run's
    steps (:class:`ssgan.graphs.GraphedSteps`): the epoch's orders, then per iteration the
    batches gathered by those orders and G's noise drawn from the run's own generator, as the
    eager loop gathers and draws them, handed to the group; the metrics read once per epoch."""

    def __init__(self, group: SeedGroup, cfg: Config, nets: Nets, amp, x_lab: Tensor, y_lab: Tensor,
                 x_unl: Tensor, gan: bool, stop=None):
        self.group, self.cfg, self.nets, self.amp, self.gan, self.stop = group, cfg, nets, amp, gan, stop
        self.x_lab, self.y_lab, self.x_unl = x_lab, y_lab, x_unl
        self.device = x_unl.device

    def start_epoch(self, orders: dict[str, Tensor], sums: dict[str, float], counts: dict[str, int]) -> None:
        self.orders, self.start = orders, (dict(sums), dict(counts))
        self.d_count = self.g_count = 0
        self.group.reset_sums()

    def step(self, it: int, g: bool) -> None:
        """Iteration ``it`` of the epoch: the D step, then (``g``) ``g_steps`` G steps."""
        bs = self.cfg.batch_size
        rows = slice(it * bs, (it + 1) * bs)
        lab = self.orders["lab"][rows]
        xu = self.x_unl[self.orders["unl"][rows]] if self.gan else None
        z = self.nets.G.sample_z(bs, self.nets.rand, device=self.device) if self.gan else None
        self.group.step("d", (self.x_lab[lab], self.y_lab[lab], xu, z), self.amp, self._seen())
        self.d_count += 1
        if g:
            xr = self.x_unl[self.orders["gen"][rows]]
            for _ in range(self.cfg.g_steps):
                self.group.step("g", (xr, self.nets.G.sample_z(bs, self.nets.rand, device=self.device)), self.amp,
                                self._seen())
            self.g_count += 1

    def _seen(self) -> int | None:
        return None if self.stop is None else self.stop.signum

    @property
    def signal(self) -> int | None:
        """The signal that stops this run after its last step: the group's answer, the same
        for all of its runs (:attr:`SeedGroup.signal`)."""
        return self.group.signal

    def totals(self) -> tuple[dict[str, float], dict[str, int]]:
        """The epoch's metric sums and counts so far (with those it started from)."""
        sums, counts = dict(self.start[0]), dict(self.start[1])
        for k, v in self.group.totals().items():
            n = self.d_count if k in self.group.sums["d"][0] else self.g_count
            if n:
                sums[k] = sums.get(k, 0.0) + v
                counts[k] = counts.get(k, 0) + n
        return sums, counts
