"""Full-batch thermostats: underdamped Langevin (BAOAB, Metropolized OBABO) and Nosé–Hoover chains.

All three integrate Hamilton's equations for ``H(x, p) = E(x) + p^T M^-1 p / 2``
on the *untempered* energy, and couple the momentum to a heat bath at the
temperature ``T = 1 / beta`` of the step, so their invariant law in position is
``exp(-beta E(x))`` (exactly for OBABO, up to an O(h^2) bias for BAOAB, and for
the Nosé–Hoover chain when its dynamics is ergodic). ``beta`` enters only through
the bath: the friction noise scale (Langevin) or the thermostat's target
kinetic energy (Nosé–Hoover); the forces never depend on it, so one step size is
stable at every temperature of a ladder, as for :mod:`statjax.samplers.hmc`.

The state carries the momentum (and the thermostat variables), so ``init`` takes a
position only and starts at rest, ``p = 0``: the bath thermalises the momentum in a
few ``1 / friction`` (or thermostat periods). Decisions shared with the Langevin
kernels (:mod:`statjax.samplers.langevin`): momenta and updates are carried in the
position's dtype but at least float32; a step whose new energy or gradient is not
finite is refused (BAOAB, Nosé–Hoover) or rejected (OBABO), so no chain ever holds
a non-finite energy.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from statjax._tree import (
    as_pytree_fn,
    broadcast_like,
    compute_dtype,
    tree_axpy,
    tree_cast_like,
    tree_mul,
    tree_upcast,
    tree_vdot,
    tree_where,
)
from statjax.checks import check_count, check_floating_position, check_positive
from statjax.pytree import Pytree, static_field
from statjax.random import normal_and_log_uniform_like, normal_like
from statjax.samplers.base import accept_with_log_uniform
from statjax.samplers.hmc import DIVERGENCE_THRESHOLD
from statjax.samplers.langevin import energy_and_grad_state, is_finite_state
from statjax.types import ArrayTree, EnergyFn, PRNGKey


class ThermostatState(NamedTuple):
    """State of an underdamped Langevin chain.

    Attributes:
        position: the current point (any pytree).
        momentum: ``p``, a pytree like ``position`` in at least float32.
        energy: the untempered energy ``E(position)``.
        energy_grad: ``grad E(position)``.
    """

    position: ArrayTree
    momentum: ArrayTree
    energy: jax.Array
    energy_grad: ArrayTree


class ThermostatInfo(NamedTuple):
    """Outcome of one underdamped Langevin step.

    Attributes:
        acceptance_rate: BAOAB: 1 for a finite update, 0 for a refused one. OBABO:
            ``min(1, exp(-beta dH))`` of its Metropolis test.
        is_accepted: whether the position moved.
        is_divergent: ``beta * dH > 1000`` or a non-finite energy (OBABO); a
            refused step (BAOAB).
        energy_change: ``dH`` of the deterministic ``BAB`` part, untempered.
        kinetic_energy: ``p^T M^-1 p / 2`` after the step (its mean is ``d / (2 beta)``).
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    energy_change: jax.Array
    kinetic_energy: jax.Array


def _start_at_rest(energy_fn: EnergyFn, position: ArrayTree) -> ThermostatState:
    state = energy_and_grad_state(energy_fn, position)
    momentum = jax.tree_util.tree_map(jnp.zeros_like, tree_upcast(position))
    return ThermostatState(position, momentum, state.energy, state.energy_grad)


def _kinetic_energy(inverse_mass_matrix, momentum) -> jax.Array:
    return 0.5 * tree_vdot(momentum, tree_mul(inverse_mass_matrix, momentum))


def _drift(position, momentum, inverse_mass_matrix, duration):
    """``x + duration M^-1 p``, in at least float32, rounded to the position's dtype."""
    velocity = tree_mul(inverse_mass_matrix, momentum)
    return tree_cast_like(tree_axpy(duration, velocity, tree_upcast(position)), position)


def _kick(momentum, energy_grad, duration):
    """``p - duration grad E``."""
    return tree_cast_like(tree_axpy(-duration, tree_upcast(energy_grad), momentum), momentum)


