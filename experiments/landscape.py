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
from statjax.thermo import grid_expectation

NUM_BASINS = 3
MULLER_BROWN = MullerBrown()
_BASIN_COLORS = ("tab:blue", "tab:orange", "tab:green")
# The classic view of the surface (Müller & Brown 1979, Fig. 1), for the contour plots.
_PLOT_LOWER, _PLOT_UPPER = (-1.7, -0.6), (1.3, 2.2)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Sampler:
    """The MCMC kernel: MALA (``step_size`` a Langevin time step) or HMC."""

    kind: Literal["mala", "hmc"] = setting("mala", help="the kernel: mala or hmc")
    step_size: float = setting(
        5e-4, gt=0, help="MALA time step or HMC leapfrog step, in length^2 / energy"
    )
    num_integration_steps: int = setting(10, ge=1, help="leapfrog steps per HMC move (hmc only)")


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
    state = _initial_state(config, kernel)
    restored = run.restore_checkpoint(state)
    step = 0
    if restored is not None:
        step, state = restored.step, restored.state
    # The chain axis (every temperature's chains) is split over the config's devices;
    # on one device nothing changes. Sharded and unsharded runs are bit-identical.
    mesh = parallel.mesh_from_config(config.devices)
    if mesh.size > 1:
        state = {**state, "chains": parallel.shard_chains(state["chains"], mesh)}

    with run.progress(config.num_steps, initial=step) as progress:
        while step < config.num_steps:
            length = min(config.checkpoint_every, config.num_steps - step)
            chains, (basins, accepted, energies) = statjax.run_chains(
                kernel,
                state["key"],
                state["chains"],
                length,
                beta=betas,
                observe=_observe,
                thin=config.thin,
                start_step=step,
                chunk_size=config.chunk_size,
                callback=progress.callback(step),
            )
            state = _record(state, chains, np.asarray(basins), np.asarray(accepted), step, config)
            step += length
            run.log(step, **_interval_metrics(state, np.asarray(accepted), energies, config))
            run.save_checkpoint(step, state)

    grid_temperatures = np.geomspace(
        0.8 * min(config.temperatures), 1.25 * max(config.temperatures), 40
    )
    exact = _grid_probabilities(
        np.concatenate([config.temperatures, grid_temperatures]), config.grid
    )
    summary = _summary(state, exact[:num_temperatures], config)
    run.save_figure(_samples_figure(state, summary, config), "samples.png")
    run.save_figure(
        _probabilities_figure(summary, grid_temperatures, exact[num_temperatures:]),
        "basin_probabilities.png",
    )
    return summary


def _kernel(sampler: Sampler) -> Any:
    if sampler.kind == "hmc":
        return statjax.hmc(MULLER_BROWN, sampler.step_size, sampler.num_integration_steps)
    return statjax.mala(MULLER_BROWN, sampler.step_size)


def _observe(state, info):
    """What is recorded every ``thin`` steps; one module-level function, so it compiles once."""
    return MULLER_BROWN.basin_of(state.position), info.is_accepted, state.energy


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


def _samples_figure(state, summary: dict, config: Config) -> Figure:
    """One panel per temperature: energy contours and every chain's final position."""
    num_temperatures = len(config.temperatures)
    columns = min(num_temperatures, 4)
    rows = math.ceil(num_temperatures / columns)
    figure = Figure(figsize=(4.2 * columns, 3.9 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    xs = np.linspace(_PLOT_LOWER[0], _PLOT_UPPER[0], 200)
    ys = np.linspace(_PLOT_LOWER[1], _PLOT_UPPER[1], 200)
    mesh = jnp.stack(jnp.meshgrid(xs, ys, indexing="xy"), -1).reshape(-1, 2)
    energy = np.asarray(jax.vmap(MULLER_BROWN)(mesh)).reshape(ys.size, xs.size)
    positions = np.asarray(state["chains"].position)
    final_basins = np.asarray(jax.jit(jax.vmap(MULLER_BROWN.basin_of))(positions))
    positions = _per_temperature(positions, config)
    final_basins = _per_temperature(final_basins, config)
    for t, entry in enumerate(summary["temperatures"]):
        ax = axes[t]
        ax.contourf(xs, ys, np.minimum(energy, 100.0), levels=30, cmap="Greys_r", alpha=0.8)
        ax.contour(xs, ys, energy, levels=np.arange(-150, 100, 20), colors="k", linewidths=0.4)
        for basin in range(NUM_BASINS):
            chosen = positions[t][final_basins[t] == basin]
            ax.scatter(*chosen.T, s=4, color=_BASIN_COLORS[basin], alpha=0.7, linewidths=0)
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
            0.02, 0.02, "\n".join(lines), transform=ax.transAxes, fontsize=7, va="bottom",
            bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0},
        )  # fmt: skip
        ax.set_title(f"T = {entry['temperature']:g} (beta = {entry['beta']:.3g})")
        ax.set_xlim(_PLOT_LOWER[0], _PLOT_UPPER[0])
        ax.set_ylim(_PLOT_LOWER[1], _PLOT_UPPER[1])
        ax.set_xlabel("x")
        ax.set_ylabel("y")
    for ax in axes[num_temperatures:]:
        ax.set_visible(False)
    figure.suptitle(
        f"Müller–Brown: final positions of {config.num_chains} {config.sampler.kind.upper()} "
        f"chains per temperature after {config.num_steps} steps, coloured by basin"
    )
    return figure


def _probabilities_figure(summary: dict, temperatures: np.ndarray, exact: np.ndarray) -> Figure:
    """``P_b(T)`` from the grid (curves) and from the chains (points, 2-sigma bars)."""
    figure = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = figure.subplots()
    minima_energy = np.asarray(jax.vmap(MULLER_BROWN)(MULLER_BROWN.minima()))
    sampled_t = [entry["temperature"] for entry in summary["temperatures"]]
    for basin in range(NUM_BASINS):
        color = _BASIN_COLORS[basin]
        label = f"basin {basin} (E_min = {minima_energy[basin]:.1f})"
        ax.plot(temperatures, exact[:, basin], color=color, label=f"{label}, grid")
        ax.errorbar(
            sampled_t,
            [entry["basin_probability"][basin] for entry in summary["temperatures"]],
            yerr=[2 * entry["standard_error"][basin] for entry in summary["temperatures"]],
            fmt="o",
            color=color,
            markersize=4,
            capsize=3,
        )
    ax.set_xlabel("temperature T")
    ax.set_ylabel("basin occupation probability")
    ax.set_ylim(0.0, 1.0)
    ax.set_title("Müller–Brown: grid quadrature (lines), chains (points, ±2 s.e.)", fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    return figure
