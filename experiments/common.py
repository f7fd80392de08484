"""Data and model helpers shared by the experiments (one place, so that they agree).

**The digits.** :func:`load_digits` is the one loader of scikit-learn's 8 x 8
digits (1797 images, 10 classes, intensities 0..16) for every experiment:

- *split*: a stratified train/test split (``sklearn.model_selection.train_test_split``
  with ``stratify=labels, random_state=seed``), so both parts hold the ten classes
  in the proportions of the whole set and one seed gives one split everywhere;
  the held-out size is ``test_fraction`` of the images (rounded up, scikit-learn's
  rule) or what remains after ``num_train`` training images;
- *scaling* of the pixels ``p`` in 0..16: ``"unit"`` ``p / 16`` in ``[0, 1]``,
  ``"symmetric"`` ``p / 8 - 1`` in ``[-1, 1]``, ``"binary"`` ``1[p > 8]`` (binarised
  at half intensity, as for RBMs).

Images come back flat, ``(n, 64)`` float32, labels ``(n,)`` int32.
:func:`out_of_distribution` adds the two OOD sets of the classifier experiments
(uniform noise, test images with shuffled pixels).

**The classifier.** :class:`MLP` (64 pixels to 10 logits, ReLU) and
:func:`train_classifier`, which trains it by an optimizer (SGD, Adam) or samples
its posterior by SG-MCMC (SGLD, SGHMC, SGNHT, cyclical SGLD) with the same data,
minibatches, initial parameters and budget for every method, and returns its
(ensemble) class probabilities on the test and OOD inputs; :func:`classifier_summary`
scores them, :func:`reliability_figure` and :func:`entropy_figure` plot them.
Used by ``bayesian_mlp`` and ``vi_mlp``.

scikit-learn is imported inside :func:`load_digits` only: an experiment declares it
as its optional dependency so that a missing install is reported before any work.
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
from statjax.config import setting
from statjax.thermo import entropy as metrics

NUM_CLASSES = 10
NUM_PIXELS = 64
NUM_DIGITS = 1797
"""Images in scikit-learn's digits set."""
SAMPLERS = ("sgld", "sghmc", "sgnht", "csgld")
OPTIMIZERS = ("sgd", "adam")
INPUT_SETS = ("x_test", "ood_noise", "ood_shuffled")
"""The inputs every classifier is evaluated on: test images, then the two OOD sets."""
_INPUT_LABELS = {"x_test": "test", "ood_noise": "noise", "ood_shuffled": "shuffled"}
_MIN_BIN_COUNT = 5

Scaling = Literal["unit", "symmetric", "binary"]


# ------------------------------------------------------------------ data