def _ornstein_uhlenbeck(momentum, noise, inverse_mass_matrix, friction, duration, beta):
    """Exact O step: ``p' = c p + sqrt((1 - c^2) M / beta) xi``, ``c = exp(-friction duration)``.

    It leaves ``N(0, M / beta)`` invariant; at ``beta = inf`` it is pure damping.
    """
    decay = jnp.exp(-friction * duration)
    one_minus_decay_squared = -jnp.expm1(-2.0 * friction * duration)
    scale = jax.tree_util.tree_map(
        lambda m: jnp.sqrt(one_minus_decay_squared / (beta * m)),
        broadcast_like(inverse_mass_matrix, momentum),
    )
    return tree_cast_like(tree_axpy(decay, momentum, tree_mul(scale, noise)), momentum)


class BAOAB(Pytree):
    """Unadjusted underdamped Langevin dynamics, BAOAB splitting (Leimkuhler & Matthews 2013).

    Integrates ``dx = M^-1 p dt``,
    ``dp = -grad E dt - friction p dt + sqrt(2 friction M / beta) dW`` by the
    palindromic splitting ``B(h/2) A(h/2) O(h) A(h/2) B(h/2)`` with

        B: p <- p - (h/2) grad E(x)       A: x <- x + (h/2) M^-1 p
        O: p <- c p + sqrt((1 - c^2) M / beta) xi,   c = exp(-friction h),

    one gradient per step (the one at the end is cached). Its configurational
    law differs from ``exp(-beta E)`` by O(h^2), and is **exact for a quadratic
    energy** at every stable step size (``h^2 k / m < 4``): for ``E = k x^2 / 2``
    the sampled variance of ``x`` is ``1 / (beta k)`` (Leimkuhler & Matthews 2013,
    "Rational construction of stochastic numerical methods for molecular
    sampling", AMRX; their "superconvergence" of configurational averages).
    The momentum is *not* exact: its variance is ``(m / beta) / (1 - h^2 k / 4m)``.

    A step whose new energy or gradient is not finite is refused (the chain stays
    put, ``acceptance_rate = 0``). At ``beta = inf`` the O step is pure damping.
    Build it with :func:`baoab`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    friction: jax.Array
    inverse_mass_matrix: ArrayTree

    def init(self, position: ArrayTree) -> ThermostatState:
        """Start a chain at ``position``, at rest (``p = 0``)."""
        check_floating_position(position, "baoab")
        return _start_at_rest(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: ThermostatState, beta: jax.typing.ArrayLike
    ) -> tuple[ThermostatState, ThermostatInfo]:
        """One BAOAB step at inverse temperature ``beta``."""
        beta = jnp.asarray(beta)
        half = 0.5 * self.step_size
        noise = normal_like(key, state.momentum)
        momentum = _kick(state.momentum, state.energy_grad, half)
        position = _drift(state.position, momentum, self.inverse_mass_matrix, half)
        momentum = _ornstein_uhlenbeck(
            momentum, noise, self.inverse_mass_matrix, self.friction, self.step_size, beta
        )
        position = _drift(position, momentum, self.inverse_mass_matrix, half)
        new = energy_and_grad_state(self.energy_fn, position)
        momentum = _kick(momentum, new.energy_grad, half)
        is_finite = is_finite_state(new)
        proposal = ThermostatState(position, momentum, new.energy, new.energy_grad)
        new_state = tree_where(is_finite, proposal, state)
        dtype = compute_dtype(jnp.result_type(state.energy))
        kinetic = _kinetic_energy(self.inverse_mass_matrix, new_state.momentum)
        return new_state, ThermostatInfo(
            is_finite.astype(dtype),
            is_finite,
            ~is_finite,
            jnp.zeros((), dtype),
            kinetic.astype(dtype),
        )


class MetropolizedOBABO(Pytree):
    """Underdamped Langevin made exact: OBABO with a Metropolis test (GHMC; Horowitz 1991).

    One step is ``O(h/2)``, a velocity-Verlet step ``B(h/2) A(h) B(h/2)`` proposed
    and accepted with probability ``min(1, exp(-beta [H(x', p') - H(x, p)]))``,
    then ``O(h/2)``. On rejection the momentum is **flipped**, ``p -> -p``: the
    Verlet step composed with the flip is an involution that preserves volume,
    so the accept/reject step is a Metropolis–Hastings step for
    ``exp(-beta H)``; the O steps preserve it exactly (they sample the momentum's
    conditional Ornstein–Uhlenbeck law). Hence ``exp(-beta E(x))`` is the exact
    invariant law at any step size (Horowitz 1991, "A generalized guided Monte
    Carlo algorithm", Phys. Lett. B 268, 247; the OBABO form in Leimkuhler &
    Matthews 2015, "Molecular Dynamics", ch. 7). With ``friction = inf`` it is HMC
    with one leapfrog step (MALA); small friction keeps the momentum and gives
    long, persistent trajectories.

    A proposal whose energy is NaN or infinite is rejected (the momentum flips).
    Build it with :func:`obabo`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    friction: jax.Array
    inverse_mass_matrix: ArrayTree

    def init(self, position: ArrayTree) -> ThermostatState:
        """Start a chain at ``position``, at rest (``p = 0``)."""
        check_floating_position(position, "obabo")
        return _start_at_rest(self.energy_fn, position)

    def step(
        self, key: PRNGKey, state: ThermostatState, beta: jax.typing.ArrayLike
    ) -> tuple[ThermostatState, ThermostatInfo]:
        """One Metropolized OBABO step at inverse temperature ``beta``."""
        beta = jnp.asarray(beta)
        half = 0.5 * self.step_size
        (first_noise, second_noise), log_uniform = normal_and_log_uniform_like(
            key, (state.momentum, state.momentum)
        )
        mass = self.inverse_mass_matrix
        momentum = _ornstein_uhlenbeck(state.momentum, first_noise, mass, self.friction, half, beta)
        start = state._replace(momentum=momentum)
        kicked = _kick(momentum, state.energy_grad, half)
        position = _drift(state.position, kicked, mass, self.step_size)
        new = energy_and_grad_state(self.energy_fn, position)
        end_momentum = _kick(kicked, new.energy_grad, half)
        proposal = ThermostatState(position, end_momentum, new.energy, new.energy_grad)
        energy_change = (
            new.energy
            - state.energy
            + _kinetic_energy(mass, end_momentum)
            - _kinetic_energy(mass, momentum)
        )
        flipped = start._replace(momentum=jax.tree_util.tree_map(jnp.negative, momentum))
        new_state, accept = accept_with_log_uniform(
            log_uniform, -beta * energy_change, proposal, flipped
        )
        new_state = new_state._replace(
            momentum=_ornstein_uhlenbeck(
                new_state.momentum, second_noise, mass, self.friction, half, beta
            )
        )
        # NaN counts as divergent; dH = 0 never does (0 * inf at beta = inf).
        is_divergent = (energy_change != 0) & ~(beta * energy_change <= DIVERGENCE_THRESHOLD)
        dtype = jnp.result_type(accept.acceptance_rate)
        return new_state, ThermostatInfo(
            accept.acceptance_rate,
            accept.is_accepted,
            is_divergent,
            energy_change.astype(dtype),
            _kinetic_energy(mass, new_state.momentum).astype(dtype),
        )


