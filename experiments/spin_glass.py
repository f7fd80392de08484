r"""Ground states and replica overlaps of the Sherrington–Kirkpatrick spin glass.

The SK model (Sherrington & Kirkpatrick 1975, :func:`statjax.energy.ising.sherrington_kirkpatrick`)

.. math::

    E(s) = -\frac{1}{\sqrt N} \sum_{i<j} J_{ij} s_i s_j, \qquad J_{ij} \sim N(0, 1)
    \text{ (or } \pm 1\text{)},

has a spin-glass transition at ``T_c = 1``; below it, Parisi's replica-symmetry-
breaking solution (Parisi 1979, 1980) gives the ground-state energy per spin
``e_inf = -0.7633`` (Crisanti & Rizzo 2002: -0.763166...), approached as
``e_N = e_inf + A N^(-2/3)`` (Boettcher 2005; Palassini 2008),
and the same for Gaussian and ``±1`` couplings.

Part 1, ground-state search. For every size ``N`` in ``sizes`` and each of
``num_instances`` random instances:

- simulated annealing (:func:`statjax.anneal.kernel_annealing` around the
  sequential Metropolis sweep :func:`statjax.samplers.lattice.sequential_sweep`),
  ``num_reads`` independent reads vmapped, ``num_sweeps`` sweeps with the
  geometric schedule ``T_k = T_0 (T_1 / T_0)^(k / (S - 1))``;
- parallel tempering (:func:`statjax.samplers.tempering.replica_exchange`, the
  non-reversible DEO scheme, Syed et al. 2022) around the same sweep, ``R``
  temperatures geometric between ``min_temperature`` and ``max_temperature``,
  ``num_chains`` independent PT runs; the lowest energy any replica visits.

Reported per size, averaged over instances: the best energy per spin (lowest over
all reads / runs) and the mean over reads of each read's best, for both methods;
and the *time to target*, the target of an instance being the lowest energy
either method found (for ``N <= exact_max_size`` the exact ground state by
enumeration, which it is then checked against). Costs are counted in
*replica-sweeps* (``N`` spin updates of one configuration); the measured wall
time of each method's vmapped batch (compilation excluded) goes to
``timings.json`` (``N=... simulated annealing`` / ``parallel tempering``, seconds
summed over instances), from which seconds per replica-sweep follow:

- annealing: ``p`` = fraction of reads that reach the target; the time to
  solution with 99 % confidence (Rønnow et al. 2014, Science 345, 420) is
  ``S * R_99`` replica-sweeps, ``R_99 = ln(0.01) / ln(1 - p)`` reads (1 if
  ``p >= 0.99``, infinite if ``p = 0``);
- tempering: the number of rounds until a run first holds the target in any
  replica, times ``R`` (every round sweeps all ``R`` replicas); the median over
  runs (infinite if fewer than half reach it).

The figure shows the energies per spin against ``N^(-2/3)``, where the finite-``N``
law is a straight line: a least-squares fit of the best energies gives the
extrapolated ``e_inf``, next to Parisi's value at ``N^(-2/3) = 0``.

Part 2, overlaps at equilibrium. Runs ``2p`` and ``2p + 1`` of parallel tempering on
the same instance are independent, so their configurations at one temperature
are two *real replicas*; after ``burn_in`` sweeps, every ``record_every`` sweeps the
overlap ``q = (1/N) sum_i s_i^a s_i^b`` is recorded at every temperature. Above
``T_c`` the distribution ``P(q)`` is a single peak at 0 of width ``~N^(-1/2)``, with
the replica-symmetric (Aizenman, Lebowitz & Ruelle 1987) spin-glass
susceptibility ``chi_SG = N <q^2> = 1 / (1 - beta^2)``; below ``T_c`` it develops two
peaks at ``±q_EA(T)`` joined by a continuous plateau, the finite-size signature of
full replica-symmetry breaking (Young 1983; Bhatt & Young 1985). ``P(q)`` is
pooled over instances and pairs and symmetrised (``q -> -q``), for the size
``overlap_size``, at the ladder temperatures nearest to ``overlap_temperatures``.

Equilibration test (Gaussian couplings): integrating by parts over
``J_ij ~ N(0, 1/N)`` gives, for every ``N`` and ``T`` and averaged over instances,

.. math::

    [\langle E \rangle] / N = -\frac{\beta}{2} \left(1 - [\langle q^2 \rangle]\right),

the analogue for SK of the test of Katzgraber, Palassini & Young (2001). From
random starts the energy comes down and ``<q^2>`` grows, so the two sides meet
only at equilibrium; both are reported per temperature.

Writes ``spin_glass.png`` (energy per spin against ``N^(-2/3)``, time to target
against ``N``, ``P(q)`` at several temperatures), ``metrics.jsonl`` (one line per
instance), ``summary.json`` and ``timings.json``. Checkpointed every
``checkpoint_every`` instances: a resumed run repeats no finished instance and
gives the same summary (each instance's key is ``fold_in(key, N * 100003 + i)``).

Example:
    $ statjax run configs/spin_glass.yaml
"""

