"""Variational free energy on digits: mean-field VI at several temperatures vs SGLD and SGD.

The data, network, split, OOD sets, metrics and baselines are those of
``experiments.bayesian_mlp``, shared through :mod:`experiments.common`: a 64-H-10 ReLU MLP on
scikit-learn's 8 x 8 digits, the energy

    U(w) = loss(w) - log p(w),   loss = -sum_i log p(y_i | x_i, w),   p = N(0, 1 / lambda),

and the same minibatches, initial parameters and number of gradient steps for
every method.

Mean-field VI (Bayes by backprop, Blundell et al. 2015, with the local
reparameterisation trick, Kingma, Salimans & Welling 2015; the layers are
:class:`statjax.models.variational.MeanFieldDense`) minimises, with Adam, the
variational free energy at temperature ``T``

    F_T[q] = <U>_q - T S[q] = E_q[loss] + E_q[-log p] - T H[q],

whose minimiser over all distributions is the tempered posterior ``exp(-U / T)``
(``T = 1``: the Bayes posterior, ``F = E_q[loss] + KL(q || p)``; ``T < 1``: a
"cold" posterior, Wenzel et al. 2020). The temperature is a traced argument of the
one compiled training program, optionally following a linear warm-up schedule
``T_k = T min(1, k / K)``. ``tempering: likelihood`` tempers the KL term only
(``F = E_q[loss] + T KL(q || p)``).

Reported for each VI temperature: the free energy and its parts over training
(per-epoch means of the one-draw minibatch estimates) and at the end (``E_q[loss]``
on the whole training set averaged over ``num_free_energy_samples`` draws, with its
standard error; the prior and entropy terms are exact), the gap between the two
decompositions ``<U> - T S`` and ``E_q[loss] + T KL(q || p_T) - T log Z_T``
(``p_T = p^{1/T} / Z_T``), and, for every method, test accuracy, NLL, ECE and the
predictive entropy on test, uniform-noise and shuffled-pixel images. VI predicts
with the Bayesian model average over ``num_predictive_samples`` weight draws
from ``q``; SGLD with its kept samples; SGD with its final weights. Plots:
``free_energy.png``, ``comparison.png``, ``reliability.png`` and ``entropy.png``.

VI's noise comes from the ``"rbg"`` PRNG (``jax.random.key(seed, impl="rbg")``),
which compiles several times faster than threefry on the CPU; the baselines keep
bayesian_mlp's threefry keys, and the initial weights and minibatch order are
bayesian_mlp's for every method.

Every number is one run per method with a fixed seed; no error bars across seeds.
Checkpoints are taken after every ``checkpoint_every`` finished methods (the unit
here is methods); a resumed run gives the same summary.

Example:
    $ statjax run configs/vi_mlp.yaml
"""

import dataclasses
import functools
import math
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from experiments import common
from experiments.common import INPUT_SETS, MLP, NUM_CLASSES
from statjax.checks import as_key
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import variational
from statjax.models.regularizers import GaussianPrior
from statjax.runs import Run
from statjax.thermo import entropy as metrics

REQUIRES = ("sklearn",)
"""Optional packages this experiment imports lazily (checked before any work)."""

