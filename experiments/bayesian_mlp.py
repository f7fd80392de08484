"""Bayesian MLP on scikit-learn's digits: SGD and Adam against SG-MCMC posterior ensembles.

A Flax MLP classifies the 8 x 8 digits (1797 images shipped with scikit-learn,
pixels scaled to [0, 1], a stratified train/test split). The energy is the
negative log posterior with a Gaussian prior,

    U(theta) = -sum_i log p(y_i | x_i, theta) + (lambda / 2) |theta|^2,

estimated on minibatches as ``N / n`` times the batch sum. SGD and Adam minimise
``U / N`` (the mean loss plus weight decay ``lambda / N``) and predict with their
final parameters. SGLD, SGHMC, SGNHT and cyclical SGLD sample ``exp(-U / T)`` and
predict with the Bayesian model average over the parameter sets that
:func:`statjax.optim.posterior_collector` kept (after a burn-in, thinned; cSGLD
keeps only its sampling stages). Every method has the same data, minibatches
(the same permutation each epoch), initial parameters and number of gradient
steps.

Reported per method on the test set: accuracy, negative log-likelihood (NLL),
expected calibration error (ECE, equal-width bins), and the mean predictive
entropy and mutual information (epistemic part) on test images and on two
out-of-distribution sets: uniform-noise images and test images with their
pixels shuffled. Plots: ``reliability.png`` (accuracy against confidence per
method) and ``entropy.png`` (histograms of predictive entropy, test vs OOD).

Every number is one training run per method with a fixed seed; there are no
error bars across seeds (run with other ``seed`` values for those).

Checkpoints are taken after every ``checkpoint_every`` finished methods (the
unit here is methods); a resumed run repeats no finished method and gives the
same summary as an uninterrupted one (each method's key is
``fold_in(key, method_index)``).

Example:
    $ statjax run configs/bayesian_mlp.yaml
"""

import dataclasses
import functools
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from statjax import calibration, optim
from statjax.checks import as_key
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.runs import Run
from statjax.thermo import entropy as metrics

METHODS = ("sgd", "adam", "sgld", "sghmc", "sgnht", "csgld")
SAMPLERS = ("sgld", "sghmc", "sgnht", "csgld")
NUM_CLASSES = 10
NUM_PIXELS = 64
_MIN_BIN_COUNT = 5


@dataclasses.dataclass(frozen=True, kw_only=True)
class Optimizers:
    """Step sizes and settings of each method (samplers' rates act on U, optimizers' on U / N)."""

    sgd_learning_rate: float = setting(0.1, gt=0, help="SGD step on the mean loss")
    sgd_momentum: float = setting(0.9, ge=0, lt=1, help="SGD momentum")
    adam_learning_rate: float = setting(1e-3, gt=0, help="Adam step on the mean loss")
    sgld_learning_rate: float = setting(3e-4, gt=0, help="SGLD step lr on U (noise sqrt(2 lr T))")
    sghmc_learning_rate: float = setting(1e-4, gt=0, help="SGHMC eta on U")
    sghmc_friction: float = setting(0.1, gt=0, le=1, help="SGHMC friction alpha per step")
    sgnht_learning_rate: float = setting(1e-4, gt=0, help="SGNHT eta on U")
    sgnht_diffusion: float = setting(0.1, gt=0, help="SGNHT diffusion a (initial thermostat)")
    csgld_step_size: float = setting(1e-3, gt=0, help="cSGLD initial step size alpha_0 on U")
    csgld_num_cycles: int = setting(4, ge=1, help="cSGLD cycles M")
    csgld_exploration: float = setting(0.8, ge=0, lt=1, help="cSGLD exploration fraction beta")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the Bayesian-MLP experiment. ``checkpoint_every`` counts finished methods."""

    methods: tuple[Literal["sgd", "adam", "sgld", "sghmc", "sgnht", "csgld"], ...] = setting(
        METHODS, min_length=1, help="methods to train, in order"
    )
    hidden_sizes: tuple[int, ...] = setting((100,), ge=1, help="widths of the hidden layers")
    test_fraction: float = setting(0.3, gt=0, lt=1, help="share of the digits held out")
    num_epochs: int = setting(100, ge=1, help="passes over the training set, every method")
    batch_size: int = setting(64, ge=1, help="minibatch size")
    prior_precision: float = setting(1.0, gt=0, help="lambda of the Gaussian prior on all weights")
    temperature: float = setting(1.0, gt=0, help="T of the samplers (1: the Bayes posterior)")
    burn_in_epochs: int = setting(30, ge=0, help="samplers: epochs before samples are kept")
    thin: int = setting(20, ge=1, help="samplers: steps between kept samples")
    max_samples: int = setting(100, ge=1, help="samplers: most parameter sets kept (ring buffer)")
    num_bins: int = setting(15, ge=1, help="confidence bins of ECE and the reliability plot")
    num_ood: int = setting(500, ge=1, help="images in each out-of-distribution set")
    optimizers: Optimizers = setting(Optimizers(), help="per-method step sizes")

    def validate(self) -> None:
        """The burn-in must leave steps to sample; methods must not repeat."""
        if self.burn_in_epochs >= self.num_epochs:
            raise ConfigError(
                "burn_in_epochs", self.burn_in_epochs, f"< num_epochs ({self.num_epochs})"
            )
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError("methods", list(self.methods), "each method at most once")


class MLP(nn.Module):
    """ReLU MLP from 64 pixels to 10 logits."""

    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(NUM_CLASSES)(x)


def load_digits(test_fraction: float, num_ood: int, seed: int) -> dict:
    """Digits scaled to [0, 1], a stratified split, and two OOD sets (noise, shuffled pixels)."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    images, labels = sklearn_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, stratify=labels, random_state=seed
    )
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.0, 1.0, (num_ood, NUM_PIXELS)).astype(np.float32)
    picks = x_test[rng.integers(0, len(x_test), num_ood)]
    shuffled = np.take_along_axis(
        picks, rng.permuted(np.tile(np.arange(NUM_PIXELS), (num_ood, 1)), axis=1), 1
    )
    return {
        "x_train": x_train, "y_train": y_train.astype(np.int32),
        "x_test": x_test, "y_test": y_test.astype(np.int32),
        "ood_noise": noise, "ood_shuffled": shuffled.astype(np.float32),
    }  # fmt: skip


