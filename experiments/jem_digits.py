"""JEM on scikit-learn's digits against the plain softmax classifier on the same budget.

Two copies of one swish MLP (:class:`statjax.models.jem.JEMClassifier`), from the
same initial parameters, minibatches and Adam settings, are trained for
``num_steps`` updates on the digits scaled to ``[-1, 1]``:

- the **plain classifier**: softmax cross-entropy only
  (``generative_weight = 0``, no sampling);
- **JEM** (Grathwohl et al. 2020): cross-entropy plus the contrastive term of
  ``log p(x)`` with ``E(x) = -logsumexp f(x)``, negatives from
  ``num_sampling_steps`` steps of SGLD (:func:`statjax.samplers.du_mordatch_langevin`)
  started from a replay buffer (5% fresh noise).

Evaluation on the held-out images: accuracy, negative log-likelihood, expected
calibration error (:func:`statjax.calibration.expected_calibration_error`, 15
bins), and out-of-distribution detection against uniform noise and against test
images with shuffled pixels (:func:`experiments.common.out_of_distribution`):
the AUC of the energy ``E(x)`` (lower = in distribution) and of the maximum
softmax probability, for both models. ``samples.png`` shows test images and
JEM's replay-buffer samples.

Example:
    $ statjax run configs/jem_digits.yaml
"""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import Partial
from matplotlib.figure import Figure

from experiments import common
from statjax.calibration import expected_calibration_error
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import jem
from statjax.runs import Run
from statjax.samplers import du_mordatch_langevin

REQUIRES = ("sklearn",)
"""Optional packages this experiment imports lazily (checked before any work)."""