CURVE_NAMES = ("free_energy", "energy", "entropy", "kl", "expected_loss")
FINAL_NAMES = (
    "free_energy", "free_energy_stderr", "energy", "expected_loss", "prior_energy",
    "entropy", "kl", "free_energy_kl_form",
)  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variational:
    """Mean-field VI settings."""

    learning_rate: float = setting(1e-2, gt=0, help="Adam step on F / N")
    init_scale: float = setting(0.02, gt=0, help="initial posterior std of every weight")
    warmup_epochs: int = setting(0, ge=0, help="epochs of linear temperature warm-up 0 -> T")
    tempering: Literal["posterior", "likelihood"] = setting(
        "posterior", help="temper U as a whole (exp(-U/T)) or only the KL term"
    )
    num_predictive_samples: int = setting(100, ge=1, help="weight draws of the predictive")
    num_free_energy_samples: int = setting(20, ge=2, help="draws of E_q[loss] for the final F")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Baselines:
    """SGLD ensemble and SGD settings (:func:`experiments.common.train_classifier`)."""

    methods: tuple[Literal["sgd", "adam", "sgld", "sghmc", "sgnht", "csgld"], ...] = setting(
        ("sgld", "sgd"), help="bayesian_mlp methods to compare against"
    )
    temperature: float = setting(1.0, gt=0, help="T of the SG-MCMC samplers")
    sgd_learning_rate: float = setting(0.1, gt=0, help="SGD step on the mean loss")
    sgd_momentum: float = setting(0.9, ge=0, lt=1, help="SGD momentum")
    sgld_learning_rate: float = setting(3e-4, gt=0, help="SGLD step on U")
    burn_in_epochs: int = setting(30, ge=0, help="samplers: epochs before samples are kept")
    thin: int = setting(20, ge=1, help="samplers: steps between kept samples")
    max_samples: int = setting(100, ge=1, help="samplers: most parameter sets kept")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the VI experiment. ``checkpoint_every`` counts finished methods."""

    temperatures: tuple[float, ...] = setting(
        (1.0, 0.1), gt=0, min_length=1, help="VI temperatures T (1: Bayes; < 1: cold)"
    )
    hidden_sizes: tuple[int, ...] = setting((100,), ge=1, help="widths of the hidden layers")
    test_fraction: float = setting(0.3, gt=0, lt=1, help="share of the digits held out")
    num_epochs: int = setting(100, ge=1, help="passes over the training set, every method")
    batch_size: int = setting(64, ge=1, help="minibatch size")
    prior_precision: float = setting(1.0, gt=0, help="lambda of the Gaussian prior")
    num_bins: int = setting(15, ge=1, help="confidence bins of ECE and the reliability plot")
    num_ood: int = setting(500, ge=1, help="images in each out-of-distribution set")
    variational: Variational = setting(Variational(), help="mean-field VI settings")
    baselines: Baselines = setting(Baselines(), help="SGLD / SGD settings")

    def validate(self) -> None:
        """Temperatures and methods must not repeat; the burn-in must leave steps to sample."""
        if len(set(self.temperatures)) != len(self.temperatures):
            raise ConfigError("temperatures", list(self.temperatures), "distinct values")
        if len(set(self.baselines.methods)) != len(self.baselines.methods):
            raise ConfigError("baselines.methods", list(self.baselines.methods), "no repeats")
        if self.baselines.methods and self.baselines.burn_in_epochs >= self.num_epochs:
            raise ConfigError(
                "baselines.burn_in_epochs",
                self.baselines.burn_in_epochs,
                f"< num_epochs ({self.num_epochs})",
            )
        if self.variational.warmup_epochs > self.num_epochs:
            raise ConfigError(
                "variational.warmup_epochs",
                self.variational.warmup_epochs,
                f"<= num_epochs ({self.num_epochs})",
            )


def method_labels(config: Config) -> list[str]:
    """``vi_T1``, ``vi_T0.1``, ... then the baselines, in training order."""
    return [f"vi_T{t:g}" for t in config.temperatures] + list(config.baselines.methods)


class VariationalMLP(nn.Module):
    """The bayesian_mlp MLP with mean-field layers; its means are an ``MLP`` parameter set."""

    hidden_sizes: tuple[int, ...]
    init_scale: float

    @nn.compact
    def __call__(self, x, deterministic: bool = False):
        layers = (*self.hidden_sizes, NUM_CLASSES)
        for index, width in enumerate(layers):
            # nn.Dense's names, so that params has exactly the structure of MLP's.
            dense = variational.MeanFieldDense(
                width, init_scale=self.init_scale, name=f"Dense_{index}"
            )
            x = dense(x, deterministic)
            if index < len(layers) - 1:
                x = nn.relu(x)
        return x


def _baseline_training(config: Config) -> common.Training:
    """The baselines' settings (same data, seed, budget and initial weights as VI)."""
    settings = config.baselines
    return common.Training(
        seed=config.seed, hidden_sizes=tuple(config.hidden_sizes), num_epochs=config.num_epochs,
        batch_size=config.batch_size, prior_precision=config.prior_precision,
        temperature=settings.temperature, burn_in_epochs=settings.burn_in_epochs,
        thin=settings.thin, max_samples=settings.max_samples,
        optimizers=common.Optimizers(
            sgd_learning_rate=settings.sgd_learning_rate, sgd_momentum=settings.sgd_momentum,
            sgld_learning_rate=settings.sgld_learning_rate,
        ),
    )  # fmt: skip


def _tempered_prior_log_normalizer(prior: GaussianPrior, params, temperature):
    """``log Z_T = log int p(w)^{1/T} dw`` for ``p = N(0, 1/lambda)``, summed over ``params``."""
    num_params = sum(np.size(w) for w in jax.tree_util.tree_leaves(params))
    precision = prior.precision
    return num_params * (
        jnp.log(precision / (2 * math.pi)) / (2 * temperature)
        + 0.5 * jnp.log(2 * math.pi * temperature / precision)
    )


