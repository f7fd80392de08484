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
from typing import Literal

import jax
import numpy as np

from experiments import common
from experiments.common import NUM_CLASSES, SAMPLERS, Optimizers
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.runs import Run

REQUIRES = ("sklearn",)
"""Optional packages this experiment imports lazily (checked before any work)."""

METHODS = ("sgd", "adam", "sgld", "sghmc", "sgnht", "csgld")


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


def training(config: Config) -> common.Training:
    """The network, budget and step sizes for :func:`experiments.common.train_classifier`."""
    return common.Training(
        seed=config.seed, hidden_sizes=tuple(config.hidden_sizes), num_epochs=config.num_epochs,
        batch_size=config.batch_size, prior_precision=config.prior_precision,
        temperature=config.temperature, burn_in_epochs=config.burn_in_epochs,
        thin=config.thin, max_samples=config.max_samples, optimizers=config.optimizers,
    )  # fmt: skip


def train(method: str, config: Config, data: dict, key) -> dict:
    """Train one method (:func:`experiments.common.train_classifier`)."""
    return common.train_classifier(method, training(config), data, key)


def run(config: Config, run: Run) -> dict:
    """Train every method in turn, checkpointing finished methods; summarise and plot."""
    data = common.load_classification_digits(config.test_fraction, config.num_ood, config.seed)
    num_methods = len(config.methods)
    shapes = {
        "x_test": len(data["x_test"]), "ood_noise": config.num_ood, "ood_shuffled": config.num_ood,
    }  # fmt: skip
    state = {"num_samples": np.zeros(num_methods, np.int64)}
    for name, size in shapes.items():
        state[f"{name}_probs"] = np.zeros((num_methods, size, NUM_CLASSES), np.float32)
        state[f"{name}_mi"] = np.zeros((num_methods, size), np.float32)
    key = jax.random.key(config.seed)

    def advance(state, chunk):
        state = {name: np.array(value) for name, value in state.items()}
        index = chunk.start  # one method per chunk (log_every=1)
        method = config.methods[index]
        outputs = train(method, config, data, jax.random.fold_in(key, index))
        for name in shapes:
            state[f"{name}_probs"][index] = outputs[f"{name}_probs"]
            state[f"{name}_mi"][index] = outputs[f"{name}_mi"]
        state["num_samples"][index] = outputs["num_samples"]
        return state, {
            "method": method, "train_nll_per_epoch": outputs["train_nll"],
            **common.classifier_summary(outputs, data, config.num_bins),
        }  # fmt: skip

    state = run.loop(state, advance, num_methods, log_every=1, desc="methods")
    per_method = {}
    for index, method in enumerate(config.methods):
        outputs = {name: state[name][index] for name in state}
        per_method[method] = common.classifier_summary(outputs, data, config.num_bins)
    methods = list(config.methods)
    run.save_figure(
        common.reliability_figure(state["x_test_probs"], data["y_test"], methods, config.num_bins),
        "reliability.png",
    )
    probs = {name: state[f"{name}_probs"] for name in common.INPUT_SETS}
    run.save_figure(common.entropy_figure(probs, methods), "entropy.png")
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