def _check_langevin(step_size, friction, inverse_mass_matrix):
    check_positive("step_size", step_size)
    check_positive("friction", friction)
    if inverse_mass_matrix is None:
        inverse_mass_matrix = 1.0
    check_positive("inverse_mass_matrix", inverse_mass_matrix)
    return (
        jnp.asarray(step_size),
        jnp.asarray(friction),
        jax.tree_util.tree_map(jnp.asarray, inverse_mass_matrix),
    )


def baoab(
    energy_fn: EnergyFn,
    step_size: jax.typing.ArrayLike,
    friction: jax.typing.ArrayLike = 1.0,
    inverse_mass_matrix: ArrayTree | None = None,
) -> BAOAB:
    """Unadjusted underdamped Langevin kernel, BAOAB splitting (see :class:`BAOAB`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable.
        step_size: the time step ``h`` (> 0); stable for ``h^2 < 4 m / k_max``.
        friction: the collision rate ``gamma`` (> 0), in inverse time units.
        inverse_mass_matrix: diagonal of ``M^-1`` (a scalar or a pytree like the
            position); ``None`` is the identity.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.baoab(lambda x: 0.5 * jnp.sum(x**2), 0.5, friction=1.0)
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), kernel.init(jnp.zeros(2)), 1.0)
    """
    return BAOAB(
        as_pytree_fn(energy_fn), *_check_langevin(step_size, friction, inverse_mass_matrix)
    )


