import math
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F

from ssgan import losses

LOG2 = math.log(2.0)


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def test_implicit_logit_is_logsumexp():
    class_logits, logit_real = losses.split_logits(t([[0.0, 0.0], [1.0, 1.0]]))
    assert logit_real.tolist() == pytest.approx([LOG2, 1.0 + LOG2])
    assert class_logits.shape == (2, 2)


def test_explicit_logit_subtracts_fake_column():
    class_logits, logit_real = losses.split_logits(t([[0.0, 0.0, LOG2]]), "explicit")
    assert class_logits.tolist() == [[0.0, 0.0]]
    assert logit_real.tolist() == pytest.approx([0.0])  # D(x) = 2 / (2 + 2) = 0.5


def test_explicit_with_zero_fake_equals_implicit():
    logits = torch.randn(5, 4, dtype=torch.float64)
    with_fake = torch.cat([logits, torch.zeros(5, 1, dtype=torch.float64)], 1)
    assert torch.allclose(losses.split_logits(with_fake, "explicit")[1], losses.split_logits(logits)[1])


def test_binary_logit_is_stable_for_large_logits():
    _, logit_real = losses.split_logits(torch.tensor([[1000.0, 999.0]]))
    assert torch.isfinite(logit_real).all()
    assert logit_real.item() == pytest.approx(1000.0 + math.log1p(math.exp(-1.0)), rel=1e-6)


def test_supervised_loss_hand_computed():
    # softmax([0, log 3]) = [1/4, 3/4]; label 1 -> -log(3/4)
    assert losses.supervised_loss(t([[0.0, math.log(3.0)]]), torch.tensor([1])).item() == pytest.approx(-math.log(0.75))


def test_supervised_loss_with_label_smoothing_hand_computed():
    """Smoothing s puts 1 - s + s/K on the label and s/K on each other class: over K = 2 classes
    at softmax [1/4, 3/4] and label 1, -(0.95 log 3/4 + 0.05 log 1/4) for s = 0.1; its minimum
    lies at a finite margin, log(1 + K (1 - s) / s), where the gradient vanishes and stays
    positive beyond it, instead of vanishing as the margin grows."""
    logits, y = t([[0.0, math.log(3.0)]]), torch.tensor([1])
    want = -(0.95 * math.log(0.75) + 0.05 * math.log(0.25))
    assert losses.supervised_loss(logits, y, 0.1).item() == pytest.approx(want)
    assert losses.supervised_loss(logits, y, 0.0).item() == losses.supervised_loss(logits, y).item()
    best = math.log(1 + 2 * 0.9 / 0.1)
    for margin, sign in ((best - 1, -1), (best + 1, 1), (30.0, 1)):
        m = t([[0.0, margin]]).requires_grad_()
        losses.supervised_loss(m, y, 0.1).backward()
        assert math.copysign(1, m.grad[0, 1].item()) == sign and abs(m.grad[0, 1].item()) > 0.01
    m = t([[0.0, 30.0]]).requires_grad_()
    losses.supervised_loss(m, y).backward()
    assert abs(m.grad[0, 1].item()) < 1e-12  # (unsmoothed, the gradient of a learnt label vanishes)


