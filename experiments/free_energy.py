"""log Z by annealed importance sampling and thermodynamic integration, against exact values.

Two systems with an exact partition function:

- the ring of Gaussians (:class:`statjax.energy.RingOfGaussians`, eight modes,
  ``log Z(1) = 0`` exactly), reached from a wide Gaussian base
  ``E_0 = |x|^2 / (2 s_0^2)`` (``log Z_0 = log(2 pi s_0^2)``) along the geometric
  path ``E_b = (1 - b) E_0 + b E_ring``, ``b = t^3`` on a uniform grid of ``t``
  (the integrand changes fastest near the base), HMC moves at every ``b``.
- a periodic ``L x L`` Ising lattice (:func:`statjax.energy.ising.square_ising`) at
  inverse temperature ``beta``, from ``beta = 0`` (``log Z = L^2 log 2``, uniform
  spins) along the temperature path, heat-bath checkerboard sweeps; exact ``log Z``
  by enumeration of the ``2^(L^2)`` configurations (:mod:`statjax.thermo.exact`).

For every number ``K`` of intermediate temperatures in ``num_temperatures``:

- AIS (:mod:`statjax.thermo.ais`) with ``K + 1`` path points and ``num_chains``
  independent chains; error bar: the delta-method standard error of
  ``log mean(w)``;
- TI (:mod:`statjax.thermo.integration`) on a grid of ``K + 1`` points, Simpson's
  rule, ``<dE/db>`` at each point from ``num_chains`` chains run ``ti_steps``
  steps (``ti_burn_in`` discarded); error bar: the statistical error (standard
  errors across independent chains, propagated through the weights) and the
  discretisation error ``|Simpson - trapezoid|``, added in quadrature.

The two are not matched in cost: a chain takes ``K * ais_steps_per_temperature``
steps for AIS and ``(K + 1) * ti_steps`` for TI (``steps_per_chain`` in the
summary). An estimate *agrees* when ``|estimate - exact| <= num_sigma * error bar``. The
sweep is checkpointed after every ``checkpoint_every`` entries of
``num_temperatures``; every entry uses its own key ``fold_in(seed, K)``, so a
resumed run gives the same numbers.

Writes ``errors.png`` (estimate minus exact with error bars against ``K``, one
panel per system), ``metrics.jsonl`` (one line per entry) and ``summary.json``.

Example:
    $ statjax run configs/free_energy.yaml
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import statjax
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.energy import AnisotropicGaussian, RingOfGaussians, interpolated_energy
from statjax.energy.ising import square_ising
from statjax.runs import Run
from statjax.samplers.lattice import checkerboard
from statjax.thermo.ais import ais, ais_geometric
from statjax.thermo.exact import exact_log_z
from statjax.thermo.integration import thermodynamic_integration

SYSTEMS = ("ring", "ising")
METHODS = ("ais", "ti")
# Per system, method and entry: estimate, error bar, and (AIS) ESS or (TI) discretisation error.
NUM_FIELDS = 3


@dataclasses.dataclass(frozen=True, kw_only=True)
class Ring:
    """The ring of Gaussians and its Gaussian base."""

    num_modes: int = setting(8, ge=2, help="modes on the circle")
    radius: float = setting(5.0, gt=0, help="radius of the circle of means")
    scale: float = setting(0.5, gt=0, help="standard deviation of every mode")
    base_scale: float = setting(4.0, gt=0, help="standard deviation s_0 of the Gaussian base")
    step_size: float = setting(0.05, gt=0, help="HMC leapfrog step")
    num_integration_steps: int = setting(10, ge=1, help="leapfrog steps per HMC move")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Ising:
    """The periodic square Ising lattice."""

    size: int = setting(4, ge=2, le=4, help="side L (even; 2^(L^2) configurations enumerated)")
    beta: float = setting(0.4, gt=0, help="inverse temperature of the target")

    def validate(self) -> None:
        """The checkerboard sweep needs even sides."""
        if self.size % 2:
            raise ConfigError("size", self.size, "an even number")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the free-energy experiment; ``checkpoint_every`` counts sweep entries."""

    num_temperatures: tuple[int, ...] = setting(
        ge=2, min_length=1, help="numbers K of intermediate temperatures to sweep"
    )
    num_chains: int = setting(ge=2, help="independent chains (AIS runs, TI chains per point)")
    ais_steps_per_temperature: int = setting(1, ge=1, help="kernel steps at each AIS temperature")
    ti_steps: int = setting(ge=2, help="steps per TI grid point")
    ti_burn_in: int = setting(ge=0, help="TI steps discarded at each grid point")
    num_sigma: float = setting(3.0, gt=0, help="k of the agreement test |est - exact| <= k err")
    ring: Ring = setting(Ring(), help="the ring of Gaussians")
    ising: Ising = setting(Ising(), help="the Ising lattice")

    def validate(self) -> None:
        """TI needs recorded steps after the burn-in."""
        if self.ti_steps - self.ti_burn_in < 2:
            raise ConfigError(
                "ti_burn_in", self.ti_burn_in, f"at most ti_steps - 2 = {self.ti_steps - 2}"
            )


