"""How good are generated samples: scores on the features of a reference classifier.

Each score is a plain function of arrays, so that it can be tested on hand-built data:

- :func:`frechet_distance` (FID when the features are a network's): the Fréchet distance
  between Gaussians fitted to two feature sets,
  ``||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2))``; the matrix square root is
  SciPy's ``sqrtm``.
- :func:`classifier_score`: ``exp(E_x KL(p(y|x) || p(y)))``, the form of the Inception score
  (Salimans et al. 2016) with the reference classifier's probabilities: 1 when every sample
  gets the same prediction, K when the samples are confidently and evenly spread over K classes.
- :func:`precision_recall`: the k-nearest-neighbour manifolds of Kynkäänniemi et al. 2019.
  Precision is the share of generated samples that fall inside the real manifold (the union
  of balls around each real feature vector, of radius its distance to its k-th nearest real
  neighbour); recall is the share of real samples inside the generated manifold. The
  neighbours come from scikit-learn's ``NearestNeighbors``.

Scores from different feature networks are not comparable; the caller reports which one.
"""

from __future__ import annotations

import threading
import warnings

import numpy as np
from scipy import linalg
from sklearn.neighbors import NearestNeighbors


# catch_warnings saves and restores the process's warning filters: runs scoring in threads of one
# process (--parallel-mode threads) take turns, or one could restore filters that another added
_FILTERS = threading.Lock()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets ``a`` (N, F) and ``b`` (M, F)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with _FILTERS, warnings.catch_warnings():
        warnings.simplefilter("error", linalg.LinAlgWarning)
        try:
            root = linalg.sqrtm(cov_a @ cov_b)
            singular = not np.isfinite(root).all()
        except linalg.LinAlgWarning:
            singular = True
    if singular:  # e.g. features that are always 0: nudge both covariances, as is customary
        eps = np.eye(len(cov_a)) * 1e-6
        root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps))
    root = root.real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(root))