def _transform(method: str, config: Config, total_steps: int, key) -> optax.GradientTransformation:
    settings, temperature = config.optimizers, config.temperature
    if method == "sgd":
        return optax.sgd(settings.sgd_learning_rate, momentum=settings.sgd_momentum)
    if method == "adam":
        return optax.adam(settings.adam_learning_rate)
    if method == "sgld":
        return optim.sgld(settings.sgld_learning_rate, temperature, seed=key)
    if method == "sghmc":
        return optim.sghmc(
            settings.sghmc_learning_rate, settings.sghmc_friction, temperature, seed=key
        )
    if method == "sgnht":
        return optim.sgnht(
            settings.sgnht_learning_rate, settings.sgnht_diffusion, temperature, seed=key
        )
    return optim.cyclical_sgld(
        settings.csgld_step_size, total_steps, settings.csgld_num_cycles,
        settings.csgld_exploration, temperature, seed=key,
    )  # fmt: skip


def train(method: str, config: Config, data: dict, key) -> dict:
    """Train one method: its ensemble probabilities on test and OOD inputs, and its loss curve."""
    x_train, y_train = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    samples, losses = _fit(x_train, y_train, as_key(key), method=method, config=config)
    # One call (one compiled program) for the three input sets, split afterwards.
    names = ("x_test", "ood_noise", "ood_shuffled")
    inputs = jnp.asarray(np.concatenate([data[name] for name in names]))
    all_probs = _sample_probs(samples, inputs, hidden_sizes=tuple(config.hidden_sizes))
    weights = np.asarray(samples.mask, np.float32)
    outputs = {"train_nll": np.asarray(losses), "num_samples": int(samples.num_kept)}
    offsets = np.cumsum([len(data[name]) for name in names])[:-1]
    for name, probs in zip(names, np.split(np.asarray(all_probs), offsets, axis=1), strict=True):
        outputs[f"{name}_probs"] = np.tensordot(weights / weights.sum(), probs, axes=1)
        outputs[f"{name}_mi"] = np.asarray(metrics.mutual_information(probs, weights))
    return outputs