import dataclasses
import math
import time
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from statjax.anneal.annealing import kernel_annealing
from statjax.anneal.schedules import geometric_temperature
from statjax.config import ConfigError, ExperimentConfig, setting
from statjax.energy.ising import DenseIsing, sherrington_kirkpatrick
from statjax.runs import Run
from statjax.samplers.lattice import sequential_sweep
from statjax.samplers.loop import Reducer, sample_chains
from statjax.samplers.run import initial_states
from statjax.samplers.tempering import (
    positions_by_temperature,
    replica_exchange,
    tempering_statistics,
)
from statjax.thermo.overlaps import overlap_bin_edges, overlap_distribution, overlap_statistics

PARISI_ENERGY = -0.7633
"""Ground-state energy per spin of the SK model as ``N -> infinity`` (Parisi)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Annealing:
    """Simulated annealing: ``num_reads`` reads of ``num_sweeps`` sequential sweeps."""

    num_reads: int = setting(64, ge=1, help="independent reads per instance (vmapped)")
    num_sweeps: int = setting(1000, ge=2, help="sweeps per read")
    initial_temperature: float = setting(3.0, gt=0, help="T_0 of the geometric schedule")
    final_temperature: float = setting(0.1, gt=0, help="T at the last sweep")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Tempering:
    """Parallel tempering: ``num_chains`` independent runs of an ``R``-temperature ladder."""

    num_chains: int = setting(8, ge=2, help="independent PT runs per instance (pairs: replicas)")
    num_replicas: int = setting(24, ge=2, help="temperatures R in the ladder")
    min_temperature: float = setting(0.3, gt=0, help="coldest temperature")
    max_temperature: float = setting(2.0, gt=0, help="hottest temperature")
    num_sweeps: int = setting(2000, ge=1, help="rounds (a sweep of every replica, then swaps)")
    burn_in: int = setting(1000, ge=0, help="rounds before overlaps and energies are recorded")
    record_every: int = setting(10, ge=1, help="rounds between recorded overlaps")
    scheme: Literal["deterministic", "stochastic", "random_pair"] = setting(
        "deterministic", help="swap scheme (deterministic: non-reversible DEO)"
    )

    def validate(self) -> None:
        """Even number of runs (pairs), a ladder, and records after the burn-in."""
        if self.num_chains % 2:
            raise ConfigError("num_chains", self.num_chains, "an even number (pairs of runs)")
        if self.min_temperature >= self.max_temperature:
            raise ConfigError(
                "min_temperature",
                self.min_temperature,
                f"below max_temperature ({self.max_temperature})",
            )
        if self.num_sweeps % self.record_every:
            raise ConfigError(
                "num_sweeps", self.num_sweeps, f"a multiple of record_every ({self.record_every})"
            )
        if self.num_sweeps - self.burn_in < 2 * self.record_every:
            raise ConfigError(
                "burn_in",
                self.burn_in,
                f"at most num_sweeps - 2 * record_every = "
                f"{self.num_sweeps - 2 * self.record_every}",
            )


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config(ExperimentConfig):
    """Settings of the spin-glass experiment; ``checkpoint_every`` counts instances."""

    sizes: tuple[int, ...] = setting(ge=4, min_length=1, help="numbers of spins N")
    num_instances: int = setting(4, ge=1, help="random instances (disorder samples) per size")
    couplings: Literal["gaussian", "binary"] = setting("gaussian", help="J_ij ~ N(0,1) or ±1")
    overlap_size: int = setting(help="the N whose P(q) is plotted (one of sizes)")
    overlap_temperatures: tuple[float, ...] = setting(
        (0.5, 0.7, 0.9, 1.2, 1.6), gt=0, min_length=1, help="temperatures of the P(q) curves"
    )
    num_bins: int = setting(32, ge=4, help="about this many bins of q in [-1, 1]")
    target_tolerance: float = setting(1e-6, ge=0, help="per spin: reached if E <= target + tol N")
    exact_max_size: int = setting(20, ge=0, le=24, help="enumerate the ground state up to this N")
    annealing: Annealing = setting(Annealing(), help="simulated annealing")
    tempering: Tempering = setting(Tempering(), help="parallel tempering")

    def validate(self) -> None:
        """``overlap_size`` must be one of ``sizes``; the sizes must be distinct."""
        if self.overlap_size not in self.sizes:
            raise ConfigError("overlap_size", self.overlap_size, f"one of sizes {self.sizes}")
        if len(set(self.sizes)) != len(self.sizes):
            raise ConfigError("sizes", list(self.sizes), "distinct sizes")


# ------------------------------------------------------------------ exact ground states


def exact_ground_state(couplings, fields=None, chunk_bits: int = 14) -> tuple[float, np.ndarray]:
    """Ground state of ``E(s) = -1/2 s^T J s - h^T s`` by enumerating all ``2^N`` states.

    Without fields ``E(s) = E(-s)``, so ``s_0 = +1`` is fixed and ``2^(N-1)`` states
    are visited, in float64, in chunks of ``2^chunk_bits``. Meant for ``N <= 24``.

    Returns:
        ``(energy, spins)``: the lowest energy and one configuration ``(N,)`` int8.

    Example:
        >>> import numpy as np
        >>> exact_ground_state(np.array([[0.0, -1.0], [-1.0, 0.0]]))
        (-1.0, array([ 1, -1], dtype=int8))
    """
    couplings = np.asarray(couplings, np.float64)
    num_spins = couplings.shape[0]
    fields = np.zeros(num_spins) if fields is None else np.asarray(fields, np.float64)
    free = num_spins - 1 if not np.any(fields) else num_spins
    bits = np.arange(free)
    best_energy, best_spins = np.inf, None
    chunk = 1 << min(chunk_bits, free)
    for first in range(0, 1 << free, chunk):
        index = np.arange(first, first + chunk, dtype=np.int64)[:, None]
        spins = 1 - 2 * ((index >> bits) & 1)
        if free < num_spins:
            spins = np.concatenate([np.ones((chunk, 1), np.int64), spins], axis=1)
        spins = spins.astype(np.float64)
        energies = -0.5 * np.einsum("ci,ij,cj->c", spins, couplings, spins) - spins @ fields
        k = int(np.argmin(energies))
        if energies[k] < best_energy:
            best_energy, best_spins = float(energies[k]), spins[k].astype(np.int8)
    return best_energy, best_spins


# ------------------------------------------------------------------ parallel tempering


def _lowest_replica_energy(state, info):
    """The lowest energy among one run's replicas (the driver's ``observe``)."""
    del info
    return state.energy.min(-1)


LOWEST = Reducer(
    init=lambda energy: jnp.full(energy.shape, jnp.inf, energy.dtype),
    update=lambda lowest, energy, step: jnp.minimum(lowest, energy),
)
"""The lowest energy per run over every round (not only the recorded ones)."""


@partial(jax.jit, static_argnames=("scheme", "num_records", "record_every"))
def _tempering(couplings, betas, key, states, *, scheme, num_records: int, record_every: int):
    """``num_records * record_every`` PT rounds of every run; records every ``record_every``.

    Each block of ``record_every`` rounds is one call of the driver
    (:func:`statjax.samplers.loop.sample_chains`, its key rule, ``start_step`` the
    block's first round) that keeps the lowest energy of every round; the
    overlaps and energies are read from the block's last states. The kernel is
    built inside from its arrays, so that the program can be lowered and compiled
    ahead of time (the model's checks need concrete shapes).

    Returns ``(states, (overlaps (records, pairs, R), energies (records, chains, R) by
    temperature slot, best (records, chains) lowest energy so far))``.
    """
    model = DenseIsing(couplings, jnp.zeros(couplings.shape[0], couplings.dtype))
    pt = replica_exchange(sequential_sweep(model), betas, scheme)

    def record(carry, first):
        states, best = carry
        states, best = sample_chains(
            pt,
            key,
            states,
            record_every,
            start_step=first,
            observe=_lowest_replica_energy,
            reducer=LOWEST,
            carry=best,
        )
        spins = positions_by_temperature(states).astype(jnp.float32)  # (chains, R, N)
        overlaps = jnp.mean(spins[0::2] * spins[1::2], axis=-1)
        energies = jnp.take_along_axis(states.energy, states.replica_index, axis=-1)
        return (states, best), (overlaps, energies, best)

    best = states.energy.min(-1)
    firsts = record_every * jnp.arange(num_records)
    (states, _), trace = jax.lax.scan(record, (states, best), firsts)
    return states, trace


def _random_spins(key, shape) -> jax.Array:
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1, -1).astype(jnp.int8)


def ladder_temperatures(tempering: Tempering) -> np.ndarray:
    """``(R,)`` temperatures, geometric, hottest first (the order of increasing beta)."""
    return np.geomspace(
        tempering.max_temperature, tempering.min_temperature, tempering.num_replicas
    )


# ------------------------------------------------------------------ one instance


def _instance(config: Config, model: DenseIsing, key) -> dict:
    """Anneal and temper one instance; energies, hit times, overlaps and timings."""
    num_spins = model.num_spins
    kernel = sequential_sweep(model)
    key_sa, key_sa_init, key_pt, key_pt_init = jax.random.split(key, 4)

    sa = config.annealing
    # States (spins and energies) made before the clock starts, as for tempering.
    initial = initial_states(kernel, _random_spins(key_sa_init, (sa.num_reads, num_spins)))
    start = time.perf_counter()
    result, _ = kernel_annealing(kernel, key_sa, initial, sa.num_sweeps, temperature=_schedule(sa))
    sa_best = np.asarray(jax.block_until_ready(result.best_energy), np.float64)
    sa_seconds = time.perf_counter() - start

    pt_config = config.tempering
    temperatures = ladder_temperatures(pt_config)
    pt = replica_exchange(kernel, jnp.asarray(1.0 / temperatures), pt_config.scheme)
    shape = (pt_config.num_chains, pt_config.num_replicas, num_spins)
    states = initial_states(pt, _random_spins(key_pt_init, shape))
    num_records = pt_config.num_sweeps // pt_config.record_every
    arguments = (model.couplings, pt.betas, key_pt, states)
    compiled = _compiled_tempering(arguments, pt.scheme, num_records, pt_config.record_every)
    start = time.perf_counter()
    states, (overlaps, energies, best) = compiled(*arguments)
    best = np.asarray(jax.block_until_ready(best), np.float64)
    pt_seconds = time.perf_counter() - start
    statistics = tempering_statistics(states, pt.betas)
    kept = slice(pt_config.burn_in // pt_config.record_every, None)
    return {
        "sa_best": sa_best,
        "sa_seconds": sa_seconds,
        "pt_best_trace": best,
        "pt_seconds": pt_seconds,
        "overlaps": np.asarray(overlaps[kept], np.float64),
        "energies": np.asarray(energies[kept], np.float64),
        "rejection_rates": np.asarray(statistics.rejection_rates).mean(0),
        "round_trips": int(np.sum(np.asarray(statistics.round_trips))),
    }


_COMPILED = {}


def _compiled_tempering(arguments, scheme, num_records, record_every):
    """The PT program compiled ahead of time (so that timings exclude compilation)."""
    signature = (
        tuple(np.shape(leaf) for leaf in jax.tree_util.tree_leaves(arguments)),
        scheme,
        num_records,
        record_every,
    )
    if signature not in _COMPILED:
        lowered = _tempering.lower(
            *arguments, scheme=scheme, num_records=num_records, record_every=record_every
        )
        _COMPILED[signature] = lowered.compile()
    return _COMPILED[signature]


def _schedule(sa: Annealing):
    """``T_k = T_0 (T_1 / T_0)^(k / (S - 1))``; a pytree, so a new one reuses the program."""
    alpha = (sa.final_temperature / sa.initial_temperature) ** (1.0 / (sa.num_sweeps - 1))
    return geometric_temperature(sa.initial_temperature, alpha)


def _warm_up(config: Config, model: DenseIsing) -> None:
    """Compile simulated annealing for this size before timing it (a discarded run)."""
    sa = config.annealing
    kernel = sequential_sweep(model)
    initial = initial_states(kernel, jnp.ones((sa.num_reads, model.num_spins), jnp.int8))
    result, _ = kernel_annealing(
        kernel, jax.random.key(0), initial, sa.num_sweeps, temperature=_schedule(sa)
    )
    jax.block_until_ready(result.best_energy)


def _r99(p: float) -> float:
    """Repetitions needed to succeed at least once with probability 0.99."""
    if p >= 0.99:
        return 1.0
    if p <= 0.0:
        return math.inf
    return math.log(0.01) / math.log(1.0 - p)


def _times_to_target(config: Config, data: dict, target: float, num_spins: int) -> dict:
    tolerance = config.target_tolerance * num_spins
    sa, pt = config.annealing, config.tempering
    p = float(np.mean(data["sa_best"] <= target + tolerance))
    sa_sweeps = sa.num_sweeps * _r99(p)
    hit = data["pt_best_trace"] <= target + tolerance  # (records, chains)
    rounds = np.where(hit.any(0), (np.argmax(hit, axis=0) + 1) * pt.record_every, np.inf).astype(
        np.float64
    )
    pt_sweeps = float(np.median(rounds)) * pt.num_replicas
    return {
        "sa_success_probability": p,
        "sa_sweeps_to_target": sa_sweeps,
        "pt_fraction_reached": float(np.mean(hit.any(0))),
        "pt_sweeps_to_target": pt_sweeps,
    }


# ------------------------------------------------------------------ the run


_ENTRY_FIELDS = (
    "exact_energy", "best_found", "sa_best", "sa_mean", "pt_best", "pt_mean", "pt_round_trips",
    "sa_success_probability", "sa_sweeps_to_target", "pt_fraction_reached", "pt_sweeps_to_target",
)  # fmt: skip
"""Per-instance numbers kept in the checkpointed state (float64; NaN: no exact energy)."""


def _initial_state(config: Config) -> dict:
    """Zeroed per-instance results and the overlap size's records (all checkpointed)."""
    pt = config.tempering
    num_entries = len(config.sizes) * config.num_instances
    num_kept = pt.num_sweeps // pt.record_every - pt.burn_in // pt.record_every
    state = {name: np.zeros(num_entries, np.float64) for name in _ENTRY_FIELDS}
    state["pt_rejection_rates"] = np.zeros((num_entries, pt.num_replicas - 1), np.float64)
    shape = (config.num_instances, num_kept)
    state["overlaps"] = np.zeros((*shape, pt.num_chains // 2, pt.num_replicas), np.float64)
    state["energies"] = np.zeros((*shape, pt.num_chains, pt.num_replicas), np.float64)
    return state


def run(config: Config, run: Run) -> dict:
    """Every size, every instance: anneal, temper, compare; overlaps at ``overlap_size``.

    One loop step is one instance (sizes in order, instances within a size);
    ``checkpoint_every`` counts instances. Wall times go to ``timings.json``.

    Args:
        config: the validated config.
        run: the run folder (metrics, figure, progress bar, checkpoints, timings).

    Returns:
        The summary: per size the energies per spin, replica-sweeps to target and
        tempering diagnostics; the fit in ``N^(-2/3)``; ``P(q)`` and the
        equilibration test per temperature.
    """
    key = jax.random.key(config.seed)
    temperatures = ladder_temperatures(config.tempering)
    warmed_up = set()

    def advance(state, chunk):
        state = {name: np.array(value) for name, value in state.items()}
        for index in range(chunk.start, chunk.stop):
            num_spins = config.sizes[index // config.num_instances]
            instance = index % config.num_instances
            key_instance = jax.random.fold_in(key, num_spins * 100_003 + instance)
            key_model, key_run = jax.random.split(key_instance)
            model = sherrington_kirkpatrick(key_model, num_spins, config.couplings)
            if num_spins not in warmed_up:  # compile before the clock starts
                _warm_up(config, model)
                warmed_up.add(num_spins)
            data = _instance(config, model, key_run)
            run.record_timing(f"N={num_spins} simulated annealing", data["sa_seconds"])
            run.record_timing(f"N={num_spins} parallel tempering", data["pt_seconds"])
            exact = (
                exact_ground_state(np.asarray(model.couplings))[0]
                if num_spins <= config.exact_max_size
                else None
            )
            found = min(float(data["sa_best"].min()), float(data["pt_best_trace"].min()))
            target = found if exact is None else exact
            entry = {
                "exact_energy": exact,
                "best_found": found,
                "sa_best": float(data["sa_best"].min()),
                "sa_mean": float(data["sa_best"].mean()),
                "pt_best": float(data["pt_best_trace"][-1].min()),
                "pt_mean": float(data["pt_best_trace"][-1].mean()),
                "pt_round_trips": data["round_trips"],
                **_times_to_target(config, data, target, num_spins),
            }
            for name in _ENTRY_FIELDS:
                state[name][index] = np.nan if entry[name] is None else entry[name]
            state["pt_rejection_rates"][index] = data["rejection_rates"]
            if num_spins == config.overlap_size:
                state["overlaps"][instance] = data["overlaps"]
                state["energies"][instance] = data["energies"] / num_spins
        return state, {"num_spins": num_spins, "instance": instance, **entry}

    num_entries = len(config.sizes) * config.num_instances
    state = run.loop(_initial_state(config), advance, num_entries, log_every=1, desc="instances")
    sizes = {}
    for size_index, num_spins in enumerate(config.sizes):
        per_instance = [
            _entry(state, size_index * config.num_instances + instance)
            for instance in range(config.num_instances)
        ]
        sizes[str(num_spins)] = _size_summary(per_instance, num_spins)
    overlaps = np.asarray(state["overlaps"], np.float64)
    energies = np.asarray(state["energies"], np.float64)
    summary = {
        "experiment": "SK ground states by SA and PT; P(q) at equilibrium",
        "couplings": config.couplings,
        "parisi_energy": PARISI_ENERGY,
        "ladder_temperatures": temperatures.tolist(),
        "sizes": sizes,
        "finite_size_fit": _fit(config, sizes),
        "overlaps": _overlap_summary(config, overlaps, energies, temperatures),
    }
    run.save_figure(_figure(config, summary), "spin_glass.png")
    return summary


def _entry(state: dict, index: int) -> dict:
    """Instance ``index``'s numbers from the state (``exact_energy`` None where not enumerated)."""
    entry = {name: float(state[name][index]) for name in _ENTRY_FIELDS}
    if np.isnan(entry["exact_energy"]):
        entry["exact_energy"] = None
    entry["pt_round_trips"] = int(entry["pt_round_trips"])
    entry["pt_rejection_rates"] = np.asarray(state["pt_rejection_rates"][index]).tolist()
    return entry


def _size_summary(per_instance: list[dict], num_spins: int) -> dict:
    def per_spin(key):
        values = np.asarray([entry[key] for entry in per_instance]) / num_spins
        error = values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else math.nan
        return {"mean": float(values.mean()), "error": float(error)}

    def median(key):
        return float(np.median([entry[key] for entry in per_instance]))

    exact = [entry["exact_energy"] for entry in per_instance]
    return {
        "sa_best_per_spin": per_spin("sa_best"),
        "sa_mean_per_spin": per_spin("sa_mean"),
        "pt_best_per_spin": per_spin("pt_best"),
        "pt_mean_per_spin": per_spin("pt_mean"),
        "best_found_per_spin": per_spin("best_found"),
        "sa_finds_exact": (
            None
            if exact[0] is None
            else all(
                abs(entry["sa_best"] - entry["exact_energy"]) <= 1e-4 * num_spins
                for entry in per_instance
            )
        ),
        "sa_sweeps_to_target_median": median("sa_sweeps_to_target"),
        "pt_sweeps_to_target_median": median("pt_sweeps_to_target"),
        "instances": per_instance,
    }


def _fit(config: Config, sizes: dict) -> dict:
    """Least squares ``e_N = e_inf + A N^(-2/3)`` on the best energies (needs 2 sizes)."""
    if len(config.sizes) < 2:
        return {"e_inf": None, "slope": None}
    x = np.asarray(config.sizes, np.float64) ** (-2.0 / 3.0)
    y = np.asarray([sizes[str(n)]["best_found_per_spin"]["mean"] for n in config.sizes])
    slope, intercept = np.polyfit(x, y, 1)
    return {"e_inf": float(intercept), "slope": float(slope), "parisi": PARISI_ENERGY}


def _q_edges(num_spins: int, num_bins: int) -> np.ndarray:
    """Bin edges that hold the allowed ``q = -1, -1 + 2/N, ..., 1`` evenly, none on an edge."""
    return overlap_bin_edges(num_spins, num_bins)  # the library's P(q) (statjax.thermo.overlaps)


def _overlap_summary(config, overlaps, energies, temperatures) -> dict:
    """``P(q)``, ``<q^2>``, ``chi_SG`` and the equilibration identity per temperature.

    ``overlaps``: ``(instances, records, pairs, R)``; ``energies`` per spin:
    ``(instances, records, chains, R)``.
    """
    num_spins = config.overlap_size
    edges = _q_edges(num_spins, config.num_bins)
    entries = []
    for wanted in config.overlap_temperatures:
        slot = int(np.argmin(np.abs(np.log(temperatures / wanted))))
        temperature = float(temperatures[slot])
        beta = 1.0 / temperature
        q = overlaps[..., slot]
        _, density = overlap_distribution(q, num_spins, config.num_bins)
        # Jackknife over instances (independent), all records and pairs of one pooled.
        chi_sg = (
            overlap_statistics(q, num_spins).spin_glass_susceptibility if q.shape[0] > 1 else None
        )
        q2_instance = (q**2).mean(axis=(1, 2))
        q2 = float(q2_instance.mean())
        u_instance = energies[..., slot].mean(axis=(1, 2))
        u = float(u_instance.mean())
        rhs = -0.5 * beta * (1.0 - q2_instance)
        n = q2_instance.size
        entries.append(
            {
                "requested_temperature": wanted,
                "temperature": temperature,
                "q_mean": float(q.mean()),
                "q_mean_error": float(q.mean(axis=(1, 2)).std(ddof=1) / math.sqrt(n))
                if n > 1
                else math.nan,
                "abs_q_mean": float(np.abs(q).mean()),
                "q2_mean": q2,
                "chi_sg": num_spins * q2,
                "chi_sg_error": float(chi_sg.error) if chi_sg is not None else None,
                "chi_sg_replica_symmetric": 1.0 / (1.0 - beta**2) if beta < 1 else None,
                "energy_per_spin": u,
                "identity_rhs": float(rhs.mean()) if config.couplings == "gaussian" else None,
                "identity_difference": (
                    float((u_instance - rhs).mean()) if config.couplings == "gaussian" else None
                ),
                "identity_difference_error": (
                    float((u_instance - rhs).std(ddof=1) / math.sqrt(n))
                    if config.couplings == "gaussian" and n > 1
                    else None
                ),
                "p_of_q": density.tolist(),
            }
        )
    return {
        "num_spins": num_spins,
        "num_samples_per_temperature": int(overlaps[..., 0].size),
        "q_bin_edges": edges.tolist(),
        "temperatures": entries,
    }


def _figure(config: Config, summary: dict) -> Figure:
    """Energy per spin against ``N^(-2/3)``, time to target against ``N``, ``P(q)``."""
    figure = Figure(figsize=(15.0, 4.6), layout="constrained")
    ax_energy, ax_time, ax_q = figure.subplots(1, 3)
    sizes = np.asarray(config.sizes, np.float64)
    x = sizes ** (-2.0 / 3.0)
    series = {
        "sa_best_per_spin": ("SA best", "o-", "tab:blue"),
        "sa_mean_per_spin": ("SA mean of reads", "o:", "tab:blue"),
        "pt_best_per_spin": ("PT best", "s-", "tab:orange"),
        "pt_mean_per_spin": ("PT mean of runs", "s:", "tab:orange"),
    }
    for name, (label, fmt, color) in series.items():
        values = [summary["sizes"][str(n)][name] for n in config.sizes]
        ax_energy.errorbar(
            x,
            [v["mean"] for v in values],
            yerr=[0.0 if math.isnan(v["error"]) else v["error"] for v in values],
            fmt=fmt,
            color=color,
            capsize=3,
            label=label,
        )
    fit = summary["finite_size_fit"]
    grid = np.linspace(0.0, x.max() * 1.05, 50)
    if fit["e_inf"] is not None:
        ax_energy.plot(
            grid,
            fit["e_inf"] + fit["slope"] * grid,
            "k--",
            linewidth=0.8,
            label=f"fit {fit['e_inf']:.4f} + {fit['slope']:.2f} N^(-2/3)",
        )
    ax_energy.axhline(PARISI_ENERGY, color="tab:red", linewidth=0.8)
    ax_energy.plot([0.0], [PARISI_ENERGY], "r*", markersize=12, label="Parisi -0.7633")
    ax_energy.set_xlabel("N^(-2/3)")
    ax_energy.set_ylabel("energy per spin (mean over instances)")
    ax_energy.set_title(f"ground-state search, {config.num_instances} instances per N", fontsize=10)
    for n, xi in zip(config.sizes, x, strict=True):
        ax_energy.annotate(f"N={n}", (xi, PARISI_ENERGY), fontsize=7, rotation=90, va="bottom")
    ax_energy.legend(fontsize=7)

    for name, label, marker in (
        ("sa_sweeps_to_target_median", "SA (TTS99)", "o-"),
        ("pt_sweeps_to_target_median", "PT (median first hit)", "s-"),
    ):
        values = np.asarray([summary["sizes"][str(n)][name] for n in config.sizes])
        finite = np.isfinite(values)
        ax_time.plot(sizes[finite], values[finite], marker, label=label)
    ax_time.set_xscale("log", base=2)
    ax_time.set_yscale("log")
    ax_time.set_xlabel("N")
    ax_time.set_ylabel("replica-sweeps to target (median over instances)")
    ax_time.set_title("time to the best energy found", fontsize=10)
    ax_time.legend(fontsize=8)

    overlaps = summary["overlaps"]
    edges = np.asarray(overlaps["q_bin_edges"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    for entry in overlaps["temperatures"]:
        ax_q.plot(centres, entry["p_of_q"], "-", label=f"T = {entry['temperature']:.2f}")
    ax_q.set_xlim(-1.0, 1.0)
    ax_q.set_xlabel("overlap q")
    ax_q.set_ylabel("P(q) (pooled over instances, symmetrised)")
    ax_q.set_title(f"two independent PT runs, N = {overlaps['num_spins']}, T_c = 1", fontsize=10)
    ax_q.legend(fontsize=8)
    figure.suptitle(
        f"Sherrington-Kirkpatrick ({config.couplings} couplings): SA {config.annealing.num_reads}"
        f" reads x {config.annealing.num_sweeps} sweeps; PT {config.tempering.num_chains} runs x "
        f"{config.tempering.num_replicas} temperatures x {config.tempering.num_sweeps} rounds",
        fontsize=10,
    )
    return figure
