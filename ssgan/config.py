"""The one frozen configuration of a training run.

Defaults live here, a TOML file (``--config``) may replace some of them, and the command line
wins over both. Unknown keys and values of the wrong type are errors, never silently ignored.
The resolved config is saved as ``config.json`` in the run folder and is all that ``eval``,
``sample`` and ``report`` need to rebuild the models.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import typing
import warnings
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ssgan.errors import DataWarning, SSGANError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

G_LOSSES = ("feature-matching", "moment-matching", "adversarial", "fm+adv")
FM_NORMS = ("l2", "l1")
MOMENT_SPACES = ("data", "features")
FAKE_LOGITS = ("implicit", "explicit")
SPLIT_NAMES = {"test": "test", "val": "validation"}  # the held-out rows a run is scored on, as the text calls them
ARCHS = ("auto", "mlp", "dcgan", "salimans-cnn")
SCALES = ("auto", "minmax", "standard", "none")
CONV_ARCHS = ("dcgan", "salimans-cnn")
G_NORMS = ("batch", "layer", "vbn", "none")
ACTIVATIONS = ("relu", "leaky-relu", "softplus", "sigmoid")
G_OUTPUTS = ("sigmoid", "hard-sigmoid", "tanh", "none")
Z_DISTS = ("uniform", "uniform-signed", "normal")
INITS = ("default", "normal-0.02", "xavier")
OPTIMIZERS = ("adam", "sgd")
PRECISIONS = ("auto", "fp32", "bf16")
GRAPHS = ("auto", "on", "off")
PARALLEL_MODES = ("processes", "threads", "stacked")  # fit --parallel-mode
SEED_MAX = 2**32 - 1  # seeds lie in 0..SEED_MAX, as numpy's legacy seeding and scikit-learn's random_state take them
MOST_SEEDS = 100_000  # --seeds names at most this many runs (a typo, such as 1-100000000, lists none)


def seed_list(text: str, count: bool = False) -> list[int]:
    """The seeds that ``--seeds TEXT`` names, in its order: a list of seeds and ranges (``1,2,4``,
    ``1-6``, ``1-3,7``), where a bare number is that seed, or, with ``count``, a count (``3``:
    seeds 1, 2 and 3), as ``ssgan fit --seeds`` reads it. Anything else is one line of
    :class:`SSGANError` that says what was wrong.

    >>> seed_list("3"), seed_list("3", count=True), seed_list("1-3,7")
    ([3], [1, 2, 3], [1, 2, 3, 7])
    >>> seed_list("3-1")
    Traceback (most recent call last):
    ssgan.errors.SSGANError: --seeds 3-1: the range 3-1 counts down; write it 1-3
    """
    listed = not count or "," in text or "-" in text  # a list of seeds and ranges, else a count
    try:
        parts = [p.strip().partition("-") for p in text.split(",")] if listed else [("1", "-", text)]
        ranges = [(int(first), int(last) if dash else int(first)) for first, dash, last in parts]
    except ValueError:
        kinds = "a count like 3, a list like 1,2,3" if count else "a seed like 3, a list like 1,2,3"
        raise SSGANError(f"--seeds must be {kinds} or a range like 1-10, got {text!r}") from None
    down = next(((a, b) for a, b in ranges if a > b), None) if listed else None
    if down:
        raise SSGANError(f"--seeds {text}: the range {down[0]}-{down[1]} counts down; write it {down[1]}-{down[0]}")
    if any(not 0 <= s <= SEED_MAX for pair in ranges for s in pair):  # (before a range is counted out)
        raise SSGANError(f"--seeds {text}: seeds lie in 0..{SEED_MAX}")
    if sum(b - a + 1 for a, b in ranges) > MOST_SEEDS:
        raise SSGANError(f"--seeds {text} names more than {MOST_SEEDS:,} seeds, a run each: name fewer")
    out = [s for a, b in ranges for s in range(a, b + 1)]
    twice = sorted(s for s, n in Counter(out).items() if n > 1)
    if twice:
        raise SSGANError(f"--seeds {text} names seed{'s' if len(twice) > 1 else ''} {', '.join(map(str, twice))} "
                         "more than once; name each seed once")
    if not out:
        raise SSGANError("--seeds must name at least one seed" + (" (a count of 1 or more)" if count else "")
                         + f", got {text!r}")
    return out


class InvalidSetting(SSGANError):
    """A setting out of its range, ``field`` and what is wrong with it (``rest``): "epochs must be
    >= 1, got 0". :func:`resolve` names it by the flag or the config file that gave it."""

    def __init__(self, field: str, rest: str):
        super().__init__(f"{field} {rest}")
        self.field, self.rest = field, rest

    def where(self, flags, config_file: str | Path | None = None) -> SSGANError:
        """This error named by its flag where ``flags`` (the settings the command line gave) hold
        its field, else by ``config_file`` where one was read, else as it is."""
        if self.field in flags:
            return SSGANError(f"--{self.field.replace('_', '-')} {self.rest}")
        if config_file is not None:
            return SSGANError(f"config file {config_file}: {self}")
        return self