# Module-level and keyed on the (frozen, hashable) config, so that training the same
# method again in this process (a resumed run, a test) reuses the compiled program.
@functools.partial(jax.jit, static_argnames=("method", "config"))
def _fit(x_train, y_train, key, *, method: str, config: Config):
    """All epochs of one method in one program: the kept samples and the mean loss per epoch."""
    model = MLP(tuple(config.hidden_sizes))
    num_train = x_train.shape[0]
    steps_per_epoch = num_train // config.batch_size
    total_steps = steps_per_epoch * config.num_epochs
    key_init, key_data = jax.random.split(jax.random.key(config.seed))
    # Same initial parameters and minibatches for every method; only the method's noise differs.
    params = model.init(key_init, x_train[:1])["params"]
    transform = _transform(method, config, total_steps, key)
    is_sampler = method in SAMPLERS
    if is_sampler:
        collector = optim.posterior_collector(
            config.max_samples, config.burn_in_epochs * steps_per_epoch, config.thin
        )
    else:
        collector = optim.posterior_collector(1, total_steps - 1, 1)  # the final parameters
    scale = 1.0 if is_sampler else 1.0 / num_train  # samplers act on U, optimizers on U / N

    def energy(params, x, y):
        log_probs = jax.nn.log_softmax(model.apply({"params": params}, x))
        nll = -jnp.take_along_axis(log_probs, y[:, None], axis=1).mean()
        prior = 0.5 * config.prior_precision * sum(jnp.sum(p**2) for p in jax.tree.leaves(params))
        return num_train * nll + prior, nll

    def step(carry, indices):
        params, opt_state, samples, step_index = carry
        (_, nll), grads = jax.value_and_grad(energy, has_aux=True)(
            params, x_train[indices], y_train[indices]
        )
        grads = jax.tree.map(lambda g: scale * g, grads)
        updates, opt_state = transform.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        keep = True
        if method == "csgld":
            settings = config.optimizers
            keep = optim.is_sampling_phase(
                step_index, total_steps, settings.csgld_num_cycles, settings.csgld_exploration
            )
        samples = collector.collect(samples, params, keep)
        return (params, opt_state, samples, step_index + 1), nll

    def epoch(carry, epoch_index):
        order = jax.random.permutation(jax.random.fold_in(key_data, epoch_index), num_train)
        batches = order[: steps_per_epoch * config.batch_size].reshape(steps_per_epoch, -1)
        carry, nll = jax.lax.scan(step, carry, batches)
        return carry, nll.mean()

    carry = (params, transform.init(params), collector.init(params), jnp.zeros([], jnp.int32))
    (_, _, samples, _), losses = jax.lax.scan(epoch, carry, jnp.arange(config.num_epochs))
    return samples, losses


@functools.partial(jax.jit, static_argnames="hidden_sizes")
def _sample_probs(samples, x, *, hidden_sizes: tuple[int, ...]):
    """Class probabilities ``(capacity, len(x), 10)`` of every kept parameter set."""
    model = MLP(hidden_sizes)
    logits = optim.sample_predictions(lambda p, x: model.apply({"params": p}, x), samples, x)
    return jax.nn.softmax(logits, axis=-1)


def method_summary(outputs: dict, data: dict, num_bins: int) -> dict:
    """Test accuracy, NLL, ECE and in/out-of-distribution entropies of one method's predictions."""
    probs, labels = jnp.asarray(outputs["x_test_probs"]), jnp.asarray(data["y_test"])
    summary = {
        "test_accuracy": float(jnp.mean(jnp.argmax(probs, -1) == labels)),
        "test_nll": float(metrics.negative_log_likelihood(probs, labels)),
        "test_ece": float(calibration.expected_calibration_error(probs, labels, num_bins)),
        "num_samples": int(outputs["num_samples"]),
    }
    for name, label in (("x_test", "test"), ("ood_noise", "noise"), ("ood_shuffled", "shuffled")):
        summary[f"entropy_{label}"] = float(
            jnp.mean(metrics.categorical_entropy(outputs[f"{name}_probs"]))
        )
        summary[f"mutual_information_{label}"] = float(np.mean(outputs[f"{name}_mi"]))
    return summary


