r"""Training a small ReLU network by simulated annealing, against gradient descent and Adam.

The classic demonstration that a neural network can be trained without a single
gradient (the annealing of Kirkpatrick, Gelatt & Vecchi 1983 applied to weights):
the parameters ``theta`` of a ``2 - H - 2`` ReLU MLP with a softmax output are the
state of a Metropolis chain whose energy is the training loss

.. math::

    E(\theta) = -\frac{1}{n} \sum_{m=1}^{n} \log \mathrm{softmax}(f_\theta(x_m))_{y_m},

and the temperature follows the geometric law ``T_k = T_0 alpha^{floor(k / m)}``
(``T_0 = 1``, ``alpha = 0.98``, ``m`` = ``steps_per_temperature`` proposals at each
level). A proposal perturbs every weight by ``N(0, step_size^2)`` and is accepted
with probability ``min(1, exp(-Delta E / T_k))``: at first (``T`` much larger than
the loss differences a step makes) the chain wanders freely, later it only goes
downhill, a random-search descent. :func:`statjax.anneal.simulated_annealing`
runs all restarts at once (``vmap``) and keeps the best point of each.

The task, XOR in the plane: inputs ``x ~ N(0, I_2)``, label ``y = 1`` when
``x_0 x_1 > 0`` (first and third quadrants), else ``0``. It is not linearly
separable, and with ``H = 4`` a ReLU net must place its hidden units well to
reach high accuracy; the train and test sets are independent draws.

Comparison at an equal budget: the same initial parameters (one per restart),
the same training set, and the same number ``num_steps`` of *iterations*:
``num_steps`` full-batch Metropolis proposals for annealing (one loss evaluation
each) and ``num_steps`` full-batch steps of plain gradient descent and of Adam
(one loss-and-gradient evaluation each, about three forward passes' worth).
Counted in forward passes the gradient methods therefore get roughly three
times the budget; counted in iterations (and loss evaluations) it is equal.

Every ``record_every`` iterations the current parameters of every restart are
evaluated (training loss, training and test accuracy). The summary reports, per
method, the final test accuracy of every restart (mean, median, best, worst) and
the training loss; for annealing also of the best point visited (lowest training
loss), which is what an annealer returns.

Writes ``curves.png`` (training loss and test accuracy against iterations, mean
over restarts with the min-max band, one line per method), ``metrics.jsonl`` (one
line per record) and ``summary.json``. A checkpoint is taken every
``checkpoint_every`` iterations (a multiple of ``record_every``): a resumed run
continues every method where it stopped and gives the same summary.

Example:
    $ statjax run configs/anneal_mlp.yaml
"""

import dataclasses
import math
from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from statjax.anneal.annealing import simulated_annealing
from statjax.anneal.schedules import geometric_temperature
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.runs import Run

