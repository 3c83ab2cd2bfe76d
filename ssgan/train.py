"""The training loop: one function, a discriminator step and a generator step per iteration."""

from __future__ import annotations

import json
import math
import re
import signal
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from ssgan import distributed, environment, losses
from ssgan.compiling import compile_networks, one_line_failures
from ssgan.config import CONV_ARCHS, Config, class_smoothing_of, decay_key, ema_probes, ema_warmup
from ssgan.data import Dataset
from ssgan.errors import DataWarning, SSGANError
from ssgan.fileio import atomic_path, write_text, writing
from ssgan.graphs import capture_or_none, portable_state, use_graphs
from ssgan.models import GaussianNoise, build_models, data_dependent_init, resolve_arch, use_generator
from ssgan.diagnostics import HistoricalAverage, collapse_indicators, fixed_real_batch, warnings_for
from ssgan.samples import sample_picture
from ssgan.splits import Split
from ssgan.steps import Nets, discriminator_step, generator_step
from ssgan.stops import Diverged, Interrupted

if TYPE_CHECKING:
    from ssgan.batched import SeedGroup

N_FIXED_SAMPLES = 100
METRIC_KEYS = ("loss_lab", "loss_unl", "loss_gen", "loss_ent", "loss_bal", "loss_con", "d_real", "d_fake",
               "train_batch_acc", "grad_d_first", "grad_d_last", "grad_g_first", "grad_g_last")