def run(config: Config, run: Run) -> dict:
    """Sweep the number of temperatures; estimate log Z both ways for both systems.

    Args:
        config: the validated config.
        run: the run folder (metrics, checkpoints, figures, progress bar).

    Returns:
        The summary: exact values, and per system, method and ``K`` the estimate,
        its error bar and whether it agrees.
    """
    num_entries = len(config.num_temperatures)
    state = {
        "key": jax.random.key(config.seed),
        "results": np.full((num_entries, len(SYSTEMS), len(METHODS), NUM_FIELDS), np.nan),
    }
    exact = _exact_log_z(config)

    def advance(state, chunk):
        index = chunk.start  # one entry of num_temperatures per chunk (log_every=1)
        num_temperatures = config.num_temperatures[index]
        key = jax.random.fold_in(state["key"], num_temperatures)
        results = np.array(state["results"])
        results[index] = _one_entry(config, key, num_temperatures)
        metrics = _entry_metrics(results[index], num_temperatures, exact)
        return {"key": state["key"], "results": results}, metrics

    state = run.loop(state, advance, num_entries, log_every=1, desc="K")
    summary = _summary(np.asarray(state["results"]), exact, config)
    run.save_figure(_errors_figure(summary), "errors.png")
    return summary


def _ring(config: Config) -> tuple[RingOfGaussians, AnisotropicGaussian]:
    ring = RingOfGaussians(config.ring.num_modes, config.ring.radius, config.ring.scale)
    base = AnisotropicGaussian(mean=jnp.zeros(2), scales=jnp.full(2, config.ring.base_scale))
    return ring, base


def _exact_log_z(config: Config) -> dict:
    ring, _ = _ring(config)
    model = square_ising(config.ising.size)
    return {
        "ring": float(ring.log_z(1.0)),
        "ising": float(exact_log_z(model, config.ising.beta)),
    }


def _one_entry(config: Config, key, num_temperatures: int) -> np.ndarray:
    """``(systems, methods, fields)`` for one number of intermediate temperatures."""
    keys = jax.random.split(key, 4)
    return np.array(
        [
            [
                _ring_ais(config, keys[0], num_temperatures),
                _ring_ti(config, keys[1], num_temperatures),
            ],
            [
                _ising_ais(config, keys[2], num_temperatures),
                _ising_ti(config, keys[3], num_temperatures),
            ],
        ]
    )


def _ring_fractions(num_temperatures: int) -> jax.Array:
    return jnp.linspace(0.0, 1.0, num_temperatures + 1) ** 3


def _ring_kernel(config: Config, energy):
    return statjax.hmc(energy, config.ring.step_size, config.ring.num_integration_steps)


def _ring_base_draws(config: Config, key) -> jax.Array:
    return config.ring.base_scale * jax.random.normal(key, (config.num_chains, 2))


def _ring_ais(config: Config, key, num_temperatures: int) -> list[float]:
    ring, base = _ring(config)
    key_draws, key_run = jax.random.split(key)
    result = ais_geometric(
        _ring_kernel(config, interpolated_energy(base, ring)),
        key_run,
        _ring_base_draws(config, key_draws),
        _ring_fractions(num_temperatures),
        base_log_z=base.log_z(1.0),
        num_steps_per_beta=config.ais_steps_per_temperature,
    )
    return [float(result.log_z), float(result.standard_error), float(result.effective_sample_size)]


def _ring_ti(config: Config, key, num_temperatures: int) -> list[float]:
    ring, base = _ring(config)
    key_draws, key_run = jax.random.split(key)
    fractions = _ring_fractions(num_temperatures)
    kernel = _ring_kernel(config, interpolated_energy(base, ring, 0.0))
    gap = jax.jit(jax.vmap(jax.vmap(lambda x: ring(x) - base(x))))
    positions = _ring_base_draws(config, key_draws)
    means, errors = [], []
    for index, fraction in enumerate(fractions):
        kernel = kernel.replace(energy_fn=kernel.energy_fn.replace(fraction=fraction))
        # One key stream across the grid: point `index` continues at global step
        # index * ti_steps (the driver's rule), as one chain walking the path would.
        final, trace = statjax.run_chains(
            kernel,
            key_run,
            positions,
            config.ti_steps,
            observe=_position,
            start_step=index * config.ti_steps,
        )
        mean, error = _mean_and_error(gap(trace)[config.ti_burn_in :])
        means.append(mean)
        errors.append(error)
        positions = final.position  # each grid point starts where the last one ended
    ti = thermodynamic_integration(fractions, means, errors, base_log_z=base.log_z(1.0))
    return [float(ti.log_z), _total_error(ti), float(ti.discretisation_error)]


def _position(state):
    return state.position


def _energy(state):
    return state.energy


def _mean_and_error(trace) -> tuple[float, float]:
    """Mean over steps and chains of ``trace (steps, chains)``; standard error across chains."""
    chain_means = np.asarray(trace, np.float64).mean(0)
    return float(chain_means.mean()), float(chain_means.std(ddof=1) / math.sqrt(chain_means.size))