def load_digits(
    seed: int,
    *,
    test_fraction: float | None = None,
    num_train: int | None = None,
    scaling: Scaling = "unit",
) -> dict[str, np.ndarray]:
    """scikit-learn's digits, scaled and split (stratified by label, seeded): the one loader.

    Args:
        seed: ``random_state`` of the split.
        test_fraction: share of the images held out (rounded up); or
        num_train: the number of training images (the rest is the test set).
            Exactly one of the two.
        scaling: ``"unit"`` (``p / 16``), ``"symmetric"`` (``p / 8 - 1``) or
            ``"binary"`` (``p > 8``), for pixel values ``p`` in 0..16.

    Returns:
        ``{"x_train", "y_train", "x_test", "y_test"}``: images ``(n, 64)`` float32,
        labels ``(n,)`` int32.

    Example:
        >>> data = load_digits(0, test_fraction=0.3)
        >>> data["x_train"].shape, data["x_test"].shape, float(data["x_train"].max())
        ((1257, 64), (540, 64), 1.0)
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    if (test_fraction is None) == (num_train is None):
        raise ValueError("give exactly one of test_fraction and num_train.")
    pixels, labels = sklearn_digits(return_X_y=True)
    if scaling == "unit":
        images = pixels / 16.0
    elif scaling == "symmetric":
        images = pixels / 8.0 - 1.0
    elif scaling == "binary":
        images = pixels > 8
    else:
        raise ValueError(f"scaling must be 'unit', 'symmetric' or 'binary', got {scaling!r}.")
    x_train, x_test, y_train, y_test = train_test_split(
        images.astype(np.float32),
        labels,
        test_size=test_fraction,
        train_size=num_train,
        stratify=labels,
        random_state=seed,
    )
    return {
        "x_train": x_train,
        "y_train": y_train.astype(np.int32),
        "x_test": x_test,
        "y_test": y_test.astype(np.int32),
    }


def out_of_distribution(x_test: np.ndarray, num_ood: int, seed: int) -> dict[str, np.ndarray]:
    """Two OOD sets of ``num_ood`` images: uniform noise in [0, 1], test images' pixels shuffled.

    The shuffled images keep the test set's pixel histogram and lose its shapes.
    """
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.0, 1.0, (num_ood, NUM_PIXELS)).astype(np.float32)
    picks = x_test[rng.integers(0, len(x_test), num_ood)]
    order = rng.permuted(np.tile(np.arange(NUM_PIXELS), (num_ood, 1)), axis=1)
    shuffled = np.take_along_axis(picks, order, 1).astype(np.float32)
    return {"ood_noise": noise, "ood_shuffled": shuffled}


def load_classification_digits(test_fraction: float, num_ood: int, seed: int) -> dict:
    """:func:`load_digits` in ``[0, 1]`` with the two OOD sets of :func:`out_of_distribution`."""
    data = load_digits(seed, test_fraction=test_fraction)
    return data | out_of_distribution(data["x_test"], num_ood, seed)


# ------------------------------------------------------------------ the classifier


class MLP(nn.Module):
    """ReLU MLP from 64 pixels to 10 logits."""

    hidden_sizes: tuple[int, ...]

    @nn.compact
    def __call__(self, x):
        for width in self.hidden_sizes:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(NUM_CLASSES)(x)


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
class Training:
    """What :func:`train_classifier` needs: the network, the budget and each method's settings.

    Frozen and hashable: it is the static argument of the compiled training
    program, so the same settings reuse it (a resumed run, a second experiment).
    """

    seed: int
    hidden_sizes: tuple[int, ...]
    num_epochs: int
    batch_size: int
    prior_precision: float
    temperature: float
    burn_in_epochs: int
    thin: int
    max_samples: int
    optimizers: Optimizers = Optimizers()


def _transform(
    method: str, settings: Training, total_steps: int, key
) -> optax.GradientTransformation:
    rates, temperature = settings.optimizers, settings.temperature
    if method == "sgd":
        return optax.sgd(rates.sgd_learning_rate, momentum=rates.sgd_momentum)
    if method == "adam":
        return optax.adam(rates.adam_learning_rate)
    if method == "sgld":
        return optim.sgld(rates.sgld_learning_rate, temperature, seed=key)
    if method == "sghmc":
        return optim.sghmc(rates.sghmc_learning_rate, rates.sghmc_friction, temperature, seed=key)
    if method == "sgnht":
        return optim.sgnht(rates.sgnht_learning_rate, rates.sgnht_diffusion, temperature, seed=key)
    if method == "csgld":
        return optim.cyclical_sgld(
            rates.csgld_step_size, total_steps, rates.csgld_num_cycles,
            rates.csgld_exploration, temperature, seed=key,
        )  # fmt: skip
    raise ValueError(f"unknown method {method!r}; expected one of {OPTIMIZERS + SAMPLERS}.")


def train_classifier(method: str, settings: Training, data: dict, key) -> dict:
    """Train one method; its (ensemble) probabilities on test and OOD inputs, and its loss curve.

    The energy is the negative log posterior with a Gaussian prior,
    ``U(theta) = -sum_i log p(y_i | x_i, theta) + (lambda / 2) |theta|^2``, estimated on
    minibatches as ``N / n`` times the batch sum. SGD and Adam minimise ``U / N`` and
    predict with their final parameters; the samplers sample ``exp(-U / T)`` and
    predict with the Bayesian model average over the parameter sets that
    :func:`statjax.optim.posterior_collector` kept (after ``burn_in_epochs``, every
    ``thin`` steps; cSGLD only in its sampling stages).

    Args:
        method: one of ``sgd, adam, sgld, sghmc, sgnht, csgld``.
        settings: the network, budget and step sizes.
        data: :func:`load_classification_digits`' arrays.
        key: the method's noise.

    Returns:
        ``train_nll`` (mean per epoch), ``num_samples`` (parameter sets kept) and, for
        each of :data:`INPUT_SETS`, ``{name}_probs`` ``(n, 10)`` and the mutual
        information ``{name}_mi`` ``(n,)``.
    """
    x_train, y_train = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    samples, losses = _fit(x_train, y_train, as_key(key), method=method, settings=settings)
    # One call (one compiled program) for the three input sets, split afterwards.
    inputs = jnp.asarray(np.concatenate([data[name] for name in INPUT_SETS]))
    all_probs = _sample_probs(samples, inputs, hidden_sizes=tuple(settings.hidden_sizes))
    weights = np.asarray(samples.mask, np.float32)
    outputs = {"train_nll": np.asarray(losses), "num_samples": int(samples.num_kept)}
    offsets = np.cumsum([len(data[name]) for name in INPUT_SETS])[:-1]
    for name, probs in zip(
        INPUT_SETS, np.split(np.asarray(all_probs), offsets, axis=1), strict=True
    ):
        outputs[f"{name}_probs"] = np.tensordot(weights / weights.sum(), probs, axes=1)
        outputs[f"{name}_mi"] = np.asarray(metrics.mutual_information(probs, weights))
    return outputs


def initial_parameters(settings: Training, x_train) -> tuple[dict, jax.Array]:
    """The MLP's initial parameters (the same for every method) and the minibatch key."""
    key_init, key_data = jax.random.split(jax.random.key(settings.seed))
    params = MLP(tuple(settings.hidden_sizes)).init(key_init, x_train[:1])["params"]
    return params, key_data