def run(config: Config, run: Run) -> dict:
    """Train every method in turn, checkpointing finished methods; summarise and plot."""
    data = load_digits(config.test_fraction, config.num_ood, config.seed)
    num_methods = len(config.methods)
    shapes = {
        "x_test": len(data["x_test"]), "ood_noise": config.num_ood, "ood_shuffled": config.num_ood,
    }  # fmt: skip
    state = {"num_done": np.zeros((), np.int64), "num_samples": np.zeros(num_methods, np.int64)}
    for name, size in shapes.items():
        state[f"{name}_probs"] = np.zeros((num_methods, size, NUM_CLASSES), np.float32)
        state[f"{name}_mi"] = np.zeros((num_methods, size), np.float32)
    restored = run.restore_checkpoint(state)
    if restored is not None:
        state = {name: np.asarray(value) for name, value in restored.state.items()}
    key = jax.random.key(config.seed)
    with run.progress(num_methods, initial=int(state["num_done"])) as progress:
        for index in range(int(state["num_done"]), num_methods):
            method = config.methods[index]
            outputs = train(method, config, data, jax.random.fold_in(key, index))
            for name in shapes:
                state[f"{name}_probs"][index] = outputs[f"{name}_probs"]
                state[f"{name}_mi"][index] = outputs[f"{name}_mi"]
            state["num_samples"][index] = outputs["num_samples"]
            state["num_done"] = np.asarray(index + 1, np.int64)
            run.log(
                index + 1, method=method, train_nll_per_epoch=outputs["train_nll"],
                **method_summary(outputs, data, config.num_bins),
            )  # fmt: skip
            if (index + 1) % config.checkpoint_every == 0 or index + 1 == num_methods:
                run.save_checkpoint(index + 1, state)
            progress.update_to(index + 1)

    per_method = {}
    for index, method in enumerate(config.methods):
        outputs = {name: state[name][index] for name in state if name not in ("num_done",)}
        per_method[method] = method_summary(outputs, data, config.num_bins)
    run.save_figure(reliability_figure(state, data, config), "reliability.png")
    run.save_figure(entropy_figure(state, config), "entropy.png")
    return {
        "experiment": "Bayesian MLP on digits: SGD/Adam vs SG-MCMC posterior ensembles",
        "num_train": len(data["x_train"]),
        "num_test": len(data["x_test"]),
        "num_gradient_steps": (len(data["x_train"]) // config.batch_size) * config.num_epochs,
        "methods": per_method,
        "comparisons": _comparisons(per_method),
    }


def _comparisons(per_method: dict) -> dict:
    """The issue's claims, checked on the measured numbers (reported whether they hold or not)."""
    if "sgd" not in per_method:
        return {}
    sgd = per_method["sgd"]
    result = {}
    for method in SAMPLERS:
        if method in per_method:
            entry = per_method[method]
            result[method] = {
                "lower_nll_than_sgd": entry["test_nll"] < sgd["test_nll"],
                "lower_ece_than_sgd": entry["test_ece"] < sgd["test_ece"],
                "higher_entropy_ood_noise_than_test": entry["entropy_noise"]
                > entry["entropy_test"],
                "higher_entropy_ood_shuffled_than_test": entry["entropy_shuffled"]
                > entry["entropy_test"],
            }
    return result


def reliability_figure(state: dict, data: dict, config: Config) -> Figure:
    """Accuracy against confidence (equal-width bins) for every method in ``state``."""
    figure = Figure(figsize=(5.5, 5.0), layout="constrained")
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], color="k", linestyle=":", linewidth=1, label="calibrated")
    for index, method in enumerate(config.methods):
        accuracy, confidence, count = (
            np.asarray(a)
            for a in calibration.reliability_diagram(
                state["x_test_probs"][index], data["y_test"], config.num_bins
            )
        )
        filled = count >= _MIN_BIN_COUNT  # a bin of one or two images is noise, not calibration
        ax.plot(confidence[filled], accuracy[filled], marker="o", markersize=3, label=method)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(
        f"Reliability on the digits test set ({config.num_bins} bins; "
        f"bins with >= {_MIN_BIN_COUNT} images)\nabove the diagonal: underconfident",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    return figure


def entropy_figure(state: dict, config: Config) -> Figure:
    """Histograms of predictive entropy on test images and the two out-of-distribution sets."""
    num_methods = len(config.methods)
    columns = min(num_methods, 3)
    rows = -(-num_methods // columns)
    figure = Figure(figsize=(4.0 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    bins = np.linspace(0.0, np.log(NUM_CLASSES), 30)
    for index, method in enumerate(config.methods):
        ax = axes[index]
        for name, label in (
            ("x_test", "test"),
            ("ood_noise", "noise"),
            ("ood_shuffled", "shuffled"),
        ):
            values = np.asarray(metrics.categorical_entropy(state[f"{name}_probs"][index]))
            ax.hist(values, bins=bins, histtype="step", density=True, label=label)
        ax.set_title(method)
        ax.set_xlabel("predictive entropy (nats)")
        ax.legend(fontsize=7)
    for ax in axes[num_methods:]:
        ax.set_visible(False)
    figure.suptitle("Predictive entropy: digits test set vs out-of-distribution inputs")
    return figure