@dataclass(frozen=True)
class Config:
    """Every option of ``ssgan fit``; the field names are the TOML keys and CLI options."""

    # data
    dataset: str = "mnist"
    data_root: str | None = None
    download: bool = False
    labels: int | None = None  # None: 100, or for npz data and image folders every given label (-1 = unlabeled)
    seed: int = 1
    split: str | None = None
    val: int = 0  # class-balanced validation examples held out of training (0: none)
    scale: str = "auto"  # minmax | standard | none; auto: minmax for real-valued npz data (ssgan.scaling)
    image_size: int | None = None  # folder:DIR images resized (shorter side) and centre-cropped to N x N
    # model (None: the architecture's own default, ARCH_DEFAULTS)
    arch: str = "auto"  # auto: salimans-cnn for colour images it takes, mlp otherwise
    z_dim: int = 100
    fake_logit: str = "implicit"
    g_hidden: str = "500,500"  # comma-separated widths
    g_norm: str = "batch"
    g_activation: str | None = None
    g_dropout: str = "0"  # one rate for every hidden layer, or one per layer ("0.5,0")
    g_output: str | None = None
    z_dist: str = "uniform"  # U(0, 1) as in the paper; uniform-signed is U(-1, 1)
    d_hidden: str = "1000,500,250,250,250"
    d_activation: str | None = None
    d_layer_norm: bool = False
    d_input_dropout: float | None = None
    d_dropout: float | None = None
    d_input_noise: float | None = None
    d_hidden_noise: float | None = None
    d_width: int | None = None  # convolutional D: channels of its first layer
    g_width: int | None = None  # convolutional G: channels of its last hidden layer
    fm_layer: int = -1  # which hidden layer of D feeds feature matching (-1: the last)
    mbd_kernels: int = 0  # minibatch discrimination: B kernels (0: off)
    mbd_dim: int = 5  # ... of C dimensions each
    init: str = "default"
    data_init: bool = True  # data-dependent init of D's weight-normalised layers
    init_batch: int = 500
    translate: int = 0  # D trains on images moved by up to this many pixels (ssgan.augment; 0: off)
    # objective
    unlabeled_weight: float = 1.0
    label_smoothing: float = 0.0
    class_smoothing: float | None = None  # of the labeled cross-entropy; None: 0.1 for a D of labels alone (same-net), else 0
    entropy_weight: float = 0.1  # conditional-entropy penalty on unlabeled predictions (Dai et al. 2017) ...
    entropy_epochs: int | None = 20  # ... in the first N epochs only (None: every epoch); chosen on --val at full length
    balance_weight: float = 0.0  # class-balance penalty: KL(mean unlabeled prediction || uniform) (Springenberg 2016)
    consistency_weight: float = 0.0  # Pi-model consistency of two noisy passes over the unlabeled batch (Laine & Aila 2017)
    g_loss: str = "feature-matching"
    fm_norm: str = "l2"
    moment_weight: float = 0.1
    moment_space: str = "data"
    adv_weight: float = 0.1
    # optimisation
    epochs: int = 125  # with the constant rate and no entropy term: the shortest length within 2 validation errors of epoch 250's (README)
    batch_size: int = 100
    lr: float = 0.003
    beta1: float = 0.5
    beta2: float = 0.999  # Adam's, both networks (the reference's; Dai et al.'s MNIST code uses 0.9999)
    adam_eps: float = 1e-4  # torch adds it outside the square root; 1e-4 is close to the reference's 1e-8 inside; chosen on --val
    lr_decay_start: float = 1.0  # 1.0: constant, as the reference; chosen on --val with epochs
    ema_decay: float = 0.9999  # the reference's
    ema_probe: str = ""  # other decays, each averaged beside the run's and scored every epoch; training unchanged
    optimizer: str = "adam"
    lr_d: float | None = None  # None: lr
    lr_g: float | None = None
    beta1_d: float | None = None  # None: beta1
    beta1_g: float | None = None
    d_steps: int = 1  # the generator steps once every d_steps batches
    g_steps: int = 1  # ... and then g_steps times
    hist_avg_d: float = 0.0  # historical averaging: lambda * ||theta - mean of past theta||^2
    hist_avg_g: float = 0.0
    precision: str = "auto"  # bf16 autocast of the training passes on CPUs with native bf16, else fp32; saved resolved
    graphs: str = "auto"  # CUDA graphs of the two steps (ssgan.graphs): auto = on CUDA where the options allow
    compile: bool = False  # torch.compile of G and D (ssgan.compiling); not bit-identical to eager
    # output
    tag: str = ""  # names the method in run folders and reports; "" = "ssgan" ("same-net" at unlabeled_weight 0)
    device: str = "auto"
    nproc: int = 1  # processes; under torchrun the world size it ran with
    out: str = "runs"
    sample_every: int = 1
    checkpoint_every: int = 1
    quality_every: int = 0  # score samples (FID, classifier score, precision, recall) every K epochs; 0: off
    quality_samples: int = 10000

    def __post_init__(self) -> None:
        def choice(name: str, options: tuple[str, ...]) -> None:
            value = getattr(self, name)
            if value is not None and value not in options:
                raise InvalidSetting(name, f"must be one of {', '.join(options)}, got {value!r}")

        def at_least(name: str, low: float, inclusive: bool = True) -> None:
            value = getattr(self, name)
            if value < low or (not inclusive and value == low):
                sign = ">=" if inclusive else ">"
                raise InvalidSetting(name, f"must be {sign} {low:g}, got {value}")

        for field in fields(self):  # nan passes every range check below (its comparisons are all false)
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidSetting(field.name, f"must be a finite number, got {value}")
        choice("g_loss", G_LOSSES)
        choice("fm_norm", FM_NORMS)
        choice("moment_space", MOMENT_SPACES)
        choice("fake_logit", FAKE_LOGITS)
        choice("arch", ARCHS)
        choice("scale", SCALES)
        if self.scale == "standard" and self.g_output is None:
            object.__setattr__(self, "g_output", "none")  # standardised data are unbounded
        for name, value in ARCH_DEFAULTS.get(self.arch, {}).items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)  # frozen: filled once, saved resolved
        choice("g_norm", G_NORMS)
        choice("g_activation", ACTIVATIONS)
        choice("d_activation", ACTIVATIONS)
        choice("g_output", G_OUTPUTS)
        choice("z_dist", Z_DISTS)
        choice("init", INITS)
        choice("optimizer", OPTIMIZERS)
        choice("precision", PRECISIONS)
        choice("graphs", GRAPHS)
        for name in ("epochs", "batch_size", "z_dim", "sample_every", "checkpoint_every", "init_batch",
                     "mbd_dim", "d_steps", "g_steps", "nproc", "d_width", "g_width",
                     "entropy_epochs", "image_size"):
            if getattr(self, name) is not None:
                at_least(name, 1)
        if not 0 <= self.seed <= SEED_MAX:  # (numpy's and torch's generators take these)
            raise InvalidSetting("seed", f"must lie in 0..{SEED_MAX}, got {self.seed}")
        at_least("quality_samples", 10)  # (recall compares each sample with its 3 nearest; eval --samples's least)
        if self.image_size is not None and not self.dataset.startswith("folder:"):
            raise InvalidSetting("image_size", f"resizes the images of a folder:DIR dataset, and {self.dataset} is not "
                                               "one: drop it")
        for name in ("lr", "lr_d", "lr_g", "adam_eps"):
            if getattr(self, name) is not None:
                at_least(name, 0.0, inclusive=False)
        for name in ("unlabeled_weight", "moment_weight", "adv_weight", "d_input_noise", "d_hidden_noise",
                     "mbd_kernels", "translate", "hist_avg_d", "hist_avg_g", "val", "entropy_weight", "balance_weight",
                     "consistency_weight", "quality_every"):
            if getattr(self, name) is not None:
                at_least(name, 0.0)
        for name in ("label_smoothing", "class_smoothing", "beta1", "beta2", "beta1_d", "beta1_g", "lr_decay_start", "ema_decay", "d_dropout",
                     "d_input_dropout"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value < 1.0 and not (name == "lr_decay_start" and value == 1.0):
                interval = "[0, 1] (1: a constant rate)" if name == "lr_decay_start" else "[0, 1)"
                raise InvalidSetting(name, f"must lie in {interval}, got {value}")
        if not _distinct_decays(self.ema_probe):
            raise InvalidSetting("ema_probe", f"must be distinct decays in [0, 1) separated by commas, like "
                                              f"0,0.999,0.99995, got {self.ema_probe!r}")
        self._check_layers()

    def _check_layers(self) -> None:
        from ssgan.models import parse_per_layer, parse_widths

        widths = {}
        for name in ("g_hidden", "d_hidden"):
            try:
                widths[name] = parse_widths(getattr(self, name))
            except ValueError:
                widths[name] = ()
            if not widths[name] or min(widths[name]) < 1:
                raise InvalidSetting(name, f"must be comma-separated positive widths like 500,500, got {getattr(self, name)!r}")
        try:
            rates = parse_per_layer(self.g_dropout, len(widths["g_hidden"]))
        except ValueError:
            raise InvalidSetting("g_dropout", f"must be one rate or one per generator layer "
                                              f"({len(widths['g_hidden'])}), got {self.g_dropout!r}") from None
        if not all(0.0 <= r < 1.0 for r in rates):
            raise InvalidSetting("g_dropout", f"rates must lie in [0, 1), got {self.g_dropout!r}")
        if self.arch in CONV_ARCHS:
            mlp_only = {"d_hidden": Config.d_hidden, "g_hidden": Config.g_hidden, "g_dropout": Config.g_dropout,
                        "fm_layer": Config.fm_layer, "d_layer_norm": Config.d_layer_norm}
            for name, default in mlp_only.items():
                if getattr(self, name) != default:
                    raise InvalidSetting(name, f"applies to --arch mlp only; {self.arch} takes --d-width, --g-width, "
                                               "--d-dropout and --d-input-dropout")
            if self.g_norm not in ("batch", "none"):
                raise InvalidSetting("g_norm", f"{self.g_norm} is for --arch mlp; {self.arch} takes batch or none")
            return
        n = len(widths["d_hidden"])
        if not -n <= self.fm_layer < n:
            raise InvalidSetting("fm_layer", f"must index one of the {n} hidden layers of D (-{n}..{n - 1}), got {self.fm_layer}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)


def ema_probes(text: str) -> list[float]:
    """The decays that ``--ema-probe`` lists, in its order (ValueError if one is not a number).

    >>> ema_probes("0,0.999"), ema_probes("")
    ([0.0, 0.999], [])
    """
    return [float(v) for v in text.split(",")] if text.strip() else []


def _distinct_decays(text: str) -> bool:
    """Whether ``--ema-probe``'s text lists distinct decays in [0, 1) (or none).

    >>> _distinct_decays("0,0.999"), _distinct_decays("0.9,0.9"), _distinct_decays("1"), _distinct_decays("x")
    (True, False, False, False)
    """
    try:
        probes = ema_probes(text)
    except ValueError:
        return False
    return all(0.0 <= d < 1.0 for d in probes) and len(set(probes)) == len(probes)


def ema_warmup(n: float) -> float:
    """The most that the moving average's decay can be at its update ``n`` (0, 1, ...): TensorFlow's
    warm-up, under which the decay is ``min(decay, ema_warmup(n))``.

    >>> ema_warmup(0), ema_warmup(90)
    (0.1, 0.91)
    """
    return (1.0 + n) / (10.0 + n)


def ema_reached_at(decay: float) -> int:
    """The first update at which the warm-up lets ``decay`` act: before it, a moving average of
    that decay is the warm-up's, the same for every decay at least as high. 0.9999 acts from
    update 89,990 on, after the default's 75,000 steps.

    >>> ema_reached_at(0.999), ema_reached_at(0.9999), ema_reached_at(0)
    (8990, 89990, 0)
    """
    n = max(0, math.floor((10 * decay - 1) / (1 - decay)) - 1)
    while ema_warmup(n) < decay:
        n += 1
    return n


def decay_key(decay: float) -> str:
    """How a decay names its moving average in metrics.jsonl and checkpoints (12 significant digits).

    >>> decay_key(0.0), decay_key(0.99995), decay_key(0.9999995)
    ('0', '0.99995', '0.9999995')
    """
    return format(decay, ".12g")


# What an option left unset (None) becomes for each architecture; saved resolved in config.json.
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    # mlp's d_input_noise depends on the data's shape: resolve_arch fills it (models.mlp.input_noise_for)
    "mlp": dict(d_hidden_noise=0.5, d_input_dropout=0.0, d_dropout=0.0, d_activation="relu",
                g_activation="softplus", g_output="sigmoid"),
    "dcgan": dict(d_input_noise=0.0, d_hidden_noise=0.0, d_input_dropout=0.2, d_dropout=0.5,
                  d_activation="leaky-relu", g_activation="relu", g_output="tanh", d_width=64, g_width=64),
    "salimans-cnn": dict(d_input_noise=0.0, d_hidden_noise=0.0, d_input_dropout=0.2, d_dropout=0.5,
                         d_activation="leaky-relu", g_activation="relu", g_output="tanh", d_width=96, g_width=128),
}

# Help of the options that `ssgan fit` adds for every remaining Config field.
TOOLBOX_HELP = {
    "scale": "How real-valued data are brought into the networks' units, fitted on the training rows: "
             "minmax (each feature's range onto [0, 1]), standard (zero mean, unit variance; G's output "
             "unbounded), none (data already in [0, 1]); auto is minmax for float npz data, none otherwise "
             "(8-bit pixels are divided by 255) [auto].",
    "arch": "Networks: mlp (the paper's MNIST pair), dcgan (DCGAN guidelines, square images), salimans-cnn "
            "(the reference SVHN/CIFAR-10 pair); auto picks salimans-cnn for colour images and mlp for grey "
            "images and vectors [auto].",
    "z_dim": "Dimension of the generator's noise [100].",
    "g_hidden": "Generator hidden widths, e.g. 128 or 128,384 or 500,500,500,500 [500,500].",
    "g_norm": "Generator normalisation: batch, layer, vbn (virtual batch norm) or none [batch].",
    "g_activation": "Generator activation [mlp: softplus; convolutional: relu].",
    "g_dropout": "Generator dropout: one rate, or one per hidden layer like 0.5,0 [0].",
    "g_output": "Squashing of the generator's output into [0, 1]; tanh is (tanh+1)/2 [mlp: sigmoid; convolutional: tanh].",
    "z_dist": "Noise: uniform U(0,1), uniform-signed U(-1,1) or normal [uniform].",
    "d_hidden": "Discriminator hidden widths [1000,500,250,250,250].",
    "d_activation": "Discriminator activation (leaky-relu has slope 0.2) [mlp: relu; convolutional: leaky-relu].",
    "d_layer_norm": "Layer normalisation in the discriminator (mlp) [off].",
    "d_input_dropout": "Dropout on the discriminator's input [mlp: 0; convolutional: 0.2].",
    "d_dropout": "Dropout after each hidden layer (mlp), each block (convolutional) [mlp: 0; convolutional: 0.5].",
    "d_input_noise": ("Std of Gaussian noise on the discriminator's input [mlp: 0.3*sqrt(min(D,784)/784) "
                      "for D values per example, so 0.3 for MNIST; convolutional: 0]."),
    "d_hidden_noise": "Std of Gaussian noise before each later layer [mlp: 0.5; convolutional: 0].",
    "d_width": "Channels of a convolutional D's first layer; later ones double [dcgan: 64; salimans-cnn: 96].",
    "g_width": "Channels of a convolutional G's last hidden layer; earlier ones double [dcgan: 64; salimans-cnn: 128].",
    "fm_layer": "Hidden layer of D whose features are matched (-1: last) [-1].",
    "mbd_kernels": "Minibatch discrimination: number of kernels B (0: off) [0].",
    "mbd_dim": "Minibatch discrimination: dimension C of each kernel [5].",
    "init": "Weight init: default, normal-0.02 or xavier [default].",
    "data_init": "Data-dependent init of D's weight-normalised layers [on].",
    "init_batch": "Examples used by the data-dependent init [500].",
    "translate": ("Move every image the discriminator trains on (labeled, unlabeled and generated alike, as "
                  "DiffAugment does) by a random whole number of pixels, up to this many along each axis; "
                  "images only [0: off]."),
    "beta1": "Adam beta1, or SGD momentum, of both networks [0.5].",
    "adam_eps": "Adam epsilon, added outside the square root as torch does; 1e-4 approximates the reference code's 1e-8 inside it [1e-4].",
    "class_smoothing": ("Label smoothing s of the cross-entropy on labeled examples: the target puts 1 - s on the "
                        "label and s spread over the K classes, so that the labeled loss cannot reach 0 (a network "
                        "of labels alone memorises them and its loss later jumps) [0.1 with --unlabeled-weight 0, "
                        "as baseline's same-net; else 0]."),
    "entropy_weight": "Weight of the entropy of D's class predictions on unlabeled data, minimised (Dai et al. 2017) [0.1; 0: off].",
    "entropy_epochs": ("Apply the entropy term (--entropy-weight) in the first N epochs only, then train without "
                       "it (its value is still logged as loss_ent), so that it can settle which class each unlabeled "
                       "cluster takes early on without sharpening predictions for the rest of training [20; at least --epochs: every epoch]."),
    "balance_weight": ("Weight of a class-balance penalty, KL(mean class prediction on the unlabeled batch || uniform), "
                       "which penalises sending more unlabeled data to some classes than to others (CatGAN, "
                       "Springenberg 2016; assumes balanced classes) [0]."),
    "consistency_weight": ("Weight of a consistency term: D sees the unlabeled batch twice, each time with its own "
                           "noise, dropout and --translate draws, and the mean squared difference of the two "
                           "passes' class probabilities is minimised, both passes learning (the Pi-model, Laine "
                           "& Aila 2017); the second pass adds a fourth batch to D's step [0: off]."),
    "lr_decay_start": "Fraction of training after which the lr decays linearly to 0; 1 keeps it constant [1].",
    "ema_decay": ("Decay of the moving average of D's weights that is evaluated, under TensorFlow's warm-up "
                  "min(decay, (1 + n) / (10 + n)) at update n, which reaches 0.9999 at update 89,990: in the "
                  "default's 75,000 steps the average is the warm-up's throughout, and any decay of 0.9999 or "
                  "more scores the same [0.9999]."),
    "ema_probe": ("Other decays to measure on the same run, like 0,0.999,0.99995 (0: D itself): each keeps a "
                  "moving average of D beside the run's and is scored every epoch (metrics.jsonl's ema_probe), "
                  "while training and the run's own scores stay as without it; trains eagerly [none]."),
    "optimizer": "adam or sgd [adam].",
    "lr_d": "Discriminator learning rate [--lr].",
    "lr_g": "Generator learning rate [--lr].",
    "beta2": "Adam beta2, the decay of the squared-gradient average, of both networks [0.999].",
    "beta1_d": "Discriminator beta1/momentum [--beta1].",
    "beta1_g": "Generator beta1/momentum [--beta1].",
    "d_steps": "Discriminator steps per generator update: G steps every d_steps batches [1].",
    "g_steps": "Generator steps per update [1].",
    "hist_avg_d": "Historical averaging weight on D's parameters [0].",
    "hist_avg_g": "Historical averaging weight on G's parameters [0].",
    "precision": ("fp32, or bf16 autocast of the training passes (1.4-1.5x faster per iteration on a 2-core CPU "
                  "with AVX-512 BF16; slightly less accurate per epoch, see the README); auto is bf16 on a CPU "
                  "with native bf16 (AVX-512 BF16 or AMX) and fp32 elsewhere, saved resolved in config.json [auto]."),
    "graphs": ("Capture the discriminator and generator steps as CUDA graphs: auto does so on a CUDA device "
               "whenever the options allow it (and says which option prevents it), on insists, off trains "
               "eagerly; the CPU always trains eagerly [auto]."),
    "compile": ("Compile both networks with torch.compile (fused kernels; meant for CUDA, slower on a 2-core "
                "CPU); the first epoch includes the compilation, and results are not bit-identical to eager [off]."),
    "tag": "Name of the method in run folders and reports [ssgan].",
    "sample_every": "Write a sample grid every K epochs [1].",
    "quality_every": "Score --quality-samples generated samples every K epochs and at the last (FID, classifier "
                     "score, precision, recall on the dataset's reference network, into metrics.jsonl); about "
                     "12 s per scoring of 10,000 MNIST samples on 2 CPU cores; 0 = off [0].",
    "quality_samples": "Samples scored by --quality-every [10000].",
}
CHOICES = {"arch": ARCHS, "scale": SCALES, "g_norm": G_NORMS, "g_activation": ACTIVATIONS, "d_activation": ACTIVATIONS,
           "g_output": G_OUTPUTS, "z_dist": Z_DISTS, "init": INITS, "optimizer": OPTIMIZERS,
           "precision": PRECISIONS, "graphs": GRAPHS}


def _field_types() -> dict[str, tuple[type, ...]]:
    """Python types each key accepts, read off the dataclass annotations."""
    hints = typing.get_type_hints(Config)
    out = {}
    for f in fields(Config):
        args = typing.get_args(hints[f.name]) or (hints[f.name],)
        types = tuple(a for a in args if a is not type(None))
        out[f.name] = types + ((type(None),) if type(None) in args else ())
    return out


def check_keys(values: dict[str, Any], source: str) -> dict[str, Any]:
    """Reject unknown keys and wrong types; return values with ints widened to floats."""
    types = _field_types()
    checked = {}
    for key, value in values.items():
        if key not in types:
            raise SSGANError(f"{source}: unknown key {key!r}; {_known_keys_for(key, value, types)}")
        allowed = types[key]
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if str in allowed and isinstance(value, list) and all(isinstance(v, (int, float)) for v in value):
            value = ",".join(str(v) for v in value)  # TOML arrays like g_hidden = [128, 384]
        if isinstance(value, bool) and bool not in allowed:
            ok = False
        else:
            ok = isinstance(value, allowed)
        if not ok:
            names = " or ".join(t.__name__ for t in allowed if t is not type(None))
            raise SSGANError(f"{source}: {key} must be {names}, got {value!r}")
        checked[key] = value
    return checked


# options of fit and baseline that are not settings of a run, and so no keys of a config file
COMMAND_LINE_ONLY = {"seeds": "--seeds", "parallel": "--parallel", "parallel_mode": "--parallel-mode",
                     "resume": "--resume", "quiet": "--quiet", "json": "--json", "method": "--method", "run": "--run"}


def _known_keys_for(key: str, value: Any, types: dict) -> str:
    """What an unknown key was likely meant to be: a flag's spelling (``batch-size``), a near
    miss (``epoch``), a [table] header; else the list of keys."""
    import difflib

    if key.replace("-", "_") in types:
        return f"did you mean {key.replace('-', '_')!r}? (keys are written with underscores, flags with dashes)"
    if isinstance(value, dict):
        return "a config file is one flat table of keys such as epochs = 60, without [sections]"
    flag = COMMAND_LINE_ONLY.get(key.replace("-", "_"))
    if flag:  # (not a misspelt seed: a study's seeds had been offered 'seed')
        return (f"a config file holds the settings of a run, and {flag} chooses which runs to make, how many or how: give "
                f"{flag} on the command line, beside --config")
    close = difflib.get_close_matches(key.replace("-", "_"), list(types), n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known keys are {', '.join(types)}"


def _missing_config(path: Path) -> str:
    """The line for a config file that is not there: the closest name among the checkout's
    examples in ``configs/`` (of the folder ssgan runs in) where one is close, else where
    they are."""
    import difflib

    examples = Path("configs")
    names = sorted(p.stem for p in examples.glob("*.toml")) if examples.is_dir() else []
    close = difflib.get_close_matches(path.stem, names, n=1, cutoff=0.75)
    if close:
        return f"config file {path} does not exist: did you mean {examples / close[0]}.toml?"
    return (f"config file {path} does not exist: give the path of a TOML file of fit's settings (the checkout's "
            "configs/ folder holds examples)")


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a config file: a flat TOML table of Config keys."""
    path = Path(path)
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SSGANError(_missing_config(path)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SSGANError(f"cannot read config file {path}: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise SSGANError(f"config file {path} is not valid TOML: {e}") from None
    return check_keys(values, f"config file {path}")


def resolve(config_file: str | Path | None = None, **cli: Any) -> Config:
    """Defaults, then the config file, then the command line (``None`` = not given); a split
    file brings its dataset and seed where neither gives them (as ``baseline --split`` takes
    them). A value out of range is named where it was given: its flag, or the config file and
    its key."""
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(load_toml(config_file))
    given = check_keys({k: v for k, v in cli.items() if v is not None}, "command line")
    values.update(given)
    if values.get("split") is not None:  # a split file names the data and the seed it was drawn with
        from ssgan.splits import load_split

        split = load_split(values["split"])
        values.setdefault("dataset", split.dataset)
        values.setdefault("seed", split.seed)
    try:
        tag = values.get("tag", "")  # (checked here, not in Config: runs saved before still load)
        if tag != tag.strip() or "\n" in tag:  # a blank name had headed a report's row
            raise InvalidSetting("tag", f"must name the method without spaces around it or lines, got {tag!r}")
        return Config(**values)
    except InvalidSetting as e:
        raise e.where(given, config_file if e.field in values else None) from None


def changed(base: Config, **cli: Any) -> Config:
    """``base`` with the settings given on the command line (``None`` = not given), each checked
    as :func:`resolve` checks it and named by its flag where it is out of range."""
    given = check_keys({k: v for k, v in cli.items() if v is not None}, "command line")
    try:
        return base.replace(**given)
    except InvalidSetting as e:
        raise e.where(given, None) from None


def warn_without_effect(cfg: Config, config_file: str | Path | None = None, **cli: Any) -> None:
    """A warning for each setting given to :func:`resolve` (``config_file``, ``cli``) that
    ``cfg``'s others leave without effect (:func:`without_effect`), named where it was given:
    a user who gives one believes it changes the run."""
    in_file = load_toml(config_file) if config_file is not None else {}
    for field, needs in without_effect(cfg).items():
        if cli.get(field) is not None:
            where = f"--{field.replace('_', '-')}"
        elif field in in_file:
            where = f"config file {config_file}: {field}"
        else:
            continue
        warnings.warn(f"{where} has no effect in this run: it acts only with {needs}", DataWarning, stacklevel=2)


def without_effect(cfg: Config) -> dict[str, str]:
    """The settings that ``cfg``'s others leave without effect, each with what it acts with.

    >>> list(without_effect(Config())), without_effect(Config())["mbd_dim"]
    (['data_root', 'download', 'adv_weight', 'moment_weight', 'moment_space', 'mbd_dim', 'quality_samples'], '--mbd-kernels above 0')
    >>> list(without_effect(Config(g_loss="moment-matching", mbd_kernels=50, entropy_weight=0.0, dataset="cifar10",
    ...                            quality_every=5)))
    ['fm_norm', 'adv_weight', 'fm_layer', 'entropy_epochs']
    >>> list(without_effect(Config(g_loss="fm+adv", lr_d=1e-3, lr_g=2e-3, optimizer="sgd", dataset="svhn", quality_every=5)))
    ['moment_weight', 'moment_space', 'mbd_dim', 'lr', 'beta2', 'adam_eps']
    >>> without_effect(Config(unlabeled_weight=0.0))["g_loss"]
    '--unlabeled-weight above 0'
    """
    from ssgan.data import REGISTRY, reads_data_root

    features = cfg.g_loss in ("feature-matching", "fm+adv")
    moments = cfg.g_loss == "moment-matching"
    fetched = [name for name in REGISTRY if reads_data_root(name)]  # torchvision's
    torchvision = (reads_data_root(cfg.dataset), f"a torchvision dataset ({', '.join(fetched[:-1])} or {fetched[-1]})")
    acts = {
        "data_root": torchvision,
        "download": torchvision,
        "fm_norm": (features, "--g-loss feature-matching or fm+adv"),
        "adv_weight": (cfg.g_loss == "fm+adv", "--g-loss fm+adv"),
        "moment_weight": (moments, "--g-loss moment-matching"),
        "moment_space": (moments, "--g-loss moment-matching"),
        "fm_layer": (features or (moments and cfg.moment_space == "features"),
                     "--g-loss feature-matching or fm+adv, or moment-matching with --moment-space features"),
        "mbd_dim": (cfg.mbd_kernels > 0, "--mbd-kernels above 0"),
        "entropy_epochs": (cfg.entropy_weight > 0, "--entropy-weight above 0"),
        "init_batch": (cfg.data_init, "--data-init"),
        "quality_samples": (cfg.quality_every > 0, "--quality-every above 0"),
        "lr": (cfg.lr_d is None or cfg.lr_g is None, "--lr-d or --lr-g left unset"),
        "beta1": (cfg.beta1_d is None or cfg.beta1_g is None, "--beta1-d or --beta1-g left unset"),
        "beta2": (cfg.optimizer == "adam", "--optimizer adam"),
        "adam_eps": (cfg.optimizer == "adam", "--optimizer adam"),
    }
    if cfg.unlabeled_weight == 0:  # D trains on the labeled batches alone: no generator, no unlabeled term
        acts.update({field: (False, "--unlabeled-weight above 0") for field in GAN_ONLY})
    return {field: needs for field, (acting, needs) in acts.items() if not acting}


LABELS_ONLY_SMOOTHING = 0.1  # --class-smoothing of a D of labels alone (same-net): chosen on --val (README, Diagnostics)


def class_smoothing_of(cfg: Config) -> float:
    """The label smoothing of ``cfg``'s labeled cross-entropy: its own, or by default
    :data:`LABELS_ONLY_SMOOTHING` where D learns from labels alone (``unlabeled_weight`` 0, as
    the same-net baseline; the full baseline sets its own, none) and none where the GAN's
    terms keep its logits bounded.

    >>> class_smoothing_of(Config()), class_smoothing_of(Config(unlabeled_weight=0.0))
    (0.0, 0.1)
    >>> class_smoothing_of(Config(unlabeled_weight=0.0, class_smoothing=0.0))
    0.0
    """
    if cfg.class_smoothing is not None:
        return cfg.class_smoothing
    return LABELS_ONLY_SMOOTHING if cfg.unlabeled_weight == 0 else 0.0


# what acts only where a generator trains against D (an unlabeled weight above 0): the
# unlabeled and generated terms of D's loss, the generator's own loss and steps, its samples
GAN_ONLY = ("label_smoothing", "entropy_weight", "entropy_epochs", "balance_weight", "consistency_weight", "g_loss",
            "fm_norm", "adv_weight", "moment_weight", "moment_space", "fm_layer", "lr_g", "beta1_g", "d_steps", "g_steps",
            "hist_avg_g", "sample_every", "quality_every", "quality_samples")


def from_dict(values: dict[str, Any], source: str) -> Config:
    """Rebuild a saved config (``config.json``, a checkpoint); runs made before ``arch``
    existed named it ``model``, runs made before ``entropy_epochs`` existed trained any
    entropy term in every epoch (None), and runs of labels alone made before
    ``class_smoothing`` existed trained without it (0), whatever today's defaults; runs made
    before an empty item of a layer list was refused (``"1000,,500"``) trained without it.

    >>> from_dict({"d_hidden": "1000,,500", "g_dropout": "0.5,"}, "config.json").d_hidden
    '1000,500'
    """
    values = dict(values)
    for name in ("d_hidden", "g_hidden", "g_dropout"):
        if isinstance(values.get(name), str) and values[name].strip():
            values[name] = ",".join(v for v in values[name].split(",") if v.strip())
    if "model" in values and "arch" not in values:
        values["arch"] = values.pop("model")
    values.setdefault("entropy_epochs", None)
    if "class_smoothing" not in values and values.get("unlabeled_weight", 1.0) == 0:
        values["class_smoothing"] = 0.0  # (a run of labels alone made before it existed trained on plain cross-entropy)
    return Config(**check_keys(values, source))