# Module-level and keyed on the (frozen, hashable) settings, so that training the same
# method again in this process (a resumed run, a test) reuses the compiled program.
@functools.partial(jax.jit, static_argnames=("method", "settings"))
def _fit(x_train, y_train, key, *, method: str, settings: Training):
    """All epochs of one method in one program: the kept samples and the mean loss per epoch."""
    model = MLP(tuple(settings.hidden_sizes))
    num_train = x_train.shape[0]
    steps_per_epoch = num_train // settings.batch_size
    total_steps = steps_per_epoch * settings.num_epochs
    # Same initial parameters and minibatches for every method; only the method's noise differs.
    params, key_data = initial_parameters(settings, x_train)
    transform = _transform(method, settings, total_steps, key)
    is_sampler = method in SAMPLERS
    if is_sampler:
        collector = optim.posterior_collector(
            settings.max_samples, settings.burn_in_epochs * steps_per_epoch, settings.thin
        )
    else:
        collector = optim.posterior_collector(1, total_steps - 1, 1)  # the final parameters
    scale = 1.0 if is_sampler else 1.0 / num_train  # samplers act on U, optimizers on U / N

    def energy(params, x, y):
        log_probs = jax.nn.log_softmax(model.apply({"params": params}, x))
        nll = -jnp.take_along_axis(log_probs, y[:, None], axis=1).mean()
        prior = 0.5 * settings.prior_precision * sum(jnp.sum(p**2) for p in jax.tree.leaves(params))
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
            rates = settings.optimizers
            keep = optim.is_sampling_phase(
                step_index, total_steps, rates.csgld_num_cycles, rates.csgld_exploration
            )
        samples = collector.collect(samples, params, keep)
        return (params, opt_state, samples, step_index + 1), nll

    def epoch(carry, epoch_index):
        order = jax.random.permutation(jax.random.fold_in(key_data, epoch_index), num_train)
        batches = order[: steps_per_epoch * settings.batch_size].reshape(steps_per_epoch, -1)
        carry, nll = jax.lax.scan(step, carry, batches)
        return carry, nll.mean()

    carry = (params, transform.init(params), collector.init(params), jnp.zeros([], jnp.int32))
    (_, _, samples, _), losses = jax.lax.scan(epoch, carry, jnp.arange(settings.num_epochs))
    return samples, losses