METHODS = ("annealing", "gradient_descent", "adam")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Annealing:
    """Simulated annealing of the weights: geometric cooling, Gaussian proposals."""

    initial_temperature: float = setting(1.0, gt=0, help="T_0, in units of the loss (nats)")
    alpha: float = setting(0.98, gt=0, le=1, help="cooling factor per temperature level")
    steps_per_temperature: int = setting(10, ge=1, help="proposals at each temperature level")
    step_size: float = setting(0.05, gt=0, help="standard deviation of the weight perturbation")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the annealed-MLP experiment; ``checkpoint_every`` counts iterations."""

    hidden_units: int = setting(4, ge=1, help="width H of the hidden ReLU layer (2-H-2 net)")
    num_train: int = setting(512, ge=8, help="training points")
    num_test: int = setting(4096, ge=8, help="test points")
    num_restarts: int = setting(16, ge=1, help="independent restarts (initialisations) per method")
    num_steps: int = setting(5000, ge=1, help="iterations per method: proposals or optimizer steps")
    record_every: int = setting(100, ge=1, help="iterations between evaluations of the curves")
    init_scale: float = setting(1.0, gt=0, help="weights ~ N(0, init_scale^2 / fan_in)")
    learning_rate_gd: float = setting(0.5, gt=0, help="plain gradient descent step")
    learning_rate_adam: float = setting(0.01, gt=0, help="Adam step")
    annealing: Annealing = setting(Annealing(), help="the annealer")

    def validate(self) -> None:
        """The curves are sampled on a regular grid that tiles the run and its checkpoints."""
        if self.num_steps % self.record_every:
            raise ConfigError(
                "num_steps", self.num_steps, f"a multiple of record_every ({self.record_every})"
            )
        if self.checkpoint_every % self.record_every:
            raise ConfigError(
                "checkpoint_every",
                self.checkpoint_every,
                f"a multiple of record_every ({self.record_every})",
            )


# ------------------------------------------------------------------ model and data


def xor_data(key, num_points: int) -> tuple[jax.Array, jax.Array]:
    """``x ~ N(0, I_2)``, ``y = 1`` where ``x_0 x_1 > 0``: ``((n, 2) float32, (n,) int32)``."""
    x = jax.random.normal(key, (num_points, 2))
    return x, (x[:, 0] * x[:, 1] > 0).astype(jnp.int32)


def init_params(key, hidden_units: int, scale: float = 1.0) -> dict:
    """One ``2 - H - 2`` MLP: ``w1 (2, H), b1 (H,), w2 (H, 2), b2 (2,)``, He-like normal weights."""
    key1, key2 = jax.random.split(key)
    return {
        "w1": scale * jax.random.normal(key1, (2, hidden_units)),  # sqrt(2 / fan_in) = 1
        "b1": jnp.zeros(hidden_units),
        "w2": scale * jax.random.normal(key2, (hidden_units, 2)) * math.sqrt(2.0 / hidden_units),
        "b2": jnp.zeros(2),
    }


def logits(params: dict, x: jax.Array) -> jax.Array:
    """``f(x) = W_2 relu(W_1 x + b_1) + b_2``, ``(n, 2)``."""
    return jax.nn.relu(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy (nats): the energy of the annealer."""
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()


