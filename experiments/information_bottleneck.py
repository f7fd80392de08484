"""The variational information bottleneck on scikit-learn's digits, across its trade-off.

A VIB (Alemi, Fischer, Dillon & Murphy 2017; :mod:`statjax.models.information_bottleneck`)
classifies the 8 x 8 digits (pixels scaled to [0, 1], a stratified train/test
split): a Gaussian encoder ``p(z|x)`` (a ReLU MLP, ``sigma = softplus(. - 5)``), a
softmax decoder ``q(y|z)`` and the variational marginal ``r(z) = N(0, I)``. It
minimises ``E[-log q(y|z)] + bottleneck_weight * E KL(p(z|x) || r(z))`` with Adam,
one model per ``bottleneck_weight`` (Alemi et al.'s ``beta``, not an inverse
temperature); the models are trained side by side in one program (``vmap`` over the
weights) from the same initial parameters, minibatches and noise draws.

The **information plane** is reported in **nats**, on the training and test sets,
every ``log_every`` epochs and at the end:

- ``I(Z;X) <= E_x KL(p(z|x) || r(z))`` (upper bound, ``information_zx_upper``),
- ``I(Z;Y) >= H(Y) - E[-log q(y|z)]`` (lower bound, ``information_zy_lower``), with
  ``H(Y)`` the plug-in entropy of that set's labels (at most ``log 10 = 2.303``).

Expectations over ``z`` use ``num_eval_samples`` draws per image; test accuracy
uses the predictive ``E_z q(y|z)`` over the same number of draws (Alemi et al. use
12). On a set's empirical distribution ``Y - X - Z`` is a Markov chain, so
``lower <= I(Z;Y) <= I(Z;X) <= upper`` (data processing): the summary checks that
the measured lower bound never exceeds the upper one. Every number is one training
run with a fixed seed; no error bars across seeds.

Writes ``information_plane.png`` (both bounds at the end of training, one point per
weight, train and test, and each weight's path during training) and
``accuracy.png`` (test accuracy and both bounds against the weight). Checkpoints
every ``checkpoint_every`` epochs (the unit is epochs); a resumed run gives the
same summary as an uninterrupted one (the keys of epoch ``t`` are
``fold_in(key, t)``).

Example:
    $ statjax run configs/information_bottleneck.yaml
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from experiments import common
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import information_bottleneck as ib
from statjax.runs import Run

REQUIRES = ("sklearn",)
"""Optional packages this experiment imports lazily (checked before any work)."""

NUM_CLASSES = 10
# The "rbg" generator (XLA's RngBitGenerator): on the CPU, programs that draw with the
# default threefry generator take several times longer to compile than to run here.
_PRNG = "rbg"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the VIB experiment. ``checkpoint_every`` counts epochs."""

    bottleneck_weights: tuple[float, ...] = setting(
        ge=0, min_length=2, help="Alemi et al.'s beta, increasing (not an inverse temperature)"
    )
    latent_dim: int = setting(16, ge=1, help="size K of the code z")
    encoder_hidden_sizes: tuple[int, ...] = setting((128, 128), ge=1, help="encoder ReLU widths")
    decoder_hidden_sizes: tuple[int, ...] = setting(
        (), ge=1, help="decoder ReLU widths; () = softmax regression, as Alemi et al."
    )
    test_fraction: float = setting(0.2, gt=0, lt=1, help="share of the digits held out")
    num_epochs: int = setting(100, ge=1, help="passes over the training set")
    batch_size: int = setting(64, ge=1, help="minibatch size")
    learning_rate: float = setting(1e-3, gt=0, help="Adam step size")
    num_train_samples: int = setting(1, ge=1, help="z draws per image in the training loss")
    num_eval_samples: int = setting(12, ge=1, help="z draws per image for bounds and accuracy")
    log_every: int = setting(10, ge=1, help="epochs between information-plane measurements")

    def validate(self) -> None:
        """The weights increase; a minibatch fits in the training set."""
        weights = list(self.bottleneck_weights)
        if weights != sorted(set(weights)):
            raise ConfigError("bottleneck_weights", weights, "strictly increasing values")
        if self.batch_size > 1797 * (1 - self.test_fraction):
            raise ConfigError("batch_size", self.batch_size, "at most the training set size")


def _model(config: Config) -> ib.VIB:
    return ib.VIB(
        latent_dim=config.latent_dim, num_classes=NUM_CLASSES,
        encoder_hidden_sizes=tuple(config.encoder_hidden_sizes),
        decoder_hidden_sizes=tuple(config.decoder_hidden_sizes),
    )  # fmt: skip


def _log_epochs(config: Config) -> list[int]:
    """Epochs (1-based) after which the information plane is measured."""
    return sorted(
        {e for e in range(1, config.num_epochs + 1) if e % config.log_every == 0}
        | {config.num_epochs}
    )


