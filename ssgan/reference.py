"""Reference feature networks: small classifiers trained on a dataset's full labeled training
set, whose penultimate features and class probabilities the sample-quality scores use
(Inception-v3 means little on 28x28 digits and cannot be downloaded here).

For colour data, whose published scores use ImageNet features, :func:`load_inception` offers
torchvision's Inception-v3 instead, from weights already in the torch cache (nothing is
downloaded); numbers from different feature networks are not comparable.

The MNIST network ships inside the package (``ssgan/bundled/mnist_reference.pt``, made by
``python benchmarks/train_reference.py``, with its test accuracy and command stored beside
the weights). For any other image dataset the same network is trained on first use and kept
in a cache folder under a name made of the dataset and a hash of its training images, so it
is trained once per dataset and machine.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssgan.data import Dataset, own_kind
from ssgan.errors import SSGANError

SHIPPED = Path(__file__).parent / "bundled" / "mnist_reference.pt"
FEATURES = 128


class ReferenceCNN(nn.Module):
    """conv 3x3 (32) -> max-pool -> conv 3x3 (64) -> max-pool -> average-pool to 7x7 ->
    dense 128 (the features) -> dropout 0.3 -> dense K. Takes (N, C, H, W) images in [0, 1]
    of any size (28x28 reaches the dense layer as 7x7 maps, unpooled)."""

    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 49, FEATURES)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(FEATURES, n_classes)

    def features(self, x: Tensor) -> Tensor:
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2, ceil_mode=True)
        return F.relu(self.fc(F.adaptive_avg_pool2d(h, 7).flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.drop(self.features(x)))


def content_key(data: Dataset) -> str:
    """The dataset's name and a hash of its training images and labels; for the user's own data,
    their kind (``npz``, ``folder``) and the hash, not their path: data that moved keep their
    network, which had been trained again under the new path's name.

    >>> from ssgan.data import load_digits
    >>> content_key(load_digits())[:7]
    'digits-'
    """
    kind = own_kind(data.name)
    name = kind.rstrip(":") if kind else data.name.replace(":", "_").replace("/", "_")
    return f"{name}-{data.sha256(with_test=False)[:12]}"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ssgan"


def train_reference(data: Dataset, epochs: int = 6, seed: int = 0, batch_size: int = 128,
                    log=lambda msg: None) -> tuple[ReferenceCNN, dict]:
    """Train the reference network on every labeled training row; return it and its record
    (test accuracy, epochs, seconds)."""
    if len(data.shape) != 3:
        raise SSGANError(f"{data.name} is not image data (shape {data.shape}); sample-quality scores need images")
    keep = data.y_train >= 0
    x, y = torch.from_numpy(data.x_train[keep]), torch.from_numpy(data.y_train[keep]).long()
    torch.manual_seed(seed)
    net = ReferenceCNN(data.shape[0], data.n_classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * -(-len(x) // batch_size))
    t0 = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log(f"reference network for {data.name}: epoch {epoch + 1}/{epochs}")
    net.eval()
    record = {"dataset": data.name, "key": content_key(data), "epochs": epochs, "seed": seed,
              "seconds": round(time.perf_counter() - t0, 1)}
    if data.x_test is not None:
        probs = predict(net, data.x_test)[1]
        record["test_accuracy"] = float((probs.argmax(1) == data.y_test).mean())
    return net, record


@torch.no_grad()
def predict(net: ReferenceCNN, x: np.ndarray | Tensor, batch_size: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, F) and class probabilities (N, K) of images ``x`` (F = 128 for a ReferenceCNN),
    computed batch by batch on the network's device."""
    x = torch.as_tensor(np.asarray(x, np.float32))
    device = next(net.parameters()).device
    feats, probs = [], []
    for i in range(0, len(x), batch_size):
        f = net.features(x[i:i + batch_size].to(device))
        feats.append(f.cpu())
        probs.append(torch.softmax(net.out(f), 1).cpu())
    return torch.cat(feats).numpy().astype(np.float64), torch.cat(probs).numpy().astype(np.float64)


def save_reference(net: ReferenceCNN, record: dict, path: Path) -> None:
    from ssgan.fileio import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save({"state_dict": net.state_dict(), "channels": net.conv1.in_channels,
                    "n_classes": net.out.out_features, **record}, tmp)