def accuracy(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Fraction of points whose most probable class is the label."""
    return jnp.mean(jnp.argmax(logits(params, x), -1) == y)


@jax.jit
def _evaluate(params, x_train, y_train, x_test, y_test):
    """``(train loss, train accuracy, test accuracy)``, each ``(num_restarts,)``."""
    per_restart = jax.vmap(
        lambda p: (
            loss(p, x_train, y_train),
            accuracy(p, x_train, y_train),
            accuracy(p, x_test, y_test),
        )
    )
    return per_restart(params)


@partial(jax.jit, static_argnames=("optimizer", "num_steps"))
def _optimize(optimizer, params, opt_state, x, y, *, num_steps):
    """``num_steps`` full-batch steps of ``optimizer`` on every restart (vmapped)."""

    def one(params, opt_state):
        def step(carry, _):
            params, opt_state = carry
            grads = jax.grad(loss)(params, x, y)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        return jax.lax.scan(step, (params, opt_state), None, length=num_steps)[0]

    return jax.vmap(one)(params, opt_state)


# ------------------------------------------------------------------ the run


def run(config: Config, run: Run) -> dict:
    """Train by annealing, gradient descent and Adam from the same starts; compare.

    Args:
        config: the validated config.
        run: the run folder (metrics, figure, progress bar).

    Returns:
        The summary: per method the final training loss and test accuracy of every
        restart and their statistics, and the curves' grid.
    """
    key = jax.random.key(config.seed)
    key_train, key_test, key_init, key_anneal = jax.random.split(key, 4)
    x_train, y_train = xor_data(key_train, config.num_train)
    x_test, y_test = xor_data(key_test, config.num_test)
    initial = jax.vmap(lambda k: init_params(k, config.hidden_units, config.init_scale))(
        jax.random.split(key_init, config.num_restarts)
    )
    data = (x_train, y_train, x_test, y_test)
    num_records = config.num_steps // config.record_every

    cfg = config.annealing
    geometric_temperature(cfg.initial_temperature, cfg.alpha)  # checks T_0 and alpha
    schedule = jax.tree_util.Partial(
        _level_temperature,
        jnp.float32(cfg.initial_temperature),
        jnp.float32(math.log(cfg.alpha)),
        jnp.int32(cfg.steps_per_temperature),
    )
    energy = jax.tree_util.Partial(_energy, x_train, y_train)
    optimizers = _optimizers(config.learning_rate_gd, config.learning_rate_adam)
    opt_states = {name: jax.vmap(opt.init)(initial) for name, opt in optimizers.items()}
    # Optimizer states are checkpointed as their leaves (optax's empty states have none).
    opt_trees = {name: jax.tree.structure(opt_state) for name, opt_state in opt_states.items()}
    # curves_METHOD: (num_records + 1, 3, num_restarts) loss, train accuracy, test accuracy.
    first = {method: np.asarray(_evaluate(initial, *data)) for method in METHODS}
    state = {
        "params": {method: initial for method in METHODS},
        "opt_states": {name: _leaves_dict(opt_state) for name, opt_state in opt_states.items()},
        "best_energy": np.full(config.num_restarts, np.inf, np.float32),
        "best_params": initial,
        "accepted": np.zeros((), np.float64),
        "curves": {
            method: np.zeros((num_records + 1, *values.shape), values.dtype)
            for method, values in first.items()
        },
    }
    for method, values in first.items():
        state["curves"][method][0] = values

    def advance(state, chunk):
        # One record per chunk: checkpoint_every is a multiple of record_every.
        params = dict(state["params"])
        result = simulated_annealing(
            energy,
            key_anneal,  # the key of step k is fold_in(key, k): chunks equal one run
            params["annealing"],
            chunk.length,
            temperature=schedule,
            step_size=cfg.step_size,
            start_step=chunk.start,
        )
        params["annealing"] = result.position
        accepted = state["accepted"] + float(np.mean(result.acceptance_rate)) * chunk.length
        improved = np.asarray(result.best_energy) < np.asarray(state["best_energy"])
        best_energy = np.where(improved, np.asarray(result.best_energy), state["best_energy"])
        best_params = _where_restart(improved, result.best_position, state["best_params"])
        opt_leaves = {}
        for name, optimizer in optimizers.items():
            opt_state = _from_leaves_dict(opt_trees[name], state["opt_states"][name])
            params[name], opt_state = _optimize(
                optimizer, params[name], opt_state, x_train, y_train, num_steps=chunk.length
            )
            opt_leaves[name] = _leaves_dict(opt_state)
        record = chunk.stop // config.record_every
        metrics = {"temperature": float(schedule(chunk.stop))}
        curves = {method: np.array(values) for method, values in state["curves"].items()}
        for method in METHODS:
            values = np.asarray(_evaluate(params[method], *data))
            curves[method][record] = values
            metrics[f"{method}_loss"] = float(values[0].mean())
            metrics[f"{method}_test_accuracy"] = float(values[2].mean())
        state = {
            "params": params,
            "opt_states": opt_leaves,
            "best_energy": np.asarray(best_energy, np.float32),
            "best_params": best_params,
            "accepted": np.asarray(accepted, np.float64),
            "curves": curves,
        }
        return state, metrics

    state = run.loop(
        state, advance, config.num_steps, log_every=config.record_every, desc="iterations"
    )
    curves = {method: np.asarray(values) for method, values in state["curves"].items()}
    best = np.asarray(_evaluate(state["best_params"], *data))
    summary = _summary(config, curves, best, float(state["accepted"]) / config.num_steps)
    run.save_figure(_curves_figure(summary, curves, config), "curves.png")
    return summary


def _leaves_dict(tree) -> dict:
    """A pytree's leaves as ``{"0": leaf, "1": ...}`` (a structure every checkpoint stores)."""
    return {str(index): leaf for index, leaf in enumerate(jax.tree.leaves(tree))}


def _from_leaves_dict(treedef, leaves: dict):
    """The inverse of :func:`_leaves_dict` for the structure ``treedef``."""
    return jax.tree.unflatten(treedef, [leaves[str(index)] for index in range(len(leaves))])


# Cached: the optimizers are static arguments of ``_optimize``, so the same objects
# (a second run, a resumed one, in this process) reuse its compiled programs.
@lru_cache(maxsize=8)
def _optimizers(learning_rate_gd: float, learning_rate_adam: float) -> dict:
    return {
        "gradient_descent": optax.sgd(learning_rate_gd),
        "adam": optax.adam(learning_rate_adam),
    }


def _where_restart(mask, new, old):
    """Per restart (leading axis), ``new`` where ``mask`` else ``old``."""
    mask = jnp.asarray(mask)
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), a, b), new, old
    )