MODELS = ("classifier", "jem")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Langevin:
    """JEM's SGLD: ``x <- x - step_size grad E + noise_scale N(0, 1)``, clipped to [-1, 1]."""

    step_size: float = setting(1.0, gt=0, help="multiplier of the gradient")
    noise_scale: float = setting(0.01, ge=0, help="noise standard deviation per step")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the JEM experiment. ``checkpoint_every`` counts updates."""

    hidden_sizes: tuple[int, ...] = setting((128, 128), ge=1, min_length=1, help="MLP widths")
    test_fraction: float = setting(0.2, gt=0, lt=1, help="share of the images held out")
    num_steps: int = setting(3000, ge=1, help="updates of each model")
    batch_size: int = setting(64, ge=2, help="images per update (and negative chains)")
    learning_rate: float = setting(1e-3, gt=0, help="Adam step")
    generative_weight: float = setting(1.0, ge=0, help="weight of JEM's log p(x) term")
    num_sampling_steps: int = setting(20, ge=1, help="SGLD steps per update (JEM: 20)")
    buffer_size: int = setting(2000, ge=2, help="replay-buffer images")
    reinit_prob: float = setting(0.05, ge=0, le=1, help="probability of a fresh noise chain")
    regularization: float = setting(0.1, ge=0, help="alpha of alpha (E+^2 + E-^2)")
    data_noise: float = setting(0.01, ge=0, help="s.d. of noise on the positives of log p(x)")
    num_ood: int = setting(359, ge=2, help="images per out-of-distribution set")
    num_shown: int = setting(16, ge=2, help="images per row in samples.png")
    langevin: Langevin = setting(Langevin(), help="the sampler")

    def validate(self) -> None:
        """Checkpoints fall on whole chunks; the buffer holds a batch."""
        if self.num_steps % self.checkpoint_every:
            raise ConfigError(
                "num_steps",
                self.num_steps,
                f"a multiple of checkpoint_every ({self.checkpoint_every})",
            )
        if self.batch_size > self.buffer_size:
            raise ConfigError("batch_size", self.batch_size, f"<= buffer_size ({self.buffer_size})")


def _data(config: Config) -> dict[str, np.ndarray]:
    """Digits and the two OOD sets, all mapped from [0, 1] to [-1, 1]."""
    data = common.load_classification_digits(config.test_fraction, config.num_ood, config.seed)
    return {
        name: (2.0 * values - 1.0).astype(np.float32) if name.startswith(("x_", "ood")) else values
        for name, values in data.items()
    }


def _settings(config: Config, model: str) -> jem.JEMSettings:
    if model == "classifier":
        return jem.JEMSettings(generative_weight=0.0, num_sampling_steps=0)
    return jem.JEMSettings(
        generative_weight=config.generative_weight, num_sampling_steps=config.num_sampling_steps,
        reinit_prob=config.reinit_prob, regularization=config.regularization,
        data_noise=config.data_noise,
    )  # fmt: skip


@partial(jax.jit, static_argnums=0)
def _init(model, key):
    # One compiled program: eager, Flax's init would compile every small op on its own.
    return model.module.init(key, jnp.zeros(common.NUM_PIXELS))["params"]


def _auc(inside: np.ndarray, outside: np.ndarray) -> float:
    """P(score(in) < score(out)), ties one half: the AUC of a lower-is-inside score."""
    difference = inside[:, None] - outside[None, :]
    return float(np.mean(difference < 0) + 0.5 * np.mean(difference == 0))


def run(config: Config, run: Run) -> dict:
    """Train both models side by side (checkpointed), then evaluate and plot."""
    data = _data(config)
    model = jem.jem(jem.JEMClassifier(hidden_sizes=tuple(config.hidden_sizes)))
    optimizer = optax.adam(config.learning_rate)
    sampler = Partial(
        du_mordatch_langevin, step_size=config.langevin.step_size,
        noise_scale=config.langevin.noise_scale, lower=-1.0, upper=1.0,
    )  # fmt: skip
    key = jax.random.key(config.seed)
    params = _init(model, jax.random.fold_in(key, 1))
    # Same initial parameters and the same key (hence minibatches) for both models.
    state = jem.init_training(
        jax.random.fold_in(key, 2), params, optimizer, buffer_size=config.buffer_size,
        event_shape=(common.NUM_PIXELS,),
    )  # fmt: skip
    states = {name: state for name in MODELS}

    def advance(states, chunk):
        metrics = {}
        for name in MODELS:
            states[name], values = jem.train_jem(
                states[name], data["x_train"], data["y_train"], model=model, sampler=sampler,
                optimizer=optimizer, num_steps=chunk.length, batch_size=config.batch_size,
                settings=_settings(config, name),
            )  # fmt: skip
            metrics[f"{name}_cross_entropy"] = float(jnp.mean(values.cross_entropy))
            metrics[f"{name}_train_accuracy"] = float(jnp.mean(values.accuracy))
        return states, metrics

    states = run.loop(states, advance, config.num_steps, desc="updates")
    summary = {"experiment": "JEM vs softmax classifier on digits", "num_updates": config.num_steps}
    for name in MODELS:
        summary[name] = _evaluate(model, states[name].params, data)
    summary["accuracy_difference_jem_minus_classifier"] = (
        summary["jem"]["accuracy"] - summary["classifier"]["accuracy"]
    )
    latest = (config.num_steps * config.batch_size - 1 - np.arange(config.num_shown)) % len(
        states["jem"].buffer
    )
    samples = np.asarray(states["jem"].buffer)[latest]
    run.save_figure(_samples_figure(data["x_test"][: config.num_shown], samples), "samples.png")
    return summary


_ece = jax.jit(partial(expected_calibration_error, num_bins=15))
_logits = jax.jit(lambda model, params, x: model.logits(params, x), static_argnums=0)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def _evaluate(model, params, data) -> dict:
    names = ("x_test", "ood_noise", "ood_shuffled")
    # One compiled call on all the inputs; the rest is numpy (no small programs to compile).
    values = np.asarray(_logits(model, params, np.concatenate([data[n] for n in names])), float)
    offsets = np.cumsum([len(data[n]) for n in names])[:-1]
    logits = dict(zip(names, np.split(values, offsets), strict=True))
    log_probs = {name: _log_softmax(v) for name, v in logits.items()}
    # E = -logsumexp f, and log_softmax_0 = f_0 - logsumexp f.
    energy = {name: log_probs[name][:, 0] - v[:, 0] for name, v in logits.items()}
    max_prob = {name: -np.exp(v.max(-1)) for name, v in log_probs.items()}
    labels = data["y_test"]
    probs = np.exp(log_probs["x_test"])
    result = {
        "accuracy": float(np.mean(np.argmax(logits["x_test"], -1) == labels)),
        "nll": float(-np.mean(log_probs["x_test"][np.arange(len(labels)), labels])),
        "ece": float(_ece(probs, labels)),
    }
    for ood in ("ood_noise", "ood_shuffled"):
        result[f"auc_energy_{ood[4:]}"] = _auc(energy["x_test"], energy[ood])
        result[f"auc_max_softmax_{ood[4:]}"] = _auc(max_prob["x_test"], max_prob[ood])
    return result


def _samples_figure(test: np.ndarray, samples: np.ndarray) -> Figure:
    figure = Figure(figsize=(len(test) * 0.4, 1.8), layout="constrained")
    axes = figure.subplots(2, 1)
    for ax, (title, images) in zip(
        axes, [("test images", test), ("JEM replay-buffer samples", samples)], strict=True
    ):
        tiles = np.pad(images.reshape(-1, 8, 8), ((0, 0), (1, 0), (1, 0)), constant_values=-1.0)
        ax.imshow(np.concatenate(list(tiles), axis=1), cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_axis_off()
    return figure