def test_labels_only_discriminator_loss_is_smoothed_by_default():
    """D's loss of labels alone (unlabeled weight 0) takes class smoothing 0.1 unless it is set;
    the GAN's takes none unless it is set."""
    from ssgan.config import Config
    from ssgan.steps import discriminator_loss

    logits = t([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]])
    y = torch.tensor([2, 0])
    D = lambda x, groups=1: (x, None)  # noqa: E731 (a network that returns its input as logits)
    for cfg, s in ((Config(unlabeled_weight=0.0), 0.1), (Config(unlabeled_weight=0.0, class_smoothing=0.0), 0.0),
                   (Config(unlabeled_weight=0.0, class_smoothing=0.3), 0.3)):
        loss, values = discriminator_loss(cfg, None, D, logits, y, None, None, nullcontext)
        assert loss.item() == pytest.approx(F.cross_entropy(logits, y, label_smoothing=s).item())
    G = lambda z: z  # noqa: E731
    xu, z = t([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), t([[0.0, 0.0, 5.0], [1.0, 0.0, 0.0]])
    for cfg, s in ((Config(entropy_weight=0.0), 0.0), (Config(entropy_weight=0.0, class_smoothing=0.2), 0.2)):
        loss, values = discriminator_loss(cfg, G, D, logits, y, xu, z, nullcontext)
        want = F.cross_entropy(logits, y, label_smoothing=s) + values["loss_unl"]
        assert values["loss_lab"].item() == pytest.approx(F.cross_entropy(logits, y, label_smoothing=s).item())
        assert loss.item() == pytest.approx(want.item())


def test_unsupervised_loss_hand_computed():
    # BCE(l, t) = softplus(l) - t * l
    real = math.log1p(math.exp(2.0)) - 0.9 * 2.0
    fake = math.log1p(math.exp(-1.0))
    got = losses.unsupervised_loss(t([2.0]), t([-1.0]), smoothing=0.1).item()
    assert got == pytest.approx(0.5 * real + 0.5 * fake)
    assert losses.unsupervised_loss(t([0.0]), t([0.0])).item() == pytest.approx(LOG2)


def test_unsupervised_loss_equals_papers_form_without_smoothing():
    torch.manual_seed(0)
    l_unl, l_fake = torch.randn(8, 10, dtype=torch.float64) * 3, torch.randn(6, 10, dtype=torch.float64) * 3
    lse_unl, lse_fake = torch.logsumexp(l_unl, 1), torch.logsumexp(l_fake, 1)
    paper = -0.5 * lse_unl.mean() + 0.5 * F.softplus(lse_unl).mean() + 0.5 * F.softplus(lse_fake).mean()
    ours = losses.unsupervised_loss(losses.split_logits(l_unl)[1], losses.split_logits(l_fake)[1])
    assert ours.item() == pytest.approx(paper.item(), rel=1e-12)


def test_smoothing_raises_real_loss_for_confident_real():
    logit = t([5.0])
    assert losses.unsupervised_loss(logit, t([-5.0]), 0.1) > losses.unsupervised_loss(logit, t([-5.0]), 0.0)


def test_adversarial_loss():
    assert losses.adversarial_loss(t([0.0])).item() == pytest.approx(LOG2)
    assert losses.adversarial_loss(t([1.0, -1.0])).item() == pytest.approx(
        0.5 * (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(1.0))))


def test_feature_matching_hand_computed():
    real, fake = t([[1.0, 2.0], [3.0, 4.0]]), t([[0.0, 0.0], [2.0, 2.0]])  # means [2, 3] and [1, 1]
    assert losses.feature_matching_loss(real, fake, "l2").item() == pytest.approx(2.5)
    assert losses.feature_matching_loss(real, fake, "l1").item() == pytest.approx(1.5)
    assert losses.feature_matching_loss(real, real).item() == 0.0


def test_moment_matching_hand_computed():
    real, fake = t([[1.0, 2.0], [3.0, 4.0]]), t([[0.0, 0.0], [0.0, 4.0]])
    # means [2, 3] vs [0, 2] -> 3; biased variances [1, 1] vs [0, 4] -> 4
    assert losses.moment_matching_loss(real, fake).item() == pytest.approx(7.0)


def test_moment_matching_flattens_images():
    x = torch.rand(4, 1, 3, 3)
    assert losses.moment_matching_loss(x, x).item() == 0.0
    assert losses.moment_matching_loss(x, x + 1).item() == pytest.approx(9.0)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="fake_logit"):
        losses.split_logits(torch.zeros(1, 2), "both")
    with pytest.raises(ValueError, match="norm"):
        losses.feature_matching_loss(torch.zeros(1, 2), torch.zeros(1, 2), "l3")
