"""Large deviations of the training loss around a trained MLP, under random weight perturbations.

A small tanh MLP is trained (full-batch Adam) on a subset of scikit-learn's digits
(pixels scaled to [0, 1]; a stratified split, :func:`experiments.common.load_digits`).
Around its trained weights ``theta*`` the reference measure is an isotropic Gaussian
``p_0 = N(theta*, sigma^2 I)`` ("random
perturbations of size sigma"), for each ``sigma`` in ``scales``, and the observable is
the mean training cross-entropy ``L(theta)``. The tilted ensembles
``p_k ∝ p_0 exp(-k L)`` (``k > 0``: lower loss than typical, ``k < 0``: higher) are
sampled with MALA, one step size per rung (dual averaging), all rungs as one batch
of chains (:func:`statjax.thermo.large_deviations.sample_tilted`). The ladder is given
in units of ``1 / sigma^2`` (``k = tilts / sigma^2``): ``k sigma^2`` is how far the
tilt moves the Gaussian (its mean by ``-k sigma^2 grad L``), so one ladder suits every
scale. Then
:func:`statjax.thermo.large_deviations.large_deviation_rate` gives

- ``log Z(k) = log E_{p_0}[exp(-k L)]`` (thermodynamic integration over ``k``),
- the rate function ``I(l) = sup_k [-k l - log Z(k)]`` (Gärtner–Ellis, Touchette
  2009), in nats (scale 1: ``P_0(L ≈ l) ≍ exp(-I(l))``),
- tail probabilities ``log P_0(L <= l)`` / ``log P_0(L >= l)`` by exponential-tilting
  importance sampling, at every rung's mean and at the loss levels
  ``loss_levels x L(theta*)`` (``1.0``: the probability that a random perturbation
  does *better* than the trained weights),

with delete-one-chain jackknife error bars. Naive Monte Carlo (``num_naive_draws``
i.i.d. draws from ``p_0``) is run beside it: where it has data, the two agree
(``naive_agreement`` in the summary gives the z-scores); beyond ``1 / num_naive_draws``
it has none.

Plots: ``log_z.png`` (``log Z(k)``, tilted estimate with error bars and the naive
``log mean exp(-k L)``), ``rate_function.png`` (``I(l)`` with error bars and the naive
histogram's ``-log p(l)`` shifted to 0 at its minimum; a vertical line at
``L(theta*)``), ``tail_probability.png`` (``log10 P_0`` of the tail against the loss
level, tilted vs naive, with the naive resolution floor). ``metrics.jsonl``: one line
per phase (step 1: the trained model; step ``i + 1``: scale ``i``). The unit of
``checkpoint_every`` is phases (training, then one per scale), so ``--resume``
repeats no finished phase.

The high-loss side is short on purpose: from ``k sigma^2`` about -0.5 (sigma = 0.1)
the tilted ensemble jumps to far-away weights whose loss (growing linearly with their
size) is 1 to 20, a first-order transition where the Legendre transform gives only
the convex hull of the rate function and MALA does not equilibrate; the shipped
ladder stops at -0.3. The naive histogram shows the long high-loss tail it misses.

Example:
    $ statjax run configs/loss_large_deviations.yaml
"""

import dataclasses
import functools
import math

import flax.linen as nn
import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from experiments import common
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.energy import tilted_energy
from statjax.runs import Run
from statjax.samplers import mala
from statjax.thermo import large_deviations as ld

REQUIRES = ("sklearn",)
"""Optional packages this experiment imports lazily (checked before any work)."""

NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampling:
    """The tilted chains."""

    num_chains_per_tilt: int = setting(12, ge=2, help="independent MALA chains per tilt")
    num_adaptation_steps: int = setting(200, ge=1, help="warm-up steps tuning each rung's step")
    num_steps: int = setting(600, ge=1, help="recorded MALA steps per chain")
    thin: int = setting(5, ge=1, help="record the loss every `thin` steps")
    target_acceptance: float = setting(0.574, gt=0, lt=1, help="MALA acceptance to tune to")
    initial_step_fraction: float = setting(
        0.1, gt=0, help="first step-size guess, as a fraction of sigma^2"
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the loss large-deviation experiment."""

    num_train: int = setting(500, ge=10, le=1500, help="digits used for training and the loss")
    num_hidden: int = setting(16, ge=1, help="tanh hidden units")
    learning_rate: float = setting(0.01, gt=0, help="Adam step")
    num_train_steps: int = setting(300, ge=1, help="full-batch Adam steps")
    scales: tuple[float, ...] = setting(
        (0.05, 0.1), gt=0, min_length=1, help="sigma of the Gaussian weight perturbations"
    )
    tilts: tuple[float, ...] = setting(
        min_length=3,
        help="the ladder of k sigma^2 (strictly increasing, containing 0); k = tilts / sigma^2",
    )
    loss_levels: tuple[float, ...] = setting(
        (1.0,), gt=0, help="loss levels (multiples of the trained loss) for tail probabilities"
    )
    num_naive_draws: int = setting(4096, ge=10, help="i.i.d. draws of p_0 for naive Monte Carlo")
    sampling: Sampling = setting(Sampling(), help="MALA chains")

    def validate(self) -> None:
        """The ladder rises strictly and contains 0; thinning divides the steps."""
        if any(b <= a for a, b in zip(self.tilts, self.tilts[1:], strict=False)):
            raise ConfigError("tilts", list(self.tilts), "strictly increasing values")
        if 0.0 not in self.tilts:
            raise ConfigError("tilts", list(self.tilts), "a ladder containing 0 (the reference)")
        if self.sampling.num_steps % self.sampling.thin:
            raise ConfigError(
                "sampling.num_steps", self.sampling.num_steps, "a multiple of sampling.thin"
            )


class MLP(nn.Module):
    """tanh MLP from 64 pixels to 10 logits (tanh keeps the loss linear in far weights)."""

    num_hidden: int

    @nn.compact
    def __call__(self, x):
        hidden = jnp.tanh(nn.Dense(self.num_hidden, name="hidden")(x))
        return nn.Dense(NUM_CLASSES, name="output")(hidden)


def mean_cross_entropy(images, labels, params):
    """Mean training cross-entropy ``L(theta)``; the width is read from the parameters."""
    model = MLP(params["params"]["hidden"]["kernel"].shape[-1])
    logits = model.apply(params, images)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def gaussian_energy(center, inverse_variance, params):
    """``|theta - theta*|^2 / (2 sigma^2)``: the reference ``p_0 = N(theta*, sigma^2 I)``."""
    squares = jax.tree.map(lambda a, b: jnp.sum((a - b) ** 2), params, center)
    return 0.5 * inverse_variance * sum(jax.tree.leaves(squares))


@functools.partial(jax.jit, static_argnames=("num_steps",))
def _train(images, labels, params, learning_rate, *, num_steps):
    """Full-batch Adam on the mean cross-entropy: the trained weights ``theta*``."""
    optimizer = optax.adam(learning_rate)

    def step(carry, _):
        params, state = carry
        grads = jax.grad(lambda p: mean_cross_entropy(images, labels, p))(params)
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), length=num_steps)
    return params


@functools.partial(jax.jit, static_argnames=("num_draws",))
def _perturbations(params, sigma, key, *, num_draws: int):
    """``num_draws`` i.i.d. draws of ``p_0 = N(theta*, sigma^2 I)``, stacked on a leading axis."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    # One generator call for all draws: on the CPU its compilation dominates small runs.
    noise = jax.random.normal(key, (num_draws, flat.size), flat.dtype)
    return jax.vmap(unravel)(flat + sigma * noise)


@jax.jit
def _losses(images, labels, batched_params):
    """``L`` of every parameter set on the leading axis, in batches (bounded memory)."""
    return jax.lax.map(
        lambda p: mean_cross_entropy(images, labels, p), batched_params, batch_size=256
    )


# Cached, so that a resumed run or a second run in the same process gets the same
# observable object and reuses the compiled sampling program (``run_chains`` keys its
# cache on the observable).
@functools.lru_cache(maxsize=4)
def load_data(num_train: int, seed: int) -> dict:
    """Digits scaled to [0, 1], shuffled with ``seed``; the first ``num_train`` train."""
    data = common.load_digits(seed, num_train=num_train)
    x_train, y_train = jnp.asarray(data["x_train"]), jnp.asarray(data["y_train"])
    return {
        "x_train": x_train, "y_train": y_train,
        "x_test": jnp.asarray(data["x_test"]), "y_test": jnp.asarray(data["y_test"]),
        "observable": jax.tree_util.Partial(mean_cross_entropy, x_train, y_train),
    }  # fmt: skip


def run(config: Config, run: Run) -> dict:
    """Train, then sample the tilted ladder at every scale (checkpointed), estimate and plot.

    Returns:
        The summary: the trained model's losses, and per scale the typical loss, the
        rate function and tail log-probabilities with error bars, the naive
        comparison, step sizes and acceptance rates.
    """
    data = load_data(config.num_train, config.seed)
    observable = data["observable"]
    key = jax.random.key(config.seed)
    tilts = np.asarray(config.tilts, dtype=float)  # k sigma^2
    sampling = config.sampling
    num_scales, num_tilts = len(config.scales), tilts.size
    num_chains = sampling.num_chains_per_tilt
    num_draws = sampling.num_steps // sampling.thin
    initial_params = MLP(config.num_hidden).init(jax.random.fold_in(key, 0), data["x_train"][:1])
    state = {
        "params": initial_params,
        "observables": np.zeros((num_scales, num_draws, num_tilts, num_chains), np.float32),
        "acceptance": np.zeros((num_scales, num_tilts), np.float32),
        "step_sizes": np.zeros((num_scales, num_tilts), np.float32),
        "naive": np.zeros((num_scales, config.num_naive_draws), np.float32),
    }

    def advance(state, chunk):
        # Phase 0 trains the model; phase i > 0 samples scale i - 1 (log_every=1).
        state = jax.tree.map(np.asarray, state)
        if chunk.start == 0:
            params = _train(
                data["x_train"], data["y_train"], state["params"], config.learning_rate,
                num_steps=config.num_train_steps,
            )  # fmt: skip
            state["params"] = jax.tree.map(np.asarray, params)
            return state, _model_metrics(data, params)
        index = chunk.start - 1
        sigma = config.scales[index]
        params = jax.tree.map(jnp.asarray, state["params"])
        outputs = _sample_scale(config, params, observable, data, sigma, key, index)
        for name, value in outputs.items():
            state[name] = np.array(state[name])
            state[name][index] = value
        return state, {
            "sigma": sigma,
            "acceptance_min": float(outputs["acceptance"].min()),
            "typical_loss": float(outputs["observables"][:, tilts == 0].mean()),
        }

    state = run.loop(state, advance, num_scales + 1, log_every=1, desc="phases")
    params = jax.tree.map(jnp.asarray, state["params"])
    return _summarise(config, run, data, params, state, tilts)


def _model_metrics(data: dict, params) -> dict:
    names = ("trained_loss", "test_loss", "test_accuracy")
    values = _metrics(data["x_train"], data["y_train"], data["x_test"], data["y_test"], params)
    return {name: float(value) for name, value in zip(names, values, strict=True)}


@jax.jit
def _metrics(x_train, y_train, x_test, y_test, params):
    logits = MLP(params["params"]["hidden"]["kernel"].shape[-1]).apply(params, x_test)
    return (
        mean_cross_entropy(x_train, y_train, params),
        mean_cross_entropy(x_test, y_test, params),
        jnp.mean(jnp.argmax(logits, -1) == y_test),
    )


def _sample_scale(config, params, observable, data, sigma, key, index) -> dict:
    """Tilted chains (per-rung step sizes) and naive i.i.d. draws at one scale ``sigma``."""
    sampling = config.sampling
    # k sigma^2 is the natural unit: the tilt shifts the Gaussian's mean by -k sigma^2 grad L
    # and stiffens it by k sigma^2 H relative to its own precision 1 / sigma^2.
    tilts = np.asarray(config.tilts, dtype=float) / sigma**2
    scale_key = jax.random.fold_in(key, index + 1)
    # A new Partial of the same function: the kernel's structure, hence the compiled
    # programs, are shared by every scale.
    reference = jax.tree_util.Partial(gaussian_energy, params, 1.0 / sigma**2)
    kernel = mala(tilted_energy(reference, observable), sampling.initial_step_fraction * sigma**2)
    num_chains = tilts.size * sampling.num_chains_per_tilt
    # The chains start in p_0's typical set (MALA from the mode of a 1,000-dimensional
    # Gaussian rejects nearly every move); the rest are the naive Monte Carlo draws.
    draws = _perturbations(
        params, sigma, jax.random.fold_in(scale_key, 0),
        num_draws=num_chains + config.num_naive_draws,
    )  # fmt: skip
    initial = jax.tree.map(lambda x: x[:num_chains], draws)
    naive_params = jax.tree.map(lambda x: x[num_chains:], draws)
    step_sizes, positions = ld.adapt_tilted_step_sizes(
        kernel, jax.random.fold_in(scale_key, 1), initial, sampling.num_adaptation_steps,
        tilts=tilts, target_acceptance=sampling.target_acceptance,
    )  # fmt: skip
    samples = ld.sample_tilted(
        kernel, jax.random.fold_in(scale_key, 2), positions, sampling.num_steps,
        tilts=tilts, step_sizes=step_sizes, thin=sampling.thin,
    )  # fmt: skip
    return {
        "observables": np.asarray(samples.observables),
        "acceptance": np.asarray(samples.acceptance_rate),
        "step_sizes": np.asarray(step_sizes),
        "naive": np.asarray(_losses(data["x_train"], data["y_train"], naive_params)),
    }


def _summarise(config, run, data, params, state, tilts) -> dict:
    """Estimates per scale, the naive comparison, plots."""
    model = _model_metrics(data, params)
    trained_loss = model["trained_loss"]
    levels = trained_loss * np.asarray(config.loss_levels, dtype=float)
    results, per_scale = [], []
    for index, sigma in enumerate(config.scales):
        result = ld.large_deviation_rate(
            tilts / sigma**2, state["observables"][index], scale=1.0, levels=levels
        )
        naive = np.asarray(state["naive"][index], dtype=float)
        results.append(result)
        per_scale.append(_scale_summary(result, naive, tilts, sigma, levels, state, index))
    figures = (
        (_log_z_figure, "log_z.png"),
        (_rate_figure, "rate_function.png"),
        (_tail_figure, "tail_probability.png"),
    )
    for make, name in figures:
        run.save_figure(make(config, results, state, tilts, trained_loss), name)
    return {
        "experiment": "large deviations of the training loss under Gaussian weight perturbations",
        "num_train": int(data["x_train"].shape[0]),
        "num_parameters": int(sum(leaf.size for leaf in jax.tree.leaves(params))),
        **model,
        "loss_levels": levels,
        "scales": per_scale,
    }


def _scale_summary(result, naive, tilts, sigma, levels, state, index) -> dict:
    log10 = 1.0 / math.log(10.0)
    zero = int(np.flatnonzero(tilts == 0)[0])
    mean = np.asarray(result.observable_mean, dtype=float)
    tail = np.asarray(result.tail_log_probability, dtype=float)
    tail_error = np.asarray(result.tail_log_probability_standard_error, dtype=float)
    agreement = _naive_agreement(naive, mean, tail, tail_error, tilts >= 0)
    level_log_probability = np.asarray(result.level_log_probability, dtype=float)
    return {
        "sigma": sigma,
        "typical_loss": float(mean[zero]),
        "typical_loss_standard_error": float(result.observable_standard_error[zero]),
        "levels": [
            {
                "loss": float(level),
                "tail": "lower" if level <= mean[zero] else "upper",
                "log10_probability": float(value * log10),
                "log10_probability_standard_error": float(error * log10),
                "naive_fraction": float(
                    np.mean(naive <= level) if level <= mean[zero] else np.mean(naive >= level)
                ),
            }
            for level, value, error in zip(
                levels,
                level_log_probability,
                np.asarray(result.level_log_probability_standard_error),
                strict=True,
            )
        ],
        "tilts_times_sigma_squared": tilts,
        "tilts": tilts / sigma**2,
        "loss_mean": mean,
        "loss_standard_error": result.observable_standard_error,
        "rate": result.rate,
        "rate_standard_error": result.rate_standard_error,
        "log_z": result.log_z,
        "log_z_standard_error": result.log_z_standard_error,
        "log_z_discretisation_error": result.log_z_discretisation_error,
        "log10_tail_probability": tail * log10,
        "log10_tail_probability_standard_error": tail_error * log10,
        "smallest_log10_tail_probability": float(np.min(tail) * log10),
        "naive_log10_floor": float(-np.log10(naive.size)),
        "naive_agreement": agreement,
        "step_sizes": state["step_sizes"][index],
        "acceptance_rate": state["acceptance"][index],
    }


def _naive_agreement(naive, mean, tail, tail_error, lower, min_hits: int = 20) -> dict:
    """z-scores of tilted vs naive tail probabilities at rungs where naive has ``min_hits``."""
    hits = np.where(lower, (naive[:, None] <= mean).sum(0), (naive[:, None] >= mean).sum(0))
    naive_probability = hits / naive.size
    usable = hits >= min_hits
    tilted = np.exp(tail)
    # i.i.d. draws: binomial error; the tilted error by the delta method on log P.
    error = np.sqrt(naive_probability * (1 - naive_probability) / naive.size
                    + (tilted * tail_error) ** 2)  # fmt: skip
    z_scores = np.where(usable, (tilted - naive_probability) / np.where(usable, error, 1.0), np.nan)
    return {
        "num_rungs_compared": int(usable.sum()),
        "z_scores": z_scores,
        "max_abs_z": float(np.nanmax(np.abs(z_scores))) if usable.any() else None,
        "num_rungs_beyond_naive": int((hits == 0).sum()),
    }


_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def _log_z_figure(config, results, state, tilts, trained_loss) -> Figure:
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = figure.subplots()
    for index, (sigma, result) in enumerate(zip(config.scales, results, strict=True)):
        color = _COLORS[index % len(_COLORS)]
        ax.errorbar(tilts, result.log_z, 2 * np.asarray(result.log_z_standard_error), fmt="o-",
                    ms=3, color=color, label=f"tilted ensembles, sigma = {sigma}")  # fmt: skip
        naive = np.asarray(state["naive"][index], dtype=float)
        smallest = float(np.min(np.abs(tilts[tilts != 0])))
        grid = np.concatenate([
            -np.geomspace(max(-tilts.min(), smallest), smallest, 60) if tilts.min() < 0 else [],
            [0.0],
            np.geomspace(smallest, max(tilts.max(), smallest), 60) if tilts.max() > 0 else [],
        ])  # fmt: skip
        low = naive.min()  # log-mean-exp, shifted so that exp never overflows for k < 0 either
        naive_log_z = [
            np.log(np.mean(np.exp(-k / sigma**2 * (naive - (low if k > 0 else naive.max())))))
            - k / sigma**2 * (low if k > 0 else naive.max())
            for k in grid
        ]
        ax.plot(
            grid, naive_log_z, ":", color=color, label=f"naive log mean exp(-kL), sigma = {sigma}"
        )
    smallest = float(np.min(np.abs(tilts[tilts != 0])))
    ax.set_xscale("symlog", linthresh=smallest, linscale=0.5)
    ax.set_yscale("symlog", linthresh=1.0)
    # Ticks at the decades the ladder reaches (the default ones collide near 0).
    decades = 10.0 ** np.arange(
        np.ceil(np.log10(smallest)), np.floor(np.log10(np.abs(tilts).max())) + 1
    )
    ticks = np.concatenate([-decades[::-1][decades[::-1] <= -tilts.min()], [0.0],
                            decades[decades <= tilts.max()]])  # fmt: skip
    ax.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
    ax.set_xlabel("tilt k sigma^2  (k > 0 favours low loss)")
    ax.set_ylabel("log Z(k) = log E_p0[exp(-k L)]")
    ax.set_title("Cumulant generating function of -L (error bars: 2 s.e.)", fontsize=9)
    ax.legend(fontsize=7)
    return figure


def _rate_figure(config, results, state, tilts, trained_loss) -> Figure:
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = figure.subplots()
    for index, (sigma, result) in enumerate(zip(config.scales, results, strict=True)):
        color = _COLORS[index % len(_COLORS)]
        ax.errorbar(
            result.observable_mean, result.rate, 2 * np.asarray(result.rate_standard_error),
            2 * np.asarray(result.observable_standard_error), fmt="o-", ms=3, color=color,
            label=f"I(l), tilted ensembles, sigma = {sigma}",
        )  # fmt: skip
        naive = np.asarray(state["naive"][index], dtype=float)
        counts, edges = np.histogram(np.log(naive), bins=30)
        centres = np.exp(0.5 * (edges[1:] + edges[:-1]))
        density = counts / (counts.sum() * np.diff(np.exp(edges)))
        shown = counts >= 5
        curve = -np.log(density[shown])
        ax.plot(centres[shown], curve - curve.min(), "x", color=color, ms=4,
                label=f"naive histogram -log p(l) + const, sigma = {sigma}")  # fmt: skip
    ax.axvline(trained_loss, color="black", lw=0.8, ls="--", label="trained loss L(theta*)")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(bottom=-0.1)
    ax.set_xlabel("training loss l (mean cross-entropy)")
    ax.set_ylabel("rate I(l) [nats]:  P(L ~ l) ~ exp(-I(l))")
    ax.set_title("Rate function of the loss around the trained weights (2 s.e.)", fontsize=9)
    ax.legend(fontsize=7)
    return figure


def _tail_figure(config, results, state, tilts, trained_loss) -> Figure:
    figure = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = figure.subplots()
    log10 = 1.0 / math.log(10.0)
    for index, (sigma, result) in enumerate(zip(config.scales, results, strict=True)):
        color = _COLORS[index % len(_COLORS)]
        ax.errorbar(
            result.observable_mean, np.asarray(result.tail_log_probability) * log10,
            2 * log10 * np.asarray(result.tail_log_probability_standard_error), fmt="o-",
            ms=3, color=color, label=f"tilted (importance sampling), sigma = {sigma}",
        )  # fmt: skip
        naive = np.sort(np.asarray(state["naive"][index], dtype=float))
        typical = float(np.asarray(result.observable_mean)[tilts == 0][0])
        below = naive[naive <= typical]
        above = naive[naive >= typical]
        ax.step(
            below,
            np.log10(np.arange(1, below.size + 1) / naive.size),
            where="post",
            color=color,
            lw=1,
            alpha=0.6,
            label=f"naive empirical tail, sigma = {sigma}",
        )
        ax.step(above, np.log10(np.arange(above.size, 0, -1) / naive.size), where="pre",
                color=color, lw=1, alpha=0.6)  # fmt: skip
    floor = -np.log10(config.num_naive_draws)
    ax.axhline(floor, color="grey", lw=0.8, ls=":", label=f"naive floor 1/{config.num_naive_draws}")
    ax.axvline(trained_loss, color="black", lw=0.8, ls="--", label="trained loss L(theta*)")
    ax.set_xscale("log")
    ax.set_xlabel("loss level l")
    ax.set_ylabel("log10 P_0(L <= l) below typical, P_0(L >= l) above")
    ax.set_title("Tail probabilities of the loss under random perturbations (2 s.e.)", fontsize=9)
    ax.legend(fontsize=7)
    return figure
