"""The free energy per spin of the 2-D Ising model by five estimators, against Kaufman's value.

For every lattice side ``L`` in ``sizes`` (periodic ``L x L``, ``J = 1``) and every
inverse temperature in ``betas``, ``f(beta) = -log Z / (beta L^2)`` is estimated by

- ``smc``: adaptive tempered SMC from ``beta = 0`` (:func:`statjax.thermo.adaptive_tempered_smc`),
  ``smc.num_runs`` independent runs per target ``beta``, combined as the mean of
  their ``Z`` (each is unbiased); error: delta method over the runs;
- ``population_annealing``: a linear schedule of ``pa.temperatures_per_side * L``
  steps from ``beta = 0`` (:func:`statjax.thermo.population_annealing`),
  ``pa.num_runs`` independent runs per target, combined and with errors as for SMC
  (the family-based single-run error of the library is noisy when the true error
  is small: it came out negative, reported 0, on a 4x4 lattice at beta = 0.3);
- ``replica_exchange_mbar``: one parallel-tempering run per ``L`` over a ladder
  from ``pt.beta_min`` that holds every target, ``log Z`` at every rung by MBAR
  over the stored energies (:func:`statjax.thermo.ladder_log_z`), plus the
  high-temperature series ``log Z(beta_min) = N log 2 + 2 N log cosh b + N t^4``,
  ``t = tanh b`` (exact to ``O(N t^6)``, ~1e-9 at the default ``b``); error: block
  jackknife over the trace;
- ``wang_landau``: the density of states with the 1/t rule for ``L <= wl.max_size``
  (:func:`statjax.thermo.wang_landau`), ``f`` at every ``beta`` from one run of
  ``wl.num_walkers`` walkers; error: over walkers;
- ``ais``: annealed importance sampling on the same linear schedules as population
  annealing (:func:`statjax.thermo.ais`); error: delta method over chains.

Every move is a checkerboard heat-bath sweep. The exact reference is Kaufman's
(1949) finite-lattice partition function (:mod:`statjax.thermo.kaufman`). An
estimate *agrees* when ``|f - f_exact| <= num_sigma * error``. Wall times go to
``timings.json``; ``error_vs_cost.png`` plots ``|f - f_exact|`` (and the error bar)
against the wall time of each (method, L). One entry of the loop is one
(``L``, method) pair, checkpointed after each.

Example:
    $ statjax run configs/ising_free_energy.yaml
"""

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import statjax
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.energy.ising import square_ising
from statjax.runs import Run
from statjax.samplers.lattice import checkerboard
from statjax.samplers.tempering import replica_exchange
from statjax.thermo.ais import ais, ais_estimate
from statjax.thermo.bridge import ladder_log_z, temperature_energies
from statjax.thermo.kaufman import kaufman_log_z
from statjax.thermo.smc import adaptive_tempered_smc, population_annealing
from statjax.thermo.wang_landau import thermodynamics_from_density_of_states, wang_landau

METHODS = ("smc", "population_annealing", "replica_exchange_mbar", "wang_landau", "ais")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SMC:
    """Adaptive tempered SMC."""

    num_particles: int = setting(256, ge=2, help="particles per run")
    num_runs: int = setting(8, ge=2, help="independent runs (the error bar)")
    target_ess: float = setting(0.9, gt=0, lt=1, help="conditional ESS fraction per step")
    sweeps_per_beta: int = setting(2, ge=1, help="heat-bath sweeps after each reweighting")
    max_stages: int = setting(1024, ge=1, help="bound on the number of temperature steps")


