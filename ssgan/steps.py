"""The two steps of a training iteration: tensor work on given batches, nothing else.

The loop in :mod:`ssgan.train` owns the data order, epochs, evaluation, checkpoints and
signals; it hands each step its batches and noise, and gets back the step's metrics. A step
reads no data and writes no file, so the same step serves one process and several (where
``D`` or ``G`` is wrapped in DistributedDataParallel and ``batch_mean`` averages over ranks).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn

from ssgan import losses
from ssgan.augment import translate
from ssgan.config import Config, class_smoothing_of
from ssgan.diagnostics import HistoricalAverage, grad_norms
from ssgan.models.layers import fixed_weights


@dataclass
class Nets:
    """The networks and their optimisers. ``d_train``/``g_train`` are what the training passes
    call (the modules themselves, or their DDP wrappers); ``D``/``G`` are the modules."""

    G: nn.Module
    D: nn.Module
    g_train: nn.Module
    d_train: nn.Module
    ema: torch.optim.swa_utils.AveragedModel
    opt_d: torch.optim.Optimizer
    opt_g: torch.optim.Optimizer
    hist_d: HistoricalAverage
    hist_g: HistoricalAverage
    ema_update: Callable[[], None] | None = None  # None: ``ema.update_parameters(D)``; CUDA graphs set a capturable one
    # the run's own random generator, which G's noise z and every noise and dropout layer draw
    # from (None: torch's global one, as --compile's networks need); ``noise``: what D's noise
    # and augmentation draw from, the same generator but under torchrun, where each rank has its own
    rand: torch.Generator | None = None
    noise: torch.Generator | None = None
    # with --entropy-epochs: 1 while the entropy term acts, 0 after; a device tensor that the loop
    # fills in place each epoch, so that a captured step reads it (None: the term acts throughout)
    entropy_scale: Tensor | None = None
    # --ema-probe: other moving averages of D, by decay, updated beside ``ema`` (eager steps only)
    probes: dict[str, torch.optim.swa_utils.AveragedModel] = field(default_factory=dict)

    @property
    def generators(self) -> list[torch.Generator]:
        """The run's own generators, each once (``rand`` and ``noise`` are one outside torchrun)."""
        return list({id(g): g for g in (self.rand, self.noise) if g is not None}.values())

    def update_ema(self) -> None:
        if self.ema_update is None:
            self.ema.update_parameters(self.D)
            for probe in self.probes.values():
                probe.update_parameters(self.D)
        else:
            self.ema_update()

    def augment(self, cfg: Config, x: Tensor) -> Tensor:
        """What D trains on in place of ``x``: ``x`` itself, or randomly translated images (``cfg.translate``)."""
        return translate(x, cfg.translate, self.noise)

    @property
    def d_params(self) -> list[nn.Parameter]:
        return self.hist_d.params