@functools.partial(jax.jit, static_argnames="hidden_sizes")
def _sample_probs(samples, x, *, hidden_sizes: tuple[int, ...]):
    """Class probabilities ``(capacity, len(x), 10)`` of every kept parameter set."""
    model = MLP(hidden_sizes)
    logits = optim.sample_predictions(lambda p, x: model.apply({"params": p}, x), samples, x)
    return jax.nn.softmax(logits, axis=-1)


def classifier_summary(outputs: dict, data: dict, num_bins: int) -> dict:
    """Test accuracy, NLL, ECE and in/out-of-distribution entropies of one method's predictions.

    ECE uses ``num_bins`` equal-width confidence bins; the entropies are the mean
    predictive entropy (nats) and the mean mutual information (the epistemic part)
    on each of :data:`INPUT_SETS`.
    """
    probs, labels = jnp.asarray(outputs["x_test_probs"]), jnp.asarray(data["y_test"])
    summary = {
        "test_accuracy": float(jnp.mean(jnp.argmax(probs, -1) == labels)),
        "test_nll": float(metrics.negative_log_likelihood(probs, labels)),
        "test_ece": float(calibration.expected_calibration_error(probs, labels, num_bins)),
        "num_samples": int(outputs["num_samples"]),
    }
    for name, label in _INPUT_LABELS.items():
        summary[f"entropy_{label}"] = float(
            jnp.mean(metrics.categorical_entropy(outputs[f"{name}_probs"]))
        )
        summary[f"mutual_information_{label}"] = float(np.mean(outputs[f"{name}_mi"]))
    return summary


# ------------------------------------------------------------------ figures


def reliability_figure(
    test_probs: np.ndarray, labels: np.ndarray, methods: list[str], num_bins: int
) -> Figure:
    """Accuracy against confidence (equal-width bins), one line per method.

    Args:
        test_probs: ``(num_methods, n, 10)`` predicted probabilities on the test set.
        labels: ``(n,)`` test labels.
        methods: the methods' names, in the order of ``test_probs``.
        num_bins: confidence bins; bins with fewer than 5 images are not drawn.
    """
    figure = Figure(figsize=(5.5, 5.0), layout="constrained")
    ax = figure.subplots()
    ax.plot([0, 1], [0, 1], color="k", linestyle=":", linewidth=1, label="calibrated")
    for index, method in enumerate(methods):
        accuracy, confidence, count = (
            np.asarray(a)
            for a in calibration.reliability_diagram(test_probs[index], labels, num_bins)
        )
        filled = count >= _MIN_BIN_COUNT  # a bin of one or two images is noise, not calibration
        ax.plot(confidence[filled], accuracy[filled], marker="o", markersize=3, label=method)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(
        f"Reliability on the digits test set ({num_bins} bins; "
        f"bins with >= {_MIN_BIN_COUNT} images)\nabove the diagonal: underconfident",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    return figure


def entropy_figure(probs: dict[str, np.ndarray], methods: list[str]) -> Figure:
    """Histograms of predictive entropy on test images and the two OOD sets, one panel per method.

    Args:
        probs: for each of :data:`INPUT_SETS`, ``(num_methods, n, 10)`` probabilities.
        methods: the methods' names, in that order.
    """
    num_methods = len(methods)
    columns = min(num_methods, 3)
    rows = -(-num_methods // columns)
    figure = Figure(figsize=(4.0 * columns, 3.2 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    maximum = np.log(NUM_CLASSES)
    bins = np.linspace(0.0, maximum, 30)
    for index, method in enumerate(methods):
        ax = axes[index]
        for name, label in _INPUT_LABELS.items():
            values = np.asarray(metrics.categorical_entropy(probs[name][index]))
            ax.hist(values, bins=bins, histtype="step", density=True, label=label)
        ax.axvline(maximum, color="k", linestyle=":", linewidth=0.8)
        ax.set_title(method)
        ax.set_xlabel("predictive entropy H[p(y | x)] (nats; max ln 10)")
        ax.set_ylabel("density (images per nat, normalised)")
        ax.legend(title="inputs", fontsize=7, title_fontsize=7)
    for ax in axes[num_methods:]:
        ax.set_visible(False)
    figure.suptitle("Predictive entropy: digits test set vs out-of-distribution inputs")
    return figure