@dataclasses.dataclass(frozen=True, kw_only=True)
class PopulationAnnealing:
    """Population annealing and AIS share the linear schedules."""

    num_particles: int = setting(256, ge=2, help="population per run (AIS: chains, all runs)")
    num_runs: int = setting(8, ge=2, help="independent runs (the error bar)")
    temperatures_per_side: int = setting(8, ge=1, help="schedule steps per lattice side L")
    sweeps_per_beta: int = setting(2, ge=1, help="sweeps at each temperature")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReplicaExchange:
    """Parallel tempering for MBAR."""

    beta_min: float = setting(0.01, gt=0, help="hottest rung (high-temperature series there)")
    replicas_per_side: float = setting(0.75, gt=0, help="rungs per lattice side L (>= 4 in all)")
    num_chains: int = setting(4, ge=1, help="independent PT runs")
    num_sweeps: int = setting(4000, ge=20, help="rounds (sweep + swaps) per run")
    burn_in: int = setting(1000, ge=0, help="rounds discarded")
    num_blocks: int = setting(10, ge=2, help="jackknife blocks along time")


@dataclasses.dataclass(frozen=True, kw_only=True)
class WangLandau:
    """Wang-Landau with the 1/t rule (sequential proposals: small lattices only)."""

    max_size: int = setting(16, ge=2, help="largest L run (larger sizes are skipped)")
    num_walkers: int = setting(4, ge=2, help="independent walkers")
    num_sweeps: int = setting(200_000, ge=1, help="sweeps per walker")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """f(beta) of the 2-D Ising model by SMC, PA, PT + MBAR, Wang-Landau and AIS."""

    sizes: tuple[int, ...] = setting((16, 32, 64), ge=2, min_length=1, help="even sides L")
    betas: tuple[float, ...] = setting(
        (0.3, 0.4406868, 0.6), gt=0, min_length=1, help="inverse temperatures"
    )
    methods: tuple[str, ...] = setting(METHODS, min_length=1, help=f"subset of {METHODS}")
    num_sigma: float = setting(4.0, gt=0, help="k of |f - exact| <= k * error")
    smc: SMC = setting(SMC())
    pa: PopulationAnnealing = setting(PopulationAnnealing())
    pt: ReplicaExchange = setting(ReplicaExchange())
    wl: WangLandau = setting(WangLandau())

    def validate(self) -> None:
        """Even sides, known methods, burn-in below the run, beta_min below every beta."""
        for size in self.sizes:
            if size % 2:
                raise ConfigError("sizes", self.sizes, "even sides (checkerboard sweeps)")
        for method in self.methods:
            if method not in METHODS:
                raise ConfigError("methods", self.methods, f"a subset of {METHODS}")
        if self.pt.burn_in + self.pt.num_blocks > self.pt.num_sweeps:
            raise ConfigError("pt.burn_in", self.pt.burn_in, "below pt.num_sweeps - pt.num_blocks")
        if self.pt.beta_min >= min(self.betas):
            raise ConfigError(
                "pt.beta_min", self.pt.beta_min, f"below min(betas) = {min(self.betas)}"
            )


def run(config: Config, run: Run) -> dict:
    """Every (L, method): f at every beta with its error bar; the table and the plot.

    Returns:
        The summary: per L, method and beta the estimate, error, exact value and
        whether it agrees within ``num_sigma`` errors.
    """
    entries = [(size, method) for size in config.sizes for method in config.methods]
    state = {
        "key": jax.random.key(config.seed),
        # (entry, beta, [f, error]); NaN where a method skips a size.
        "results": np.full((len(entries), len(config.betas), 2), np.nan),
    }

    def advance(state, chunk):
        index = chunk.start
        size, method = entries[index]
        key = jax.random.fold_in(jax.random.fold_in(state["key"], size), METHODS.index(method))
        started = time.perf_counter()
        estimates = _ESTIMATORS[method](config, key, size)
        seconds = time.perf_counter() - started
        results = np.array(state["results"])
        if estimates is not None:
            run.record_timing(f"{method}/L={size}", seconds)
            results[index] = estimates
        return {"key": state["key"], "results": results}, {"size": size, "method": method}

    state = run.loop(state, advance, len(entries), log_every=1, desc="(L, method)")
    summary = _summary(config, entries, np.asarray(state["results"]))
    run.save_figure(_figure(config, summary, run.timings()), "error_vs_cost.png")
    return summary


def _kernel(size: int):
    return checkerboard(square_ising(size), "heat_bath")


