"""RBMs on binarised 8x8 digits: CD-1, CD-10 and PCD, with exact and AIS log-likelihoods.

scikit-learn's digits (1797 images, 8 x 8, intensities 0..16) are binarised at
half intensity (``pixel > 8``) and split into train and test sets. For every
hidden size and every training method (``cdK``: contrastive divergence with K
Gibbs sweeps, Hinton 2002; ``pcdK``: persistent CD, Tieleman 2008; ``ptK``:
persistent chains that are parallel-tempering runs over ``pt_ladder``,
Desjardins et al. 2010) an RBM is
trained with the same optimizer, epochs and minibatches, and evaluated by

- the exact average log-likelihood ``mean[-F(v)] - log Z`` where the smaller layer
  has at most ``exact_max_units`` units (``log Z`` by enumeration),
- the AIS estimate of the same quantity everywhere (Salakhutdinov & Murray 2008:
  base-rate RBM from the training marginals, their three-piece beta schedule
  scaled by ``ais.schedule_scale``); its error bar is the delta-method standard
  error of ``log Z`` over ``ais.num_chains`` independent runs,
- the pseudo-log-likelihood and the mean-field reconstruction error.

The summary reports, side by side where both exist, exact and AIS log-likelihoods
and their difference. Writes ``filters.png`` (the weights of the first hidden
units of each hidden size's last method, as 8 x 8 images), ``samples.png`` (the
visible means at the end of ``sampling.num_steps`` block-Gibbs sweeps from random
states, per model), ``metrics.jsonl`` (per logged epoch and model) and
``summary.json``. The run is short (a few minutes on a CPU) and has no
checkpoints: ``checkpoint_every`` is unused.

Example:
    $ statjax run configs/rbm_digits.yaml
"""

import dataclasses
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure
from sklearn.datasets import load_digits

import statjax
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import rbm
from statjax.optim import tunable
from statjax.runs import Run

