"""RBMs on binarised 8x8 digits: CD-1, CD-10 and PCD, with exact and AIS log-likelihoods.

scikit-learn's digits (1797 images, 8 x 8, intensities 0..16) are binarised at
half intensity (``pixel > 8``) and split into train and test sets (stratified by
label, :func:`experiments.common.load_digits`). For every
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
units of each hidden size's last method, as 8 x 8 images in a grid),
``samples.png`` (the visible means at the end of ``sampling.num_steps``
block-Gibbs sweeps from random states, a grid per model), ``metrics.jsonl`` (one
line per model: its curves at every ``log_every``-th epoch and its evaluation),
``summary.json`` and ``timings.json`` (training time per model). A checkpoint is
taken after every ``checkpoint_every`` finished models: a resumed run trains no
finished model again and gives the same summary (model ``i``'s key is
``fold_in(key, i)``).

Example:
    $ statjax run configs/rbm_digits.yaml
"""

import dataclasses
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

import statjax
from experiments import common
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import rbm
from statjax.optim import tunable
from statjax.runs import Run

REQUIRES = ("sklearn",)
"""Optional packages this experiment imports lazily (checked before any work)."""

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
    """Settings of the digits RBM experiment; ``checkpoint_every`` counts trained models."""

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
    """:func:`experiments.common.load_digits` binarised at half intensity: (train, test)."""
    data = common.load_digits(seed, test_fraction=test_fraction, scaling="binary")
    return data["x_train"], data["x_test"]


_RESULT_KEYS = (
    "ais_log_z", "ais_log_z_standard_error", "ais_effective_sample_size",
    "ais_train_log_likelihood", "ais_test_log_likelihood", "exact_log_z",
    "exact_train_log_likelihood", "exact_test_log_likelihood", "exact_minus_ais_test",
    "test_pseudo_log_likelihood", "test_reconstruction_error",
)  # fmt: skip
"""Each model's evaluation, in summary order; NaN in the state where it does not apply."""


def _models(config: Config) -> list[tuple[int, str]]:
    """``(num_hidden, method)`` of every model, in training order."""
    return [(h, m) for h in config.hidden_sizes for m in config.methods]


def _initial_state(config: Config, num_visible: int) -> dict:
    """Zeroed parameters of every model and NaN results (all checkpointed)."""
    models = _models(config)
    state = {
        f"params_{index}": rbm.RBMParams(
            np.zeros((num_visible, num_hidden), np.float32),
            np.zeros(num_visible, np.float32),
            np.zeros(num_hidden, np.float32),
        )
        for index, (num_hidden, _) in enumerate(models)
    }
    state["results"] = np.full((len(models), len(_RESULT_KEYS)), np.nan, np.float64)
    return state


def run(config: Config, run: Run) -> dict:
    """Train every (hidden size, method), evaluate exact and AIS likelihoods, plot.

    One loop step is one trained and evaluated model (``checkpoint_every`` counts
    models); training times go to ``timings.json``.

    Returns:
        The summary: per model the log-likelihoods (exact and AIS, train and test),
        their difference, pseudo-log-likelihood and reconstruction error.
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
    models = _models(config)

    def advance(state, chunk):
        state = dict(state, results=np.array(state["results"]))
        index = chunk.start  # one model per chunk (log_every=1)
        num_hidden, method = models[index]
        model_key = jax.random.fold_in(key, index)
        with run.timed(f"train H={num_hidden} {method}"):
            params, curves = _train(config, optimizer, train, base_bias, model_key, num_hidden,
                                    method)  # fmt: skip
        result = _evaluate(config, params, train, test, base_bias, model_key)
        state[f"params_{index}"] = rbm.RBMParams(*(np.asarray(a) for a in params))
        state["results"][index] = [result.get(name, np.nan) for name in _RESULT_KEYS]
        return state, {"num_hidden": num_hidden, "method": method, **curves, **result}

    state = run.loop(
        _initial_state(config, train.shape[1]), advance, len(models), log_every=1, desc="models"
    )
    params = [state[f"params_{index}"] for index in range(len(models))]
    results = [
        {"num_hidden": num_hidden, "method": method}
        | {
            name: float(value)
            for name, value in zip(_RESULT_KEYS, state["results"][index], strict=True)
            if not np.isnan(value)
        }
        for index, (num_hidden, method) in enumerate(models)
    ]
    run.save_figure(_filters_figure(config, params), "filters.png")
    run.save_figure(_samples_figure(config, params, key), "samples.png")
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


def _train(config, optimizer, train, base_bias, key, num_hidden, method):
    """Train one RBM; its parameters and its curves at every ``log_every``-th epoch."""
    kind, num_gibbs_steps = _parse_method(method)
    key_init, key_train = jax.random.split(key)
    params = rbm.init_rbm(key_init, train.shape[1], num_hidden, visible_bias=base_bias)
    curves = {name: [] for name in _CURVES}

    def log(epoch, state, metrics):
        if (epoch + 1) % config.log_every == 0 or epoch + 1 == config.num_epochs:
            curves["epoch"].append(epoch + 1)
            curves["free_energy_gap"].append(float(metrics.free_energy_gap))
            curves["reconstruction_error"].append(float(metrics.reconstruction_error))
            curves["train_pseudo_log_likelihood"].append(
                float(rbm.pseudo_log_likelihood(state.params, train))
            )

    state, _ = rbm.train_rbm(
        key_train, params, train, optimizer,
        num_epochs=config.num_epochs, batch_size=config.batch_size,
        num_gibbs_steps=num_gibbs_steps, persistent=kind == "pcd",
        num_chains=config.num_persistent_chains, callback=log,
        ladder=np.asarray(config.pt_ladder) if kind == "pt" else None,
    )  # fmt: skip
    jax.block_until_ready(state.params)
    return state.params, curves


_CURVES = ("epoch", "free_energy_gap", "reconstruction_error", "train_pseudo_log_likelihood")
"""What each model's metrics line holds per logged epoch (lists, one entry per epoch)."""


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