def classifier_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """``exp(mean_x KL(p(y|x) || p(y)))`` for class probabilities ``probs`` of shape (N, K)."""
    p = np.asarray(probs, np.float64)
    marginal = p.mean(0, keepdims=True)
    kl = (p * (np.log(p + eps) - np.log(marginal + eps))).sum(1)
    return float(np.exp(kl.mean()))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``fake`` against ``real``,
    feature sets of shape (N, F) and (M, F), with k-nearest-neighbour radii."""
    return _coverage(np.asarray(real, np.float64), np.asarray(fake, np.float64), k), \
        _coverage(np.asarray(fake, np.float64), np.asarray(real, np.float64), k)


RADIUS_ROWS = 4096  # manifold rows whose radii one call finds (a multiple of scikit-learn's own 256-row chunks)


def _coverage(manifold: np.ndarray, queries: np.ndarray, k: int) -> float:
    """Share of ``queries`` inside the union of balls around the rows of ``manifold``."""
    if len(manifold) <= k:
        raise ValueError(f"precision and recall need more than k={k} samples in each set, got {len(manifold)}")
    # distance of each manifold point to its k-th nearest neighbour, itself excluded; asked in
    # parts, since one call runs in compiled code that a Ctrl-C cannot stop (19 s for 100,000 rows)
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(manifold)
    radius = np.concatenate([neighbours.kneighbors(manifold[i:i + RADIUS_ROWS])[0][:, k]
                             for i in range(0, len(manifold), RADIUS_ROWS)])
    sq = (manifold ** 2).sum(1)
    inside = []
    for i in range(0, len(queries), 1000):  # chunks keep the distance matrix small
        q = queries[i:i + 1000]
        dist = np.sqrt(np.maximum((q ** 2).sum(1)[:, None] - 2 * q @ manifold.T + sq[None], 0.0))
        inside.append((dist <= radius[None]).any(1))
    return float(np.concatenate(inside).mean())


# scikit-learn's neighbour search limits OpenBLAS to one thread inside its OpenMP loop with
# threadpoolctl, a setting of the whole process: where runs of one process score at once
# (--parallel-mode stacked), one run's end of that limit let the other's loop call OpenBLAS with
# two threads, which printed "OpenBLAS Warning : Detect OpenMP Loop and this application may
# hang" (2 to 4 times in 3 of 4 fits of two stacked seeds with --quality-every 1; in none of 12
# since). So they take turns.
_SCORING = threading.Lock()


def scores(real_feats: np.ndarray, feats: np.ndarray, probs: np.ndarray, k: int = 3) -> dict[str, float]:
    """FID, classifier score, precision and recall of one feature set against the real one
    (one call at a time in a process)."""
    with _SCORING:
        precision, recall = precision_recall(real_feats, feats, k)
        return {"fid": frechet_distance(real_feats, feats), "classifier_score": classifier_score(probs),
                "precision": precision, "recall": recall}


class QualityMeter:
    """Scores generators of one dataset against its test set, again and again: the reference
    network, the test features and the real-data row are computed once (``fit --quality-every``),
    the features on ``device`` (the generator's, where the run trains; the CPU if None).

    ``real`` holds the scores of ``n`` real training images, the row that shows how far the
    samples are from data. The noise is the same at every call (seeded), so scores of one
    run's epochs differ by the generator only."""

    def __init__(self, data, n: int, seed: int = 0, cache_dir=None, log=lambda msg: None, feature_net: str = "reference",
                 device=None):
        from ssgan.errors import SSGANError
        from ssgan.reference import load_feature_net, predict

        if not data.is_image:  # (before a reference network is looked for, or said to be trained)
            raise SSGANError(f"{data.name} is not image data (shape {data.shape}); sample-quality scores need images: "
                             "leave out --samples (the classifier's scores need none)")
        if data.x_test is None:
            raise SSGANError(f"{data.name} has no test set to compare samples with: give the npz x_test and y_test, "
                             "or leave out --samples")
        self.net, record = load_feature_net(data, feature_net, cache_dir, log)  # (trained, if at all, on the CPU)
        if device is not None:
            self.net.to(device)
        self._predict = predict
        self.n, self.seed = n, seed
        self.network = record["name"]
        self.reference = f"{data.name} test set ({len(data.x_test)} images)"
        self.test_feats, _ = predict(self.net, data.x_test)
        rows = np.random.default_rng(seed).choice(len(data.x_train), size=min(n, len(data.x_train)), replace=False)
        self.n_real = len(rows)  # (fewer than n where the training set is smaller)
        self.real = scores(self.test_feats, *predict(self.net, data.x_train[rows]))

    def score(self, generator) -> dict[str, float]:
        """FID, classifier score, precision and recall of ``n`` samples of ``generator``
        (drawn in eval mode, on the generator's device, from a fixed seed)."""
        import torch

        device = next(generator.parameters()).device
        was_training = generator.training
        generator.eval()
        z = generator.sample_z(self.n, torch.Generator().manual_seed(self.seed)).to(device)
        with torch.no_grad():
            fake = torch.cat([generator(z[i:i + 1000]).float().cpu() for i in range(0, self.n, 1000)])
        generator.train(was_training)
        return scores(self.test_feats, *self._predict(self.net, fake.numpy()))


def sample_quality(generator, data, n: int, seed: int = 0, cache_dir=None, log=lambda msg: None,
                   feature_net: str = "reference") -> dict:
    """Scores of ``n`` samples of ``generator`` against the test set of ``data``, beside the
    same scores of ``n`` real training images (all of them, ``n_real``, where there are fewer),
    on the features of the dataset's reference network or Inception-v3 (``feature_net``,
    :mod:`ssgan.reference`). The real row shows how far the samples are from data."""
    meter = QualityMeter(data, n, seed, cache_dir, log, feature_net, next(generator.parameters()).device)
    return {"network": meter.network, "n": n, "n_real": meter.n_real, "reference": meter.reference,
            "generated": meter.score(generator), "real": meter.real}