@contextmanager
def frozen(params: list[nn.Parameter]):
    """No gradients for ``params`` inside: the generator step needs D's input gradients only,
    so D's weight gradients (a third of the step's matrix products) are never computed."""
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def discriminator_loss(cfg: Config, G: Callable[[Tensor], Tensor], D: Callable[..., tuple[Tensor, Tensor]],
                       xl: Tensor, yl: Tensor, xu: Tensor | None, z: Tensor | None,
                       amp: Callable[[], AbstractContextManager], augment: Callable[[Tensor], Tensor] = lambda x: x,
                       entropy_scale: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """D's objective on a labeled batch (xl, yl), an unlabeled batch xu and G(z), and the step's
    metrics (detached): ``loss_lab + unlabeled_weight * loss_unl (+ entropy_weight * loss_ent +
    balance_weight * loss_bal + consistency_weight * loss_con)``; with ``xu`` None (unlabeled
    weight 0) D sees the labeled batch alone, and with the consistency term D sees the unlabeled
    batch a second time, as a fourth group with draws of its own. A function of the networks as
    callables (``D(x, groups=k)``), so that the same objective serves modules and, vmapped,
    several seeds' stacked weights (:mod:`ssgan.batched`)."""
    gan = xu is not None
    n = len(xl)
    twice = gan and cfg.consistency_weight > 0
    # labeled, unlabeled and generated data in one forward pass (three groups, which
    # minibatch discrimination keeps apart; a fourth, the unlabeled again, for the consistency term)
    with amp():
        if gan:
            with torch.no_grad():
                xf = G(z)
            groups = [xl, xu, xf, xu] if twice else [xl, xu, xf]
            logits, _ = D(augment(torch.cat(groups)), groups=len(groups))
        else:
            logits, _ = D(augment(xl))
    class_logits, logit_real = losses.split_logits(logits.float(), cfg.fake_logit)
    loss_lab = losses.supervised_loss(class_logits[:n], yl, class_smoothing_of(cfg))
    loss_d = loss_lab
    with torch.no_grad():
        values = {"loss_lab": loss_lab.detach(), "train_batch_acc": (class_logits[:n].argmax(1) == yl).float().mean()}
    if gan:
        loss_unl = losses.unsupervised_loss(logit_real[n:2 * n], logit_real[2 * n:3 * n], cfg.label_smoothing)
        loss_d = loss_lab + cfg.unlabeled_weight * loss_unl
        # the optional terms on the unlabeled batch's class logits (the consistency term's second
        # pass is the fourth group, there when its weight is above 0)
        again = class_logits[3 * n:]
        for name, weight, term, scale in (("loss_ent", cfg.entropy_weight, losses.entropy_loss, entropy_scale),
                                          ("loss_bal", cfg.balance_weight, losses.balance_loss, None),
                                          ("loss_con", cfg.consistency_weight,
                                           lambda logits: losses.consistency_loss(logits, again), None)):
            if weight > 0:
                value = term(class_logits[n:2 * n])
                values[name] = value.detach()
                weighted = weight * value
                loss_d = loss_d + (weighted if scale is None else weighted * scale)
        with torch.no_grad():
            values.update(loss_unl=loss_unl.detach(), d_real=torch.sigmoid(logit_real[n:2 * n]).mean(),
                          d_fake=torch.sigmoid(logit_real[2 * n:3 * n]).mean())
    return loss_d, values


def d_values_with_norms(values: dict[str, Tensor], norms: dict[str, Tensor]) -> dict[str, Tensor]:
    """D's step metrics (:func:`discriminator_loss`) with its gradient norms, in the order the
    loop has always logged them."""
    return {"loss_lab": values.pop("loss_lab"), "train_batch_acc": values.pop("train_batch_acc"), **norms, **values}


def discriminator_step(cfg: Config, nets: Nets, xl: Tensor, yl: Tensor, xu: Tensor | None, z: Tensor | None,
                       amp: Callable[[], AbstractContextManager]) -> dict[str, Tensor | float]:
    """One update of D by :func:`discriminator_loss` (with historical averaging, when set); also
    updates the EMA of D."""
    loss_d, values = discriminator_loss(cfg, nets.G, nets.d_train, xl, yl, xu, z, amp, lambda x: nets.augment(cfg, x),
                                        nets.entropy_scale)
    nets.opt_d.zero_grad(set_to_none=True)
    nets.hist_d.penalized(loss_d).backward()
    values = d_values_with_norms(values, grad_norms(nets.D, "d"))
    nets.opt_d.step()
    nets.hist_d.update()
    nets.update_ema()
    return values


def generator_step(cfg: Config, nets: Nets, xr: Tensor, z: Tensor, amp: Callable[[], AbstractContextManager],
                   batch_mean: Callable[[Tensor], Tensor] | None = None) -> dict[str, Tensor | float]:
    """One update of G on noise z, matching statistics of the real batch xr (``cfg.g_loss``).
    D is frozen meanwhile and called unwrapped: only G learns here. Its weights, fixed, are
    normalised once for its passes over the generated and the real batch."""
    with amp(), frozen(nets.d_params), fixed_weights(nets.D):
        loss_gen = generator_objective(cfg, nets.g_train, nets.D, xr, z, batch_mean, lambda x: nets.augment(cfg, x))
    nets.opt_g.zero_grad(set_to_none=True)
    nets.hist_g.penalized(loss_gen).backward()
    values = {"loss_gen": loss_gen.detach(), **grad_norms(nets.G, "g")}
    nets.opt_g.step()
    nets.hist_g.update()
    return values


def generator_objective(cfg: Config, G: Callable[[Tensor], Tensor], D: Callable[..., tuple[Tensor, Tensor]],
                        xr: Tensor, z: Tensor, batch_mean: Callable[[Tensor], Tensor] | None = None,
                        augment: Callable[[Tensor], Tensor] = lambda x: x) -> Tensor:
    """G's objective on noise z against the real batch xr, the networks as callables (under the
    run's autocast): D's view of G(z), then :func:`generator_loss`."""
    xf = G(z)
    logits_f, feat_f = D(augment(xf))
    return generator_loss(cfg, D, xr, xf.float(), logits_f.float(), feat_f.float(), batch_mean, augment)


def generator_loss(cfg: Config, D, x_real, x_fake, logits_fake, feat_fake,
                   batch_mean: Callable[[Tensor], Tensor] | None = None,
                   augment: Callable[[Tensor], Tensor] = lambda x: x):
    """The generator's objective named by ``cfg.g_loss``. ``batch_mean`` (several processes)
    takes batch statistics over the global batch; ``augment`` is what D's view of real data
    goes through (the fake logits and features come augmented already)."""
    if cfg.g_loss in ("feature-matching", "fm+adv"):
        with torch.no_grad():
            _, feat_real = D(augment(x_real))
        extra = {} if batch_mean is None else {"batch_mean": batch_mean}
        loss = losses.feature_matching_loss(feat_real.float(), feat_fake, cfg.fm_norm, **extra)
        if cfg.g_loss == "fm+adv":
            loss = loss + cfg.adv_weight * losses.adversarial_loss(losses.split_logits(logits_fake, cfg.fake_logit)[1])
        return loss
    adv = losses.adversarial_loss(losses.split_logits(logits_fake, cfg.fake_logit)[1])
    if cfg.g_loss == "adversarial":
        return adv
    # moment-matching: the adversarial loss plus matched means and variances.
    if cfg.moment_space == "data":
        real, fake = x_real, x_fake
    else:
        with torch.no_grad():
            _, real = D(augment(x_real))
        real, fake = real.float(), feat_fake
    return adv + cfg.moment_weight * losses.moment_matching_loss(real, fake, batch_mean)