def _total_error(ti) -> float:
    return float(np.hypot(ti.statistical_error, ti.discretisation_error))


def _uniform_spins(config: Config, key, num_chains: int) -> jax.Array:
    shape = (num_chains, config.ising.size, config.ising.size)
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1, -1).astype(jnp.int8)


def _ising_ais(config: Config, key, num_temperatures: int) -> list[float]:
    model = square_ising(config.ising.size)
    key_draws, key_run = jax.random.split(key)
    result = ais(
        checkerboard(model, rule="heat_bath"),
        key_run,
        _uniform_spins(config, key_draws, config.num_chains),
        jnp.linspace(0.0, config.ising.beta, num_temperatures + 1),
        base_log_z=model.num_spins * math.log(2.0),
        num_steps_per_beta=config.ais_steps_per_temperature,
    )
    return [float(result.log_z), float(result.standard_error), float(result.effective_sample_size)]


def _ising_ti(config: Config, key, num_temperatures: int) -> list[float]:
    model = square_ising(config.ising.size)
    key_draws, key_run = jax.random.split(key)
    betas = np.linspace(0.0, config.ising.beta, num_temperatures + 1)
    # run_chains needs beta > 0: the first point runs at 1e-9, uniform spins to float precision.
    chain_betas = np.repeat(np.maximum(betas, 1e-9), config.num_chains)
    _, energies = statjax.run_chains(
        checkerboard(model, rule="heat_bath"),
        key_run,
        _uniform_spins(config, key_draws, chain_betas.size),
        config.ti_steps,
        beta=chain_betas,
        observe=_energy,
    )
    energies = np.asarray(energies[config.ti_burn_in :], np.float64)
    per_point = energies.reshape(energies.shape[0], betas.size, config.num_chains)
    stats = [_mean_and_error(per_point[:, k]) for k in range(betas.size)]
    ti = thermodynamic_integration(
        betas,
        [mean for mean, _ in stats],
        [error for _, error in stats],
        base_log_z=model.num_spins * math.log(2.0),
    )
    return [float(ti.log_z), _total_error(ti), float(ti.discretisation_error)]


def _entry_metrics(results: np.ndarray, num_temperatures: int, exact: dict) -> dict:
    metrics = {"num_temperatures": num_temperatures}
    for s, system in enumerate(SYSTEMS):
        for m, method in enumerate(METHODS):
            metrics[f"{system}_{method}_log_z"] = float(results[s, m, 0])
            metrics[f"{system}_{method}_error"] = float(results[s, m, 1])
            metrics[f"{system}_{method}_deviation"] = float(results[s, m, 0] - exact[system])
    return metrics


def _summary(results: np.ndarray, exact: dict, config: Config) -> dict:
    systems = {}
    for s, system in enumerate(SYSTEMS):
        methods = {}
        for m, method in enumerate(METHODS):
            estimate, error, extra = results[:, s, m].T
            agrees = np.abs(estimate - exact[system]) <= config.num_sigma * error
            counts = np.asarray(config.num_temperatures)
            methods[method] = {
                "num_temperatures": list(config.num_temperatures),
                "steps_per_chain": (
                    counts * config.ais_steps_per_temperature
                    if method == "ais"
                    else (counts + 1) * config.ti_steps
                ),
                "log_z": estimate,
                "error": error,
                "effective_sample_size" if method == "ais" else "discretisation_error": extra,
                "z_score": (estimate - exact[system]) / error,
                "agrees": agrees.tolist(),
            }
        systems[system] = {"exact_log_z": exact[system], **methods}
    all_agree = all(
        all(systems[system][method]["agrees"]) for system in SYSTEMS for method in METHODS
    )
    return {
        "experiment": "log Z by AIS and thermodynamic integration against exact values",
        "num_chains": config.num_chains,
        "num_sigma": config.num_sigma,
        "all_agree": all_agree,
        "systems": systems,
    }


def _errors_figure(summary: dict) -> Figure:
    """Estimate minus exact log Z with error bars against K, one panel per system."""
    figure = Figure(figsize=(10.0, 4.0), layout="constrained")
    axes = figure.subplots(1, len(SYSTEMS))
    titles = {"ring": "ring of Gaussians (geometric path)", "ising": "Ising lattice (beta path)"}
    for ax, system in zip(axes, SYSTEMS, strict=True):
        entry = summary["systems"][system]
        for offset, method in zip((0.97, 1.03), METHODS, strict=True):
            counts = np.asarray(entry[method]["num_temperatures"], float)
            ax.errorbar(
                counts * offset,
                np.asarray(entry[method]["log_z"]) - entry["exact_log_z"],
                yerr=entry[method]["error"],
                fmt="o-",
                capsize=3,
                label=method.upper(),
            )
        ax.axhline(0.0, color="k", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("intermediate temperatures K")
        ax.set_ylabel("estimate - exact log Z")
        ax.set_title(f"{titles[system]}: exact log Z = {entry['exact_log_z']:.4f}", fontsize=10)
        ax.legend()
    figure.suptitle(f"log Z, {summary['num_chains']} chains; bars: one error bar")
    return figure
