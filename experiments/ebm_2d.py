"""Deep EBMs on 2-D toy densities: contrastive divergence vs denoising score matching.

Three data sets whose densities are known exactly:

- ``ring``: eight Gaussians on a circle (``statjax.energy.RingOfGaussians``, radius 2,
  standard deviation 0.25), closed-form density;
- ``moons``: two half circles of radius 1 with Gaussian noise (s.d. 0.1), as
  ``sklearn.datasets.make_moons`` builds them but with uniformly random angles, so
  the density is ``p(x) = 1/2 sum_moon (1/pi) int_0^pi N(x; c_moon(t), 0.1^2 I) dt``,
  a 1-D integral computed here by the trapezoid rule over 1001 angles (no KDE);
- ``checkerboard``: uniform on the eight unit squares of a 4 x 4 checkerboard on
  ``[-2, 2]^2``, density 1/8 there.

For each data set a swish MLP energy is trained by (``cd``) contrastive divergence
with a persistent replay buffer (Du & Mordatch 2019; the negatives come from
``cd.num_sampling_steps`` steps of ``cd.sampler``, MALA by default, so the
learned ``exp(-E)`` is the law the chains sample) and by (``dsm``) denoising score
matching (Vincent 2011), with the same network, optimizer (Adam, ``b1 = 0``),
data, minibatch size and number of updates. Evaluation, with ``log Z`` by the
trapezoid rule on a ``grid.num_points``-square grid over the data set's box:

- exact train and test log-likelihoods, the true density's test log-likelihood,
  and their gap ``mean[log p_true - log p_model]`` on the test set (an estimate of
  ``KL(p_true || p_model)``, with its standard error over test points);
- the unbiased MMD^2 (Gaussian kernel, bandwidth: the median distance of the test
  data) between the test data and (a) exact draws from the learned density on the
  grid (the model itself), (b) fresh chains of the training sampler started from
  uniform noise (what the sampler makes of the model), (c) the replay buffer
  (``cd`` only); and, for scale, between a second sample of true data and the
  test data (a draw of the statistic under the null).
- beside it, the kernel Stein discrepancy (IMQ kernel, :mod:`statjax.stein`) of
  the test data, the grid draws, the fresh chains and the replay buffer from the
  *learned* energy: it needs only ``grad E`` (no ``log Z``), and measures how well
  the samples fit the model (the grid draws are exact, so theirs is the floor).

Writes ``densities.png`` (per data set: the data over the true density, then per
objective the learned density ``exp(-E) / Z`` with energy contours and the
model's chain samples over the data), ``training.png`` (loss and test
log-likelihood against updates), ``metrics.jsonl`` (one line per model: its
curves at every ``log_every`` updates, then its evaluation) and ``summary.json``.
A checkpoint is taken after every ``checkpoint_every`` finished models (the unit
here is models), so ``statjax run --resume`` repeats no finished model.

Example:
    $ statjax run configs/ebm_2d.yaml
"""

import dataclasses
import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.tree_util import Partial
from matplotlib.figure import Figure

import statjax
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import ebm
from statjax.pytree import guarded_jit
from statjax.runs import Run
from statjax.samplers.mclmc import mclmc
from statjax.samplers.nuts import nuts
from statjax.samplers.thermostats import baoab, obabo