def init_state(config: Config, data: dict) -> dict:
    """Same initial parameters for every weight, Adam states, an empty history."""
    params, opt_state = _init(jnp.asarray(data["x_train"][:1]), config=config)
    num_logs = len(_log_epochs(config))
    return {
        "params": params,
        "opt_state": opt_state,
        "epoch": np.zeros((), np.int64),
        # (log, weight, [I(Z;X) upper, I(Z;Y) lower]) on the training set.
        "history": np.zeros((num_logs, len(config.bottleneck_weights), 2), np.float32),
    }


@functools.partial(jax.jit, static_argnames="config")
def _init(x, *, config: Config):
    """One program (not one per operation): parameters stacked over weights, Adam states."""
    params = _model(config).init(jax.random.key(config.seed, impl=_PRNG), x)["params"]
    num_weights = len(config.bottleneck_weights)
    params = jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (num_weights, *leaf.shape)), params)
    return params, jax.vmap(optax.adam(config.learning_rate).init)(params)


# Keyed on the (frozen, hashable) config so that the same settings reuse the compiled
# program (a resumed run, a test); the weights themselves are traced.
@functools.partial(jax.jit, static_argnames="config")
def _epoch(params, opt_state, x_train, y_train, weights, entropy_y, epoch, *, config: Config):
    """One pass over shuffled minibatches for every weight at once."""
    model, optimizer = _model(config), optax.adam(config.learning_rate)
    key = jax.random.fold_in(jax.random.key(config.seed, impl=_PRNG), epoch)
    key_order, key_noise = jax.random.split(key)
    num_steps = x_train.shape[0] // config.batch_size
    order = jax.random.permutation(key_order, x_train.shape[0])[: num_steps * config.batch_size]

    def step(carry, inputs):
        params, opt_state = carry
        indices, step_key = inputs

        def update(params, opt_state, weight):
            grads, _ = jax.grad(ib.vib_loss, argnums=1, has_aux=True)(
                model, params, x_train[indices], y_train[indices], step_key, weight,
                entropy_y, config.num_train_samples,
            )  # fmt: skip
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        return jax.vmap(update)(params, opt_state, weights), None

    keys = jax.random.split(key_noise, num_steps)
    (params, opt_state), _ = jax.lax.scan(
        step, (params, opt_state), (order.reshape(num_steps, -1), keys)
    )
    return params, opt_state


@functools.partial(jax.jit, static_argnames="config")
def _evaluate(params, data, weights, entropies, *, config: Config):
    """Per split and weight: I(Z;X) upper, I(Z;Y) lower, cross-entropy, accuracy, NLL."""
    return {
        split: _evaluate_split(params, data[f"x_{split}"], data[f"y_{split}"], weights,
                               entropies[split], config)
        for split in ("train", "test")
    }  # fmt: skip


def _evaluate_split(params, x, y, weights, entropy_y, config: Config):
    model = _model(config)
    # One fixed evaluation key (beyond any epoch index), so every measurement is repeatable.
    key = jax.random.fold_in(jax.random.key(config.seed, impl=_PRNG), 2**31 - 1)

    def one(params, weight):
        _, bounds = ib.vib_loss(
            model, params, x, y, key, weight, entropy_y, config.num_eval_samples
        )
        probs = ib.predictive_probabilities(model, params, x, key, config.num_eval_samples)
        accuracy = jnp.mean(jnp.argmax(probs, -1) == y)
        nll = -jnp.mean(jnp.log(jnp.take_along_axis(probs, y[:, None], -1) + 1e-12))
        return jnp.stack([*bounds, accuracy, nll])

    return jax.vmap(one)(params, weights)


def train_epoch(state: dict, data: dict, weights, entropy_y, config: Config) -> dict:
    """Advance ``state`` by one epoch (a separate function so a test can interrupt it)."""
    params, opt_state = _epoch(
        state["params"], state["opt_state"], jnp.asarray(data["x_train"]),
        jnp.asarray(data["y_train"]), weights, entropy_y, int(state["epoch"]), config=config,
    )  # fmt: skip
    return state | {"params": params, "opt_state": opt_state, "epoch": state["epoch"] + 1}


_COLUMNS = ("information_zx_upper", "information_zy_lower", "cross_entropy", "accuracy", "nll")