def _random_spins(key, num: int, size: int) -> jax.Array:
    return jax.random.rademacher(key, (num, size, size), jnp.int8)


def _per_spin(log_z: float, error: float, beta: float, size: int) -> tuple[float, float]:
    return -log_z / (beta * size**2), error / (beta * size**2)


def _independent_runs(one_run, key, num_runs: int, beta: float, size: int):
    """``f`` and its error from independent runs: ``log mean Z_r``, delta method."""
    log_zs = [one_run(*jax.random.split(jax.random.fold_in(key, r))) for r in range(num_runs)]
    log_z, error, _ = ais_estimate(jnp.asarray(log_zs))
    return _per_spin(float(log_z), float(error), beta, size)


def _smc(config: Config, key, size: int) -> np.ndarray:
    out = []
    for i, beta in enumerate(config.betas):

        def one_run(init_key, run_key, beta=beta):
            return adaptive_tempered_smc(
                _kernel(size),
                run_key,
                _random_spins(init_key, config.smc.num_particles, size),
                target_beta=beta,
                base_log_z=size**2 * math.log(2.0),
                target_ess=config.smc.target_ess,
                num_steps_per_beta=config.smc.sweeps_per_beta,
                max_stages=config.smc.max_stages,
            ).log_z

        runs_key = jax.random.fold_in(key, i)
        out.append(_independent_runs(one_run, runs_key, config.smc.num_runs, beta, size))
    return np.asarray(out)


def _schedule(config: Config, beta: float, size: int) -> np.ndarray:
    return np.linspace(0.0, beta, config.pa.temperatures_per_side * size + 1)


def _population_annealing(config: Config, key, size: int) -> np.ndarray:
    out = []
    for i, beta in enumerate(config.betas):

        def one_run(init_key, run_key, beta=beta):
            return population_annealing(
                _kernel(size),
                run_key,
                _random_spins(init_key, config.pa.num_particles, size),
                _schedule(config, beta, size),
                base_log_z=size**2 * math.log(2.0),
                num_steps_per_beta=config.pa.sweeps_per_beta,
            ).log_z

        runs_key = jax.random.fold_in(key, i)
        out.append(_independent_runs(one_run, runs_key, config.pa.num_runs, beta, size))
    return np.asarray(out)


def _ais(config: Config, key, size: int) -> np.ndarray:
    out = []
    for i, beta in enumerate(config.betas):
        init_key, run_key = jax.random.split(jax.random.fold_in(key, i))
        result = ais(
            _kernel(size),
            run_key,
            _random_spins(init_key, config.pa.num_particles * config.pa.num_runs, size),
            _schedule(config, beta, size),
            base_log_z=size**2 * math.log(2.0),
            num_steps_per_beta=config.pa.sweeps_per_beta,
        )
        out.append(_per_spin(float(result.log_z), float(result.standard_error), beta, size))
    return np.asarray(out)


def _ladder(config: Config, size: int) -> np.ndarray:
    rungs = max(4, round(config.pt.replicas_per_side * size))
    grid = np.linspace(config.pt.beta_min, max(config.betas), max(rungs - len(config.betas), 2))
    ladder = np.unique(np.concatenate([grid, config.betas]))
    # Drop grid points too close to a target (they would add a rung and nothing else).
    distance = np.min(np.abs(ladder[:, None] - np.asarray(config.betas)[None, :]), axis=1)
    return ladder[np.isin(ladder, config.betas) | (distance > 1e-3)]


def _high_temperature_log_z(beta: float, size: int) -> float:
    """``N log 2 + 2 N log cosh b + N tanh^4 b``: the first loops of the series (to O(N t^6))."""
    num_spins = size**2
    t = math.tanh(beta)
    return num_spins * (math.log(2.0) + 2.0 * math.log(math.cosh(beta)) + t**4)