DATASETS = ("ring", "moons", "checkerboard")
OBJECTIVES = ("cd", "dsm")
# Boxes (lower, upper) that hold all but a negligible part of each density.
BOXES = {
    "ring": ((-3.5, -3.5), (3.5, 3.5)),
    "moons": ((-1.75, -1.5), (2.75, 2.0)),
    "checkerboard": ((-2.75, -2.75), (2.75, 2.75)),
}
RING = statjax.energy.RingOfGaussians(num_modes=8, radius=2.0, scale=0.25)
MOON_NOISE = 0.1
_CURVE_NAMES = ("loss", "energy_data", "energy_samples", "test_log_likelihood")
_NUM_METRICS = len(_CURVE_NAMES)  # per logged update


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampler:
    """The kernel of the negative chains (and of the fresh evaluation chains)."""

    kind: Literal["mala", "ula", "hmc", "du_mordatch", "nuts", "mclmc", "baoab", "obabo"] = setting(
        "mala", help="statjax kernel"
    )
    step_size: float = setting(0.01, gt=0, help="time step (mala/ula/hmc) or gradient step")
    noise_scale: float = setting(0.01, ge=0, help="du_mordatch only: noise s.d. at T = 1")
    grad_clip: float = setting(1.0e6, gt=0, help="du_mordatch only: gradient clip")
    num_integration_steps: int = setting(5, ge=1, help="hmc only: leapfrog steps")
    friction: float = setting(1.0, gt=0, help="baoab/obabo only: Langevin collision rate")
    decoherence_length: float = setting(1.0, gt=0, help="mclmc only: decoherence length L")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ContrastiveDivergence:
    """Du & Mordatch's recipe: replay buffer, short-run chains, energy penalty."""

    sampler: Sampler = setting(Sampler(), help="the short-run kernel")
    num_sampling_steps: int = setting(30, ge=1, help="kernel steps per update")
    buffer_size: int = setting(1000, ge=1, help="replay-buffer entries")
    reinit_prob: float = setting(0.05, ge=0, le=1, help="probability of fresh noise per chain")
    regularization: float = setting(0.0, ge=0, help="alpha of alpha (E+^2 + E-^2)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Evaluation:
    """How the trained energies are measured."""

    num_grid_points: int = setting(200, ge=10, help="grid points per axis for log Z")
    num_samples: int = setting(1000, ge=10, help="model samples per MMD")
    num_chain_steps: int = setting(500, ge=1, help="steps of the fresh chains from noise")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the 2-D EBM experiment. ``checkpoint_every`` counts finished models."""

    datasets: tuple[Literal["ring", "moons", "checkerboard"], ...] = setting(
        DATASETS, min_length=1, help="toy densities"
    )
    objectives: tuple[Literal["cd", "dsm"], ...] = setting(
        OBJECTIVES, min_length=1, help="training objectives"
    )
    num_train: int = setting(5000, ge=10, help="training points per data set")
    num_test: int = setting(2000, ge=10, help="test points per data set")
    hidden_sizes: tuple[int, ...] = setting((64, 64), ge=1, min_length=1, help="MLP widths")
    num_steps: int = setting(2000, ge=1, help="updates per model")
    batch_size: int = setting(256, ge=2, help="minibatch size (and negative chains)")
    learning_rate: float = setting(2e-3, gt=0, help="Adam step (b1 = 0, b2 = 0.999)")
    log_every: int = setting(250, ge=1, help="updates between metrics lines")
    dsm_noise_scale: float = setting(0.1, gt=0, help="sigma of denoising score matching")
    cd: ContrastiveDivergence = setting(ContrastiveDivergence(), help="CD settings")
    evaluation: Evaluation = setting(Evaluation(), help="evaluation settings")

    def validate(self) -> None:
        """Updates split into whole log intervals; data sets and objectives do not repeat."""
        if self.num_steps % self.log_every:
            raise ConfigError(
                "num_steps", self.num_steps, f"a multiple of log_every ({self.log_every})"
            )
        if self.batch_size > self.cd.buffer_size:
            raise ConfigError("batch_size", self.batch_size, "at most cd.buffer_size")
        for name in ("datasets", "objectives"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ConfigError(name, list(values), "each at most once")
        if self.evaluation.num_samples > self.num_test:
            raise ConfigError("evaluation.num_samples", self.evaluation.num_samples, "<= num_test")


# ------------------------------------------------------------------ data sets


def sample_dataset(name: str, num: int, rng: np.random.Generator) -> np.ndarray:
    """``num`` points ``(num, 2)`` of a toy density."""
    if name == "ring":
        modes = rng.integers(0, RING.num_modes, num)
        centres = np.asarray(RING.mode_centers(), np.float64)[modes]
        return (centres + float(RING.scale) * rng.standard_normal((num, 2))).astype(np.float32)
    if name == "moons":
        angles = rng.uniform(0.0, math.pi, num)
        moons = rng.integers(0, 2, num)
        return (_moon_centres(angles, moons) + MOON_NOISE * rng.standard_normal((num, 2))).astype(
            np.float32
        )
    x = rng.uniform(-2.0, 2.0, num)
    y = rng.uniform(0.0, 1.0, num) - 2.0 * rng.integers(0, 2, num)
    return np.stack([x, y + np.floor(x) % 2], axis=1).astype(np.float32)


def _moon_centres(angles, moons):
    """sklearn's moons: outer ``(cos t, sin t)``, inner ``(1 - cos t, 1/2 - sin t)``."""
    outer = np.stack([np.cos(angles), np.sin(angles)], -1)
    inner = np.stack([1.0 - np.cos(angles), 0.5 - np.sin(angles)], -1)
    return np.where(np.asarray(moons)[..., None] == 0, outer, inner)


def true_log_density(name: str, points: np.ndarray) -> np.ndarray:
    """The exact ``log p(x)`` of a toy density at ``points: (n, 2)``."""
    points = np.asarray(points, np.float64)
    if name == "ring":
        return -np.asarray(jax.vmap(RING)(jnp.asarray(points, jnp.float32)), np.float64)
    if name == "moons":
        if len(points) > 2000:  # in chunks: the integrand is (points, angles) in memory
            chunks = np.split(points, range(2000, len(points), 2000))
            return np.concatenate([true_log_density(name, chunk) for chunk in chunks])
        angles = np.linspace(0.0, math.pi, 1001)
        weights = np.full(angles.size, angles[1] - angles[0])
        weights[[0, -1]] /= 2  # trapezoid rule in the angle
        terms = []
        for moon in (0, 1):
            centres = _moon_centres(angles, np.full(angles.size, moon))
            squared = np.sum((points[:, None, :] - centres[None]) ** 2, -1)
            log_normal = -squared / (2 * MOON_NOISE**2) - math.log(2 * math.pi * MOON_NOISE**2)
            terms.append(log_normal + np.log(weights / math.pi) + math.log(0.5))
        stacked = np.concatenate(terms, axis=1)
        top = stacked.max(1, keepdims=True)
        return (top + np.log(np.exp(stacked - top).sum(1, keepdims=True)))[:, 0]
    x, y = points[:, 0], points[:, 1]
    inside = (np.abs(x) <= 2) & (np.abs(y) <= 2) & ((np.floor(x) + np.floor(y)) % 2 == 0)
    return np.where(inside, -math.log(8.0), -np.inf)


# ------------------------------------------------------------------- training


def _sampler(settings: Sampler):
    if settings.kind == "mala":
        return Partial(statjax.mala, step_size=settings.step_size)
    if settings.kind == "ula":
        return Partial(statjax.ula, step_size=settings.step_size)
    if settings.kind == "hmc":
        return Partial(
            statjax.hmc, step_size=settings.step_size,
            num_integration_steps=settings.num_integration_steps,
        )  # fmt: skip
    if settings.kind == "nuts":
        return Partial(nuts, step_size=settings.step_size)
    if settings.kind == "mclmc":
        return Partial(
            mclmc, step_size=settings.step_size,
            decoherence_length=settings.decoherence_length,
        )  # fmt: skip
    if settings.kind in ("baoab", "obabo"):
        factory = baoab if settings.kind == "baoab" else obabo
        return Partial(factory, step_size=settings.step_size, friction=settings.friction)
    return Partial(
        statjax.samplers.du_mordatch_langevin, step_size=settings.step_size,
        noise_scale=settings.noise_scale, grad_clip=settings.grad_clip,
    )  # fmt: skip


def _train_model(config: Config, dataset: str, objective: str, key, data):
    """Train one (data set, objective): final parameters, buffer, the curves and acceptances.

    The curves hold, every ``log_every`` updates, the mean loss, data and sample
    energies, and the test log-likelihood; the acceptances the sampler's mean rate.
    """
    train, test = data
    lower, upper = BOXES[dataset]
    energy = ebm.energy_function(ebm.EnergyMLP(hidden_sizes=tuple(config.hidden_sizes)))
    key_init, key_run = jax.random.split(key)
    params = energy.module.init(key_init, jnp.zeros(2))["params"]
    optimizer = _optimizer(config.learning_rate)
    low, high = min(lower), max(upper)
    if objective == "cd":
        state = ebm.init_training(
            key_run, params, optimizer, buffer_size=config.cd.buffer_size, event_shape=(2,),
            noise_low=low, noise_high=high,
        )  # fmt: skip
        settings = ebm.ContrastiveDivergenceSettings(
            num_sampling_steps=config.cd.num_sampling_steps, reinit_prob=config.cd.reinit_prob,
            regularization=config.cd.regularization, noise_low=low, noise_high=high,
        )  # fmt: skip
    else:
        state = ebm.init_training(key_run, params, optimizer)
    curves, acceptance = [], []
    for _ in range(config.num_steps // config.log_every):
        if objective == "cd":
            state, metrics = ebm.train_contrastive_divergence(
                state, train, energy_fn=energy, sampler=_sampler(config.cd.sampler),
                optimizer=optimizer, num_steps=config.log_every, batch_size=config.batch_size,
                settings=settings,
            )  # fmt: skip
        else:
            state, metrics = ebm.train_score_matching(
                state, train, energy_fn=energy, optimizer=optimizer, num_steps=config.log_every,
                batch_size=config.batch_size, noise_scale=config.dsm_noise_scale,
            )  # fmt: skip
        log_likelihoods, _ = ebm.grid_log_likelihood(
            energy.bind(state.params), test, lower, upper, config.evaluation.num_grid_points
        )
        means = (metrics.loss, metrics.energy_data, metrics.energy_samples, log_likelihoods)
        line = [float(jnp.mean(values)) for values in means]
        curves.append(line)
        acceptance.append(float(jnp.mean(metrics.acceptance_rate)))
    return energy, state, np.asarray(curves, np.float32), acceptance


def _optimizer(learning_rate: float) -> statjax.optim.TunableOptimizer:
    # Its numbers are traced leaves: every model (and any learning rate) shares one
    # compiled training loop.
    return statjax.optim.tunable(optax.adam, learning_rate=learning_rate, b1=0.0, b2=0.999)


# The kernel and its parameters are traced (guarded: a user pytree); the steps are static.
_short_run_chains = guarded_jit(ebm.short_run_chains, static_argnames=("num_steps",))


def _evaluate(config, dataset, objective, energy, state, key, data, bandwidth) -> dict:
    """Log-likelihoods, grid density, chain samples and MMDs of one trained model."""
    train, test = data
    lower, upper = BOXES[dataset]
    num_points, num_samples = config.evaluation.num_grid_points, config.evaluation.num_samples
    bound = energy.bind(state.params)
    test_ll, log_z = ebm.grid_log_likelihood(bound, test, lower, upper, num_points)
    train_ll, _ = ebm.grid_log_likelihood(bound, train, lower, upper, num_points)
    gap = true_log_density(dataset, test) - np.asarray(test_ll, np.float64)
    _, density = statjax.thermo.grid_density(bound, 1.0, lower, upper, num_points)
    key_grid, key_start, key_chain = jax.random.split(key, 3)
    grid_draws = ebm.grid_samples(key_grid, bound, num_samples, lower, upper, num_points)
    starts = jax.random.uniform(
        key_start, (num_samples, 2), minval=jnp.asarray(lower), maxval=jnp.asarray(upper)
    )
    kernel = _sampler(config.cd.sampler)(bound)
    chains, acceptance = _short_run_chains(
        kernel, key_chain, starts, num_steps=config.evaluation.num_chain_steps
    )
    chain_samples = np.asarray(chains.position)
    reference = test[:num_samples]
    result = {
        "test_log_likelihood": float(jnp.mean(test_ll)),
        "train_log_likelihood": float(jnp.mean(train_ll)),
        "log_z": float(log_z),
        "gap_to_true": float(gap.mean()),
        "gap_standard_error": float(gap.std(ddof=1) / math.sqrt(gap.size)),
        "mmd2_grid_samples": float(ebm.mmd_squared(grid_draws, reference, bandwidth)),
        "mmd2_fresh_chains": float(ebm.mmd_squared(chain_samples, reference, bandwidth)),
        "fresh_chain_acceptance_rate": float(acceptance),
        # Kernel Stein discrepancy against the learned energy (IMQ; no log Z needed).
        "ksd_test_data": _ksd(reference, bound),
        "ksd_grid_samples": _ksd(grid_draws, bound),
        "ksd_fresh_chains": _ksd(chain_samples, bound),
    }
    buffer_samples = np.full((num_samples, 2), np.nan, np.float32)
    if objective == "cd":
        # The most recently written entries: the chains of the last updates.
        last = (int(state.step) * config.batch_size - 1 - np.arange(num_samples)) % len(
            state.buffer
        )
        buffer_samples = np.asarray(state.buffer)[last]
        result["mmd2_replay_buffer"] = float(ebm.mmd_squared(buffer_samples, reference, bandwidth))
        result["ksd_replay_buffer"] = _ksd(buffer_samples, bound)
    arrays = {
        "density": np.asarray(density, np.float32),
        "chain_samples": chain_samples.astype(np.float32),
        "buffer_samples": buffer_samples,
    }
    return result, arrays


# ------------------------------------------------------------------------ run


def _datasets(config: Config) -> dict:
    data = {}
    for index, name in enumerate(config.datasets):
        rng = np.random.default_rng([config.seed, index])
        train = sample_dataset(name, config.num_train, rng)
        test = sample_dataset(name, config.num_test, rng)
        null = sample_dataset(name, config.evaluation.num_samples, rng)
        data[name] = (train, test, null)
    return data


_RESULT_KEYS = (
    "test_log_likelihood", "train_log_likelihood", "log_z", "gap_to_true", "gap_standard_error",
    "mmd2_grid_samples", "mmd2_fresh_chains", "fresh_chain_acceptance_rate", "mmd2_replay_buffer",
    "ksd_test_data", "ksd_grid_samples", "ksd_fresh_chains", "ksd_replay_buffer",
)  # fmt: skip


def _ksd(samples, energy) -> float:
    """The IMQ kernel Stein discrepancy of ``samples`` from ``exp(-E)`` (statjax.stein)."""
    return float(statjax.stein.kernel_stein_discrepancy(jnp.asarray(samples), energy).ksd)


def run(config: Config, run: Run) -> dict:
    """Train every (data set, objective), checkpointing finished models; summarise and plot."""
    data = _datasets(config)
    phases = [(d, o) for d in config.datasets for o in config.objectives]
    num_logs = config.num_steps // config.log_every
    points, samples = config.evaluation.num_grid_points, config.evaluation.num_samples
    state = {
        "results": np.full((len(phases), len(_RESULT_KEYS)), np.nan, np.float64),
        "curves": np.zeros((len(phases), num_logs, _NUM_METRICS), np.float32),
        "density": np.zeros((len(phases), points, points), np.float32),
        "chain_samples": np.zeros((len(phases), samples, 2), np.float32),
        "buffer_samples": np.zeros((len(phases), samples, 2), np.float32),
    }
    key = jax.random.key(config.seed)
    bandwidths = {
        name: float(ebm.median_bandwidth(test[: samples // 2], test[samples // 2 : samples]))
        for name, (_, test, _) in data.items()
    }

    def advance(state, chunk):
        state = {name: np.array(value) for name, value in state.items()}
        index = chunk.start  # one model per chunk (log_every=1)
        dataset, objective = phases[index]
        train, test, _ = data[dataset]
        model_key = jax.random.fold_in(key, index)
        energy, trained, curves, acceptance = _train_model(
            config, dataset, objective, model_key, (train, test)
        )
        result, arrays = _evaluate(
            config, dataset, objective, energy, trained, jax.random.fold_in(model_key, 1),
            (train, test), bandwidths[dataset],
        )  # fmt: skip
        state["results"][index] = [result.get(name, np.nan) for name in _RESULT_KEYS]
        state["curves"][index] = curves
        for name, value in arrays.items():
            state[name][index] = value
        updates = config.log_every * np.arange(1, num_logs + 1)
        return state, {
            "dataset": dataset, "objective": objective, "update": updates,
            **{name: curves[:, column] for column, name in enumerate(_CURVE_NAMES)},
            "acceptance_rate": acceptance, **result,
        }  # fmt: skip

    state = run.loop(state, advance, len(phases), log_every=1, desc="models")

    summary_models = {}
    for index, (dataset, objective) in enumerate(phases):
        values = dict(zip(_RESULT_KEYS, state["results"][index].tolist(), strict=True))
        if objective != "cd":
            values.pop("mmd2_replay_buffer")
            values.pop("ksd_replay_buffer")
        summary_models.setdefault(dataset, {})[objective] = values
    summary_data = {}
    for name, (_, test, null) in data.items():
        true_ll = true_log_density(name, test)
        summary_data[name] = {
            "true_test_log_likelihood": float(true_ll.mean()),
            "true_test_log_likelihood_standard_error": float(
                true_ll.std(ddof=1) / math.sqrt(true_ll.size)
            ),
            "mmd_bandwidth": bandwidths[name],
            "mmd2_true_samples": float(ebm.mmd_squared(null, test[:samples], bandwidths[name])),
        }
        for objective, values in summary_models[name].items():
            summary_data[name][objective] = values
    run.save_figure(_densities_figure(config, data, phases, state), "densities.png")
    run.save_figure(_training_figure(config, phases, state), "training.png")
    return {
        "experiment": "2-D deep EBMs: contrastive divergence vs denoising score matching",
        "sampler": config.cd.sampler.kind,
        "num_updates": config.num_steps,
        "datasets": summary_data,
    }


# ---------------------------------------------------------------------- plots


def _densities_figure(config, data, phases, state) -> Figure:
    rows, columns = len(config.datasets), 1 + 2 * len(config.objectives)
    figure = Figure(figsize=(2.6 * columns, 2.6 * rows + 0.4), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    num_points = config.evaluation.num_grid_points
    for row, dataset in enumerate(config.datasets):
        (x0, y0), (x1, y1) = BOXES[dataset]
        xs, ys = np.linspace(x0, x1, num_points), np.linspace(y0, y1, num_points)
        _, test, _ = data[dataset]
        # The true density on a 150 x 150 grid: enough for the eye, cheap for the moons.
        true_xs, true_ys = np.linspace(x0, x1, 150), np.linspace(y0, y1, 150)
        grid = np.stack(np.meshgrid(true_xs, true_ys, indexing="ij"), -1).reshape(-1, 2)
        true_density = np.exp(true_log_density(dataset, grid)).reshape(150, 150)
        ax = axes[row, 0]
        ax.pcolormesh(true_xs, true_ys, true_density.T, cmap="Greys", shading="auto")
        ax.scatter(*test[:500].T, s=1, color="tab:red", alpha=0.5)
        ax.set_title(f"{dataset}: true density + test data", fontsize=8)
        for column, objective in enumerate(config.objectives):
            index = phases.index((dataset, objective))
            density = state["density"][index]
            ll = state["results"][index][_RESULT_KEYS.index("test_log_likelihood")]
            ax = axes[row, 1 + 2 * column]
            ax.pcolormesh(xs, ys, density.T, cmap="viridis", shading="auto")
            energy = -np.log(np.maximum(density, 1e-30))
            levels = np.quantile(energy, [0.02, 0.05, 0.1, 0.2, 0.4])
            ax.contour(xs, ys, energy.T, levels=np.unique(levels), colors="white",
                       linewidths=0.5)  # fmt: skip
            ax.set_title(f"{objective}: exp(-E)/Z, E contours\ntest LL {ll:.3f}", fontsize=8)
            ax = axes[row, 2 + 2 * column]
            ax.scatter(*test[:500].T, s=1, color="0.7", label="test data")
            samples = state["chain_samples"][index]
            ax.scatter(*samples[:500].T, s=1, color="tab:blue", label="fresh chains")
            if objective == "cd":
                buffer = state["buffer_samples"][index]
                ax.scatter(*buffer[:500].T, s=1, color="tab:orange", label="replay buffer")
            ax.set_title(
                f"{objective}: samples ({config.evaluation.num_chain_steps} "
                f"{config.cd.sampler.kind} steps)",
                fontsize=8,
            )
            ax.legend(fontsize=5, markerscale=4, loc="upper right")
        for ax in axes[row]:
            ax.set_xlim(x0, x1)
            ax.set_ylim(y0, y1)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
    figure.suptitle(
        "Learned densities (grid-normalised) and samples: contrastive divergence vs "
        "denoising score matching",
        fontsize=9,
    )
    return figure


def _training_figure(config, phases, state) -> Figure:
    figure = Figure(figsize=(12.0, 3.2), layout="constrained")
    cd_ax, dsm_ax, ll_ax = figure.subplots(1, 3)
    loss_axes = {"cd": cd_ax, "dsm": dsm_ax}
    steps = config.log_every * np.arange(1, config.num_steps // config.log_every + 1)
    for index, (dataset, objective) in enumerate(phases):
        curves = state["curves"][index]
        style = "-" if objective == "cd" else "--"
        color = f"C{config.datasets.index(dataset)}"
        label = f"{dataset} {objective}"
        loss_axes[objective].plot(steps, curves[:, 0], style, color=color, label=label)
        ll_ax.plot(steps, curves[:, 3], style, color=color, label=label)
    cd_ax.set_title("cd loss: E(data) - E(samples) + penalty", fontsize=9)
    dsm_ax.set_title("dsm loss (Vincent 2011)", fontsize=9)
    ll_ax.set_title("exact test log-likelihood (grid log Z)", fontsize=9)
    for ax in (cd_ax, dsm_ax, ll_ax):
        ax.set_xlabel("update")
        if ax.lines:
            ax.legend(fontsize=6)
    return figure