# Module-level and keyed on the (frozen, hashable) config: every VI temperature (a
# traced argument) and a resumed run reuse the one compiled program.
@functools.partial(jax.jit, static_argnames="config")
def _fit_and_evaluate_vi(x_train, y_train, inputs, temperature, key, *, config: Config):
    """Training and evaluation in one program (one compilation): curves, final terms, probs."""
    key_fit, key_eval = jax.random.split(key)
    variables, curves = _fit_vi(x_train, y_train, temperature, key_fit, config)
    final, probs = _evaluate_vi(variables, x_train, y_train, inputs, temperature, key_eval, config)
    return curves, final, probs


def _fit_vi(x_train, y_train, temperature, key, config: Config):
    """All epochs of VI at one temperature: final variables and per-epoch free-energy parts."""
    settings = config.variational
    model = VariationalMLP(tuple(config.hidden_sizes), settings.init_scale)
    prior = GaussianPrior(precision=config.prior_precision)
    num_train = x_train.shape[0]
    steps_per_epoch = num_train // config.batch_size
    # The baselines' initial parameters as the initial means, and their minibatch key.
    initial, key_data = common.initial_parameters(_baseline_training(config), x_train)
    variables = {
        "params": initial,
        variational.RHO_COLLECTION: variational.init_rho(initial, settings.init_scale),
    }
    optimizer = optax.adam(settings.learning_rate)
    warmup_steps = settings.warmup_epochs * steps_per_epoch

    def objective(variables, x, y, step_key, step_temperature):
        logits = model.apply(variables, x, rngs={"variational": step_key})
        log_probs = jax.nn.log_softmax(logits)
        nll = -jnp.take_along_axis(log_probs, y[:, None], axis=1).mean()
        mean, scale = variational.split_variables(variables)
        terms = variational.variational_free_energy(
            num_train * nll, mean, scale, prior, step_temperature, tempering=settings.tempering
        )
        # Reported at the target temperature (energy and entropy do not depend on T).
        reported = variational.variational_free_energy(
            num_train * nll, mean, scale, prior, temperature, tempering=settings.tempering
        )
        return terms.free_energy / num_train, reported

    def step(carry, indices):
        variables, opt_state, step_index = carry
        if warmup_steps:
            step_temperature = temperature * jnp.minimum(1.0, step_index / warmup_steps)
        else:
            step_temperature = temperature
        grads, terms = jax.grad(objective, has_aux=True)(
            variables, x_train[indices], y_train[indices],
            jax.random.fold_in(key, step_index), step_temperature,
        )  # fmt: skip
        updates, opt_state = optimizer.update(grads, opt_state, variables)
        variables = optax.apply_updates(variables, updates)
        curve = jnp.stack([getattr(terms, name) for name in CURVE_NAMES])
        return (variables, opt_state, step_index + 1), curve

    def epoch(carry, epoch_index):
        order = jax.random.permutation(jax.random.fold_in(key_data, epoch_index), num_train)
        batches = order[: steps_per_epoch * config.batch_size].reshape(steps_per_epoch, -1)
        carry, curves = jax.lax.scan(step, carry, batches)
        return carry, curves.mean(0)

    carry = (variables, optimizer.init(variables), jnp.zeros([], jnp.int32))
    (variables, _, _), curves = jax.lax.scan(epoch, carry, jnp.arange(config.num_epochs))
    return variables, curves


def _evaluate_vi(variables, x_train, y_train, inputs, temperature, key, config: Config):
    """Final free-energy parts on the whole training set, and predictive draws on ``inputs``."""
    settings = config.variational
    model = VariationalMLP(tuple(config.hidden_sizes), settings.init_scale)
    prior = GaussianPrior(precision=config.prior_precision)
    key_loss, key_predict = jax.random.split(key)

    def summed_nll(sample_key):
        logits = model.apply(variables, x_train, rngs={"variational": sample_key})
        return -jnp.sum(jnp.take_along_axis(jax.nn.log_softmax(logits), y_train[:, None], 1))

    losses = jax.lax.map(summed_nll, jax.random.split(key_loss, settings.num_free_energy_samples))
    mean, scale = variational.split_variables(variables)
    terms = variational.variational_free_energy(
        losses.mean(), mean, scale, prior, temperature, tempering=settings.tempering
    )
    if settings.tempering == "posterior":  # the KL form with the tempered prior p_T
        tempered = GaussianPrior(precision=config.prior_precision / temperature)
        kl_form = (
            terms.expected_loss
            + temperature * variational.mean_field_kl(mean, scale, tempered)
            - temperature * _tempered_prior_log_normalizer(prior, mean, temperature)
        )
    else:
        kl_form = terms.expected_loss + temperature * terms.kl
    final = {name: getattr(terms, name) for name in FINAL_NAMES if hasattr(terms, name)}
    final["free_energy_stderr"] = losses.std(ddof=1) / jnp.sqrt(losses.size)
    final["free_energy_kl_form"] = kl_form

    network = MLP(tuple(config.hidden_sizes))
    weights = jax.vmap(variational.sample_params, (0, None, None))(
        jax.random.split(key_predict, settings.num_predictive_samples), mean, scale
    )
    probs = jax.lax.map(
        lambda w: jax.nn.softmax(network.apply({"params": w}, inputs), axis=-1), weights
    )
    return jnp.stack([final[name] for name in FINAL_NAMES]), probs


