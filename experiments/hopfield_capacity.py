r"""Storage capacity of the Hopfield network: retrieval overlap against the load ``alpha = P / N``.

A Hopfield network with Hebbian couplings (:mod:`statjax.models.hopfield`) stores
``P`` random patterns of ``N`` spins. Started from a stored pattern (or one with
``flip_fraction`` of its spins flipped), asynchronous Glauber dynamics at
temperature ``T`` stays near it while the load is small; in the limit ``N -> inf``
the retrieval state disappears at ``alpha_c ≈ 0.138`` at ``T = 0`` (Amit,
Gutfreund & Sompolinsky 1985, PRL 55, 1530), where the overlap jumps from 0.967
to a small value, and at a lower ``alpha_c(T)`` at ``T > 0`` (AGS 1987, Ann.
Phys. 173, 30; their replica-symmetric theory is drawn for reference,
:func:`statjax.models.hopfield.ags_branch`).

For every temperature in ``temperatures`` and size ``N`` in ``sizes``, and every
load in ``loads``: ``num_networks`` independent pattern sets, the first
``num_cues`` patterns of each cued, ``num_sweeps`` sweeps
(:func:`statjax.models.hopfield.capacity_curve`: all loads, networks and cues
vmapped in one compiled program per ``(N, T)``), and the final overlap ``m`` with
the cued pattern recorded. Reported per ``(T, N)``:

- the mean final overlap per load, with its standard error over networks (the
  cues of one network share its couplings, so the network is the independent unit);
- ``alpha_c(N, T)``: the load where the mean overlap first falls below
  ``threshold``, linearly interpolated (:func:`statjax.models.hopfield.critical_load`);
  its error bar is the standard deviation over ``num_bootstrap`` bootstrap
  resamples of the networks at every load.

**Finite N.** At finite ``N`` the collapse is a smooth crossover and sits at
larger loads than ``alpha_c``: a retrieval state loses stability by an avalanche
of errors that a small network may not complete, and near ``alpha_c`` some pattern
sets still retrieve. The estimate falls towards the AGS value as ``N`` grows; the
threshold is a convention that matters at finite ``N`` only (as ``N -> inf`` any
value between the post-collapse overlap and 0.967 gives ``alpha_c``). At ``T = 0``
the dynamics reaches a fixed point within the sweeps (30 and 100 sweeps give the
same overlaps at ``N = 400``); at ``T > 0`` a finite network leaves a retrieval
state over a barrier that grows with ``N``, so the overlap after ``num_sweeps`` is
a dynamical quantity that falls with ``num_sweeps`` (at ``N = 400, T = 0.1,
alpha = 0.16``: 0.49 after 30 sweeps, 0.39 after 100), while AGS's ``alpha_c(T)``
is the ``N -> inf`` limit where the barrier is infinite.

Writes ``capacity.png`` (overlap against load per temperature, every ``N``, the
AGS curve; and ``alpha_c`` against ``N``), ``metrics.jsonl`` (one line per
``(T, N)``) and ``summary.json``. A checkpoint is taken after every
``checkpoint_every`` finished ``(T, N)`` curves; ``statjax run --resume`` gives
the same summary.

Example:
    $ statjax run configs/hopfield_capacity.yaml
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.models import hopfield
from statjax.runs import Run


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the Hopfield capacity experiment; ``checkpoint_every`` counts (T, N) curves."""

    sizes: tuple[int, ...] = setting((100, 200, 400), ge=4, min_length=1, help="numbers of spins N")
    temperatures: tuple[float, ...] = setting(
        (0.0, 0.1), ge=0, lt=1, min_length=1, help="temperatures T of the dynamics (0: sign rule)"
    )
    loads: tuple[float, ...] = setting(gt=0, min_length=3, help="loads alpha = P / N, increasing")
    num_networks: int = setting(16, ge=2, help="independent pattern sets per load")
    num_cues: int = setting(4, ge=1, help="cued patterns per pattern set")
    num_sweeps: int = setting(30, ge=1, help="asynchronous sweeps from each cue")
    flip_fraction: float = setting(0.0, ge=0, lt=0.5, help="share of a cue's spins flipped")
    threshold: float = setting(
        0.75, gt=0, lt=1, help="mean overlap below which retrieval counts as collapsed"
    )
    num_bootstrap: int = setting(200, ge=2, help="bootstrap resamples for the alpha_c error bar")

    def validate(self) -> None:
        """Loads increase; every network has at least ``num_cues`` patterns."""
        if list(self.loads) != sorted(set(self.loads)):
            raise ConfigError("loads", list(self.loads), "strictly increasing")
        smallest = max(1, round(min(self.loads) * min(self.sizes)))
        if self.num_cues > smallest:
            raise ConfigError(
                "num_cues", self.num_cues, f"at most the smallest number of patterns, {smallest}"
            )