_METHOD = re.compile(r"(p?cd|pt)([1-9][0-9]*)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AIS:
    """Annealed importance sampling of ``log Z`` (Salakhutdinov & Murray 2008)."""

    num_chains: int = setting(100, ge=2, help="independent AIS runs")
    schedule_scale: float = setting(
        0.2, gt=0, help="fraction of the 14,500 steps of S&M's beta schedule"
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampling:
    """Long Gibbs chains whose final states are plotted."""

    num_chains: int = setting(32, ge=1, help="chains (images) per model")
    num_steps: int = setting(1000, ge=1, help="block-Gibbs sweeps from random states")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the digits RBM experiment."""

    hidden_sizes: tuple[int, ...] = setting(ge=1, min_length=1, help="hidden units per RBM")
    methods: tuple[str, ...] = setting(
        min_length=1,
        help="training methods: cdK (contrastive divergence), pcdK (persistent), "
        "ptK (persistent parallel tempering, K rounds per update)",
    )
    num_epochs: int = setting(ge=1, help="passes over the training set")
    batch_size: int = setting(20, ge=1, help="minibatch size")
    learning_rate: float = setting(0.05, gt=0, help="SGD learning rate (initial, if decayed)")
    decay_learning_rate: bool = setting(
        True, help="decay the learning rate linearly to 0 over the run (as Tieleman 2008)"
    )
    num_persistent_chains: int = setting(100, ge=1, help="persistent chains of pcdK and ptK")
    pt_ladder: tuple[float, ...] = setting(
        (0.5, 0.75, 1.0), gt=0, le=1, min_length=2, help="inverse temperatures of ptK, up to 1"
    )
    momentum: float = setting(0.5, ge=0, lt=1, help="SGD momentum")
    weight_decay: float = setting(1e-4, ge=0, help="L2 weight decay (added to the gradient)")
    test_fraction: float = setting(0.2, gt=0, lt=1, help="share of the images held out")
    log_every: int = setting(10, ge=1, help="epochs between metrics lines")
    exact_max_units: int = setting(20, ge=1, le=25, help="exact log Z up to this smaller layer")
    ais: AIS = setting(AIS(), help="AIS settings")
    sampling: Sampling = setting(Sampling(), help="Gibbs chains for the sample plots")

    def validate(self) -> None:
        """Methods read ``cdK``, ``pcdK`` or ``ptK``; the PT ladder rises to 1; batches fit."""
        if list(self.pt_ladder) != sorted(self.pt_ladder) or self.pt_ladder[-1] != 1.0:
            raise ConfigError("pt_ladder", list(self.pt_ladder), "increasing and ending at 1.0")
        if self.batch_size > 1797 * (1 - self.test_fraction):
            raise ConfigError("batch_size", self.batch_size, "at most the training set size")
        for index, method in enumerate(self.methods):
            if not _METHOD.fullmatch(method):
                raise ConfigError(f"methods[{index}]", method, "cdK, pcdK or ptK, e.g. pcd1")


def load_binary_digits(test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits binarised at half intensity, shuffled and split: (train, test)."""
    images = (load_digits().data > 8).astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(images))
    num_test = round(test_fraction * len(images))
    return images[order[num_test:]], images[order[:num_test]]


def run(config: Config, run: Run) -> dict:
    """Train every (hidden size, method), evaluate exact and AIS likelihoods, plot.

    Returns:
        The summary: per model the log-likelihoods (exact and AIS, train and test),
        their difference, pseudo-log-likelihood, reconstruction error and time.
    """
    train, test = load_binary_digits(config.test_fraction, config.seed)
    num_updates = config.num_epochs * (train.shape[0] // config.batch_size)
    # A tunable optimizer: its numbers are traced, so another learning rate, momentum
    # or decay (another run in the same process) reuses the compiled epochs.
    optimizer = tunable(
        decayed_sgd,
        learning_rate=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        decay_steps=float(num_updates) if config.decay_learning_rate else 0.0,
    )
    base_bias = rbm.base_rate_visible_bias(train)
    key = jax.random.key(config.seed)
    models, results = [], []
    for size_index, num_hidden in enumerate(config.hidden_sizes):
        for method_index, method in enumerate(config.methods):
            index = size_index * len(config.methods) + method_index
            model_key = jax.random.fold_in(key, index)
            params, seconds = _train(config, run, optimizer, train, base_bias, model_key, index,
                                     num_hidden, method)  # fmt: skip
            results.append(
                {"num_hidden": num_hidden, "method": method, "train_seconds": seconds}
                | _evaluate(config, params, train, test, base_bias, model_key)
            )
            models.append(params)
    run.save_figure(_filters_figure(config, models), "filters.png")
    run.save_figure(_samples_figure(config, models, key), "samples.png")
    small = [r for r in results if "exact_test_log_likelihood" in r]
    return {
        "experiment": "RBMs on binarised 8x8 digits: CD-k vs PCD, exact and AIS log-likelihood",
        "num_train": int(train.shape[0]),
        "num_test": int(test.shape[0]),
        "num_epochs": config.num_epochs,
        "ais_num_betas": int(rbm.ais_betas(config.ais.schedule_scale).size),
        "models": results,
        "max_abs_exact_minus_ais": max(
            (abs(r["exact_minus_ais_test"]) for r in small), default=None
        ),
    }


def decayed_sgd(
    learning_rate: float, momentum: float, weight_decay: float, decay_steps: float
) -> optax.GradientTransformation:
    """SGD with momentum and L2 weight decay, the rate decaying linearly to 0 (Tieleman 2008).

    The rate at update ``t`` is ``learning_rate * max(0, 1 - t / decay_steps)``
    (``optax.linear_schedule``), or constant when ``decay_steps = 0``; the decay
    ``weight_decay * w`` is added to the gradient first. Numbers only, so that
    ``statjax.optim.tunable`` can carry them as traced leaves.
    """

    def rate(count):
        fraction = jnp.clip(1.0 - count / jnp.maximum(decay_steps, 1.0), 0.0, 1.0)
        return learning_rate * jnp.where(decay_steps > 0, fraction, 1.0)

    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(rate, momentum=momentum))


def _train(config, run, optimizer, train, base_bias, key, index, num_hidden, method):
    kind, num_gibbs_steps = _parse_method(method)
    key_init, key_train = jax.random.split(key)
    params = rbm.init_rbm(key_init, train.shape[1], num_hidden, visible_bias=base_bias)

    def log(epoch, state, metrics):
        if (epoch + 1) % config.log_every == 0 or epoch + 1 == config.num_epochs:
            run.log(
                index * config.num_epochs + epoch + 1,
                num_hidden=num_hidden,
                method=method,
                epoch=epoch + 1,
                free_energy_gap=float(metrics.free_energy_gap),
                reconstruction_error=float(metrics.reconstruction_error),
                train_pseudo_log_likelihood=float(rbm.pseudo_log_likelihood(state.params, train)),
            )

    start = time.perf_counter()
    state, _ = rbm.train_rbm(
        key_train, params, train, optimizer,
        num_epochs=config.num_epochs, batch_size=config.batch_size,
        num_gibbs_steps=num_gibbs_steps, persistent=kind == "pcd",
        num_chains=config.num_persistent_chains, callback=log,
        ladder=np.asarray(config.pt_ladder) if kind == "pt" else None,
    )  # fmt: skip
    jax.block_until_ready(state.params)
    return state.params, time.perf_counter() - start


def _parse_method(method: str) -> tuple[str, int]:
    kind, steps = _METHOD.fullmatch(method).groups()
    return kind, int(steps)


def _evaluate(config, params, train, test, base_bias, key) -> dict:
    """Exact (where feasible) and AIS log-likelihoods of train and test, PLL, reconstruction."""
    ais = rbm.ais_log_z(
        jax.random.fold_in(key, 1), params, base_bias,
        betas=rbm.ais_betas(config.ais.schedule_scale), num_chains=config.ais.num_chains,
    )  # fmt: skip
    ais_log_z = float(ais.log_z)
    result = {
        "ais_log_z": ais_log_z,
        "ais_log_z_standard_error": float(ais.standard_error),
        "ais_effective_sample_size": float(ais.effective_sample_size),
        "ais_train_log_likelihood": float(rbm.log_likelihood(params, train, ais_log_z)),
        "ais_test_log_likelihood": float(rbm.log_likelihood(params, test, ais_log_z)),
    }
    if min(params.weights.shape) <= config.exact_max_units:
        exact_log_z = float(rbm.exact_log_z(params))
        result |= {
            "exact_log_z": exact_log_z,
            "exact_train_log_likelihood": float(rbm.log_likelihood(params, train, exact_log_z)),
            "exact_test_log_likelihood": float(rbm.log_likelihood(params, test, exact_log_z)),
            # The AIS log-likelihood is the exact one minus (log Z_AIS - log Z_exact).
            "exact_minus_ais_test": ais_log_z - exact_log_z,
        }
    result |= {
        "test_pseudo_log_likelihood": float(rbm.pseudo_log_likelihood(params, test)),
        "test_reconstruction_error": float(rbm.reconstruction_error(params, test)),
    }
    return result


def _filters_figure(config, models) -> Figure:
    """The first 16 hidden units' weights of each hidden size's last method, as 8 x 8 images."""
    num_shown = 16
    rows = len(config.hidden_sizes)
    figure = Figure(figsize=(num_shown * 0.8, rows * 1.0 + 0.4), layout="constrained")
    axes = figure.subplots(rows, num_shown, squeeze=False)
    for row, num_hidden in enumerate(config.hidden_sizes):
        params = models[(row + 1) * len(config.methods) - 1]
        weights = np.asarray(params.weights)
        for column in range(num_shown):
            ax = axes[row, column]
            ax.set_axis_off()
            if column < weights.shape[1]:
                filter_ = weights[:, column].reshape(8, 8)
                limit = np.abs(filter_).max() + 1e-9
                ax.imshow(filter_, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[row, 0].set_title(f"H = {num_hidden}, {config.methods[-1]}", fontsize=7, loc="left")
    figure.suptitle("RBM filters (weights of hidden units; red > 0, blue < 0)", fontsize=9)
    return figure


def _samples_figure(config, models, key) -> Figure:
    """Visible means ``E[v | h]`` after ``num_steps`` block-Gibbs sweeps, per model."""
    count = config.sampling.num_chains
    figure = Figure(figsize=(count * 0.4, len(models) * 0.5 + 0.5), layout="constrained")
    axes = figure.subplots(len(models), 1, squeeze=False)[:, 0]
    names = [(h, m) for h in config.hidden_sizes for m in config.methods]
    for index, (params, (num_hidden, method)) in enumerate(zip(models, names, strict=True)):
        start = jax.random.bernoulli(jax.random.fold_in(key, 1000 + index), 0.5, (count, 64))
        final, _ = statjax.run_chains(
            rbm.block_gibbs(params), jax.random.fold_in(key, 2000 + index),
            start.astype(jnp.float32), config.sampling.num_steps,
        )  # fmt: skip
        means = np.asarray(rbm.visible_mean(params, final.position.hidden))
        strip = means.reshape(count, 8, 8).transpose(1, 0, 2).reshape(8, count * 8)
        axes[index].imshow(strip, cmap="gray_r", vmin=0, vmax=1)
        axes[index].set_axis_off()
        axes[index].set_title(f"H = {num_hidden}, {method}", fontsize=7, loc="left")
    figure.suptitle(
        f"E[v | h] after {config.sampling.num_steps} Gibbs sweeps from random states", fontsize=9
    )
    return figure
