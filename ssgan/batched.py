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
independently per seed (``randomness="different"``) from torch's global generator, not from
the seed's own stream: a stacked seed is a run of the same distribution as ``--seed s`` alone,
not the same numbers.

What is stacked and what is not: :class:`SeedStack` holds the stacked weights as ordinary
parameters and buffers, so that torch's Adam, the EMA (``AveragedModel``) and a state dict take
them as they take one network's; :func:`stack_nets` builds the stacked :class:`~ssgan.steps.Nets`
from the seeds' own (after their initialisation, or loaded from their checkpoints) and
:func:`unstack_into` writes the stacked state back into them, where the loop's evaluation and
checkpoints find it. Options whose state or randomness is not per seed are refused
(:func:`stack_blockers`).
"""

from __future__ import annotations

import copy
from contextlib import AbstractContextManager
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.optim.swa_utils import AveragedModel

from ssgan import steps
from ssgan.config import Config
from ssgan.diagnostics import HistoricalAverage
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
    return reasons


def _flat(name: str) -> str:
    return name.replace(".", ":")  # a module's own parameter names cannot hold dots


class SeedStack(nn.Module):
    """S copies of one network (the same architecture and options, each its own weights), whose
    parameters and buffers are stacked along a new first dimension and held as this module's
    own, under the network's names with ':' for '.'. :meth:`call` is one seed's network as a
    function of its slices, to run under ``vmap``; :meth:`member` is seed s as a module."""

    def __init__(self, modules: Sequence[nn.Module]):
        super().__init__()
        if len({type(m) for m in modules}) != 1 or len({tuple(m.state_dict()) for m in modules}) != 1:
            raise ValueError("SeedStack needs networks of one architecture")
        template = copy.deepcopy(modules[0]).to("meta")
        use_generator(template, None)  # vmap draws each seed's numbers from torch's global generator
        self.__dict__["template"] = template  # not a submodule: its (empty) weights are not this module's
        self.size = len(modules)
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

    def load_member(self, s: int, module: nn.Module) -> None:
        """Put ``module``'s weights in seed ``s``'s place."""
        params, buffers = self.state()
        own = {**params, **buffers}
        with torch.no_grad():
            for name, t in (*module.named_parameters(), *module.named_buffers()):
                own[name][s].copy_(t)


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
    nets.opt_g.step()
    return {"loss_gen": loss.detach()}


def _stack_optimizer(opt: torch.optim.Optimizer, stack: SeedStack, seeds: Sequence[nn.Module],
                     opts: Sequence[torch.optim.Optimizer]) -> None:
    """Give ``opt`` (over ``stack``'s trainable parameters) the seeds' optimizer states, stacked."""
    for name in stack.param_names:
        states = [o.state.get(dict(m.named_parameters())[name]) for m, o in zip(seeds, opts)]
        if all(st is None for st in states):
            continue
        if any(st is None for st in states):
            raise ValueError(f"the seeds' optimizers have not all updated {name}")
        steps_taken = {float(st["step"]) for st in states}
        if len(steps_taken) != 1:
            raise ValueError(f"the seeds' optimizers have taken different numbers of steps ({sorted(steps_taken)})")
        opt.state[getattr(stack, _flat(name))] = {
            k: states[0][k].clone() if k == "step" else torch.stack([st[k] for st in states]) for k in states[0]}


def stack_nets(cfg: Config, seeds: Sequence[Nets]) -> Nets:
    """The seeds' networks, EMAs and optimizer states stacked into one :class:`Nets` whose steps
    are this module's; each seed's ``Nets`` keeps its own networks (:func:`unstack_into` writes
    the stacked state back into them). The options must allow it (:func:`stack_blockers`)."""
    from ssgan.train import _ema_update, _optimizer  # the loop's own choices of optimizer and EMA

    G, D = SeedStack([n.G for n in seeds]), SeedStack([n.D for n in seeds])
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


def unstack_into(stacked: Nets, seeds: Sequence[Nets]) -> None:
    """Write the stacked weights, EMAs and optimizer states back into the seeds' own ``Nets``."""
    for s, nets in enumerate(seeds):
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
            own.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