def _mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """``(n, 8, 8)`` images tiled row by row, ``columns`` wide, one NaN pixel between them."""
    rows = -(-len(images) // columns)
    tiled = np.full((rows * 9 - 1, columns * 9 - 1), np.nan)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        tiled[row * 9 : row * 9 + 8, column * 9 : column * 9 + 8] = image
    return tiled


def _filters_figure(config, models) -> Figure:
    """Up to 64 hidden units' weights of each hidden size's last method, an 8 x 8 image each.

    Each filter is scaled to its own largest absolute weight (red > 0, blue < 0).
    """
    import matplotlib as mpl

    sizes = list(config.hidden_sizes)
    figure = Figure(figsize=(3.4 * len(sizes) + 0.6, 3.9), layout="constrained")
    axes = figure.subplots(1, len(sizes), squeeze=False)[0]
    colormap = mpl.colormaps["RdBu_r"].with_extremes(bad="white")
    for column, num_hidden in enumerate(sizes):
        params = models[(column + 1) * len(config.methods) - 1]
        weights = np.asarray(params.weights, np.float64)[:, :64].T  # (shown, 64)
        weights = weights / (np.abs(weights).max(1, keepdims=True) + 1e-9)
        tiles = max(1, math.ceil(math.sqrt(len(weights))))
        image = axes[column].imshow(
            _mosaic(weights.reshape(-1, 8, 8), tiles), cmap=colormap, vmin=-1, vmax=1
        )
        axes[column].set_axis_off()
        axes[column].set_title(
            f"H = {num_hidden}, {config.methods[-1]}: {len(weights)} of {num_hidden} units",
            fontsize=9,
        )
    figure.colorbar(image, ax=axes.tolist(), shrink=0.8, label="weight / largest |weight| of unit")
    figure.suptitle("RBM filters: the weights of each hidden unit as an 8 x 8 image", fontsize=10)
    return figure


def _samples_figure(config, models, key) -> Figure:
    """Visible means ``E[v | h]`` after ``num_steps`` block-Gibbs sweeps: a grid per model."""
    import matplotlib as mpl

    count = config.sampling.num_chains
    tiles = max(1, math.ceil(math.sqrt(count)))
    rows, columns = len(config.hidden_sizes), len(config.methods)
    figure = Figure(figsize=(2.6 * columns, 2.8 * rows + 0.5), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    colormap = mpl.colormaps["gray_r"].with_extremes(bad="white")
    for index, (params, (num_hidden, method)) in enumerate(
        zip(models, _models(config), strict=True)
    ):
        start = jax.random.bernoulli(jax.random.fold_in(key, 1000 + index), 0.5, (count, 64))
        final, _ = statjax.run_chains(
            rbm.block_gibbs(params), jax.random.fold_in(key, 2000 + index),
            start.astype(jnp.float32), config.sampling.num_steps,
        )  # fmt: skip
        means = np.asarray(rbm.visible_mean(params, final.position.hidden), np.float64)
        mosaic = _mosaic(means.reshape(count, 8, 8), tiles)
        axes[index].imshow(mosaic, cmap=colormap, vmin=0, vmax=1)
        axes[index].set_axis_off()
        axes[index].set_title(f"H = {num_hidden}, {method}", fontsize=9)
    figure.suptitle(
        f"E[v | h] of {count} chains after {config.sampling.num_steps} Gibbs sweeps\n"
        "from random states (black: pixel on)",
        fontsize=9,
    )
    return figure