def obabo(
    energy_fn: EnergyFn,
    step_size: jax.typing.ArrayLike,
    friction: jax.typing.ArrayLike = 1.0,
    inverse_mass_matrix: ArrayTree | None = None,
) -> MetropolizedOBABO:
    """Metropolis-adjusted underdamped Langevin, OBABO / GHMC (see :class:`MetropolizedOBABO`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable.
        step_size: the time step ``h`` (> 0).
        friction: the collision rate ``gamma`` (> 0).
        inverse_mass_matrix: diagonal of ``M^-1``; ``None`` is the identity.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.obabo(lambda x: 0.5 * jnp.sum(x**2), 0.5, friction=1.0)
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), kernel.init(jnp.zeros(2)), 1.0)
    """
    return MetropolizedOBABO(
        as_pytree_fn(energy_fn), *_check_langevin(step_size, friction, inverse_mass_matrix)
    )


# ---------------------------------------------------------------- Nosé–Hoover


class NoseHooverState(NamedTuple):
    """State of a Nosé–Hoover chain trajectory.

    Attributes:
        position: the current point (any pytree).
        momentum: ``p``, a pytree like ``position`` in at least float32.
        energy: the untempered energy ``E(position)``.
        energy_grad: ``grad E(position)``.
        thermostat_position: ``(chain_length,)`` thermostat coordinates ``xi_j``.
        thermostat_velocity: ``(chain_length,)`` thermostat velocities ``v_j = p_xi_j / Q_j``.
    """

    position: ArrayTree
    momentum: ArrayTree
    energy: jax.Array
    energy_grad: ArrayTree
    thermostat_position: jax.Array
    thermostat_velocity: jax.Array


class NoseHooverInfo(NamedTuple):
    """Outcome of one Nosé–Hoover chain step.

    Attributes:
        acceptance_rate: 1 for a finite update, 0 for a refused one.
        is_accepted: whether the step was taken.
        kinetic_temperature: ``p^T M^-1 p / d`` after the step; its time average is ``1 / beta``.
        extended_energy: the conserved quantity ``E + K + sum_j Q_j v_j^2 / 2
            + (d xi_1 + sum_{j>1} xi_j) / beta``; its drift measures the
            integration error.
    """

    acceptance_rate: jax.Array
    is_accepted: jax.Array
    kinetic_temperature: jax.Array
    extended_energy: jax.Array


