"""The 2-D Ising phase transition: finite-size curves, Onsager's solution, Binder crossings.

For every lattice size ``L`` (periodic ``L x L``, ``J = 1``, ``h = 0``) and
every temperature of a grid around ``T_c = 2 / ln(1 + sqrt 2) = 2.2692``
(Onsager 1944), ``num_chains`` independent chains run ``num_sweeps`` sweeps of
one kernel (checkerboard Metropolis or heat bath, or Swendsen–Wang): all the
chains of all temperatures of one size are one ``vmap``-ed batch whose per-chain
``beta`` is a kernel argument, so each size compiles once. After ``burn_in``
sweeps every chain keeps streaming means of ``e = E / N``, ``e^2``, ``|m|``,
``m^2``, ``m^4`` (``m = M / N``).

Observables (:mod:`statjax.thermo.observables` definitions): energy per spin,
``<|m|>``, heat capacity per spin ``c = beta^2 N (<e^2> - <e>^2)``,
susceptibility ``chi = beta N (<m^2> - <|m|>^2)`` and the Binder cumulant
``U_4 = 1 - <m^4> / (3 <m^2>^2)`` (Binder 1981). Error bars: delete-one jackknife
over the independent chains of a temperature (one standard error).

T_c from the Binder crossings: ``U_4(T)`` curves of different ``L`` cross near
``T_c`` (corrections to scaling shift the crossing of ``L`` and ``2L`` by
``O(L^{-omega - 1/nu})``, small in 2-D). For each pair of consecutive sizes the
crossing is where ``U_4^{(2L)} - U_4^{(L)}`` changes sign on the temperature grid,
by linear interpolation; the estimate of ``T_c`` is the crossing of the two
largest sizes, its error the jackknife over chains (leaving out chain ``c`` at
every temperature and size at once). The summary checks it against the exact
``T_c`` to within ``tolerance`` (relative).

Autocorrelation: at ``beta_c`` on an ``autocorrelation.size`` lattice, the
integrated autocorrelation time of ``|m|`` (``tau = 1 + 2 sum rho``, Sokal's
windowing; :func:`statjax.diagnostics.integrated_autocorrelation_time`) of
checkerboard Metropolis, heat bath and Swendsen–Wang (Swendsen & Wang 1987),
each with the wall time per sweep (in ``timings.json``, not the summary).

Writes ``ising_phase.png`` (E, |m|, C, U_4 against T for every L, Onsager's
infinite-lattice curves on top), ``metrics.jsonl`` (per checkpoint: size, sweep,
running mean energy per temperature) and ``summary.json``.

Example:
    $ statjax run configs/ising_phase.yaml
"""

import dataclasses
import math
import time
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import statjax
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.diagnostics import integrated_autocorrelation_time
from statjax.energy.ising import square_ising
from statjax.moments import running_moments_merge
from statjax.runs import Run
from statjax.samplers.cluster import swendsen_wang
from statjax.samplers.lattice import checkerboard
from statjax.samplers.run import initial_states
from statjax.thermo.observables import jackknife
from statjax.thermo.onsager import (
    CRITICAL_BETA,
    onsager_heat_capacity,
    onsager_internal_energy,
    onsager_magnetization,
)
from statjax.thermo.scaling import scaling_collapse