def run(config: Config, run: Run) -> dict:
    """Train one VIB per bottleneck weight; log the information plane; summarise and plot."""
    data = common.load_digits(config.seed, test_fraction=config.test_fraction)
    weights = jnp.asarray(config.bottleneck_weights, jnp.float32)
    entropies = {
        split: ib.label_entropy(data[f"y_{split}"], NUM_CLASSES) for split in ("train", "test")
    }
    log_epochs = _log_epochs(config)
    arrays = {name: jnp.asarray(value) for name, value in data.items()}

    def measure(state):
        values = _evaluate(state["params"], arrays, weights, entropies, config=config)
        return (np.asarray(values[split], np.float64) for split in ("train", "test"))

    def advance(state, chunk):
        # One epoch per chunk (log_every=1); a line only at the logged epochs.
        state = train_epoch(state, data, weights, entropies["train"], config)
        epoch = chunk.stop
        if epoch not in log_epochs:
            return state, None
        train, test = measure(state)
        history = np.array(state["history"])
        history[log_epochs.index(epoch)] = train[:, :2]
        return state | {"history": history}, {
            "epoch": epoch, "bottleneck_weights": list(config.bottleneck_weights),
            **{f"train_{name}": train[:, i] for i, name in enumerate(_COLUMNS)},
            **{f"test_{name}": test[:, i] for i, name in enumerate(_COLUMNS)},
        }  # fmt: skip

    state = run.loop(init_state(config, data), advance, config.num_epochs, log_every=1)
    train, test = measure(state)
    run.save_figure(_plane_figure(config, train, test, state["history"]), "information_plane.png")
    run.save_figure(_accuracy_figure(config, train, test), "accuracy.png")
    per_weight = [
        {"bottleneck_weight": weight}
        | {f"train_{name}": float(train[i, j]) for j, name in enumerate(_COLUMNS)}
        | {f"test_{name}": float(test[i, j]) for j, name in enumerate(_COLUMNS)}
        for i, weight in enumerate(config.bottleneck_weights)
    ]
    best = int(np.argmax(test[:, 3]))
    return {
        "experiment": "variational information bottleneck on digits across its trade-off weight",
        "units": "nats",
        "num_train": len(data["x_train"]),
        "num_test": len(data["x_test"]),
        "label_entropy_train": float(entropies["train"]),
        "label_entropy_test": float(entropies["test"]),
        "models": per_weight,
        "best_test_accuracy": float(test[best, 3]),
        "best_bottleneck_weight": float(config.bottleneck_weights[best]),
        # Data processing on the training set's empirical distribution: lower <= upper.
        "lower_bound_below_upper_bound": bool(np.all(train[:, 1] <= train[:, 0] + 1e-3)),
        "information_zx_upper_decreases_with_weight": bool(np.all(np.diff(train[:, 0]) <= 0)),
    }


def _plane_figure(config, train, test, history) -> Figure:
    figure = Figure(figsize=(6.0, 5.0), layout="constrained")
    ax = figure.subplots()
    colors = _colors(len(config.bottleneck_weights))
    for index, weight in enumerate(config.bottleneck_weights):
        ax.plot(*history[:, index].T, color=colors[index], linewidth=0.8, alpha=0.5)
        ax.scatter(*train[index, :2], color=colors[index], marker="o", label=f"{weight:.0e}")
        ax.scatter(*test[index, :2], color=colors[index], marker="x")
    ax.axhline(
        float(np.log(NUM_CLASSES)), color="k", linestyle=":", linewidth=1, label="log 10 >= H(Y)"
    )
    ax.set_xscale("symlog", linthresh=1.0)  # linear below 1 nat (strong weights), log above
    ax.set_xlim(left=0.0)
    ax.set_xlabel("I(Z;X) upper bound  E KL(p(z|x) || N(0, I))  [nats]")
    ax.set_ylabel("I(Z;Y) lower bound  H(Y) - E[-log q(y|z)]  [nats]")
    ax.set_title(
        "VIB information plane on digits (o: train, x: test; lines: training path)\n"
        "legend: bottleneck weight (Alemi et al.'s beta)",
        fontsize=9,
    )
    ax.legend(fontsize=7, ncol=2)
    return figure


def _accuracy_figure(config, train, test) -> Figure:
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    accuracy_ax, bounds_ax = figure.subplots(1, 2)
    weights = np.asarray(config.bottleneck_weights)
    accuracy_ax.plot(weights, test[:, 3], marker="o", label="test")
    accuracy_ax.plot(weights, train[:, 3], marker="o", linestyle="--", label="train")
    accuracy_ax.set_ylabel(f"accuracy (predictive over {config.num_eval_samples} draws of z)")
    accuracy_ax.set_title("Accuracy against the bottleneck weight", fontsize=9)
    for column, name in ((0, "I(Z;X) upper"), (1, "I(Z;Y) lower")):
        bounds_ax.plot(weights, test[:, column], marker="o", label=f"{name}, test")
        bounds_ax.plot(
            weights, train[:, column], marker="o", linestyle="--", label=f"{name}, train"
        )
    bounds_ax.set_yscale("symlog", linthresh=1.0)
    bounds_ax.set_ylabel("nats")
    bounds_ax.set_title("Both bounds against the bottleneck weight", fontsize=9)
    for ax in (accuracy_ax, bounds_ax):
        if weights[0] > 0:
            ax.set_xscale("log")
        else:  # a zero weight: linear up to the first positive one
            ax.set_xscale("symlog", linthresh=weights[1])
        ax.set_xlabel("bottleneck weight (Alemi et al.'s beta)")
        ax.legend(fontsize=7)
    return figure


def _colors(count: int):
    from matplotlib import colormaps

    return colormaps["viridis"](np.linspace(0.0, 0.9, count))
