"""A convolutional EBM on scikit-learn's 8x8 digits, trained as Du & Mordatch (2019) do.

The 1797 images (intensities 0..16) are scaled to ``[-1, 1]`` and split into train
and test sets (stratified by label, :func:`experiments.common.load_digits`). A
small swish convolutional energy (:class:`statjax.models.ebm.EnergyConvNet`) is trained
by contrastive divergence with a replay buffer: each update draws
``batch_size`` chains from the buffer (or, with probability ``reinit_prob``,
from uniform noise on ``[-1, 1]``), runs ``num_sampling_steps`` steps of Du &
Mordatch's Langevin kernel (gradient step ``step_size`` on the clipped gradient,
noise ``noise_scale``, pixels kept in ``[-1, 1]``), and takes one Adam step
(``b1 = 0``) on ``mean E(data) - mean E(samples) + alpha mean(E(data)^2 + E(samples)^2)``.

Evaluation: energies of train and test images, of uniform-noise images, of the
replay buffer and of fresh chains (``evaluation.num_chain_steps`` kernel steps
from uniform noise); the probability that a test image has lower energy than a
noise image (the AUC of energy as a data-vs-noise score); and the unbiased MMD^2
(Gaussian kernel, bandwidth the median distance between test images) between
the test images and the train images (a reference under the null), the replay
buffer, the fresh chains and the noise; and beside it the kernel Stein discrepancy
(IMQ kernel, :mod:`statjax.stein`) of the test images, buffer, fresh chains and
noise from the learned energy (it needs ``grad E`` only, no ``log Z``).

Writes ``samples.png`` (test images, replay-buffer samples and fresh-chain
samples side by side), ``energies.png`` (histograms of the energies of data,
noise and samples), ``metrics.jsonl`` and ``summary.json``. Training is
checkpointed every ``checkpoint_every`` updates; ``statjax run --resume`` gives
the same summary as an uninterrupted run.

Example:
    $ statjax run configs/ebm_digits.yaml
"""

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import Partial
from matplotlib.figure import Figure

import statjax
from experiments import common
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import ebm
from statjax.optim import tunable
from statjax.pytree import guarded_jit
from statjax.runs import Run
from statjax.samplers import du_mordatch_langevin

REQUIRES = ("sklearn",)
"""Optional packages this experiment imports lazily (checked before any work)."""

