"""Basin occupation of the Müller–Brown potential at several temperatures, sampled and exact.

The Boltzmann law ``p(x) ∝ exp(-beta E(x))`` on the Müller–Brown surface
(Müller & Brown 1979) puts a probability

    P_b(T) = ∫_{basin b} exp(-E(x) / T) dx / ∫ exp(-E(x) / T) dx

on each of the three basins of attraction (the points that steepest descent
carries into minimum ``b``; :meth:`statjax.energy.MullerBrown.basin_of`). This
experiment estimates ``P_b(T)`` with many independent MALA (or HMC) chains and
compares it with the exact value from trapezoid quadrature of ``exp(-E / T)`` on
a fine grid (:func:`statjax.thermo.grid_expectation` with the basin indicator).

One compiled kernel serves every temperature: the chains of all temperatures
are one ``vmap``-ed batch whose per-chain ``beta`` is an argument of the
kernel. Chains start in equal thirds at the three minima (no knowledge of the
answer), run ``burn_in`` steps, and then the basin of every chain is recorded
every ``thin`` steps.

Estimator and error bar: for chain ``c`` at temperature ``T``, ``f_cb`` is the
fraction of its recorded positions in basin ``b``; ``P_b(T)`` is estimated by
the mean of ``f_cb`` over the ``num_chains`` independent chains and its
standard error is their standard deviation over ``sqrt(num_chains)``. Because
the chains are independent this error bar is honest whatever the
autocorrelation within a chain; it does not cover a bias from chains that have
not forgotten their starting basin, which is why the summary also reports how
often chains entered or left the deepest basin (its barrier, 106 energy units,
is the slowest to cross: at T = 15 that is still several times per chain in the
default run, below T = 12 it is rare, and those temperatures would measure the
starting split, not the Boltzmann law).

Writes ``samples.png`` (the energy contours with every chain's final position
per temperature, coloured by basin), ``basin_probabilities.png`` (``P_b(T)``
from the grid as curves, the chains' estimates with 2-sigma error bars),
``metrics.jsonl`` (per checkpoint: acceptance, mean energy, running basin
probabilities) and ``summary.json``.

Example:
    $ statjax run configs/landscape.yaml
"""

import dataclasses
import hashlib
import math
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import statjax
from statjax import parallel
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.energy import MullerBrown
from statjax.runs import Run
from statjax.samplers.mclmc import mclmc
from statjax.samplers.nuts import nuts
from statjax.samplers.thermostats import baoab, nose_hoover_chain, obabo
from statjax.samplers.window_adaptation import window_adaptation
from statjax.thermo import grid_expectation

