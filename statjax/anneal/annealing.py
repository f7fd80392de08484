r"""Simulated annealing over any pytree of parameters, many restarts at once.

Kirkpatrick, Gelatt & Vecchi (1983), "Optimization by simulated annealing",
Science 220, 671-680; Černý (1985). At step ``k`` the temperature is
``T_k = schedule(k)``; a proposal ``x' ~ q(. | x)`` (symmetric) is accepted with
the Metropolis probability

.. math::

    \min\big(1, \exp(-(E(x') - E(x)) / T_k)\big),

so downhill moves always pass and uphill moves pass less often as the system
cools; at ``T = 0`` it is a greedy descent. Restarts are ``jax.vmap``-ed over
the leading axis of the initial parameters, the steps run in one ``lax.scan``
under ``jit``, and the best point each restart has visited is kept. The energy,
the proposal and the schedule are pytree arguments: new parameters of any of
them (an energy's couplings, a proposal's step sizes) never recompile; a new
*function* does. A proposal whose energy is NaN or ``+inf`` is rejected.
"""

from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from statjax._tree import as_pytree_fn, normal_like, tree_axpy, tree_where
from statjax.pytree import Pytree
from statjax.samplers.run import initial_states as _initial_states
from statjax.types import ArrayTree, EnergyFn, PRNGKey

Proposal = Callable[[PRNGKey, ArrayTree], ArrayTree]
"""``proposal(key, position) -> new position``; must be symmetric, ``q(x'|x) = q(x|x')``."""


class GaussianProposal(Pytree):
    """``x' = x + step_size * xi``, ``xi ~ N(0, I)``; ``step_size`` a scalar or one per leaf.

    ``step_size`` is a pytree leaf (or a pytree of them, shaped like the position
    or with one scalar per leaf), so a new scale never recompiles.
    """

    step_size: ArrayTree

    def __call__(self, key: PRNGKey, position: ArrayTree) -> ArrayTree:
        """A perturbed copy of ``position``."""
        return tree_axpy(self.step_size, normal_like(key, position), position)


def gaussian_proposal(step_size: ArrayTree = 0.1) -> GaussianProposal:
    """Gaussian random-walk proposal (see :class:`GaussianProposal`).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> proposal = gaussian_proposal({"w": 0.1, "b": 0.01})
        >>> moved = proposal(jax.random.key(0), {"w": jnp.zeros(3), "b": jnp.zeros(())})
        >>> moved["w"].shape
        (3,)
    """
    for leaf in jax.tree_util.tree_leaves(step_size):
        if not isinstance(leaf, jax.core.Tracer) and not np.all(np.asarray(leaf) > 0):
            raise ValueError(f"step_size must be > 0 on every leaf, got {step_size}.")
    return GaussianProposal(jax.tree_util.tree_map(jnp.asarray, step_size))


class AnnealingResult(NamedTuple):
    """Outcome of :func:`simulated_annealing`; leading axis ``num_restarts`` on every leaf.

    Attributes:
        position: the final points.
        energy: ``(num_restarts,)`` their energies.
        best_position: the lowest-energy point each restart visited.
        best_energy: ``(num_restarts,)`` its energy.
        acceptance_rate: ``(num_restarts,)`` fraction of accepted proposals.
        energy_trace: ``(num_steps // record_every, num_restarts)`` current energies
            every ``record_every`` steps, or ``None``.
    """

    position: ArrayTree
    energy: jax.Array
    best_position: ArrayTree
    best_energy: jax.Array
    acceptance_rate: jax.Array
    energy_trace: jax.Array | None


class _Carry(NamedTuple):
    position: ArrayTree
    energy: jax.Array
    best_position: ArrayTree
    best_energy: jax.Array
    num_accepted: jax.Array