def _blocks(config: Config) -> list[tuple[float, int]]:
    return [(t, n) for t in config.temperatures for n in config.sizes]


def measure(config: Config, temperature: float, num_spins: int, key) -> np.ndarray:
    """Final overlaps ``(L, num_networks, num_cues)`` for one ``(T, N)``."""
    curve = hopfield.capacity_curve(
        key,
        num_spins,
        config.loads,
        num_networks=config.num_networks,
        num_cues=config.num_cues,
        num_sweeps=config.num_sweeps,
        temperature=temperature,
        flip_fraction=config.flip_fraction,
    )
    return np.asarray(curve.overlaps)


def _analyse(config: Config, loads: np.ndarray, overlaps: np.ndarray, key) -> dict:
    """Mean overlap per load, its error over networks, alpha_c and its bootstrap error."""
    per_network = overlaps.mean(axis=-1)  # (L, networks)
    mean = per_network.mean(axis=1)
    error = per_network.std(axis=1, ddof=1) / np.sqrt(config.num_networks)
    picks = jax.random.randint(
        key, (config.num_bootstrap, *per_network.shape), 0, config.num_networks
    )
    resampled = jnp.take_along_axis(jnp.asarray(per_network)[None], picks, axis=2).mean(axis=2)
    crossings = np.asarray(
        jax.vmap(hopfield.critical_load, in_axes=(None, 0, None))(
            loads, resampled, config.threshold
        )
    )
    alpha_c = float(hopfield.critical_load(loads, mean, config.threshold))
    defined = np.isfinite(crossings)
    return {
        "mean_overlap": mean.round(5).tolist(),
        "overlap_standard_error": error.round(5).tolist(),
        "fraction_retrieved": (overlaps >= 0.9).mean(axis=(1, 2)).round(5).tolist(),
        "alpha_c": alpha_c if np.isfinite(alpha_c) else None,
        "alpha_c_error": float(crossings[defined].std(ddof=1)) if defined.sum() > 1 else None,
        "bootstrap_undefined_fraction": float(1.0 - defined.mean()),
    }


def run(config: Config, run: Run) -> dict:
    """Measure every ``(T, N)`` curve in turn, checkpointing; estimate alpha_c; plot."""
    blocks = _blocks(config)
    shape = (len(blocks), len(config.loads), config.num_networks, config.num_cues)
    key = jax.random.key(config.seed)
    loads = _realised_loads(config)

    def advance(state, chunk):
        overlaps = np.array(state["overlaps"])
        index = chunk.start  # one (T, N) curve per chunk (log_every=1)
        temperature, num_spins = blocks[index]
        block_key = jax.random.fold_in(key, index)
        overlaps[index] = measure(config, temperature, num_spins, block_key)
        result = _analyse(
            config, loads[num_spins], overlaps[index], jax.random.fold_in(block_key, 1)
        )
        return {"overlaps": overlaps}, {
            "temperature": temperature,
            "num_spins": num_spins,
            **result,
        }

    initial = {"overlaps": np.zeros(shape, np.float32)}
    state = run.loop(initial, advance, len(blocks), log_every=1, desc="(T, N) curves")

    curves = []
    for index, (temperature, num_spins) in enumerate(blocks):
        block_key = jax.random.fold_in(jax.random.fold_in(key, index), 1)
        result = _analyse(config, loads[num_spins], state["overlaps"][index], block_key)
        curves.append({"temperature": temperature, "num_spins": num_spins} | result)
    theory = {str(t): hopfield.ags_critical_load(t) for t in config.temperatures}
    run.save_figure(_figure(config, curves, loads, theory), "capacity.png")
    return {
        "experiment": "Hopfield storage capacity: final overlap vs load, finite N, T = 0 and T > 0",
        "loads": list(config.loads),
        "threshold": config.threshold,
        "ags_alpha_c": theory,
        "curves": curves,
        "claims": _claims(config, curves, theory),
    }