CRITICAL_TEMPERATURE = 1.0 / CRITICAL_BETA
_MOMENTS = ("e", "e2", "abs_m", "m2", "m4")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Autocorrelation:
    """The autocorrelation comparison at ``beta_c``."""

    size: int = setting(32, ge=4, help="lattice side L (even)")
    num_chains: int = setting(8, ge=1, help="independent chains per kernel")
    num_sweeps: int = setting(4000, ge=100, help="sweeps per chain (a multiple of 4)")
    burn_in: int = setting(500, ge=0, help="sweeps discarded first")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the Ising phase experiment (``checkpoint_every`` counts sweeps)."""

    sizes: tuple[int, ...] = setting((8, 16, 32), ge=2, min_length=2, help="lattice sides L")
    temperatures: tuple[float, ...] = setting(
        gt=0, min_length=3, help="temperatures T = 1 / beta (J = k_B = 1), increasing"
    )
    kernel: Literal["metropolis", "heat_bath", "swendsen_wang"] = setting(
        "metropolis", help="metropolis, heat_bath (checkerboard sweeps) or swendsen_wang"
    )
    num_chains: int = setting(64, ge=2, help="independent chains per temperature and size")
    num_sweeps: int = setting(ge=1, help="sweeps per chain, burn-in included")
    burn_in: int = setting(ge=0, help="sweeps before measurements start")
    tolerance: float = setting(0.01, gt=0, help="relative tolerance on T_c from Binder crossings")
    autocorrelation: Autocorrelation = setting(Autocorrelation(), help="tau(|m|) at beta_c")

    def validate(self) -> None:
        """Sizes even, temperatures increasing, burn-in and run tiled by checkpoints."""
        if any(size % 2 for size in self.sizes):
            raise ConfigError("sizes", list(self.sizes), "even sides (checkerboard sweeps)")
        if list(self.sizes) != sorted(set(self.sizes)):
            raise ConfigError("sizes", list(self.sizes), "distinct sides in increasing order")
        if list(self.temperatures) != sorted(set(self.temperatures)):
            raise ConfigError("temperatures", list(self.temperatures), "increasing values")
        if self.autocorrelation.size % 2:
            raise ConfigError("autocorrelation.size", self.autocorrelation.size, "an even side")
        if self.autocorrelation.num_sweeps % 4:
            raise ConfigError(
                "autocorrelation.num_sweeps", self.autocorrelation.num_sweeps, "a multiple of 4"
            )
        if self.burn_in >= self.num_sweeps:
            raise ConfigError("burn_in", self.burn_in, f"below num_sweeps ({self.num_sweeps})")
        for name in ("burn_in", "num_sweeps"):
            if getattr(self, name) % self.checkpoint_every:
                raise ConfigError(
                    name,
                    getattr(self, name),
                    f"a multiple of checkpoint_every ({self.checkpoint_every})",
                )


def _kernel(name: str, size: int):
    model = square_ising(size)
    if name == "swendsen_wang":
        return swendsen_wang(model)
    return checkerboard(model, rule=name)


def _observe(state):
    """Per-spin moments of one chain; module-level so that it compiles once per kernel."""
    num_spins = state.position.size
    energy = state.energy / num_spins
    magnetization = state.magnetization.astype(jnp.float32) / num_spins
    return jnp.stack(
        [energy, energy**2, jnp.abs(magnetization), magnetization**2, magnetization**4]
    )


def _keys(seed: int):
    """Independent keys for the chains (their steps), the initial spins and the tau runs.

    The chains' key is folded with the global step (the one key rule), so nothing
    else may fold integers into it.
    """
    return tuple(jax.random.split(jax.random.key(seed), 3))


def _initial_state(config: Config) -> dict:
    """Random spins for every size, temperature-major chains, empty moment sums."""
    chain_key, spin_key, _ = _keys(config.seed)
    total = len(config.temperatures) * config.num_chains
    state = {"key": chain_key}
    for index, size in enumerate(config.sizes):
        spins = jax.random.rademacher(
            jax.random.fold_in(spin_key, index), (total, size, size), dtype=jnp.int8
        )
        state[f"chains_{size}"] = initial_states(_kernel(config.kernel, size), spins)
        state[f"count_{size}"] = np.zeros((), np.float32)
        state[f"mean_{size}"] = np.zeros((total, len(_MOMENTS)), np.float32)
        state[f"m2_{size}"] = np.zeros((total, len(_MOMENTS)), np.float32)
    return state


def run(config: Config, run: Run) -> dict:
    """Sample every size and temperature (checkpointed), then analyse and plot.

    Returns:
        The summary: per size and temperature the observables with errors, the
        Binder crossings and the T_c estimate, and the autocorrelation comparison.
    """
    betas = np.repeat(1.0 / np.asarray(config.temperatures), config.num_chains)

    def advance(state, chunk):
        size = config.sizes[chunk.start // config.num_sweeps]
        sweep = chunk.start % config.num_sweeps
        measuring = sweep >= config.burn_in  # burn_in is a multiple of checkpoint_every
        with run.timed(f"sampling L={size}"):
            chains, moments = statjax.run_chains(
                _kernel(config.kernel, size),
                state["key"],
                state[f"chains_{size}"],
                chunk.length,
                beta=betas,
                observe=_observe if measuring else None,
                streaming=measuring,
                start_step=chunk.start,
                callback=chunk.callback,
            )
            jax.block_until_ready(chains)
        state = dict(state, **{f"chains_{size}": chains})
        if measuring:
            state.update(_merge(state, size, moments))
        mean_energy = np.asarray(chains.energy).reshape(len(config.temperatures), -1)
        metrics = {
            "size": size,
            "sweep": sweep + chunk.length,
            "mean_energy_per_spin": (mean_energy.mean(1) / size**2).tolist(),
        }
        return state, metrics

    # Sizes one after another: global step = size index * num_sweeps + sweep.
    total_steps = len(config.sizes) * config.num_sweeps
    state = run.loop(_initial_state(config), advance, total_steps)

    results = {size: _observables(state, size, config) for size in config.sizes}
    crossings = _binder_crossings(state, config)
    autocorrelation = _autocorrelation(config, run)
    summary = _summary(results, crossings, autocorrelation, config)
    run.save_figure(_figure(results, crossings, config), "ising_phase.png")
    return summary


def _merge(state: dict, size: int, moments) -> dict:
    """Chan-merge the streamed moments of one stretch into the running per-chain sums."""
    previous = type(moments)(
        jnp.asarray(state[f"count_{size}"]),
        jnp.asarray(state[f"mean_{size}"]),
        jnp.asarray(state[f"m2_{size}"]),
    )
    merged = running_moments_merge(previous, moments)
    return {
        f"count_{size}": np.asarray(merged.count, np.float32),
        f"mean_{size}": np.asarray(merged.mean, np.float32),
        f"m2_{size}": np.asarray(merged.m2, np.float32),
    }


def _chain_means(state: dict, size: int, config: Config) -> np.ndarray:
    """Per-chain means ``(num_chains, num_temperatures, 5)`` of the moments."""
    means = np.asarray(state[f"mean_{size}"], np.float64)
    return means.reshape(len(config.temperatures), config.num_chains, -1).transpose(1, 0, 2)


def _observable_functions(size: int, betas: np.ndarray) -> dict:
    num_spins = size**2
    return {
        "energy_per_spin": (lambda e: e, ("e",)),
        "abs_magnetization": (lambda m: m, ("abs_m",)),
        "heat_capacity_per_spin": (
            lambda e, e2: betas**2 * num_spins * (e2 - e**2),
            ("e", "e2"),
        ),
        "susceptibility_per_spin": (
            lambda m, m2: betas * num_spins * (m2 - m**2),
            ("abs_m", "m2"),
        ),
        "binder_cumulant": (lambda m2, m4: 1.0 - m4 / (3.0 * m2**2), ("m2", "m4")),
    }


def _observables(state: dict, size: int, config: Config) -> dict:
    """Jackknife estimates over chains, per temperature, of the five observables."""
    means = _chain_means(state, size, config)
    betas = 1.0 / np.asarray(config.temperatures)
    results = {}
    for name, (function, inputs) in _observable_functions(size, betas).items():
        columns = [jnp.asarray(means[..., _MOMENTS.index(m)]) for m in inputs]
        estimate = jackknife(function, *columns)
        results[name] = {
            "value": np.asarray(estimate.value, np.float64),
            "error": np.asarray(estimate.error, np.float64),
        }
    return results


def _crossing(temperatures: np.ndarray, small: np.ndarray, large: np.ndarray) -> float:
    """First temperature where ``large - small`` turns from positive to negative (linear)."""
    difference = large - small
    signs = np.flatnonzero((difference[:-1] > 0) & (difference[1:] <= 0))
    if signs.size == 0:
        return math.nan
    i = signs[0]
    fraction = difference[i] / (difference[i] - difference[i + 1])
    return float(temperatures[i] + fraction * (temperatures[i + 1] - temperatures[i]))


def _binder_crossings(state: dict, config: Config) -> list[dict]:
    """Crossings of U_4 for consecutive sizes, with jackknife errors over chains."""
    temperatures = np.asarray(config.temperatures)
    binder = {}
    for size in config.sizes:
        means = _chain_means(state, size, config)
        m2, m4 = means[..., 3], means[..., 4]
        n = config.num_chains
        left_out_m2 = (m2.sum(0) - m2) / (n - 1)
        left_out_m4 = (m4.sum(0) - m4) / (n - 1)
        binder[size] = (
            1 - m4.mean(0) / (3 * m2.mean(0) ** 2),
            1 - left_out_m4 / (3 * left_out_m2**2),
        )
    crossings = []
    for small, large in zip(config.sizes[:-1], config.sizes[1:], strict=True):
        full = _crossing(temperatures, binder[small][0], binder[large][0])
        left_out = np.array(
            [
                _crossing(temperatures, binder[small][1][c], binder[large][1][c])
                for c in range(config.num_chains)
            ]
        )
        n = config.num_chains
        value = n * full - (n - 1) * np.mean(left_out)
        error = math.sqrt((n - 1) / n * np.sum((left_out - left_out.mean()) ** 2))
        crossings.append(
            {
                "sizes": [small, large],
                "temperature": float(value),
                "error": float(error),
                "relative_deviation": float(value / CRITICAL_TEMPERATURE - 1),
            }
        )
    return crossings


def _autocorrelation(config: Config, run: Run) -> dict:
    """tau(|m|) at beta_c for the three kernels on one lattice; the time per sweep to timings."""
    settings = config.autocorrelation
    spins = jnp.ones((settings.num_chains, settings.size, settings.size), jnp.int8)
    results = {}
    for name in ("metropolis", "heat_bath", "swendsen_wang"):
        kernel = _kernel(name, settings.size)
        key = _keys(config.seed)[2]
        # Four chunks; the time per sweep is taken over the last three (compiled).
        chunk_ends = []
        _, trace = statjax.run_chains(
            kernel,
            key,
            spins,
            settings.num_sweeps,
            beta=CRITICAL_BETA,
            observe=_abs_magnetization,
            chunk_size=settings.num_sweeps // 4,
            callback=lambda _done, _total, states, ends=chunk_ends: ends.append(
                _when_ready(states)
            ),
        )
        trace = np.asarray(trace)
        elapsed = chunk_ends[-1] - chunk_ends[0]
        tau = float(integrated_autocorrelation_time(trace[settings.burn_in :]))
        results[name] = {"tau_abs_magnetization": tau}
        timed = f"{3 * settings.num_sweeps // 4} sweeps of {settings.num_chains} chains"
        run.record_timing(f"autocorrelation {name}: {timed}", elapsed)
    for entry in results.values():
        entry["tau_relative_to_swendsen_wang"] = (
            entry["tau_abs_magnetization"] / results["swendsen_wang"]["tau_abs_magnetization"]
        )
    return {
        "size": settings.size,
        "beta": CRITICAL_BETA,
        "num_chains": settings.num_chains,
        "num_sweeps": settings.num_sweeps,
        "definition": "tau = 1 + 2 sum_t rho(t), Sokal's automatic window (c = 5)",
        "kernels": results,
    }


def _when_ready(states) -> float:
    """The time at which ``states`` are computed (dispatch is asynchronous)."""
    jax.block_until_ready(states)
    return time.perf_counter()


def _abs_magnetization(state):
    return jnp.abs(state.magnetization)


def _scaling_fits(results, config: Config) -> dict:
    """``T_c`` and ``nu`` from the collapse of ``U_4``, ``gamma / nu`` from that of ``chi``.

    A polynomial scaling function (statjax.thermo.scaling); errors from the fit's
    covariance. Exact: ``nu = 1``, ``gamma / nu = 7/4``. Temperatures far from
    ``T_c`` leave the scaling window, so only those within 0.25 of it are used.
    """
    sizes = np.asarray(config.sizes)
    temperatures = np.asarray(config.temperatures)
    near = np.abs(temperatures - CRITICAL_TEMPERATURE) <= 0.25
    fits = {}
    for name, observable, exponent in [
        ("binder", "binder_cumulant", None),
        ("susceptibility", "susceptibility_per_spin", 1.75),
    ]:
        values = np.stack([results[size][observable]["value"][near] for size in config.sizes])
        errors = np.stack([results[size][observable]["error"][near] for size in config.sizes])
        errors = np.maximum(errors, 1e-6 * np.abs(values) + 1e-12)
        degree = min(4, values.size - 4)
        if degree < 1:
            fits[name] = None
            continue
        try:
            fit = scaling_collapse(
                sizes,
                temperatures[near],
                values,
                errors,
                critical_temperature=CRITICAL_TEMPERATURE,
                exponent=0.0 if exponent is None else exponent,
                fit_exponent=exponent is not None,
                degree=degree,
            )
        except (ValueError, np.linalg.LinAlgError):
            fits[name] = None
            continue
        fits[name] = {
            "critical_temperature": fit.critical_temperature,
            "critical_temperature_error": float(fit.errors[0]),
            "nu": fit.nu,
            "nu_error": float(fit.errors[1]),
            "reduced_chi2": fit.reduced_chi2,
        }
        if exponent is not None:
            fits[name].update(gamma_over_nu=fit.exponent, gamma_over_nu_error=float(fit.errors[2]))
    return fits


def _summary(results, crossings, autocorrelation, config: Config) -> dict:
    estimate = crossings[-1]
    within = abs(estimate["relative_deviation"]) <= config.tolerance
    per_size = {
        str(size): {
            name: {"value": values["value"].tolist(), "error": values["error"].tolist()}
            for name, values in results[size].items()
        }
        for size in config.sizes
    }
    return {
        "experiment": "2-D Ising phase transition: finite-size observables and Binder crossings",
        "kernel": config.kernel,
        "sizes": list(config.sizes),
        "temperatures": list(config.temperatures),
        "num_chains_per_temperature": config.num_chains,
        "num_sweeps": config.num_sweeps,
        "burn_in": config.burn_in,
        "error_bars": "one standard error, delete-one jackknife over independent chains",
        "critical_temperature_exact": CRITICAL_TEMPERATURE,
        "critical_temperature_estimate": estimate["temperature"],
        "critical_temperature_error": estimate["error"],
        "critical_temperature_relative_deviation": estimate["relative_deviation"],
        "tolerance": config.tolerance,
        "within_tolerance": bool(within),
        "binder_crossings": crossings,
        "scaling_collapse": _scaling_fits(results, config),
        "observables": per_size,
        "autocorrelation_at_critical_point": autocorrelation,
    }


def _figure(results, crossings, config: Config) -> Figure:
    """E, |m|, C and U_4 against T for every L, Onsager's infinite-lattice curves on top."""
    figure = Figure(figsize=(11, 8), layout="constrained")
    axes = figure.subplots(2, 2).ravel()
    temperatures = np.asarray(config.temperatures)
    fine = np.linspace(temperatures[0], temperatures[-1], 400)
    fine_betas = jnp.asarray(1.0 / fine, jnp.float32)
    exact = {
        "energy_per_spin": np.asarray(onsager_internal_energy(fine_betas)),
        "abs_magnetization": np.asarray(onsager_magnetization(fine_betas)),
        "heat_capacity_per_spin": np.asarray(onsager_heat_capacity(fine_betas)),
    }
    labels = {
        "energy_per_spin": "energy per spin E/N",
        "abs_magnetization": "<|m|>",
        "heat_capacity_per_spin": "heat capacity per spin C/N",
        "binder_cumulant": "Binder cumulant U_4",
    }
    for ax, (name, label) in zip(axes, labels.items(), strict=True):
        for size in config.sizes:
            values = results[size][name]
            ax.errorbar(
                temperatures,
                values["value"],
                yerr=2 * values["error"],
                fmt="o-",
                markersize=3,
                capsize=2,
                label=f"L = {size}",
            )
        if name in exact:
            ax.plot(fine, exact[name], "k-", linewidth=1.2, label="Onsager (L = inf)")
        if name == "heat_capacity_per_spin":
            finite = np.isfinite(exact[name])
            top = max(max(results[s][name]["value"].max() for s in config.sizes), 1.0)
            ax.set_ylim(0, 1.5 * top if finite.any() else None)
        ax.axvline(CRITICAL_TEMPERATURE, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("temperature T")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    estimate = crossings[-1]
    axes[3].axvspan(
        estimate["temperature"] - estimate["error"],
        estimate["temperature"] + estimate["error"],
        color="tab:red",
        alpha=0.25,
        label="crossing ± 1 s.e.",
    )
    axes[3].legend(fontsize=8)
    figure.suptitle(
        f"2-D Ising, {config.kernel}, {config.num_chains} chains per point (±2 s.e.); "
        f"T_c from Binder crossing L = {estimate['sizes'][0]}, {estimate['sizes'][1]}: "
        f"{estimate['temperature']:.4f} ± {estimate['error']:.4f} "
        f"(exact {CRITICAL_TEMPERATURE:.4f})"
    )
    return figure