# wall-clock seconds in an epoch's metrics: what differs between two runs that are otherwise the same
TIMING_KEYS = ("seconds", "eval_seconds", "quality_seconds")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA, then MPS, then the CPU; an explicit device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SSGANError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SSGANError(f"--device {name}: torch sees no CUDA GPU here; use --device cpu or auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            which = "cuda:0" if count == 1 else f"one of cuda:0 to cuda:{count - 1}"
            raise SSGANError(f"--device {name}: only {count} CUDA GPU{'s' * (count != 1)} visible here: use {which} "
                             "(CUDA_VISIBLE_DEVICES chooses which GPUs a process sees, and numbers them from 0)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise SSGANError(f"--device {name}: MPS is not available here; use --device cpu or auto")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise SSGANError(f"unsupported device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    return device


def to_device(module: torch.nn.Module, device: torch.device, arch: str) -> torch.nn.Module:
    """``module`` moved to ``device``; on the CPU, a convolutional network's weights in
    channels-last (NHWC) layout, which oneDNN's convolutions take faster (README, Speed), so
    that the activations follow it from the first convolution on."""
    module.to(device)
    if device.type == "cpu" and arch in CONV_ARCHS:
        module.to(memory_format=torch.channels_last)
    return module


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` is bf16 on a CPU that multiplies bf16 natively (AVX-512 BF16 or AMX), where a
    step measured 1.45 times as fast as fp32 (``benchmarks/speed.py``), and fp32 elsewhere:
    other CPUs emulate bf16, and on GPUs it was not measured to help these small networks."""
    if name != "auto":
        return name
    return "bf16" if device.type == "cpu" and native_bf16() else "fp32"


def native_bf16() -> bool:
    """Whether this CPU multiplies bf16 natively (AVX-512 BF16 or AMX); others emulate it."""
    return bool(environment.cpu_extensions())


EMULATED_BF16 = ("bf16 is emulated on this CPU (it has neither AVX-512 BF16 nor AMX): each step takes several "
                 "times as long as in fp32; train new runs, and baselines of a bf16 run, with --precision fp32 "
                 "(a run resumed keeps its precision)")


class Reporter:
    """Receives progress from :func:`train`; the CLI draws it, the library stays silent."""

    def on_start(self, epochs: int, iterations: int, start_epoch: int) -> None: ...
    def on_batch(self, epoch: int, iteration: int, values: dict[str, float]) -> None: ...
    def on_epoch(self, metrics: dict) -> None: ...
    def on_warning(self, message: str) -> None: ...


LOSS_NAMES = (("loss_lab", "lab"), ("loss_unl", "unl"), ("loss_gen", "gen"))  # a progress line's losses


def loss_words(values: dict) -> str:
    """The losses of a progress line (a batch's values or an epoch's means), in the short names
    that every reporter shows; a loss the run has not (or not yet) is left out.

    >>> loss_words({"loss_lab": 0.01234, "loss_unl": 0.5, "loss_gen": None, "test_acc": 0.9})
    'lab 0.012 unl 0.500'
    """
    return " ".join(f"{name} {values[key]:.3f}" for key, name in LOSS_NAMES if values.get(key) is not None)


def guard_words(line: str) -> str:
    """What the NaN guard's line (:func:`_check_finite`) says happened, less its advice.

    >>> guard_words("loss_lab became nan at epoch 2, iteration 7: training diverged (...); try a lower --lr")
    'loss_lab became nan at epoch 2, iteration 7'
    """
    return line.split(":")[0].strip()


def guard_run(line: str) -> str | None:
    """The run folder that the NaN guard's line names as keeping the last good checkpoint, if it does.

    >>> guard_run("loss_lab became nan at epoch 2, iteration 7: training diverged (the last good checkpoint "
    ...           "is kept in runs/00001-mnist-100-s2); try a lower --lr")
    'runs/00001-mnist-100-s2'
    """
    named = re.search(f"{re.escape(Diverged.KEPT)} in (.+)\\); {re.escape(Diverged.ADVICE)}", line)
    return named.group(1) if named else None


@torch.no_grad()
def _logits(model: torch.nn.Module, x: torch.Tensor, fake_logit: str, device: torch.device,
            batch_size: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """``(start, class logits, real/fake logit)`` of ``model`` in eval mode (no noise) on device,
    batch by batch; the model's mode is given back afterwards."""
    was_training = model.training
    model.eval()
    try:
        for i in range(0, len(x), batch_size):
            logits, _ = model(x[i:i + batch_size].to(device))
            yield i, *losses.split_logits(logits, fake_logit)
    finally:
        model.train(was_training)


def predict_outputs(model: torch.nn.Module, x: np.ndarray | torch.Tensor, fake_logit: str,
                    device: torch.device, batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """Class logits (N, K) and the real/fake logit (N,), ``logsumexp`` of the class logits
    less the fake one, of ``model`` in eval mode (no noise), computed in batches, on the CPU."""
    classes, real = [], []
    for _, class_logits, real_logit in _logits(model, torch.as_tensor(x), fake_logit, device, batch_size):
        classes.append(class_logits.float().cpu())
        real.append(real_logit.float().cpu())
    return (torch.cat(classes), torch.cat(real)) if classes else (torch.empty(0), torch.empty(0))


def predict_logits(model: torch.nn.Module, x: np.ndarray | torch.Tensor, fake_logit: str,
                   device: torch.device, batch_size: int = 1000) -> torch.Tensor:
    """Class logits (N, K) of ``model`` in eval mode (no noise), computed in batches, on the CPU."""
    out = [logits.float().cpu() for _, logits, _ in _logits(model, torch.as_tensor(x), fake_logit, device, batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def evaluate(model, x, y, cfg: Config, device, batch_size: int = 1000) -> tuple[float | None, int | None]:
    """Accuracy and number of errors of ``model`` in eval mode on (x, y); ``(None, None)``
    without data. The errors are counted on ``device`` and read back once (arrays are copied
    there batch by batch; tensors already there, as in the training loop, are not copied)."""
    if x is None or len(x) == 0:
        return None, None
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    wrong = torch.zeros((), dtype=torch.long, device=device)
    for i, logits, _ in _logits(model, x, cfg.fake_logit, device, batch_size):
        wrong += (logits.argmax(1) != y[i:i + batch_size].to(device)).sum()
    wrong = int(wrong)
    return 1.0 - wrong / len(x), wrong


def _on(device: torch.device, x: np.ndarray | None, y: np.ndarray | None) -> tuple:
    return (None, None) if x is None else (torch.as_tensor(x).to(device), torch.as_tensor(y).to(device))


def _ema_update(decay: float):
    """EMA step for AveragedModel, with TensorFlow's warm-up ``min(decay, (1 + n) / (10 + n))``
    so that short runs are not dominated by their first, untrained weights."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged) -> None:
        n = float(n_averaged)
        weight = 1.0 - min(decay, ema_warmup(n))
        floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], weight)
        for a, c in zip(averaged, current):  # counters such as batch norm's num_batches_tracked
            if not a.is_floating_point():
                a.copy_(c)

    return update


def _lr_factor(step: int, total: int, decay_from: int) -> float:
    """Constant, then linear to zero at the last step; constant throughout when the decay
    would start at the end (``lr_decay_start`` 1)."""
    return 1.0 if step < decay_from or decay_from >= total else max(0.0, (total - step) / max(1, total - decay_from))


def _labeled_order(n_labeled: int, length: int, rng: np.random.Generator) -> np.ndarray:
    """Concatenated permutations of the labeled set: each example is used equally often."""
    reps = math.ceil(length / n_labeled)
    return np.concatenate([rng.permutation(n_labeled) for _ in range(reps)])[:length]


@dataclass
class TrainResult:
    config: Config
    generator: torch.nn.Module
    discriminator: torch.nn.Module  # the EMA discriminator, used for evaluation
    history: list[dict] = field(default_factory=list)
    device: torch.device = torch.device("cpu")


class StopFlag:
    """Turns SIGINT/SIGTERM into a flag that the loop checks after each batch (handlers are
    installed only by an active flag in the main thread; runs in other threads get the flag of
    the thread that started them: :func:`train`'s ``stop``)."""

    def __init__(self, active: bool):
        self.signum: int | None = None
        self.active = active and threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.active:
            self.previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame) -> None:
        self.signum = signum

    def __exit__(self, *exc) -> None:
        if self.active:
            for s, handler in self.previous.items():
                signal.signal(s, handler)


def _optimizer(cfg: Config, params, lr: float | None, beta1: float | None) -> torch.optim.Optimizer:
    lr = cfg.lr if lr is None else lr
    beta1 = cfg.beta1 if beta1 is None else beta1
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":  # beta1 is the momentum
        return torch.optim.SGD(params, lr=lr, momentum=beta1, foreach=True)
    return torch.optim.Adam(params, lr=lr, betas=(beta1, cfg.beta2), eps=cfg.adam_eps,
                            **_adam_kernel(params[0].device))


def _adam_kernel(device: torch.device) -> dict[str, bool]:
    """Adam's implementation on ``device``: the fused kernel on the CPU and on CUDA (one pass
    over each tensor: about a third of the foreach kernel's time on the CPU; on CUDA two
    operators an update, where the capturable foreach kernel dispatches seventeen, one per
    elementwise operation; it takes the captured path's device learning rate too), the
    foreach one elsewhere."""
    fused = device.type in ("cpu", "cuda")
    return {"foreach": not fused, "fused": fused}


def _state_for(opt: torch.optim.Optimizer, state: dict) -> dict:
    """A saved optimizer state with ``opt``'s kernel choice in place of the saved one, so that a
    checkpoint written on another device (or before Adam was fused on the CPU) resumes with
    this device's kernel and its step counts placed where that kernel wants them; and with
    ``opt``'s settings (made from the run's config: the base rate, betas, epsilon, momentum),
    which are the saved ones in a run resumed and the new ones in a run that goes on from
    another's checkpoint (``fit --from``). The schedule sets each step's rate from the base."""
    kernel = {k: opt.param_groups[0][k] for k in ("foreach", "fused") if k in opt.param_groups[0]}
    groups = []
    for group, own in zip(state["param_groups"], opt.param_groups, strict=True):
        settings = {k: own[k] for k in ("betas", "eps", "momentum") if k in own}
        groups.append({**group, **kernel, **settings, "initial_lr": float(own["lr"])})  # (own: as made, unscheduled)
    return {**state, "param_groups": groups}


# torch's global generators: seeded and drawn from by the set-up of one run at a time, for runs in
# threads of one process (``ssgan fit --seeds ... --parallel-mode threads``) share them
GLOBAL_RNG = threading.Lock()


def own_generator(device: torch.device, resume: dict | None = None) -> torch.Generator:
    """A generator on ``device`` that continues torch's global one from where it stands, or
    the run's own from a checkpoint (``resume``) written on a device of the same type."""
    gen = torch.Generator(device=device)
    saved = (resume or {}).get("rng")
    if saved is not None and saved["device"] == device.type:
        gen.set_state(saved["state"])
    elif device.type == "cpu":
        gen.set_state(torch.get_rng_state())
    else:
        gen.set_state(torch.get_device_module(device.type).get_rng_state(device))
    return gen


def _noise_seed(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def check_batch_rows(batch_size: int, data: Dataset, split: Split) -> None:
    """Stop with one line if a batch is larger than the rows it is drawn from: the training
    rows less the validation rows (``runs.prepare`` asks before a run folder is made)."""
    n_train = len(data.x_train) - split.n_val
    if batch_size > n_train:
        held = f" ({split.n_val} of its {len(data.x_train)} held out for validation)" if split.n_val else ""
        raise SSGANError(f"--batch-size {batch_size} exceeds the {n_train} training examples of {data.name}{held}: "
                         f"use --batch-size {n_train} or less (in a --config file: batch_size = {n_train})")


@one_line_failures
def train(cfg: Config, data: Dataset, split: Split, run_dir: Path | None = None,
          reporter: Reporter | None = None, resume: dict | None = None, scaler: dict | None = None,
          stop: StopFlag | None = None, group: SeedGroup | None = None) -> TrainResult:
    """Train the semi-supervised GAN of Salimans et al. (2016) and return its models.

    Per iteration: one discriminator step on a labeled, an unlabeled and a generated batch
    (``loss_lab + unlabeled_weight * loss_unl``), then, every ``d_steps`` iterations,
    ``g_steps`` generator steps on ``cfg.g_loss`` (:mod:`ssgan.steps`). An epoch is one pass
    over the unlabeled pool (the training set less the validation rows). The learning rate
    is constant, then decays linearly to zero.

    With ``run_dir`` it appends ``metrics.jsonl`` and writes sample grids and an atomic
    ``checkpoint.pt`` every ``checkpoint_every`` epochs; SIGINT or SIGTERM then end the
    current batch, write a checkpoint and raise :class:`Interrupted`. ``resume`` (a loaded
    checkpoint) continues exactly where that checkpoint stopped, mid-epoch included. ``data``
    are in the networks' units already; ``scaler`` (how they were scaled) is kept in checkpoints.

    Under torchrun (several processes) every rank draws the same global batch order and
    trains on its slice of each batch; rank 0 alone evaluates and writes (:mod:`ssgan.distributed`).

    Every random number of the loop comes from a generator of the run's own (``Nets.rand``),
    which continues torch's global one after the set-up, so that runs in several threads of
    one process (``stop``: the flag their signals set) draw what each would draw alone.
    With ``group`` (:class:`ssgan.batched.SeedGroup`, ``--parallel-mode stacked``) the run's
    steps run stacked with those of the group's other runs, each in its own thread.
    """
    reporter = reporter or Reporter()
    cfg = resolve_arch(cfg, data.shape)
    world, device = distributed.setup(resolve_device(cfg.device))
    rng = np.random.default_rng(cfg.seed)

    # The unlabeled pool: every training row but the validation set (labeled rows included).
    x_all = torch.from_numpy(data.x_train[split.pool()] if split.n_val else data.x_train).to(device)
    x_lab = torch.from_numpy(data.x_train[split.indices]).to(device)
    y_lab = torch.from_numpy(data.y_train[split.indices]).to(device)
    # the held-out sets go to the device once, like the training set, for each epoch's
    # evaluation, which rank 0 alone runs
    val = test = (None, None)
    if world.main:
        val, test = (_on(device, data.x_train[split.val_indices], data.y_train[split.val_indices]),
                     _on(device, data.x_test, data.y_test))
    n_unl, bs = len(x_all), cfg.batch_size
    check_batch_rows(bs, data, split)
    distributed.check_batch(bs, world.size)
    iters = n_unl // bs
    if cfg.unlabeled_weight > 0 and cfg.d_steps > iters and world.main:  # (the count starts again each epoch)
        warnings.warn(f"--d-steps {cfg.d_steps} is more than the {iters} batches of an epoch, and the count starts "
                      f"again each epoch: the generator steps once an epoch, at its first batch, as with --d-steps "
                      f"{iters}", DataWarning)
    # this rank's rows of every global batch (all of them in one process)
    lo, hi = world.rank * (bs // world.size), (world.rank + 1) * (bs // world.size)

    with GLOBAL_RNG:  # the set-up draws from torch's global generators, which runs in threads share
        torch.manual_seed(cfg.seed)
        G, D = build_models(cfg, data.shape, data.n_classes)
        if world.active and device.type == "cuda":
            G = torch.nn.SyncBatchNorm.convert_sync_batchnorm(G)
        to_device(G, device, cfg.arch), to_device(D, device, cfg.arch)
        D.train()
        if resume is None:
            init_idx = torch.from_numpy(rng.choice(n_unl, size=min(cfg.init_batch, n_unl), replace=False)).to(device)
            if cfg.data_init:
                data_dependent_init(D, x_all[init_idx])
        else:
            torch.set_rng_state(resume["torch_rng"])
            if device.type == "cuda" and resume.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(resume["cuda_rng"], device)
        # from here on the run draws from a generator of its own that continues the global one,
        # but for compiled networks, whose noise layers break Dynamo's graph on a generator
        rand = None if cfg.compile else own_generator(device, resume)
    ema = AveragedModel(D, multi_avg_fn=_ema_update(cfg.ema_decay), use_buffers=True)
    probes = {decay_key(d): AveragedModel(D, multi_avg_fn=_ema_update(d), use_buffers=True) for d in ema_probes(cfg.ema_probe)}
    if cfg.compile:  # after the EMA's copy of D, which evaluation runs uncompiled
        compile_networks(G, D)
    nets = Nets(G, D, G, D, ema, _optimizer(cfg, D.parameters(), cfg.lr_d, cfg.beta1_d),
                _optimizer(cfg, G.parameters(), cfg.lr_g, cfg.beta1_g),
                HistoricalAverage([p for p in D.parameters() if p.requires_grad], cfg.hist_avg_d),
                HistoricalAverage([p for p in G.parameters() if p.requires_grad], cfg.hist_avg_g))
    nets.probes = probes
    if cfg.entropy_weight > 0 and cfg.entropy_epochs is not None:
        nets.entropy_scale = torch.ones((), device=device)
    nets.rand = nets.noise = rand
    for net in (G, D):
        use_generator(net, rand)
    batch_mean = None
    noise = None
    if world.active:
        # Each rank draws its own Gaussian noise in D; the run's generator (z, dropout) stays
        # in step on every rank, as do the orders.
        noise = torch.Generator(device=device)
        use_generator(D, noise, kinds=(GaussianNoise,))
        nets.noise = noise
        nets.d_train, nets.g_train = distributed.wrap(D, device), distributed.wrap(G, device)
        batch_mean = distributed.batch_mean
    opt_d, opt_g = nets.opt_d, nets.opt_g
    total, decay_from = cfg.epochs * iters, int(cfg.lr_decay_start * cfg.epochs * iters)

    def set_lr(step: int) -> None:
        factor = _lr_factor(step, total, decay_from)
        for opt in (opt_d, opt_g):
            for group in opt.param_groups:
                lr = group.setdefault("initial_lr", group["lr"]) * factor
                if isinstance(group["lr"], torch.Tensor):  # captured Adam: filled in place
                    group["lr"].fill_(lr)
                else:
                    group["lr"] = lr

    capture = use_graphs(cfg, device, world.active, reporter.on_warning)
    graphs = capture and group is None  # a group captures its stacked steps itself
    # bf16 autocast of the training passes (matrix products in bf16, losses in fp32); a graph
    # cannot keep autocast's cache of bf16 weights
    bf16 = resolve_precision(cfg.precision, device) == "bf16"
    if bf16 and device.type == "cpu" and not native_bf16():  # (asked for, or the precision of a run made elsewhere)
        reporter.on_warning(EMULATED_BF16)
    amp = partial(torch.autocast, device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=not capture)
    floor = losses.supervised_floor(class_smoothing_of(cfg), data.n_classes)  # (the least a smoothed labeled loss can be)
    fixed_z = G.sample_z(N_FIXED_SAMPLES, torch.Generator().manual_seed(cfg.seed)).to(device)
    real_ref = fixed_real_batch(x_all, N_FIXED_SAMPLES, cfg.seed)

    # With unlabeled_weight 0 the discriminator's loss has no unlabeled or generated term, so
    # it is the supervised-only model on the same architecture; skip the generator entirely.
    gan = cfg.unlabeled_weight > 0
    quality = None
    if cfg.quality_every and gan and world.main:
        from ssgan.quality import QualityMeter

        with GLOBAL_RNG:  # a reference network trained here seeds and draws from the global generators
            quality = QualityMeter(data, cfg.quality_samples, seed=cfg.seed, log=reporter.on_warning, device=device)
    history: list[dict] = []
    start_epoch, position = 1, None
    writer = RunWriter(run_dir)
    if resume is not None:
        G.load_state_dict(resume["generator"])
        D.load_state_dict(resume["discriminator"])
        ema.module.load_state_dict(resume["ema"])
        ema.n_averaged.fill_(resume["ema_n"])
        for key, probe in probes.items():
            probe.module.load_state_dict(resume["ema_probe"][key]["ema"])
            probe.n_averaged.fill_(resume["ema_probe"][key]["ema_n"])
        for opt, key in ((opt_d, "opt_d"), (opt_g, "opt_g")):
            opt.load_state_dict(_state_for(opt, resume[key]))
        for hist, key in ((nets.hist_d, "hist_d"), (nets.hist_g, "hist_g")):
            hist.load_state_dict(resume[key])
        rng.bit_generator.state = resume["numpy_rng"]
        history = list(resume["history"])
        position = resume.get("position")
        start_epoch = resume["epoch"] + 1
        if run_dir is not None and world.main:  # drop metric lines written after the checkpoint
            writer.now(run_dir / "metrics.jsonl", write_text, run_dir / "metrics.jsonl",
                       "".join(json.dumps(m) + "\n" for m in history))

    if run_dir is not None and world.main:  # what this session trains with: a line per start and resume
        writer.now(run_dir / environment.ENVIRONMENT, environment.note, run_dir, start_epoch - 1, device, world.size)

    # The weights of the epoch of best validation accuracy (--val): kept on the host when an
    # epoch beats every earlier one, and written as best.pt just before the next checkpoint, so
    # that best.pt is never of an epoch that the checkpoint on disk has not reached.
    best_val = max((m["val_acc"] for m in history if m.get("val_acc") is not None), default=None)
    best: dict | None = None
    if run_dir is not None and world.main:
        drop_later_best(run_dir, start_epoch - 1)

    def keep_if_best(metrics: dict) -> None:
        nonlocal best_val, best
        if run_dir is None or metrics.get("val_acc") is None or (best_val is not None and metrics["val_acc"] <= best_val):
            return
        best_val = metrics["val_acc"]
        best = _on_host({"config": cfg.to_dict(), "epoch": metrics["epoch"], "val_acc": metrics["val_acc"],
                         "shape": list(data.shape), "n_classes": data.n_classes, "classes": data.classes,
                         "value_range": data.value_range, "scaler": scaler,
                         "generator": G.state_dict(), "ema": ema.module.state_dict()})

    def checkpoint(epoch: int, position: dict | None = None) -> None:
        nonlocal best
        if not world.main:
            return
        if best is not None:
            writer.submit(run_dir / BEST_WEIGHTS, save_checkpoint, run_dir / BEST_WEIGHTS, best,
                          errors=(OSError, RuntimeError))
            best = None
        writer.checkpoint(run_dir / "checkpoint.pt", {
            "config": cfg.to_dict(), "epoch": epoch, "shape": list(data.shape), "n_classes": data.n_classes,
            "classes": data.classes, "value_range": data.value_range,
            "generator": G.state_dict(), "discriminator": D.state_dict(),
            "ema": ema.module.state_dict(), "ema_n": int(ema.n_averaged),
            "ema_probe": {key: {"ema": p.module.state_dict(), "ema_n": int(p.n_averaged)} for key, p in probes.items()},
            "opt_d": portable_state(opt_d.state_dict()), "opt_g": portable_state(opt_g.state_dict()),
            "hist_d": nets.hist_d.state_dict(), "hist_g": nets.hist_g.state_dict(),
            "torch_rng": torch.get_rng_state(), "numpy_rng": rng.bit_generator.state,
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "rng": None if rand is None else {"device": device.type, "state": rand.get_state()},
            # a stacked group's D noise, the same in each of its runs' checkpoints (they stop together)
            "group_rng": None if group is None else group.generator.get_state(),
            "history": history, "position": position, "world_size": world.size, "scaler": scaler,
        })

    # CUDA graphs are captured from the loaded state: weights, optimizer moments, EMA
    graphed = capture_or_none(cfg, nets, amp, x_lab, y_lab, x_all, gan, iters, reporter.on_warning) if graphs else None
    own = StopFlag(run_dir is not None and stop is None)  # its handlers installed by the `with` below
    stop = stop or own
    if group is not None:  # its steps stacked with the group's other runs, driven as captured ones are
        graphed = group.member(cfg, nets, amp, x_lab, y_lab, x_all, gan, capture, reporter.on_warning, stop,
                               None if resume is None else resume.get("group_rng"))

    def signal_seen() -> int | None:
        """The signal that stops the run here: the same on every rank, and for every run of a group."""
        return graphed.signal if group is not None else _agree_on_signal(stop.signum, world)

    reporter.on_start(cfg.epochs, iters, start_epoch - 1)
    with own, writer:
        for epoch in range(start_epoch, cfg.epochs + 1):
            t0 = time.perf_counter()
            if position is not None:  # resuming inside this epoch
                orders = {k: torch.as_tensor(v).to(device) for k, v in position["orders"].items()}
                sums, counts, first_it = dict(position["sums"]), dict(position["counts"]), position["iteration"]
                position = None
            else:
                orders = {"lab": torch.from_numpy(_labeled_order(len(x_lab), iters * bs, rng)).to(device),
                          "unl": torch.from_numpy(rng.permutation(n_unl)).to(device),
                          "gen": torch.from_numpy(rng.permutation(n_unl)).to(device)}
                sums, counts, first_it = {}, {}, 0
            if noise is not None:
                noise.manual_seed(_noise_seed(cfg.seed, world.rank, epoch, first_it))
            if graphed is not None:
                graphed.start_epoch(orders, sums, counts)
            if nets.entropy_scale is not None:  # only made when entropy_epochs is set
                nets.entropy_scale.fill_(float(epoch <= cfg.entropy_epochs))
            for it in range(first_it, iters):
                set_lr((epoch - 1) * iters + it)
                g_step = gan and it % cfg.d_steps == 0
                if graphed is not None:  # the batches gathered inside; metrics on the device until the epoch ends
                    graphed.step(it, g_step)
                    values = {}
                else:
                    batch = slice(it * bs + lo, it * bs + hi)
                    xl, yl = x_lab[orders["lab"][batch]], y_lab[orders["lab"][batch]]
                    xu = x_all[orders["unl"][batch]] if gan else None
                    # the generator steps on a fresh real batch and fresh noise
                    xr = x_all[orders["gen"][batch]] if g_step else None
                    z = G.sample_z(bs, rand, device=device)[lo:hi] if gan else None
                    values = discriminator_step(cfg, nets, xl, yl, xu, z, amp)
                    if xr is not None:
                        for _ in range(cfg.g_steps):
                            z = G.sample_z(bs, rand, device=device)[lo:hi]
                            values.update(generator_step(cfg, nets, xr, z, amp, batch_mean))
                    values = _reduce_values(values, world)
                    _check_finite(values, f"at epoch {epoch}, iteration {it + 1}")
                    for k, v in values.items():
                        sums[k] = sums.get(k, 0.0) + v
                        counts[k] = counts.get(k, 0) + 1
                reporter.on_batch(epoch, it + 1, values)
                signum = signal_seen()
                if signum is not None and it + 1 < iters:
                    if graphed is not None:
                        sums, counts = graphed.totals()
                    if group is not None:
                        group.sync(nets)
                    checkpoint(epoch - 1, {"iteration": it + 1, "sums": sums, "counts": counts,
                                           "orders": orders})  # the writer copies it to the host
                    distributed.barrier()  # no rank leaves before rank 0 has written
                    raise Interrupted(signum, epoch, it + 1, run_dir)

            if graphed is not None:
                sums, counts = graphed.totals()
                _check_finite(sums, f"in epoch {epoch}")
            if group is not None:  # what evaluation and the checkpoint read
                group.sync(nets)
            metrics = {"epoch": epoch, "iterations": epoch * iters,
                       **{k: (sums[k] / counts[k] if k in sums else None) for k in METRIC_KEYS}}
            fake = None
            if world.main:  # evaluation runs once; the other ranks receive its numbers
                t_eval = time.perf_counter()  # the steps' work is done: the sums above were read from the device
                fake = _evaluate_epoch(metrics, cfg, nets, x_lab, y_lab, val, test, split.n_val,
                                       fixed_z, real_ref, gan, device)
                metrics["eval_seconds"] = time.perf_counter() - t_eval
                if quality is not None and (epoch % cfg.quality_every == 0 or epoch == cfg.epochs):
                    t_q = time.perf_counter()
                    metrics.update(quality.score(G))
                    metrics.update(quality_network=quality.network, quality_samples=quality.n,
                                   quality_real=quality.real, quality_real_samples=quality.n_real,
                                   quality_seconds=time.perf_counter() - t_q)
                metrics["lr"] = opt_d.param_groups[0]["initial_lr"] * _lr_factor(epoch * iters, total, decay_from)
                metrics["seconds"] = time.perf_counter() - t0
                metrics["device"] = str(device)
                if world.active:
                    metrics["world_size"] = world.size
                metrics["warnings"] = warnings_for(history, metrics, floor)
                keep_if_best(metrics)
            metrics = distributed.broadcast(metrics)
            history.append(metrics)
            for w in metrics["warnings"]:
                reporter.on_warning(w)

            signum = signal_seen()
            if run_dir is not None and world.main:
                writer.now(run_dir / "metrics.jsonl", _append_jsonl, run_dir / "metrics.jsonl", metrics)
                if gan and (epoch % cfg.sample_every == 0 or epoch == cfg.epochs):
                    grid = run_dir / "samples" / f"epoch_{epoch:04d}.png"
                    if (write := sample_picture(fake.cpu(), data.x_train)) is not None:
                        writer.submit(grid, write, grid)
            if run_dir is not None and (epoch % cfg.checkpoint_every == 0 or epoch == cfg.epochs or signum is not None):
                checkpoint(epoch)
            reporter.on_epoch(metrics)
            if signum is not None:
                distributed.barrier()
                raise Interrupted(signum, epoch, iters, run_dir)

    for net in (G, D):
        use_generator(net, None)  # the returned networks hold no generator (it cannot be copied or pickled)
    G.eval()
    ema.module.eval()
    return TrainResult(cfg, G, ema.module, history, device)


def _evaluate_epoch(metrics: dict, cfg: Config, nets: Nets, x_lab, y_lab, val, test, n_val: int,
                    fixed_z, real_ref, gan: bool, device) -> torch.Tensor:
    """Fill ``metrics`` with the EMA model's accuracies and the collapse indicators of
    samples from the fixed noise; return those samples."""
    ema = nets.ema.module
    metrics["train_acc"], _ = evaluate(ema, x_lab, y_lab, cfg, device)
    own = _scores(ema, val if n_val else None, test, cfg, device)
    if n_val:
        metrics.update(val_acc=own["val_acc"], val_errors=own["val_errors"], n_val=n_val)
    # (the test keys are kept, None, without a test set: summaries read them)
    metrics.update(test_acc=own.get("test_acc"), test_errors=own.get("test_errors"),
                   n_test=0 if test[1] is None else len(test[1]))
    if nets.probes:  # (after the run's own scores, which read no random numbers either)
        metrics["ema_probe"] = {key: _scores(probe.module, val if n_val else None, test, cfg, device)
                                for key, probe in nets.probes.items()}
    nets.G.eval()
    with torch.no_grad():
        fake = nets.G(fixed_z)
        if gan:
            fake_logits = predict_logits(ema, fake, cfg.fake_logit, device)
            metrics.update(collapse_indicators(fake, real_ref, fake_logits))
        else:
            metrics.update(sample_spread=None, class_entropy=None)
    nets.G.train()
    return fake


def _scores(net: torch.nn.Module, val, test, cfg: Config, device) -> dict[str, float | int]:
    """A moving average's accuracies and errors on the validation rows (if any) and the test set (if
    any): the run's own, and each --ema-probe one."""
    out = {}
    for name, rows in (("val", val), ("test", test)):
        if rows is not None and rows[1] is not None:
            out[f"{name}_acc"], out[f"{name}_errors"] = evaluate(net, *rows, cfg, device)
    return out


def _check_finite(values: dict[str, float], where: str) -> None:
    """The NaN guard: stop on the first loss (or other metric) that is not finite."""
    bad = sorted((k for k, v in values.items() if not math.isfinite(v)), key=lambda k: not k.startswith("loss"))
    if bad:
        raise Diverged(f"{bad[0]} became {values[bad[0]]} {where}")


def _reduce_values(values: dict, world: distributed.World) -> dict[str, float]:
    """The step's metrics as floats, averaged over ranks (a NaN anywhere reaches every rank,
    so all of them stop at the same batch)."""
    if not world.active:
        return {k: float(v) for k, v in values.items()}
    t = torch.tensor([float(v) for v in values.values()], dtype=torch.float64)
    distributed.all_reduce(t)
    return {k: v / world.size for k, v in zip(values, t.tolist())}


def _agree_on_signal(signum: int | None, world: distributed.World) -> int | None:
    """The signal that stops training, the same on every rank (one rank may have caught it
    a batch before the others)."""
    if not world.active:
        return signum
    t = torch.tensor([signum or 0])
    distributed.all_reduce(t, "max")
    return int(t.item()) or None


def _append_jsonl(path: Path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()


def _on_host(obj):
    """``obj`` with every tensor copied to host memory and every container new: what a
    checkpoint holds at the moment it is taken, whatever training does next."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _on_host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_on_host(v) for v in obj)
    return obj


def _resume_then(run_dir: Path) -> str:
    """What to do once a failed write of the run folder ``run_dir`` can succeed (its last
    checkpoint is on disk: checkpoints are written atomically)."""
    from ssgan.launch import resume_command

    return f"then resume with: {resume_command([run_dir])}"


class RunWriter:
    """A run's sample grids and checkpoints, written in a thread of their own in the order they
    were taken, so that training goes on meanwhile (on a GPU a checkpoint's 40 MB otherwise stop
    the loop every epoch; with stacked seeds, all of them). A checkpoint's state is copied to host
    memory before :meth:`checkpoint` returns, and waits for the one before it to be on disk, so at
    most one is held. As a context manager it waits for the last write when the loop ends; an
    error of a write is raised there, or at the next write, unless the loop is failing already
    (then its error stands; a stop's checkpoint, :class:`Interrupted`, must be on disk, so a
    write's error wins there). ``run_dir``: the run folder, which that error says how to resume."""

    def __init__(self, run_dir: Path | None = None):
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssgan-writer")
        self.futures: list[Future] = []
        self.then = _resume_then(run_dir) if run_dir is not None else "then try again"

    def submit(self, path: Path, fn, *args, errors: tuple[type[BaseException], ...] = (OSError,)) -> None:
        """Write the file ``path`` by ``fn(*args)``; a failure (``errors``) is one line,
        :class:`ssgan.fileio.WriteFailed`, that says how to resume the run."""
        self._raise_done()
        self.futures.append(self.pool.submit(self._write, path, errors, fn, *args))

    def now(self, path: Path, fn, *args, errors: tuple[type[BaseException], ...] = (OSError,)) -> None:
        """:meth:`submit`'s write, in this thread: done when this returns (a run's metrics
        line, before the epoch goes on)."""
        with writing(path, self.then, errors):
            fn(*args)

    def _write(self, path: Path, errors: tuple[type[BaseException], ...], fn, *args) -> None:
        self.now(path, fn, *args, errors=errors)

    def checkpoint(self, path: Path, state: dict) -> None:
        for f in self.futures:  # the previous checkpoint first: one held in memory at a time
            f.result()
        # torch.save says that the disk is full with a RuntimeError ("unexpected pos ...")
        self.submit(path, save_checkpoint, path, _on_host(state), errors=(OSError, RuntimeError))

    def _raise_done(self) -> None:
        for f in [f for f in self.futures if f.done()]:
            self.futures.remove(f)
            f.result()

    def __enter__(self) -> "RunWriter":
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.pool.shutdown(wait=True)
        if kind is None or issubclass(kind, Interrupted):
            self._raise_done()


BEST_WEIGHTS = "best.pt"  # a run's weights at the epoch of its best validation accuracy (fit --val)


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` through a temporary file, so a kill leaves the last good checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def drop_later_best(run_dir: Path, epoch: int) -> None:
    """Remove the run's best.pt where it is of an epoch after ``epoch``, where training goes on
    from (0: a run that starts again): it was written before a kill that the checkpoint did not
    reach, and the epochs after ``epoch`` are trained again (and keep their own best). Its epoch
    is read with the weights memory-mapped, not read."""
    path = run_dir / BEST_WEIGHTS
    if path.is_file():
        try:
            later = epoch == 0 or torch.load(path, map_location="cpu", weights_only=False, mmap=True)["epoch"] > epoch
        except Exception:  # (a damaged file, which the next best replaces)
            later = True
        if later:
            path.unlink(missing_ok=True)


def load_checkpoint(path: Path, mmap: bool = False) -> dict:
    """A run's checkpoint, or a one-line error; with ``mmap`` its tensors are memory-mapped and read
    only where used (a look at its other entries)."""
    path = Path(path)
    if not path.is_file():  # a run folder kept without its weights, or stopped before its first checkpoint
        raise SSGANError(f"{path.parent} has no {path.name} (removed, or the run stopped before writing one): "
                         "this command needs its trained weights; ssgan report reads the run without them")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False, mmap=mmap)
    except Exception as e:  # torch raises many types for a damaged file
        raise SSGANError(f"checkpoint {path} is damaged ({type(e).__name__}); it cannot be loaded: copy it again "
                         "from where the run was made, or train the run again") from None
    if not isinstance(state, dict) or not {"config", "generator", "ema"} <= set(state):
        raise SSGANError(f"{path} is not an ssgan checkpoint")
    return state