class NoseHooverChain(Pytree):
    """Deterministic Nosé–Hoover chain thermostat (Martyna, Klein & Tuckerman 1992).

    The equations of motion, with ``d`` degrees of freedom and ``T = 1 / beta``:

        dx/dt = M^-1 p,            dp/dt = -grad E(x) - v_1 p,
        Q_1 dv_1/dt = p^T M^-1 p - d T - Q_1 v_1 v_2,
        Q_j dv_j/dt = Q_{j-1} v_{j-1}^2 - T - Q_j v_j v_{j+1},   (v_{M+1} = 0)
        dxi_j/dt = v_j.

    They conserve ``E + K + sum_j Q_j v_j^2 / 2 + T (d xi_1 + sum_{j>1} xi_j)`` and,
    when the flow is ergodic, the position's time averages are those of
    ``exp(-beta E)`` and the kinetic temperature ``p^T M^-1 p / d`` averages to
    ``T`` (MKT 1992, "Nosé–Hoover chains: the canonical ensemble via continuous
    dynamics", J. Chem. Phys. 97, 2635). A single thermostat (``chain_length = 1``,
    plain Nosé–Hoover) is not ergodic for stiff or few-degree-of-freedom systems,
    the 1-D oscillator the classic example; a chain of three or more is the usual
    remedy, hence the default ``chain_length = 3``. Ergodicity is a property of
    the energy, not guaranteed: check it (e.g. with many chains from different
    starts, whose time averages must agree).

    Integrated by the time-reversible Trotter splitting of Martyna, Tuckerman,
    Tobias & Klein (1996, Mol. Phys. 87, 1117): a thermostat half step
    (``chain_length`` nested updates of the ``v_j``, scaling of ``p``), a
    velocity-Verlet step, a thermostat half step. The thermostat masses are
    ``Q_1 = d tau^2`` and ``Q_j = tau^2`` with ``tau = time_scale`` (MKT's
    ``Q_1 = d T tau^2`` at ``T = 1``); they do not depend on ``beta``, so one
    kernel serves every temperature (and ``beta = inf``, where the thermostat
    only removes kinetic energy). The step is deterministic: its ``key`` is
    unused. A step whose new energy or gradient is not finite is refused and
    the momenta and thermostat velocities are reversed, so the trajectory
    retraces its path instead of sticking. Build it with :func:`nose_hoover_chain`.
    """

    energy_fn: EnergyFn
    step_size: jax.Array
    time_scale: jax.Array
    inverse_mass_matrix: ArrayTree
    chain_length: int = static_field(default=3)

    def init(self, position: ArrayTree) -> NoseHooverState:
        """Start a trajectory at ``position``, at rest, with the thermostats at rest."""
        check_floating_position(position, "nose_hoover_chain")
        start = _start_at_rest(self.energy_fn, position)
        dtype = compute_dtype(jnp.result_type(start.energy))
        zeros = jnp.zeros((self.chain_length,), dtype)
        return NoseHooverState(*start, zeros, zeros)

    def _masses(self, num_dof: int, dtype) -> jax.Array:
        scale = jnp.ones((self.chain_length,), dtype).at[0].set(num_dof)
        return (self.time_scale**2 * scale).astype(dtype)

    def _thermostat_half_step(self, momentum, xi, v, masses, num_dof, temperature):
        """Propagate the thermostats and scale ``p`` over ``h / 2`` (MTTK 1996, eqs. 29-32)."""
        h = self.step_size
        length = self.chain_length
        mass = self.inverse_mass_matrix
        twice_kinetic = 2.0 * _kinetic_energy(mass, momentum)
        v = [v[j] for j in range(length)]

        def force(j):
            if j == 0:
                return (twice_kinetic - num_dof * temperature) / masses[0]
            return (masses[j - 1] * v[j - 1] ** 2 - temperature) / masses[j]

        def update(j):
            if j == length - 1:
                return v[j] + 0.25 * h * force(j)
            damping = jnp.exp(-0.125 * h * v[j + 1])
            return (v[j] * damping + 0.25 * h * force(j)) * damping

        for j in reversed(range(length)):
            v[j] = update(j)
        scale = jnp.exp(-0.5 * h * v[0])
        momentum = tree_cast_like(tree_mul(scale, momentum), momentum)
        twice_kinetic = twice_kinetic * scale**2
        xi = xi + 0.5 * h * jnp.stack(v)
        for j in range(length):
            v[j] = update(j)
        return momentum, xi, jnp.stack(v)

    def step(
        self, key: PRNGKey, state: NoseHooverState, beta: jax.typing.ArrayLike
    ) -> tuple[NoseHooverState, NoseHooverInfo]:
        """One Nosé–Hoover chain step at target temperature ``1 / beta`` (``key`` is unused)."""
        del key  # deterministic dynamics
        beta = jnp.asarray(beta)
        dtype = jnp.result_type(state.thermostat_velocity)
        temperature = (1.0 / beta).astype(dtype)
        num_dof = sum(jnp.size(leaf) for leaf in jax.tree_util.tree_leaves(state.position))
        masses = self._masses(num_dof, dtype)
        half = 0.5 * self.step_size
        momentum, xi, v = self._thermostat_half_step(
            state.momentum,
            state.thermostat_position,
            state.thermostat_velocity,
            masses,
            num_dof,
            temperature,
        )
        momentum = _kick(momentum, state.energy_grad, half)
        position = _drift(state.position, momentum, self.inverse_mass_matrix, self.step_size)
        new = energy_and_grad_state(self.energy_fn, position)
        momentum = _kick(momentum, new.energy_grad, half)
        momentum, xi, v = self._thermostat_half_step(momentum, xi, v, masses, num_dof, temperature)
        proposal = NoseHooverState(position, momentum, new.energy, new.energy_grad, xi, v)
        is_finite = is_finite_state(new)
        reversed_state = state._replace(
            momentum=jax.tree_util.tree_map(jnp.negative, state.momentum),
            thermostat_velocity=-state.thermostat_velocity,
        )
        new_state = tree_where(is_finite, proposal, reversed_state)
        kinetic = _kinetic_energy(self.inverse_mass_matrix, new_state.momentum)
        thermostat_energy = 0.5 * jnp.sum(masses * new_state.thermostat_velocity**2)
        # T * xi written as xi / beta would be 0 * inf at beta = inf; T is exactly 0 there.
        weights = jnp.ones_like(masses).at[0].set(num_dof)
        bath = temperature * jnp.sum(weights * new_state.thermostat_position)
        extended = new_state.energy + kinetic + thermostat_energy + bath
        return new_state, NoseHooverInfo(
            is_finite.astype(dtype),
            is_finite,
            (2.0 * kinetic / num_dof).astype(dtype),
            extended.astype(dtype),
        )