def _realised_loads(config: Config) -> dict[int, np.ndarray]:
    """``P / N`` with ``P = round(alpha N)``, as stored (not the nominal loads)."""
    return {n: np.maximum(np.rint(np.asarray(config.loads) * n), 1) / n for n in config.sizes}


def _claims(config: Config, curves: list[dict], theory: dict) -> dict:
    """The issue's claims, checked on the measured numbers (reported whether they hold or not)."""
    claims = {}
    for temperature in config.temperatures:
        estimates = [c["alpha_c"] for c in curves if c["temperature"] == temperature]
        if len(estimates) > 1 and None not in estimates:
            claims[f"alpha_c_falls_with_N_at_T={temperature}"] = bool(
                np.all(np.diff(estimates) < 0)
            )
        if None not in estimates:
            gap = [round(e - theory[str(temperature)], 5) for e in estimates]
            claims[f"alpha_c_minus_ags_at_T={temperature}"] = gap
    if len(config.temperatures) > 1:
        cold, hot = min(config.temperatures), max(config.temperatures)
        lower = []
        for num_spins in config.sizes:
            by_t = {c["temperature"]: c["alpha_c"] for c in curves if c["num_spins"] == num_spins}
            if by_t[cold] is not None and by_t[hot] is not None:
                lower.append(by_t[hot] < by_t[cold])
        claims["alpha_c_lower_at_higher_T_for_every_N"] = bool(lower) and all(lower)
    return claims


def _figure(config: Config, curves: list[dict], loads: dict, theory: dict) -> Figure:
    temperatures = config.temperatures
    figure = Figure(figsize=(5.0 * (len(temperatures) + 1), 4.2), layout="constrained")
    axes = figure.subplots(1, len(temperatures) + 1, squeeze=False)[0]
    colors = {n: f"C{i}" for i, n in enumerate(config.sizes)}
    for axis, temperature in zip(axes, temperatures, strict=False):
        for curve in (c for c in curves if c["temperature"] == temperature):
            n = curve["num_spins"]
            style = {"marker": "o", "markersize": 3, "capsize": 2, "color": colors[n]}
            axis.errorbar(
                loads[n], curve["mean_overlap"], yerr=curve["overlap_standard_error"],
                label=f"N = {n}", **style,
            )  # fmt: skip
        # The AGS retrieval state exists up to alpha_c(T) only: no curve beyond it.
        branch = hopfield.ags_branch(temperature)
        shown = branch.loads >= min(config.loads)
        axis.plot(branch.loads[shown], branch.overlaps[shown], "k--", lw=1.2,
                  label="AGS retrieval state, N = inf")  # fmt: skip
        axis.axvline(theory[str(temperature)], color="k", lw=0.8, ls=":")
        axis.axhline(config.threshold, color="grey", lw=0.8, ls=":")
        axis.set_title(
            f"T = {temperature}: final overlap after {config.num_sweeps} sweeps\n"
            f"(AGS alpha_c = {theory[str(temperature)]:.3f}, dotted)"
        )
        axis.set_xlabel("load alpha = P / N")
        axis.set_ylabel("mean final overlap m")
        axis.set_ylim(-0.02, 1.05)
        axis.legend(fontsize=8, loc="lower left")
    axis = axes[-1]
    for index, temperature in enumerate(temperatures):
        rows = [c for c in curves if c["temperature"] == temperature and c["alpha_c"] is not None]
        errors = [c["alpha_c_error"] or 0.0 for c in rows]
        axis.errorbar(
            [c["num_spins"] for c in rows], [c["alpha_c"] for c in rows], yerr=errors,
            marker="o", capsize=3, color=f"C{index + 5}", label=f"T = {temperature}",
        )  # fmt: skip
        axis.axhline(theory[str(temperature)], color=f"C{index + 5}", ls="--", lw=1)
    axis.set_xscale("log")
    axis.minorticks_off()
    axis.set_xticks(list(config.sizes), [str(n) for n in config.sizes])
    axis.set_xlabel("N")
    axis.set_ylabel(f"alpha_c(N): mean overlap < {config.threshold}")
    axis.set_title("finite-N alpha_c (bootstrap error bars)\nvs AGS N = inf (dashed)")
    axis.legend(fontsize=8)
    return figure