NUM_BASINS = 3
MULLER_BROWN = MullerBrown()
_BASIN_COLORS = ("tab:blue", "tab:orange", "tab:green")
# The classic view of the surface (Müller & Brown 1979, Fig. 1), for the contour plots.
_PLOT_LOWER, _PLOT_UPPER = (-1.7, -0.6), (1.3, 2.2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampler:
    """The MCMC kernel (README's "When to use which sampler").

    ``mala``, ``hmc``, ``nuts``; ``mclmc`` (``step_size`` and ``decoherence_length``
    are lengths); the thermostats ``baoab`` (unadjusted), ``obabo`` (Metropolized)
    and ``nose_hoover`` (deterministic chain of 3 thermostats). ``adaptation_steps``
    > 0 tunes hmc/nuts first by Stan's windowed adaptation, one step size and
    diagonal mass matrix per chain (each chain has its temperature).
    """

    kind: Literal["mala", "hmc", "nuts", "mclmc", "baoab", "obabo", "nose_hoover"] = setting(
        "mala", help="the kernel: mala, hmc, nuts, mclmc, baoab, obabo or nose_hoover"
    )
    step_size: float = setting(
        5e-4, gt=0, help="MALA time step or HMC leapfrog step, in length^2 / energy"
    )
    num_integration_steps: int = setting(10, ge=1, help="leapfrog steps per HMC move (hmc only)")
    max_tree_depth: int = setting(10, ge=1, help="NUTS maximum tree depth (nuts only)")
    adaptation_steps: int = setting(
        0, ge=0, help="windowed-adaptation warm-up steps before sampling (hmc, nuts; 0: none)"
    )
    friction: float = setting(1.0, gt=0, help="Langevin collision rate (baoab, obabo)")
    decoherence_length: float = setting(1.0, gt=0, help="MCLMC momentum decoherence length (mclmc)")
    time_scale: float = setting(1.0, gt=0, help="Nosé–Hoover thermostat period (nose_hoover)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Grid:
    """The quadrature grid for the exact basin probabilities (it must hold all the mass)."""

    lower: tuple[float, float] = setting((-3.0, -1.5), help="lower corner (x, y) of the box")
    upper: tuple[float, float] = setting((2.5, 3.5), help="upper corner (x, y) of the box")
    num_points: int = setting(300, ge=10, help="grid points per axis")

    def validate(self) -> None:
        """The box must have positive extent along both axes."""
        if not all(lo < hi for lo, hi in zip(self.lower, self.upper, strict=True)):
            raise ConfigError("upper", list(self.upper), f"above lower = {list(self.lower)}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the landscape experiment (beside the shared ``name``, ``seed``, ...).

    ``checkpoint_every`` counts sampler steps; metrics are logged at every checkpoint.
    """

    temperatures: tuple[float, ...] = setting(
        gt=0, min_length=1, help="temperatures T = 1 / beta, in energy units"
    )
    num_chains: int = setting(ge=2, help="independent chains per temperature")
    num_steps: int = setting(ge=1, help="sampler steps per chain")
    burn_in: int = setting(ge=0, help="steps discarded before basins are recorded")
    thin: int = setting(50, ge=1, help="steps between recorded basins")
    chunk_size: int = setting(1000, ge=1, help="steps per jitted call (progress bar update)")
    num_sigma: float = setting(4.0, gt=0, help="k of the agreement test |P - P_grid| <= k stderr")
    sampler: Sampler = setting(Sampler(), help="the MCMC kernel")
    grid: Grid = setting(Grid(), help="the quadrature grid")

    def validate(self) -> None:
        """Cross-field checks: chunking must tile the run, the burn-in must leave samples."""
        if self.chunk_size % self.thin:
            raise ConfigError("chunk_size", self.chunk_size, f"a multiple of thin ({self.thin})")
        if self.num_steps % self.chunk_size:
            raise ConfigError(
                "num_steps", self.num_steps, f"a multiple of chunk_size ({self.chunk_size})"
            )
        if self.checkpoint_every % self.chunk_size:
            raise ConfigError(
                "checkpoint_every",
                self.checkpoint_every,
                f"a multiple of chunk_size ({self.chunk_size})",
            )
        if self.num_steps - self.burn_in < 2 * self.thin:
            raise ConfigError(
                "burn_in",
                self.burn_in,
                f"at most num_steps - 2 * thin = {self.num_steps - 2 * self.thin}, "
                "so that each chain records at least two basins",
            )


def run(config: Config, run: Run) -> dict:
    """Sample every temperature, checkpoint as it goes, then compare with the grid.

    Args:
        config: the validated config.
        run: the run folder (metrics, checkpoints, figures, progress bar).

    Returns:
        The summary: per temperature the sampled and exact basin probabilities,
        standard errors, z-scores, acceptance rates and deepest-basin crossings.
    """
    kernel = _kernel(config.sampler)
    num_temperatures = len(config.temperatures)
    betas = np.repeat(1.0 / np.asarray(config.temperatures), config.num_chains)
    kernel, per_chain = _adapted(kernel, config, betas)
    # The chain axis (every temperature's chains) is split over the config's devices;
    # on one device nothing changes. Sharded and unsharded runs are bit-identical.
    mesh = parallel.mesh_from_config(config.devices)

    def shard(state):
        if mesh.size > 1:
            state = {**state, "chains": parallel.shard_chains(state["chains"], mesh)}
        return state

    def advance(state, chunk):
        chains, (basins, accepted, energies, diagnostics) = statjax.run_chains(
            kernel,
            state["key"],
            state["chains"],
            chunk.length,
            beta=betas,
            observe=_observe,
            thin=config.thin,
            start_step=chunk.start,
            chunk_size=config.chunk_size,
            callback=chunk.callback,
            per_chain=per_chain,
        )
        accepted = np.asarray(accepted)
        tallied = _tally_diagnostics(state, diagnostics)
        state = _record(state, chains, np.asarray(basins), accepted, chunk.start, config)
        state = {**state, **tallied}
        return state, _interval_metrics(state, accepted, energies, config)

    state = run.loop(_initial_state(config, kernel), advance, config.num_steps, prepare=shard)

    grid_temperatures = np.geomspace(
        0.8 * min(config.temperatures), 1.25 * max(config.temperatures), 40
    )
    exact = _grid_probabilities(
        np.concatenate([config.temperatures, grid_temperatures]), config.grid
    )
    summary = _summary(state, exact[:num_temperatures], config)
    summary["sampler_diagnostics"] = _sampler_diagnostics(kernel, state, config)
    run.save_figure(_samples_figure(state, summary, config), "samples.png")
    run.save_figure(
        _probabilities_figure(summary, grid_temperatures, exact[num_temperatures:]),
        "basin_probabilities.png",
    )
    return summary


def _kernel(sampler: Sampler) -> Any:
    if sampler.kind == "hmc":
        return statjax.hmc(MULLER_BROWN, sampler.step_size, sampler.num_integration_steps)
    if sampler.kind == "nuts":
        return nuts(MULLER_BROWN, sampler.step_size, max_tree_depth=sampler.max_tree_depth)
    if sampler.kind == "mclmc":
        return mclmc(MULLER_BROWN, sampler.step_size, sampler.decoherence_length)
    if sampler.kind == "baoab":
        return baoab(MULLER_BROWN, sampler.step_size, sampler.friction)
    if sampler.kind == "obabo":
        return obabo(MULLER_BROWN, sampler.step_size, sampler.friction)
    if sampler.kind == "nose_hoover":
        return nose_hoover_chain(MULLER_BROWN, sampler.step_size, sampler.time_scale)
    return statjax.mala(MULLER_BROWN, sampler.step_size)


_ADAPTED_FIELDS = ("step_size", "inverse_mass_matrix")


def _adapted(kernel: Any, config: Config, betas: np.ndarray) -> tuple[Any, tuple[str, ...]]:
    """HMC/NUTS tuned by windowed adaptation (one step size and mass matrix per chain).

    A deterministic function of the config and seed, so a resumed run rebuilds the
    same kernel; the warm-up's states are discarded (sampling starts at the minima).
    """
    sampler = config.sampler
    if sampler.adaptation_steps == 0 or sampler.kind not in ("hmc", "nuts"):
        return kernel, ()
    starting_basin = np.tile(np.arange(config.num_chains) % NUM_BASINS, len(config.temperatures))
    kernel, _, _ = window_adaptation(
        kernel,
        jax.random.fold_in(jax.random.key(config.seed), 1),
        MULLER_BROWN.minima()[starting_basin],
        sampler.adaptation_steps,
        beta=betas.astype(np.float32),
        per_chain=True,
    )
    return kernel, _ADAPTED_FIELDS


def _observe(state, info):
    """What is recorded every ``thin`` steps; one module-level function, so it compiles once."""
    return (
        MULLER_BROWN.basin_of(state.position),
        info.is_accepted,
        state.energy,
        _step_diagnostics(info),
    )


def _step_diagnostics(info) -> dict:
    """Per-step sampler diagnostics, zero where a kernel has no such field (one structure)."""
    return {
        "divergent": getattr(info, "is_divergent", jnp.zeros((), bool)).astype(jnp.int32),
        "tree_depth": jnp.asarray(getattr(info, "tree_depth", 0), jnp.int32),
        "integration_steps": jnp.asarray(getattr(info, "num_integration_steps", 0), jnp.int32),
        "diagnosed": jnp.ones((), jnp.int32),
    }


def _tally_diagnostics(state: dict, diagnostics: dict) -> dict:
    """The checkpointed tallies plus a chunk's recorded diagnostics (summed over records)."""
    tallies = {
        name: np.asarray(value).sum(0).astype(np.int64) for name, value in diagnostics.items()
    }
    return {f"diagnostics_{name}": state[f"diagnostics_{name}"] + tallies[name] for name in tallies}


def _sampler_diagnostics(kernel: Any, state: dict, config: Config) -> dict:
    """What `statjax run` shows about the sampler: step size, mass-matrix conditioning, NUTS.

    Counts are over the recorded steps (every ``thin``-th one), summed over all chains.
    """
    diagnosed = int(state["diagnostics_diagnosed"].sum())
    result: dict[str, Any] = {"kind": config.sampler.kind, "recorded_steps": diagnosed}
    step_size = np.asarray(kernel.step_size, np.float64)
    result["step_size"] = {"min": float(step_size.min()), "max": float(step_size.max())}
    mass = getattr(kernel, "inverse_mass_matrix", None)
    if mass is not None:
        # Scalar: the identity. (D,): one diagonal. (C, D): a diagonal per chain (the
        # adaptation here is per chain and diagonal). (C, D, D): dense per chain.
        mass = np.atleast_1d(np.asarray(mass, np.float64))
        if mass.ndim == 3:
            condition = np.linalg.cond(mass)
        else:
            condition = mass.max(-1) / mass.min(-1)
        result["mass_matrix_condition_number"] = {
            "min": float(np.min(condition)),
            "max": float(np.max(condition)),
        }
    if hasattr(kernel, "decoherence_length"):
        result["decoherence_length"] = float(np.asarray(kernel.decoherence_length))
    if config.sampler.kind in ("hmc", "nuts", "obabo"):
        divergences = int(state["diagnostics_divergent"].sum())
        result["divergences"] = divergences
        result["divergence_rate"] = divergences / max(diagnosed, 1)
    if config.sampler.kind == "nuts":
        result["mean_tree_depth"] = float(state["diagnostics_tree_depth"].sum()) / max(diagnosed, 1)
        result["mean_integration_steps"] = float(
            state["diagnostics_integration_steps"].sum()
        ) / max(diagnosed, 1)
    return result


def _initial_state(config: Config, kernel: Any) -> dict:
    """Chains in equal thirds at the three minima, and zeroed tallies (all checkpointed).

    Chains are laid out temperature-major: chain ``t * num_chains + c`` runs at
    ``temperatures[t]``. The tallies are integers, so that a resumed run adds up
    to exactly the same numbers.
    """
    starting_basin = np.tile(np.arange(config.num_chains) % NUM_BASINS, len(config.temperatures))
    positions = MULLER_BROWN.minima()[starting_basin]
    total = starting_basin.size
    return {
        "chains": jax.jit(jax.vmap(kernel.init))(positions),
        "key": jax.random.key(config.seed),
        "basin_counts": np.zeros((total, NUM_BASINS), np.int64),
        "accepted": np.zeros(total, np.int64),
        "last_basin": starting_basin.astype(np.int64),
        "deep_basin_crossings": np.zeros(total, np.int64),
        **{
            f"diagnostics_{name}": np.zeros(total, np.int64)
            for name in ("divergent", "tree_depth", "integration_steps", "diagnosed")
        },
    }


def _record(state, chains, basins, accepted, first_step, config) -> dict:
    """Add one stretch of recorded basins ``(num_records, total_chains)`` to the tallies."""
    record_steps = first_step + config.thin * np.arange(1, basins.shape[0] + 1)
    kept = record_steps > config.burn_in
    in_deep = basins == 0
    was_deep = np.concatenate([(state["last_basin"] == 0)[None], in_deep[:-1]])
    one_hot = basins[kept][..., None] == np.arange(NUM_BASINS)
    return {
        "chains": chains,
        "key": state["key"],
        "basin_counts": state["basin_counts"] + one_hot.sum(0),
        "accepted": state["accepted"] + accepted[kept].sum(0),
        "last_basin": basins[-1].astype(np.int64),
        "deep_basin_crossings": state["deep_basin_crossings"]
        + ((in_deep != was_deep) & kept[:, None]).sum(0),
    }


def _per_temperature(values: np.ndarray, config: Config) -> np.ndarray:
    return values.reshape(len(config.temperatures), config.num_chains, *values.shape[1:])


def _interval_metrics(state, accepted, energies, config) -> dict:
    """Acceptance and mean energy of the last stretch, running basin probabilities so far."""
    counts = _per_temperature(state["basin_counts"], config).sum(1)
    totals = counts.sum(-1, keepdims=True)
    probabilities = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)
    energies = np.asarray(energies, np.float64)
    num_temperatures = len(config.temperatures)
    return {
        "temperature": list(config.temperatures),
        "acceptance_rate": accepted.reshape(-1, num_temperatures, config.num_chains).mean((0, 2)),
        "mean_energy": energies.reshape(-1, num_temperatures, config.num_chains).mean((0, 2)),
        "basin_probability": probabilities,
    }


def _grid_probabilities(temperatures: np.ndarray, grid: Grid) -> np.ndarray:
    """Exact ``P_b(T)`` ``(len(temperatures), 3)`` by trapezoid quadrature on the grid.

    ``vmap`` over ``beta``: the energies and the basin of every grid point do not
    depend on ``beta``, so they are computed once for all temperatures.
    """

    def basin_indicator(x):
        return jax.nn.one_hot(MULLER_BROWN.basin_of(x), NUM_BASINS)

    def probabilities(beta):
        return grid_expectation(
            MULLER_BROWN, basin_indicator, beta, grid.lower, grid.upper, grid.num_points
        )

    betas = jnp.asarray(1.0 / np.asarray(temperatures), jnp.float32)
    return np.asarray(jax.jit(jax.vmap(probabilities))(betas), np.float64)


def _summary(state, exact: np.ndarray, config: Config) -> dict:
    """Per temperature: chain-mean probabilities, standard errors, z-scores against the grid."""
    counts = _per_temperature(state["basin_counts"], config)
    records = counts.sum(-1)  # (num_temperatures, num_chains), all equal
    fractions = counts / records[..., None]
    estimate = fractions.mean(1)
    stderr = fractions.std(1, ddof=1) / math.sqrt(config.num_chains)
    with np.errstate(divide="ignore", invalid="ignore"):
        z_score = np.where(stderr > 0, (estimate - exact) / stderr, np.nan)
    agrees = np.abs(estimate - exact) <= config.num_sigma * stderr
    acceptance = _per_temperature(state["accepted"], config).sum(1) / records.sum(1)
    crossings = _per_temperature(state["deep_basin_crossings"], config).mean(1)
    per_temperature = [
        {
            "temperature": float(temperature),
            "beta": 1.0 / float(temperature),
            "basin_probability": estimate[t],
            "standard_error": stderr[t],
            "grid_probability": exact[t],
            "z_score": z_score[t],
            "agrees": bool(agrees[t].all()),
            "acceptance_rate": float(acceptance[t]),
            "deep_basin_crossings_per_chain": float(crossings[t]),
        }
        for t, temperature in enumerate(config.temperatures)
    ]
    return {
        "experiment": "Müller–Brown basin occupation probabilities, MCMC vs grid quadrature",
        "sampler": config.sampler.kind,
        "num_chains_per_temperature": config.num_chains,
        "num_steps": config.num_steps,
        "records_per_chain": int(records[0, 0]),
        "num_sigma": config.num_sigma,
        "all_agree": all(entry["agrees"] for entry in per_temperature),
        "max_abs_z_score": float(np.nanmax(np.abs(z_score)))
        if np.isfinite(z_score).any()
        else None,
        "minima": np.asarray(MULLER_BROWN.minima(), np.float64),
        "temperatures": per_temperature,
        "final_positions_sha256": _digest(state["chains"].position),
    }


def _digest(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(np.asarray(array)).tobytes()).hexdigest()


def _plot_box(positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The classic view of the surface, widened to hold every chain's position (3 % margin)."""
    lower = np.minimum(_PLOT_LOWER, positions.min(0))
    upper = np.maximum(_PLOT_UPPER, positions.max(0))
    margin = 0.03 * (upper - lower)
    return lower - margin, upper + margin


def _basin_legend_handles() -> list:
    """One marker per basin, named by its minimum (the colours of every panel)."""
    from matplotlib.lines import Line2D

    minima = np.asarray(MULLER_BROWN.minima())
    minima_energy = np.asarray(jax.vmap(MULLER_BROWN)(MULLER_BROWN.minima()))
    return [
        Line2D(
            [],
            [],
            linestyle="",
            marker="o",
            markersize=6,
            color=_BASIN_COLORS[basin],
            label=f"basin {basin}: minimum ({minima[basin, 0]:.2f}, {minima[basin, 1]:.2f}), "
            f"E = {minima_energy[basin]:.1f}",
        )
        for basin in range(NUM_BASINS)
    ]


def _samples_figure(state, summary: dict, config: Config) -> Figure:
    """One panel per temperature: energy contours and every chain's final position.

    The panels share one box, the classic view widened to hold every chain (hot
    chains climb out of it), one grey energy scale with its colour bar, and one
    legend naming the basin colours.
    """
    num_temperatures = len(config.temperatures)
    columns = min(num_temperatures, 4)
    rows = math.ceil(num_temperatures / columns)
    figure = Figure(figsize=(4.2 * columns + 1.0, 3.9 * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, sharex=True, sharey=True).ravel()
    positions = np.asarray(state["chains"].position, np.float64)
    lower, upper = _plot_box(positions)
    xs = np.linspace(lower[0], upper[0], 200)
    ys = np.linspace(lower[1], upper[1], 200)
    mesh = jnp.stack(jnp.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    energy = np.asarray(jax.vmap(MULLER_BROWN)(mesh)).reshape(ys.size, xs.size)
    final_basins = np.asarray(jax.jit(jax.vmap(MULLER_BROWN.basin_of))(positions))
    positions = _per_temperature(positions, config)
    final_basins = _per_temperature(final_basins, config)
    levels = np.arange(-150.0, 101.0, 10.0)
    for t, entry in enumerate(summary["temperatures"]):
        ax = axes[t]
        filled = ax.contourf(
            xs, ys, np.minimum(energy, levels[-1]), levels=levels, cmap="Greys_r", extend="max"
        )
        ax.contour(xs, ys, energy, levels=levels[::2], colors="k", linewidths=0.3)
        for basin in range(NUM_BASINS):
            chosen = positions[t][final_basins[t] == basin]
            ax.scatter(*chosen.T, s=5, color=_BASIN_COLORS[basin], alpha=0.8, linewidths=0)
        lines = [
            f"{b}: {p:.3f}±{s:.3f} (grid {g:.3f})"
            for b, (p, s, g) in enumerate(
                zip(
                    entry["basin_probability"],
                    entry["standard_error"],
                    entry["grid_probability"],
                    strict=True,
                )
            )
        ]
        ax.text(
            0.98, 0.98, "P_b sampled ± s.e.\n" + "\n".join(lines), transform=ax.transAxes,
            fontsize=7, va="top", ha="right",
            bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0},
        )  # fmt: skip
        ax.set_title(f"T = {entry['temperature']:g} (beta = {entry['beta']:.3g})")
        ax.set_xlim(lower[0], upper[0])
        ax.set_ylim(lower[1], upper[1])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    for ax in axes[num_temperatures:]:
        ax.set_visible(False)
    figure.colorbar(filled, ax=axes[:num_temperatures].tolist(), label="energy E(x, y)", shrink=0.9)
    figure.legend(
        handles=_basin_legend_handles(), loc="outside lower center", ncols=NUM_BASINS, fontsize=8,
        title="final position's basin (where steepest descent leads)", title_fontsize=8,
    )  # fmt: skip
    figure.suptitle(
        f"Müller–Brown: final positions of {config.num_chains} {config.sampler.kind.upper()} "
        f"chains per temperature after {config.num_steps} steps, coloured by basin"
    )
    return figure


def _probabilities_figure(summary: dict, temperatures: np.ndarray, exact: np.ndarray) -> Figure:
    """``P_b(T)`` from the grid (curves) and the chains (points, 2-sigma bars); residuals in z.

    The lower panel is ``z = (P_sampled - P_grid) / s.e.`` per basin and sampled
    temperature, with the agreement band ``|z| <= num_sigma``: the test the
    summary's ``agrees`` reports, at a scale where a small bias is visible.
    """
    figure = Figure(figsize=(6.0, 6.0), layout="constrained")
    ax, ax_z = figure.subplots(2, 1, sharex=True, height_ratios=(2.2, 1.0))
    minima_energy = np.asarray(jax.vmap(MULLER_BROWN)(MULLER_BROWN.minima()))
    entries = summary["temperatures"]
    sampled_t = np.asarray([entry["temperature"] for entry in entries])
    # Side by side within a temperature, so that the three residuals do not overlap.
    largest_z = 0.0
    offsets = (np.arange(NUM_BASINS) - 1) * 0.012 * (temperatures.max() - temperatures.min())
    for basin in range(NUM_BASINS):
        color = _BASIN_COLORS[basin]
        label = f"basin {basin} (E_min = {minima_energy[basin]:.1f})"
        ax.plot(temperatures, exact[:, basin], color=color, label=f"{label}, grid")
        ax.errorbar(
            sampled_t,
            [entry["basin_probability"][basin] for entry in entries],
            yerr=[2 * entry["standard_error"][basin] for entry in entries],
            fmt="o",
            color=color,
            markersize=4,
            capsize=3,
        )
        z = np.asarray([np.nan if entry["z_score"][basin] is None else entry["z_score"][basin]
                        for entry in entries], np.float64)  # fmt: skip
        ax_z.plot(sampled_t + offsets[basin], z, "o", color=color, markersize=4)
        largest_z = np.nanmax(np.abs(z), initial=largest_z)
    num_sigma = summary["num_sigma"]
    ax_z.axhspan(-num_sigma, num_sigma, color="tab:green", alpha=0.1, linewidth=0)
    for level in (-num_sigma, num_sigma):
        ax_z.axhline(level, color="tab:green", linewidth=0.8, linestyle="--")
    ax_z.axhline(0.0, color="k", linewidth=0.6)
    limit = max(1.5 * num_sigma, 1.1 * largest_z)  # a failing point stays in view
    ax_z.set_ylim(-limit, limit)
    ax_z.set_xlabel("temperature T")
    ax_z.set_ylabel("z = (sampled - grid) / s.e.")
    ax_z.set_title(f"residuals; band: the agreement test |z| <= {num_sigma:g}", fontsize=9)
    ax.set_ylabel("basin occupation probability")
    ax.set_ylim(0.0, 1.0)
    ax.set_title("Müller–Brown: grid quadrature (lines), chains (points, ±2 s.e.)", fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    return figure