IMAGE_SHAPE = (8, 8, 1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Langevin:
    """Du & Mordatch's short-run Langevin (``statjax.samplers.du_mordatch_langevin``)."""

    step_size: float = setting(10.0, gt=0, help="multiplier of the clipped gradient")
    noise_scale: float = setting(0.005, ge=0, help="noise standard deviation per step")
    grad_clip: float = setting(0.03, gt=0, help="each gradient component clipped to +-this")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Evaluation:
    """Samples and energies measured after training."""

    num_samples: int = setting(256, ge=4, help="images per sample set (buffer, chains, noise)")
    num_chain_steps: int = setting(200, ge=1, help="kernel steps of the fresh chains from noise")
    num_shown: int = setting(32, ge=1, help="images per row set in samples.png")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the digits EBM. ``checkpoint_every`` counts updates."""

    features: tuple[int, ...] = setting((8, 16), ge=1, min_length=1, help="conv channels")
    hidden_size: int = setting(32, ge=1, help="dense width before the energy")
    test_fraction: float = setting(0.2, gt=0, lt=1, help="share of the images held out")
    num_steps: int = setting(1200, ge=1, help="updates")
    batch_size: int = setting(64, ge=2, help="data images and negative chains per update")
    learning_rate: float = setting(5e-4, gt=0, help="Adam step (b1 = 0, b2 = 0.999)")
    num_sampling_steps: int = setting(30, ge=1, help="kernel steps per update")
    buffer_size: int = setting(2000, ge=2, help="replay-buffer images")
    reinit_prob: float = setting(0.05, ge=0, le=1, help="probability of a fresh noise chain")
    regularization: float = setting(0.1, ge=0, help="alpha of alpha (E+^2 + E-^2)")
    data_noise: float = setting(0.005, ge=0, help="s.d. of noise added to data images")
    langevin: Langevin = setting(Langevin(), help="the sampler")
    evaluation: Evaluation = setting(Evaluation(), help="evaluation settings")

    def validate(self) -> None:
        """Checkpoints fall on whole chunks; the buffer holds a batch; samples fit the buffer."""
        if self.num_steps % self.checkpoint_every:
            raise ConfigError(
                "num_steps",
                self.num_steps,
                f"a multiple of checkpoint_every ({self.checkpoint_every})",
            )
        if self.batch_size > self.buffer_size:
            raise ConfigError("batch_size", self.batch_size, f"<= buffer_size ({self.buffer_size})")
        if self.evaluation.num_samples > self.buffer_size:
            raise ConfigError(
                "evaluation.num_samples", self.evaluation.num_samples, "<= buffer_size"
            )


def load_scaled_digits(test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`experiments.common.load_digits` in ``[-1, 1]``, as ``(n, 8, 8, 1)``: (train, test)."""
    data = common.load_digits(seed, test_fraction=test_fraction, scaling="symmetric")
    return (
        data["x_train"].reshape(-1, *IMAGE_SHAPE),
        data["x_test"].reshape(-1, *IMAGE_SHAPE),
    )


def _model(config: Config):
    """The energy (static in the jitted loops: equal modules share a compilation) and the
    optimizer (a tunable one: its numbers are traced, so a new learning rate never recompiles).
    """
    module = ebm.EnergyConvNet(features=tuple(config.features), hidden_size=config.hidden_size)
    optimizer = tunable(optax.adam, learning_rate=config.learning_rate, b1=0.0, b2=0.999)
    return ebm.energy_function(module), optimizer


# The kernel and its parameters are traced (guarded: a user pytree); the steps are static.
_short_run_chains = guarded_jit(ebm.short_run_chains, static_argnames=("num_steps",))
_energies = jax.jit(lambda energy, params, images: energy(params, images), static_argnums=0)


@partial(jax.jit, static_argnums=0)
def _init(energy, key):
    return energy.module.init(key, jnp.zeros(IMAGE_SHAPE))["params"]


def _sampler(config: Config):
    return Partial(
        du_mordatch_langevin, step_size=config.langevin.step_size,
        noise_scale=config.langevin.noise_scale, grad_clip=config.langevin.grad_clip,
        lower=-1.0, upper=1.0,
    )  # fmt: skip


def run(config: Config, run: Run) -> dict:
    """Train with checkpoints every ``checkpoint_every`` updates, then evaluate and plot."""
    train, test = load_scaled_digits(config.test_fraction, config.seed)
    energy, optimizer = _model(config)
    key = jax.random.key(config.seed)
    params = _init(energy, jax.random.fold_in(key, 1))
    state = ebm.init_training(
        jax.random.fold_in(key, 2), params, optimizer, buffer_size=config.buffer_size,
        event_shape=IMAGE_SHAPE,
    )  # fmt: skip
    settings = ebm.ContrastiveDivergenceSettings(
        num_sampling_steps=config.num_sampling_steps, reinit_prob=config.reinit_prob,
        regularization=config.regularization, data_noise=config.data_noise,
    )  # fmt: skip

    def advance(state, chunk):
        # The training state carries its own update count and keys: chunk.start == state.step.
        state, metrics = ebm.train_contrastive_divergence(
            state, train, energy_fn=energy, sampler=_sampler(config), optimizer=optimizer,
            num_steps=chunk.length, batch_size=config.batch_size, settings=settings,
        )  # fmt: skip
        return state, {
            "loss": float(jnp.mean(metrics.loss)),
            "energy_data": float(jnp.mean(metrics.energy_data)),
            "energy_samples": float(jnp.mean(metrics.energy_samples)),
            "test_energy": float(jnp.mean(_energies(energy, state.params, test))),
        }

    state = run.loop(state, advance, config.num_steps, desc="updates")
    samples = _samples(config, energy, state, jax.random.fold_in(key, 3))
    sets = {"train": train, "test": test, **samples}
    # One call on all the images: one compiled program instead of one per set size.
    values = np.asarray(_energies(energy, state.params, np.concatenate(list(sets.values()))))
    offsets = np.cumsum([len(images) for images in sets.values()])[:-1]
    energies = dict(zip(sets, np.split(values, offsets), strict=True))
    summary = _summary(config, train, test, samples, energies)
    # Kernel Stein discrepancy from the learned energy (IMQ; needs grad E only, no log Z).
    bound = energy.bind(state.params)
    count = config.evaluation.num_samples
    summary["ksd_to_model"] = {
        name: float(statjax.stein.kernel_stein_discrepancy(jnp.asarray(images[:count]), bound).ksd)
        for name, images in (("test_images", test), ("replay_buffer", samples["buffer"]),
                             ("fresh_chains", samples["fresh_chains"]),
                             ("uniform_noise", samples["noise"]))
    }  # fmt: skip
    run.save_figure(_samples_figure(config, test, samples), "samples.png")
    run.save_figure(_energies_figure(energies), "energies.png")
    return summary


def _samples(config: Config, energy, state, key) -> dict:
    """Uniform noise, the latest replay-buffer entries and fresh chains from noise."""
    count = config.evaluation.num_samples
    key_noise, key_start, key_chain = jax.random.split(key, 3)
    noise = jax.random.uniform(key_noise, (count, *IMAGE_SHAPE), minval=-1.0, maxval=1.0)
    starts = jax.random.uniform(key_start, (count, *IMAGE_SHAPE), minval=-1.0, maxval=1.0)
    kernel = _sampler(config)(energy.bind(state.params))
    chains, _ = _short_run_chains(
        kernel, key_chain, starts, num_steps=config.evaluation.num_chain_steps
    )
    latest = (int(state.step) * config.batch_size - 1 - np.arange(count)) % config.buffer_size
    return {
        "noise": np.asarray(noise),
        "buffer": np.asarray(state.buffer)[latest],
        "fresh_chains": np.asarray(chains.position),
    }


def _summary(config, train, test, samples, energies) -> dict:
    bandwidth = float(ebm.median_bandwidth(test[: len(test) // 2], test[len(test) // 2 :]))
    count = config.evaluation.num_samples
    reference = test[:count]
    # AUC: P(E(test image) < E(noise image)) over all pairs (ties count one half).
    difference = energies["test"][:, None] - energies["noise"][None, :]
    auc = float(np.mean(difference < 0) + 0.5 * np.mean(difference == 0))
    return {
        "experiment": "Convolutional EBM on 8x8 digits: Du & Mordatch contrastive divergence",
        "num_train": len(train),
        "num_test": len(test),
        "num_updates": config.num_steps,
        "mean_energy": {name: float(values.mean()) for name, values in energies.items()},
        "std_energy": {name: float(values.std()) for name, values in energies.items()},
        "auc_test_below_noise": auc,
        "mmd_bandwidth": bandwidth,
        "mmd2_to_test": {
            "train_images": float(ebm.mmd_squared(train[:count], reference, bandwidth)),
            "replay_buffer": float(ebm.mmd_squared(samples["buffer"], reference, bandwidth)),
            "fresh_chains": float(ebm.mmd_squared(samples["fresh_chains"], reference, bandwidth)),
            "uniform_noise": float(ebm.mmd_squared(samples["noise"], reference, bandwidth)),
        },
    }


def _strip(images: np.ndarray, count: int) -> np.ndarray:
    """``count`` images as two rows of 8 x 8 tiles with a 1-pixel gap."""
    tiles = np.pad(images[:count, :, :, 0], ((0, 0), (1, 0), (1, 0)), constant_values=1.0)
    rows = tiles.reshape(2, count // 2, 9, 9).transpose(0, 2, 1, 3)
    return rows.reshape(18, (count // 2) * 9)


def _samples_figure(config, test, samples) -> Figure:
    count = 2 * (config.evaluation.num_shown // 2) or 2
    panels = [
        ("test images", test),
        ("replay buffer (the chains training used)", samples["buffer"]),
        (f"fresh chains: {config.evaluation.num_chain_steps} Langevin steps from uniform noise",
         samples["fresh_chains"]),
    ]  # fmt: skip
    figure = Figure(figsize=(count * 0.3, 3 * 0.75 + 0.6), layout="constrained")
    axes = figure.subplots(len(panels), 1)
    for ax, (title, images) in zip(axes, panels, strict=True):
        ax.imshow(_strip(images, count), cmap="gray_r", vmin=-1, vmax=1)
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_axis_off()
    figure.suptitle("Digits EBM: data, replay-buffer samples and fresh samples", fontsize=9)
    return figure


def _energies_figure(energies) -> Figure:
    figure = Figure(figsize=(6.0, 3.5), layout="constrained")
    ax = figure.subplots()
    values = np.concatenate(list(energies.values()))
    bins = np.linspace(values.min(), values.max(), 50)
    labels = {"train": "train images", "test": "test images", "noise": "uniform noise",
              "buffer": "replay buffer", "fresh_chains": "fresh chains"}  # fmt: skip
    for name, label in labels.items():
        ax.hist(energies[name], bins=bins, density=True, histtype="step", label=label)
    ax.set_xlabel("energy E(x)")
    ax.set_ylabel("density")
    ax.set_title("Energy of data vs noise vs samples (low energy = likely)", fontsize=9)
    ax.legend(fontsize=7)
    return figure