def nose_hoover_chain(
    energy_fn: EnergyFn,
    step_size: jax.typing.ArrayLike,
    time_scale: jax.typing.ArrayLike = 1.0,
    chain_length: int = 3,
    inverse_mass_matrix: ArrayTree | None = None,
) -> NoseHooverChain:
    """Nosé–Hoover chain thermostat kernel (see :class:`NoseHooverChain`).

    Args:
        energy_fn: ``E(x) -> scalar``, differentiable.
        step_size: the time step ``h`` (> 0).
        time_scale: ``tau`` (> 0), the thermostat's period; masses ``Q_1 = d tau^2``,
            ``Q_j = tau^2``. Of the order of the system's slowest vibration.
        chain_length: number of thermostats ``M`` (>= 1, static); 3 or more for
            few degrees of freedom (1 is plain Nosé–Hoover, not ergodic on an
            oscillator).
        inverse_mass_matrix: diagonal of ``M^-1``; ``None`` is the identity.

    Examples:
        >>> import jax, jax.numpy as jnp, statjax
        >>> kernel = statjax.samplers.nose_hoover_chain(lambda x: 0.5 * jnp.sum(x**2), 0.1)
        >>> state, info = jax.jit(kernel.step)(jax.random.key(0), kernel.init(jnp.ones(2)), 1.0)
    """
    check_positive("step_size", step_size)
    check_positive("time_scale", time_scale)
    chain_length = check_count("chain_length", chain_length)
    if inverse_mass_matrix is None:
        inverse_mass_matrix = 1.0
    check_positive("inverse_mass_matrix", inverse_mass_matrix)
    return NoseHooverChain(
        as_pytree_fn(energy_fn),
        jnp.asarray(step_size),
        jnp.asarray(time_scale),
        jax.tree_util.tree_map(jnp.asarray, inverse_mass_matrix),
        chain_length,
    )


__all__ = [
    "BAOAB",
    "MetropolizedOBABO",
    "NoseHooverChain",
    "NoseHooverInfo",
    "NoseHooverState",
    "ThermostatInfo",
    "ThermostatState",
    "baoab",
    "nose_hoover_chain",
    "obabo",
]
