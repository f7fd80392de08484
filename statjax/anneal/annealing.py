r"""Simulated annealing with any kernel, many restarts at once, on the one chain driver.

Kirkpatrick, Gelatt & Vecchi (1983), "Optimization by simulated annealing",
Science 220, 671-680; Černý (1985). At step ``k`` the temperature is
``T_k = schedule(k)``, ``beta_k = 1 / T_k``, and the chains take one step of a
kernel at ``beta_k``. With :func:`~statjax.samplers.metropolis.metropolis`
(:func:`simulated_annealing`) a symmetric proposal ``x' ~ q(. | x)`` is
accepted with probability

.. math::

    \min\big(1, \exp(-(E(x') - E(x)) / T_k)\big),

so downhill moves always pass and uphill moves pass less often as the system
cools; at ``T = 0`` (``beta = +inf``) it is a greedy descent. With a lattice
sweep, MALA or HMC (:func:`kernel_annealing`) the annealer is that kernel's own
dynamics at the scheduled temperature.

The chains advance only through :func:`statjax.samplers.loop.sample_chains`,
with its key rule (chain ``c`` at global step ``t`` draws from
``split(fold_in(key, t), num_chains)[c]``); a :class:`~statjax.samplers.loop.Reducer`
keeps the lowest-energy point each chain has visited, the mean acceptance and
the recorded energies. The kernel (energy, proposal, step sizes) and the
schedule are traced pytree arguments: new numbers in any of them never
recompile; a new *function* does. A proposal whose energy is NaN or infinite is
refused by the kernel.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax._tree import as_pytree_fn
from statjax.anneal.schedules import Reciprocal
from statjax.checks import as_key, check_count, check_initial_energy
from statjax.pytree import guarded_jit
from statjax.samplers.loop import Reducer, sample_chains
from statjax.samplers.metropolis import Proposal, metropolis
from statjax.samplers.run import initial_states
from statjax.types import ArrayTree, EnergyFn, PRNGKey


class AnnealingResult(NamedTuple):
    """Outcome of an annealing run; leading axis ``num_chains`` (restarts) on every leaf.

    Attributes:
        position: the final points.
        energy: ``(num_chains,)`` their energies.
        best_position: the lowest-energy point each chain visited (its start included).
        best_energy: ``(num_chains,)`` its energy.
        acceptance_rate: ``(num_chains,)`` the kernel info's ``acceptance_rate``
            averaged over the steps (for Metropolis: the mean acceptance
            probability, whose expectation is the fraction of accepted proposals).
        energy_trace: ``(num_steps // record_every, num_chains)`` current energies
            every ``record_every`` steps, or ``None``.
    """

    position: ArrayTree
    energy: jax.Array
    best_position: ArrayTree
    best_energy: jax.Array
    acceptance_rate: jax.Array
    energy_trace: jax.Array | None


class _Tally(NamedTuple):
    """The reducer's carry: best-so-far, summed acceptance, recorded energies."""

    best_position: ArrayTree
    best_energy: jax.Array
    acceptance: jax.Array
    energy_trace: jax.Array | None


def _observe(state, info):
    return state.position, state.energy, info.acceptance_rate


def _reducer(start_step, num_steps: int, record_every: int) -> Reducer:
    """Best-so-far, summed acceptance and (every ``record_every`` steps) the energies."""

    def init(record) -> _Tally:
        # Nothing visited yet; _anneal starts the carry from the initial states instead.
        position, energy, rate = record
        return _Tally(
            position,
            jnp.full_like(energy, jnp.inf),
            jnp.zeros(energy.shape, jnp.promote_types(jnp.result_type(rate), jnp.float32)),
            jnp.zeros((num_steps // record_every, *energy.shape), energy.dtype)
            if record_every
            else None,
        )

    def update(tally: _Tally, record, step) -> _Tally:
        position, energy, rate = record
        improved = energy < tally.best_energy
        best_position = jax.tree_util.tree_map(
            lambda new, old: jnp.where(improved.reshape((-1,) + (1,) * (new.ndim - 1)), new, old),
            position,
            tally.best_position,
        )
        trace = tally.energy_trace
        if trace is not None:
            done = step - start_step + 1
            row = jnp.maximum(done // record_every - 1, 0)
            keep = jnp.where(done % record_every == 0, energy, trace[row])
            trace = trace.at[row].set(keep.astype(trace.dtype))
        return _Tally(
            best_position,
            jnp.where(improved, energy, tally.best_energy),
            tally.acceptance + jnp.asarray(rate, tally.acceptance.dtype),
            trace,
        )

    return Reducer(init, update)


@guarded_jit(static_argnames=("num_steps", "record_every"))
def _anneal(kernel, key, states, beta, start_step, num_steps, record_every):
    reducer = _reducer(start_step, num_steps, record_every)
    # The best point so far starts at the starting point, not at "nothing visited".
    tally = reducer.init((states.position, states.energy, jnp.zeros_like(states.energy)))
    tally = tally._replace(best_energy=states.energy)
    return sample_chains(
        kernel,
        key,
        states,
        num_steps,
        beta=beta,
        start_step=start_step,
        observe=_observe,
        reducer=reducer,
        carry=tally,
    )


def _inverse_temperature(temperature, num_chains: int, start_step: int, num_steps: int):
    """``beta = 1 / T`` for a constant or a schedule, checked on the host over the run.

    ``T >= 0`` and finite at every step; ``T = 0`` is ``beta = +inf``.
    """
    if callable(temperature):
        schedule = as_pytree_fn(temperature)
        steps = np.arange(start_step, start_step + num_steps)
        values = np.asarray(jax.vmap(schedule)(jnp.asarray(steps)), np.float64)
        name, shape = "the temperature schedule", values.shape[1:]
    else:
        schedule = None
        values = np.asarray(temperature, np.float64)
        steps = None
        name, shape = "temperature", values.shape
    if shape not in ((), (num_chains,)):
        raise ValueError(
            f"{name} must give a scalar or one temperature per chain ({num_chains},), "
            f"got shape {shape}."
        )
    bad = ~(np.isfinite(values) & (values >= 0))
    if np.any(bad):
        where = ""
        if steps is not None:
            bad_steps = steps[np.any(bad.reshape(len(steps), -1), axis=1)]
            where = f" at steps {bad_steps[:5].tolist()}"
        raise ValueError(
            f"{name} must be finite and >= 0 (T = 0 is zero temperature), got "
            f"{values[bad][:5].tolist()}{where}."
        )
    if schedule is not None:
        return Reciprocal(schedule)
    with np.errstate(divide="ignore"):
        return np.broadcast_to(1.0 / values, (num_chains,))


def _check_counts(num_steps, start_step, record_every) -> tuple[int, int, int]:
    num_steps = check_count("num_steps", num_steps)
    start_step = check_count("start_step", start_step, minimum=0)
    record_every = check_count("record_every", record_every, minimum=0)
    if record_every and num_steps % record_every:
        raise ValueError(
            f"num_steps ({num_steps}) must be a multiple of record_every ({record_every})."
        )
    return num_steps, start_step, record_every


def kernel_annealing(
    kernel: Any,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    *,
    temperature: float | Callable,
    start_step: int = 0,
    record_every: int = 0,
) -> tuple[AnnealingResult, Any]:
    """Simulated annealing with any statjax kernel: each step at ``beta = 1 / T(step)``.

    For spin models the kernel is a lattice or dense sweep (``checkerboard``,
    ``sequential_sweep``, ``colored_sweep``, Swendsen-Wang), for continuous ones
    Metropolis, MALA or HMC: the annealer is the kernel's own dynamics at the
    scheduled temperature, and the best state each chain visited is kept. The
    steps are :func:`statjax.samplers.loop.sample_chains`'s, so the final states
    equal ``run_chains(kernel, key, initial, num_steps,
    beta=temperature_to_beta(schedule))``, and ``N`` steps equal two runs of
    ``N / 2`` chained through ``start_step`` (the best-so-far then restarts from
    the second run's first point).

    Args:
        kernel: any statjax kernel (``init``/``step``, a pytree).
        key: PRNG key, typed or legacy ``PRNGKey``.
        initial: positions ``(num_chains, ...)`` or kernel states with that axis.
        num_steps: kernel steps (sweeps, for lattice kernels).
        temperature: ``T >= 0``, a ``(num_chains,)`` array, or a schedule
            ``step -> T`` (an ``optax.Schedule``, e.g.
            :func:`~statjax.anneal.schedules.geometric_temperature`). ``T = 0`` is
            ``beta = +inf``, where the kernel takes its greedy limit. A
            :mod:`statjax.anneal.schedules` schedule's numbers are leaves: a new
            one never recompiles.
        start_step: global index of the first step (for the schedule and the keys).
        record_every: record the current energies every this many steps (0: none).

    Returns:
        ``(result, final_states)``: an :class:`AnnealingResult` and the kernel
        states, to continue from.

    Raises:
        ValueError: for a starting energy that is not finite (naming the
            chains), a temperature that is negative or not finite, or counts
            that are not whole numbers.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.anneal.schedules import geometric_temperature
        >>> from statjax.energy.ising import square_ising
        >>> from statjax.samplers.lattice import checkerboard
        >>> spins = jnp.where(jax.random.bernoulli(jax.random.key(0), 0.5, (4, 8, 8)), 1, -1)
        >>> result, _ = kernel_annealing(checkerboard(square_ising(8)), jax.random.key(1),
        ...     spins.astype(jnp.int8), 300, temperature=geometric_temperature(4.0, 0.99))
        >>> float(result.best_energy.min())  # the ground state: 2 N bonds satisfied
        -128.0
    """
    num_steps, start_step, record_every = _check_counts(num_steps, start_step, record_every)
    key = as_key(key)
    states = initial_states(kernel, initial)
    num_chains = states.energy.shape[0]
    check_initial_energy(states.energy)
    beta = _inverse_temperature(temperature, num_chains, start_step, num_steps)
    states, tally = _anneal(
        kernel,
        key,
        states,
        beta,
        np.int32(start_step),
        num_steps=num_steps,
        record_every=record_every,
    )
    result = AnnealingResult(
        states.position,
        states.energy,
        tally.best_position,
        tally.best_energy,
        # One float32 factor, so sharded and unsharded runs round alike (an eager
        # division on sharded arrays rounded differently in the last bit).
        tally.acceptance * np.float32(1.0 / num_steps),
        tally.energy_trace,
    )
    return result, states


def simulated_annealing(
    energy_fn: EnergyFn,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    *,
    temperature: float | Callable,
    proposal: Proposal | None = None,
    step_size: ArrayTree = 0.1,
    start_step: int = 0,
    record_every: int = 0,
) -> AnnealingResult:
    """Minimise ``energy_fn`` by simulated annealing from every restart in ``initial``.

    :func:`kernel_annealing` with the kernel ``metropolis(energy_fn, step_size,
    proposal)``: each step proposes ``x' = proposal(key, x)`` (default: the
    Gaussian random walk ``x + step_size * xi``) for every restart and accepts it
    with probability ``min(1, exp(-(E(x') - E(x)) / T_k))``, ``T_k =
    temperature(k)``; at ``T = 0`` only strictly lower energies pass.

    Args:
        energy_fn: ``E(params) -> scalar`` on one point; any pytree of parameters.
        key: PRNG key, typed or legacy ``PRNGKey``.
        initial: starting points, leading axis ``num_restarts`` on every leaf.
        num_steps: proposals per restart.
        temperature: ``T >= 0`` (0 is greedy descent), a ``(num_restarts,)``
            array, or a schedule ``step -> T`` (see :func:`kernel_annealing`).
        proposal: symmetric ``proposal(key, x) -> x'`` for one point, replacing
            the random walk. Make it a pytree (a :class:`statjax.pytree.Pytree`
            with ``__call__``, a ``Partial``) so that its numbers are leaves.
        step_size: the random walk's scale: a scalar, or a pytree with one scale
            per leaf (or per entry). Not used with a ``proposal``.
        start_step: global index of the first step (for the schedule and the keys).
        record_every: record the current energies every this many steps (0: none).

    Returns:
        An :class:`AnnealingResult`.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.anneal.schedules import geometric_temperature
        >>> result = simulated_annealing(
        ...     lambda x: jnp.sum((x - 1.0) ** 2), jax.random.key(0), jnp.zeros((8, 2)),
        ...     500, temperature=geometric_temperature(1.0, 0.99), step_size=0.2)
        >>> bool(jnp.all(result.best_energy < 0.05))
        True
    """
    kernel = metropolis(energy_fn, step_size, proposal)
    result, _ = kernel_annealing(
        kernel,
        key,
        initial,
        num_steps,
        temperature=temperature,
        start_step=start_step,
        record_every=record_every,
    )
    return result


__all__ = ["AnnealingResult", "kernel_annealing", "simulated_annealing"]
