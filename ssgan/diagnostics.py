"""Training diagnostics: gradient norms, mode-collapse indicators, and warnings.

Each epoch's ``metrics.jsonl`` line carries them; ``ssgan report`` plots them next to the losses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

COLLAPSE_LOSS = 0.05  # the discriminator's real/fake loss below this ...
COLLAPSE_EPOCHS = 3  # ... for this many epochs: it has won
DROP = 0.5  # an indicator below this fraction of its best so far has dropped sharply
JUMP_LOSS = 0.1  # an epoch's labeled loss above this ...
JUMP_FACTOR = 100  # ... and this many times its lowest before, where the epoch before was at most JUMP_LOSS: a jump


def first_and_last_weight_names(model: nn.Module) -> tuple[str, str]:
    """The names of a network's first and last dense weights."""
    names = [name for name, p in model.named_parameters() if name.endswith((".v", ".weight")) and p.dim() == 2]
    return names[0], names[-1]


def first_and_last_weights(model: nn.Module) -> tuple[Tensor, Tensor]:
    """The weight tensors of a network's first and last dense layers."""
    params = dict(model.named_parameters())
    return tuple(params[name] for name in first_and_last_weight_names(model))


def grad_norms(model: nn.Module, prefix: str) -> dict[str, Tensor | float]:
    """Gradient norms of the first and last dense weights, left on the device (no host read)."""
    first, last = first_and_last_weights(model)
    return {f"grad_{prefix}_first": _norm(first.grad), f"grad_{prefix}_last": _norm(last.grad)}


def _norm(grad: Tensor | None) -> Tensor | float:
    return 0.0 if grad is None else grad.detach().norm()


def mean_pairwise_distance(x: Tensor) -> float:
    x = x.flatten(1).float()
    n = len(x)
    return (torch.cdist(x, x).sum() / (n * (n - 1))).item()


def collapse_indicators(fake: Tensor, real: Tensor, fake_logits: Tensor) -> dict[str, float]:
    """``sample_spread``: mean pairwise distance of generated samples relative to real ones
    (about 1 for a healthy generator, near 0 when it collapses onto a few outputs);
    ``class_entropy``: entropy of the classifier's class histogram over generated samples,
    divided by log K (1 when the samples spread evenly over the classes)."""
    counts = torch.bincount(fake_logits.argmax(1), minlength=fake_logits.shape[1]).double()
    p = counts / counts.sum()
    entropy = max(0.0, -(p[p > 0] * p[p > 0].log()).sum().item() / math.log(fake_logits.shape[1]))  # no -0.0
    return {"sample_spread": mean_pairwise_distance(fake) / max(mean_pairwise_distance(real), 1e-12),
            "class_entropy": entropy}


def labeled_loss_jumps(history: Sequence[dict], floor: float = 0.0) -> list[int]:
    """The epochs at which the labeled loss jumped: above ``JUMP_LOSS`` and ``JUMP_FACTOR`` times
    its lowest in the epochs before, once until it is back at ``JUMP_LOSS`` or under, each
    counted above ``floor``, the least the loss can be (:func:`loss_floor`: above 0 with class
    smoothing). A few steps threw the classifier off the labeled examples it had fitted; the
    epochs that follow recover, or not. A network trained on few labels alone (``same-net``)
    does this at a constant rate without class smoothing. A loss that climbs over two epochs is
    counted at the epoch it passes both bounds (a smoothed full baseline on digits: 0.012 above
    its floor, then 0.32, 31 times its lowest, then 3.8, and 96 validation errors where it had 1).

    >>> labeled_loss_jumps([{"epoch": e, "loss_lab": v} for e, v in enumerate([0.9, 0.002, 2e-4, 0.3, 2.0, 0.01, 0.5], 1)])
    [4, 7]
    >>> labeled_loss_jumps([{"epoch": e, "loss_lab": v + 0.5} for e, v in enumerate([0.9, 0.002, 2e-4, 0.3], 1)], 0.5)
    [4]
    >>> labeled_loss_jumps([{"epoch": e, "loss_lab": v} for e, v in enumerate([0.9, 0.01, 0.3, 3.8, 0.2, 5.0], 1)])
    [4]
    """
    jumps, lowest, off = [], math.inf, False
    for m in history:
        loss = m.get("loss_lab")
        if loss is None:
            continue
        loss -= floor
        if loss <= JUMP_LOSS:
            off = False  # back on its labeled examples: a later rise is a new jump
        elif not off and loss > JUMP_FACTOR * lowest:
            jumps.append(m["epoch"])
            off = True
        lowest = min(lowest, loss)
    return jumps