def train_vi(temperature: float, config: Config, data: dict, key) -> dict:
    """VI at one temperature: curves, final free energy, ensemble probabilities on test and OOD."""
    x_train, y_train = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    inputs = jnp.asarray(np.concatenate([data[name] for name in INPUT_SETS]))
    curves, final, all_probs = _fit_and_evaluate_vi(
        x_train, y_train, inputs, jnp.float32(temperature), as_key(key), config=config
    )
    outputs = {
        "curves": np.asarray(curves, np.float64),
        "final": np.asarray(final, np.float64),
        "num_samples": config.variational.num_predictive_samples,
    }
    offsets = np.cumsum([len(data[name]) for name in INPUT_SETS])[:-1]
    for name, probs in zip(
        INPUT_SETS, np.split(np.asarray(all_probs), offsets, axis=1), strict=True
    ):
        outputs[f"{name}_probs"] = probs.mean(0)
        outputs[f"{name}_mi"] = np.asarray(metrics.mutual_information(probs))
    return outputs


def train_baseline(method: str, config: Config, data: dict, key) -> dict:
    """One baseline (bayesian_mlp's training) on the same data, minibatches and budget."""
    return common.train_classifier(method, _baseline_training(config), data, key)


def run(config: Config, run: Run) -> dict:
    """Train VI at every temperature, then the baselines, checkpointing finished methods."""
    data = common.load_classification_digits(config.test_fraction, config.num_ood, config.seed)
    labels = method_labels(config)
    num_methods, num_vi = len(labels), len(config.temperatures)
    sizes = {
        "x_test": len(data["x_test"]),
        "ood_noise": config.num_ood,
        "ood_shuffled": config.num_ood,
    }
    state = {
        "num_samples": np.zeros(num_methods, np.int64),
        "curves": np.zeros((num_vi, config.num_epochs, len(CURVE_NAMES)), np.float64),
        "final": np.zeros((num_vi, len(FINAL_NAMES)), np.float64),
    }
    for name, size in sizes.items():
        state[f"{name}_probs"] = np.zeros((num_methods, size, NUM_CLASSES), np.float32)
        state[f"{name}_mi"] = np.zeros((num_methods, size), np.float32)
    key = jax.random.key(config.seed)
    # VI's noise comes from the "rbg" generator: on the CPU it compiles several times
    # faster than threefry (the baselines keep bayesian_mlp's threefry keys).
    vi_key = jax.random.key(config.seed, impl="rbg")

    def advance(state, chunk):
        state = {name: np.array(value) for name, value in state.items()}
        index = chunk.start  # one method per chunk (log_every=1)
        extra = {}
        if index < num_vi:
            method_key = jax.random.fold_in(vi_key, index)
            outputs = train_vi(config.temperatures[index], config, data, method_key)
            state["curves"][index] = outputs["curves"]
            state["final"][index] = outputs["final"]
            extra = _vi_summary(state, index, config)
        else:
            method_key = jax.random.fold_in(key, index)
            outputs = train_baseline(labels[index], config, data, method_key)
        for name in sizes:
            state[f"{name}_probs"][index] = outputs[f"{name}_probs"]
            state[f"{name}_mi"][index] = outputs[f"{name}_mi"]
        state["num_samples"][index] = outputs["num_samples"]
        return state, {
            "method": labels[index],
            **common.classifier_summary(outputs, data, config.num_bins), **extra,
        }  # fmt: skip

    state = run.loop(state, advance, num_methods, log_every=1, desc="methods")

    per_method = {}
    for index, label in enumerate(labels):
        outputs = {name: state[name][index] for name in state if name.endswith(("_probs", "_mi"))}
        outputs["num_samples"] = state["num_samples"][index]
        per_method[label] = common.classifier_summary(outputs, data, config.num_bins)
        if index < num_vi:
            per_method[label].update(_vi_summary(state, index, config))
    run.save_figure(_free_energy_figure(state, config), "free_energy.png")
    run.save_figure(_comparison_figure(per_method), "comparison.png")
    run.save_figure(
        common.reliability_figure(state["x_test_probs"], data["y_test"], labels, config.num_bins),
        "reliability.png",
    )
    probs = {name: state[f"{name}_probs"] for name in INPUT_SETS}
    run.save_figure(common.entropy_figure(probs, labels), "entropy.png")
    return {
        "experiment": "Mean-field VI (free energy) vs SGLD ensemble vs SGD on digits",
        "tempering": config.variational.tempering,
        "num_train": len(data["x_train"]),
        "num_test": len(data["x_test"]),
        "num_gradient_steps": (len(data["x_train"]) // config.batch_size) * config.num_epochs,
        "methods": per_method,
        "comparisons": _comparisons(per_method, config),
    }


def _vi_summary(state: dict, index: int, config: Config) -> dict:
    """Final free-energy parts of VI run ``index`` (nats, whole training set)."""
    final = dict(zip(FINAL_NAMES, state["final"][index].tolist(), strict=True))
    temperature = config.temperatures[index]
    final["temperature"] = temperature
    # Both decompositions of F, evaluated independently; their gap is float rounding.
    final["decomposition_gap"] = abs(final["free_energy_kl_form"] - final["free_energy"])
    final["energy_minus_t_entropy_gap"] = abs(
        final["energy"] - temperature * final["entropy"] - final["free_energy"]
    )
    final["train_free_energy_first_epoch"] = float(state["curves"][index, 0, 0])
    return final


def _comparisons(per_method: dict, config: Config) -> dict:
    """The claims, checked on the measured numbers (reported whether they hold or not)."""
    result = {}
    vi_labels = [label for label in per_method if label.startswith("vi_")]
    if "sgd" in per_method:
        sgd = per_method["sgd"]
        for label in [*vi_labels, *(m for m in config.baselines.methods if m != "sgd")]:
            entry = per_method[label]
            result[f"{label}_vs_sgd"] = {
                "lower_nll": entry["test_nll"] < sgd["test_nll"],
                "lower_ece": entry["test_ece"] < sgd["test_ece"],
                "higher_entropy_noise": entry["entropy_noise"] > sgd["entropy_noise"],
            }
    for label in vi_labels:
        entry = per_method[label]
        result[f"{label}_free_energy_decreased"] = (
            entry["free_energy"] < entry["train_free_energy_first_epoch"]
        )
    return result


def _free_energy_figure(state: dict, config: Config) -> Figure:
    figure = Figure(figsize=(13.0, 3.8), layout="constrained")
    axes = figure.subplots(1, 4)
    epochs = np.arange(1, config.num_epochs + 1)
    titles = {
        "free_energy": "free energy F = <U> - T S",
        "energy": "energy <U> = E_q[loss] + E_q[-log p]",
        "expected_loss": "data part E_q[loss] (summed NLL)",
        "entropy": "entropy S = H[q]",
    }
    for ax, (name, title) in zip(axes, titles.items(), strict=True):
        column = CURVE_NAMES.index(name)
        for index, temperature in enumerate(config.temperatures):
            ax.plot(epochs, state["curves"][index, :, column], label=f"T = {temperature:g}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats")
        if name == "expected_loss":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    figure.suptitle(
        "Mean-field VI on digits: per-epoch means of one-draw minibatch estimates "
        f"(tempering: {config.variational.tempering}; F at the target T)",
        fontsize=10,
    )
    return figure


def _comparison_figure(per_method: dict) -> Figure:
    figure = Figure(figsize=(13.0, 3.6), layout="constrained")
    axes = figure.subplots(1, 4)
    labels = list(per_method)
    panels = (
        ("test_accuracy", "test accuracy"),
        ("test_nll", "test NLL (nats)"),
        ("test_ece", "test ECE"),
        ("entropy_noise", "mean predictive entropy,\nnoise images (nats; max ln 10)"),
    )
    for ax, (key, title) in zip(axes, panels, strict=True):
        values = [per_method[label][key] for label in labels]
        ax.bar(np.arange(len(labels)), values, color=[f"C{i}" for i in range(len(labels))])
        ax.set_xticks(np.arange(len(labels)), labels, rotation=30, fontsize=8)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylim(min(per_method[label]["test_accuracy"] for label in labels) - 0.05, 1.0)
    figure.suptitle("VI at each temperature vs SGLD ensemble vs SGD (digits test set)")
    return figure