def _metropolis_step(energy_fn, proposal, key, carry: _Carry, temperature) -> _Carry:
    key_proposal, key_accept = jax.random.split(key)
    candidate = proposal(key_proposal, carry.position)
    candidate_energy = jnp.asarray(energy_fn(candidate))
    energy_change = candidate_energy - carry.energy
    log_uniform = jnp.log(jax.random.uniform(key_accept, dtype=carry.energy.dtype))
    # log u < -dE / T written without the division, so that T = 0 is a greedy step;
    # a NaN energy change fails both comparisons and is rejected.
    accept = (energy_change <= 0) | (log_uniform * temperature < -energy_change)
    position = tree_where(accept, candidate, carry.position)
    energy = jnp.where(accept, candidate_energy, carry.energy)
    improved = energy < carry.best_energy
    return _Carry(
        position,
        energy,
        tree_where(improved, position, carry.best_position),
        jnp.where(improved, energy, carry.best_energy),
        carry.num_accepted + accept,
    )


@partial(jax.jit, static_argnames=("num_steps", "record_every"))
def _anneal(
    energy_fn, proposal, temperature, key, positions, start_step, *, num_steps, record_every
):
    energies = jax.vmap(energy_fn)(positions)
    num_restarts = energies.shape[0]
    carry = _Carry(positions, energies, positions, energies, jnp.zeros(num_restarts, jnp.int32))
    steps = start_step + jnp.arange(num_steps)
    step_keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, steps)
    one = jax.vmap(partial(_metropolis_step, energy_fn, proposal), in_axes=(0, 0, None))

    def step(carry, x):
        step_index, step_key = x
        carry = one(jax.random.split(step_key, num_restarts), carry, temperature(step_index))
        return carry, (carry.energy if record_every else None)

    if record_every > 1:

        def block(carry, xs):
            carry, _ = jax.lax.scan(step, carry, jax.tree_util.tree_map(lambda a: a[:-1], xs))
            return step(carry, jax.tree_util.tree_map(lambda a: a[-1], xs))

        blocks = jax.tree_util.tree_map(
            lambda a: a.reshape((num_steps // record_every, record_every) + a.shape[1:]),
            (steps, step_keys),
        )
        carry, trace = jax.lax.scan(block, carry, blocks)
    else:
        carry, trace = jax.lax.scan(step, carry, (steps, step_keys))
    return carry, trace


def _temperature_schedule(temperature, start_step: int, num_steps: int):
    """A pytree schedule ``step -> T``, checked (finite, >= 0) on the host over the run."""
    if callable(temperature):
        schedule = as_pytree_fn(temperature)
        values = np.asarray(jax.vmap(schedule)(jnp.arange(start_step, start_step + num_steps)))
        name = "the temperature schedule"
    else:
        values = np.asarray(temperature, dtype=float)
        if values.ndim:
            raise ValueError(
                f"temperature must be a scalar or a schedule step -> T, got shape {values.shape}."
            )
        schedule = jax.tree_util.Partial(_constant, jnp.asarray(temperature, dtype=float))
        name = "temperature"
    if not np.all(np.isfinite(values) & (values >= 0)):
        raise ValueError(
            f"{name} must be finite and >= 0, got values such as {np.atleast_1d(values)[:5]}."
        )
    return schedule


def _constant(value, step):
    del step
    return value


def _check_counts(num_steps, start_step, record_every) -> None:
    """The step counts both annealers take, checked at the Python boundary."""
    if int(num_steps) != num_steps or num_steps < 1:
        raise ValueError(f"num_steps must be a positive integer, got {num_steps!r}.")
    if int(start_step) != start_step or start_step < 0:
        raise ValueError(f"start_step must be a non-negative integer, got {start_step!r}.")
    if int(record_every) != record_every or record_every < 0:
        raise ValueError(f"record_every must be a non-negative integer, got {record_every!r}.")
    if record_every and num_steps % record_every:
        raise ValueError(
            f"num_steps ({num_steps}) must be a multiple of record_every ({record_every})."
        )


def simulated_annealing(
    energy_fn: EnergyFn,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    temperature: float | Callable,
    *,
    proposal: Proposal | None = None,
    step_size: ArrayTree = 0.1,
    start_step: int = 0,
    record_every: int = 0,
) -> AnnealingResult:
    """Minimise ``energy_fn`` by simulated annealing from every restart in ``initial``.

    Each step proposes ``x' = proposal(key, x)`` for every restart and accepts it
    with probability ``min(1, exp(-(E(x') - E(x)) / T_k))``, ``T_k =
    temperature(k)`` (an ``optax.Schedule`` such as
    ``statjax.anneal.schedules.geometric_temperature(1.0, 0.98)``, or a constant).
    The key of step ``k`` is ``fold_in(key, k)`` split over restarts, so a run of
    ``N`` steps equals two runs of ``N / 2`` chained through ``start_step`` (the
    best-so-far then restarts from the second run's first point).

    Args:
        energy_fn: ``E(params) -> scalar`` on one point; any pytree of parameters.
        key: PRNG key.
        initial: starting points, leading axis ``num_restarts`` on every leaf.
        num_steps: proposals per restart.
        temperature: ``T >= 0`` (0 is greedy descent) or a schedule ``step -> T``.
            A constant is a traced leaf; a schedule closure (what the
            ``statjax.anneal.schedules`` factories return) is compiled by identity, so
            reuse one schedule object across calls, or pass a
            ``jax.tree_util.Partial`` whose parameters are leaves.
        proposal: symmetric ``proposal(key, x) -> x'`` for one point; default
            :func:`gaussian_proposal` with ``step_size``. Make it a pytree (a
            ``flax.struct`` dataclass, a ``Partial``) so that its numbers are leaves.
        step_size: the default proposal's scale: a scalar, or a pytree with one
            scale per leaf (or per entry).
        start_step: global index of the first step (for the schedule and the keys).
        record_every: record the current energies every this many steps (0: none).

    Returns:
        An :class:`AnnealingResult`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.anneal.schedules import geometric_temperature
        >>> result = simulated_annealing(
        ...     lambda x: jnp.sum((x - 1.0) ** 2), jax.random.key(0), jnp.zeros((8, 2)),
        ...     500, geometric_temperature(1.0, 0.99), step_size=0.2)
        >>> bool(jnp.all(result.best_energy < 0.05))
        True
    """
    _check_counts(num_steps, start_step, record_every)
    leaves = jax.tree_util.tree_leaves(initial)
    if not leaves or any(jnp.ndim(leaf) == 0 for leaf in leaves):
        raise ValueError(
            "initial needs a leading restart axis on every leaf, (num_restarts, ...); "
            "for one restart add an axis: x[None]."
        )
    schedule = _temperature_schedule(temperature, int(start_step), int(num_steps))
    proposal = gaussian_proposal(step_size) if proposal is None else as_pytree_fn(proposal)
    carry, trace = _anneal(
        as_pytree_fn(energy_fn),
        proposal,
        schedule,
        key,
        initial,
        np.int32(start_step),
        num_steps=int(num_steps),
        record_every=int(record_every),
    )
    return AnnealingResult(
        carry.position,
        carry.energy,
        carry.best_position,
        carry.best_energy,
        carry.num_accepted / num_steps,
        trace,
    )


@partial(jax.jit, static_argnames=("num_steps", "record_every"))
def _anneal_kernel(kernel, temperature, key, states, start_step, *, num_steps, record_every):
    num_chains = states.energy.shape[0]
    steps = start_step + jnp.arange(num_steps)
    step_keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, steps)
    carry = (states, states.position, states.energy, jnp.zeros(num_chains, jnp.float32))

    def step(carry, x):
        states, best_position, best_energy, accepted = carry
        step_index, step_key = x
        beta = 1.0 / temperature(step_index)
        keys = jax.random.split(step_key, num_chains)
        states, info = jax.vmap(kernel.step, in_axes=(0, 0, None))(keys, states, beta)
        improved = states.energy < best_energy
        best_position = jax.tree_util.tree_map(
            lambda new, old: jnp.where(
                improved.reshape(improved.shape + (1,) * (new.ndim - 1)), new, old
            ),
            states.position,
            best_position,
        )
        rate = getattr(info, "acceptance_rate", jnp.full(num_chains, jnp.nan))
        carry = (states, best_position, jnp.minimum(states.energy, best_energy), accepted + rate)
        return carry, (states.energy if record_every else None)

    xs = (steps, step_keys)
    if record_every > 1:

        def block(carry, block_xs):
            carry, _ = jax.lax.scan(step, carry, jax.tree_util.tree_map(lambda a: a[:-1], block_xs))
            return step(carry, jax.tree_util.tree_map(lambda a: a[-1], block_xs))

        blocks = jax.tree_util.tree_map(
            lambda a: a.reshape((num_steps // record_every, record_every) + a.shape[1:]), xs
        )
        return jax.lax.scan(block, carry, blocks)
    return jax.lax.scan(step, carry, xs)


def kernel_annealing(
    kernel,
    key: PRNGKey,
    initial: ArrayTree,
    num_steps: int,
    temperature: float | Callable,
    *,
    start_step: int = 0,
    record_every: int = 0,
) -> tuple[AnnealingResult, ArrayTree]:
    """Simulated annealing with any statjax kernel: each step at ``beta = 1 / T(step)``.

    For spin models the kernel is a lattice or dense sweep (``checkerboard``,
    ``sequential_sweep``, ``colored_sweep``, Swendsen-Wang), for continuous ones
    MALA or HMC: the annealer is the kernel's own dynamics at the scheduled
    temperature, and the best state each chain visited is kept. Keys follow
    :func:`~statjax.samplers.run.run_chains` (``fold_in(key, step)`` split over
    chains), so the final states equal ``run_chains(kernel, key, initial,
    num_steps, beta=temperature_to_beta(schedule))``.

    Args:
        kernel: any statjax kernel; its states cache ``energy``.
        key: PRNG key.
        initial: positions ``(num_chains, ...)`` or kernel states with that axis.
        num_steps: kernel steps (sweeps, for lattice kernels).
        temperature: ``T > 0`` or a schedule ``step -> T > 0`` (kernels need a
            finite ``beta``).
        start_step: global index of the first step.
        record_every: record the current energies every this many steps (0: none).

    Returns:
        ``(result, final_states)``: an :class:`AnnealingResult` (``acceptance_rate``
        averages the kernel info's ``acceptance_rate``, NaN if it has none) and the
        kernel states, to continue from.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from statjax.anneal.schedules import geometric_temperature
        >>> from statjax.energy.ising import square_ising
        >>> from statjax.samplers.lattice import checkerboard
        >>> spins = jnp.where(jax.random.bernoulli(jax.random.key(0), 0.5, (4, 8, 8)), 1, -1)
        >>> result, _ = kernel_annealing(checkerboard(square_ising(8)), jax.random.key(1),
        ...     spins.astype(jnp.int8), 300, geometric_temperature(4.0, 0.99))
        >>> float(result.best_energy.min())  # the ground state: 2 N bonds satisfied
        -128.0
    """
    _check_counts(num_steps, start_step, record_every)
    schedule = _temperature_schedule(temperature, int(start_step), int(num_steps))
    if not callable(temperature) and float(temperature) == 0.0:
        raise ValueError("temperature must be > 0 for a kernel (beta = 1 / T must be finite).")
    values = np.asarray(jax.vmap(schedule)(jnp.arange(start_step, start_step + num_steps)))
    if np.any(values <= 0):
        raise ValueError("the temperature schedule must stay > 0 for a kernel (beta = 1 / T).")
    # The same rule and the same compiled init as run_chains: a kernel is a traced
    # argument there, so a new kernel instance does not recompile.
    states = _initial_states(kernel, initial)
    (states, best_position, best_energy, accepted), trace = _anneal_kernel(
        kernel,
        schedule,
        key,
        states,
        np.int32(start_step),
        num_steps=int(num_steps),
        record_every=int(record_every),
    )
    result = AnnealingResult(
        states.position, states.energy, best_position, best_energy, accepted / num_steps, trace
    )
    return result, states


__all__ = [
    "AnnealingResult",
    "GaussianProposal",
    "Proposal",
    "gaussian_proposal",
    "kernel_annealing",
    "simulated_annealing",
]