def loss_floor(config: dict, n_classes: int) -> float:
    """The least labeled loss of the run of ``config`` (its ``config.json``) over ``n_classes``
    classes: above 0 where it trained with class smoothing. A run of labels alone saves the
    smoothing it took; a GAN run's unset one (None) and a run older than it took none."""
    from ssgan.losses import supervised_floor

    return supervised_floor(config.get("class_smoothing") or 0.0, n_classes)


def epochs_words(epochs: Sequence[int]) -> str:
    """``epoch 63`` or ``epochs 12, 50``: where a run's labeled loss jumped, in a line.

    >>> epochs_words([63]), epochs_words([12, 50])
    ('epoch 63', 'epochs 12, 50')
    """
    return f"epoch{'s' * (len(epochs) > 1)} {', '.join(map(str, epochs))}"


def warnings_for(history: list[dict], metrics: dict, floor: float = 0.0) -> list[str]:
    """Signs of a failing GAN, or of a classifier thrown off its labels, from this epoch and the
    ones before it (``floor``: the least the labeled loss can be, :func:`labeled_loss_jumps`)."""
    out = []
    if metrics.get("loss_lab") is not None and labeled_loss_jumps([*history, metrics], floor)[-1:] == [metrics["epoch"]]:
        lowest = min(m["loss_lab"] for m in history if m.get("loss_lab") is not None)
        out.append(f"epoch {metrics['epoch']}: the labeled loss jumped to {metrics['loss_lab']:.3g}, from "
                   f"{lowest:.2g} "
                   "at its lowest: a few steps threw the classifier off its labeled examples, and an accuracy "
                   "read in the epochs that follow may be low (metrics.jsonl shows whether it recovers)")
    recent = [*history[-(COLLAPSE_EPOCHS - 1):], metrics]
    losses_unl = [m.get("loss_unl") for m in recent]
    if len(recent) == COLLAPSE_EPOCHS and all(v is not None and v < COLLAPSE_LOSS for v in losses_unl):
        out.append(f"epoch {metrics['epoch']}: the discriminator's real/fake loss has stayed below "
                   f"{COLLAPSE_LOSS} for {COLLAPSE_EPOCHS} epochs: it wins and the generator gets little "
                   "gradient (try --label-smoothing 0.1 or a lower --lr)")
    for key, what in (("sample_spread", "spread of generated samples"), ("class_entropy", "class entropy of generated samples")):
        past = [m[key] for m in history if m.get(key) is not None]
        if metrics.get(key) is not None and past and metrics[key] < DROP * max(past):
            out.append(f"epoch {metrics['epoch']}: the {what} fell to {metrics[key]:.3f}, under half its best "
                       f"({max(past):.3f}): the generator may be collapsing onto few modes")
    return out


class HistoricalAverage:
    """Salimans et al. 2016, sec. 3.3: ``weight * ||theta - mean of past theta||^2``.

    The mean runs over every value the parameters have taken after an update."""

    def __init__(self, params: list[nn.Parameter], weight: float):
        self.params, self.weight = params, weight
        self.mean = [p.detach().clone() for p in params]
        self.count = 0

    def penalty(self) -> Tensor | float:
        if self.weight == 0 or self.count == 0:
            return 0.0
        return self.weight * sum(((p - m) ** 2).sum() for p, m in zip(self.params, self.mean))

    def penalized(self, loss: Tensor) -> Tensor:
        """``loss`` plus the penalty; ``loss`` itself while there is none (off, or before the
        first update), so that a step launches no kernel to add 0."""
        penalty = self.penalty()
        return loss if isinstance(penalty, float) else loss + penalty

    @torch.no_grad()
    def update(self) -> None:
        if self.weight == 0:
            return
        self.count += 1
        for p, m in zip(self.params, self.mean):
            m.add_((p - m) / self.count)

    def state_dict(self) -> dict:
        return {"mean": [m.cpu() for m in self.mean], "count": self.count}

    def load_state_dict(self, state: dict) -> None:
        self.count = state["count"]
        for m, saved in zip(self.mean, state["mean"]):
            m.copy_(saved)


def fixed_real_batch(x: Tensor, n: int, seed: int) -> Tensor:
    """A fixed set of real examples for the indicators, drawn by its own generator so that
    training's random streams are untouched."""
    idx = np.random.default_rng(seed + 7919).choice(len(x), size=min(n, len(x)), replace=False)
    return x[torch.from_numpy(idx).to(x.device)]