def _replica_exchange_mbar(config: Config, key, size: int) -> np.ndarray:
    ladder = _ladder(config, size)
    pt = replica_exchange(_kernel(size), jnp.asarray(ladder))
    init_key, run_key = jax.random.split(key)
    initial = jax.random.rademacher(
        init_key, (config.pt.num_chains, ladder.size, size, size), jnp.int8
    )
    _, energies = statjax.run_chains(
        pt, run_key, initial, config.pt.num_sweeps, observe=temperature_energies
    )
    result = ladder_log_z(
        np.asarray(energies)[config.pt.burn_in :],
        ladder,
        method="mbar",
        base_log_z=_high_temperature_log_z(config.pt.beta_min, size),
        num_blocks=config.pt.num_blocks,
    )
    out = []
    for beta in config.betas:
        rung = int(np.argmin(np.abs(ladder - beta)))
        out.append(_per_spin(result.log_z[rung], result.standard_error[rung], beta, size))
    return np.asarray(out)


def _wang_landau(config: Config, key, size: int) -> np.ndarray | None:
    if size > config.wl.max_size:
        return None
    init_key, run_key = jax.random.split(key)
    dos = wang_landau(
        square_ising(size),
        run_key,
        _random_spins(init_key, config.wl.num_walkers, size),
        config.wl.num_sweeps,
    )
    thermo = thermodynamics_from_density_of_states(dos, np.asarray(config.betas), size**2)
    return np.stack([thermo.free_energy[0], thermo.free_energy[1]], axis=1)


_ESTIMATORS = {
    "smc": _smc,
    "population_annealing": _population_annealing,
    "replica_exchange_mbar": _replica_exchange_mbar,
    "wang_landau": _wang_landau,
    "ais": _ais,
}


def _summary(config: Config, entries, results: np.ndarray) -> dict:
    table = []
    for (size, method), rows in zip(entries, results, strict=True):
        for beta, (value, error) in zip(config.betas, rows, strict=True):
            if np.isnan(value):
                continue
            exact = -kaufman_log_z(beta, size) / (beta * size**2)
            deviation = value - exact
            table.append(
                {
                    "size": size,
                    "method": method,
                    "beta": beta,
                    "free_energy": float(value),
                    "error": float(error),
                    "exact": exact,
                    "deviation": float(deviation),
                    "deviation_in_errors": float(deviation / error) if error > 0 else None,
                    "agrees": bool(abs(deviation) <= config.num_sigma * error),
                }
            )
    return {
        "experiment": "2-D Ising f(beta) by SMC, PA, PT + MBAR, Wang-Landau and AIS vs Kaufman",
        "sizes": list(config.sizes),
        "betas": list(config.betas),
        "methods": list(config.methods),
        "num_sigma": config.num_sigma,
        "error_bars": {
            "smc": "delta method over independent runs (mean of their Z)",
            "population_annealing": "delta method over independent runs (mean of their Z)",
            "replica_exchange_mbar": "block jackknife over the PT trace",
            "wang_landau": "standard error over independent walkers",
            "ais": "delta method over independent chains",
        },
        "all_agree": all(row["agrees"] for row in table),
        "table": table,
    }


def _figure(config: Config, summary: dict, timings: dict) -> Figure:
    """``|f - f_exact|`` and the error bar against the wall time of each (method, L)."""
    figure = Figure(figsize=(7.0, 5.0), layout="constrained")
    ax = figure.subplots()
    markers = dict(zip(config.sizes, "osD^v<>", strict=False))
    colours = dict(zip(METHODS, ("C0", "C1", "C2", "C3", "C4"), strict=True))
    for method in config.methods:
        for size in config.sizes:
            rows = [r for r in summary["table"] if r["method"] == method and r["size"] == size]
            seconds = timings.get(f"{method}/L={size}")
            if not rows or seconds is None:
                continue
            deviation = max(abs(r["deviation"]) for r in rows)
            error = max(r["error"] for r in rows)
            ax.errorbar(
                [seconds],
                [max(deviation, 1e-12)],
                yerr=[[0.0], [error]],
                marker=markers[size],
                color=colours[method],
                linestyle="none",
                label=f"{method} L={size}",
            )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("wall time of all betas (s)")
    ax.set_ylabel("max |f - f_exact| over betas (bar: error)")
    ax.legend(fontsize=7, ncols=2)
    return figure