def _load(path: Path, state: dict | None = None) -> tuple[ReferenceCNN, dict]:
    try:
        state = state or torch.load(path, map_location="cpu", weights_only=True)
        net = ReferenceCNN(state["channels"], state["n_classes"])
        net.load_state_dict(state["state_dict"])
    except Exception as e:  # torch raises many types for a damaged or outdated file
        raise SSGANError(f"reference network {path} cannot be loaded ({type(e).__name__}); delete it to train it anew") from None
    return net.eval(), {k: v for k, v in state.items() if k != "state_dict"}


def load_reference(data: Dataset, cache_dir: str | Path | None = None, log=lambda msg: None) -> tuple[ReferenceCNN, dict]:
    """The reference network of ``data``: the shipped one for MNIST, else a cached one, trained
    now if the cache does not hold it yet. The record names it (``name``)."""
    key = content_key(data)
    if SHIPPED.is_file():
        shipped = torch.load(SHIPPED, map_location="cpu", weights_only=True)
        if shipped.get("key") == key:
            net, record = _load(SHIPPED, shipped)
            return net, {**record, "name": f"ssgan reference CNN for {data.name} (shipped; test accuracy "
                                             f"{record['test_accuracy']:.4f})"}
    path = Path(cache_dir or default_cache_dir()) / f"reference-{key}.pt"
    if not path.is_file():
        log(f"training the reference network for {data.name} once; it is cached in {path}")
        net, record = train_reference(data, log=log)
        try:
            save_reference(net, record, path)
        except OSError as e:
            raise SSGANError(f"cannot write the reference network to {path}: {e.strerror}; choose another --cache-dir") from None
    net, record = _load(path)
    acc = f"; test accuracy {record['test_accuracy']:.4f}" if "test_accuracy" in record else ""
    return net, {**record, "name": f"ssgan reference CNN for {data.name} (cached in {path}{acc})"}


INCEPTION_URL = "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"  # torchvision's IMAGENET1K_V1


class InceptionFeatures(nn.Module):
    """torchvision's Inception-v3 with ImageNet weights, in the interface of ``ReferenceCNN``:
    ``features`` are the 2048 pooled activations before the classifier, ``out`` its 1000
    ImageNet logits. Takes (N, C, H, W) images in [0, 1] of any size: grey images are repeated
    to 3 channels, all are resized to 299x299 (bilinear) and mapped to [-1, 1], the input the
    original weights were trained on. Works through its input in chunks, to bound memory."""

    def __init__(self, net: nn.Module, chunk: int = 50):
        super().__init__()
        self.out = net.fc
        net.fc = nn.Identity()
        self.net, self.chunk = net.eval(), chunk

    def features(self, x: Tensor) -> Tensor:
        parts = []
        for i in range(0, len(x), self.chunk):
            h = x[i:i + self.chunk]
            h = h.expand(-1, 3, -1, -1) if h.shape[1] == 1 else h
            h = F.interpolate(h, size=(299, 299), mode="bilinear", align_corners=False)
            parts.append(self.net(2.0 * h - 1.0))
        return torch.cat(parts)


def inception_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_URL.rsplit("/", 1)[1]


def load_inception(data: Dataset) -> tuple[InceptionFeatures, dict]:
    """Inception-v3 on ImageNet weights from the torch cache; a one-line error when they are absent."""
    from torchvision.models import inception_v3

    if len(data.shape) != 3:
        raise SSGANError(f"{data.name} is not image data (shape {data.shape}); Inception-v3 features need images")
    path = inception_weights_path()
    if not path.is_file():
        raise SSGANError(f"Inception-v3 weights are not in the torch cache ({path}); put {INCEPTION_URL} there "
                         "(or run torchvision.models.inception_v3(weights='IMAGENET1K_V1') once online), "
                         "or use --feature-net reference")
    try:
        net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=False)
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except Exception as e:  # a damaged or foreign file
        raise SSGANError(f"{path} cannot be loaded as Inception-v3 weights ({type(e).__name__}); delete it and fetch it again") from None
    return InceptionFeatures(net), {"name": f"torchvision Inception-v3, ImageNet weights ({path})"}


def load_feature_net(data: Dataset, which: str = "reference", cache_dir: str | Path | None = None,
                     log=lambda msg: None) -> tuple[nn.Module, dict]:
    """The network whose features and class probabilities the sample-quality scores use:
    the dataset's ``reference`` CNN (:func:`load_reference`) or ``inception``."""
    if which == "inception":
        return load_inception(data)
    return load_reference(data, cache_dir, log)