def _energy(x, y, params):
    return loss(params, x, y)


def _level_temperature(initial_temperature, log_alpha, steps_per_level, step):
    """``T_k = T_0 alpha^{floor(k / m)}``: geometric cooling held ``m`` proposals per level.

    :func:`statjax.anneal.schedules.geometric_temperature` evaluated at the level
    ``floor(k / m)``, written as a ``Partial`` of numbers so that it is a pytree.
    """
    level = jnp.floor_divide(step, steps_per_level).astype(jnp.float32)
    return initial_temperature * jnp.exp(level * log_alpha)


def _statistics(values: np.ndarray) -> dict:
    values = np.asarray(values, np.float64)
    return {
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "max": float(values.max()),
        "min": float(values.min()),
        "per_restart": values.tolist(),
    }


def _summary(config: Config, curves: dict, best: np.ndarray, acceptance: float) -> dict:
    methods = {}
    for method in METHODS:
        final = curves[method][-1]
        methods[method] = {
            "train_loss": _statistics(final[0]),
            "train_accuracy": _statistics(final[1]),
            "test_accuracy": _statistics(final[2]),
        }
    methods["annealing"]["best_visited"] = {
        "train_loss": _statistics(best[0]),
        "train_accuracy": _statistics(best[1]),
        "test_accuracy": _statistics(best[2]),
    }
    methods["annealing"]["acceptance_rate"] = acceptance
    cfg = config.annealing
    final_temperature = cfg.initial_temperature * cfg.alpha ** (
        (config.num_steps - 1) // cfg.steps_per_temperature
    )
    return {
        "experiment": "2-H-2 ReLU MLP on XOR-labelled Gaussians: annealing vs GD vs Adam",
        "network": f"2-{config.hidden_units}-2 ReLU, softmax",
        "budget": (
            f"{config.num_steps} full-batch iterations per restart and method: annealing "
            "proposals (1 loss evaluation each) or optimizer steps (1 loss + gradient each)"
        ),
        "num_restarts": config.num_restarts,
        "final_temperature": final_temperature,
        "final_test_accuracy": {m: methods[m]["test_accuracy"]["mean"] for m in METHODS},
        "methods": methods,
        "iterations": (config.record_every * np.arange(curves["adam"].shape[0])).tolist(),
    }


def _curves_figure(summary: dict, curves: dict, config: Config) -> Figure:
    """Training loss and test accuracy against iterations; mean over restarts, min-max band."""
    figure = Figure(figsize=(11.0, 4.2), layout="constrained")
    axes = figure.subplots(1, 2)
    iterations = np.asarray(summary["iterations"])
    labels = {"annealing": "simulated annealing", "gradient_descent": "gradient descent"}
    for method in METHODS:
        for ax, index in zip(axes, (0, 2), strict=True):
            values = curves[method][:, index]
            (line,) = ax.plot(iterations, values.mean(-1), label=labels.get(method, "Adam"))
            ax.fill_between(
                iterations, values.min(-1), values.max(-1), color=line.get_color(), alpha=0.2
            )
    axes[0].set_yscale("log")
    axes[0].set_ylabel("training loss (cross-entropy, nats)")
    axes[1].set_ylabel("test accuracy")
    axes[1].axhline(0.5, color="k", linewidth=0.6, linestyle=":")
    for ax in axes:
        ax.set_xlabel("iteration (proposal or optimizer step)")
        ax.legend()
    cfg = config.annealing
    figure.suptitle(
        f"{summary['network']} on x0*x1 > 0, {config.num_train} training points, "
        f"{config.num_restarts} restarts; annealing T = {cfg.initial_temperature:g} * "
        f"{cfg.alpha:g}^(k // {cfg.steps_per_temperature}); band: min-max over restarts",
        fontsize=10,
    )
    return figure
