"""Losses of the semi-supervised GAN, as pure functions of tensors.

Notation: B is the batch size, K the number of classes, F a number of features.
The discriminator gives K class logits l_1..l_K and, implicitly, a (K+1)-th "fake" class.
Its probability that x is real is

    D(x) = sum_k exp(l_k) / (sum_k exp(l_k) + exp(l_fake)) = sigmoid(logsumexp(l) - l_fake),

so ``logsumexp(l) - l_fake`` is the binary real/fake logit (Salimans et al. 2016, sec. 5).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


def split_logits(logits: Tensor, fake_logit: str = "implicit") -> tuple[Tensor, Tensor]:
    """Class logits and the binary real/fake logit from the discriminator's output.

    Args:
        logits: (B, K) when ``fake_logit == "implicit"`` (l_fake is fixed at 0, which loses
            nothing since softmax is shift-invariant), or (B, K+1) when ``"explicit"`` (the
            last column is l_fake).

    Returns:
        ``(class_logits (B, K), logit_real (B,))`` with
        ``logit_real = logsumexp(l_1..l_K) - l_fake``, computed stably.
    """
    if fake_logit == "implicit":
        return logits, torch.logsumexp(logits, dim=1)
    if fake_logit == "explicit":
        class_logits = logits[:, :-1]
        return class_logits, torch.logsumexp(class_logits, dim=1) - logits[:, -1]
    raise ValueError(f"fake_logit must be 'implicit' or 'explicit', got {fake_logit!r}")


def supervised_loss(class_logits: Tensor, labels: Tensor, smoothing: float = 0.0) -> Tensor:
    """Cross-entropy over the K real classes: mean of ``logsumexp(l) - l_y``. Shapes (B, K), (B,).
    With label smoothing s the target is ``1 - s`` on the label plus ``s / K`` on every class
    (torch's ``label_smoothing``): its minimum is above 0, at logit margins of
    ``log(1 + K (1 - s) / s)``, so the loss keeps a gradient once the labels are learnt."""
    return F.cross_entropy(class_logits, labels, label_smoothing=smoothing)


def supervised_floor(smoothing: float, n_classes: int) -> float:
    """The least value of :func:`supervised_loss` with label smoothing ``smoothing`` over
    ``n_classes`` classes: the entropy of its target, 0 without smoothing.

    >>> round(supervised_floor(0.1, 10), 4), supervised_floor(0.0, 10)
    (0.5003, 0.0)
    """
    if smoothing == 0:
        return 0.0
    on, off = 1.0 - smoothing + smoothing / n_classes, smoothing / n_classes
    return -(on * math.log(on) + (n_classes - 1) * off * math.log(off))


def unsupervised_loss(logit_real_unl: Tensor, logit_real_fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """The discriminator's real/fake loss on unlabeled and generated data.

    ``0.5 * BCE(logit_unl, 1 - s) + 0.5 * BCE(logit_fake, 0)``, averaged over each batch,
    where s is one-sided label smoothing (only the real target is softened). The 0.5 weights
    follow the reference implementation. With s = 0 and the implicit fake logit this is the
    paper's ``-0.5 mean(LSE_unl) + 0.5 mean(softplus(LSE_unl)) + 0.5 mean(softplus(LSE_fake))``.

    Args:
        logit_real_unl: (B,) binary logits of unlabeled real data.
        logit_real_fake: (B',) binary logits of generated data.
        smoothing: s in [0, 1).
    """
    real = F.binary_cross_entropy_with_logits(logit_real_unl, torch.full_like(logit_real_unl, 1.0 - smoothing))
    fake = F.binary_cross_entropy_with_logits(logit_real_fake, torch.zeros_like(logit_real_fake))
    return 0.5 * real + 0.5 * fake


def entropy_loss(class_logits: Tensor) -> Tensor:
    """Mean entropy of the class distribution ``p = softmax(l)``: ``-mean_b sum_k p_bk log p_bk``.

    Minimised on unlabeled data it pushes the classifier towards confident predictions, so
    that decision boundaries pass through low-density regions (Grandvalet & Bengio 2005; used
    by Dai et al. 2017). Shape (B, K); the result lies in [0, log K].
    """
    log_p = F.log_softmax(class_logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()


def balance_loss(class_logits: Tensor) -> Tensor:
    """How far the batch's mean class distribution is from uniform: ``KL(p_mean || U) = log K - H(p_mean)``
    with ``p_mean = mean_b softmax(l_b)``.

    Maximising the entropy of the marginal, as CatGAN does (Springenberg 2016), penalises a
    classifier that sends more of the unlabeled data to one class than to another, the way a
    misassigned cluster does. Shape (B, K); the result lies in [0, log K], 0 when the batch's
    predictions average to uniform.
    """
    k = class_logits.shape[1]
    log_mean = torch.logsumexp(F.log_softmax(class_logits, dim=1), dim=0) - math.log(len(class_logits))
    return math.log(k) + (log_mean.exp() * log_mean).sum()


def consistency_loss(class_logits: Tensor, class_logits_again: Tensor) -> Tensor:
    """How far two stochastic passes of D over the same examples disagree on their classes:
    ``mean_b mean_k (softmax(l)_bk - softmax(l')_bk)^2``, the Pi-model's consistency term
    (Laine & Aila 2017), whose squared difference of probabilities is bounded where a
    divergence between them is not. Both passes keep their gradients, as in the Pi-model.

    Minimised on unlabeled data, it asks D for the same class under its own noise, so that
    decision boundaries keep away from the data. Shapes (B, K) twice; the result lies in
    [0, 2 / K], 0 when the passes agree.
    """
    return F.mse_loss(F.softmax(class_logits, dim=1), F.softmax(class_logits_again, dim=1))


def adversarial_loss(logit_real_fake: Tensor) -> Tensor:
    """Non-saturating generator loss ``mean(softplus(-logit))`` = ``-mean(log D(G(z)))``. Shape (B,)."""
    return F.softplus(-logit_real_fake).mean()


def _mean0(x: Tensor) -> Tensor:
    return x.mean(dim=0)


def feature_matching_loss(feat_real: Tensor, feat_fake: Tensor, norm: str = "l2",
                          batch_mean: Callable[[Tensor], Tensor] = _mean0) -> Tensor:
    """Distance between the batch means of discriminator features, as in the reference code.

    ``l2``: ``mean_f (mu_real_f - mu_fake_f)^2``; ``l1``: ``mean_f |mu_real_f - mu_fake_f|``.
    Shapes (B, F) and (B', F); the real features are usually detached. ``batch_mean`` takes
    the mean over dim 0 (:func:`ssgan.distributed.batch_mean` over several processes).
    """
    diff = batch_mean(feat_real) - batch_mean(feat_fake)
    if norm == "l2":
        return diff.pow(2).mean()
    if norm == "l1":
        return diff.abs().mean()
    raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}")


def moment_matching_loss(real: Tensor, fake: Tensor, batch_mean: Callable[[Tensor], Tensor] | None = None) -> Tensor:
    """``sum_f |mean_real_f - mean_fake_f| + sum_f |var_real_f - var_fake_f|`` over the batch.

    Inputs of shape (B, ...) are flattened to (B, F); variances are the biased batch
    variances. Used on pixels (data space) or on discriminator features. With ``batch_mean``
    (a batch split across processes) means and variances are over the global batch; the
    variance ``mean((x - mu)^2)`` with mu held constant has the same value and gradient.
    """
    real = real.flatten(1)
    fake = fake.flatten(1)
    if batch_mean is None:
        mean_r, mean_f = real.mean(0), fake.mean(0)
        var_r, var_f = real.var(0, unbiased=False), fake.var(0, unbiased=False)
    else:
        mean_r, mean_f = batch_mean(real), batch_mean(fake)
        var_r, var_f = batch_mean((real - mean_r.detach()) ** 2), batch_mean((fake - mean_f.detach()) ** 2)
    return (mean_r - mean_f).abs().sum() + (var_r - var_f).abs().sum()
