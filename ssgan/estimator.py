"""``SSGANClassifier``: the semi-supervised GAN as a scikit-learn estimator.

It shares :func:`ssgan.train.train` with the command line; there is no second training loop.
"""

from __future__ import annotations

import copy
import re
import sys

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, column_or_1d, validate_data

from ssgan.config import SEED_MAX, Config
from ssgan.data import Dataset
from ssgan.errors import SSGANError
from ssgan.models import build_models
from ssgan.scaling import SKLEARN_ZERO_RANGE
from ssgan.splits import Split
from ssgan.train import Reporter, loss_words

UNLABELED = -1
INTEGERS = ("epochs", "batch_size", "z_dim", "entropy_epochs")  # parameters that stay ints (the others are floats)

# scikit-learn estimator checks that cannot pass, with the reason (see tests/test_estimator.py)
EXPECTED_FAILED_CHECKS = {
    "check_classifiers_classes": "y == -1 marks an unlabeled row (scikit-learn's semi-supervised convention), "
                                 "so -1 cannot be a class label; the check trains on classes {-1, 1}",
}


class SSGANClassifier(ClassifierMixin, BaseEstimator):
    """Semi-supervised classifier of Salimans et al. (2016): a GAN discriminator with K class
    logits and an implicit fake class, trained on labeled and unlabeled rows.

    Parameters have the names and defaults of ``ssgan fit``'s options (see the README).
    Features are scaled to [0, 1] per feature with a ``MinMaxScaler`` fitted on ``X``.

    Parameters
    ----------
    epochs : int, default=125
        Passes over all rows of ``X`` (labeled and unlabeled).
    batch_size : int, default=100
    lr : float, default=0.003
    beta1 : float, default=0.5
    g_loss : {"feature-matching", "moment-matching", "adversarial", "fm+adv"}, default="feature-matching"
    fm_norm, moment_space, moment_weight, adv_weight, label_smoothing, unlabeled_weight,
    fake_logit, lr_decay_start, ema_decay, z_dim, precision :
        As the options of ``ssgan fit``.
    class_smoothing : float or None, default=None
        Label smoothing of the labeled cross-entropy; None is 0.1 with ``unlabeled_weight=0``
        (a network of labels alone, whose loss would otherwise fall to 0 and jump) and 0 else.
    device : str, default="cpu"
        "cpu", "cuda", "cuda:N", "mps" or "auto".
    random_state : int, numpy RandomState or Generator, or None, default=None
        Seed of initialisation, noise and batch order (0..2**32-1); the same seed on the CPU
        gives the same model. A RandomState or Generator, or None, draws one.
    arch : {"auto", "mlp", "dcgan", "salimans-cnn"}, default="auto"
        The networks (``--arch``): the convolutional ones take images (n, c, h, w).
    d_hidden, g_hidden : str or tuple of int, default="1000,500,250,250,250" and "500,500"
        Hidden widths of the MLP discriminator and generator, as ``--d-hidden`` writes them or
        as a tuple like scikit-learn's ``hidden_layer_sizes``: ``(250, 250)``.
    d_input_noise, d_hidden_noise, d_dropout : float or None, default=None
        Gaussian noise on D's input and hidden layers and D's dropout; None takes the
        network's default (the input noise of vectors follows the README's rule for them).
    entropy_weight : float, default=0.1
    entropy_epochs : int or None, default=20
        The entropy term on unlabeled predictions, in the first ``entropy_epochs`` epochs
        (None: every epoch); ``entropy_weight=0`` turns it off.
    consistency_weight : float, default=0.0
        The Pi-model's consistency term: D sees the unlabeled batch twice, with its own noise
        each time, and the squared difference of the two passes' class probabilities is
        minimised with this weight (0: off; ``--consistency-weight``).
    adam_eps : float, default=1e-4
    verbose : int, default=0
        1 or more: a line per epoch on stderr (its labeled-batch accuracy, mean losses and
        seconds) and the training's warnings as they come.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Number of columns of ``X`` (``X.shape[1]``), as scikit-learn counts features.
    input_shape_ : tuple
        Shape of one example as passed to ``fit``.
    history_ : list of dict
        Per-epoch training metrics.
    n_iter_ : int
        Number of epochs run.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from ssgan import SSGANClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> y_train = y.copy()
    >>> y_train[50:] = -1                      # keep 50 labels, hide the rest
    >>> clf = SSGANClassifier(epochs=2, random_state=0).fit(X, y_train)
    >>> clf.predict(X[:3]).shape
    (3,)
    """

    def __init__(self, epochs=125, batch_size=100, lr=0.003, beta1=0.5, g_loss="feature-matching",
                 fm_norm="l2", moment_space="data", moment_weight=0.1, adv_weight=0.1,
                 label_smoothing=0.0, unlabeled_weight=1.0, fake_logit="implicit",
                 lr_decay_start=1.0, ema_decay=0.9999, z_dim=100, precision="auto", device="cpu", random_state=None,
                 arch="auto", d_hidden="1000,500,250,250,250", g_hidden="500,500", d_input_noise=None,
                 d_hidden_noise=None, d_dropout=None, entropy_weight=0.1, entropy_epochs=20, consistency_weight=0.0,
                 adam_eps=1e-4, class_smoothing=None, verbose=0):
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.beta1 = beta1
        self.g_loss = g_loss
        self.fm_norm = fm_norm
        self.moment_space = moment_space
        self.moment_weight = moment_weight
        self.adv_weight = adv_weight
        self.label_smoothing = label_smoothing
        self.unlabeled_weight = unlabeled_weight
        self.fake_logit = fake_logit
        self.lr_decay_start = lr_decay_start
        self.ema_decay = ema_decay
        self.z_dim = z_dim
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.arch = arch
        self.d_hidden = d_hidden
        self.g_hidden = g_hidden
        self.d_input_noise = d_input_noise
        self.d_hidden_noise = d_hidden_noise
        self.d_dropout = d_dropout
        self.entropy_weight = entropy_weight
        self.entropy_epochs = entropy_epochs
        self.consistency_weight = consistency_weight
        self.adam_eps = adam_eps
        self.class_smoothing = class_smoothing
        self.verbose = verbose

    # -- helpers --------------------------------------------------------------------------

    def _config(self, seed: int) -> Config:
        params = self.get_params()
        for name in ("random_state", "verbose"):  # (not settings of the training)
            params.pop(name)
        numeric = {k: float(v) for k, v in params.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in INTEGERS}
        widths = {k: _widths(params[k], k) for k in ("d_hidden", "g_hidden")}
        return Config(**{**params, **numeric, **widths}, seed=seed, labels=None, dataset="array")

    def _warn_without_effect(self, cfg: Config) -> None:
        """A UserWarning for each parameter set away from its default that the others leave
        without effect (``moment_weight`` under feature matching, ``g_loss`` with
        ``unlabeled_weight=0``: :func:`ssgan.config.without_effect`), as ``ssgan fit`` says
        of its options; they changed nothing in silence."""
        import inspect
        import warnings

        from ssgan.config import without_effect

        defaults = {name: param.default for name, param in inspect.signature(type(self).__init__).parameters.items()}
        params = self.get_params()
        for field, needs in without_effect(cfg).items():
            if field in params and params[field] != defaults.get(field):
                warnings.warn(f"{field}={params[field]!r} has no effect in this fit: it acts only with "
                              f"{_parameter_names(needs)}",
                              UserWarning, stacklevel=3)

    def _check_X(self, X, fitting: bool) -> np.ndarray:
        """scikit-learn's validation (dense, finite, numeric, >= 2 dimensions; the feature count
        of ``fit``), allowing images of shape (n, h, w) or (n, c, h, w)."""
        X = validate_data(self, X, reset=fitting, allow_nd=True, dtype=np.float32)
        if X.ndim > 4:
            raise ValueError(f"X must have shape (n, d), (n, h, w) or (n, c, h, w); got {X.shape}")
        if not fitting and X.shape[1:] != self.input_shape_:
            raise ValueError(f"X has examples of shape {X.shape[1:]}, but the model was fitted on {self.input_shape_}")
        return X

    def _to_model_space(self, X: np.ndarray) -> np.ndarray:
        flat = self.scaler_.transform(X.reshape(len(X), -1)).astype(np.float32)
        return flat.reshape((len(X), *self.model_shape_))

    # -- the estimator API --------------------------------------------------------------------

    def fit(self, X, y):
        """Fit on ``X`` with labels ``y``; rows with ``y == -1`` are unlabeled."""
        from ssgan.train import train

        if y is None:  # the message scikit-learn's checks expect
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        X = self._check_X(X, fitting=True)
        y = column_or_1d(y, warn=True)
        if y.dtype.kind == "f" and np.isnan(y).any():  # (pandas marks a missing label NaN)
            raise ValueError(f"y is NaN in {np.isnan(y).sum():,} of {len(y):,} rows; mark unlabeled rows -1 "
                             f"(scikit-learn's semi-supervised convention): y = np.where(np.isnan(y), -1, y)")
        if y.dtype == object:  # (None, or NaN, in an object array: pandas' missing labels beside strings)
            missing = sum(v is None or (isinstance(v, float) and np.isnan(v)) for v in y)
            if missing:
                raise ValueError(f"y is None or NaN in {missing:,} of {len(y):,} rows; mark unlabeled rows with the "
                                 f"integer {UNLABELED} (scikit-learn's semi-supervised convention): y = np.array([-1 "
                                 f"if v is None or v != v else v for v in y], dtype=object)")
        check_consistent_length(X, y)
        if y.dtype.kind in "US" and (y == str(UNLABELED)).any():  # a class "-1" would take in every unlabeled row
            raise ValueError(f"y holds the string '{UNLABELED}', which would be a class of its own (an array of "
                             f"strings turns the integer {UNLABELED} into one); mark unlabeled rows with the integer "
                             f"in an object array: y = y.astype(object); y[y == '{UNLABELED}'] = {UNLABELED}")
        unlabeled = _unlabeled(y)
        if unlabeled.all():
            raise ValueError("y has no labeled rows (every entry is -1)")
        check_classification_targets(y[~unlabeled])
        self.classes_ = np.unique(y[~unlabeled])
        if len(self.classes_) < 2:
            only = np.asarray(self.classes_[0]).item()  # (the label as written: 0, not np.int64(0))
            raise ValueError(f"y has only one class ({only!r}); a classifier needs at least two")
        codes = np.full(len(y), -1, dtype=np.int64)
        codes[~unlabeled] = np.searchsorted(self.classes_, y[~unlabeled])

        self.input_shape_ = tuple(X.shape[1:])
        self.model_shape_ = (1, *self.input_shape_) if X.ndim == 3 else self.input_shape_
        self.scaler_ = _unit_scaler(X.reshape(len(X), -1))
        seed = _seed(self.random_state)
        cfg = self._config(seed).replace(batch_size=min(self.batch_size, len(X)))
        self._warn_without_effect(cfg)
        data = Dataset("array", self._to_model_space(X), codes, None, None, n_classes=len(self.classes_))
        labeled = np.flatnonzero(~unlabeled)
        split = Split("array", seed, len(labeled), len(self.classes_), len(X), labeled)
        try:
            result = train(cfg, data, split, reporter=_EpochLines() if self.verbose else None)
        except SSGANError as e:  # (the command line's words: "use --arch mlp")
            e.args = (_parameter_names(str(e)),)
            raise
        self.generator_ = result.generator.cpu().eval()
        self.discriminator_ = result.discriminator.cpu().eval()
        self.history_ = result.history
        self.n_iter_ = len(result.history)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes): the softmax over the K class logits."""
        from ssgan.train import predict_logits

        check_is_fitted(self, "discriminator_")
        X = self._check_X(X, fitting=False)
        # in float64, so that a row's prediction does not depend on the rows batched with it
        # (float32 matrix kernels round differently by position)
        scorer = copy.deepcopy(self.discriminator_).double().eval()
        x = torch.from_numpy(self._to_model_space(X).astype(np.float64))
        logits = predict_logits(scorer, x, self.fake_logit, torch.device("cpu"))
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row, as a value of ``classes_``."""
        check_is_fitted(self, "discriminator_")
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy on the rows of ``y`` that have labels: rows marked -1 (unlabeled) are left
        out, so that ``cross_val_score`` and ``GridSearchCV`` on semi-supervised ``y`` score the
        held-out labels alone (each -1 had counted as a wrong prediction)."""
        y = column_or_1d(y)
        labeled = ~_unlabeled(y)
        if not labeled.any():
            raise ValueError("y has no labeled rows to score (every entry is -1)")
        weight = None if sample_weight is None else np.asarray(sample_weight)[labeled]
        return super().score(np.asarray(X)[labeled], y[labeled], weight)

    def generate(self, n: int, random_state: int | None = None) -> np.ndarray:
        """``n`` generated examples in the original feature scale and shape of ``X``."""
        from ssgan.samples import generate, sample_count

        check_is_fitted(self, "generator_")
        if self.unlabeled_weight == 0:
            raise ValueError("unlabeled_weight=0 trains the discriminator alone, on the labeled rows: its generator "
                             "is untrained, and generate() would return noise; fit with unlabeled_weight above 0")
        n = sample_count(n)
        seed = _seed(random_state)
        x, _ = generate(self.generator_, n, seed)
        flat = self.scaler_.inverse_transform(x.reshape(n, -1).numpy())
        constant = self.scaler_.data_range_ == 0  # (their value, where the generator's output would shift it)
        flat[:, constant] = self.scaler_.data_min_[constant]
        return flat.reshape((n, *self.input_shape_)).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False  # the networks take dense arrays
        tags.non_deterministic = self.random_state is None
        return tags

    # -- pickling: state dicts, not modules -------------------------------------------------

    def __getstate__(self):
        state = self.__dict__.copy()
        for name in ("generator_", "discriminator_"):
            if name in state:
                state[name] = {k: v.cpu() for k, v in state[name].state_dict().items()}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if isinstance(state.get("generator_"), dict):
            g, d = build_models(self._config(0), self.model_shape_, len(self.classes_))
            g.load_state_dict(state["generator_"])
            d.load_state_dict(state["discriminator_"])
            self.generator_, self.discriminator_ = g.eval(), d.eval()


class _EpochLines(Reporter):
    """``verbose``: a line per epoch on stderr, as ``ssgan fit`` writes into a log, and each
    warning of the training as it comes."""

    def on_start(self, epochs, iterations, start_epoch):
        self.epochs = epochs

    def on_epoch(self, metrics):
        print(f"epoch {metrics['epoch']}/{self.epochs}: labeled acc {metrics['train_acc']:.4f}, {loss_words(metrics)}, "
              f"{metrics['seconds']:.1f} s", file=sys.stderr, flush=True)

    def on_warning(self, message):
        print(f"warning: {message}", file=sys.stderr, flush=True)


def _parameter_names(text: str) -> str:
    """A message of the command line's in the estimator's words: its options named as parameters.

    >>> _parameter_names("acts only with --unlabeled-weight above 0; use --arch mlp")
    'acts only with unlabeled_weight above 0; use arch mlp'
    """
    return re.sub(r"--([a-z0-9-]+)", lambda m: m.group(1).replace("-", "_"), text)


def _widths(value, name: str):
    """A network's hidden widths as the configuration takes them: "500,250" as it is, a tuple
    or list of ints as scikit-learn's ``hidden_layer_sizes`` gives them (``(500, 250)``).

    >>> _widths((500, 250), "d_hidden"), _widths("1000,500", "d_hidden")
    ('500,250', '1000,500')
    """
    if isinstance(value, (tuple, list)):
        if not value or not all(isinstance(w, (int, np.integer)) and not isinstance(w, bool) for w in value):
            raise ValueError(f"{name} must be widths like (500, 250) or '500,250', got {value!r}")
        return ",".join(str(int(w)) for w in value)
    return value


def _unlabeled(y: np.ndarray) -> np.ndarray:
    """Which entries of ``y`` mark unlabeled rows (the integer -1, also in an object array)."""
    return np.array([v == UNLABELED for v in y], dtype=bool) if y.dtype == object else (y == UNLABELED)


def _unit_scaler(X: np.ndarray) -> MinMaxScaler:
    """A ``MinMaxScaler`` (clipping) fitted on ``X``, which scales a feature whose range is below
    :data:`ssgan.scaling.SKLEARN_ZERO_RANGE` by that range: scikit-learn keeps scale 1 there, so
    that features in units like 1e-30 stayed near 0 and the classifier trained at chance (as
    :func:`ssgan.scaling.fit_scaler` does)."""
    scaler = MinMaxScaler(clip=True).fit(X)
    tiny = (scaler.data_range_ > 0) & (scaler.data_range_ < SKLEARN_ZERO_RANGE)
    scaler.scale_[tiny] = 1.0 / scaler.data_range_[tiny]
    scaler.min_[tiny] = -scaler.data_min_[tiny] * scaler.scale_[tiny]
    return scaler


def _seed(random_state) -> int:
    """The seed that scikit-learn's ``random_state`` names: an int as it is, one drawn from a
    numpy RandomState or Generator, or a fresh one for None.

    >>> _seed(7), _seed(np.random.RandomState(0))  # (RandomState's stream is frozen by numpy)
    (7, 209652396)
    >>> _seed(np.random.default_rng(0)) == _seed(np.random.default_rng(0))
    True
    """
    if random_state is None:
        return int(np.random.default_rng().integers(2**31))
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if not 0 <= random_state <= SEED_MAX:
            raise ValueError(f"random_state must lie in 0..{SEED_MAX}, got {random_state}")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    raise ValueError(f"random_state must be an int, a numpy RandomState or Generator, or None, got {random_state!r}")
